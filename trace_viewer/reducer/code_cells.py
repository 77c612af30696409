"""Code-mode JavaScript cells: the runtime parent of model-authored `exec` calls.

A code cell is keyed by the model-visible `exec` call id (`code_cell:<call id>`);
the runtime's own `cell_id` is only a per-thread handle that lifecycle events,
nested JS tools and `wait` calls use, so one map bridges the two namespaces.

Runtime work starts before the inference response that holds the model's
`custom_tool_call` is reduced, so a start may have to wait (be queued) until its
source conversation item exists; lifecycle events for a queued cell wait with it
and are replayed in seq order when it materialises.

Schema 2 adds three always-present cell fields (first initial response status and
payload, last end payload) and `started_code_cell_id` on the model's `exec` tool call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from trace_viewer.model import new_execution
from trace_viewer.reducer.core import ReducerBase
from trace_viewer.reducer.errors import ReduceError

# The two conversation item kinds a code cell links to.
_SOURCE_KIND = "custom_tool_call"
_OUTPUT_KIND = "custom_tool_call_output"

# Runtime status → execution status: only terminal runtime states end the window.
_EXECUTION_STATUS_FOR_RUNTIME = {
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
    status: str
    response_payload: dict[str, Any] | None


def _reject_non_json_constant(name: str) -> Any:
    # serde_json refuses NaN/Infinity; Python would accept them.
    raise ValueError(f"{name} is not valid JSON")


def _push_unique(items: list[str], value: str) -> bool:
    if value in items:
        return False
    items.append(value)
    return True


def _place_after_runtime_tool_id(tool_call: dict[str, Any], key: str, value: str) -> None:
    """Set an optional tool-call field where the official output puts it: right after
    `code_mode_runtime_tool_id`. The dict is rebuilt in place so holders of it stay valid."""
    if tool_call.get(key) == value:
        return
    entries = [(name, old) for name, old in tool_call.items() if name != key]
    tool_call.clear()
    placed = False
    for name, old in entries:
        tool_call[name] = old
        if name == "code_mode_runtime_tool_id":
            tool_call[key] = value
            placed = True
    if not placed:
        tool_call[key] = value


def _place_started_code_cell_id(tool_call: dict[str, Any], code_cell_id: str) -> None:
    _place_after_runtime_tool_id(tool_call, "started_code_cell_id", code_cell_id)


class CodeCellReducer(ReducerBase):
    """Code-cell lifecycle plus the links other concerns ask for (requesters, waits, outputs)."""

    def init_concerns(self) -> None:
        super().init_concerns()
        # (thread id, runtime cell id) → reduced code cell id. Runtime ids repeat across threads.
        self.code_cell_ids_by_runtime: dict[tuple[str, str], str] = {}
        self.pending_code_cell_starts: dict[str, PendingCodeCellStart] = {}
        self.pending_code_cell_lifecycle_events: dict[str, list[PendingCodeCellLifecycleEvent]] = {}
        # Indexes so lookups never scan every item/tool call:
        # (thread id, call id, kind) → ids of `exec` source/output items seen so far.
        self._code_cell_item_ids: dict[tuple[str, str, str], list[str]] = {}
        # Nested tool calls that named a cell before it materialised.
        self._nested_before_start: dict[str, list[str]] = {}
        # codex turn id → its code cell ids (for turn-end termination).
        self._code_cell_ids_by_turn: dict[str, list[str]] = {}
        # model-visible call id → tool call id (schema 2 `started_code_cell_id`).
        self._tool_call_ids_by_model_visible_call: dict[str, str] = {}

    # ----- event handlers ----------------------------------------------------
    def on_code_cell_started(self, event: dict[str, Any]) -> None:
        payload = event["payload"]
        runtime_cell_id: str = payload["runtime_cell_id"]
        model_visible_call_id: str = payload["model_visible_call_id"]
        thread_id = self.code_cell_event_thread_id(
            event.get("thread_id"), event.get("codex_turn_id"), runtime_cell_id, "code cell start"
        )
        code_cell_id = self.reduced_code_cell_id_for_model_visible_call(model_visible_call_id)
        self.record_runtime_code_cell_id(thread_id, runtime_cell_id, code_cell_id)
        self.start_or_queue_code_cell(
            PendingCodeCellStart(
                seq=event["seq"],
                wall_time_unix_ms=event["wall_time_unix_ms"],
                thread_id=thread_id,
                codex_turn_id=event.get("codex_turn_id"),
                code_cell_id=code_cell_id,
                runtime_cell_id=runtime_cell_id,
                model_visible_call_id=model_visible_call_id,
                source_js=payload["source_js"],
            )
        )

    def _cell_of_lifecycle_event(self, event: dict[str, Any], event_name: str) -> str:
        """The reduced cell a runtime initial-response/end event is about (thread from envelope or turn)."""
        runtime_cell_id: str = event["payload"]["runtime_cell_id"]
        thread_id = self.code_cell_event_thread_id(
            event.get("thread_id"), event.get("codex_turn_id"), runtime_cell_id, event_name
        )
        return self.code_cell_id_for_runtime_cell_id(thread_id, runtime_cell_id, event_name)

    def on_code_cell_initial_response(self, event: dict[str, Any]) -> None:
        payload = event["payload"]
        runtime_cell_id: str = payload["runtime_cell_id"]
        code_cell_id = self._cell_of_lifecycle_event(event, "code cell initial response")
        self.record_or_queue_code_cell_initial_response(
            event["seq"],
            event["wall_time_unix_ms"],
            code_cell_id,
            runtime_cell_id,
            payload["status"],
            payload.get("response_payload"),
        )

    def on_code_cell_ended(self, event: dict[str, Any]) -> None:
        payload = event["payload"]
        code_cell_id = self._cell_of_lifecycle_event(event, "code cell end")
        self.end_or_queue_code_cell(
            event["seq"], event["wall_time_unix_ms"], code_cell_id, payload["status"], payload.get("response_payload")
        )

    def on_code_cell_wait_target_resolved(self, event: dict[str, Any]) -> None:
        """Schema 3: the runtime confirmed which cell a `wait` call waits on.

        This, not the call's arguments, is what links the call to the cell's
        ``wait_tool_call_ids``; a cell the thread does not know is just not linked.
        """
        thread_id = event.get("thread_id")
        if thread_id is None:
            raise ReduceError("confirmed wait missing thread")
        codex_turn_id = event.get("codex_turn_id")
        if codex_turn_id is None:
            raise ReduceError("confirmed wait missing turn")
        payload = event["payload"]
        tool_call_id: str = payload["tool_call_id"]
        tool_call = self.rollout["tool_calls"].get(tool_call_id)
        if tool_call is None:
            raise ReduceError(f"confirmed wait referenced unknown dispatch {tool_call_id}")
        if tool_call["thread_id"] != thread_id or tool_call["started_by_codex_turn_id"] != codex_turn_id:
            raise ReduceError("confirmed wait target has wrong dispatch context")
        if "resolved_wait_runtime_cell_id" in tool_call:
            raise ReduceError(f"duplicate confirmed wait target for {tool_call_id}")
        runtime_cell_id: str = payload["runtime_cell_id"]
        _place_after_runtime_tool_id(tool_call, "resolved_wait_runtime_cell_id", runtime_cell_id)
        self.note_updated(tool_call_id)
        self._link_wait_tool_call(thread_id, runtime_cell_id, tool_call_id)

    # ----- starting ----------------------------------------------------------
    def start_or_queue_code_cell(self, pending: PendingCodeCellStart) -> None:
        """Start the cell now if its source item exists, else queue it until it does."""
        code_cell_id = pending.code_cell_id
        if self._source_item_id_for_pending_code_cell(pending) is None:
            if code_cell_id in self.rollout["code_cells"] or code_cell_id in self.pending_code_cell_starts:
                raise ReduceError(f"duplicate code cell start for {code_cell_id}")
            self.pending_code_cell_starts[code_cell_id] = pending
            return
        self.start_code_cell(pending)

    def flush_pending_code_cell_starts(self) -> None:
        """Materialise queued starts whose source item now exists.

        Called by the conversation concern after each request, response and
        compaction install, the only paths that create model-visible items."""
        if not self.pending_code_cell_starts:
            return
        # Sorted like the official BTreeMap, so the first error is the same one.
        ready = [
            code_cell_id
            for code_cell_id in sorted(self.pending_code_cell_starts)
            if self._source_item_id_for_pending_code_cell(self.pending_code_cell_starts[code_cell_id]) is not None
        ]
        for code_cell_id in ready:
            pending = self.pending_code_cell_starts.pop(code_cell_id, None)
            if pending is not None:
                self.start_code_cell(pending)

    def start_code_cell(self, pending: PendingCodeCellStart) -> None:
        """Insert the reduced cell once its source `exec` item is known."""
        code_cell_id = pending.code_cell_id
        code_cells = self.rollout["code_cells"]
        if code_cell_id in code_cells:
            raise ReduceError(f"duplicate code cell start for {code_cell_id}")
        codex_turn_id = pending.codex_turn_id
        if codex_turn_id is None:
            raise ReduceError(f"code cell start {code_cell_id} did not include a Codex turn id")
        self.validate_code_cell_turn(pending.thread_id, codex_turn_id)
        source_item_id = self.source_item_id_for_code_cell_start(
            pending.thread_id, code_cell_id, pending.model_visible_call_id
        )
        output_item_ids = self.model_visible_code_cell_item_ids(
            pending.thread_id, pending.model_visible_call_id, _OUTPUT_KIND
        )
        # Nested tools may have started while the cell was queued; the official
        # reducer collects them from its id-sorted tool-call map.
        nested_tool_call_ids = sorted(set(self._nested_before_start.pop(code_cell_id, [])))

        cell: dict[str, Any] = {
            "code_cell_id": code_cell_id,
            "model_visible_call_id": pending.model_visible_call_id,
            "thread_id": pending.thread_id,
            "codex_turn_id": codex_turn_id,
            "source_item_id": source_item_id,
            "output_item_ids": list(output_item_ids),
            "runtime_cell_id": pending.runtime_cell_id,
            "execution": new_execution(pending.seq, pending.wall_time_unix_ms),
            "runtime_status": "starting",
            "initial_response_at_unix_ms": None,
            "initial_response_seq": None,
        }
        if self.schema_version >= 2:
            cell["initial_response_status"] = None
            cell["raw_initial_response_payload_id"] = None
            cell["raw_result_payload_id"] = None
        cell["yielded_at_unix_ms"] = None
        cell["yielded_seq"] = None
        cell["source_js"] = pending.source_js
        cell["nested_tool_call_ids"] = nested_tool_call_ids
        cell["wait_tool_call_ids"] = []
        code_cells[code_cell_id] = cell
        self._code_cell_ids_by_turn.setdefault(codex_turn_id, []).append(code_cell_id)
        self.note_created(code_cell_id)

        self.thread(pending.thread_id)
        for item_id in output_item_ids:
            self.add_code_cell_output_item(code_cell_id, item_id)
        self.flush_pending_code_cell_lifecycle_events(code_cell_id)
        if self.schema_version >= 2:
            self._mark_started_code_cell(pending.thread_id, pending.model_visible_call_id, code_cell_id)

    def _source_item_id_for_pending_code_cell(self, pending: PendingCodeCellStart) -> str | None:
        ids = self.model_visible_code_cell_item_ids(pending.thread_id, pending.model_visible_call_id, _SOURCE_KIND)
        return ids[0] if ids else None

    def source_item_id_for_code_cell_start(self, thread_id: str, code_cell_id: str, model_visible_call_id: str) -> str:
        ids = self.model_visible_code_cell_item_ids(thread_id, model_visible_call_id, _SOURCE_KIND)
        if not ids:
            raise ReduceError(
                f"code cell {code_cell_id} referenced model-visible call {model_visible_call_id}, "
                "but no custom tool call item was observed"
            )
        return ids[0]

    def model_visible_code_cell_item_ids(self, thread_id: str, call_id: str, kind: str) -> list[str]:
        """Items of this thread/call/kind, in the official reducer's id-sorted map order."""
        return sorted(self._code_cell_item_ids.get((thread_id, call_id, kind), ()))

    def validate_code_cell_turn(self, thread_id: str, codex_turn_id: str) -> None:
        if thread_id not in self.rollout["threads"]:
            raise ReduceError(f"code cell start referenced unknown thread {thread_id}")
        turn = self.rollout["codex_turns"].get(codex_turn_id)
        if turn is None:
            raise ReduceError(f"code cell start referenced unknown Codex turn {codex_turn_id}")
        if turn["thread_id"] != thread_id:
            raise ReduceError(
                f"code cell start used thread {thread_id}, but Codex turn {codex_turn_id} "
                f"belongs to {turn['thread_id']}"
            )

    # ----- lifecycle ---------------------------------------------------------
    def _queued_behind_pending_start(self, code_cell_id: str, what: str, event: PendingCodeCellLifecycleEvent) -> bool:
        """Queue ``event`` if the cell's start is still pending; True when queued.

        False when the cell is already recorded; an unknown cell is an error.
        """
        if code_cell_id in self.rollout["code_cells"]:
            return False
        if code_cell_id in self.pending_code_cell_starts:
            self.queue_code_cell_lifecycle_event(code_cell_id, event)
            return True
        raise ReduceError(f"code cell {what} referenced unknown cell {code_cell_id}")

    def record_or_queue_code_cell_initial_response(
        self,
        seq: int,
        wall_time_unix_ms: int,
        code_cell_id: str,
        runtime_cell_id: str,
        status: str,
        response_payload: dict[str, Any] | None = None,
    ) -> None:
        """Record the runtime's first answer, or keep it beside a queued start."""
        if self._queued_behind_pending_start(
            code_cell_id,
            "initial response",
            PendingCodeCellLifecycleEvent(seq, wall_time_unix_ms, True, runtime_cell_id, status, response_payload),
        ):
            return
        self.record_code_cell_initial_response(
            seq, wall_time_unix_ms, code_cell_id, runtime_cell_id, status, response_payload
        )

    def record_code_cell_initial_response(
        self,
        seq: int,
        wall_time_unix_ms: int,
        code_cell_id: str,
        runtime_cell_id: str,
        status: str,
        response_payload: dict[str, Any] | None = None,
    ) -> None:
        cell = self.rollout["code_cells"].get(code_cell_id)
        if cell is None:
            raise ReduceError(f"code cell initial response referenced unknown cell {code_cell_id}")
        cell["runtime_cell_id"] = runtime_cell_id
        if self.schema_version >= 2:
            if cell["initial_response_status"] is None:
                # Schema 2 keeps the first initial response, and it replaces the
                # stand-in time an earlier end (or turn end) back-filled.
                cell["initial_response_at_unix_ms"] = wall_time_unix_ms
                cell["initial_response_seq"] = seq
                cell["initial_response_status"] = status
                cell["raw_initial_response_payload_id"] = (
                    response_payload["raw_payload_id"] if response_payload is not None else None
                )
        elif cell["initial_response_at_unix_ms"] is None:
            cell["initial_response_at_unix_ms"] = wall_time_unix_ms
            cell["initial_response_seq"] = seq
        if status == "yielded":
            cell["yielded_at_unix_ms"] = wall_time_unix_ms
            cell["yielded_seq"] = seq
        cell["runtime_status"] = status
        self.note_updated(code_cell_id)

    def end_or_queue_code_cell(
        self,
        seq: int,
        wall_time_unix_ms: int,
        code_cell_id: str,
        status: str,
        response_payload: dict[str, Any] | None = None,
    ) -> None:
        """End the cell, or keep the end beside a queued start (strict about unknown cells)."""
        if self._queued_behind_pending_start(
            code_cell_id,
            "end",
            PendingCodeCellLifecycleEvent(seq, wall_time_unix_ms, False, "", status, response_payload),
        ):
            return
        self.end_code_cell(seq, wall_time_unix_ms, code_cell_id, status, response_payload)

    def end_code_cell(
        self,
        seq: int,
        wall_time_unix_ms: int,
        code_cell_id: str,
        status: str,
        response_payload: dict[str, Any] | None = None,
    ) -> None:
        """Close the cell's window. A turn-end close passes no payload, which in schema 2
        clears any result payload an earlier non-final end recorded."""
        cell = self.rollout["code_cells"].get(code_cell_id)
        if cell is None:
            raise ReduceError(f"code cell end referenced unknown cell {code_cell_id}")
        if cell["initial_response_at_unix_ms"] is None:
            cell["initial_response_at_unix_ms"] = wall_time_unix_ms
            cell["initial_response_seq"] = seq
        execution = cell["execution"]
        execution["ended_at_unix_ms"] = wall_time_unix_ms
        execution["ended_seq"] = seq
        execution["status"] = _EXECUTION_STATUS_FOR_RUNTIME[status]
        cell["runtime_status"] = status
        if self.schema_version >= 2:
            # The last end wins, null payload included.
            cell["raw_result_payload_id"] = response_payload["raw_payload_id"] if response_payload is not None else None
        self.note_updated(code_cell_id)

    def terminate_running_code_cells_for_turn_end(
        self, seq: int, wall_time_unix_ms: int, codex_turn_id: str, turn_status: str
    ) -> None:
        """Close the turn's still-running cells when the turn failed or was cancelled.

        A yielded cell may outlive a *completed* turn (a later `wait` resumes it),
        but an abandoned turn abandons its JS frame, so it must not look live."""
        if turn_status == "failed":
            runtime_status = "failed"
        elif turn_status in ("cancelled", "aborted"):
            runtime_status = "terminated"
        else:
            return
        code_cells = self.rollout["code_cells"]
        for code_cell_id in sorted(self._code_cell_ids_by_turn.get(codex_turn_id, ())):
            if code_cells[code_cell_id]["execution"]["status"] == "running":
                self.end_code_cell(seq, wall_time_unix_ms, code_cell_id, runtime_status)

    def queue_code_cell_lifecycle_event(self, code_cell_id: str, event: PendingCodeCellLifecycleEvent) -> None:
        events = self.pending_code_cell_lifecycle_events.setdefault(code_cell_id, [])
        events.append(event)
        events.sort(key=lambda queued: queued.seq)

    def flush_pending_code_cell_lifecycle_events(self, code_cell_id: str) -> None:
        for queued in self.pending_code_cell_lifecycle_events.pop(code_cell_id, []):
            if queued.initial:
                self.record_code_cell_initial_response(
                    queued.seq,
                    queued.wall_time_unix_ms,
                    code_cell_id,
                    queued.runtime_cell_id,
                    queued.status,
                    queued.response_payload,
                )
            else:
                self.end_code_cell(
                    queued.seq,
                    queued.wall_time_unix_ms,
                    code_cell_id,
                    queued.status,
                    queued.response_payload,
                )

    # ----- links other concerns ask for ---------------------------------------
    def link_tool_call_to_code_cell(self, tool_call_id: str, requester: dict[str, Any]) -> None:
        """Called for every new tool call: link nested JS tools to their cell (schema 2:
        also mark the model's `exec` call with the cell it started)."""
        tool_call = self.rollout["tool_calls"].get(tool_call_id)
        model_visible_call_id = tool_call.get("model_visible_call_id") if tool_call is not None else None
        if isinstance(model_visible_call_id, str):
            self._tool_call_ids_by_model_visible_call[model_visible_call_id] = tool_call_id
            if self.schema_version >= 2:
                started = self.reduced_code_cell_id_for_model_visible_call(model_visible_call_id)
                cell = self.rollout["code_cells"].get(started)
                if cell is not None and cell["thread_id"] == tool_call["thread_id"]:
                    _place_started_code_cell_id(tool_call, started)
        if requester.get("type") != "code_cell":
            return
        code_cell_id: str = requester["code_cell_id"]
        cell = self.rollout["code_cells"].get(code_cell_id)
        if cell is None:
            # The cell is still queued; it picks this call up when it materialises.
            self._nested_before_start.setdefault(code_cell_id, []).append(tool_call_id)
            return
        if _push_unique(cell["nested_tool_call_ids"], tool_call_id):
            self.note_updated(code_cell_id)

    def _mark_started_code_cell(self, thread_id: str, model_visible_call_id: str, code_cell_id: str) -> None:
        """Schema 2: the model's `exec` tool call (same call id, same thread) names its cell."""
        tool_call_id = self._tool_call_ids_by_model_visible_call.get(model_visible_call_id)
        tool_call = self.rollout["tool_calls"].get(tool_call_id) if tool_call_id is not None else None
        if (
            tool_call is not None
            and tool_call.get("model_visible_call_id") == model_visible_call_id
            and tool_call.get("thread_id") == thread_id
        ):
            _place_started_code_cell_id(tool_call, code_cell_id)
            self.note_updated(tool_call["tool_call_id"])

    def link_wait_tool_call_from_request_payload(
        self, thread_id: str, tool_call_id: str, request_payload: dict[str, Any] | None
    ) -> None:
        """Schemas 1 and 2: link a model `wait` call to the cell it waits on, via the runtime
        `cell_id` in its arguments. Schema 3 links it when the runtime confirms the target."""
        if request_payload is None or self.schema_version >= 3:
            return
        payload = self.read_payload(request_payload)
        if not isinstance(payload, dict) or payload.get("tool_name") != "wait":
            return
        raw_payload_id = request_payload["raw_payload_id"]
        inner = payload.get("payload")
        arguments = inner.get("arguments") if isinstance(inner, dict) else None
        if not isinstance(arguments, str):
            raise ReduceError(f"wait tool request payload {raw_payload_id} did not contain function arguments")
        try:
            parsed = json.loads(arguments, parse_constant=_reject_non_json_constant)
        except ValueError as error:
            raise ReduceError(f"wait tool request payload {raw_payload_id} had invalid JSON arguments") from error
        runtime_cell_id = parsed.get("cell_id") if isinstance(parsed, dict) else None
        if not isinstance(runtime_cell_id, str):
            raise ReduceError(f"wait tool request payload {raw_payload_id} did not contain cell_id")
        self._link_wait_tool_call(thread_id, runtime_cell_id, tool_call_id)

    def _link_wait_tool_call(self, thread_id: str, runtime_cell_id: str, tool_call_id: str) -> None:
        code_cell_id = self.code_cell_id_for_runtime_cell_id_if_known(thread_id, runtime_cell_id)
        if code_cell_id is None:
            return
        cell = self.rollout["code_cells"].get(code_cell_id)
        if cell is None:
            return
        if _push_unique(cell["wait_tool_call_ids"], tool_call_id):
            self.note_updated(code_cell_id)

    def attach_model_visible_code_cell_item(self, item_id: str, call_id: str | None, kind: str) -> None:
        """Called for every item sighting: index `exec` source/output items, and link a
        late-observed `exec` output item to its existing cell."""
        if call_id is None:
            return
        if kind in (_SOURCE_KIND, _OUTPUT_KIND):
            item = self.rollout["conversation_items"].get(item_id)
            if item is not None:
                _push_unique(self._code_cell_item_ids.setdefault((item["thread_id"], call_id, kind), []), item_id)
        if kind != _OUTPUT_KIND:
            return
        code_cell_id = self.reduced_code_cell_id_for_model_visible_call(call_id)
        if code_cell_id not in self.rollout["code_cells"]:
            return
        self.add_code_cell_output_item(code_cell_id, item_id)

    def add_code_cell_output_item(self, code_cell_id: str, item_id: str) -> None:
        """Link both ways: the cell lists the output item, the item names the cell as producer."""
        cell = self.rollout["code_cells"].get(code_cell_id)
        if cell is None:
            raise ReduceError(f"code cell {code_cell_id} disappeared during output linking")
        if _push_unique(cell["output_item_ids"], item_id):
            self.note_updated(code_cell_id)
        item = self.rollout["conversation_items"].get(item_id)
        if item is None:
            raise ReduceError(f"conversation item {item_id} disappeared during code-cell output linking")
        producer = {"type": "code_cell", "code_cell_id": code_cell_id}
        if producer not in item["produced_by"]:
            item["produced_by"].append(producer)
            self.note_updated(item_id)

    # ----- ids and requesters --------------------------------------------------
    def code_cell_event_thread_id(
        self, thread_id: str | None, codex_turn_id: str | None, runtime_cell_id: str, event_name: str
    ) -> str:
        """The envelope thread, else the thread of the envelope's turn."""
        if thread_id is not None:
            return thread_id
        if codex_turn_id is None:
            raise ReduceError(f"{event_name} {runtime_cell_id} did not include a thread id")
        turn = self.rollout["codex_turns"].get(codex_turn_id)
        if turn is None:
            raise ReduceError(f"{event_name} {runtime_cell_id} referenced unknown Codex turn {codex_turn_id}")
        return turn["thread_id"]

    def reduced_code_cell_id_for_model_visible_call(self, model_visible_call_id: str) -> str:
        # The model's `exec` call id is the durable identity; runtime ids are per-thread handles.
        return f"code_cell:{model_visible_call_id}"

    def record_runtime_code_cell_id(self, thread_id: str, runtime_cell_id: str, code_cell_id: str) -> None:
        key = (thread_id, runtime_cell_id)
        existing = self.code_cell_ids_by_runtime.get(key)
        if existing is None:
            self.code_cell_ids_by_runtime[key] = code_cell_id
        elif existing != code_cell_id:
            raise ReduceError(
                f"runtime code cell {runtime_cell_id} in thread {thread_id} mapped to both "
                f"{existing} and {code_cell_id}"
            )

    def code_cell_id_for_runtime_cell_id(self, thread_id: str, runtime_cell_id: str, event_name: str) -> str:
        code_cell_id = self.code_cell_id_for_runtime_cell_id_if_known(thread_id, runtime_cell_id)
        if code_cell_id is None:
            raise ReduceError(f"{event_name} referenced unknown runtime cell {runtime_cell_id} in thread {thread_id}")
        return code_cell_id

    def code_cell_id_for_runtime_cell_id_if_known(self, thread_id: str, runtime_cell_id: str) -> str | None:
        return self.code_cell_ids_by_runtime.get((thread_id, runtime_cell_id))

    def reduce_tool_call_requester(self, thread_id: str, requester: dict[str, Any]) -> dict[str, Any]:
        """Raw requester → reduced one: a code-mode runtime `cell_id` becomes a cell anchor."""
        kind = requester.get("type")
        if kind == "model":
            return {"type": "model"}
        if kind == "code_cell":
            runtime_cell_id = requester.get("runtime_cell_id")
            if not isinstance(runtime_cell_id, str):
                raise ReduceError("missing field `runtime_cell_id`")
            code_cell_id = self.code_cell_id_for_runtime_cell_id(thread_id, runtime_cell_id, "code-mode nested tool")
            return {"type": "code_cell", "code_cell_id": code_cell_id}
        raise ReduceError(f"unknown variant `{kind}`, expected `model` or `code_cell`")
