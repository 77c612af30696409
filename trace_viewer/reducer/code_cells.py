"""Code-mode JavaScript cells: the runtime parent of model-authored `exec` calls.

A code cell is keyed by the model-visible `exec` call id (`code_cell:<call id>`); the runtime's
own `cell_id` is only a per-thread handle that lifecycle events, nested JS tools and `wait` calls
use, so one map bridges the two namespaces.

Runtime work starts before the inference response that holds the model's `custom_tool_call` is
reduced, so a start may have to wait (be queued) until its source conversation item exists;
lifecycle events for a queued cell wait with it and are replayed in seq order when it
materialises.

Schema 2 adds three always-present cell fields (first initial response status and payload, last
end payload) and `started_code_cell_id` on the model's `exec` tool call. Schema 3 links a `wait`
call to its cell only when the runtime confirms it (`code_cell_wait_target_resolved`); this part
sets those two fields of tool calls.
"""

from __future__ import annotations

from dataclasses import dataclass

from trace_viewer.model import (
    CodeCell,
    CodeCellProducer,
    CodeCellRequester,
    CodeCellRuntimeStatus,
    ConversationItemKind,
    ExecutionStatus,
    ModelRequester,
    RawPayload,
    ToolCall,
    ToolCallRequester,
    is_set,
    new_execution,
)
from trace_viewer.reducer.core import ReducerCore
from trace_viewer.reducer.errors import ReduceError
from trace_viewer.reducer.events import (
    CodeCellEnded,
    CodeCellInitialResponse,
    CodeCellStarted,
    CodeCellWaitTargetResolved,
    Envelope,
)
from trace_viewer.reducer.fields import JsonObject, loads_json, push_unique
from trace_viewer.reducer.interfaces import Parts

# The two conversation item kinds a code cell links to.
_SOURCE_KIND: ConversationItemKind = "custom_tool_call"
_OUTPUT_KIND: ConversationItemKind = "custom_tool_call_output"

# Runtime status → execution status: only terminal runtime states end the window.
_EXECUTION_STATUS_FOR_RUNTIME: dict[CodeCellRuntimeStatus, ExecutionStatus] = {
    "starting": "running",
    "running": "running",
    "yielded": "running",
    "completed": "completed",
    "failed": "failed",
    "terminated": "cancelled",
}


@dataclass(slots=True)
class PendingCodeCellStart:
    """A `code_cell_started` waiting for the model's `exec` item, with its original timing."""

    seq: int
    wall_time_unix_ms: int
    thread_id: str
    codex_turn_id: str | None
    code_cell_id: str
    runtime_cell_id: str
    model_visible_call_id: str
    source_js: str


@dataclass(slots=True)
class PendingCodeCellLifecycleEvent:
    """An initial response (``initial=True``) or end that arrived while its cell was queued."""

    seq: int
    wall_time_unix_ms: int
    initial: bool
    runtime_cell_id: str
    status: CodeCellRuntimeStatus
    response_payload: RawPayload | None


def code_cell_id_for(model_visible_call_id: str) -> str:
    # The model's `exec` call id is the durable identity; runtime ids are per-thread handles.
    return f"code_cell:{model_visible_call_id}"


class CodeCellsReducer:
    """Code-cell lifecycle plus the links other parts ask for (requesters, waits, outputs)."""

    def __init__(self, core: ReducerCore) -> None:
        self.core = core
        self.schema_version = core.schema_version
        self.cells = core.rollout.code_cells
        # (thread id, runtime cell id) → reduced code cell id. Runtime ids repeat across threads.
        self._ids_by_runtime: dict[tuple[str, str], str] = {}
        self.pending_starts: dict[str, PendingCodeCellStart] = {}
        self.pending_lifecycle_events: dict[str, list[PendingCodeCellLifecycleEvent]] = {}
        # (thread id, call id, kind) → ids of `exec` source/output items seen so far.
        self._item_ids: dict[tuple[str, str, str], list[str]] = {}
        # Nested tool calls that named a cell before it materialised.
        self._nested_before_start: dict[str, list[str]] = {}
        # codex turn id → its code cell ids (for turn-end termination).
        self._ids_by_turn: dict[str, list[str]] = {}
        # model-visible call id → tool call id (schema 2 `started_code_cell_id`).
        self._tool_call_ids_by_model_visible_call: dict[str, str] = {}

    def connect(self, parts: Parts) -> None:
        self.parts = parts

    # ----- handlers ---------------------------------------------------------------------------------
    def code_cell_started(self, envelope: Envelope, event: CodeCellStarted) -> None:
        thread_id = self._event_thread_id(envelope, event.runtime_cell_id, "code cell start")
        code_cell_id = code_cell_id_for(event.model_visible_call_id)
        key = (thread_id, event.runtime_cell_id)
        existing = self._ids_by_runtime.get(key)
        if existing is None:
            self._ids_by_runtime[key] = code_cell_id
        elif existing != code_cell_id:
            raise ReduceError(
                f"runtime code cell {event.runtime_cell_id} in thread {thread_id} mapped to both "
                f"{existing} and {code_cell_id}"
            )
        pending = PendingCodeCellStart(
            envelope.seq,
            envelope.wall_time_unix_ms,
            thread_id,
            envelope.codex_turn_id,
            code_cell_id,
            event.runtime_cell_id,
            event.model_visible_call_id,
            event.source_js,
        )
        if self._source_item_id(pending) is None:
            # Start it once its source item exists.
            if code_cell_id in self.cells or code_cell_id in self.pending_starts:
                raise ReduceError(f"duplicate code cell start for {code_cell_id}")
            self.pending_starts[code_cell_id] = pending
            return
        self._start(pending)

    def code_cell_initial_response(self, envelope: Envelope, event: CodeCellInitialResponse) -> None:
        code_cell_id = self._cell_of_lifecycle_event(envelope, event.runtime_cell_id, "code cell initial response")
        queued = PendingCodeCellLifecycleEvent(
            envelope.seq, envelope.wall_time_unix_ms, True, event.runtime_cell_id, event.status, event.response_payload
        )
        if not self._queued_behind_pending_start(code_cell_id, "initial response", queued):
            self._record_initial_response(queued, code_cell_id)

    def code_cell_ended(self, envelope: Envelope, event: CodeCellEnded) -> None:
        code_cell_id = self._cell_of_lifecycle_event(envelope, event.runtime_cell_id, "code cell end")
        queued = PendingCodeCellLifecycleEvent(
            envelope.seq, envelope.wall_time_unix_ms, False, "", event.status, event.response_payload
        )
        if not self._queued_behind_pending_start(code_cell_id, "end", queued):
            self._end(envelope.seq, envelope.wall_time_unix_ms, code_cell_id, event.status, event.response_payload)

    def code_cell_wait_target_resolved(self, envelope: Envelope, event: CodeCellWaitTargetResolved) -> None:
        """Schema 3: the runtime confirmed which cell a `wait` call waits on.

        This, not the call's arguments, is what links the call to the cell's
        ``wait_tool_call_ids``; a cell the thread does not know is just not linked.
        """
        thread_id = envelope.thread_id
        if thread_id is None:
            raise ReduceError("confirmed wait missing thread")
        codex_turn_id = envelope.codex_turn_id
        if codex_turn_id is None:
            raise ReduceError("confirmed wait missing turn")
        tool_call = self.parts.tools.tool_call(event.tool_call_id)
        if tool_call is None:
            raise ReduceError(f"confirmed wait referenced unknown dispatch {event.tool_call_id}")
        if tool_call.thread_id != thread_id or tool_call.started_by_codex_turn_id != codex_turn_id:
            raise ReduceError("confirmed wait target has wrong dispatch context")
        if is_set(tool_call.resolved_wait_runtime_cell_id):
            raise ReduceError(f"duplicate confirmed wait target for {event.tool_call_id}")
        tool_call.resolved_wait_runtime_cell_id = event.runtime_cell_id
        self.core.note_updated(event.tool_call_id)
        self._link_wait(thread_id, event.runtime_cell_id, event.tool_call_id)

    # ----- starting ----------------------------------------------------------------------------------
    def flush_pending_starts(self) -> None:
        """Materialise queued starts whose source item now exists.

        Called by the conversation part after each request, response and compaction install,
        the only paths that create model-visible items."""
        if not self.pending_starts:
            return
        # Sorted like the official BTreeMap, so the first error is the same one.
        ready = [
            code_cell_id
            for code_cell_id in sorted(self.pending_starts)
            if self._source_item_id(self.pending_starts[code_cell_id]) is not None
        ]
        for code_cell_id in ready:
            pending = self.pending_starts.pop(code_cell_id, None)
            if pending is not None:
                self._start(pending)

    def _start(self, pending: PendingCodeCellStart) -> None:
        """Insert the reduced cell once its source `exec` item is known."""
        code_cell_id = pending.code_cell_id
        if code_cell_id in self.cells:
            raise ReduceError(f"duplicate code cell start for {code_cell_id}")
        codex_turn_id = pending.codex_turn_id
        if codex_turn_id is None:
            raise ReduceError(f"code cell start {code_cell_id} did not include a Codex turn id")
        self._validate_turn(pending.thread_id, codex_turn_id)
        source_item_id = self._source_item_id(pending)
        if source_item_id is None:
            raise ReduceError(
                f"code cell {code_cell_id} referenced model-visible call {pending.model_visible_call_id}, "
                "but no custom tool call item was observed"
            )
        output_item_ids = self._items_of(pending.thread_id, pending.model_visible_call_id, _OUTPUT_KIND)
        # Nested tools may have started while the cell was queued; the official reducer collects
        # them from its id-sorted tool-call map.
        nested_tool_call_ids = sorted(set(self._nested_before_start.pop(code_cell_id, [])))
        cell = CodeCell(
            code_cell_id=code_cell_id,
            model_visible_call_id=pending.model_visible_call_id,
            thread_id=pending.thread_id,
            codex_turn_id=codex_turn_id,
            source_item_id=source_item_id,
            output_item_ids=list(output_item_ids),
            runtime_cell_id=pending.runtime_cell_id,
            execution=new_execution(pending.seq, pending.wall_time_unix_ms),
            runtime_status="starting",
            initial_response_at_unix_ms=None,
            initial_response_seq=None,
            yielded_at_unix_ms=None,
            yielded_seq=None,
            source_js=pending.source_js,
            nested_tool_call_ids=nested_tool_call_ids,
            wait_tool_call_ids=[],
        )
        if self.schema_version >= 2:
            cell.initial_response_status = None
            cell.raw_initial_response_payload_id = None
            cell.raw_result_payload_id = None
        self.cells[code_cell_id] = cell
        self._ids_by_turn.setdefault(codex_turn_id, []).append(code_cell_id)
        self.core.note_created(code_cell_id)

        self.parts.threads.thread(pending.thread_id)
        for item_id in output_item_ids:
            self._add_output_item(code_cell_id, item_id)
        for queued in self.pending_lifecycle_events.pop(code_cell_id, []):
            if queued.initial:
                self._record_initial_response(queued, code_cell_id)
            else:
                self._end(queued.seq, queued.wall_time_unix_ms, code_cell_id, queued.status, queued.response_payload)
        if self.schema_version >= 2:
            self._mark_started_cell(pending.thread_id, pending.model_visible_call_id, code_cell_id)

    def _source_item_id(self, pending: PendingCodeCellStart) -> str | None:
        ids = self._items_of(pending.thread_id, pending.model_visible_call_id, _SOURCE_KIND)
        return ids[0] if ids else None

    def _items_of(self, thread_id: str, call_id: str, kind: ConversationItemKind) -> list[str]:
        """Items of this thread/call/kind, in the official reducer's id-sorted map order."""
        return sorted(self._item_ids.get((thread_id, call_id, kind), ()))

    def _validate_turn(self, thread_id: str, codex_turn_id: str) -> None:
        if self.parts.threads.find_thread(thread_id) is None:
            raise ReduceError(f"code cell start referenced unknown thread {thread_id}")
        turn = self.parts.threads.turn(codex_turn_id)
        if turn is None:
            raise ReduceError(f"code cell start referenced unknown Codex turn {codex_turn_id}")
        if turn.thread_id != thread_id:
            raise ReduceError(
                f"code cell start used thread {thread_id}, but Codex turn {codex_turn_id} belongs to {turn.thread_id}"
            )

    # ----- lifecycle ---------------------------------------------------------------------------------
    def _queued_behind_pending_start(self, code_cell_id: str, what: str, event: PendingCodeCellLifecycleEvent) -> bool:
        """Queue ``event`` if the cell's start is still pending; True when queued.

        False when the cell is already recorded; an unknown cell is an error.
        """
        if code_cell_id in self.cells:
            return False
        if code_cell_id in self.pending_starts:
            events = self.pending_lifecycle_events.setdefault(code_cell_id, [])
            events.append(event)
            events.sort(key=lambda queued: queued.seq)
            return True
        raise ReduceError(f"code cell {what} referenced unknown cell {code_cell_id}")

    def _record_initial_response(self, event: PendingCodeCellLifecycleEvent, code_cell_id: str) -> None:
        cell = self.cells.get(code_cell_id)
        if cell is None:
            raise ReduceError(f"code cell initial response referenced unknown cell {code_cell_id}")
        cell.runtime_cell_id = event.runtime_cell_id
        if self.schema_version >= 2:
            if cell.initial_response_status is None:
                # Schema 2 keeps the first initial response, and it replaces the stand-in time an
                # earlier end (or turn end) back-filled.
                cell.initial_response_at_unix_ms = event.wall_time_unix_ms
                cell.initial_response_seq = event.seq
                cell.initial_response_status = event.status
                response = event.response_payload
                cell.raw_initial_response_payload_id = response.raw_payload_id if response is not None else None
        elif cell.initial_response_at_unix_ms is None:
            cell.initial_response_at_unix_ms = event.wall_time_unix_ms
            cell.initial_response_seq = event.seq
        if event.status == "yielded":
            cell.yielded_at_unix_ms = event.wall_time_unix_ms
            cell.yielded_seq = event.seq
        cell.runtime_status = event.status
        self.core.note_updated(code_cell_id)

    def _end(
        self,
        seq: int,
        wall_time_unix_ms: int,
        code_cell_id: str,
        status: CodeCellRuntimeStatus,
        response: RawPayload | None = None,
    ) -> None:
        """Close the cell's window. A turn-end close passes no payload, which in schema 2 clears
        any result payload an earlier non-final end recorded."""
        cell = self.cells.get(code_cell_id)
        if cell is None:
            raise ReduceError(f"code cell end referenced unknown cell {code_cell_id}")
        if cell.initial_response_at_unix_ms is None:
            cell.initial_response_at_unix_ms = wall_time_unix_ms
            cell.initial_response_seq = seq
        cell.execution.close(seq, wall_time_unix_ms, _EXECUTION_STATUS_FOR_RUNTIME[status])
        cell.runtime_status = status
        if self.schema_version >= 2:
            # The last end wins, null payload included.
            cell.raw_result_payload_id = response.raw_payload_id if response is not None else None
        self.core.note_updated(code_cell_id)

    def terminate_running_cells_for_turn_end(
        self, seq: int, wall_time_unix_ms: int, turn_id: str, turn_status: str
    ) -> None:
        """Close the turn's still-running cells when the turn failed or was cancelled.

        A yielded cell may outlive a *completed* turn (a later `wait` resumes it), but an
        abandoned turn abandons its JS frame, so it must not look live."""
        runtime_status: CodeCellRuntimeStatus
        if turn_status == "failed":
            runtime_status = "failed"
        elif turn_status in ("cancelled", "aborted"):
            runtime_status = "terminated"
        else:
            return
        for code_cell_id in sorted(self._ids_by_turn.get(turn_id, ())):
            if self.cells[code_cell_id].execution.running:
                self._end(seq, wall_time_unix_ms, code_cell_id, runtime_status)

    # ----- links other parts ask for ---------------------------------------------------------------
    def link_tool_call(self, tool_call: ToolCall) -> None:
        """Called for every new tool call: link nested JS tools to their cell (schema 2 on: also
        mark the model's `exec` call with the cell it started)."""
        model_visible_call_id = tool_call.model_visible_call_id
        if model_visible_call_id is not None:
            self._tool_call_ids_by_model_visible_call[model_visible_call_id] = tool_call.tool_call_id
            if self.schema_version >= 2:
                started = code_cell_id_for(model_visible_call_id)
                cell = self.cells.get(started)
                if cell is not None and cell.thread_id == tool_call.thread_id:
                    tool_call.started_code_cell_id = started
        requester = tool_call.requester
        if not isinstance(requester, CodeCellRequester):
            return
        code_cell_id = requester.code_cell_id
        cell = self.cells.get(code_cell_id)
        if cell is None:
            # The cell is still queued; it picks this call up when it materialises.
            self._nested_before_start.setdefault(code_cell_id, []).append(tool_call.tool_call_id)
            return
        if push_unique(cell.nested_tool_call_ids, tool_call.tool_call_id):
            self.core.note_updated(code_cell_id)

    def _mark_started_cell(self, thread_id: str, model_visible_call_id: str, code_cell_id: str) -> None:
        """Schema 2 on: the model's `exec` tool call (same call id, same thread) names its cell."""
        tool_call_id = self._tool_call_ids_by_model_visible_call.get(model_visible_call_id)
        tool_call = self.parts.tools.tool_call(tool_call_id) if tool_call_id is not None else None
        if (
            tool_call is not None
            and tool_call.model_visible_call_id == model_visible_call_id
            and tool_call.thread_id == thread_id
        ):
            tool_call.started_code_cell_id = code_cell_id
            self.core.note_updated(tool_call.tool_call_id)

    def link_wait_from_invocation(self, thread_id: str, tool_call_id: str, invocation: RawPayload | None) -> None:
        """Schemas 1 and 2: link a model `wait` call to the cell it waits on, via the runtime
        `cell_id` in its arguments. Schema 3 links it when the runtime confirms the target."""
        if invocation is None or self.schema_version >= 3:
            return
        payload = self.core.read_payload(invocation)
        if not isinstance(payload, dict) or payload.get("tool_name") != "wait":
            return
        raw_payload_id = invocation.raw_payload_id
        inner = payload.get("payload")
        arguments = inner.get("arguments") if isinstance(inner, dict) else None
        if not isinstance(arguments, str):
            raise ReduceError(f"wait tool request payload {raw_payload_id} did not contain function arguments")
        try:
            parsed = loads_json(arguments)
        except ValueError as error:
            raise ReduceError(f"wait tool request payload {raw_payload_id} had invalid JSON arguments") from error
        runtime_cell_id = parsed.get("cell_id") if isinstance(parsed, dict) else None
        if not isinstance(runtime_cell_id, str):
            raise ReduceError(f"wait tool request payload {raw_payload_id} did not contain cell_id")
        self._link_wait(thread_id, runtime_cell_id, tool_call_id)

    def _link_wait(self, thread_id: str, runtime_cell_id: str, tool_call_id: str) -> None:
        code_cell_id = self._ids_by_runtime.get((thread_id, runtime_cell_id))
        cell = self.cells.get(code_cell_id) if code_cell_id is not None else None
        if cell is None or code_cell_id is None:
            return
        if push_unique(cell.wait_tool_call_ids, tool_call_id):
            self.core.note_updated(code_cell_id)

    def attach_model_visible_item(self, item_id: str, call_id: str | None, kind: ConversationItemKind) -> None:
        """Called for every item sighting: index `exec` source/output items, and link a late-observed
        `exec` output item to its existing cell."""
        if call_id is None:
            return
        if kind == _SOURCE_KIND or kind == _OUTPUT_KIND:
            item = self.parts.conversation.item(item_id)
            if item is not None:
                push_unique(self._item_ids.setdefault((item.thread_id, call_id, kind), []), item_id)
        if kind != _OUTPUT_KIND:
            return
        code_cell_id = code_cell_id_for(call_id)
        if code_cell_id in self.cells:
            self._add_output_item(code_cell_id, item_id)

    def _add_output_item(self, code_cell_id: str, item_id: str) -> None:
        """Link both ways: the cell lists the output item, the item names the cell as producer."""
        cell = self.cells.get(code_cell_id)
        if cell is None:
            raise ReduceError(f"code cell {code_cell_id} disappeared during output linking")
        if push_unique(cell.output_item_ids, item_id):
            self.core.note_updated(code_cell_id)
        self.parts.conversation.add_producer(item_id, CodeCellProducer(code_cell_id))

    # ----- ids and requesters -------------------------------------------------------------------------
    def _event_thread_id(self, envelope: Envelope, runtime_cell_id: str, event_name: str) -> str:
        """The envelope thread, else the thread of the envelope's turn."""
        if envelope.thread_id is not None:
            return envelope.thread_id
        if envelope.codex_turn_id is None:
            raise ReduceError(f"{event_name} {runtime_cell_id} did not include a thread id")
        turn = self.parts.threads.turn(envelope.codex_turn_id)
        if turn is None:
            raise ReduceError(f"{event_name} {runtime_cell_id} referenced unknown Codex turn {envelope.codex_turn_id}")
        return turn.thread_id

    def _cell_of_lifecycle_event(self, envelope: Envelope, runtime_cell_id: str, event_name: str) -> str:
        """The reduced cell a runtime initial-response/end event is about."""
        thread_id = self._event_thread_id(envelope, runtime_cell_id, event_name)
        return self._cell_for_runtime_id(thread_id, runtime_cell_id, event_name)

    def _cell_for_runtime_id(self, thread_id: str, runtime_cell_id: str, event_name: str) -> str:
        code_cell_id = self._ids_by_runtime.get((thread_id, runtime_cell_id))
        if code_cell_id is None:
            raise ReduceError(f"{event_name} referenced unknown runtime cell {runtime_cell_id} in thread {thread_id}")
        return code_cell_id

    def requester(self, thread_id: str, raw: JsonObject) -> ToolCallRequester:
        """Raw requester → reduced one: a code-mode runtime `cell_id` becomes a cell anchor."""
        kind = raw.get("type")
        if kind == "model":
            return ModelRequester()
        if kind == "code_cell":
            runtime_cell_id = raw.get("runtime_cell_id")
            if not isinstance(runtime_cell_id, str):
                raise ReduceError("missing field `runtime_cell_id`")
            return CodeCellRequester(self._cell_for_runtime_id(thread_id, runtime_cell_id, "code-mode nested tool"))
        raise ReduceError(f"unknown variant `{kind}`, expected `model` or `code_cell`")
