"""The reducer's shared state and the per-event pipeline.

Each concern (threads, inference, conversation, compaction, tools, terminals,
code cells, agents) lives in its own module as a mixin over ``ReducerBase``,
mirroring the official crate, where every module adds methods to one
``TraceReducer``. Event handlers are named ``on_<event type>``.

Replay is streaming and step-by-step: ``apply`` takes one raw event, checks it
the way the official reducer would (after-recording, schema, seq, rollout id),
applies it, and reports what changed. The first fault stops replay; the state
stays exactly as it was after the last good event, so a viewer can show it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from trace_viewer.model import RolloutTrace, new_rollout
from trace_viewer.model.session import MAP_KEYS
from trace_viewer.reducer.errors import Fault, PayloadError, ReduceError
from trace_viewer.reducer.events import (
    EVENT_FIELDS,
    NEWEST_SCHEMA,
    check_envelope,
    check_payload,
    payload_refs,
)


class PayloadSource(Protocol):
    """Where payload bodies come from (``trace_viewer.bundle.PayloadStore`` in practice)."""

    def read(self, ref: dict[str, Any]) -> Any:
        """Parsed JSON of a payload; raises ``PayloadError`` if missing/invalid/outside."""
        ...

    def read_text(self, ref: dict[str, Any]) -> str:
        """The payload file's text, for the few places where number text must survive."""
        ...


@dataclass(slots=True)
class Change:
    """What one event did, so a viewer can highlight it."""

    seq: int
    event_type: str
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    # Threads whose live model-visible context (snapshot) moved.
    context_threads: list[str] = field(default_factory=list)


class ReducerBase:
    """State shared by every concern module. Not useful alone: use ``Reducer``."""

    def __init__(self, manifest: dict[str, Any], payloads: PayloadSource) -> None:
        self.schema_version: int = int(manifest.get("schema_version", 2))
        self.manifest = manifest
        self.payloads = payloads
        self.rollout: RolloutTrace = new_rollout(
            self.schema_version,
            str(manifest.get("trace_id", "")),
            str(manifest.get("rollout_id", "")),
            str(manifest.get("root_thread_id", "")),
            int(manifest.get("started_at_unix_ms", 0) or 0),
        )
        self.events_applied = 0
        self.recording_completed = False
        self.fault: Fault | None = None
        self.change: Change = Change(0, "")
        # Live model-visible history per thread: the last request snapshot plus
        # response items and installed compaction replacements (thread_conversation_snapshots).
        self.snapshots: dict[str, list[str]] = {}
        self.next_conversation_item_ordinal = 1
        self.next_terminal_operation_ordinal = 1
        # (seq, type) of events of a newer schema that this reducer does not know and skipped.
        self.skipped_events: list[tuple[int, str]] = []
        self.init_concerns()

    def init_concerns(self) -> None:
        """Each concern mixin extends this to add its private state (call super)."""

    # ----- change reporting -------------------------------------------------
    def note_created(self, object_id: str) -> None:
        self.change.created.append(object_id)

    def note_updated(self, object_id: str) -> None:
        self.change.updated.append(object_id)

    def note_context(self, thread_id: str) -> None:
        if thread_id not in self.change.context_threads:
            self.change.context_threads.append(thread_id)

    # ----- payloads ---------------------------------------------------------
    def read_payload(self, ref: dict[str, Any]) -> Any:
        return self.payloads.read(ref)

    def register_payloads(self, refs: list[dict[str, Any]]) -> None:
        """Record an event's payload references in ``raw_payloads`` (before its handler runs).

        Schema 1 and 2: the last reference to an id wins. Schema 3 refuses a reference that
        differs from an earlier one to the same id, a prepared prompt's parts included.
        """
        raw_payloads = self.rollout["raw_payloads"]
        if self.schema_version < 3:
            for ref in refs:
                payload_id = ref["raw_payload_id"]
                raw_payloads[payload_id] = {"raw_payload_id": payload_id, "kind": ref["kind"], "path": ref["path"]}
            return
        for ref in refs:
            self._register_ref(ref)

    def _register_ref(self, ref: dict[str, Any]) -> dict[str, Any]:
        """Register one schema 3 reference and its parts; returns its ``raw_payloads`` record.

        A prepared prompt lists hundreds of parts, nearly all registered before: those are
        compared field by field and their existing records shared, so nothing is copied.
        """
        payload_id: str = ref["raw_payload_id"]
        raw_payloads = self.rollout["raw_payloads"]
        parts = ref.get("parts")
        part_records = [self._register_ref(part) for part in parts] if parts else None
        existing = raw_payloads.get(payload_id)
        if existing is not None:
            if (
                existing["shard"] == ref["shard"]
                and existing["kind"]["type"] == ref["kind"]["type"]
                and existing.get("parts") == part_records
            ):
                return existing
            raise ReduceError(f"conflicting references for payload {payload_id}")
        record: dict[str, Any] = {
            "raw_payload_id": payload_id,
            "kind": {"type": ref["kind"]["type"]},
            "shard": ref["shard"],
        }
        if part_records:
            record["parts"] = part_records
        raw_payloads[payload_id] = record
        return record

    # ----- lookups shared by several concerns --------------------------------
    def thread(self, thread_id: str) -> dict[str, Any]:
        thread = self.rollout["threads"].get(thread_id)
        if thread is None:
            raise ReduceError(f"trace event referenced unknown thread {thread_id}")
        return thread

    # ----- hooks one concern calls and another implements --------------------
    def terminate_running_code_cells_for_turn_end(self, seq: int, wall: int, turn_id: str, status: str) -> None:
        raise NotImplementedError  # code_cells.py

    def close_running_inference_calls_for_turn_end(self, seq: int, wall: int, turn_id: str, status: str) -> None:
        raise NotImplementedError  # inference.py

    # ----- the pipeline -----------------------------------------------------
    @property
    def expected_seq(self) -> int:
        return self.events_applied + 1

    def apply(self, event: Any, line: int | None = None) -> Change:
        """Apply one raw event. On a fault, record it and raise ``ReduceError``.

        After a fault the reducer refuses further events: the official reducer
        stops at the first problem, and so does every consumer of this state.
        """
        if self.fault is not None:
            raise ReduceError(f"replay already stopped: {self.fault}")
        seq = event.get("seq") if isinstance(event, dict) else None
        try:
            if self.recording_completed:
                raise ReduceError("trace event after recording completed")
            check_envelope(event)
            if event["schema_version"] != self.schema_version:
                raise ReduceError(f"unsupported trace event schema {event['schema_version']} at line {line}")
            payload = event["payload"]
            event_type = payload["type"]
            # A schema newer than ours may add event types: skip those (the viewer shows them raw).
            skip = self.schema_version > NEWEST_SCHEMA and event_type not in EVENT_FIELDS
            if not skip:
                check_payload(event_type, payload, self.schema_version)
            if event["seq"] != self.expected_seq:
                raise ReduceError(f"missing or reordered trace event {self.expected_seq}")
            if event["rollout_id"] != self.rollout["rollout_id"]:
                raise ReduceError("trace event belongs to another rollout")
            self.change = Change(event["seq"], event_type)
            if skip:
                self.skipped_events.append((event["seq"], event_type))
            else:
                self.register_payloads(payload_refs(event_type, payload, self.schema_version))
                handler = getattr(self, "on_" + event_type, None)
                if handler is None:
                    raise ReduceError("raw trace event has no reducer implementation")
                handler(event)
        except PayloadError as error:
            self.fault = Fault(
                error.reason if error.reason else str(error),
                line=line,
                seq=seq if isinstance(seq, int) else None,
                payload_id=error.raw_payload_id,
                payload_path=error.path,
            )
            raise
        except ReduceError as error:
            self.fault = Fault(str(error), line=line, seq=seq if isinstance(seq, int) else None)
            raise
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, RecursionError) as error:
            # A payload of an unexpected shape: a fault in the trace, not a crash of ours.
            message = f"unexpected payload shape ({type(error).__name__}: {error})"
            self.fault = Fault(message, line=line, seq=seq if isinstance(seq, int) else None)
            raise ReduceError(message) from error
        self.events_applied += 1
        return self.change

    def record_fault(self, fault: Fault) -> None:
        """A fault found outside ``apply`` (torn line, unreadable log): replay stops here."""
        if self.fault is None:
            self.fault = fault

    def finish(self) -> None:
        """End-of-log work the official reducer does after the last line."""

    # ----- output -----------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The state as the official ``state.json`` (maps sorted by key, like BTreeMaps)."""
        out: dict[str, Any] = {}
        for key, value in self.rollout.items():
            if key in MAP_KEYS:
                out[key] = {k: value[k] for k in sorted(value)}
            else:
                out[key] = value
        return out

    def live_context(self, thread_id: str | None = None) -> list[str]:
        """Item ids of the thread's live model-visible history right now."""
        return list(self.snapshots.get(thread_id or self.rollout["root_thread_id"], []))
