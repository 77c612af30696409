"""Inference calls: the envelope around each model request and its response.

The conversation module turns the request/response payloads into items; this
module owns the call object, its lifecycle and the turn-end cleanup.
"""

from __future__ import annotations

from typing import Any

from trace_viewer.model import new_execution
from trace_viewer.reducer.core import ReducerBase
from trace_viewer.reducer.errors import ReduceError

# How a still-running stream ends when its turn ends with a given status.
_TURN_END_TO_INFERENCE = {
    "completed": "cancelled",
    "cancelled": "cancelled",
    "failed": "failed",
    "aborted": "aborted",
}


_TERMINAL_STATUS = {"inference_failed": "failed", "inference_cancelled": "cancelled"}


class InferenceReducer(ReducerBase):
    def init_concerns(self) -> None:
        super().init_concerns()
        # Turn id -> its inference call ids, so turn-end cleanup does not scan every call.
        self._inference_ids_by_turn: dict[str, list[str]] = {}
        # (thread, response id) -> calls whose completion carried it, for incremental requests.
        self._inference_ids_by_response: dict[tuple[str, str], set[str]] = {}

    def on_inference_started(self, event: dict[str, Any]) -> None:
        payload = event["payload"]
        self.start_inference_call(event["seq"], event["wall_time_unix_ms"], payload)

    def on_inference_completed(self, event: dict[str, Any]) -> None:
        self.complete_inference_call(event["seq"], event["wall_time_unix_ms"], event["payload"])

    def on_inference_failed(self, event: dict[str, Any]) -> None:
        self.complete_inference_call(event["seq"], event["wall_time_unix_ms"], event["payload"])

    def on_inference_cancelled(self, event: dict[str, Any]) -> None:
        self.complete_inference_call(event["seq"], event["wall_time_unix_ms"], event["payload"])

    def start_inference_call(self, seq: int, wall_time_unix_ms: int, started: dict[str, Any]) -> None:
        """Create the call after its request is reduced: the request is what makes it meaningful."""
        inference_call_id: str = started["inference_call_id"]
        thread_id: str = started["thread_id"]
        codex_turn_id: str = started["codex_turn_id"]
        if inference_call_id in self.rollout["inference_calls"]:
            raise ReduceError(f"duplicate inference start for {inference_call_id}")
        if self.schema_version >= 3 and (
            started["request_payload"]["kind"]["type"] != "inference_request"
            or started["prepared_prompt_payload"]["kind"]["type"] != "prepared_prompt"
        ):
            raise ReduceError(f"inference {inference_call_id} has mislabeled request evidence")
        turn = self.rollout["codex_turns"].get(codex_turn_id)
        if turn is None:
            raise ReduceError(f"inference start {inference_call_id} referenced unknown codex turn {codex_turn_id}")
        if turn["thread_id"] != thread_id:
            raise ReduceError(
                f"inference start {inference_call_id} used thread {thread_id}, "
                f"but codex turn {codex_turn_id} belongs to {turn['thread_id']}"
            )
        request_payload = started["request_payload"]
        request_item_ids = self.reduce_inference_request(
            wall_time_unix_ms, inference_call_id, thread_id, codex_turn_id, request_payload
        )
        self.thread(thread_id)
        call: dict[str, Any] = {
            "inference_call_id": inference_call_id,
            "thread_id": thread_id,
            "codex_turn_id": codex_turn_id,
            "execution": new_execution(seq, wall_time_unix_ms),
            "model": started["model"],
            "provider_name": started["provider_name"],
            "response_id": None,
            "upstream_request_id": None,
            "request_item_ids": request_item_ids,
            "response_item_ids": [],
            "tool_call_ids_started_by_response": [],
            "usage": None,
            "raw_request_payload_id": request_payload["raw_payload_id"],
        }
        if self.schema_version >= 3:
            call["prepared_prompt_payload_id"] = started["prepared_prompt_payload"]["raw_payload_id"]
        call["raw_response_payload_id"] = None
        self.rollout["inference_calls"][inference_call_id] = call
        self._inference_ids_by_turn.setdefault(codex_turn_id, []).append(inference_call_id)
        self.note_created(inference_call_id)

    def close_running_inference_calls_for_turn_end(
        self, seq: int, wall_time_unix_ms: int, codex_turn_id: str, turn_status: str
    ) -> None:
        """A stream still open when its turn ends was abandoned; do not show it as live."""
        status = _TURN_END_TO_INFERENCE.get(turn_status)
        if status is None:
            return
        calls = self.rollout["inference_calls"]
        for inference_call_id in self._inference_ids_by_turn.get(codex_turn_id, ()):
            execution = calls[inference_call_id]["execution"]
            if execution["status"] == "running":
                execution["ended_at_unix_ms"] = wall_time_unix_ms
                execution["ended_seq"] = seq
                execution["status"] = status
                self.note_updated(inference_call_id)

    def complete_inference_call(self, seq: int, wall_time_unix_ms: int, payload: dict[str, Any]) -> None:
        """Record a terminal inference event (completed, failed or cancelled) and its output items."""
        event_type = payload["type"]
        inference_call_id: str = payload["inference_call_id"]
        upstream_request_id: str | None = payload.get("upstream_request_id")
        response_id: str | None = None
        if event_type == "inference_completed":
            status = "completed"
            response_id = payload.get("response_id")
            response_payload = payload["response_payload"]
        elif event_type in _TERMINAL_STATUS:
            status = _TERMINAL_STATUS[event_type]
            response_payload = payload.get("partial_response_payload")
        else:
            raise ReduceError("complete_inference_call received a non-terminal inference event")
        inference = self.rollout["inference_calls"].get(inference_call_id)
        if inference is None:
            raise ReduceError(f"inference completion referenced unknown call {inference_call_id}")
        response_item_ids = None
        if response_payload is not None:
            response_item_ids = self.reduce_inference_response(wall_time_unix_ms, inference_call_id, response_payload)
        self._index_response_id(inference, response_id)
        execution = inference["execution"]
        # Turn-end cleanup may have closed the call already: keep that status, but
        # still take the late evidence (request id, partial output) the mapper recorded.
        if execution["status"] == "running":
            execution["ended_at_unix_ms"] = wall_time_unix_ms
            execution["ended_seq"] = seq
            execution["status"] = status
        if upstream_request_id is not None:
            inference["upstream_request_id"] = upstream_request_id
        if response_payload is not None:
            inference["raw_response_payload_id"] = response_payload["raw_payload_id"]
        if response_item_ids is not None:
            inference["response_item_ids"] = response_item_ids
        self.note_updated(inference_call_id)

    def _index_response_id(self, inference: dict[str, Any], response_id: str | None) -> None:
        # A later failed/cancelled event resets the id to None, exactly like the official reducer.
        old = inference["response_id"]
        if old is not None:
            self._inference_ids_by_response[(inference["thread_id"], old)].discard(inference["inference_call_id"])
        inference["response_id"] = response_id
        if response_id is not None:
            key = (inference["thread_id"], response_id)
            self._inference_ids_by_response.setdefault(key, set()).add(inference["inference_call_id"])

    def inference_call_for_response_id(self, thread_id: str, response_id: str) -> dict[str, Any] | None:
        """The call a ``previous_response_id`` refers to: first in id order, like a BTreeMap scan."""
        ids = self._inference_ids_by_response.get((thread_id, response_id))
        if not ids:
            return None
        return self.rollout["inference_calls"][min(ids)]
