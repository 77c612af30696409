"""A replay session over session rollouts: the same positions, contexts and queries as a bundle's.

``open_session(path)`` gives a ``ReplaySession`` for a bundle and a ``RolloutSession`` for a
rollout file, so the viewer, ``context``, ``tokens`` and ``summary`` work on both.

A rollout session is the thread of the file plus every thread of the same session found beside
it (the root and its sub-agents live in the same sessions tree). Their lines are applied in one
order: by timestamp, each file's own order kept; a forked child's copy of its parent's history
comes right after the child's ``session_meta``. Position N is "after N lines". Following a live
session, each poll reads what every file gained (and files of new sub-agents), applies the new
lines in timestamp order, and leaves a torn last line for the next poll.
"""

from __future__ import annotations

import heapq
import os
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trace_viewer.bundle import LogEntry, PayloadPreview
from trace_viewer.errors import Fault, PayloadError
from trace_viewer.reducer.core import Change
from trace_viewer.reducer.errors import ReduceError
from trace_viewer.reducer.rollout import RolloutReducer, step_envelope, timestamp_ms
from trace_viewer.rollout import RolloutLine, RolloutReader
from trace_viewer.rollout.sessions import find_rollout_files, read_session_meta
from trace_viewer.session import ReplaySession
from trace_viewer.sources import matching_bundles

# What a rollout does not record, for the viewer's and the commands' notes.
ROLLOUT_LIMITS = (
    "a session rollout does not record tool schemas, retried or HTTP-failed request attempts, or the request "
    "bodies themselves; model inputs are rebuilt from the history it records (the trace bundle of the same run "
    "has them)"
)


@dataclass(slots=True)
class _File:
    path: Path
    reader: RolloutReader
    rank: int
    thread_id: str | None = None
    # Sort key floor: a file's lines never sort before an earlier line of the same file.
    last_ms: int = 0
    meta_ms: int | None = None
    history_start: int | None = None
    last_key: tuple[int, int, int] = (0, 0, 0)  # of the last line read


class RolloutPayloads:
    """The payload store of a rollout session: each raw payload id names one line (``rollout:<thread>:<line>``)."""

    def __init__(self) -> None:
        self.lines: dict[str, dict[str, Any]] = {}

    def _get(self, ref: dict[str, Any]) -> dict[str, Any]:
        payload_id = str(ref.get("raw_payload_id"))
        record = self.lines.get(payload_id)
        if record is None:
            raise PayloadError(payload_id, str(ref.get("path")), "no such rollout line")
        return record

    def read(self, ref: dict[str, Any]) -> Any:
        return self._get(ref)

    def read_text(self, ref: dict[str, Any]) -> str:
        import json

        return json.dumps(self._get(ref), ensure_ascii=False)

    def size(self, ref: dict[str, Any]) -> int:
        return len(self.read_text(ref).encode("utf-8"))

    def preview(self, ref: dict[str, Any], max_bytes: int | None = None) -> PayloadPreview:
        text = self.read_text(ref)
        limit = max_bytes or len(text)
        return PayloadPreview(text[:limit], len(text), len(text) > limit)

    def pending(self, ref: dict[str, Any]) -> bool:
        return False


@dataclass(slots=True, order=True)
class _Pending:
    key: tuple[int, int, int]  # unique: (moment, file rank, line number)
    file: _File = field(compare=False)
    line: RolloutLine = field(compare=False)


class RolloutReplay:
    """The rollout counterpart of ``reducer.replay.Replay``: files read incrementally, lines applied in order."""

    def __init__(self, path: Path, session: RolloutSession | None = None) -> None:
        self.path = path
        self._session = session
        self.reducer = RolloutReducer()
        self.payloads = RolloutPayloads()
        self.bundle = None
        self.finished = False
        self.closed = False  # rollouts are never closed: `codex exec resume` appends
        self.reset_reason: str | None = None
        self.internal_error: BaseException | None = None
        self.files: list[_File] = []
        self._known: set[Path] = set()
        self._root_id: str | None = None
        # Lines read, in a heap by sort key, until every file that may sort before them is read that far.
        self._read_ahead: list[_Pending] = []
        self._ready: deque[_Pending] = deque()
        self._add_file(path)
        self.discover()

    # ----- files -------------------------------------------------------------------------------
    def _add_file(self, path: Path) -> None:
        resolved = path.resolve() if path.exists() else path
        if resolved in self._known:
            return
        self._known.add(resolved)
        # 1 MiB reads: a slice of READ_LINES lines does not read (and drop) far more of the file.
        self.files.append(_File(path, RolloutReader(path, chunk_size=1 << 20), len(self.files)))

    def discover(self) -> None:
        """Add the files of this session's other threads found in the same sessions tree."""
        meta = read_session_meta(self.path)
        if meta is None:
            return
        self._root_id = meta.session_id or meta.thread_id
        tree = self.path.parent
        for _ in range(3):  # the day folder, then up to sessions/ (a session can span midnight)
            if tree.name == "sessions" or tree.parent == tree:
                break
            tree = tree.parent
        candidates = find_rollout_files(tree) if tree.name == "sessions" else find_rollout_files(self.path.parent)
        for candidate in candidates:
            if candidate.resolve() in self._known:
                continue
            other = read_session_meta(candidate)
            if other is not None and (other.session_id or other.thread_id) == self._root_id:
                self._add_file(candidate)

    @property
    def warnings(self) -> list[str]:
        out: list[str] = []
        for file in self.files:
            out += [f"{file.path.name}: {warning}" for warning in file.reader.warnings]
        return out

    @property
    def fault(self) -> Fault | None:
        return self.reducer.fault

    @property
    def waiting(self) -> bool:
        return (
            any(file.reader.pending_bytes > 0 or file.reader.more for file in self.files)
            or bool(self._ready)
            or bool(self._read_ahead)
        )

    @property
    def awaiting_payload(self) -> bool:
        return False

    def progress(self) -> float:
        total = done = 0
        for file in self.files:
            try:
                total += os.stat(file.path).st_size
            except OSError:
                continue
            done += file.reader.offset
        return 1.0 if total == 0 else min(1.0, done / total)

    # ----- replay ----------------------------------------------------------------------------------
    READ_LINES = 512  # lines read from a file at a time

    def _sort_key(self, file: _File, line: RolloutLine) -> tuple[int, int, int]:
        if line.type == "session_meta" and file.meta_ms is None:
            file.meta_ms = timestamp_ms(line.timestamp) or file.last_ms
            file.history_start = file.reader.meta.history_start_ordinal if file.reader.meta else None
        inherited = (
            file.history_start is not None and line.ordinal is not None and line.ordinal < file.history_start
        ) or (line.type == "session_meta" and file.meta_ms is not None and line.line > 1)
        moment = file.meta_ms if inherited and file.meta_ms is not None else timestamp_ms(line.timestamp)
        file.last_ms = max(file.last_ms, moment or 0)
        # The root's file first at equal times (its spawn call precedes the child's first line).
        file.last_key = (file.last_ms, file.rank, line.line)
        return file.last_key

    def _read(self, final: bool) -> None:
        """Read the next lines of every file and release, in order, those no unread line can precede.

        Files are read ``READ_LINES`` at a time (the first screen of a long session needs its first
        lines only). Each file's keys only grow, so a line is safe to apply once every file cut short
        by the limit has been read past its key; files read to their end do not hold lines back.
        """
        for file in list(self.files):
            for line in file.reader.read_new(final, max_lines=self.READ_LINES):
                heapq.heappush(self._read_ahead, _Pending(self._sort_key(file, line), file, line))
            if file.reader.fault is not None and file.reader.fault_kind in ("truncated", "replaced"):
                self.reset_reason = file.reader.fault.message
        cut = [file.last_key for file in self.files if file.reader.more]
        watermark = min(cut) if cut else None
        while self._read_ahead and (watermark is None or self._read_ahead[0].key <= watermark):
            self._ready.append(heapq.heappop(self._read_ahead))

    def _more_to_read(self) -> bool:
        return bool(self._read_ahead) or any(file.reader.more for file in self.files)

    def _file_fault(self) -> Fault | None:
        """The first file that stopped at a fault (every line before it was applied)."""
        for file in self.files:
            if file.reader.fault is not None:
                return file.reader.fault
        return None

    def poll(self, *, final: bool = False, max_events: int | None = None) -> list[Change]:
        if self.reducer.fault is not None:
            return []
        if not self._ready:
            if not final:
                self.discover()
            self._read(final)
        changes: list[Change] = []
        while max_events is None or self.reducer.events_applied < max_events:
            if not self._ready:
                if not self._more_to_read():
                    break
                self._read(final)
                continue
            change = self._apply(self._ready.popleft())
            if change is None:
                return changes
            changes.append(change)
        if not self._ready and not self._more_to_read():
            fault = self._file_fault()
            if fault is not None:
                self.reducer.record_fault(fault)
        return changes

    def _apply(self, pending: _Pending) -> Change | None:
        file, line = pending.file, pending.line
        try:
            change = self.reducer.apply_line(file.thread_id, line)
        except ReduceError as error:
            self.reducer.record_fault(Fault(str(error), file=str(file.path), line=line.line))
            return None
        except Exception as error:  # noqa: BLE001 - a bug of ours must not take the viewer down
            self.internal_error = error
            self.reducer.record_fault(
                Fault(f"{type(error).__name__}: {error}", file=str(file.path), line=line.line, internal=True)
            )
            return None
        if file.thread_id is None and file.reader.meta is not None:
            file.thread_id = file.reader.meta.thread_id
        assert file.thread_id is not None
        if line.raw is not None:
            from trace_viewer.reducer.rollout import line_payload_id

            self.payloads.lines[line_payload_id(file.thread_id, line.line)] = line.raw
        envelope = step_envelope(self.reducer, file.thread_id, line, change)
        envelope["rollout_file"] = file.path.name
        if self._session is not None:
            self._session._applied(LogEntry(line.line, envelope, None, line.offset), change)
        return change

    def finish(self) -> None:
        if self.finished:
            return
        self.poll(final=True)
        while (self._ready or self._more_to_read()) and self.reducer.fault is None:
            self.poll(final=True)
        if self.reducer.fault is None:
            self.reducer.finish()
        self.finished = True


class RolloutSession(ReplaySession):
    """``ReplaySession`` over a session rollout (and the other threads of its session)."""

    def __init__(self, path: str | os.PathLike[str], *, follow: bool = False, checkpoint_every: int = 64) -> None:
        super().__init__(path, follow=follow, checkpoint_every=checkpoint_every)
        self.replay = RolloutReplay(self.path, self)  # type: ignore[assignment]
        # Trace bundles of the same run: they record what the rollout does not.
        self.bundles = matching_bundles(self.path)
        self.limits = ROLLOUT_LIMITS

    @property
    def kind(self) -> str:
        return "rollout"

    @property
    def manifest(self) -> dict[str, object]:
        return {}

    @property
    def payloads(self) -> RolloutPayloads:  # type: ignore[override]
        replay: RolloutReplay = self.replay  # type: ignore[assignment]
        return replay.payloads

    @property
    def warnings(self) -> list[str]:
        replay: RolloutReplay = self.replay  # type: ignore[assignment]
        return replay.warnings

    @property
    def _awaiting_manifest(self) -> bool:
        return False

    def progress(self) -> float:
        if self.done:
            return 1.0
        replay: RolloutReplay = self.replay  # type: ignore[assignment]
        return replay.progress()

    def reducer_at(self, seq: int) -> RolloutReducer:  # type: ignore[override]
        """A fresh reduction of exactly the first ``seq`` lines (rollouts are cheap to re-apply)."""
        seq = max(0, min(seq, self.total))
        reducer = RolloutReducer()
        for record in self.records[:seq]:
            reducer.apply(record.event, line=record.line)
        if seq == self.total and self.finished:
            reducer.finish()
        return reducer


def open_session(path: str | os.PathLike[str], *, follow: bool = False) -> ReplaySession:
    """A session over a bundle directory or a rollout file."""
    target = Path(path)
    if target.is_dir() or target.name in ("trace.jsonl", "manifest.json"):
        return ReplaySession(target if target.is_dir() else target.parent, follow=follow)
    return RolloutSession(target, follow=follow)


def is_rollout_session(session: ReplaySession) -> bool:
    return isinstance(session, RolloutSession)
