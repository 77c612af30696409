"""Inference calls: the envelope around each model request and its response.

The conversation part turns the request/response payloads into items; this part owns the call
object, its lifecycle and the turn-end cleanup.
"""

from __future__ import annotations

from trace_viewer.model import UNSET, ExecutionStatus, InferenceCall, RawPayload, new_execution
from trace_viewer.reducer.core import ReducerCore
from trace_viewer.reducer.errors import ReduceError
from trace_viewer.reducer.events import (
    Envelope,
    InferenceCancelled,
    InferenceCompleted,
    InferenceFailed,
    InferenceStarted,
)
from trace_viewer.reducer.interfaces import Parts

# How a still-running stream ends when its turn ends with a given status.
_TURN_END_TO_INFERENCE: dict[str, ExecutionStatus] = {
    "completed": "cancelled",
    "cancelled": "cancelled",
    "failed": "failed",
    "aborted": "aborted",
}


class InferenceReducer:
    def __init__(self, core: ReducerCore) -> None:
        self.core = core
        self.calls = core.rollout.inference_calls
        # Turn id -> its inference call ids, so turn-end cleanup does not scan every call.
        self._ids_by_turn: dict[str, list[str]] = {}
        # (thread, response id) -> calls whose completion carried it, for incremental requests.
        self._ids_by_response: dict[tuple[str, str], set[str]] = {}

    def connect(self, parts: Parts) -> None:
        self.parts = parts

    # ----- the Inference interface -----------------------------------------------------------------
    def call(self, inference_call_id: str) -> InferenceCall | None:
        return self.calls.get(inference_call_id)

    def call_for_response_id(self, thread_id: str, response_id: str) -> InferenceCall | None:
        """The call a ``previous_response_id`` refers to: first in id order, like a BTreeMap scan."""
        ids = self._ids_by_response.get((thread_id, response_id))
        return self.calls[min(ids)] if ids else None

    def close_running_calls_for_turn_end(
        self, seq: int, wall_time_unix_ms: int, turn_id: str, turn_status: str
    ) -> None:
        """A stream still open when its turn ends was abandoned; do not show it as live."""
        status = _TURN_END_TO_INFERENCE.get(turn_status)
        if status is None:
            return
        for inference_call_id in self._ids_by_turn.get(turn_id, ()):
            execution = self.calls[inference_call_id].execution
            if execution.running:
                execution.close(seq, wall_time_unix_ms, status)
                self.core.note_updated(inference_call_id)

    # ----- handlers --------------------------------------------------------------------------------
    def inference_started(self, envelope: Envelope, event: InferenceStarted) -> None:
        """Create the call after its request is reduced: the request is what makes it meaningful."""
        inference_call_id = event.inference_call_id
        if inference_call_id in self.calls:
            raise ReduceError(f"duplicate inference start for {inference_call_id}")
        prepared = event.prepared_prompt_payload
        if self.core.schema_version >= 3 and (
            event.request_payload.kind.type != "inference_request"
            or prepared is None
            or prepared.kind.type != "prepared_prompt"
        ):
            raise ReduceError(f"inference {inference_call_id} has mislabeled request evidence")
        turn = self.parts.threads.turn(event.codex_turn_id)
        if turn is None:
            raise ReduceError(
                f"inference start {inference_call_id} referenced unknown codex turn {event.codex_turn_id}"
            )
        if turn.thread_id != event.thread_id:
            raise ReduceError(
                f"inference start {inference_call_id} used thread {event.thread_id}, "
                f"but codex turn {event.codex_turn_id} belongs to {turn.thread_id}"
            )
        request_item_ids = self.parts.conversation.reduce_inference_request(
            envelope.wall_time_unix_ms, inference_call_id, event.thread_id, event.codex_turn_id, event.request_payload
        )
        self.parts.threads.thread(event.thread_id)
        self.calls[inference_call_id] = InferenceCall(
            inference_call_id=inference_call_id,
            thread_id=event.thread_id,
            codex_turn_id=event.codex_turn_id,
            execution=new_execution(envelope.seq, envelope.wall_time_unix_ms),
            model=event.model,
            provider_name=event.provider_name,
            response_id=None,
            upstream_request_id=None,
            request_item_ids=request_item_ids,
            response_item_ids=[],
            tool_call_ids_started_by_response=[],
            usage=None,
            raw_request_payload_id=event.request_payload.raw_payload_id,
            prepared_prompt_payload_id=prepared.raw_payload_id if prepared is not None else UNSET,
            raw_response_payload_id=None,
        )
        self._ids_by_turn.setdefault(event.codex_turn_id, []).append(inference_call_id)
        self.core.note_created(inference_call_id)

    def inference_completed(self, envelope: Envelope, event: InferenceCompleted) -> None:
        self._complete(
            envelope,
            event.inference_call_id,
            "completed",
            event.response_id,
            event.upstream_request_id,
            event.response_payload,
        )

    def inference_failed(self, envelope: Envelope, event: InferenceFailed) -> None:
        self._complete(
            envelope, event.inference_call_id, "failed", None, event.upstream_request_id, event.partial_response_payload
        )

    def inference_cancelled(self, envelope: Envelope, event: InferenceCancelled) -> None:
        self._complete(
            envelope,
            event.inference_call_id,
            "cancelled",
            None,
            event.upstream_request_id,
            event.partial_response_payload,
        )

    def _complete(
        self,
        envelope: Envelope,
        inference_call_id: str,
        status: ExecutionStatus,
        response_id: str | None,
        upstream_request_id: str | None,
        response: RawPayload | None,
    ) -> None:
        """Record a terminal inference event (completed, failed or cancelled) and its output items."""
        call = self.calls.get(inference_call_id)
        if call is None:
            raise ReduceError(f"inference completion referenced unknown call {inference_call_id}")
        response_item_ids = None
        if response is not None:
            response_item_ids = self.parts.conversation.reduce_inference_response(
                envelope.wall_time_unix_ms, call, response
            )
        self._index_response_id(call, response_id)
        # Turn-end cleanup may have closed the call already: keep that status, but still take
        # the late evidence (request id, partial output) the mapper recorded.
        if call.execution.running:
            call.execution.close(envelope.seq, envelope.wall_time_unix_ms, status)
        if upstream_request_id is not None:
            call.upstream_request_id = upstream_request_id
        if response is not None:
            call.raw_response_payload_id = response.raw_payload_id
        if response_item_ids is not None:
            call.response_item_ids = response_item_ids
        self.core.note_updated(inference_call_id)

    def _index_response_id(self, call: InferenceCall, response_id: str | None) -> None:
        # A later failed/cancelled event resets the id to None, exactly like the official reducer.
        if call.response_id is not None:
            self._ids_by_response[(call.thread_id, call.response_id)].discard(call.inference_call_id)
        call.response_id = response_id
        if response_id is not None:
            self._ids_by_response.setdefault((call.thread_id, response_id), set()).add(call.inference_call_id)
