"""The sample bundles shipped with trace_viewer (what the app opens when given no path).

From a source checkout or an editable install they are the repository's
``sample_traces/``; a wheel carries a copy inside the package as ``_samples/``.
"""

from __future__ import annotations

from pathlib import Path

# A remote compaction mid-turn: the sample that shows the most of what the viewer is for.
DEFAULT_SAMPLE = "compaction_remote_midturn"

_PACKAGE_DIR = Path(__file__).resolve().parent


def samples_dir() -> Path | None:
    """Where the sample bundles are, or None if this installation has none."""
    for candidate in (_PACKAGE_DIR / "_samples", _PACKAGE_DIR.parent / "sample_traces"):
        if candidate.is_dir():
            return candidate
    return None


def sample_names() -> list[str]:
    root = samples_dir()
    if root is None:
        return []
    return sorted(child.name for child in root.iterdir() if (child / "manifest.json").is_file())


def sample_path(name: str | None = None) -> Path | None:
    """The named sample bundle (default: ``DEFAULT_SAMPLE``), or None if it is not installed."""
    root = samples_dir()
    if root is None:
        return None
    path = root / (name or DEFAULT_SAMPLE)
    return path if (path / "manifest.json").is_file() else None
