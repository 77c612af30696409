"""A session rollout file read incrementally, line by line. Never opened for writing.

The reader keeps its byte offset, so following a live session reads only what Codex appended
(resume appends to the same file too). A last line without its newline is *pending* while the
file may still grow and is parsed as it stands only when the caller says the file is final.

Reading stops at the first line that is not a usable rollout line (torn, not JSON, too long, a
wrong field type, or a file that does not start with ``session_meta``): the fault names the file
and the line, and every line before it stays valid. Unknown line types and fields are kept raw
and reported once per kind as warnings.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trace_viewer.bundle.event_log import CHUNK_SIZE, EventLog, EventLogError
from trace_viewer.errors import Fault
from trace_viewer.rollout.records import RecordError, RolloutLine, SessionMeta, parse_record, parse_session_meta

# Longest line read. Rollout lines carry whole items (a tool output, an image as a data URL, a
# compaction's replacement history), so they can be a few MB; far longer is corruption or hostile.
MAX_ROLLOUT_LINE_BYTES = 64 << 20


class _RolloutLines(EventLog):
    """The bundle layer's incremental JSON-lines reader, for a rollout file (never "closed")."""

    LINE_KIND = "rollout line"

    def _ends_recording(self, event: Any) -> bool:
        return False  # `codex exec resume` may append to a finished session at any time


@dataclass(slots=True)
class RolloutWarning:
    """Something kept raw because this version does not know it, with where it first appeared."""

    message: str
    line: int
    count: int = 1

    def __str__(self) -> str:
        more = f" (and {self.count - 1} more)" if self.count > 1 else ""
        return f"line {self.line}: {self.message}{more}"


@dataclass(slots=True)
class Warnings:
    """Warnings deduplicated by what they are about, in order of first appearance."""

    by_key: dict[str, RolloutWarning] = field(default_factory=dict)

    def add(self, key: str, message: str, line: int) -> None:
        existing = self.by_key.get(key)
        if existing is None:
            self.by_key[key] = RolloutWarning(message, line)
        else:
            existing.count += 1

    def __iter__(self) -> Any:
        return iter(self.by_key.values())

    def __len__(self) -> int:
        return len(self.by_key)


class RolloutReader:
    """One rollout file: its ``session_meta`` and its lines, read as they are written."""

    def __init__(self, path: str | os.PathLike[str], *, chunk_size: int = CHUNK_SIZE) -> None:
        self.path = Path(path)
        self._log = _RolloutLines(
            self.path, chunk_size=chunk_size, name=self.path.name, max_line_bytes=MAX_ROLLOUT_LINE_BYTES
        )
        self.meta: SessionMeta | None = None
        self.fault: Fault | None = None
        # The fault is about the file as a whole (truncated, replaced, unreadable): a reload may help.
        self.fault_kind: str | None = None
        self.warnings = Warnings()
        self.lines_read = 0
        # The last read stopped at its ``max_lines``: more complete lines are on disk already.
        self.more = False

    @property
    def offset(self) -> int:
        return self._log.offset

    @property
    def pending_bytes(self) -> int:
        """Bytes of a last line still waiting for its newline."""
        return self._log.pending

    def read_new(self, final: bool = False, max_lines: int | None = None) -> list[RolloutLine]:
        """Every complete line written since the last call, up to the first fault (then nothing more).

        With ``max_lines``, at most that many (``more`` then says whether the limit cut the read
        short): a long session's first screen needs its first lines, not all of them parsed.
        """
        self.more = False
        if self.fault is not None:
            return []
        lines: list[RolloutLine] = []
        entries = self._log.iter_new(final)
        try:
            for entry in entries:
                if entry.error is not None:
                    self._stop(entry.error, entry.line)
                    break
                try:
                    record = parse_record(entry.event, entry.line, entry.offset)
                    self._check_order(record)
                except RecordError as error:
                    self._stop(str(error), entry.line)
                    break
                self._note_unknown(record)
                self.lines_read += 1
                lines.append(record)
                if max_lines is not None and len(lines) >= max_lines:
                    self.more = True  # lines not yielded yet are read again next time
                    break
        except EventLogError as error:
            self.fault = Fault(error.reason, file=str(self.path))
            self.fault_kind = error.kind
        finally:
            entries.close()  # closes the file now, not when the generator is collected
        return lines

    def _stop(self, message: str, line: int) -> None:
        self.fault = Fault(message, file=str(self.path), line=line)
        self.fault_kind = "invalid"

    def _check_order(self, record: RolloutLine) -> None:
        if self.meta is None:
            if record.type != "session_meta":
                raise RecordError(f"not a Codex session rollout: the first line is {record.type!r}, not session_meta")
            self.meta = parse_session_meta(record.payload)

    def _note_unknown(self, record: RolloutLine) -> None:
        if not record.known:
            what = record.type if record.subtype is None else f"{record.type} {record.subtype!r}"
            self.warnings.add(f"type:{record.type}:{record.subtype}", f"unknown {what} kept raw", record.line)
        for key in record.unknown_keys:
            self.warnings.add(f"key:{key}", f"unknown field {key!r} kept raw", record.line)


@dataclass(slots=True)
class Rollout:
    """A rollout file read to its end (as it is now)."""

    path: Path
    meta: SessionMeta | None
    lines: list[RolloutLine]
    fault: Fault | None
    warnings: list[RolloutWarning]


def read_rollout(path: str | os.PathLike[str]) -> Rollout:
    """Read the whole file as final: a torn last line is a fault, not pending."""
    reader = RolloutReader(path)
    lines = reader.read_new(final=True)
    if reader.fault is None and reader.meta is None:
        reader.fault = Fault("empty file: not a Codex session rollout (no session_meta)", file=str(reader.path))
    return Rollout(reader.path, reader.meta, lines, reader.fault, list(reader.warnings))
