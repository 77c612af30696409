"""Remote compaction: upstream request attempts and installed checkpoints.

Request attempts are evidence only; the live history changes when a checkpoint is installed.
Item reconciliation for the checkpoint lives in the conversation part, next to the
request/response matching it must agree with.
"""

from __future__ import annotations

from trace_viewer.model import Compaction, CompactionRequest, ExecutionStatus, RawPayload, new_execution
from trace_viewer.reducer.core import ReducerCore
from trace_viewer.reducer.errors import ReduceError
from trace_viewer.reducer.events import (
    CompactionInstalled,
    CompactionRequestCompleted,
    CompactionRequestFailed,
    CompactionRequestStarted,
    Envelope,
)
from trace_viewer.reducer.interfaces import Parts


class CompactionReducer:
    def __init__(self, core: ReducerCore) -> None:
        self.core = core
        self.compactions = core.rollout.compactions
        self.requests = core.rollout.compaction_requests
        # Compaction id -> its request attempt ids (listed, sorted, on the installed compaction).
        self._request_ids: dict[str, set[str]] = {}

    def connect(self, parts: Parts) -> None:
        self.parts = parts

    def compaction_request_started(self, envelope: Envelope, event: CompactionRequestStarted) -> None:
        request_id = event.compaction_request_id
        if request_id in self.requests:
            raise ReduceError(f"duplicate compaction request start for {request_id}")
        self._check_turn(f"compaction request {request_id}", event.thread_id, event.codex_turn_id)
        self.requests[request_id] = CompactionRequest(
            request_id,
            event.compaction_id,
            event.thread_id,
            event.codex_turn_id,
            new_execution(envelope.seq, envelope.wall_time_unix_ms),
            event.model,
            event.provider_name,
            event.request_payload.raw_payload_id,
        )
        self._request_ids.setdefault(event.compaction_id, set()).add(request_id)
        self.core.note_created(request_id)

    def compaction_request_completed(self, envelope: Envelope, event: CompactionRequestCompleted) -> None:
        self._complete(envelope, event.compaction_id, event.compaction_request_id, "completed", event.response_payload)

    def compaction_request_failed(self, envelope: Envelope, event: CompactionRequestFailed) -> None:
        self._complete(envelope, event.compaction_id, event.compaction_request_id, "failed", None)

    def _complete(
        self,
        envelope: Envelope,
        compaction_id: str,
        compaction_request_id: str,
        status: ExecutionStatus,
        response: RawPayload | None,
    ) -> None:
        """Close one attempt; it does not touch the conversation (installation does)."""
        request = self.requests.get(compaction_request_id)
        if request is None:
            raise ReduceError(f"compaction request completion referenced unknown request {compaction_request_id}")
        if request.compaction_id != compaction_id:
            raise ReduceError(
                f"compaction request {compaction_request_id} completion used compaction {compaction_id}, "
                f"but start used {request.compaction_id}"
            )
        request.execution.close(envelope.seq, envelope.wall_time_unix_ms, status)
        request.raw_response_payload_id = response.raw_payload_id if response else None
        self.core.note_updated(compaction_request_id)

    def compaction_installed(self, envelope: Envelope, event: CompactionInstalled) -> None:
        """The point where replacement history becomes what the next full request is compared with."""
        compaction_id = event.compaction_id
        thread_id = envelope.thread_id
        if thread_id is None:
            raise ReduceError(f"compaction installed event {compaction_id} did not include a thread id")
        codex_turn_id = envelope.codex_turn_id
        if codex_turn_id is None:
            raise ReduceError(f"compaction installed event {compaction_id} did not include a codex turn id")
        if compaction_id in self.compactions:
            raise ReduceError(f"duplicate compaction install for {compaction_id}")
        self._check_turn(f"compaction install {compaction_id}", thread_id, codex_turn_id)
        wall = envelope.wall_time_unix_ms
        conversation = self.parts.conversation
        checkpoint = conversation.reduce_compaction_checkpoint(
            wall, thread_id, codex_turn_id, compaction_id, event.checkpoint_payload
        )
        conversation.replace_history_after_compaction(thread_id, checkpoint.replacement_item_ids)
        self.compactions[compaction_id] = Compaction(
            compaction_id,
            thread_id,
            codex_turn_id,
            wall,
            checkpoint.marker_item_id,
            sorted(self._request_ids.get(compaction_id, ())),
            checkpoint.input_item_ids,
            checkpoint.replacement_item_ids,
        )
        self.core.note_created(compaction_id)
        # The live snapshot itself only moves with the next request, but what the model will
        # see next has changed: let viewers refresh the context pane.
        self.core.note_context(thread_id)

    def _check_turn(self, subject: str, thread_id: str, codex_turn_id: str) -> None:
        """The thread must exist and the turn must exist on that thread; ``subject`` names the event."""
        self.parts.threads.thread(thread_id)
        turn = self.parts.threads.turn(codex_turn_id)
        if turn is None:
            raise ReduceError(f"{subject} referenced unknown codex turn {codex_turn_id}")
        if turn.thread_id != thread_id:
            raise ReduceError(
                f"{subject} used thread {thread_id}, but codex turn {codex_turn_id} belongs to {turn.thread_id}"
            )
