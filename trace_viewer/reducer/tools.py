"""Tool call lifecycle: start, MCP correlation, runtime begin/end, end, and model-visible links.

A ``ToolCall`` is the common index for every runtime tool, whoever asked for it (the model or a
code cell). Richer objects hang off it: terminal operations (``terminal.py``), agent edges
(``agents.py``) and code-cell links (``code_cells.py``). Conversation items that show a call or
its output to the model are linked both ways, in whichever order they turn up.

Schema differences handled here:
- schema 2's ``tool_call_runtime_started.kind`` replaces the call's kind before the runtime
  payload is looked at;
- schema 1 has no such field: a runtime payload carrying an MCP ``invocation`` upgrades the kind
  to ``mcp`` instead.
"""

from __future__ import annotations

from collections.abc import Callable

from trace_viewer.model import (
    AgentSummary,
    ApplyPatchKind,
    AssignAgentTaskKind,
    CloseAgentKind,
    ConversationItemKind,
    ExecCommandKind,
    GenericSummary,
    ImageGenerationKind,
    InferenceProducer,
    McpKind,
    OtherKind,
    RawPayload,
    SendMessageKind,
    SpawnAgentKind,
    TerminalSummary,
    ToolCall,
    ToolCallKind,
    ToolCallSummary,
    ToolProducer,
    WaitAgentKind,
    WaitAgentSummary,
    WebKind,
    WriteStdinKind,
    new_execution,
)
from trace_viewer.reducer.core import ReducerCore
from trace_viewer.reducer.errors import ReduceError
from trace_viewer.reducer.events import (
    Envelope,
    McpToolCallCorrelationAssigned,
    ToolCallEnded,
    ToolCallRuntimeEnded,
    ToolCallRuntimeStarted,
    ToolCallStarted,
)
from trace_viewer.reducer.fields import FieldError, JsonObject, JsonValue, describe, is_int, push_unique
from trace_viewer.reducer.interfaces import Parts

# Conversation item kinds that carry a tool call / its output to or from the model.
CALL_ITEM_KINDS: frozenset[ConversationItemKind] = frozenset({"function_call", "custom_tool_call"})
OUTPUT_ITEM_KINDS: frozenset[ConversationItemKind] = frozenset({"function_call_output", "custom_tool_call_output"})
TERMINAL_KINDS = (ExecCommandKind, WriteStdinKind)


# ----- tool kinds and summaries, as the official reducer reads them ---------------------------------------


def _tagged(raw: JsonValue, what: str, variants: frozenset[str], expected: str) -> tuple[str, JsonObject]:
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise FieldError(f"invalid tool call {what}: invalid type: {describe(raw)}{expected}")
    variant = raw["type"]
    assert isinstance(variant, str)
    if variant not in variants:
        raise FieldError(f"invalid tool call {what}: unknown variant `{variant}`")
    return variant, raw


def _kind_text(raw: JsonObject, name: str) -> str:
    if name not in raw:
        raise FieldError(f"invalid tool call kind: missing field `{name}`")
    value = raw[name]
    if not isinstance(value, str):
        raise FieldError(f"invalid tool call kind: invalid type: {describe(value)}, expected a string")
    return value


_UNIT_KINDS: dict[str, ToolCallKind] = {
    "exec_command": ExecCommandKind(),
    "write_stdin": WriteStdinKind(),
    "apply_patch": ApplyPatchKind(),
    "web": WebKind(),
    "image_generation": ImageGenerationKind(),
    "spawn_agent": SpawnAgentKind(),
    "assign_agent_task": AssignAgentTaskKind(),
    "send_message": SendMessageKind(),
    "wait_agent": WaitAgentKind(),
    "close_agent": CloseAgentKind(),
}
_KIND_VARIANTS = frozenset({*_UNIT_KINDS, "mcp", "other"})


def tool_kind(raw: JsonValue) -> ToolCallKind:
    """A tool kind; ``FieldError`` in the official words if it is not a valid kind."""
    variant, obj = _tagged(raw, "kind", _KIND_VARIANTS, ", expected a tagged kind")
    unit = _UNIT_KINDS.get(variant)
    if unit is not None:
        return unit
    if variant == "mcp":
        return McpKind(_kind_text(obj, "server"), _kind_text(obj, "tool"))
    return OtherKind(_kind_text(obj, "name"))


def _summary_value(raw: JsonObject, name: str, *, optional: bool, integer: bool = False) -> str | int | None:
    value = raw.get(name)
    if value is None and optional:
        return None
    if name not in raw:
        raise FieldError(f"invalid tool call summary: missing field `{name}`")
    if integer and is_int(value) and value >= 0:
        return value
    if not integer and isinstance(value, str):
        return value
    raise FieldError(f"invalid tool call summary: invalid type: {describe(value)} for `{name}`")


def _summary_text(raw: JsonObject, name: str) -> str:
    value = _summary_value(raw, name, optional=False)
    assert isinstance(value, str)
    return value


def _summary_opt_text(raw: JsonObject, name: str) -> str | None:
    value = _summary_value(raw, name, optional=True)
    assert value is None or isinstance(value, str)
    return value


def _summary_opt_u64(raw: JsonObject, name: str) -> int | None:
    value = _summary_value(raw, name, optional=True, integer=True)
    assert value is None or isinstance(value, int)
    return value


_SUMMARIES: dict[str, Callable[[JsonObject], ToolCallSummary]] = {
    "terminal": lambda raw: TerminalSummary(_summary_text(raw, "operation_id")),
    "agent": lambda raw: AgentSummary(
        _summary_text(raw, "target_agent_path"),
        _summary_opt_text(raw, "task_name"),
        _summary_text(raw, "message_preview"),
    ),
    "wait_agent": lambda raw: WaitAgentSummary(
        _summary_opt_text(raw, "target_agent_path"), _summary_opt_u64(raw, "timeout_ms")
    ),
    "generic": lambda raw: GenericSummary(
        _summary_text(raw, "label"), _summary_opt_text(raw, "input_preview"), _summary_opt_text(raw, "output_preview")
    ),
}


def tool_summary(raw: JsonValue) -> ToolCallSummary:
    """A tool summary; absent optionals are null, as serde reads them."""
    variant, obj = _tagged(raw, "summary", frozenset(_SUMMARIES), "")
    return _SUMMARIES[variant](obj)


def _requester_check(raw: JsonObject) -> None:
    kind = raw.get("type")
    if kind != "model" and kind != "code_cell":
        raise ReduceError("invalid tool call requester: expected `model` or `code_cell`")
    if kind == "code_cell" and not isinstance(raw.get("runtime_cell_id"), str):
        raise ReduceError("invalid tool call requester: missing field `runtime_cell_id`")


class ToolsReducer:
    """Tool calls and their links to conversation items and inference responses."""

    def __init__(self, core: ReducerCore) -> None:
        self.core = core
        self.tool_calls = core.rollout.tool_calls
        # model-visible call id → the one tool call that carries it (uniqueness is enforced at start).
        self._ids_by_model_visible_call: dict[str, str] = {}
        # (thread id, call id) → call/output conversation item ids, built lazily from new items.
        self._item_ids_by_call: dict[tuple[str, str], list[str]] = {}
        self._items_indexed_through = 0

    def connect(self, parts: Parts) -> None:
        self.parts = parts

    # ----- the Tools interface --------------------------------------------------------------------
    def tool_call(self, tool_call_id: str) -> ToolCall | None:
        return self.tool_calls.get(tool_call_id)

    def tool_for_model_visible_call(self, model_visible_call_id: str) -> str | None:
        """The tool call for a model-visible call id (at most one: starts enforce it)."""
        return self._ids_by_model_visible_call.get(model_visible_call_id)

    def payload_ids(self, tool_call_id: str) -> list[str]:
        tool_call = self.tool_calls.get(tool_call_id)
        if tool_call is None:
            raise ReduceError(f"agent edge referenced unknown tool call {tool_call_id}")
        payload_ids: list[str] = []
        if tool_call.raw_invocation_payload_id is not None:
            push_unique(payload_ids, tool_call.raw_invocation_payload_id)
        for payload_id in tool_call.raw_runtime_payload_ids:
            push_unique(payload_ids, payload_id)
        if tool_call.raw_result_payload_id is not None:
            push_unique(payload_ids, tool_call.raw_result_payload_id)
        return payload_ids

    def attach_model_visible_item(self, item_id: str, call_id: str | None, kind: ConversationItemKind) -> None:
        """Link a conversation item (seen in any model payload) to the tool call it shows.

        The conversation part calls this for every item sighting, so links form whether the item
        or the tool start comes first.
        """
        if call_id is None:
            return
        if kind in CALL_ITEM_KINDS:
            tool_call_id = self.tool_for_model_visible_call(call_id)
            if tool_call_id is not None:
                self._add_call_item(tool_call_id, item_id)
                self._link_to_inference_response(tool_call_id)
                self.parts.terminals.sync_model_observation(tool_call_id)
        elif kind in OUTPUT_ITEM_KINDS:
            tool_call_id = self.tool_for_model_visible_call(call_id)
            if tool_call_id is not None:
                self._add_output_item(tool_call_id, item_id)
                self.parts.terminals.sync_model_observation(tool_call_id)

    # ----- handlers --------------------------------------------------------------------------------
    def tool_call_started(self, envelope: Envelope, event: ToolCallStarted) -> None:
        """Create the tool call and link whatever already refers to it.

        Call/output items may have been reduced before the tool started (fast tools, replayed
        history), so both directions are linked here too.
        """
        _requester_check(event.requester)
        try:
            kind = tool_kind(event.kind)
            summary = tool_summary(event.summary)
        except FieldError as error:
            raise error.fault() from None
        seq, wall = envelope.seq, envelope.wall_time_unix_ms
        tool_call_id = event.tool_call_id
        if tool_call_id in self.tool_calls:
            raise ReduceError(f"duplicate tool call start for {tool_call_id}")
        model_visible_call_id = event.model_visible_call_id
        if model_visible_call_id is not None:
            existing = self.tool_for_model_visible_call(model_visible_call_id)
            if existing is not None and existing != tool_call_id:
                raise ReduceError(f"duplicate tool call for model-visible call id {model_visible_call_id}")

        codex_turn_id = envelope.codex_turn_id
        thread_id = self._thread_id(envelope.thread_id, codex_turn_id)
        self._validate_turn(thread_id, codex_turn_id)

        requester = self.parts.code_cells.requester(thread_id, event.requester)
        call_item_ids: list[str] = []
        output_item_ids: list[str] = []
        if model_visible_call_id is not None:
            call_item_ids = self._model_visible_item_ids(thread_id, model_visible_call_id, CALL_ITEM_KINDS)
            output_item_ids = self._model_visible_item_ids(thread_id, model_visible_call_id, OUTPUT_ITEM_KINDS)
        self.parts.threads.thread(thread_id)

        # write_stdin has no runtime begin event: its invocation is the only place that names the
        # terminal session, so the operation starts here.
        invocation = event.invocation_payload
        operation_id = self.parts.terminals.start_from_invocation(seq, wall, thread_id, tool_call_id, kind, invocation)
        # A terminal-backed tool is summarised by its operation, not by the producer's label.
        if operation_id is not None:
            summary = TerminalSummary(operation_id)
        self.parts.code_cells.link_wait_from_invocation(thread_id, tool_call_id, invocation)

        tool_call = ToolCall(
            tool_call_id=tool_call_id,
            mcp_call_id=None,
            model_visible_call_id=model_visible_call_id,
            code_mode_runtime_tool_id=event.code_mode_runtime_tool_id,
            thread_id=thread_id,
            started_by_codex_turn_id=codex_turn_id,
            execution=new_execution(seq, wall),
            requester=requester,
            kind=kind,
            model_visible_call_item_ids=call_item_ids,
            model_visible_output_item_ids=[],
            terminal_operation_id=operation_id,
            summary=summary,
            raw_invocation_payload_id=invocation.raw_payload_id if invocation else None,
            raw_result_payload_id=None,
            raw_runtime_payload_ids=[],
        )
        self.tool_calls[tool_call_id] = tool_call
        if model_visible_call_id is not None:
            self._ids_by_model_visible_call[model_visible_call_id] = tool_call_id
        self.core.note_created(tool_call_id)

        self.parts.code_cells.link_tool_call(tool_call)
        self._link_to_inference_response(tool_call_id)
        # Outputs also need the reverse producer link, hence the shared helper.
        for item_id in output_item_ids:
            self._add_output_item(tool_call_id, item_id)
        self.parts.terminals.sync_model_observation(tool_call_id)

    def mcp_tool_call_correlation_assigned(self, envelope: Envelope, event: McpToolCallCorrelationAssigned) -> None:
        """Attach the MCP bridge's call UUID (assigned only once the call reaches a backend)."""
        tool_call = self.tool_calls.get(event.tool_call_id)
        if tool_call is None:
            raise ReduceError(f"MCP correlation referenced unknown tool call {event.tool_call_id}")
        previous = tool_call.mcp_call_id
        tool_call.mcp_call_id = event.mcp_call_id
        if previous is not None:
            raise ReduceError(f"duplicate MCP correlation for tool call {event.tool_call_id}")
        self.core.note_updated(event.tool_call_id)

    def tool_call_ended(self, envelope: Envelope, event: ToolCallEnded) -> None:
        """Close the tool call; a terminal operation without runtime events ends from the result."""
        tool_call_id = event.tool_call_id
        tool_call = self.tool_calls.get(tool_call_id)
        if tool_call is None:
            raise ReduceError(f"tool call end referenced unknown call {tool_call_id}")
        seq, wall = envelope.seq, envelope.wall_time_unix_ms
        tool_call.execution.close(seq, wall, event.status)
        result = event.result_payload
        tool_call.raw_result_payload_id = result.raw_payload_id if result else None
        self.core.note_updated(tool_call_id)
        # Runtime-observed tools end their terminal operation from the runtime end event; the
        # dispatch result is caller-facing and may be reformatted.
        operation_id = tool_call.terminal_operation_id
        if operation_id is not None and not tool_call.raw_runtime_payload_ids:
            self.parts.terminals.end_operation(seq, wall, tool_call.thread_id, operation_id, event.status, result)
        self.parts.agents.attach_tool_result(tool_call_id, result)

    def tool_call_runtime_started(self, envelope: Envelope, event: ToolCallRuntimeStarted) -> None:
        """Record a runtime begin: it may upgrade the kind and create a terminal operation or agent edge.

        Schema 2's runtime kind replaces the call's kind outright.
        """
        # Schema 2 always names the runtime kind; schema 1 never does.
        try:
            kind = tool_kind(event.kind) if event.kind is not None else None
        except FieldError as error:
            raise error.fault() from None
        tool_call_id = event.tool_call_id
        tool_call = self.tool_calls.get(tool_call_id)
        if tool_call is None:
            raise ReduceError(f"tool runtime start referenced unknown call {tool_call_id}")
        runtime = event.runtime_payload
        if kind is not None:
            tool_call.kind = kind
        elif self.core.schema_version < 2:
            mcp_kind = self._mcp_kind_from_runtime_payload(runtime)
            if mcp_kind is not None:
                tool_call.kind = mcp_kind
        push_unique(tool_call.raw_runtime_payload_ids, runtime.raw_payload_id)
        self.core.note_updated(tool_call_id)
        if tool_call.terminal_operation_id is not None and isinstance(tool_call.kind, TERMINAL_KINDS):
            raise ReduceError(f"tool runtime start would create a second terminal operation for {tool_call_id}")

        # The begin event carries runtime facts (process id, cwd) for a terminal row, but the
        # canonical invocation payload stays the call's own.
        operation_id = self.parts.terminals.start_from_runtime(
            envelope.seq, envelope.wall_time_unix_ms, tool_call.thread_id, tool_call_id, tool_call.kind, runtime
        )
        if operation_id is not None:
            if tool_call.terminal_operation_id is None:
                tool_call.terminal_operation_id = operation_id
                tool_call.summary = TerminalSummary(operation_id)
            self.parts.terminals.sync_model_observation(tool_call_id)
        self.parts.agents.start_from_runtime(tool_call, runtime)

    def _mcp_kind_from_runtime_payload(self, runtime: RawPayload) -> McpKind | None:
        """Schema 1: an MCP begin payload names its server and tool under `invocation`."""
        payload = self.core.read_payload(runtime)
        if not isinstance(payload, dict) or "invocation" not in payload:
            return None
        invocation = payload["invocation"]
        prefix = f"parse MCP runtime invocation in {runtime.raw_payload_id}: "
        if not isinstance(invocation, dict):
            raise ReduceError(prefix + f"invalid type: {describe(invocation)}, expected struct McpInvocation")
        names: list[str] = []
        for name in ("server", "tool"):
            if name not in invocation:
                raise ReduceError(prefix + f"missing field `{name}`")
            value = invocation[name]
            if not isinstance(value, str):
                raise ReduceError(prefix + f"invalid type: {describe(value)}, expected a string")
            names.append(value)
        return McpKind(names[0], names[1])

    def tool_call_runtime_ended(self, envelope: Envelope, event: ToolCallRuntimeEnded) -> None:
        """Record a runtime end: it ends the call's terminal operation and may end an agent edge."""
        tool_call_id = event.tool_call_id
        tool_call = self.tool_calls.get(tool_call_id)
        if tool_call is None:
            raise ReduceError(f"tool runtime end referenced unknown call {tool_call_id}")
        runtime = event.runtime_payload
        push_unique(tool_call.raw_runtime_payload_ids, runtime.raw_payload_id)
        self.core.note_updated(tool_call_id)
        operation_id = tool_call.terminal_operation_id
        wall = envelope.wall_time_unix_ms
        if operation_id is not None:
            self.parts.terminals.end_operation(
                envelope.seq, wall, tool_call.thread_id, operation_id, event.status, runtime
            )
        if self.core.schema_version >= 2 and isinstance(tool_call.kind, McpKind):
            # Schema 2 never opens an MCP end payload while replaying (a missing one is only
            # reported by the end-of-log payload check); agent edges ignore MCP anyway.
            return
        self.parts.agents.end_from_runtime(wall, tool_call, runtime)

    # ----- model-visible links ---------------------------------------------------------------------
    def _thread_id(self, thread_id: str | None, codex_turn_id: str | None) -> str:
        """The envelope thread, or else the thread of the envelope's turn."""
        if thread_id is not None:
            return thread_id
        if codex_turn_id is None:
            raise ReduceError("tool call start did not include thread or Codex turn context")
        turn = self.parts.threads.turn(codex_turn_id)
        if turn is None:
            raise ReduceError(f"tool call start referenced unknown Codex turn {codex_turn_id}")
        return turn.thread_id

    def _validate_turn(self, thread_id: str, codex_turn_id: str | None) -> None:
        if self.parts.threads.find_thread(thread_id) is None:
            raise ReduceError(f"tool call start referenced unknown thread {thread_id}")
        if codex_turn_id is None:
            return
        turn = self.parts.threads.turn(codex_turn_id)
        if turn is None:
            raise ReduceError(f"tool call start referenced unknown Codex turn {codex_turn_id}")
        if turn.thread_id != thread_id:
            raise ReduceError(
                f"tool call start used thread {thread_id}, but Codex turn {codex_turn_id} belongs to {turn.thread_id}"
            )

    def _model_visible_item_ids(
        self, thread_id: str, call_id: str, kinds: frozenset[ConversationItemKind]
    ) -> list[str]:
        """This thread's items of the given kinds for a call id, in id-sorted map order (as official)."""
        self._index_new_items()
        conversation = self.parts.conversation
        matching = [
            item_id
            for item_id in self._item_ids_by_call.get((thread_id, call_id), ())
            if (item := conversation.item(item_id)) is not None and item.kind in kinds
        ]
        return sorted(matching)

    def _index_new_items(self) -> None:
        """Index conversation items minted since the last look (ids are `conversation_item:N`)."""
        conversation = self.parts.conversation
        last = conversation.last_item_ordinal()
        for ordinal in range(self._items_indexed_through + 1, last + 1):
            item = conversation.item(f"conversation_item:{ordinal}")
            if item is None or item.call_id is None:
                continue
            if item.kind in CALL_ITEM_KINDS or item.kind in OUTPUT_ITEM_KINDS:
                self._item_ids_by_call.setdefault((item.thread_id, item.call_id), []).append(item.item_id)
        self._items_indexed_through = max(self._items_indexed_through, last)

    def _add_call_item(self, tool_call_id: str, item_id: str) -> None:
        tool_call = self.tool_calls.get(tool_call_id)
        if tool_call is None:
            raise ReduceError(f"tool call {tool_call_id} disappeared during conversation linking")
        if push_unique(tool_call.model_visible_call_item_ids, item_id):
            self.core.note_updated(tool_call_id)

    def _add_output_item(self, tool_call_id: str, item_id: str) -> None:
        """Link an output item both ways: tool → item and item produced_by tool."""
        tool_call = self.tool_calls.get(tool_call_id)
        if tool_call is None:
            raise ReduceError(f"tool call {tool_call_id} disappeared during output linking")
        if push_unique(tool_call.model_visible_output_item_ids, item_id):
            self.core.note_updated(tool_call_id)
        self.parts.conversation.add_producer(item_id, ToolProducer(tool_call_id))

    def _link_to_inference_response(self, tool_call_id: str) -> None:
        """Record the tool on every inference whose response holds one of its call items.

        Only inferences already completed count (their response ids are set after the response
        items are reduced), exactly as the official reducer sees it.
        """
        tool_call = self.tool_calls.get(tool_call_id)
        if tool_call is None or not tool_call.model_visible_call_item_ids:
            return
        call_item_ids = tool_call.model_visible_call_item_ids
        # Response items name their inference in `produced_by`: look there instead of scanning
        # every inference call.
        candidates: list[str] = []
        for item_id in call_item_ids:
            item = self.parts.conversation.item(item_id)
            if item is None:
                continue
            for producer in item.produced_by:
                if isinstance(producer, InferenceProducer):
                    push_unique(candidates, producer.inference_call_id)
        for inference_call_id in candidates:
            call = self.parts.inference.call(inference_call_id)
            if call is None:
                continue
            if any(item_id in call.response_item_ids for item_id in call_item_ids) and push_unique(
                call.tool_call_ids_started_by_response, tool_call_id
            ):
                self.core.note_updated(inference_call_id)
