"""Reduce session rollouts into the same typed graph as bundles, one rollout line at a time.

A rollout (``$CODEX_HOME/sessions/**/rollout-*.jsonl``) is one thread per file; a session is the
root thread's file plus its sub-agents' files. ``RolloutReducer`` takes their lines in one merged
order and builds, step by step:

- threads (one per file; a sub-agent's ``session_meta`` names its parent) and a spawn edge each;
- codex turns (``task_started`` … ``task_complete`` / ``turn_aborted``);
- conversation items: one per history item (a ``response_item``, an item of a ``compacted``
  replacement, or what Codex adds to a request and the file does not hold: the base instructions,
  ``aborted`` outputs, the local compaction prompt, the remote compaction trigger);
- inference calls with their exact inputs (``trace_viewer.rollout.rebuild``), outputs and usage,
  compaction requests included;
- tool calls (the model's calls and their outputs), remote and local compactions (with the
  summary when local), interrupts and errors (turn and call statuses).

The live context of a thread (``snapshots``) is the model history as the next request will see
it. The reduction is pure and deterministic; nothing here reads files (the session does).
What a rollout does not record (tool schemas, retried attempts, request bodies) is not invented.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field

from trace_viewer.errors import Fault
from trace_viewer.model import (
    UNSET,
    AgentThread,
    ApplyPatchKind,
    AssignAgentTaskKind,
    CloseAgentKind,
    CodexTurn,
    Compaction,
    CompactionProducer,
    CompactionRequest,
    ConversationBody,
    ConversationItem,
    ExecCommandKind,
    ExecutionStatus,
    GenericSummary,
    HarnessProducer,
    InferenceCall,
    InferenceProducer,
    InteractionEdge,
    McpKind,
    ModelRequester,
    OtherKind,
    Producer,
    RawPayload,
    RolloutTrace,
    SendMessageKind,
    SpawnAgentKind,
    ThreadAnchor,
    ToolCall,
    ToolCallKind,
    ToolProducer,
    UserInputProducer,
    WaitAgentKind,
    WebKind,
    WriteStdinKind,
    new_execution,
    to_builtins,
    to_state_json,
)
from trace_viewer.model.session import PayloadKind, RootOrigin, SpawnedOrigin
from trace_viewer.reducer.core import Change
from trace_viewer.reducer.errors import ReduceError
from trace_viewer.reducer.fields import JsonValue
from trace_viewer.reducer.normalize import (
    NormalizedItem,
    json_body,
    normalize_model_item,
    token_usage_from_value,
    truncate_summary,
)
from trace_viewer.rollout.rebuild import BASE_KEY, CALL_TYPES, OUTPUT_TYPES, CallRebuilder, ModelCall
from trace_viewer.rollout.records import JsonObject, RecordError, RolloutLine, SessionMeta, parse_record

# The record type of each step, in the bundle event vocabulary the viewer navigates by.
STEP_THREAD = "thread_started"
STEP_TURN_STARTED = "codex_turn_started"
STEP_TURN_ENDED = "codex_turn_ended"
STEP_CALL_STARTED = "inference_started"
STEP_CALL_ENDED = "inference_completed"
STEP_COMPACTION = "compaction_installed"
STEP_TOOL_STARTED = "tool_call_started"
STEP_TOOL_ENDED = "tool_call_ended"
# Payload kind of the raw payloads a rollout reduction registers: one per line.
LINE_PAYLOAD_KIND = "rollout_line"

_CALL_STATUS: dict[str, ExecutionStatus] = {
    "completed": "completed",
    "interrupted": "cancelled",
    "failed": "failed",
    "incomplete": "failed",
    "open": "running",
}
_AGENT_TOOLS: dict[str, ToolCallKind] = {
    "spawn_agent": SpawnAgentKind(),
    "send_message": SendMessageKind(),
    "send_input": SendMessageKind(),
    "followup_task": AssignAgentTaskKind(),
    "assign_task": AssignAgentTaskKind(),
    "wait_agent": WaitAgentKind(),
    "close_agent": CloseAgentKind(),
    "interrupt_agent": CloseAgentKind(),
}
_PREVIEW = 200


def timestamp_ms(value: str | None) -> int | None:
    """``2026-12-01T20:23:23.460Z`` as unix milliseconds (None if absent or not a timestamp)."""
    if not value:
        return None
    try:
        moment = _dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.UTC)
    return int(moment.timestamp() * 1000)


def line_payload_id(thread_id: str, line: int) -> str:
    """The raw payload id of one line of a thread's rollout file (what the inspector reads)."""
    return f"rollout:{thread_id}:{line}"


def tool_kind(item: JsonObject) -> ToolCallKind:
    name = item.get("name")
    name = name if isinstance(name, str) else str(item.get("type"))
    namespace = item.get("namespace")
    if isinstance(namespace, str) and namespace.startswith("mcp__"):
        return McpKind(namespace[len("mcp__") :], name)
    if name == "exec_command" or item.get("type") == "local_shell_call":
        return ExecCommandKind()
    if name == "write_stdin":
        return WriteStdinKind()
    if name == "apply_patch":
        return ApplyPatchKind()
    if name in ("web_search", "web_search_call"):
        return WebKind()
    if isinstance(namespace, str) and namespace in ("collaboration", "multi_agent_v1") and name in _AGENT_TOOLS:
        return _AGENT_TOOLS[name]
    return OtherKind(name)


def _preview(value: object) -> str | None:
    if isinstance(value, str):
        return truncate_summary(value)[:_PREVIEW]
    if isinstance(value, list):
        texts = [str(part.get("text", "")) for part in value if isinstance(part, dict)]
        return truncate_summary(" ".join(texts))[:_PREVIEW] if texts else None
    return None


@dataclass(slots=True)
class _Thread:
    """One rollout file's thread while it is reduced."""

    meta: SessionMeta
    rebuilder: CallRebuilder
    # Rebuild key -> conversation item id (keys are unique per file).
    items: dict[str, str] = field(default_factory=dict)
    # Rebuilt call index -> inference call id.
    calls: dict[int, str] = field(default_factory=dict)
    # model-visible call_id -> tool call id.
    tools: dict[str, str] = field(default_factory=dict)
    turn_id: str | None = None
    # The last step applied to this thread (seq, wall time): where it ends when the files do.
    last_seq: int = 0
    last_wall: int = 0
    # Items of the open turn's user input.
    turn_inputs: list[str] = field(default_factory=list)
    snapshot: tuple[str, ...] = ()


class RolloutReducer:
    """The typed graph of a session's rollout files, built one line at a time.

    It has the surface the session and the commands use of a bundle ``Reducer``: ``rollout``,
    ``snapshots``, ``fault``, ``events_applied``, ``apply``, ``finish``, ``live_context``,
    ``to_json``. Positions (``seq``) count lines across the session's files in applied order.
    """

    def __init__(self) -> None:
        self.rollout = RolloutTrace(3, "", "", 0, recording_status="unclosed")
        self.snapshots: dict[str, list[str]] = {}
        self.fault: Fault | None = None
        self.events_applied = 0
        self.change = Change(0, "")
        self.skipped_events: list[tuple[int, str]] = []
        self.manifest: dict[str, object] = {}
        self.threads: dict[str, _Thread] = {}
        self._next_item = 1
        self._seq = 0
        self._wall = 0

    # ----- the bundle reducer's surface --------------------------------------------------------------
    @property
    def schema_version(self) -> int:
        return self.rollout.schema_version

    @property
    def recording_completed(self) -> bool:
        """Offline, the files were read to their end (a session can always be resumed, though)."""
        return self.rollout.recording_status == "complete"

    def apply(self, event: JsonValue, line: int | None = None) -> Change:
        """Apply one step recorded by ``step_envelope`` (how a session replays its records)."""
        if not isinstance(event, dict):
            raise ReduceError("a rollout step is not an object")
        record = event.get("rollout_record")
        thread = event.get("thread_id")
        number = event.get("rollout_line")
        try:
            parsed = parse_record(record, number if isinstance(number, int) else line or 0, 0)
        except RecordError as error:
            raise ReduceError(str(error)) from None
        return self.apply_line(thread if isinstance(thread, str) else None, parsed)

    def record_fault(self, fault: Fault) -> None:
        if self.fault is None:
            self.fault = fault

    def finish(self) -> None:
        """The files are read to their end (offline): each thread ends with its last line."""
        self.rollout.recording_status = "complete"
        self._update_status()
        for thread in self.threads.values():
            record = self.rollout.threads.get(thread.meta.thread_id)
            if record is None or not record.execution.running:
                continue
            turns = [t for t in self.rollout.codex_turns.values() if t.thread_id == thread.meta.thread_id]
            last = max(turns, key=lambda turn: turn.execution.started_seq) if turns else None
            status: ExecutionStatus = last.execution.status if last is not None else "completed"
            record.execution.close(thread.last_seq, thread.last_wall, status)

    def _update_status(self) -> None:
        """The session's status is its root thread's last turn's (running while that turn is open)."""
        root = self.rollout.root_thread_id
        turns = [turn for turn in self.rollout.codex_turns.values() if turn.thread_id == root]
        if not turns:
            return
        last = max(turns, key=lambda turn: turn.execution.started_seq)
        status = last.execution.status
        if status == "running":
            self.rollout.status = "running"
            self.rollout.ended_at_unix_ms = None
            return
        self.rollout.status = "failed" if status == "failed" else "aborted" if status == "cancelled" else "completed"
        self.rollout.ended_at_unix_ms = last.execution.ended_at_unix_ms

    def live_context(self, thread_id: str | None = None) -> list[str]:
        return list(self.snapshots.get(thread_id or self.rollout.root_thread_id, []))

    def state_json(self) -> bytes:
        return to_state_json(self.rollout)

    def to_json(self) -> dict[str, JsonValue]:
        state = to_builtins(self.rollout)
        assert isinstance(state, dict)
        return state

    # ----- steps -------------------------------------------------------------------------------------
    def apply_line(self, thread_id: str | None, line: RolloutLine) -> Change:
        """Apply one line of the thread's file (``thread_id`` None for a file's first line)."""
        if self.fault is not None:
            raise ReduceError(f"replay already stopped: {self.fault}")
        self._seq = self.events_applied + 1
        self._wall = timestamp_ms(line.timestamp) or self._wall
        self.change = Change(self._seq, self.step_type(thread_id, line))
        thread = self.threads.get(thread_id) if thread_id is not None else None
        if thread is None:
            if line.type != "session_meta":
                raise ReduceError("a rollout line before its file's session_meta")
            thread = self._thread_started(line)
        elif line.type == "session_meta":
            pass  # a forked child's copy of its parent's session_meta
        else:
            self._register(thread, line)
            changed = thread.rebuilder.apply(line)
            if line.type == "response_item":
                self._response_item(thread, line, changed)
            elif line.type == "compacted":
                self._compacted(thread, line, changed)
            elif line.type == "event_msg":
                self._event(thread, line)
            elif line.type == "turn_context":
                self._turn_context(thread, line)
            for call in changed:
                self._sync_call(thread, call)
        self._sync_snapshot(thread)
        thread.last_seq, thread.last_wall = self._seq, self._wall
        self.events_applied += 1
        return self.change

    def step_type(self, thread_id: str | None, line: RolloutLine) -> str:
        """What the step is, named like the bundle event it corresponds to (else ``rollout.<type>``)."""
        thread = self.threads.get(thread_id) if thread_id is not None else None
        if line.type == "session_meta":
            return STEP_THREAD if thread is None else "rollout.session_meta"
        if line.type == "event_msg":
            if line.subtype == "task_started":
                return STEP_TURN_STARTED
            if line.subtype in ("task_complete", "turn_aborted"):
                return STEP_TURN_ENDED
            return f"rollout.event_msg.{line.subtype}"
        if line.type == "compacted":
            return STEP_COMPACTION
        return f"rollout.{line.type}" + (f".{line.subtype}" if line.subtype else "")

    # ----- threads and turns ---------------------------------------------------------------------------
    def _thread_started(self, line: RolloutLine) -> _Thread:
        from trace_viewer.rollout.records import parse_session_meta

        meta = parse_session_meta(line.payload)
        thread = _Thread(meta, CallRebuilder(meta))
        self.threads[meta.thread_id] = thread
        rollout = self.rollout
        if not rollout.root_thread_id and not meta.is_subagent:
            rollout.root_thread_id = meta.thread_id
            rollout.rollout_id = meta.session_id or meta.thread_id
            rollout.trace_id = f"rollout-{meta.thread_id}"
            rollout.started_at_unix_ms = self._wall
        parent = meta.parent_thread_id or (meta.session_id if meta.is_subagent else None)
        origin: RootOrigin | SpawnedOrigin = RootOrigin()
        if meta.is_subagent and parent:
            edge_id = f"edge:spawn:{parent}:{meta.thread_id}"
            task = (meta.agent_path or "").rsplit("/", 1)[-1]
            origin = SpawnedOrigin(parent, edge_id, task, meta.agent_role or "")
            rollout.interaction_edges[edge_id] = InteractionEdge(
                edge_id, "spawn_agent", ThreadAnchor(parent), ThreadAnchor(meta.thread_id), self._wall, None, [], []
            )
            self._note_created(edge_id)
        rollout.threads[meta.thread_id] = AgentThread(
            meta.thread_id,
            meta.agent_path or ("/root" if not meta.is_subagent else meta.thread_id),
            meta.agent_nickname,
            origin,
            new_execution(self._seq, self._wall),
            meta.model,
        )
        self._note_created(meta.thread_id)
        self._register(thread, line)
        base = thread.rebuilder.base
        if base is not None:
            self._item(thread, BASE_KEY, base, HarnessProducer(), line.line)
        return thread

    def _event(self, thread: _Thread, line: RolloutLine) -> None:
        if thread.rebuilder.is_inherited(line):
            return  # a forked child's copy of the parent turn that spawned it
        payload = line.payload
        turn_id = payload.get("turn_id")
        if line.subtype == "task_started" and isinstance(turn_id, str):
            thread.turn_id = turn_id
            thread.turn_inputs = []
            if turn_id not in self.rollout.codex_turns:
                self.rollout.codex_turns[turn_id] = CodexTurn(
                    turn_id, thread.meta.thread_id, new_execution(self._seq, self._wall)
                )
                self._note_created(turn_id)
                if thread.meta.thread_id == self.rollout.root_thread_id:
                    self._update_status()
        elif line.subtype in ("task_complete", "turn_aborted"):
            key = turn_id if isinstance(turn_id, str) else thread.turn_id
            turn = self.rollout.codex_turns.get(key or "")
            if turn is not None and turn.execution.running:
                status: ExecutionStatus = "completed"
                if line.subtype == "turn_aborted":
                    status = "cancelled"
                elif payload.get("error"):
                    status = "failed"
                turn.execution.close(self._seq, self._wall, status)
                turn.input_item_ids = list(thread.turn_inputs)
                self._note_updated(turn.codex_turn_id)
                self._close_tools(thread, key, status)
            if thread.meta.thread_id == self.rollout.root_thread_id:
                self._update_status()
        elif line.subtype == "item_completed":
            self._ui_item(thread, payload.get("item"))

    def _turn_context(self, thread: _Thread, line: RolloutLine) -> None:
        model = line.payload.get("model")
        record = self.rollout.threads.get(thread.meta.thread_id)
        if record is not None and isinstance(model, str) and record.default_model is None:
            record.default_model = model
            self._note_updated(record.thread_id)

    # ----- history -------------------------------------------------------------------------------------
    def _register(self, thread: _Thread, line: RolloutLine) -> str:
        payload_id = line_payload_id(thread.meta.thread_id, line.line)
        self.rollout.raw_payloads[payload_id] = RawPayload(
            payload_id, PayloadKind(LINE_PAYLOAD_KIND), path=f"line {line.line}"
        )
        return payload_id

    def _normalize(self, item: JsonObject, payload_id: str) -> NormalizedItem:
        try:
            return normalize_model_item(item, payload_id)
        except ReduceError:
            # An item type this viewer does not know (newer Codex) or a synthetic one: shown as its JSON.
            role = item.get("role")
            return NormalizedItem(
                role if role in ("system", "developer", "user", "assistant", "tool") else "developer",
                None,
                "message",
                None,
                json_body(item, payload_id),
                item.get("call_id") if isinstance(item.get("call_id"), str) else None,
            )

    def _item(self, thread: _Thread, key: str, item: JsonObject, producer: Producer, line: int) -> str:
        """The conversation item of a history key (created the first time the key is seen).

        ``line`` is where it was read (or first needed, for what the file does not hold).
        """
        existing = thread.items.get(key)
        if existing is not None:
            return existing
        normalized = self._normalize(item, line_payload_id(thread.meta.thread_id, line))
        item_id = f"conversation_item:{self._next_item}"
        self._next_item += 1
        responses_id = item.get("id")
        self.rollout.conversation_items[item_id] = ConversationItem(
            item_id=item_id,
            responses_item_id=responses_id if isinstance(responses_id, str) else UNSET,
            thread_id=thread.meta.thread_id,
            codex_turn_id=thread.turn_id,
            first_seen_at_unix_ms=self._wall,
            role=normalized.role,
            channel=normalized.channel,
            kind=normalized.kind,
            agent_message=normalized.agent_message if normalized.agent_message is not None else UNSET,
            body=ConversationBody(normalized.parts),
            call_id=normalized.call_id,
            produced_by=[producer],
        )
        thread.items[key] = item_id
        record = self.rollout.threads.get(thread.meta.thread_id)
        if record is not None:
            record.conversation_item_ids.append(item_id)
        self._note_created(item_id)
        return item_id

    def _producer(
        self, thread: _Thread, item: JsonObject, key: str, line: RolloutLine, changed: list[ModelCall]
    ) -> Producer:
        if thread.rebuilder.is_inherited(line):
            return HarnessProducer()
        for call in changed:  # the call this line is an output of changed with it
            if key in call.output_keys:
                return InferenceProducer(self._call_id(thread, call))
        kind = item.get("type")
        if kind in OUTPUT_TYPES:
            tool = thread.tools.get(str(item.get("call_id")))
            return ToolProducer(tool) if tool is not None else HarnessProducer()
        if kind == "agent_message":
            return HarnessProducer()
        if kind == "message" and item.get("role") == "user":
            text = " ".join(str(part.get("text", "")) for part in item.get("content") or [] if isinstance(part, dict))
            return HarnessProducer() if text.lstrip().startswith("<") else UserInputProducer()
        return HarnessProducer()

    def _response_item(self, thread: _Thread, line: RolloutLine, changed: list[ModelCall]) -> None:
        key = str(line.line)
        entry = thread.rebuilder.history[-1] if thread.rebuilder.history else None
        if entry is None or entry.key != key:
            return
        for call in changed:
            self._sync_call(thread, call)  # the producing call exists before its output item
        item = entry.item
        producer = self._producer(thread, item, key, line, changed)
        item_id = self._item(thread, key, item, producer, line.line)
        if isinstance(producer, UserInputProducer):
            thread.turn_inputs.append(item_id)
        if thread.rebuilder.is_inherited(line):
            return
        kind = item.get("type")
        call_id = item.get("call_id")
        if kind in CALL_TYPES:
            self._tool_started(thread, item, item_id, line, producer)
        elif kind in OUTPUT_TYPES and isinstance(call_id, str):
            self._tool_ended(thread, call_id, item, item_id, line)

    def _compacted(self, thread: _Thread, line: RolloutLine, changed: list[ModelCall]) -> None:
        rollout = self.rollout
        compaction_id = f"compaction:{thread.meta.thread_id}:{line.line}"
        before = [item_id for item_id in thread.snapshot if item_id != thread.items.get(BASE_KEY)]
        replacement: list[str] = []
        producer = CompactionProducer(compaction_id)
        for entry in thread.rebuilder.history:
            replacement.append(self._item(thread, entry.key, entry.item, producer, line.line))
        marker = self._item(
            thread, f"marker:{line.line}", {"type": "message", "role": "assistant", "content": []}, producer, line.line
        )
        rollout.conversation_items[marker].kind = "compaction_marker"
        requests: list[str] = []
        response_id = line.payload.get("compaction_response_id")
        for call in thread.rebuilder.calls[::-1]:
            if call.compaction == "remote" and call.response_id is not None and call.response_id == response_id:
                request_id = f"compaction_request:{thread.meta.thread_id}:{call.index + 1}"
                inference = rollout.inference_calls.get(self._call_id(thread, call))
                execution = new_execution(self._seq, self._wall)
                if inference is not None:
                    execution = inference.execution
                rollout.compaction_requests[request_id] = CompactionRequest(
                    request_id,
                    compaction_id,
                    thread.meta.thread_id,
                    call.turn_id or "",
                    execution,
                    call.model or "",
                    thread.meta.model_provider or "",
                    line_payload_id(thread.meta.thread_id, call.line),
                    line_payload_id(thread.meta.thread_id, call.line),
                )
                requests.append(request_id)
                self._note_created(request_id)
                break
        rollout.compactions[compaction_id] = Compaction(
            compaction_id,
            thread.meta.thread_id,
            thread.turn_id or "",
            self._wall,
            marker,
            requests,
            before,
            replacement,
        )
        self._note_created(compaction_id)

    # ----- calls -------------------------------------------------------------------------------------------
    def _call_id(self, thread: _Thread, call: ModelCall) -> str:
        existing = thread.calls.get(call.index)
        if existing is not None:
            return existing
        call_id = f"{thread.meta.thread_id}:call:{call.index + 1}"
        thread.calls[call.index] = call_id
        return call_id

    def _sync_call(self, thread: _Thread, call: ModelCall) -> None:
        """Create or update the inference call of a rebuilt call (inputs, outputs, status, usage)."""
        rollout = self.rollout
        call_id = self._call_id(thread, call)
        inference = rollout.inference_calls.get(call_id)
        request_ids = [
            self._item(thread, key, item, HarnessProducer(), call.line)
            for key, item in zip(call.input_keys, call.input, strict=True)
        ]
        response_ids = [thread.items[key] for key in call.output_keys if key in thread.items]
        started_tools = [
            str(item.get("call_id")) for item in call.output if item.get("type") in CALL_TYPES and item.get("call_id")
        ]
        status = _CALL_STATUS.get(call.status, "running")
        if inference is None:
            inference = InferenceCall(
                inference_call_id=call_id,
                thread_id=thread.meta.thread_id,
                codex_turn_id=call.turn_id or "",
                execution=new_execution(self._seq, timestamp_ms(call.timestamp) or self._wall),
                model=call.model or "",
                provider_name=thread.meta.model_provider or "",
                response_id=None,
                upstream_request_id=None,
                request_item_ids=request_ids,
                response_item_ids=[],
                tool_call_ids_started_by_response=[],
                usage=None,
                raw_request_payload_id=line_payload_id(thread.meta.thread_id, call.line),
                raw_response_payload_id=None,
            )
            rollout.inference_calls[call_id] = inference
            self._note_created(call_id)
            if self.change.event_type.startswith("rollout."):
                self.change.event_type = STEP_CALL_STARTED
        else:
            self._note_updated(call_id)
        inference.request_item_ids = request_ids
        inference.response_item_ids = response_ids
        inference.tool_call_ids_started_by_response = [thread.tools.get(c, c) for c in started_tools]
        inference.response_id = call.response_id
        inference.usage = token_usage_from_value(call.usage) if call.usage is not None else None
        if call.end_line is not None:
            inference.raw_response_payload_id = line_payload_id(thread.meta.thread_id, call.end_line)
            if inference.execution.running and status != "running":
                inference.execution.close(self._seq, self._wall, status)
                if self.change.event_type.startswith("rollout.") and call.status == "completed":
                    self.change.event_type = STEP_CALL_ENDED
        elif status != "running" and inference.execution.running:
            inference.execution.close(self._seq, self._wall, status)

    # ----- tools -------------------------------------------------------------------------------------------
    def _tool_started(
        self, thread: _Thread, item: JsonObject, item_id: str, line: RolloutLine, producer: Producer
    ) -> None:
        call_id = item.get("call_id")
        visible = call_id if isinstance(call_id, str) else None
        tool_id = visible or f"tool:{thread.meta.thread_id}:{line.line}"
        if tool_id in self.rollout.tool_calls:
            tool_id = f"{thread.meta.thread_id}:{tool_id}"
        name = item.get("name")
        arguments = item.get("arguments", item.get("input"))
        self.rollout.tool_calls[tool_id] = ToolCall(
            tool_call_id=tool_id,
            mcp_call_id=None,
            model_visible_call_id=visible,
            code_mode_runtime_tool_id=None,
            thread_id=thread.meta.thread_id,
            started_by_codex_turn_id=thread.turn_id,
            execution=new_execution(self._seq, self._wall),
            requester=ModelRequester(),
            kind=tool_kind(item),
            model_visible_call_item_ids=[item_id],
            model_visible_output_item_ids=[],
            terminal_operation_id=None,
            summary=GenericSummary(name if isinstance(name, str) else str(item.get("type")), _preview(arguments), None),
            raw_invocation_payload_id=line_payload_id(thread.meta.thread_id, line.line),
            raw_result_payload_id=None,
            raw_runtime_payload_ids=[],
        )
        if visible is not None:
            thread.tools[visible] = tool_id
        self._note_created(tool_id)
        if self.change.event_type.startswith("rollout."):
            self.change.event_type = STEP_TOOL_STARTED
        if isinstance(producer, InferenceProducer):
            call = self.rollout.inference_calls.get(producer.inference_call_id)
            if call is not None and tool_id not in call.tool_call_ids_started_by_response:
                call.tool_call_ids_started_by_response.append(tool_id)

    def _tool_ended(self, thread: _Thread, call_id: str, item: JsonObject, item_id: str, line: RolloutLine) -> None:
        tool_id = thread.tools.get(call_id)
        tool = self.rollout.tool_calls.get(tool_id or "")
        if tool is None:
            return
        tool.model_visible_output_item_ids.append(item_id)
        tool.raw_result_payload_id = line_payload_id(thread.meta.thread_id, line.line)
        summary = tool.summary
        if isinstance(summary, GenericSummary):
            tool.summary = GenericSummary(summary.label, summary.input_preview, _preview(item.get("output")))
        if tool.execution.running:
            tool.execution.close(self._seq, self._wall, "completed")
        self._note_updated(tool.tool_call_id)
        if self.change.event_type.startswith("rollout."):
            self.change.event_type = STEP_TOOL_ENDED

    def _ui_item(self, thread: _Thread, item: object) -> None:
        """A UI item (``item_completed``): an MCP call names its server and tool; a command its status."""
        if not isinstance(item, dict):
            return
        tool = self.rollout.tool_calls.get(thread.tools.get(str(item.get("id")), ""))
        if tool is None:
            return
        if (
            item.get("type") == "McpToolCall"
            and isinstance(item.get("server"), str)
            and isinstance(item.get("tool"), str)
        ):
            tool.kind = McpKind(item["server"], item["tool"])
            self._note_updated(tool.tool_call_id)
        status = item.get("status")
        if isinstance(status, str) and status.lower() in ("failed", "declined") and not tool.execution.running:
            tool.execution.status = "failed"
            self._note_updated(tool.tool_call_id)

    def _close_tools(self, thread: _Thread, turn_id: str | None, status: ExecutionStatus) -> None:
        """Tool calls of an ended turn that never got an output."""
        for tool_id in thread.tools.values():
            tool = self.rollout.tool_calls.get(tool_id)
            if tool is not None and tool.execution.running and tool.started_by_codex_turn_id == turn_id:
                tool.execution.close(self._seq, self._wall, status)
                self._note_updated(tool_id)

    # ----- context -------------------------------------------------------------------------------------
    def _sync_snapshot(self, thread: _Thread) -> None:
        """The thread's live context: the base instructions and the history, as the next request sees it."""
        items = thread.items
        snapshot = tuple(
            ([items[BASE_KEY]] if BASE_KEY in items else [])
            + [items[entry.key] for entry in thread.rebuilder.history if entry.key in items]
        )
        if snapshot != thread.snapshot:
            thread.snapshot = snapshot
            self.snapshots[thread.meta.thread_id] = list(snapshot)
            if thread.meta.thread_id not in self.change.context_threads:
                self.change.context_threads.append(thread.meta.thread_id)

    def _note_created(self, object_id: str) -> None:
        self.change.created.append(object_id)

    def _note_updated(self, object_id: str) -> None:
        if object_id not in self.change.created and object_id not in self.change.updated:
            self.change.updated.append(object_id)


def step_envelope(reducer: RolloutReducer, thread_id: str, line: RolloutLine, change: Change) -> JsonObject:
    """The record of an applied line: bundle-like envelope fields, the step type and the raw line."""
    payload: JsonObject = {"type": change.event_type}
    rollout = reducer.rollout
    for object_id in (*change.created, *change.updated):
        if object_id in rollout.inference_calls:
            payload.setdefault("inference_call_id", object_id)
        elif object_id in rollout.tool_calls:
            payload.setdefault("tool_call_id", object_id)
        elif object_id in rollout.compactions:
            payload.setdefault("compaction_id", object_id)
    thread = reducer.threads.get(thread_id)
    return {
        "seq": change.seq,
        "wall_time_unix_ms": reducer._wall,
        "thread_id": thread_id,
        "codex_turn_id": thread.turn_id if thread is not None else None,
        "payload": payload,
        "rollout_line": line.line,
        "rollout_record": line.raw,
    }
