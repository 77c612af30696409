"""Where the recorded corpora are, and test parameters that skip visibly when they are absent.

The corpora live in ``../shared`` beside the repository (recorded with Codex 0.164.0, 0.169.0 and
0.171.0 by ``../shared/tracegen``); CI has it, a plain clone may not. A test that needs it must
show up as skipped with a reason naming what is missing, never vanish: a parametrisation over an
empty list of cases collects nothing, so ``cases_or_skip`` puts one skipped parameter in its place.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SAMPLES = REPO / "sample_traces"


def needs(relative: str) -> str:
    """The skip reason of a test that needs ``../shared/<relative>``."""
    return f"needs ../shared/{relative} beside the repository"


def shared(relative: str) -> Path:
    """``../shared/<relative>`` (whether or not it exists)."""
    return SHARED / relative


def require(relative: str) -> Path:
    """``../shared/<relative>``, or skip the calling test saying it is missing."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(needs(relative))
    return path


def skip_unless(relative: str) -> pytest.MarkDecorator:
    """A ``skipif`` mark for a test that needs ``../shared/<relative>``."""
    return pytest.mark.skipif(not (SHARED / relative).exists(), reason=needs(relative))


def bundles(root: Path) -> list[Path]:
    """The bundles (folders with a manifest) directly inside ``root``, sorted; none if it is absent."""
    if not root.is_dir():
        return []
    return sorted(path for path in root.iterdir() if (path / "manifest.json").is_file())


def cases_or_skip(cases: Iterable[Any], *needed: str, ids: Any = None) -> list[Any]:
    """``cases`` as parameters, plus one skipped parameter per missing ``../shared/<needed>``.

    Cases from elsewhere (``sample_traces/``) still run; the skip line says what was left out.
    """
    params: list[Any] = [pytest.param(case, id=ids(case) if callable(ids) else None) for case in cases]
    for relative in needed:
        if not (SHARED / relative).exists():
            params.append(pytest.param(None, id=f"missing-{relative}", marks=pytest.mark.skip(reason=needs(relative))))
    return params


def names(paths: Sequence[Path]) -> list[str]:
    return [path.name for path in paths]
