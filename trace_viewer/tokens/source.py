"""The one place that reads the reduced state for token counting.

Token counting needs a few facts about conversation items and inference calls,
the raw request of a call, and the context window of a turn. This module turns
the reducer's state (today JSON-shaped dicts) into small frozen records, so a
change of the state's representation (typed structures, a rollout-built state)
is a change here and nowhere else in ``trace_viewer.tokens``.

Raw payloads are read through the bundle's payload store (bounded, cached);
a payload that cannot be read is simply absent (``None``): counting then falls
back to what the reduced item holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from trace_viewer.bundle.event_log import parse_json_bytes


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
    parts: tuple[Mapping[str, Any], ...]  # normalised body parts (text, summary, encoded, json, code, payload_ref)
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

    def __init__(self, rollout: Any, payloads: PayloadReader | None, events: Iterable[Any] = ()) -> None:
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
        raw = self._rollout["conversation_items"].get(item_id)
        if raw is None:
            return None
        producing = None
        for producer in raw.get("produced_by") or ():
            if isinstance(producer, dict) and producer.get("type") == "inference":
                producing = producer.get("inference_call_id")
                break
        facts = ItemFacts(
            item_id=item_id,
            thread_id=str(raw.get("thread_id")),
            role=str(raw.get("role")),
            channel=raw.get("channel"),
            kind=str(raw.get("kind")),
            parts=tuple(part for part in (raw.get("body") or {}).get("parts") or () if isinstance(part, dict)),
            call_id=raw.get("call_id"),
            is_agent_message=isinstance(raw.get("agent_message"), dict),
            producing_call_id=producing if isinstance(producing, str) else None,
        )
        self._items[item_id] = facts
        return facts

    def call(self, call_id: str) -> CallFacts | None:
        cached = self._calls.get(call_id)
        if cached is not None:
            return cached
        raw = self._rollout["inference_calls"].get(call_id)
        if raw is None:
            return None
        execution = raw.get("execution") or {}
        usage = raw.get("usage") or {}
        raw_payloads = self._rollout["raw_payloads"]
        facts = CallFacts(
            call_id=call_id,
            thread_id=str(raw.get("thread_id")),
            turn_id=raw.get("codex_turn_id"),
            started_seq=int(execution.get("started_seq") or 0),
            ended_seq=_int_or_none(execution.get("ended_seq")),
            request_item_ids=tuple(raw.get("request_item_ids") or ()),
            response_item_ids=tuple(raw.get("response_item_ids") or ()),
            input_tokens=_int_or_none(usage.get("input_tokens")),
            output_tokens=_int_or_none(usage.get("output_tokens")),
            reasoning_output_tokens=_int_or_none(usage.get("reasoning_output_tokens")),
            request_ref=raw_payloads.get(raw.get("raw_request_payload_id")),
            response_ref=raw_payloads.get(raw.get("raw_response_payload_id")),
            prepared_prompt_ref=raw_payloads.get(raw.get("prepared_prompt_payload_id")),
        )
        if facts.ended_seq is not None:  # an ended call does not change any more
            self._calls[call_id] = facts
        return facts

    def call_ids(self, thread_id: str | None = None) -> list[str]:
        """Inference calls (of one thread, or all) in the order they started."""
        calls = self._rollout["inference_calls"]
        chosen = [
            (int((call.get("execution") or {}).get("started_seq") or 0), call_id)
            for call_id, call in calls.items()
            if thread_id is None or call.get("thread_id") == thread_id
        ]
        chosen.sort()
        return [call_id for _, call_id in chosen]

    def call_count(self) -> int:
        return len(self._rollout["inference_calls"])

    def turn_ids(self, thread_id: str) -> list[tuple[int, str]]:
        """(started seq, turn id) of a thread's codex turns, in start order."""
        turns = [
            (int((turn.get("execution") or {}).get("started_seq") or 0), turn_id)
            for turn_id, turn in self._rollout["codex_turns"].items()
            if turn.get("thread_id") == thread_id
        ]
        turns.sort()
        return turns

    def thread_ids(self) -> list[str]:
        return list(self._rollout["threads"])

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
        ref = self._rollout["raw_payloads"].get(payload_id)
        return ref if isinstance(ref, dict) else None

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
