"""What a path (or no path) opens: a bundle, a folder of bundles, a session rollout, or a sessions tree.

No UI imports: the CLI and the app both resolve through here.

With no path: the newest bundle under ``$CODEX_ROLLOUT_TRACE_ROOT``, else the most recently
active session under ``$CODEX_HOME/sessions`` (default ``~/.codex``) that is not a sub-agent
thread, else the bundled sample. A session rollout also names the trace bundles of the same run
(``manifest.rollout_id == session_meta.id``), which hold what a rollout does not: the viewer
offers to open one for the richer view.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from trace_viewer.bundle.discovery import find_bundle_dirs, is_bundle, newest_bundle
from trace_viewer.rollout.sessions import (
    bundles_by_rollout,
    codex_home,
    is_sessions_tree,
    newest_session,
    read_session_meta,
    trace_roots,
)
from trace_viewer.samples import sample_path

ROOT_ENV = "CODEX_ROLLOUT_TRACE_ROOT"
SourceKind = Literal["bundle", "bundles", "rollout", "sessions"]


@dataclass(frozen=True, slots=True)
class Source:
    kind: SourceKind
    path: Path
    # How a default was chosen ("newest session under …"), for a status line.
    note: str | None = None
    # Trace bundles of the same run (rollouts only), newest first.
    bundles: tuple[Path, ...] = ()


class SourceError(Exception):
    """The path cannot be opened; the message says why in one line."""


def _looks_like_bundle(path: Path) -> bool:
    """A bundle whose manifest is missing still has its log or payloads; open it to show the fault."""
    return is_bundle(path) or (path / "trace.jsonl").exists() or (path / "payloads").is_dir()


def matching_bundles(rollout: Path, roots: list[Path] | None = None) -> tuple[Path, ...]:
    """Bundles of the same run as this rollout: under the trace root, and beside its sessions tree."""
    meta = read_session_meta(rollout)
    if meta is None:
        return ()
    thread = meta.session_id or meta.thread_id
    if roots is None:
        roots = trace_roots()
        # A copied run (like the corpus) keeps its bundles next to sessions/.
        for parent in rollout.parents:
            if parent.name == "sessions":
                roots.append(parent.parent)
                break
    return tuple(bundles_by_rollout(roots).get(thread, ()))


def rollout_source(path: Path, note: str | None = None) -> Source:
    return Source("rollout", path, note, matching_bundles(path))


def resolve_source(path: str | os.PathLike[str] | None, *, follow: bool = False) -> Source:
    """What PATH means (raises ``SourceError``). Following, an empty folder is a root bundles will appear in."""
    if path is None:
        return default_source()
    target = Path(path)
    if not target.exists():
        raise SourceError(f"{path}: no such file or directory")
    if target.is_file():
        if target.name in ("manifest.json", "trace.jsonl"):
            return Source("bundle", target.parent)
        return rollout_source(target)
    if not target.is_dir():
        raise SourceError(f"{path}: not a bundle, a rollout file or a folder of them")
    if is_bundle(target):
        return Source("bundle", target)
    if find_bundle_dirs(target):
        return Source("bundles", target)
    if _looks_like_bundle(target):
        return Source("bundle", target)
    if is_sessions_tree(target):
        return Source("sessions", target)
    if follow:
        return Source("bundles", target)
    raise SourceError(f"{path}: no trace bundle or session rollout here")


def default_source() -> Source:
    root = os.environ.get(ROOT_ENV)
    if root and Path(root).is_dir():
        newest = newest_bundle(root)
        if newest is not None:
            return Source("bundle", newest, f"newest bundle under ${ROOT_ENV}")
    home = codex_home()
    session = newest_session(home / "sessions") if (home / "sessions").is_dir() else None
    if session is not None:
        return rollout_source(session, f"newest session under {home / 'sessions'}")
    sample = sample_path()
    if sample is not None:
        return Source("bundle", sample, "bundled sample")
    raise SourceError(f"no PATH given, no bundle under ${ROOT_ENV}, no session under {home}, and no sample")
