"""Finding bundles: is this directory one, and which bundles live under a trace root?

Used by the bundle picker and by ``--follow ROOT``. Listing must stay cheap when
called repeatedly on a root that is being written to, so the per-bundle scan of
``trace.jsonl`` (thread count, end status) is incremental and cached by file
identity: a growing log is only scanned from where the last scan stopped.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from trace_viewer.bundle._files import open_regular
from trace_viewer.bundle.event_log import EVENT_LOG_FILE, MAX_LINE_BYTES
from trace_viewer.bundle.manifest import MANIFEST_FILE, load_manifest
from trace_viewer.errors import BundleError

# A bundle not finished and untouched for this long is probably dead (killed writer), not recording.
RECENT_SECONDS = 60.0
_SCAN_CHUNK = 8 << 20

_THREAD_STARTED = re.compile(rb'"type"\s*:\s*"thread_started"')
_ROLLOUT_ENDED = re.compile(rb'"type"\s*:\s*"rollout_ended"\s*,\s*"status"\s*:\s*"([a-z_]+)"')
_RECORDING_COMPLETED = re.compile(rb'"type"\s*:\s*"recording_completed"')


@dataclass(frozen=True, slots=True)
class BundleInfo:
    """What a picker shows about one bundle, without reducing it."""

    path: Path
    name: str
    trace_id: str | None
    rollout_id: str | None
    schema_version: int | None
    started_at_unix_ms: int | None
    modified_unix_ms: int
    size_bytes: int
    thread_count: int
    event_count: int
    # Last `rollout_ended` status, or None if the rollout has not ended (yet).
    ended_status: str | None
    recording_complete: bool
    # The log ends in a line without its newline (being written, or cut off).
    torn_tail: bool
    # Why the manifest could not be read, if it could not.
    error: str | None = None

    @property
    def finished(self) -> bool:
        """Nothing more will be written: schema 2 says so explicitly, schema 1 only by ending the rollout."""
        if self.recording_complete:
            return True
        return self.schema_version == 1 and self.ended_status is not None

    @property
    def status(self) -> str:
        """A one-word guess for display: completed/failed/aborted, recording, incomplete or broken."""
        if self.error is not None:
            return "broken"
        if self.finished:
            return self.ended_status or "completed"
        if time.time() * 1000 - self.modified_unix_ms < RECENT_SECONDS * 1000:
            return "recording"
        return self.ended_status or "incomplete"


def is_bundle(path: str | os.PathLike[str]) -> bool:
    """A directory with a manifest — possibly nothing else yet, when the writer just started."""
    path = Path(path)
    try:
        return path.is_dir() and (path / MANIFEST_FILE).is_file()
    except OSError:
        return False


@dataclass(slots=True)
class _Scan:
    # (device, inode, first bytes): inode numbers are reused, so a new log at the same path
    # (a bundle deleted and written again) must not continue the old scan.
    identity: tuple[int, int, bytes]
    offset: int
    threads: int
    events: int
    ended_status: str | None
    recording_complete: bool


_scans: dict[str, _Scan] = {}
_scans_lock = threading.Lock()


def _scan_log(path: Path) -> tuple[_Scan | None, bool, int]:
    """Counts for the complete lines of a log, reusing the previous scan of the same file."""
    try:
        handle = open_regular(path)
    except OSError:
        return None, False, 0
    with handle:
        status = os.fstat(handle.fileno())
        identity = (status.st_dev, status.st_ino, handle.read(256))
        key = str(path)
        with _scans_lock:
            previous = _scans.get(key)
        if previous is not None and previous.offset:
            handle.seek(previous.offset - 1)  # still the end of a line, or the file was rewritten
            if handle.read(1) != b"\n":
                previous = None
        if previous is None or previous.identity != identity or previous.offset > status.st_size:
            previous = _Scan(identity, 0, 0, 0, None, False)
        scan = _Scan(
            identity,
            previous.offset,
            previous.threads,
            previous.events,
            previous.ended_status,
            previous.recording_complete,
        )
        handle.seek(scan.offset)
        # The unfinished line so far: a bytearray grows in place, so a long line without a newline
        # (a sparse or corrupt file) costs one pass over it, not one copy per chunk.
        carry = bytearray()
        while True:
            chunk = handle.read(_SCAN_CHUNK)
            if not chunk:
                break
            cut = chunk.rfind(b"\n") + 1  # only complete lines; a torn tail is re-read next time
            if not cut:
                carry += chunk
                if len(carry) > MAX_LINE_BYTES:
                    break  # no event is that long: corrupt (e.g. a sparse file); stop instead of rescanning it
                continue
            complete = bytes(carry) + chunk[:cut]
            carry = bytearray(chunk[cut:])
            end = len(complete)
            scan.threads += len(_THREAD_STARTED.findall(complete))
            scan.events += complete.count(b"\n")
            endings = _ROLLOUT_ENDED.findall(complete)
            if endings:
                scan.ended_status = endings[-1].decode("ascii")
            if _RECORDING_COMPLETED.search(complete):
                scan.recording_complete = True
            scan.offset += end
        torn = bool(carry.strip())
        with _scans_lock:
            _scans[key] = scan
        return scan, torn, status.st_size


def _payloads_size(bundle: Path) -> int:
    total = 0
    try:
        with os.scandir(bundle / "payloads") as entries:
            for entry in entries:
                try:
                    if entry.is_file(follow_symlinks=False):
                        total += entry.stat(follow_symlinks=False).st_size
                except OSError:
                    continue
    except OSError:
        pass
    return total


def bundle_info(path: str | os.PathLike[str]) -> BundleInfo:
    """Describe one bundle directory (never raises for a broken bundle: ``error`` says why)."""
    path = Path(path)
    error: str | None = None
    manifest: dict[str, object] = {}
    try:
        manifest = load_manifest(path)
    except BundleError as problem:
        error = str(problem)
    except (OSError, orjson.JSONDecodeError) as problem:  # pragma: no cover - load_manifest wraps these
        error = str(problem)
    log = path / EVENT_LOG_FILE
    scan, torn, log_size = _scan_log(log)
    try:
        modified = max(os.stat(path).st_mtime, os.stat(log).st_mtime if scan else 0.0)
    except OSError:
        modified = 0.0

    def text(name: str) -> str | None:
        value = manifest.get(name)
        return value if isinstance(value, str) else None

    def number(name: str) -> int | None:
        value = manifest.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    return BundleInfo(
        path=path,
        name=path.name,
        trace_id=text("trace_id"),
        rollout_id=text("rollout_id"),
        schema_version=number("schema_version"),
        started_at_unix_ms=number("started_at_unix_ms"),
        modified_unix_ms=int(modified * 1000),
        size_bytes=log_size + _payloads_size(path),
        thread_count=scan.threads if scan else 0,
        event_count=scan.events if scan else 0,
        ended_status=scan.ended_status if scan else None,
        recording_complete=scan.recording_complete if scan else False,
        torn_tail=torn,
        error=error,
    )


def find_bundle_dirs(root: str | os.PathLike[str], max_depth: int = 2) -> list[Path]:
    """Bundle directories at or below ``root`` (not inside other bundles), cheaply: no file is read."""
    root = Path(root)
    if is_bundle(root):
        return [root]
    found: list[Path] = []

    def walk(directory: Path, depth: int) -> None:
        try:
            with os.scandir(directory) as entries:
                children = sorted(entry.name for entry in entries if not entry.name.startswith("."))
        except OSError:
            return
        for name in children:
            child = directory / name
            try:
                if not child.is_dir():
                    continue
            except OSError:
                continue
            if is_bundle(child):
                found.append(child)
            elif depth < max_depth:
                walk(child, depth + 1)

    walk(root, 1)
    return found


def list_bundles(root: str | os.PathLike[str], max_depth: int = 2) -> list[BundleInfo]:
    """Every bundle under ``root``, newest start first (Codex's directory names are not chronological)."""
    infos = [bundle_info(path) for path in find_bundle_dirs(root, max_depth)]
    infos.sort(key=lambda info: (-(info.started_at_unix_ms or 0), info.name))
    return infos


def newest_bundle(root: str | os.PathLike[str]) -> Path | None:
    """The bundle that started last under ``root`` (what ``--follow ROOT`` switches to)."""
    infos = list_bundles(root)
    return infos[0].path if infos else None
