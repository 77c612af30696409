"""Replay a bundle from disk, incrementally: the offline ``reduce`` and the live follow mode.

``Replay`` couples a bundle reader with a reducer. Each ``poll()`` applies only
the lines written since the last one, so following a growing trace never
re-reduces from the start. ``finish()`` does the end-of-log work once the log is
known to be complete. Every problem — unreadable manifest, missing log, torn or
unparsable line, bad payload, inconsistent event — ends up as ``reducer.fault``;
nothing here raises for bad input.
"""

from __future__ import annotations

import os
import time
import traceback
from collections import deque
from itertools import islice
from pathlib import Path

from trace_viewer.bundle import Bundle, EventLog, EventLogError, LogEntry, NoPayloads
from trace_viewer.errors import BundleError, PayloadError
from trace_viewer.model import RawPayload, is_set
from trace_viewer.reducer import Change, Fault, ReduceError, Reducer
from trace_viewer.reducer.events import raw_payload_refs
from trace_viewer.reducer.prepared import PreparedPromptChecker

# How long a live replay waits for a payload that an event references but that is
# not readable yet (Codex writes payloads first, but a reader can be quicker than the disk).
PAYLOAD_WAIT_SECONDS = 2.0
# ...and how many polls must have failed to read it: a poller that was paused (a busy UI,
# a suspended process) for longer than the wait must still look again before giving up.
PAYLOAD_ATTEMPTS = 3


class Replay:
    """A bundle being reduced, possibly while it is still being written.

    ``reducer`` may be replaced once in live mode (a manifest that was not
    readable yet becomes readable), so read it from here after each ``poll``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        payload_wait: float = PAYLOAD_WAIT_SECONDS,
        payload_attempts: int = PAYLOAD_ATTEMPTS,
    ) -> None:
        self.path = Path(path)
        self.payload_wait = payload_wait
        self.payload_attempts = payload_attempts
        self.bundle: Bundle | None = None
        self.reducer: Reducer = Reducer({}, NoPayloads())
        self.finished = False
        # Set when the log shrank or was swapped: the viewer should offer to reload from scratch.
        self.reset_reason: str | None = None
        # An exception that is a bug of ours rather than a problem of the trace (kept for debugging).
        self.internal_error: BaseException | None = None
        self._held: deque[LogEntry] = deque()
        self._held_since: float | None = None
        self._held_attempts = 0  # failed reads of the held event's payloads
        # Schema 3: payloads that passed the end-of-log check early (see `_check_new_payloads`), and
        # how many of the reducer's `raw_payloads` were looked at for that.
        self._passed: dict[str, RawPayload] = {}
        self._registered = 0
        self._prepared_prompts = PreparedPromptChecker()
        self._open()

    def _open(self) -> None:
        try:
            self.bundle = Bundle(self.path)
        except BundleError as error:
            self.bundle = None
            self.reducer = Reducer({}, NoPayloads())
            self.reducer.record_fault(Fault(error.reason, file=error.file))
            return
        self.reducer = Reducer(self.bundle.manifest, self.bundle.payloads)

    # ----- status -------------------------------------------------------------
    @property
    def fault(self) -> Fault | None:
        return self.reducer.fault

    @property
    def closed(self) -> bool:
        """The writer said it is done (``recording_completed`` read)."""
        return self.bundle is not None and self.bundle.log.closed

    @property
    def waiting(self) -> bool:
        """Something was seen but is not applied yet: a torn last line or an event whose payload is not ready."""
        return self.bundle is not None and (bool(self._held) or self.bundle.log.pending > 0)

    @property
    def awaiting_payload(self) -> bool:
        """An event is held back until a payload it references becomes readable (a file change may not show)."""
        return bool(self._held)

    # ----- replay -------------------------------------------------------------
    def poll(self, *, final: bool = False, max_events: int | None = None) -> list[Change]:
        """Apply every complete new line (at most until ``max_events`` events are applied in total).

        ``final=True``: nothing more will be written, so a torn last line is a
        fault and payloads are not waited for. Returns one ``Change`` per event.
        """
        if self.bundle is None:
            if not final:
                self._open()  # The manifest may have been caught half-written.
            if self.bundle is None:
                return []
        if self.reducer.fault is not None:
            return []
        changes: list[Change] = []
        entries = self.bundle.log.iter_new(final=final)
        try:
            while max_events is None or self.reducer.events_applied < max_events:
                entry = self._held.popleft() if self._held else next(entries, None)
                if entry is None:
                    break
                if not final and entry.event is not None and not self._payloads_ready(entry):
                    self._held.appendleft(entry)
                    break
                self._held_since = None
                self._held_attempts = 0
                change = self._apply(entry)
                if change is None:
                    break
                changes.append(change)
                if self.reducer.schema_version >= 3:
                    self._check_new_payloads()
        except EventLogError as error:
            if error.kind in ("truncated", "replaced"):
                self.reset_reason = error.reason
            self.reducer.record_fault(Fault(error.reason, file=error.file))
        finally:
            entries.close()
        return changes

    def _payloads_ready(self, entry: LogEntry) -> bool:
        """Live mode: hold an event while a payload it references may still be being written.

        Gives up (lets the reducer report the payload) only once ``payload_wait``
        seconds have passed *and* ``payload_attempts`` polls have failed. What waiting
        cannot cure (a refused path, a damaged shard, a record missing from a sealed
        shard) is not waited for: the store's ``pending`` says which.
        """
        assert self.bundle is not None
        for ref in raw_payload_refs(entry.event.get("payload") if isinstance(entry.event, dict) else None):
            if not self.bundle.payloads.pending(ref):
                continue
            now = time.monotonic()
            if self._held_since is None:
                self._held_since = now
            self._held_attempts += 1
            if now - self._held_since < self.payload_wait or self._held_attempts < self.payload_attempts:
                return False
        return True

    def _apply(self, entry: LogEntry) -> Change | None:
        reducer = self.reducer
        if entry.event is None:
            # Any non-blank line after the end of recording is refused before it is even parsed.
            message = "trace event after recording completed" if reducer.recording_completed else entry.error
            reducer.record_fault(Fault(message or "unreadable line", line=entry.line))
            return None
        try:
            return reducer.apply(entry.event, line=entry.line)
        except Exception as error:  # noqa: BLE001 - a bug of ours must not take the viewer down
            if not isinstance(error, ReduceError):
                self._internal(error, line=entry.line, seq=entry.event.get("seq"))
            # The faulty event is not part of the state: undo the payloads it registered and
            # whatever its handler changed before it gave up.
            self._rebuild_without_faulty_event()
            return None

    def _rebuild_without_faulty_event(self) -> None:
        """Replace the reducer by one that applied exactly the events before the fault.

        Handlers are not transactional: one can update an object and only then hit
        the missing payload or inconsistency that stops replay. A fault happens at
        most once per replay, so re-reading the good prefix is the simple way to
        guarantee "everything before the fault, nothing of it".
        """
        assert self.bundle is not None
        faulty = self.reducer
        fault = faulty.fault
        wanted = faulty.events_applied
        try:
            fresh = type(faulty)(self.bundle.manifest, self.bundle.payloads)
            entries = EventLog(self.bundle.log.path).iter_new(final=True)
            try:
                while fresh.events_applied < wanted:
                    entry = next(entries)
                    fresh.apply(entry.event, line=entry.line)
            finally:
                entries.close()
        except Exception:  # noqa: BLE001 - the log changed under us: keep what we have
            return
        if fault is not None:
            fresh.record_fault(fault)
        fresh.change = faulty.change
        self.reducer = fresh

    def _internal(self, error: Exception, *, line: int | None = None, seq: object = None) -> None:
        """A bug of ours: replay stops as at a fault, but the fault says it is ours, not the trace's."""
        self.internal_error = error
        detail = "".join(traceback.format_exception(error)) if os.environ.get("TRACE_VIEWER_DEBUG") else ""
        self.reducer.record_fault(
            Fault(
                f"{type(error).__name__}: {error}",
                line=line,
                seq=seq if isinstance(seq, int) and not isinstance(seq, bool) else None,
                internal=True,
                detail=detail,
            )
        )

    def finish(self) -> None:
        """The log is complete: apply what is left, then run the end-of-log checks once."""
        if self.finished:
            return
        self.poll(final=True)
        if self.reducer.fault is not None:
            return
        try:
            self.reducer.finish()
        except ReduceError as error:
            self.reducer.record_fault(Fault(str(error)))
        except Exception as error:  # noqa: BLE001
            self._internal(error)
        if self.reducer.fault is None and self.reducer.schema_version >= 2:
            self._check_payloads()
        self.finished = True

    def _check_new_payloads(self) -> None:
        """Schema 3: the end-of-log check of each payload an event referenced first, done now.

        Its record was written just before, so its shard is most likely still decompressed, or not
        read yet and read next anyway; after the log, every shard would have to be decompressed
        again (they do not all fit the cache). A payload whose shard was evicted is left for then.
        Only a pass is kept: a payload with a problem is checked again, and reported, after the
        log, in the official order.
        """
        assert self.bundle is not None
        raw_payloads = self.reducer.rollout.raw_payloads
        fresh = len(raw_payloads) - self._registered
        self._registered = len(raw_payloads)
        if fresh <= 0:  # (fewer: the reducer was rebuilt without a faulty event)
            return
        shards = self.bundle.payloads.shards
        # References are only ever added, so the newest are at the end.
        later: list[RawPayload] = []
        for ref in islice(reversed(raw_payloads.values()), fresh):
            if not isinstance(ref.shard, int):
                continue
            if shards.resident(ref.raw_payload_id, ref.shard):
                self._check_early(ref)
            elif shards.ahead(ref.shard):
                later.append(ref)
        # A shard not read yet is read now, after the others (reading it may evict them): the reads
        # to come would decompress it anyway (a prompt cited from a new shard just after a rotation).
        for ref in later:
            self._check_early(ref)

    def _check_early(self, ref: RawPayload) -> None:
        if self._payload_problem(ref) is None:
            self._passed[ref.raw_payload_id] = ref

    def _check_payloads(self) -> None:
        """Schema 2 on: every referenced payload must exist and be JSON, even ones never read.

        The official reducer checks them after the whole log, in id order, so a bad unread
        payload loses to any fault in the log itself, and the first bad id (in text order)
        is the one reported. Schema 3 checks go shard by shard instead, so each shard is
        decompressed once, and the first bad id is picked among all the problems found.
        """
        assert self.bundle is not None
        raw_payloads = self.reducer.rollout.raw_payloads
        if self.reducer.schema_version < 3:
            for payload_id in sorted(raw_payloads):
                problem = self._payload_problem(raw_payloads[payload_id])
                if problem is not None:
                    self._record_payload_fault(payload_id, problem)
                    return
            return
        # 0.171.0 first checks that the shards were sealed (the newest may be open if not closed).
        footer = self.bundle.payloads.footer_fault(
            (ref.location() for ref in raw_payloads.values()), recording_closed=self.reducer.recording_completed
        )
        if footer is not None:
            self.reducer.record_fault(Fault(footer, after_log=True))
            return
        problems: dict[str, str] = {}
        passed = self._passed
        unchecked = [ref for ref in raw_payloads.values() if passed.get(ref.raw_payload_id) is not ref]
        for ref in sorted(unchecked, key=_shard_order):
            problem = self._payload_problem(ref)
            if problem is not None:
                problems[ref.raw_payload_id] = problem
        if problems:
            first = min(problems)
            self._record_payload_fault(first, problems[first])

    def _payload_problem(self, ref: RawPayload) -> str | None:
        """Why one payload fails the end-of-log check, or None."""
        assert self.bundle is not None
        store = self.bundle.payloads
        try:
            if not is_set(ref.parts):
                store.validate(ref.location())
                return None
            # Schema 3: a reference with parts is a prepared prompt, checked as one.
            data = store.read_bytes(ref.location())
        except PayloadError as error:
            return error.reason
        parts = ref.parts
        return self._prepared_prompts.problem_of(
            ref.raw_payload_id, data, len(parts) if isinstance(parts, tuple) else 0
        )

    def _record_payload_fault(self, payload_id: str, problem: str) -> None:
        ref = self.reducer.rollout.raw_payloads[payload_id]
        line, seq = self._first_reference(payload_id)
        path = ref.path if isinstance(ref.path, str) else None
        self.reducer.record_fault(
            Fault(problem, line=line, seq=seq, payload_id=payload_id, payload_path=path, after_log=True)
        )

    def _first_reference(self, payload_id: str) -> tuple[int | None, int | None]:
        """(line, seq) of the first event that references a payload: read again, only for a fault."""
        assert self.bundle is not None
        entries = EventLog(self.bundle.log.path).iter_new(final=True)
        try:
            for entry in entries:
                if entry.event is None:
                    continue
                payload = entry.event.get("payload") if isinstance(entry.event, dict) else None
                if any(ref.get("raw_payload_id") == payload_id for ref in raw_payload_refs(payload, with_parts=True)):
                    seq = entry.event.get("seq")
                    return entry.line, seq if isinstance(seq, int) else None
        except EventLogError:
            pass
        finally:
            entries.close()
        return None, None


def _shard_order(ref: RawPayload) -> tuple[int, int, str]:
    """Shard, then record number (records are written in id order), then id."""
    number = ref.raw_payload_id.rpartition(":")[2]
    return (ref.shard if isinstance(ref.shard, int) else 0, int(number) if number.isdigit() else 0, ref.raw_payload_id)


def replay_bundle(path: str | os.PathLike[str], max_events: int | None = None) -> Replay:
    """Reduce a bundle as it is on disk now. With ``max_events``, stop after that many events (no end checks)."""
    replay = Replay(path)
    if max_events is None:
        replay.finish()
    else:
        replay.poll(final=True, max_events=max_events)
    return replay


def reduce_bundle(path: str | os.PathLike[str], max_events: int | None = None) -> Reducer:
    """Reduce every event; on a fault, stop and keep the state before it (see ``reducer.fault``)."""
    return replay_bundle(path, max_events).reducer
