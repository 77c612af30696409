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
    InferenceCall,
    InferenceProducer,
    McpKind,
    ModelRequester,
    OtherKind,
    Producer,
    RawPayload,
    RolloutTrace,
    SendMessageKind,
    SpawnAgentKind,
    ToolCall,
    ToolCallKind,
    ToolProducer,
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
from trace_viewer.reducer.rollout_agents import RolloutAgents
from trace_viewer.reducer.threads import spawn_edge_id, task_name_from_agent_path
from trace_viewer.rollout.rebuild import ABORTED_PREFIX, BASE_KEY, CALL_TYPES, OUTPUT_TYPES, CallRebuilder, ModelCall
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
_CALL_ENDED: dict[ExecutionStatus, str] = {
    "completed": STEP_CALL_ENDED,
    "failed": "inference_failed",
    "cancelled": "inference_cancelled",
    "running": STEP_CALL_ENDED,
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


# How Codex words a tool call it failed (FunctionCallError::RespondToModel and code mode): a rollout
# does not record a call's success flag, so these are what it can be told by. Checked against the
# bundles of the same runs (tests/test_rollout_bundle_model.py); any other output counts as success.
_FAILED_OUTPUT_PREFIXES = (
    "failed to parse function arguments",
    "unsupported call: ",
    "unsupported custom tool call: ",
    "write_stdin failed: ",
    "apply_patch verification failed: ",
    "Script failed\n",
)


def tool_output_failed(item: JsonObject) -> bool:
    """The tool output is Codex's report of a failed call (by its wording; see the prefixes)."""
    output = item.get("output")
    if isinstance(output, list):  # code mode: a list of input_text parts, the status first
        first = output[0] if output else None
        output = first.get("text") if isinstance(first, dict) else None
    return isinstance(output, str) and output.startswith(_FAILED_OUTPUT_PREFIXES)


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
    # Rebuilt call index -> inference call id (model calls of turns) or compaction request id.
    calls: dict[int, str] = field(default_factory=dict)
    # Rebuilt call index of a compaction request -> the compaction it asked for.
    compaction_of: dict[int, str] = field(default_factory=dict)
    # The compaction a local compaction request started and its `compacted` line will install.
    pending_compaction: str | None = None
    compactions: int = 0
    # (seq, wall time) of each applied line of the file: where a call that became known later started.
    steps: dict[int, tuple[int, int]] = field(default_factory=dict)
    # Responses id -> (wall, seq) of the line that accepted it into history: every item of the thread
    # with that id is accepted then (a compaction's copy of a retained message too), as in a bundle.
    acceptances: dict[str, tuple[int, int]] = field(default_factory=dict)
    # model-visible call_ids of MCP calls whose UI item reported an error before their output.
    failed_ui: set[str] = field(default_factory=set)
    # model-visible call_id -> tool call id.
    tools: dict[str, str] = field(default_factory=dict)
    turn_id: str | None = None
    # The last step applied to this thread (seq, wall time): where it ends when the files do.
    last_seq: int = 0
    last_wall: int = 0
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
        self.agents = RolloutAgents(self.rollout, self._note_created, self._note_updated)
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
        """The files are read to their end (offline).

        As in a bundle whose Codex exited normally, a thread with no open turn ends ``completed``
        at its last line (a failed or interrupted turn keeps its own status); a thread whose turn
        is still open stays running, as a killed recording's does. Spawn edges whose task item
        never appeared end on the child thread.
        """
        self.rollout.recording_status = "complete"
        self._update_status()
        self.agents.finish()
        open_threads = {t.thread_id for t in self.rollout.codex_turns.values() if t.execution.running}
        for thread in self.threads.values():
            record = self.rollout.threads.get(thread.meta.thread_id)
            if record is not None and record.execution.running and record.thread_id not in open_threads:
                record.execution.close(thread.last_seq, thread.last_wall, "completed")

    def _update_status(self) -> None:
        """Running while the root thread has an open turn; else completed (a bundle's status is the
        recording's, not its last turn's: a failed or interrupted turn keeps its status on the turn)."""
        root = self.rollout.root_thread_id
        turns = [turn for turn in self.rollout.codex_turns.values() if turn.thread_id == root]
        if not turns:
            return
        last = max(turns, key=lambda turn: turn.execution.started_seq)
        if last.execution.running:
            self.rollout.status = "running"
            self.rollout.ended_at_unix_ms = None
            return
        self.rollout.status = "completed"
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
            thread.steps[line.line] = (self._seq, self._wall)
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
        # A multi-agent v1 child has no agent path: Codex names it /root in the bundle, so do we.
        agent_path = meta.agent_path or "/root"
        origin: RootOrigin | SpawnedOrigin = RootOrigin()
        if meta.is_subagent and parent:
            # The edge itself comes from the parent's spawn tool call (rollout_agents).
            origin = SpawnedOrigin(
                parent,
                spawn_edge_id(parent, meta.thread_id),
                task_name_from_agent_path(agent_path),
                meta.agent_role or "",
            )
        rollout.threads[meta.thread_id] = AgentThread(
            meta.thread_id,
            agent_path,
            meta.agent_nickname,
            origin,
            new_execution(self._seq, self._wall),
            meta.model,
        )
        self._note_created(meta.thread_id)
        self.agents.thread_started(meta.thread_id)
        thread.steps[line.line] = (self._seq, self._wall)
        self._register(thread, line)
        base = thread.rebuilder.base
        if base is not None:
            self._item(thread, BASE_KEY, base, None, line.line)
        return thread

    def _event(self, thread: _Thread, line: RolloutLine) -> None:
        if thread.rebuilder.is_inherited(line):
            return  # a forked child's copy of the parent turn that spawned it
        payload = line.payload
        turn_id = payload.get("turn_id")
        if line.subtype == "task_started" and isinstance(turn_id, str):
            thread.turn_id = turn_id
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
                thread.pending_compaction = None  # a local compaction whose `compacted` never came
                self._note_updated(turn.codex_turn_id)
                self._close_tools(thread, key, status)
            if thread.meta.thread_id == self.rollout.root_thread_id:
                self._update_status()
        elif line.subtype == "item_completed":
            self._ui_item(thread, payload.get("item"), line)

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

    def _item(self, thread: _Thread, key: str, item: JsonObject, producer: Producer | None, line: int) -> str:
        """The conversation item of a history key (created the first time the key is seen).

        ``line`` is where it was read (or first needed, for what the file does not hold). As in a
        bundle, only a model response, a tool or a compaction is a producer: the user's and the
        harness's messages are request input with none.
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
            produced_by=[producer] if producer is not None else [],
        )
        accepted = thread.acceptances.get(responses_id) if isinstance(responses_id, str) else None
        if accepted is not None:
            created = self.rollout.conversation_items[item_id]
            created.accepted_at_unix_ms, created.accepted_seq = accepted
        thread.items[key] = item_id
        record = self.rollout.threads.get(thread.meta.thread_id)
        if record is not None:
            record.conversation_item_ids.append(item_id)
        self._note_created(item_id)
        return item_id

    def _producer(
        self, thread: _Thread, item: JsonObject, key: str, line: RolloutLine, changed: list[ModelCall]
    ) -> Producer | None:
        kind = item.get("type")
        if thread.rebuilder.is_inherited(line):  # a forked child's copy: a tool output is still that tool's
            tool = self._tool_of(str(item.get("call_id"))) if kind in OUTPUT_TYPES else None
            return ToolProducer(tool.tool_call_id) if tool is not None else None
        for call in changed:  # the call this line is an output of changed with it
            if key in call.output_keys:
                if call.kind == "compaction":  # a local compaction's summary
                    return CompactionProducer(thread.compaction_of[call.index])
                return InferenceProducer(self._call_id(thread, call))
        if kind in OUTPUT_TYPES:
            tool_id = thread.tools.get(str(item.get("call_id")))
            return ToolProducer(tool_id) if tool_id is not None else None
        return None

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
        conversation_item = self.rollout.conversation_items[item_id]
        kind = item.get("type")
        call_id = item.get("call_id")
        if thread.rebuilder.is_inherited(line):
            # A forked child's copy of its parent's history: a copied tool call and its output are
            # that tool's items too (the bundle links them the same way).
            tool = self._tool_of(str(call_id)) if kind in CALL_TYPES or kind in OUTPUT_TYPES else None
            if tool is not None:
                ids = tool.model_visible_call_item_ids if kind in CALL_TYPES else tool.model_visible_output_item_ids
                ids.append(item_id)
                self._note_updated(tool.tool_call_id)
            return
        # A response_item line is the item accepted into the thread's history.
        responses_id = conversation_item.responses_item_id
        if isinstance(responses_id, str) and responses_id not in thread.acceptances:
            thread.acceptances[responses_id] = (self._wall, self._seq)
        if conversation_item.accepted_seq is UNSET:
            conversation_item.accepted_at_unix_ms, conversation_item.accepted_seq = self._wall, self._seq
        self.agents.item_added(conversation_item)
        if kind in CALL_TYPES:
            self._tool_started(thread, item, item_id, line, producer)
        elif kind in OUTPUT_TYPES and isinstance(call_id, str):
            self._tool_ended(thread, call_id, item, item_id, line)

    def _compacted(self, thread: _Thread, line: RolloutLine, changed: list[ModelCall]) -> None:
        """History replaced: the compaction, its replacement items, and the request that asked for it
        (a local one started at its summary; a remote one is known once this line names its response)."""
        rollout = self.rollout
        compaction_id = thread.pending_compaction or self._new_compaction_id(thread)
        thread.pending_compaction = None
        response_id = line.payload.get("compaction_response_id")
        for call in changed:
            if call.compaction == "remote" and call.response_id is not None and call.response_id == response_id:
                thread.compaction_of[call.index] = compaction_id
                self._sync_compaction_request(thread, call)
        before = [item_id for item_id in thread.snapshot if item_id != thread.items.get(BASE_KEY)]
        producer = CompactionProducer(compaction_id)
        replacement = [
            self._item(thread, entry.key, entry.item, producer, line.line) for entry in thread.rebuilder.history
        ]
        marker = self._item(
            thread, f"marker:{line.line}", {"type": "message", "role": "assistant", "content": []}, producer, line.line
        )
        rollout.conversation_items[marker].kind = "compaction_marker"
        requests = [thread.calls[index] for index, owner in thread.compaction_of.items() if owner == compaction_id]
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

    def _new_compaction_id(self, thread: _Thread) -> str:
        thread.compactions += 1
        return f"compaction:{thread.meta.thread_id}:{thread.compactions}"

    # ----- calls -------------------------------------------------------------------------------------------
    def _call_id(self, thread: _Thread, call: ModelCall) -> str:
        """``<thread>:call:<n>``: n is the call's number in ``trace-viewer calls`` (compactions counted)."""
        existing = thread.calls.get(call.index)
        if existing is not None:
            return existing
        call_id = f"{thread.meta.thread_id}:call:{call.index + 1}"
        thread.calls[call.index] = call_id
        return call_id

    def _input_item(self, thread: _Thread, key: str, item: JsonObject, line: int) -> str:
        """An input item of a call: history (already an item) or what Codex added to the request.

        An ``aborted`` output Codex synthesises for an unanswered call is that tool call's output,
        as a bundle records it (a forked child's copy of its parent's spawn call gets one)."""
        if key in thread.items or not key.startswith(ABORTED_PREFIX):
            return self._item(thread, key, item, None, line)
        tool = self._tool_of(str(item.get("call_id")))
        producer = ToolProducer(tool.tool_call_id) if tool is not None else None
        item_id = self._item(thread, key, item, producer, line)
        if tool is not None:
            tool.model_visible_output_item_ids.append(item_id)
            self._note_updated(tool.tool_call_id)
        return item_id

    def _tool_of(self, call_id: str) -> ToolCall | None:
        """The tool call a model-visible call id names, in any thread (a forked child re-sends its parent's)."""
        for thread in self.threads.values():
            tool_id = thread.tools.get(call_id)
            if tool_id is not None:
                return self.rollout.tool_calls.get(tool_id)
        return None

    def _step(self, thread: _Thread, line: int | None) -> tuple[int, int]:
        """(seq, wall time) at which a line of the thread's file was applied (now, if it is not yet)."""
        step = thread.steps.get(line) if line is not None else None
        return step if step is not None else (self._seq, self._wall)

    def _sync_call(self, thread: _Thread, call: ModelCall) -> None:
        """Create or update what a rebuilt call is in the graph: an inference call (a turn's request)
        or, as bundles record them, a compaction request."""
        if call.kind == "compaction":
            if call is not thread.rebuilder.unconfirmed_compaction:  # remote: only `compacted` confirms it
                self._sync_compaction_request(thread, call)
            return
        rollout = self.rollout
        call_id = self._call_id(thread, call)
        inference = rollout.inference_calls.get(call_id)
        status = _CALL_STATUS.get(call.status, "running")
        if inference is None:
            seq, wall = self._step(thread, call.line)
            inference = InferenceCall(
                inference_call_id=call_id,
                thread_id=thread.meta.thread_id,
                codex_turn_id=call.turn_id or "",
                execution=new_execution(seq, wall),
                model=call.model or "",
                provider_name=thread.meta.model_provider or "",
                response_id=None,
                upstream_request_id=None,
                # A call's input is fixed when it becomes known (one item per input key).
                request_item_ids=[
                    self._input_item(thread, key, item, call.line)
                    for key, item in zip(call.input_keys, call.input, strict=True)
                ],
                response_item_ids=[],
                tool_call_ids_started_by_response=[],
                usage=None,
                raw_request_payload_id=line_payload_id(thread.meta.thread_id, call.line),
                raw_response_payload_id=None,
            )
            rollout.inference_calls[call_id] = inference
            self._note_created(call_id)
            self._name_step(STEP_CALL_STARTED)
        else:
            self._note_updated(call_id)
        inference.response_item_ids = [thread.items[key] for key in call.output_keys if key in thread.items]
        inference.tool_call_ids_started_by_response = [
            thread.tools.get(str(item.get("call_id")), str(item.get("call_id")))
            for item in call.output
            if item.get("type") in CALL_TYPES and item.get("call_id")
        ]
        inference.response_id = call.response_id
        inference.usage = token_usage_from_value(call.usage) if call.usage is not None else None
        if call.end_line is not None:
            inference.raw_response_payload_id = line_payload_id(thread.meta.thread_id, call.end_line)
        if status != "running" and inference.execution.running:
            seq, wall = self._step(thread, call.end_line)
            inference.execution.close(seq, wall, status)
            self._name_step(_CALL_ENDED[status])

    def _sync_compaction_request(self, thread: _Thread, call: ModelCall) -> None:
        rollout = self.rollout
        request_id = thread.calls.get(call.index)
        if request_id is None:
            request_id = thread.calls[call.index] = f"compaction_request:{thread.meta.thread_id}:{call.index + 1}"
        compaction_id = thread.compaction_of.get(call.index)
        if compaction_id is None:  # local: the summary came first; the next `compacted` installs it
            compaction_id = thread.compaction_of[call.index] = thread.pending_compaction = self._new_compaction_id(
                thread
            )
        request = rollout.compaction_requests.get(request_id)
        if request is None:
            seq, wall = self._step(thread, call.line)
            request = CompactionRequest(
                request_id,
                compaction_id,
                thread.meta.thread_id,
                call.turn_id or "",
                new_execution(seq, wall),
                call.model or "",
                thread.meta.model_provider or "",
                line_payload_id(thread.meta.thread_id, call.line),
                None,
            )
            rollout.compaction_requests[request_id] = request
            self._note_created(request_id)
            self._name_step("compaction_request_started")
        else:
            self._note_updated(request_id)
        if call.end_line is not None:
            request.raw_response_payload_id = line_payload_id(thread.meta.thread_id, call.end_line)
        status = _CALL_STATUS.get(call.status, "running")
        if status != "running" and request.execution.running:
            seq, wall = self._step(thread, call.end_line)
            request.execution.close(seq, wall, status)
            self._name_step("compaction_request_completed" if status == "completed" else "compaction_request_failed")

    def _name_step(self, event_type: str) -> None:
        """Name the step after the first bundle event it amounts to (a line of its own type until then)."""
        if self.change.event_type.startswith("rollout."):
            self.change.event_type = event_type

    # ----- tools -------------------------------------------------------------------------------------------
    def _tool_started(
        self, thread: _Thread, item: JsonObject, item_id: str, line: RolloutLine, producer: Producer | None
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
            failed = call_id in thread.failed_ui or tool_output_failed(item)
            tool.execution.close(self._seq, self._wall, "failed" if failed else "completed")
        self._note_updated(tool.tool_call_id)
        self.agents.tool_result(tool)
        if self.change.event_type.startswith("rollout."):
            self.change.event_type = STEP_TOOL_ENDED

    def _ui_item(self, thread: _Thread, item: object, line: RolloutLine) -> None:
        """A UI item (``item_completed``) about a tool call: kept as its runtime payload; an MCP call
        names its server and tool and reports an error; an agent tool names the other thread."""
        if not isinstance(item, dict):
            return
        call_id = str(item.get("id"))
        tool = self.rollout.tool_calls.get(thread.tools.get(call_id, ""))
        kind = item.get("type")
        payload_id = line_payload_id(thread.meta.thread_id, line.line)
        if tool is not None:
            tool.raw_runtime_payload_ids.append(payload_id)
            self._note_updated(tool.tool_call_id)
        if kind in ("SubAgentActivity", "CollabAgentToolCall"):
            self.agents.activity(thread.meta.thread_id, item, tool, payload_id, self._wall)
        if tool is None:
            return
        if kind == "McpToolCall":
            server, name = item.get("server"), item.get("tool")
            if isinstance(server, str) and isinstance(name, str):
                tool.kind = McpKind(server, name)
            if item.get("status") == "failed":
                # Before the output (as Codex writes it) the output closes the call as failed; after, now.
                if tool.execution.running:
                    thread.failed_ui.add(call_id)
                else:
                    tool.execution.status = "failed"

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
