"""What to open: a bundle, a session rollout, a picker over a folder of bundles or a sessions tree,
or a sensible default. No UI imports; the rules are ``trace_viewer.sources``'."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from trace_viewer.sources import ROOT_ENV, SourceError, resolve_source

__all__ = ["ROOT_ENV", "Target", "resolve_target"]


@dataclass(frozen=True, slots=True)
class Target:
    path: Path
    picker: bool = False
    error: str | None = None
    # A sessions tree (``$CODEX_HOME/sessions`` or a part of it): the sessions picker opens first.
    sessions: bool = False
    # How a default was chosen (shown as a notification).
    note: str | None = None


def resolve_target(path: str | None, *, follow: bool = False) -> Target:
    """What PATH means. Following, an empty folder is a trace root that bundles will appear in."""
    try:
        source = resolve_source(path, follow=follow)
    except SourceError as error:
        return Target(Path(path or "."), error=str(error))
    return Target(
        source.path,
        picker=source.kind == "bundles",
        sessions=source.kind == "sessions",
        note=source.note if path is None else None,
    )
