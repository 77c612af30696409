"""The one place that reads the reduced state for token counting.

Token counting needs a few facts about conversation items and inference calls,
the raw request of a call, and the context window of a turn. This module turns
the reducer's state (typed structures, ``trace_viewer.model``) into small frozen
records, so a change of the state's representation (a rollout-built state) is a
change here and nowhere else in ``trace_viewer.tokens``.

Raw payloads are read through the bundle's payload store (bounded, cached);
a payload that cannot be read is simply absent (``None``): counting then falls
back to what the reduced item holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from trace_viewer.bundle.event_log import parse_json_bytes
from trace_viewer.model import AgentMessageMetadata, ConversationPart, InferenceProducer, RolloutTrace


class PayloadReader(Protocol):
    def read(self, ref: dict[str, Any]) -> Any: ...


def _parse_uncached(payloads: Any, ref: dict[str, Any]) -> Any:
    """Read and parse a payload without keeping it in the store's cache (when the store can)."""
    read_bytes = getattr(payloads, "read_bytes", None)
    if read_bytes is None:
        return payloads.read(ref)
    return parse_json_bytes(read_bytes(ref))


@dataclass(frozen=True, slots=True)
class ItemFacts:
    """What counting needs to know about one conversation item."""

    item_id: str
    thread_id: str
    role: str
    channel: str | None
    kind: str
    parts: tuple[ConversationPart, ...]  # the reduced body's parts (text, summary, encoded, json, code, payload_ref)
    call_id: str | None
    is_agent_message: bool
    producing_call_id: str | None  # the inference call whose response produced it


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What counting needs to know about one inference call."""

    call_id: str
    thread_id: str
    turn_id: str | None
    started_seq: int
    ended_seq: int | None
    request_item_ids: tuple[str, ...]
    response_item_ids: tuple[str, ...]
    input_tokens: int | None  # provider-reported, None when no usage was recorded
    output_tokens: int | None
    reasoning_output_tokens: int | None
    request_ref: dict[str, Any] | None
    response_ref: dict[str, Any] | None
    prepared_prompt_ref: dict[str, Any] | None  # schema 3


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class StateSource:
    """Read access to one trace's reduced state for token counting.

    ``rollout`` is the reduced state (``Reducer.rollout``); it may keep growing
    (following a live trace): records are built on demand and items, being
    immutable, are cached. ``payloads`` reads raw payloads by reference.
    ``events`` are the raw event envelopes applied so far (for the context
    window, which only protocol events record); call ``add_events`` with more.
    """

    def __init__(self, rollout: RolloutTrace, payloads: PayloadReader | None, events: Iterable[Any] = ()) -> None:
        self._rollout = rollout
        self._payloads = payloads
        self._items: dict[str, ItemFacts] = {}
        self._calls: dict[str, CallFacts] = {}
        self._windows: dict[str, int] = {}  # codex turn id -> model_context_window
        self._window_seqs: dict[str, int] = {}  # codex turn id -> seq of its turn_started
        self.add_events(events)

    # ----- items and calls ----------------------------------------------------------------
    def item(self, item_id: str) -> ItemFacts | None:
        facts = self._items.get(item_id)
        if facts is not None:
            return facts
        raw = self._rollout.conversation_items.get(item_id)
        if raw is None:
            return None
        producing = next((p.inference_call_id for p in raw.produced_by if isinstance(p, InferenceProducer)), None)
        facts = ItemFacts(
            item_id=item_id,
            thread_id=raw.thread_id,
            role=raw.role,
            channel=raw.channel,
            kind=raw.kind,
            parts=tuple(raw.body.parts),
            call_id=raw.call_id,
            is_agent_message=isinstance(raw.agent_message, AgentMessageMetadata),
            producing_call_id=producing,
        )
        self._items[item_id] = facts
        return facts

    def call(self, call_id: str) -> CallFacts | None:
        cached = self._calls.get(call_id)
        if cached is not None:
            return cached
        raw = self._rollout.inference_calls.get(call_id)
        if raw is None:
            return None
        usage = raw.usage
        prepared = raw.prepared_prompt_payload_id
        facts = CallFacts(
            call_id=call_id,
            thread_id=raw.thread_id,
            turn_id=raw.codex_turn_id,
            started_seq=raw.execution.started_seq,
            ended_seq=raw.execution.ended_seq,
            request_item_ids=tuple(raw.request_item_ids),
            response_item_ids=tuple(raw.response_item_ids),
            input_tokens=usage.input_tokens if usage is not None else None,
            output_tokens=usage.output_tokens if usage is not None else None,
            reasoning_output_tokens=usage.reasoning_output_tokens if usage is not None else None,
            request_ref=self.payload_ref(raw.raw_request_payload_id),
            response_ref=self.payload_ref(raw.raw_response_payload_id) if raw.raw_response_payload_id else None,
            prepared_prompt_ref=self.payload_ref(prepared) if isinstance(prepared, str) else None,
        )
        if facts.ended_seq is not None:  # an ended call does not change any more
            self._calls[call_id] = facts
        return facts

    def call_ids(self, thread_id: str | None = None) -> list[str]:
        """Inference calls (of one thread, or all) in the order they started."""
        calls = self._rollout.inference_calls
        chosen = [
            (call.execution.started_seq, call_id)
            for call_id, call in calls.items()
            if thread_id is None or call.thread_id == thread_id
        ]
        chosen.sort()
        return [call_id for _, call_id in chosen]

    def call_count(self) -> int:
        return len(self._rollout.inference_calls)

    def turn_ids(self, thread_id: str) -> list[tuple[int, str]]:
        """(started seq, turn id) of a thread's codex turns, in start order."""
        turns = [
            (turn.execution.started_seq, turn_id)
            for turn_id, turn in self._rollout.codex_turns.items()
            if turn.thread_id == thread_id
        ]
        turns.sort()
        return turns

    def thread_ids(self) -> list[str]:
        return list(self._rollout.threads)

    # ----- payloads -----------------------------------------------------------------------
    def read_payload(self, ref: dict[str, Any] | None, *, cache: bool = True) -> Any:
        """A parsed raw payload, or None when it is absent or unreadable.

        ``cache=False`` for big one-off reads (requests) that would only evict what the viewer uses.
        """
        if ref is None or self._payloads is None:
            return None
        try:
            return self._payloads.read(ref) if cache else _parse_uncached(self._payloads, ref)
        except Exception:  # noqa: BLE001 - a missing or broken payload just means "not known"
            return None

    def payload_ref(self, payload_id: str) -> dict[str, Any] | None:
        ref = self._rollout.raw_payloads.get(payload_id)
        return ref.reference() if ref is not None else None

    # ----- context window -----------------------------------------------------------------
    def add_events(self, events: Iterable[Any]) -> None:
        """Take the context window from ``turn_started`` protocol events (payload ``task_started``).

        The envelope of a protocol event has no thread or turn; the payload names its turn.
        """
        for event in events:
            payload = event.get("payload") if isinstance(event, dict) else None
            if not isinstance(payload, dict) or payload.get("type") != "protocol_event_observed":
                continue
            if payload.get("event_type") != "turn_started":
                continue
            body = self.read_payload(payload.get("event_payload"))
            if not isinstance(body, dict):
                continue
            turn_id = body.get("turn_id")
            window = _int_or_none(body.get("model_context_window"))
            if isinstance(turn_id, str) and window is not None and window > 0:
                self._windows[turn_id] = window
                seq = event.get("seq")
                self._window_seqs[turn_id] = seq if isinstance(seq, int) else 0

    def context_window(self, turn_id: str | None, thread_id: str | None, seq: int | None = None) -> int | None:
        """The model's context window for a turn; else the thread's latest known one (at or
        before ``seq``); else the trace's latest. None when the trace never says."""
        if turn_id is not None and turn_id in self._windows:
            return self._windows[turn_id]
        if thread_id is not None:
            known = [
                (self._window_seqs.get(tid, started), tid)
                for started, tid in self.turn_ids(thread_id)
                if tid in self._windows and (seq is None or started <= seq)
            ]
            if known:
                return self._windows[max(known)[1]]
        if self._windows:
            return self._windows[max(self._windows, key=lambda tid: self._window_seqs.get(tid, 0))]
        return None
