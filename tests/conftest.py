"""Suite-wide test configuration: Hypothesis profiles, the hostile suite's counts.

Async tests run under pytest-asyncio (``asyncio_mode = "auto"`` in pyproject.toml): every
``async def test_*`` gets a fresh event loop of its own, as ``asyncio.run`` would give it.

Hypothesis profiles, chosen with ``HYPOTHESIS_PROFILE`` (or ``--hypothesis-profile``):

- ``ci`` (the default): derandomized, so every run and machine replays the same examples; no
  example database; no per-example deadline (the hostile suite times each run itself).
- ``explore``: random examples, ten times each test's budget, failures saved to ``.hypothesis/``
  and replayed first next time. For local runs that hunt for new failures.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

SUPPRESSED = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    suppress_health_check=SUPPRESSED,
)
settings.register_profile(
    "explore",
    derandomize=False,
    deadline=None,
    print_blob=True,
    suppress_health_check=SUPPRESSED,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# ----- a bundle caught while it was being written ---------------------------------------------------
_SAMPLES = Path(__file__).resolve().parent.parent / "sample_traces"

CutBundle = Callable[..., tuple[Path, list[bytes]]]


def log_lines(bundle: Path) -> list[bytes]:
    """A bundle's trace.jsonl as lines, each with its newline (a last line without one as it is)."""
    *complete, tail = (bundle / "trace.jsonl").read_bytes().split(b"\n")
    return [line + b"\n" for line in complete] + ([tail] if tail else [])


@pytest.fixture
def cut_bundle(tmp_path: Path) -> CutBundle:
    """``cut_bundle(source, lines, *, name=None, torn=0)``: copy a bundle (a sample's name, or a path)
    to ``tmp_path / name`` (default: the source's name) with its trace.jsonl cut after ``lines`` lines,
    followed by the first ``torn`` bytes of the next line. Returns the copy and all the source's log
    lines (each with its newline), to append later as a writer would."""

    def cut(source: str | Path, lines: int, *, name: str | None = None, torn: int = 0) -> tuple[Path, list[bytes]]:
        origin = _SAMPLES / source if isinstance(source, str) else source
        dest = tmp_path / (name or origin.name)
        shutil.copytree(origin, dest)
        all_lines = log_lines(origin)
        kept = b"".join(all_lines[:lines])
        if torn:
            kept += all_lines[lines][:torn]
        (dest / "trace.jsonl").write_bytes(kept)
        return dest, all_lines

    return cut


# ----- the hostile suite's counts in the session summary ------------------------------------------
# tests/hostile/hostile_helpers.py counts mutations, CLI and app runs, crashes and hangs. Under xdist
# each worker holds its own counts: workers hand them over when they finish, the controller adds them.

_worker_stats: Counter[str] = Counter()


def _local_stats() -> Counter[str]:
    helpers = sys.modules.get("hostile_helpers")
    return Counter(helpers.STATS) if helpers is not None else Counter()


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["hostile_stats"] = dict(_local_stats())


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    _worker_stats.update(getattr(node, "workeroutput", {}).get("hostile_stats", {}))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    totals = _local_stats() + _worker_stats
    if not totals:
        return
    terminalreporter.write_sep("=", "hostile bundles")
    terminalreporter.write_line(
        f"mutations tried: {totals['mutations']} in-process, {totals['cli_runs']} CLI runs, "
        f"{totals['app_runs']} app runs; crashes: {totals['crashes']}, hangs: {totals['hangs']}"
    )
