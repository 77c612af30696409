"""Sessions trees: finding rollout files, listing them for a picker, linking threads, matching bundles.

A Codex home keeps one file per thread under ``sessions/YYYY/MM/DD/rollout-<local time>-<thread
id>.jsonl`` (``codex exec resume`` appends to the same file). Sub-agent threads have their own
files, and their ``session_meta`` names the parent (and, for a fork, the thread forked from).

A listing must stay cheap on a home with hundreds of sessions, and on repeated refreshes while
Codex writes: each file is scanned once, lines are classified by their first bytes and only the
few that matter are parsed, and a growing file is scanned on from where the last scan stopped.
Nothing here writes anywhere.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from trace_viewer.bundle._files import open_regular
from trace_viewer.bundle.discovery import find_bundle_dirs
from trace_viewer.bundle.event_log import parse_json_bytes
from trace_viewer.bundle.manifest import load_manifest
from trace_viewer.errors import BundleError
from trace_viewer.rollout.log import MAX_ROLLOUT_LINE_BYTES
from trace_viewer.rollout.records import RecordError, SessionMeta, parse_session_meta

ROLLOUT_GLOB = "rollout-*.jsonl"
# YYYY/MM/DD below sessions/, plus a margin for copies of a home or a corpus of cases.
MAX_DEPTH = 6
# An unfinished turn in a file untouched this long is a dead process, not a running one.
RECENT_SECONDS = 60.0
_SCAN_CHUNK = 4 << 20
_PREFIX = 160  # the top-level type and the payload's subtype are within a line's first bytes
_LINE_TYPE = re.compile(rb'"type"\s*:\s*"([a-z_]+)"')
_NAME_TIME = re.compile(r"rollout-(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d)")
_PROMPT_LIMIT = 400


def codex_home() -> Path:
    """``$CODEX_HOME``, else ``~/.codex`` (read only; nothing is ever written there)."""
    value = os.environ.get("CODEX_HOME")
    return Path(value).expanduser() if value else Path.home() / ".codex"


def _walk(directory: Path, depth: int, found: list[Path]) -> None:
    try:
        with os.scandir(directory) as entries:
            children = sorted(entries, key=lambda entry: entry.name)
    except OSError:
        return
    for entry in children:
        if entry.name.startswith("."):
            continue
        try:
            if entry.is_file(follow_symlinks=False):
                if entry.name.startswith("rollout-") and entry.name.endswith(".jsonl"):
                    found.append(Path(entry.path))
            elif entry.is_dir(follow_symlinks=False) and depth < MAX_DEPTH:
                _walk(Path(entry.path), depth + 1, found)
        except OSError:
            continue


def find_rollout_files(root: str | os.PathLike[str]) -> list[Path]:
    """Rollout files under a Codex home (its ``sessions/`` and ``archived_sessions/``), a sessions
    directory or any directory holding them; no file is read."""
    root = Path(root)
    if root.is_file():
        return [root]
    found: list[Path] = []
    subtrees = [root / name for name in ("sessions", "archived_sessions") if (root / name).is_dir()]
    for directory in subtrees or [root]:
        _walk(directory, 1, found)
    return found


def is_rollout_file(path: str | os.PathLike[str]) -> bool:
    path = Path(path)
    return path.suffix == ".jsonl" and path.is_file() and path.name != "trace.jsonl"


def is_sessions_tree(path: str | os.PathLike[str]) -> bool:
    """A directory with rollout files in it (a Codex home, its sessions/, a day folder…)."""
    path = Path(path)
    return path.is_dir() and not (path / "manifest.json").is_file() and bool(find_rollout_files(path))


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """What a picker shows about one rollout file, without rebuilding it."""

    path: Path
    thread_id: str | None
    # session_meta.timestamp (ISO-8601 UTC), else the local time in the file name.
    started: str | None
    first_prompt: str | None
    cwd: str | None
    model: str | None
    turns: int
    # "completed", "interrupted", "failed" (the last turn's end), "running" (a turn open in a file
    # written to recently), "incomplete" (a turn open, file idle), "empty" (no turn), "broken".
    status: str
    cli_version: str | None
    parent_thread_id: str | None
    forked_from_id: str | None
    agent_path: str | None
    agent_nickname: str | None
    is_subagent: bool
    modified_unix_ms: int
    size_bytes: int
    error: str | None = None
    children: tuple[SessionInfo, ...] = ()
    # Trace bundles of the same run (rollout_id == this thread's id), newest first.
    bundles: tuple[Path, ...] = ()

    @property
    def label(self) -> str:
        """A thread's short name: its agent path or nickname, else its id."""
        return self.agent_path or self.agent_nickname or (self.thread_id or self.path.name)


@dataclass(slots=True)
class _Scan:
    identity: tuple[int, int, bytes]
    offset: int = 0
    line: int = 0
    meta: SessionMeta | None = None
    first_prompt: str | None = None
    model: str | None = None
    turns: int = 0
    # The last turn's end ("completed" / "interrupted" / "failed"), None while it is open.
    last_end: str | None = None
    open_turn: bool = False
    error: str | None = None


_scans: dict[str, _Scan] = {}
_scans_lock = threading.Lock()


def _text_of(content: Any, kinds: Any) -> str | None:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return None
    texts: list[str] = []
    for index, part in enumerate(content):
        if not isinstance(part, dict) or not isinstance(part.get("text"), str):
            continue
        kind = kinds[index] if isinstance(kinds, list) and index < len(kinds) else None
        if kind is None or kind == "user.text":
            texts.append(part["text"])
    return "\n".join(texts) if texts else None


_ENVELOPE = re.compile(
    r"\AMessage Type: *(?P<type>[^\n]*)\n(?:.*\n)*?Sender: *(?P<sender>[^\n]*)\nPayload:\n?", re.MULTILINE
)


def _agent_message_prompt(payload: dict[str, Any]) -> str | None:
    """A task handed to a sub-agent, as a row reads it: ``NEW_TASK from /root: <its text>``.

    The envelope's header (type, task name, sender) is plain text; the payload after it may be
    encrypted, and then only the header is shown.
    """
    content = payload.get("content")
    parts = content if isinstance(content, list) else [content]
    texts = [
        part if isinstance(part, str) else part.get("text")
        for part in parts
        if isinstance(part, str) or (isinstance(part, dict) and part.get("type") in ("input_text", "text"))
    ]
    text = "".join(t for t in texts if isinstance(t, str)).strip()
    header = _ENVELOPE.match(text + "\n")
    if header is None:
        return text or None
    rest = text[header.end() :].strip()
    title = f"{header['type'].strip()} from {header['sender'].strip()}"
    return f"{title}: {rest}" if rest else title


def _prompt_from_item(payload: dict[str, Any]) -> str | None:
    """The user's own words in a history item (not the context messages Codex adds)."""
    if payload.get("type") == "agent_message":
        return _agent_message_prompt(payload)
    if payload.get("type") != "message" or payload.get("role") != "user":
        return None
    passthrough = payload.get("internal_chat_message_metadata_passthrough")
    kinds = passthrough.get("content_item_kinds") if isinstance(passthrough, dict) else None
    if isinstance(kinds, list):
        if "user.text" not in kinds:
            return None
        return _text_of(payload.get("content"), kinds)
    text = _text_of(payload.get("content"), None)
    if text is None or text.lstrip().startswith("<"):  # <environment_context>, <user_instructions>, …
        return None
    return text


def _apply(scan: _Scan, raw: bytes) -> None:
    """Update the scan with one complete line, parsing it only if its type matters."""
    scan.line += 1
    if not raw.strip():
        return
    head = raw[:_PREFIX]
    types = _LINE_TYPE.findall(head)
    kind = types[0].decode() if types else None
    subtype = types[1].decode() if len(types) > 1 else None
    wanted = (
        scan.meta is None
        or kind == "turn_context"
        or (kind == "event_msg" and subtype in (None, "task_started", "task_complete", "turn_aborted", "user_message"))
        or (kind == "response_item" and scan.first_prompt is None and subtype in (None, "message", "agent_message"))
        or kind is None
    )
    if not wanted:
        return
    try:
        record = parse_json_bytes(raw)
    except ValueError as error:
        scan.error = f"line {scan.line}: cannot parse line: {error}"
        return
    if not isinstance(record, dict) or not isinstance(record.get("payload"), dict):
        scan.error = f"line {scan.line}: not a rollout line"
        return
    payload: dict[str, Any] = record["payload"]
    kind = record.get("type")
    if scan.meta is None:
        if kind != "session_meta":
            scan.error = f"line {scan.line}: not a Codex session rollout (the first line is not session_meta)"
            return
        try:
            scan.meta = parse_session_meta(payload)
        except RecordError as error:
            scan.error = f"line {scan.line}: {error}"
        return
    start = scan.meta.history_start_ordinal
    ordinal = record.get("ordinal")
    inherited = start is not None and isinstance(ordinal, int) and ordinal < start
    if kind == "turn_context":
        model = payload.get("model")
        scan.model = model if isinstance(model, str) else scan.model
    elif kind == "event_msg" and not inherited:
        subtype = payload.get("type")
        if subtype == "task_started":
            scan.turns += 1
            scan.open_turn = True
        elif subtype in ("task_complete", "turn_aborted") and scan.open_turn:
            scan.open_turn = False
            if subtype == "turn_aborted":
                scan.last_end = "interrupted"
            else:
                scan.last_end = "failed" if payload.get("error") else "completed"
        elif subtype == "user_message" and scan.first_prompt is None:
            message = payload.get("message")
            scan.first_prompt = message if isinstance(message, str) and message.strip() else None
    elif kind == "response_item" and scan.first_prompt is None and not inherited:
        scan.first_prompt = _prompt_from_item(payload)


def _scan_file(path: Path) -> tuple[_Scan, os.stat_result] | None:
    """The scan of the file's complete lines, continued from the previous one when the file only grew."""
    try:
        handle = open_regular(path)
    except OSError:
        return None
    with handle:
        status = os.fstat(handle.fileno())
        identity = (status.st_dev, status.st_ino, handle.read(256))
        key = str(path)
        with _scans_lock:
            previous = _scans.get(key)
        if previous is not None and (previous.identity != identity or previous.offset > status.st_size):
            previous = None
        if previous is not None and previous.offset:
            handle.seek(previous.offset - 1)
            if handle.read(1) != b"\n":
                previous = None  # rewritten in place
        scan = previous if previous is not None else _Scan(identity)
        # Work on a copy so a concurrent listing never sees a half-updated scan.
        scan = replace(scan)
        base = scan.offset  # file offset of data[0] below
        handle.seek(base)
        carry = b""
        while scan.error is None:
            chunk = handle.read(_SCAN_CHUNK)
            if not chunk:
                break
            data = carry + chunk
            begin = 0
            newline = data.find(b"\n")
            while newline >= 0 and scan.error is None:
                _apply(scan, data[begin:newline])
                begin = newline + 1
                newline = data.find(b"\n", begin)
            base += begin
            scan.offset = base
            carry = data[begin:]  # a last line still being written: scanned once its newline arrives
            if len(carry) > MAX_ROLLOUT_LINE_BYTES:
                scan.error = f"line {scan.line + 1}: longer than {MAX_ROLLOUT_LINE_BYTES >> 20} MiB"
        with _scans_lock:
            _scans[key] = scan
        return scan, status


def _started_from_name(path: Path) -> str | None:
    match = _NAME_TIME.search(path.name)
    if match is None:
        return None
    day, clock = match.group(1).split("T")
    return f"{day}T{clock.replace('-', ':')}"


def _clip(text: str | None) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    return text if len(text) <= _PROMPT_LIMIT else text[: _PROMPT_LIMIT - 1] + "…"


def session_info(path: str | os.PathLike[str], *, now: float | None = None) -> SessionInfo:
    """Describe one rollout file (never raises for a broken file: ``error`` and status say why)."""
    path = Path(path)
    result = _scan_file(path)
    if result is None:
        return SessionInfo(
            path, None, _started_from_name(path), None, None, None, 0, "broken", None, None, None, None, None,
            False, 0, 0, error="cannot open the file",
        )  # fmt: skip
    scan, status = result
    meta = scan.meta
    modified = status.st_mtime
    if scan.error is not None or meta is None:
        state = "broken" if scan.error is not None or status.st_size else "empty"
    elif scan.open_turn:
        recent = (time.time() if now is None else now) - modified < RECENT_SECONDS
        state = "running" if recent else "incomplete"
    else:
        state = scan.last_end or "empty"
    return SessionInfo(
        path=path,
        thread_id=meta.thread_id if meta else None,
        started=(meta.timestamp if meta and meta.timestamp else None) or _started_from_name(path),
        first_prompt=_clip(scan.first_prompt),
        cwd=meta.cwd if meta else None,
        model=scan.model or (meta.model if meta else None),
        turns=scan.turns,
        status=state,
        cli_version=meta.cli_version if meta else None,
        parent_thread_id=meta.parent_thread_id if meta else None,
        forked_from_id=meta.forked_from_id if meta else None,
        agent_path=meta.agent_path if meta else None,
        agent_nickname=meta.agent_nickname if meta else None,
        is_subagent=meta.is_subagent if meta else False,
        modified_unix_ms=int(modified * 1000),
        size_bytes=status.st_size,
        error=scan.error,
    )


def bundles_by_rollout(roots: list[Path]) -> dict[str, list[Path]]:
    """Trace bundles under ``roots`` by their ``rollout_id``, newest start first."""
    found: dict[str, list[tuple[int, Path]]] = {}
    for root in roots:
        for bundle in find_bundle_dirs(root, max_depth=3):
            try:
                manifest = load_manifest(bundle)
            except (BundleError, OSError, ValueError):
                continue
            rollout_id = manifest.get("rollout_id")
            started = manifest.get("started_at_unix_ms")
            if isinstance(rollout_id, str):
                found.setdefault(rollout_id, []).append((started if isinstance(started, int) else 0, bundle))
    return {key: [path for _, path in sorted(value, key=lambda pair: -pair[0])] for key, value in found.items()}


def trace_roots() -> list[Path]:
    """Where Codex writes trace bundles, when it does: ``$CODEX_ROLLOUT_TRACE_ROOT``."""
    value = os.environ.get("CODEX_ROLLOUT_TRACE_ROOT")
    return [Path(value).expanduser()] if value and Path(value).expanduser().is_dir() else []


def _sort_key(info: SessionInfo) -> tuple[str, str]:
    return (info.started or "", info.path.name)


def list_sessions(
    root: str | os.PathLike[str], *, bundle_roots: list[Path] | None = None, now: float | None = None
) -> list[SessionInfo]:
    """Every session under ``root``, newest start first, with sub-agent threads under their parent.

    A child whose parent is not in the tree stays at the top level. ``bundle_roots`` (default:
    ``$CODEX_ROLLOUT_TRACE_ROOT`` and the folder holding ``sessions/``) are searched for trace
    bundles of the same runs.
    """
    infos = [session_info(path, now=now) for path in find_rollout_files(root)]
    if bundle_roots is None:
        # The trace root, and the folder holding sessions/ (a copied run keeps its bundles there).
        bundle_roots = trace_roots()
        here = Path(root)
        holder = here.parent if here.name == "sessions" else here if (here / "sessions").is_dir() else None
        if holder is not None:
            bundle_roots.append(holder)
    bundles = bundles_by_rollout(bundle_roots)
    by_id = {info.thread_id: info for info in infos if info.thread_id is not None}
    children: dict[str, list[SessionInfo]] = {}
    top: list[SessionInfo] = []
    for info in infos:
        parent = info.parent_thread_id
        if parent is not None and parent in by_id and parent != info.thread_id:
            children.setdefault(parent, []).append(info)
        else:
            top.append(info)

    def build(info: SessionInfo, depth: int) -> SessionInfo:
        kids = sorted(children.get(info.thread_id or "", []), key=_sort_key) if depth < 16 else []
        return replace(
            info,
            children=tuple(build(kid, depth + 1) for kid in kids),
            bundles=tuple(bundles.get(info.thread_id or "", ())),
        )

    return [build(info, 0) for info in sorted(top, key=_sort_key, reverse=True)]


def walk_sessions(infos: list[SessionInfo]) -> list[tuple[int, SessionInfo]]:
    """The listing flattened for display: (depth, session), each parent followed by its children."""
    rows: list[tuple[int, SessionInfo]] = []

    def visit(info: SessionInfo, depth: int) -> None:
        rows.append((depth, info))
        for child in info.children:
            visit(child, depth + 1)

    for info in infos:
        visit(info, 0)
    return rows


def read_session_meta(path: Path) -> SessionMeta | None:
    """The file's session_meta, reading only its first line (None if it has none)."""
    try:
        handle = open_regular(path)
    except OSError:
        return None
    with handle:
        first = handle.readline(MAX_ROLLOUT_LINE_BYTES)
    try:
        record = parse_json_bytes(first)
        if (
            isinstance(record, dict)
            and record.get("type") == "session_meta"
            and isinstance(record.get("payload"), dict)
        ):
            return parse_session_meta(record["payload"])
    except (ValueError, RecordError):
        return None
    return None


def newest_session(root: str | os.PathLike[str] | None = None) -> Path | None:
    """The most recently active session that is not a sub-agent thread (default root: the Codex home)."""
    files = find_rollout_files(codex_home() if root is None else root)

    def activity(path: Path) -> tuple[float, str]:
        try:
            return (path.stat().st_mtime, path.name)
        except OSError:
            return (0.0, path.name)

    for path in sorted(files, key=activity, reverse=True):
        meta = read_session_meta(path)
        if meta is not None and not meta.is_subagent:
            return path
    return None


def thread_files(path: str | os.PathLike[str]) -> dict[str, Path]:
    """The rollout files of one session's threads, by thread id: the file itself, its ancestors and
    descendants found beside it (the same sessions tree)."""
    path = Path(path)
    tree = path.parent
    for _ in range(3):  # sessions/YYYY/MM/DD: siblings of a run live in the same day folder, or near
        if tree.name == "sessions" or tree.parent == tree:
            break
        tree = tree.parent
    metas: dict[str, tuple[Path, SessionMeta]] = {}
    for candidate in find_rollout_files(tree):
        meta = read_session_meta(candidate)
        if meta is not None:
            metas[meta.thread_id] = (candidate, meta)
    own = read_session_meta(path)
    if own is None:
        return {}
    root_id = own.session_id or own.thread_id
    return {
        thread_id: candidate
        for thread_id, (candidate, meta) in metas.items()
        if (meta.session_id or meta.thread_id) == root_id
    }
