"""What to open: a bundle, a picker over a folder of bundles, or a sensible default. No UI imports."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from trace_viewer.bundle.discovery import find_bundle_dirs, is_bundle, newest_bundle
from trace_viewer.samples import sample_path

ROOT_ENV = "CODEX_ROLLOUT_TRACE_ROOT"


@dataclass(frozen=True, slots=True)
class Target:
    path: Path
    picker: bool = False
    error: str | None = None


def _looks_like_bundle(path: Path) -> bool:
    """A bundle whose manifest is missing still has its log or payloads; open it to show the fault."""
    return is_bundle(path) or (path / "trace.jsonl").exists() or (path / "payloads").is_dir()


def resolve_target(path: str | None, *, follow: bool = False) -> Target:
    """What PATH means. Following, an empty folder is a trace root that bundles will appear in."""
    if path is None:
        root = os.environ.get(ROOT_ENV)
        if root and Path(root).is_dir():
            newest = newest_bundle(root)
            if newest is not None:
                return Target(newest)
        sample = sample_path()
        if sample is not None:
            return Target(sample)
        return Target(Path("."), error=f"no PATH given, no bundle under ${ROOT_ENV}, and no sample_traces found")
    target = Path(path)
    if not target.exists():
        return Target(target, error=f"{path}: no such file or directory")
    if target.is_file() and target.name in ("manifest.json", "trace.jsonl"):
        target = target.parent
    if not target.is_dir():
        return Target(target, error=f"{path}: not a bundle directory")
    if is_bundle(target):
        return Target(target)
    if find_bundle_dirs(target):
        return Target(target, picker=True)
    if _looks_like_bundle(target):
        return Target(target)
    if follow:
        return Target(target, picker=True)
    return Target(target, error=f"{path}: no trace bundle here (no manifest.json, no bundles below)")
