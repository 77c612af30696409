"""Finding bundles: is this directory one, and which bundles live under a trace root?

Used by the bundle picker and by ``--follow ROOT``. Listing must stay cheap when
called repeatedly on a root that is being written to, so the per-bundle scan of
``trace.jsonl`` (thread count, end status, payload references) is incremental and
cached by file identity: a growing log is only scanned from where the last scan stopped.

``BundleInfo.problem`` is the first thing found wrong without reducing: the manifest,
a line that cannot be an event (NUL bytes: a sparse or zeroed file), a cut last line
(once the bundle is no longer being written), a referenced payload file or shard
that is missing, a shard that is damaged or lacks a referenced record. Shard
indexes are cached by file identity and size, so a listing decompresses each shard
once (a live shard again when it grew). Faults that only a reduction finds (a seq
gap, an inconsistent event) are not looked for here.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from trace_viewer.bundle._files import open_regular
from trace_viewer.bundle.event_log import EVENT_LOG_FILE, MAX_LINE_BYTES
from trace_viewer.bundle.manifest import MANIFEST_FILE, load_manifest
from trace_viewer.bundle.payloads import PAYLOADS_DIR, safe_relative_parts
from trace_viewer.bundle.shards import ShardFault, ShardReader, shard_file_name
from trace_viewer.errors import BundleError

_SCAN_CHUNK = 8 << 20

_THREAD_STARTED = re.compile(rb'"type"\s*:\s*"thread_started"')
_ROLLOUT_ENDED = re.compile(rb'"type"\s*:\s*"rollout_ended"\s*,\s*"status"\s*:\s*"([a-z_]+)"')
_RECORDING_COMPLETED = re.compile(rb'"type"\s*:\s*"recording_completed"')
# Payload references as Codex writes them (compact, keys in this order); a reference written
# otherwise is simply not checked here.
_SHARD_REF = re.compile(rb'"raw_payload_id":"([^"\\]+)","kind":\{[^{}]*\},"shard":(\d+)')
_FILE_REF = re.compile(rb'"raw_payload_id":"([^"\\]+)","kind":\{[^{}]*\},"path":"([^"\\]+)"')
# More references than this are not checked (the check stays cheap on any log).
_MAX_CHECKED_REFS = 200_000
# The last complete line is parsed when it is at most this long.
_LAST_LINE_PARSED = 1 << 20


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
    # The first problem found without reducing (see the module doc), or None.
    problem: str | None = None
    # That problem is a referenced payload not found (no fault yet while the bundle may still be written).
    problem_is_payload: bool = False

    @property
    def finished(self) -> bool:
        """Nothing more will be written: schema 2 says so explicitly, schema 1 only by ending the rollout."""
        if self.recording_complete:
            return True
        return self.schema_version == 1 and self.ended_status is not None

    @property
    def status(self) -> str:
        """One word from the bundle alone (never from file age): broken, torn, completed/failed/…, or unfinished.

        ``torn``: the log ends in a line without its newline (being written, or cut off: only a later
        look can tell). A payload not found yet in an unfinished bundle is no fault yet: Codex may
        still be writing it.
        """
        if self.error is not None:
            return "broken"
        if self.torn_tail:
            return "torn"
        if self.problem is not None and (self.finished or not self.problem_is_payload):
            return "broken"
        if self.finished:
            return self.ended_status or "completed"
        return "unfinished"

    @property
    def first_fault(self) -> str | None:
        """What makes it broken or torn, for display next to the status (None otherwise)."""
        status = self.status
        if status == "broken":
            return self.error or self.problem
        if status == "torn":
            return self.problem or "trace.jsonl: the last line is cut off (no newline at the end of the log)"
        return None


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
    lines: int = 0  # complete lines scanned (blank ones included: line numbers count them)
    bad_line: int | None = None  # first line that cannot be an event (NUL bytes, longer than the limit)
    bad_last_line: int | None = None  # the last complete line, if it is not JSON (a crash cuts the last line)
    # Payload references seen: shard -> record ids, and payload files (bundle-relative paths).
    shard_refs: dict[int, set[str]] = field(default_factory=dict)
    file_refs: dict[str, str] = field(default_factory=dict)  # path -> payload id
    refs: int = 0


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
            previous.lines,
            previous.bad_line,
            previous.bad_last_line,
            {number: set(ids) for number, ids in previous.shard_refs.items()},
            dict(previous.file_refs),
            previous.refs,
        )
        handle.seek(scan.offset)
        # The unfinished line so far: a bytearray grows in place, so a long line without a newline
        # (a sparse or corrupt file) costs one pass over it, not one copy per chunk.
        carry = bytearray()
        while scan.bad_line is None:
            chunk = handle.read(_SCAN_CHUNK)
            if not chunk:
                break
            nul = chunk.find(b"\x00")
            if nul >= 0:
                # No trace event holds a NUL byte (JSON escapes it): a sparse or zeroed file. Stop here.
                before = chunk[:nul]
                complete = bytes(carry) + before[: before.rfind(b"\n") + 1]
                scan.bad_line = scan.lines + complete.count(b"\n") + 1
                carry = bytearray()
            else:
                cut = chunk.rfind(b"\n") + 1  # only complete lines; a torn tail is re-read next time
                if not cut:
                    carry += chunk
                    if len(carry) > MAX_LINE_BYTES:
                        scan.bad_line = scan.lines + 1  # no event is that long: corrupt; stop rescanning it
                        carry = bytearray()
                    continue
                complete = bytes(carry) + chunk[:cut]
                carry = bytearray(chunk[cut:])
            _count(scan, complete)
            scan.offset += len(complete)
        torn = bool(carry.strip())
        with _scans_lock:
            _scans[key] = scan
        return scan, torn, status.st_size


def _count(scan: _Scan, complete: bytes) -> None:
    """Add the complete lines ``complete`` to the scan's counts and references."""
    lines = complete.count(b"\n")
    scan.lines += lines
    scan.events += lines
    scan.threads += len(_THREAD_STARTED.findall(complete))
    endings = _ROLLOUT_ENDED.findall(complete)
    if endings:
        scan.ended_status = endings[-1].decode("ascii")
    if _RECORDING_COMPLETED.search(complete):
        scan.recording_complete = True
    last = complete.rstrip(b"\r\n")
    last = last[last.rfind(b"\n") + 1 :]
    if last.strip() and len(last) <= _LAST_LINE_PARSED:
        try:
            orjson.loads(last)
            scan.bad_last_line = None
        except orjson.JSONDecodeError:
            scan.bad_last_line = scan.lines
    if scan.refs >= _MAX_CHECKED_REFS:
        return
    for record_id, number in _SHARD_REF.findall(complete):
        scan.shard_refs.setdefault(int(number), set()).add(record_id.decode("utf-8", "replace"))
        scan.refs += 1
    for payload_id, file in _FILE_REF.findall(complete):
        scan.file_refs.setdefault(file.decode("utf-8", "replace"), payload_id.decode("utf-8", "replace"))
        scan.refs += 1


# Shard file (path, device, inode, size, mtime) -> its record ids, or the fault that stops reading it.
_shard_indexes: dict[tuple[str, int, int, int, int], frozenset[str] | str] = {}
_MAX_SHARD_INDEXES = 4096


def _shard_problem(bundle: Path, number: int, wanted: set[str]) -> str | None:
    """A referenced record the shard lacks, or what is wrong with the shard (official wording)."""
    path = bundle / PAYLOADS_DIR / shard_file_name(number)
    try:
        status = os.stat(path)
    except OSError:
        status = None
    key = (str(path), status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns) if status else None
    known = _shard_indexes.get(key) if key else None
    if known is None:
        reader = ShardReader(bundle, cache_bytes=0, small_cache_bytes=0)
        try:
            known = frozenset(reader.record_ids(number))
        except ShardFault as fault:
            known = fault.reason
        if key is not None:
            if len(_shard_indexes) >= _MAX_SHARD_INDEXES:
                _shard_indexes.clear()
            _shard_indexes[key] = known
    if isinstance(known, str):
        return known
    missing = sorted(wanted - known, key=_id_order)
    return f"missing payload {missing[0]} in shard {number}" if missing else None


def _id_order(payload_id: str) -> tuple[int, str]:
    number = payload_id.rpartition(":")[2]
    return (int(number), payload_id) if number.isdigit() else (-1, payload_id)


def _payload_problem(bundle: Path, scan: _Scan) -> str | None:
    """The first referenced payload file or shard record that is not there (cheap checks only)."""
    for number in sorted(scan.shard_refs):
        problem = _shard_problem(bundle, number, scan.shard_refs[number])
        if problem is not None:
            return problem
    for file, payload_id in scan.file_refs.items():
        parts = safe_relative_parts(file)
        if parts is None:
            return f"refused payload path that leaves the bundle: {file}"
        if not os.path.isfile(bundle.joinpath(*parts)):
            return f"open payload {payload_id}: No such file or directory"
    return None


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
    except BundleError as failure:
        error = str(failure)
    except (OSError, orjson.JSONDecodeError) as failure:  # pragma: no cover - load_manifest wraps these
        error = str(failure)
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

    problem: str | None = None
    if scan is not None and scan.bad_line is not None:
        problem = f"trace.jsonl line {scan.bad_line}: not a trace event (NUL bytes, or longer than the line limit)"
    elif scan is not None and torn and not scan.recording_complete:
        problem = f"trace.jsonl line {scan.lines + 1}: last line is cut off (no newline at end of log)"
    elif scan is not None and scan.bad_last_line is not None:
        problem = f"trace.jsonl line {scan.bad_last_line}: cannot parse line"
    problem_is_payload = False
    if problem is None and scan is not None and error is None:
        problem = _payload_problem(path, scan)
        problem_is_payload = problem is not None

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
        problem=problem,
        problem_is_payload=problem_is_payload,
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
