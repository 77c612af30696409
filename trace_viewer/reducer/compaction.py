"""Remote compaction: upstream request attempts and installed checkpoints.

Request attempts are evidence only; the live history changes when a checkpoint
is installed. Item reconciliation for the checkpoint lives in the conversation
module, next to the request/response matching it must agree with.
"""

from __future__ import annotations

from typing import Any

from trace_viewer.model import new_execution
from trace_viewer.reducer.core import ReducerBase
from trace_viewer.reducer.errors import ReduceError


class CompactionReducer(ReducerBase):
    def init_concerns(self) -> None:
        super().init_concerns()
        # Compaction id -> its request attempt ids (listed, sorted, on the installed compaction).
        self._compaction_request_ids: dict[str, set[str]] = {}

    def on_compaction_request_started(self, event: dict[str, Any]) -> None:
        self.start_compaction_request(event["seq"], event["wall_time_unix_ms"], event["payload"])

    def on_compaction_request_completed(self, event: dict[str, Any]) -> None:
        payload = event["payload"]
        self.complete_compaction_request(
            event["seq"],
            event["wall_time_unix_ms"],
            payload["compaction_id"],
            payload["compaction_request_id"],
            "completed",
            payload["response_payload"],
        )

    def on_compaction_request_failed(self, event: dict[str, Any]) -> None:
        payload = event["payload"]
        self.complete_compaction_request(
            event["seq"],
            event["wall_time_unix_ms"],
            payload["compaction_id"],
            payload["compaction_request_id"],
            "failed",
            None,
        )

    def on_compaction_installed(self, event: dict[str, Any]) -> None:
        compaction_id: str = event["payload"]["compaction_id"]
        thread_id = event.get("thread_id")
        if thread_id is None:
            raise ReduceError(f"compaction installed event {compaction_id} did not include a thread id")
        codex_turn_id = event.get("codex_turn_id")
        if codex_turn_id is None:
            raise ReduceError(f"compaction installed event {compaction_id} did not include a codex turn id")
        self.reduce_compaction_installed_event(
            event["wall_time_unix_ms"], thread_id, codex_turn_id, compaction_id, event["payload"]["checkpoint_payload"]
        )

    def _check_compaction_turn(self, subject: str, thread_id: str, codex_turn_id: str) -> None:
        """The thread must exist and the turn must exist on that thread; ``subject`` names the event."""
        self.thread(thread_id)
        turn = self.rollout["codex_turns"].get(codex_turn_id)
        if turn is None:
            raise ReduceError(f"{subject} referenced unknown codex turn {codex_turn_id}")
        if turn["thread_id"] != thread_id:
            raise ReduceError(
                f"{subject} used thread {thread_id}, but codex turn {codex_turn_id} belongs to {turn['thread_id']}"
            )

    def start_compaction_request(self, seq: int, wall_time_unix_ms: int, started: dict[str, Any]) -> None:
        request_id: str = started["compaction_request_id"]
        thread_id: str = started["thread_id"]
        codex_turn_id: str = started["codex_turn_id"]
        if request_id in self.rollout["compaction_requests"]:
            raise ReduceError(f"duplicate compaction request start for {request_id}")
        self._check_compaction_turn(f"compaction request {request_id}", thread_id, codex_turn_id)
        compaction_id: str = started["compaction_id"]
        self.rollout["compaction_requests"][request_id] = {
            "compaction_request_id": request_id,
            "compaction_id": compaction_id,
            "thread_id": thread_id,
            "codex_turn_id": codex_turn_id,
            "execution": new_execution(seq, wall_time_unix_ms),
            "model": started["model"],
            "provider_name": started["provider_name"],
            "raw_request_payload_id": started["request_payload"]["raw_payload_id"],
            "raw_response_payload_id": None,
        }
        self._compaction_request_ids.setdefault(compaction_id, set()).add(request_id)
        self.note_created(request_id)

    def complete_compaction_request(
        self,
        seq: int,
        wall_time_unix_ms: int,
        compaction_id: str,
        compaction_request_id: str,
        status: str,
        response_payload: dict[str, Any] | None,
    ) -> None:
        """Close one attempt; it does not touch the conversation (installation does)."""
        request = self.rollout["compaction_requests"].get(compaction_request_id)
        if request is None:
            raise ReduceError(f"compaction request completion referenced unknown request {compaction_request_id}")
        if request["compaction_id"] != compaction_id:
            raise ReduceError(
                f"compaction request {compaction_request_id} completion used compaction {compaction_id}, "
                f"but start used {request['compaction_id']}"
            )
        execution = request["execution"]
        execution["ended_at_unix_ms"] = wall_time_unix_ms
        execution["ended_seq"] = seq
        execution["status"] = status
        request["raw_response_payload_id"] = response_payload["raw_payload_id"] if response_payload else None
        self.note_updated(compaction_request_id)

    def reduce_compaction_installed_event(
        self,
        wall_time_unix_ms: int,
        thread_id: str,
        codex_turn_id: str,
        compaction_id: str,
        checkpoint_payload: dict[str, Any],
    ) -> None:
        """The point where replacement history becomes what the next full request is compared with."""
        if compaction_id in self.rollout["compactions"]:
            raise ReduceError(f"duplicate compaction install for {compaction_id}")
        self._check_compaction_turn(f"compaction install {compaction_id}", thread_id, codex_turn_id)
        checkpoint = self.reduce_compaction_checkpoint(
            wall_time_unix_ms, thread_id, codex_turn_id, compaction_id, checkpoint_payload
        )
        self.pending_compaction_replacement_item_ids[thread_id] = list(checkpoint["replacement_item_ids"])
        self.rollout["compactions"][compaction_id] = {
            "compaction_id": compaction_id,
            "thread_id": thread_id,
            "codex_turn_id": codex_turn_id,
            "installed_at_unix_ms": wall_time_unix_ms,
            "marker_item_id": checkpoint["marker_item_id"],
            "request_ids": sorted(self._compaction_request_ids.get(compaction_id, ())),
            "input_item_ids": checkpoint["input_item_ids"],
            "replacement_item_ids": checkpoint["replacement_item_ids"],
        }
        self.note_created(compaction_id)
        # The live snapshot itself only moves with the next request, but what the model
        # will see next has changed: let viewers refresh the context pane.
        self.note_context(thread_id)
