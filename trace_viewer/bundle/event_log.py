"""Incremental reader for ``trace.jsonl``.

The reader remembers how far it got (a byte offset) and each call returns only
the complete lines written since. That is what makes following a live trace
cheap: nothing is re-read or re-reduced.

Codex flushes after every event line, but a reader can still catch a line half
written. Such a torn last line (no trailing newline) is *pending* while the
bundle may still grow, and becomes a fault once the bundle is known to be final
(the caller says so, or ``recording_completed`` was read). A log that shrinks or
is swapped for another file cannot be continued incrementally; that is reported
as ``EventLogError`` (kind ``truncated`` / ``replaced``) so the viewer can offer
a reload instead of silently showing a mix of two files.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from trace_viewer.bundle._files import describe_os_error, open_regular
from trace_viewer.errors import BundleError

EVENT_LOG_FILE = "trace.jsonl"
CHUNK_SIZE = 4 << 20
# Longest line read: events are small (payload bodies are separate files), so a longer
# "line" is corruption (e.g. a sparse file of zeros) and is refused instead of held in memory.
MAX_LINE_BYTES = 256 << 20


@dataclass(slots=True)
class LogEntry:
    """One non-blank physical line of trace.jsonl: a parsed event, or why it is not one."""

    line: int
    event: Any | None
    error: str | None = None
    # Byte offset of the line's first byte in trace.jsonl (-1 when unknown).
    offset: int = -1


class EventLogError(BundleError):
    """The log as a whole cannot be read on from where we were (missing, unreadable, truncated, replaced)."""

    def __init__(self, message: str, kind: str, file: str = EVENT_LOG_FILE) -> None:
        super().__init__(file, message, kind)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# orjson >= 3.9.15 refuses input nested deeper than 1024 levels. Older versions recurse without
# limit and overflow the C stack (a segfault, not an exception) at ~100 000 levels, so for them
# nesting is checked before parsing, against a limit far below the crash and far above real data.
OLD_ORJSON_MAX_DEPTH = 10_000
_BRACKETS_ONLY = bytes(b for b in range(256) if b not in b"[]{}")
_SQUARE = bytes.maketrans(b"{}", b"[]")
_RUNS = re.compile(rb"\[+|\]+")


def _orjson_limits_depth() -> bool:
    try:
        orjson.loads(b"[" * 1100 + b"]" * 1100)
    except orjson.JSONDecodeError:
        return True
    return False


_CHECK_DEPTH = not _orjson_limits_depth()


def _too_deep(raw: bytes, limit: int = OLD_ORJSON_MAX_DEPTH) -> bool:
    """Whether the brackets in ``raw`` nest deeper than ``limit`` (a cheap, C-speed upper bound).

    Brackets inside strings are counted too: at this limit only hostile input can trip it.
    """
    if len(raw) <= limit:
        return False
    brackets = raw.translate(_SQUARE, _BRACKETS_ONLY)
    if len(brackets) <= limit:
        return False
    # Each pass removes the innermost pairs, one level of nesting: real data is gone in a few passes.
    passes = 0
    while passes < 32:
        shorter = brackets.replace(b"[]", b"")
        if not shorter:
            return False
        if len(shorter) == len(brackets):
            break
        brackets = shorter
        passes += 1
    # What is left is deep or unbalanced: walk its runs of `[` and `]`.
    depth = peak = 0
    for run in _RUNS.finditer(brackets):
        width = run.end() - run.start()
        if brackets[run.start()] == 0x5B:
            depth += width
            peak = max(peak, depth)
        else:
            depth = max(depth - width, 0)
    return passes + peak > limit


def parse_json_bytes(raw: bytes) -> Any:
    """Parse JSON like serde_json would: orjson first, Python's parser for numbers orjson cannot hold.

    serde_json (arbitrary precision) accepts number literals beyond a double's
    range such as ``1e400``, which orjson rejects; Python's parser reads them.
    NaN/Infinity stay invalid, as in serde. Raises ``ValueError`` (orjson's
    message) when the bytes are not JSON.
    """
    if _CHECK_DEPTH and _too_deep(raw):
        raise ValueError(f"array and object recursion depth exceeded ({OLD_ORJSON_MAX_DEPTH} levels)")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        if "number" not in str(error):
            raise ValueError(str(error)) from None
        first = error
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise ValueError(str(first)) from None


def _is_recording_completed(event: Any) -> bool:
    payload = event.get("payload") if isinstance(event, dict) else None
    return isinstance(payload, dict) and payload.get("type") == "recording_completed"


class EventLog:
    """``trace.jsonl`` read incrementally. Never opened for writing.

    Other JSON-lines logs (session rollouts) reuse it: ``name`` is how messages call the file,
    ``max_line_bytes`` bounds a line, and ``_ends_recording`` says which line closes the log.
    """

    # What a line of this log is, for the "line is too long" message.
    LINE_KIND = "trace event"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        chunk_size: int = CHUNK_SIZE,
        name: str = EVENT_LOG_FILE,
        max_line_bytes: int = MAX_LINE_BYTES,
    ) -> None:
        self.path = Path(path)
        self.chunk_size = chunk_size
        self.name = name
        self.max_line_bytes = max_line_bytes
        # Bytes consumed: everything before this offset has been returned (or skipped as blank).
        self.offset = 0
        # Physical lines consumed, blank ones included (line numbers count them, as the official reducer does).
        self.line = 0
        self.blank_lines = 0
        # Bytes after the last newline that are waiting for the rest of their line.
        self.pending = 0
        # A `recording_completed` line was read: the writer is done, so a torn tail is a fault.
        self.closed = False
        self._identity: tuple[int, int] | None = None
        self._seen_size = -1
        self._ends_with_newline = True

    def read_new(self, final: bool = False) -> list[LogEntry]:
        """Every complete line written since the last call (see ``iter_new``)."""
        return list(self.iter_new(final))

    def iter_new(self, final: bool = False) -> Generator[LogEntry, None, None]:
        """Yield entries for new complete lines, advancing the offset as each is yielded.

        Stopping early is safe: lines not yet yielded are read again next time.
        ``final=True`` means no more bytes will come, so a torn last line is
        parsed as it is (and usually reported as unparsable) instead of waiting.
        Raises ``EventLogError`` when the log is missing (only when final),
        unreadable, truncated or replaced.
        """
        final = final or self.closed
        try:
            status = os.stat(self.path)
        except FileNotFoundError:
            if self._identity is not None:
                raise self._error(f"{self.name} disappeared while it was being read", "replaced") from None
            if final:
                raise self._error(
                    f"open {self.LINE_KIND} log {self.path}: No such file or directory", "missing"
                ) from None
            return  # A bundle that so far holds only its manifest.
        except OSError as error:
            raise self._error(f"cannot read {self.name}: {describe_os_error(error)}", "unreadable") from None
        self._check_same_file(status)
        if status.st_size == self._seen_size and not (final and self.pending):
            return  # Nothing new: the common case while following an idle trace.
        try:
            handle = open_regular(self.path)
        except FileNotFoundError:
            if final:
                raise self._error(
                    f"open {self.LINE_KIND} log {self.path}: No such file or directory", "missing"
                ) from None
            return
        except OSError as error:
            raise self._error(f"cannot read {self.name}: {describe_os_error(error)}", "unreadable") from None
        with handle:
            status = os.fstat(handle.fileno())
            self._check_same_file(status)
            if self._identity is None:
                self._identity = (status.st_dev, status.st_ino)
            if self.offset and self._ends_with_newline:
                # Same inode and size, but rewritten in place? The byte before our offset must still end a line.
                handle.seek(self.offset - 1)
                if handle.read(1) != b"\n":
                    raise self._error(f"{self.name} was rewritten while it was being read", "replaced")
            handle.seek(self.offset)
            yield from self._scan(handle, final)

    def _error(self, message: str, kind: str) -> EventLogError:
        return EventLogError(message, kind, self.name)

    def _ends_recording(self, event: Any) -> bool:
        """Whether this line says the writer is done (so a torn tail after it is a fault)."""
        return _is_recording_completed(event)

    def _check_same_file(self, status: os.stat_result) -> None:
        if self._identity is not None and (status.st_dev, status.st_ino) != self._identity:
            raise self._error(f"{self.name} was replaced by another file while it was being read", "replaced")
        if status.st_size < self.offset:
            raise self._error(
                f"{self.name} was truncated ({status.st_size} bytes, {self.offset} already read)", "truncated"
            )

    def _scan(self, handle: Any, final: bool) -> Iterator[LogEntry]:
        # `parts` holds the bytes of a line still waiting for its newline; joining
        # only when the newline arrives keeps very long lines linear to read.
        parts: list[bytes] = []
        start_offset = self.offset
        while True:
            chunk = handle.read(self.chunk_size)
            if not chunk:
                break
            newline = chunk.find(b"\n")
            if newline < 0:
                parts.append(chunk)
                if sum(map(len, parts)) > self.max_line_bytes:
                    # No event is that long (big content lives in payloads); stop before memory runs out.
                    message = f"line is longer than {self.max_line_bytes >> 20} MiB: not a {self.LINE_KIND}"
                    yield LogEntry(self.line + 1, None, message, start_offset)
                    return
                continue
            data = b"".join(parts) + chunk if parts else chunk
            parts = []
            begin = 0
            newline += len(data) - len(chunk)
            while newline >= 0:
                raw = data[begin:newline]
                line_offset = start_offset + begin
                begin = newline + 1
                self.offset = start_offset + begin
                self.line += 1
                self._ends_with_newline = True
                entry = self._entry(raw, line_offset, torn=False)
                if entry is not None:
                    yield entry
                newline = data.find(b"\n", begin)
            if begin < len(data):
                parts.append(data[begin:])
            start_offset += begin
        self._seen_size = start_offset + sum(len(part) for part in parts)
        tail = b"".join(parts)
        self.pending = len(tail)
        if tail and (final or self.closed):
            # No newline is coming: this is the last line as it stands.
            self.offset = start_offset + len(tail)
            self.line += 1
            self.pending = 0
            self._ends_with_newline = False
            entry = self._entry(tail, start_offset, torn=True)
            if entry is not None:
                yield entry

    def _entry(self, raw: bytes, offset: int, *, torn: bool) -> LogEntry | None:
        if not raw.strip():
            self.blank_lines += 1
            return None
        try:
            event = parse_json_bytes(raw)
        except ValueError as error:
            if torn:
                return LogEntry(self.line, None, f"last line is cut off (no newline at end of log): {error}", offset)
            return LogEntry(self.line, None, f"cannot parse line: {error}", offset)
        if self._ends_recording(event):
            self.closed = True
        return LogEntry(self.line, event, None, offset)
