"""A replay session: one bundle, replayed once, browsable at any position.

The viewer needs "the state after event N" for every N, in both directions,
instantly. Replaying from the start on every step backward is too slow for
long traces, and deep-copying the whole reducer at every step costs too much
memory, so the session keeps three cheap records while it replays once:

* per event: the raw envelope and the ``Change`` the reducer reported;
* per thread: the live model-visible context (tuple of item ids) each time it
  moved — a bisect finds the context at any position;
* per conversation item: a copy each time it was created or updated — a
  bisect finds the item as it was at any position.

Everything else the viewer shows (threads, turns, calls, tools…) carries an
execution window (started_seq / ended_seq), so the head state answers "what
did this look like at N" without history.

For callers that need the full reducer at some position (tests, exports),
``reducer_at`` restores the nearest checkpoint (a deep copy taken every
``checkpoint_every`` events, lazily) and replays the few events after it.

No UI imports here: the CLI and the benchmarks use this module too.
"""

from __future__ import annotations

import copy
import os
import re
import time
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from trace_viewer.bundle import LogEntry, PayloadStore
from trace_viewer.errors import Fault, ReduceError
from trace_viewer.model import (
    CodePart,
    ConversationBody,
    ConversationItem,
    JsonPart,
    PayloadRefPart,
    RolloutTrace,
    SpawnedOrigin,
    SummaryPart,
    TextPart,
)
from trace_viewer.reducer import Change, Reducer
from trace_viewer.reducer.fields import JsonObject, JsonValue
from trace_viewer.reducer.replay import Replay

# Events that end a bundle cleanly (schema 2 writes recording_completed last;
# schema 1 stops at rollout_ended).
_CLOSING_EVENTS = frozenset({"recording_completed", "rollout_ended"})


@dataclass(slots=True)
class EventRecord:
    """One applied event: the envelope (payload bodies stay on disk) and what it changed."""

    seq: int
    line: int
    event: JsonObject  # the raw line, as the reducer accepted it
    change: Change

    @property
    def payload(self) -> JsonObject:
        payload = self.event.get("payload")
        return payload if isinstance(payload, dict) else {}

    @property
    def type(self) -> str:
        event_type = self.payload.get("type")
        return event_type if isinstance(event_type, str) else ""

    @property
    def thread_id(self) -> str | None:
        thread = self.event.get("thread_id") or self.payload.get("thread_id")
        return thread if isinstance(thread, str) else None

    @property
    def turn_id(self) -> str | None:
        turn = self.event.get("codex_turn_id") or self.payload.get("codex_turn_id")
        return turn if isinstance(turn, str) else None

    @property
    def wall_ms(self) -> int:
        wall = self.event.get("wall_time_unix_ms")
        return wall if isinstance(wall, int) else 0


@dataclass(slots=True)
class LocalCompaction:
    """A full request snapshot that dropped most of the thread's previous context.

    Local (client-side) compaction writes no events; this is the only trace it
    leaves. Derived by the session, not part of the reduced state.
    """

    thread_id: str
    seq: int
    dropped_item_ids: list[str]
    kept_item_ids: list[str]
    added_item_ids: list[str]
    inference_call_id: str | None

    @property
    def id(self) -> str:
        return f"local_compaction:{self.thread_id}:{self.seq}"


@dataclass(slots=True)
class _ContextTrack:
    """Every value a thread's live context took, with the seq it took it at."""

    seqs: list[int] = field(default_factory=list)
    frames: list[tuple[str, ...]] = field(default_factory=list)

    def at(self, seq: int) -> tuple[str, ...]:
        index = bisect_right(self.seqs, seq) - 1
        return self.frames[index] if index >= 0 else ()

    def push(self, seq: int, frame: tuple[str, ...]) -> None:
        if self.seqs and self.seqs[-1] == seq:
            self.frames[-1] = frame
        else:
            self.seqs.append(seq)
            self.frames.append(frame)


def _item_version(item: ConversationItem) -> ConversationItem:
    """A copy of an item as it is now: its lists are its own (parts and producers are immutable)."""
    return msgspec.structs.replace(
        item, body=ConversationBody(list(item.body.parts)), produced_by=list(item.produced_by)
    )


def clone_reducer(reducer: Reducer) -> Reducer:
    """An independent copy of a reducer's state; the payload source and manifest are shared."""
    return copy.deepcopy(reducer)


def item_text(item: ConversationItem) -> str:
    """The readable text of a conversation item (what search matches and size counts)."""
    out: list[str] = []
    for part in item.body.parts:
        if isinstance(part, TextPart | SummaryPart):
            out.append(part.text)
        elif isinstance(part, CodePart):
            out.append(part.source)
        elif isinstance(part, JsonPart):
            out.append(part.summary)
        elif isinstance(part, PayloadRefPart):
            out.append(part.label)
    return "\n".join(out)


@dataclass(slots=True)
class SearchHit:
    seq: int
    thread_id: str
    item_id: str


class _RecordingReplay(Replay):
    """``Replay`` that hands every applied event to the session right after it is applied.

    The session must look at the reducer between events (to copy what changed),
    so it hooks the per-entry step instead of the batch ``poll`` result.
    """

    def __init__(self, path: Path, session: ReplaySession) -> None:
        self._session = session
        super().__init__(path)

    def _apply(self, entry: LogEntry) -> Change | None:
        change = super()._apply(entry)
        if change is not None:
            self._session._applied(entry, change)
        return change


class ReplaySession:
    """Replays one bundle and answers questions about any position 0..``total``.

    Position N means "after applying events 1..N". Position 0 is the empty state.
    ``follow=True`` treats the bundle as still being written: a torn last line is
    waited for, not a fault, and the end-of-log checks do not run.
    """

    # Events applied per slice of ``load`` before the time budget is checked again.
    SLICE = 64

    def __init__(self, path: str | os.PathLike[str], *, follow: bool = False, checkpoint_every: int = 64) -> None:
        self.path = Path(path)
        self.follow = follow
        self.checkpoint_every = max(1, checkpoint_every)
        self.records: list[EventRecord] = []
        self._contexts: dict[str, _ContextTrack] = {}
        self._item_versions: dict[str, list[tuple[int, ConversationItem]]] = {}
        self._first_seq: dict[str, int] = {}
        self._seqs_by_type: dict[str, list[int]] = {}
        self.local_compactions: list[LocalCompaction] = []
        self._remote_since_request: set[str] = set()
        self._checkpoints: dict[int, Reducer] = {}
        self.closed = False  # a closing event was seen
        self.revision = 0  # bumps whenever the head state changed (views cache on it)
        self._exhausted = False
        self.replay = _RecordingReplay(self.path, self)

    def __rich_repr__(self) -> Iterator[tuple[str, object]]:
        yield "path", str(self.path)
        yield "total", self.total
        yield "fault", self.fault

    # ----- loading ------------------------------------------------------------
    @property
    def reducer(self) -> Reducer:
        return self.replay.reducer

    @property
    def manifest(self) -> Mapping[str, object]:
        return self.replay.bundle.manifest if self.replay.bundle is not None else {}

    @property
    def payloads(self) -> PayloadStore | None:
        return self.replay.bundle.payloads if self.replay.bundle is not None else None

    @property
    def warnings(self) -> list[str]:
        return list(self.replay.bundle.warnings) if self.replay.bundle is not None else []

    @property
    def total(self) -> int:
        """Number of applied events (the last valid position)."""
        return len(self.records)

    @property
    def rollout(self) -> RolloutTrace:
        """The head state (after the last applied event)."""
        return self.reducer.rollout

    @property
    def fault(self) -> Fault | None:
        if self._awaiting_manifest:
            return None  # following a bundle whose manifest is still being written: not a fault yet
        return self.reducer.fault

    @property
    def _awaiting_manifest(self) -> bool:
        return self.follow and self.replay.bundle is None

    @property
    def finished(self) -> bool:
        """The end-of-log work ran: the state is the final offline state."""
        return self.replay.finished

    @property
    def stopped(self) -> bool:
        """Replay cannot go further (a fault stops it for good)."""
        return self.reducer.fault is not None and not self._awaiting_manifest

    @property
    def done(self) -> bool:
        """Everything currently on disk has been applied (or replay stopped)."""
        return self.stopped or self.finished or self._exhausted

    @property
    def waiting(self) -> bool:
        """Follow mode: a torn last line or a not-yet-readable payload is being waited for."""
        return self.replay.waiting

    @property
    def awaiting_payload(self) -> bool:
        """Follow mode: an event waits for its payload file (look again soon, even if nothing seems to change)."""
        return self.replay.awaiting_payload

    @property
    def reset_reason(self) -> str | None:
        """Why the log cannot be read on incrementally (truncated/replaced); reload to continue."""
        return self.replay.reset_reason

    def progress(self) -> float:
        """Fraction of the log applied so far, for a progress bar."""
        if self.done:
            return 1.0
        bundle = self.replay.bundle
        if bundle is None:
            return 0.0
        try:
            size = os.stat(bundle.log.path).st_size
        except OSError:
            return 0.0
        return max(0.0, min(1.0, bundle.log.offset / max(1, size)))

    def load(self, max_events: int | None = None, budget_s: float | None = None) -> int:
        """Apply what is on disk: at most ``max_events`` events / for about ``budget_s`` seconds.

        Returns how many events were applied; call again until ``done``. Offline
        (not following), reaching the end runs the end-of-log checks once.
        """
        if self.stopped or self.finished:
            return 0
        deadline = None if budget_s is None else time.perf_counter() + budget_s
        before = self.total
        while not self.stopped:
            if self._awaiting_manifest:
                self.replay.poll(final=False)  # retries the manifest
                if self._awaiting_manifest:
                    self._exhausted = True
                    break
            step = self.SLICE if deadline is not None else None
            if max_events is not None:
                remaining = before + max_events - self.total
                if remaining <= 0:
                    break
                step = remaining if step is None else min(step, remaining)
            target = None if step is None else self.reducer.events_applied + step
            self.replay.poll(final=not self.follow, max_events=target)
            if target is None or self.reducer.events_applied < target:
                self._exhausted = True  # nothing more on disk right now
                break
            if deadline is not None and time.perf_counter() > deadline:
                break
        # Offline, the end of the file is the end of the log. Following, only the writer's
        # `recording_completed` says so (then nothing more may come, and the end checks run).
        if self._exhausted and (not self.follow or self.replay.closed):
            self._finish()
        if self.total != before or self.stopped:
            self.revision += 1
        return self.total - before

    def load_all(self) -> None:
        """Apply everything on disk now (offline: including the end-of-log checks)."""
        while not self.done:
            self.load()

    def poll(self, budget_s: float | None = None) -> int:
        """Follow mode: apply whatever was appended since the last call. Returns new events.

        With ``budget_s``, stop after about that long; ``done`` is then False while more is on disk.
        """
        self._exhausted = False
        return self.load(budget_s=budget_s)

    def _finish(self) -> None:
        if self.finished or self.stopped:
            return
        self.replay.finish()
        # End-of-log work is attributed to the last event: re-record what it touched.
        if self.records:
            last = self.records[-1]
            self._record_change(last.seq, last.change, "end_of_log")
        self.revision += 1

    def _applied(self, entry: LogEntry, change: Change) -> None:
        event: JsonValue = entry.event
        assert isinstance(event, dict)  # the reducer applied it
        record = EventRecord(change.seq, entry.line, event, change)
        self.records.append(record)
        event_type = record.type
        self._seqs_by_type.setdefault(event_type, []).append(record.seq)
        if event_type in _CLOSING_EVENTS:
            self.closed = True
        if event_type == "compaction_installed":
            compactions = self.reducer.rollout.compactions
            for object_id in change.created:
                if object_id in compactions:
                    self._remote_since_request.add(compactions[object_id].thread_id)
        self._record_change(record.seq, change, event_type)

    def _record_change(self, seq: int, change: Change, event_type: str) -> None:
        items = self.reducer.rollout.conversation_items
        for object_id in (*change.created, *change.updated):
            self._first_seq.setdefault(object_id, seq)
            item = items.get(object_id)
            if item is not None:
                versions = self._item_versions.setdefault(object_id, [])
                snapshot = _item_version(item)
                if versions and versions[-1][0] == seq:
                    versions[-1] = (seq, snapshot)
                else:
                    versions.append((seq, snapshot))
        # A thread's context moved if the reducer says so — or, defensively, if its length
        # or last item differs from what we recorded.
        snapshots = self.reducer.snapshots
        for thread_id, live in snapshots.items():
            track = self._contexts.get(thread_id)
            if track is None:
                track = self._contexts[thread_id] = _ContextTrack()
            previous = track.frames[-1] if track.frames else ()
            if (
                thread_id not in change.context_threads
                and len(live) == len(previous)
                and (not live or live[-1] == previous[-1])
            ):
                continue
            frame = tuple(live)
            if frame == previous:
                continue
            before = track.frames[-2] if track.seqs and track.seqs[-1] == seq and len(track.frames) > 1 else previous
            track.push(seq, frame)
            if thread_id not in change.context_threads:
                change.context_threads.append(thread_id)
            self._detect_local_compaction(thread_id, seq, before, frame, change, event_type)

    def _detect_local_compaction(
        self,
        thread_id: str,
        seq: int,
        previous: tuple[str, ...],
        frame: tuple[str, ...],
        change: Change,
        event_type: str,
    ) -> None:
        """Flag a request snapshot that dropped history the thread's previous context held.

        History only grows between requests, except through compaction. Remote
        compactions are explicit objects (and the request after one legitimately
        re-sends its prefix as new items), so only a drop with no remote install
        since the thread's previous request counts as a local compaction.
        """
        if event_type != "inference_started":
            return
        after_remote = thread_id in self._remote_since_request
        self._remote_since_request.discard(thread_id)
        if after_remote or not previous:
            return
        now = set(frame)
        dropped = [item for item in previous if item not in now]
        if not dropped:
            return
        before = set(previous)
        calls = self.reducer.rollout.inference_calls
        call_id = next((x for x in change.created if x in calls), None)
        self.local_compactions.append(
            LocalCompaction(
                thread_id=thread_id,
                seq=seq,
                dropped_item_ids=dropped,
                kept_item_ids=[item for item in frame if item in before],
                added_item_ids=[item for item in frame if item not in before],
                inference_call_id=call_id,
            )
        )

    # ----- position queries -----------------------------------------------------
    def record(self, seq: int) -> EventRecord | None:
        return self.records[seq - 1] if 1 <= seq <= len(self.records) else None

    def change_at(self, seq: int) -> Change | None:
        record = self.record(seq)
        return record.change if record else None

    def context_at(self, thread_id: str, seq: int) -> tuple[str, ...]:
        """The thread's live model-visible context (item ids) after event ``seq``."""
        track = self._contexts.get(thread_id)
        return track.at(seq) if track else ()

    def last_context_change(self, thread_id: str, position: int) -> int:
        """The last position at or before ``position`` where the thread's context changed (0: none)."""
        track = self._contexts.get(thread_id)
        if track is None:
            return 0
        index = bisect_right(track.seqs, position)
        return track.seqs[index - 1] if index else 0

    def item_at(self, item_id: str, seq: int) -> ConversationItem | None:
        """A conversation item as it was after event ``seq`` (None if not yet created)."""
        versions = self._item_versions.get(item_id)
        if not versions:
            item = self.rollout.conversation_items.get(item_id)
            first = self._first_seq.get(item_id)
            return item if item is not None and (first is None or first <= seq) else None
        index = bisect_right(versions, seq, key=lambda version: version[0]) - 1
        return versions[index][1] if index >= 0 else None

    def first_in_context(self, item_id: str) -> int | None:
        """The first position at which an item is in its thread's live context (None if never)."""
        item = self.rollout.conversation_items.get(item_id)
        track = self._contexts.get(item.thread_id) if item else None
        if track is None:
            return None
        start = max(0, bisect_right(track.seqs, self._first_seq.get(item_id, 0)) - 1)
        for index in range(start, len(track.seqs)):
            if item_id in track.frames[index]:
                return track.seqs[index]
        return None

    def first_seq(self, object_id: str) -> int | None:
        """The event that first created or touched this object."""
        return self._first_seq.get(object_id)

    def seqs_of(self, *event_types: str) -> list[int]:
        """Sorted seqs of every applied event of these types."""
        if len(event_types) == 1:
            return self._seqs_by_type.get(event_types[0], [])
        merged: list[int] = []
        for event_type in event_types:
            merged.extend(self._seqs_by_type.get(event_type, []))
        return sorted(merged)

    def compaction_seqs(self) -> list[int]:
        """Where a compaction (remote install or detected local one) changed a context."""
        return sorted({*self.seqs_of("compaction_installed"), *(c.seq for c in self.local_compactions)})

    def wall_ms_at(self, seq: int) -> int | None:
        record = self.record(seq)
        return record.wall_ms if record else None

    def rollout_status_at(self, seq: int) -> str:
        ended = [s for s in self.seqs_of("rollout_ended") if s <= seq]
        if not ended:
            return "running"
        record = self.record(ended[-1])
        status = record.payload.get("status") if record else None
        return status if isinstance(status, str) else "completed"

    def thread_order(self) -> list[str]:
        """Threads root first, then each child right after its parent, in start order."""
        threads = self.rollout.threads
        children: dict[str | None, list[str]] = {}
        for thread_id, thread in threads.items():
            origin = thread.origin
            parent = origin.parent_thread_id if isinstance(origin, SpawnedOrigin) else None
            if parent not in threads:
                parent = None
            children.setdefault(parent, []).append(thread_id)
        for ids in children.values():
            ids.sort(key=lambda t: (threads[t].execution.started_seq, t))
        order: list[str] = []
        stack = list(reversed(children.get(None, [])))
        root = self.rollout.root_thread_id
        if root in stack:
            stack.remove(root)
            stack.append(root)
        while stack:
            thread_id = stack.pop()
            if thread_id in order:
                continue
            order.append(thread_id)
            stack.extend(reversed(children.get(thread_id, [])))
        return order

    # ----- search -------------------------------------------------------------
    def search(
        self,
        pattern: str,
        *,
        roles: Iterable[str] = (),
        kinds: Iterable[str] = (),
        thread_id: str | None = None,
    ) -> list[SearchHit]:
        """Items whose text matches the regex (case-insensitive), in order of first appearance.

        Raises ``re.error`` for an invalid pattern.
        """
        regex = re.compile(pattern, re.IGNORECASE) if pattern else None
        roles = set(roles)
        kinds = set(kinds)
        hits: list[SearchHit] = []
        for item_id, item in self.rollout.conversation_items.items():
            if roles and item.role not in roles and item.channel not in roles:
                continue
            if kinds and item.kind not in kinds:
                continue
            if thread_id is not None and item.thread_id != thread_id:
                continue
            if regex is not None and not regex.search(item_text(item)):
                continue
            seq = self._first_seq.get(item_id, self.total)
            hits.append(SearchHit(seq, item.thread_id, item_id))
        hits.sort(key=lambda hit: (hit.seq, _ordinal(hit.item_id)))
        return hits

    # ----- exact state at a position --------------------------------------------
    def reducer_at(self, seq: int) -> Reducer:
        """A fresh reducer holding exactly the state after event ``seq`` (0 ≤ seq ≤ total).

        Starts from the nearest checkpoint at or before ``seq`` and leaves new
        checkpoints behind every ``checkpoint_every`` events, so seeking
        backward later never replays from the start.
        """
        seq = max(0, min(seq, self.total))
        bundle = self.replay.bundle
        if bundle is None:
            return clone_reducer(self.reducer)
        if 0 not in self._checkpoints:
            self._checkpoints[0] = Reducer(bundle.manifest, bundle.payloads)
        base = max(s for s in self._checkpoints if s <= seq)
        reducer = clone_reducer(self._checkpoints[base])
        for position in range(base + 1, seq + 1):
            record = self.records[position - 1]
            reducer.apply(record.event, line=record.line)
            if position % self.checkpoint_every == 0 and position not in self._checkpoints:
                self._checkpoints[position] = clone_reducer(reducer)
        if seq == self.total and self.finished:
            try:
                reducer.finish()
            except ReduceError:
                pass
        return reducer


def _ordinal(item_id: str) -> int:
    tail = item_id.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 0
