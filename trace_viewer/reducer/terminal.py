"""Terminal sessions and operations for exec-like tools (exec_command, write_stdin).

Terminal activity arrives as ordinary tool lifecycle events. An exec_command operation starts
from the runtime begin payload (process id, command, cwd) and ends from the runtime end payload.
write_stdin has no runtime events: its operation starts from the dispatch invocation (the
`session_id` argument names the process) and ends from the dispatch result.

Sessions are not keyed by process id: each is named after the operation that created it
(`terminal_session:<operation id>`), and a map from process id to session decides which session
a later write joins. An exec that reports a process id always opens a new session (process ids
get reused); a write joins the mapped session or opens one. `stdin_target_resolved` can then move
a write to the session of the exec it really targets. Sessions never end: no event reports a
terminal shutting down.
"""

from __future__ import annotations

import json
from typing import Literal

from trace_viewer.model import (
    ExecCommandKind,
    ExecCommandRequest,
    ExecutionStatus,
    RawPayload,
    TerminalModelObservation,
    TerminalOperation,
    TerminalRequest,
    TerminalResult,
    TerminalSession,
    ToolCallKind,
    WriteStdinKind,
    WriteStdinRequest,
    new_execution,
)
from trace_viewer.reducer.core import ReducerCore
from trace_viewer.reducer.errors import ReduceError
from trace_viewer.reducer.events import Envelope, StdinTargetResolved
from trace_viewer.reducer.fields import (
    I32,
    U64,
    FieldError,
    JsonValue,
    RawNumber,
    Struct,
    field,
    integer_reader,
    literal_text,
    loads_with_raw_numbers,
    optional,
    push_unique,
    read_map,
    read_str,
    read_str_list,
)
from trace_viewer.reducer.interfaces import Parts

OperationKind = Literal["exec_command", "write_stdin"]

_EXEC_END = Struct(
    "ExecCommandEndEvent",
    (
        field("process_id", optional(read_str), None),
        field("aggregated_output", read_str, ""),
        field("exit_code", integer_reader("i32", I32)),
    ),
    expecting="a map",
)
_UNIFIED_EXEC_RESULT = Struct(
    "UnifiedExecResult",
    (
        field("output", read_str),
        field("exit_code", optional(integer_reader("i32", I32)), None),
        field("original_token_count", optional(integer_reader("usize", U64)), None),
        field("chunk_id", optional(read_str), None),
    ),
    expecting="a map",
)
_RUNTIME_START = Struct(
    "ExecCommandBeginEvent",
    (
        field("process_id", optional(read_str), None),
        field("command", read_str_list),
        field("cwd", read_str),
        field("interaction_input", optional(read_str), None),
    ),
    expecting="a map",
)
_DISPATCH = Struct("DispatchPayload", (field("tool_name", read_str), field("payload", read_map)), expecting="a map")
_DISPATCH_FUNCTION = Struct(
    "DispatchFunctionPayload",
    (field("type", read_str), field("arguments", optional(read_str), None)),
    expecting="a map",
)
_WRITE_STDIN_ARGUMENTS = Struct(
    "WriteStdinArguments",
    (
        field("chars", read_str, ""),
        field("yield_time_ms", optional(integer_reader("u64", U64)), None),
        field("max_output_tokens", optional(integer_reader("usize", U64)), None),
    ),
    expecting="a map",
)


def _compact_json(value: JsonValue) -> str:
    """Compact JSON like serde's `to_string` (no spaces, raw UTF-8)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _text_content(value: JsonValue) -> str | None:
    """Tool output as text: a string as is, text parts joined by newlines, other JSON compact."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        texts: list[str] = []
        for entry in value:
            text = entry.get("text") if isinstance(entry, dict) else None
            if isinstance(text, str):
                texts.append(text)
        return "\n".join(texts) or None
    if value is None:
        return None
    return _compact_json(value)


def _text_result(value: JsonValue) -> TerminalResult:
    text = _text_content(value)
    if text is None:
        text = _compact_json(value)
    return TerminalResult(None, text, "", text)


def parse_exec_end_payload(value: JsonValue) -> tuple[str | None, TerminalResult]:
    """(process id, result) from an exec end payload: the aggregated output is the stdout."""
    end = _EXEC_END.read(value)
    return end.opt_text("process_id"), TerminalResult(end.number("exit_code"), end.text("aggregated_output"), "", None)


def parse_dispatch_response_payload(value: JsonValue) -> TerminalResult:
    """Terminal result from a dispatch result payload (direct response, code-mode value or error)."""
    obj = read_map(value)
    variant = obj.get("type")
    if variant == "direct_response":
        if "response_item" not in obj:
            raise FieldError("missing field `response_item`")
        response_item = obj["response_item"]
        output = response_item.get("output") if isinstance(response_item, dict) else None
        text = _text_content(output)
        if text is None:
            text = _compact_json(response_item)
        return TerminalResult(None, text, "", text)
    if variant == "code_mode_response":
        if "value" not in obj:
            raise FieldError("missing field `value`")
        return _code_mode_exec_result(obj["value"])
    if variant == "error":
        error = Struct("DispatchError", (field("error", read_str),)).read(obj).text("error")
        return TerminalResult(None, "", error, error)
    if variant is None:
        raise FieldError("missing field `type`")
    raise FieldError(f"unknown variant `{variant}`, expected one of `direct_response`, `code_mode_response`, `error`")


def _code_mode_exec_result(value: JsonValue) -> TerminalResult:
    """Code mode hands JS the structured unified-exec result; fall back to its text."""
    if isinstance(value, dict):
        try:
            result = _UNIFIED_EXEC_RESULT.read(value)
        except FieldError:
            pass
        else:
            output = result.text("output")
            return TerminalResult(
                result.opt_number("exit_code"),
                output,
                "",
                output,
                result.opt_number("original_token_count"),
                result.opt_text("chunk_id"),
            )
    return _text_result(value)


def _operation_kind(kind: ToolCallKind) -> OperationKind | None:
    if isinstance(kind, ExecCommandKind):
        return "exec_command"
    if isinstance(kind, WriteStdinKind):
        return "write_stdin"
    return None


class TerminalsReducer:
    """Terminal operations/sessions built from exec_command and write_stdin tool calls."""

    def __init__(self, core: ReducerCore) -> None:
        self.core = core
        self.sessions = core.rollout.terminal_sessions
        self.operations = core.rollout.terminal_operations
        self.next_operation_ordinal = 1
        # Runtime process id (write_stdin `session_id`) → the session a later write joins.
        self._session_ids_by_process: dict[str, str] = {}
        # Operation id → the process id it reported, to catch a begin/end mismatch.
        self._process_ids: dict[str, str] = {}

    def connect(self, parts: Parts) -> None:
        self.parts = parts

    # ----- handler -----------------------------------------------------------------------------------
    def stdin_target_resolved(self, envelope: Envelope, event: StdinTargetResolved) -> None:
        """Move a write's operation to the session of the operation it was resolved to.

        Resolution beats the process-id lookup. It only acts when both calls already have
        operations and the target's has a session; otherwise it is dropped.
        """
        write_call = self.parts.tools.tool_call(event.tool_call_id)
        if write_call is None:
            raise ReduceError(f"stdin target referenced unknown call {event.tool_call_id}")
        target_call = self.parts.tools.tool_call(event.exec_tool_call_id)
        if target_call is None:
            raise ReduceError(f"stdin target referenced unknown exec {event.exec_tool_call_id}")
        operation = self.operations.get(write_call.terminal_operation_id or "")
        target = self.operations.get(target_call.terminal_operation_id or "")
        if operation is None or target is None or target.terminal_id is None:
            return
        new_session_id = target.terminal_id
        old_session_id = operation.terminal_id
        if old_session_id == new_session_id:
            return
        operation_id = operation.operation_id
        if old_session_id is not None and old_session_id in self.sessions:
            old_session = self.sessions[old_session_id]
            if operation_id in old_session.operation_ids:
                old_session.operation_ids.remove(operation_id)
            # A session left with no operation was only a guess from an unknown id: drop it.
            if not old_session.operation_ids:
                del self.sessions[old_session_id]
            else:
                self.core.note_updated(old_session_id)
        operation.terminal_id = new_session_id
        self.core.note_updated(operation_id)
        session = self.sessions.get(new_session_id)
        if session is not None and push_unique(session.operation_ids, operation_id):
            self.core.note_updated(new_session_id)

    # ----- the Terminals interface ------------------------------------------------------------------
    def start_from_invocation(
        self,
        seq: int,
        wall_time_unix_ms: int,
        thread_id: str,
        tool_call_id: str,
        kind: ToolCallKind,
        invocation: RawPayload | None,
    ) -> str | None:
        """A write_stdin operation from its dispatch invocation (no runtime begin event exists)."""
        if not isinstance(kind, WriteStdinKind) or invocation is None:
            # A missing invocation keeps the tool call but invents no lossy terminal row.
            return None
        request = self._write_stdin_request(self.core.read_payload(invocation), invocation.raw_payload_id)
        if request is None:
            return None
        process_id, terminal_request = request
        return self._insert(
            seq, wall_time_unix_ms, thread_id, tool_call_id, "write_stdin", invocation, process_id, terminal_request
        )

    def _write_stdin_request(self, value: JsonValue, raw_payload_id: str) -> tuple[str, WriteStdinRequest] | None:
        """(process id, request) from a write_stdin dispatch invocation.

        Schema 2 on records no operation when the arguments are unusable (no or empty
        `session_id`, bad JSON, wrong field types); schema 1 refuses the payload.
        """
        context = f"parse terminal invocation payload {raw_payload_id} as dispatch payload"
        try:
            dispatch = _DISPATCH.read(value)
            inner = _DISPATCH_FUNCTION.read(dispatch.map("payload"))
        except FieldError as error:
            raise error.fault(context) from None
        tool_name = dispatch.text("tool_name")
        payload_type = inner.text("type")
        arguments = inner.opt_text("arguments")
        if tool_name != "write_stdin":
            raise ReduceError(f"{context}: dispatch terminal request is for {tool_name}, not write_stdin")
        if payload_type != "function":
            raise ReduceError(f"{context}: write_stdin dispatch payload used unsupported {payload_type} payload")
        if arguments is None:
            raise ReduceError(f"{context}: write_stdin dispatch payload omitted function arguments")
        lenient = self.core.schema_version >= 2
        # Numbers keep their source text: a numeric session id must match a process id string.
        try:
            args = read_map(loads_with_raw_numbers(arguments))
            if "session_id" not in args:
                raise FieldError("missing field `session_id`")
            fields = _WRITE_STDIN_ARGUMENTS.read(args)
        except FieldError as error:
            if lenient:
                return None
            raise ReduceError(f"{context}: parse write_stdin dispatch function arguments: {error.message}") from None
        except ValueError as error:
            if lenient:
                return None
            raise ReduceError(f"{context}: parse write_stdin dispatch function arguments: {error}") from None
        session_id = args["session_id"]
        if isinstance(session_id, RawNumber):
            process_id = literal_text(session_id)
        elif isinstance(session_id, str) and session_id:
            process_id = session_id
        else:
            if lenient:
                return None
            raise ReduceError(f"{context}: write_stdin dispatch payload omitted session_id")
        request = WriteStdinRequest(
            fields.text("chars"), fields.opt_number("yield_time_ms"), fields.opt_number("max_output_tokens")
        )
        return process_id, request

    def start_from_runtime(
        self,
        seq: int,
        wall_time_unix_ms: int,
        thread_id: str,
        tool_call_id: str,
        kind: ToolCallKind,
        runtime: RawPayload,
    ) -> str | None:
        """An operation from a runtime begin payload, for exec-like tool kinds."""
        operation_kind = _operation_kind(kind)
        if operation_kind is None:
            return None
        try:
            start = _RUNTIME_START.read(self.core.read_payload(runtime))
        except FieldError as error:
            raise error.fault(f"parse terminal runtime start payload {runtime.raw_payload_id}") from None
        command = start.texts("command")
        request: TerminalRequest
        if operation_kind == "exec_command":
            request = ExecCommandRequest(tuple(command), " ".join(command), start.text("cwd"), None, None)
        else:
            request = WriteStdinRequest(start.opt_text("interaction_input") or "", None, None)
        process_id = start.opt_text("process_id")
        return self._insert(
            seq, wall_time_unix_ms, thread_id, tool_call_id, operation_kind, runtime, process_id, request
        )

    def _insert(
        self,
        seq: int,
        wall_time_unix_ms: int,
        thread_id: str,
        tool_call_id: str,
        operation_kind: OperationKind,
        payload: RawPayload,
        process_id: str | None,
        request: TerminalRequest,
    ) -> str:
        """Create the operation and, when it names a process, put it in a session."""
        operation_id = f"terminal_operation:{self.next_operation_ordinal}"
        self.next_operation_ordinal += 1
        self.operations[operation_id] = TerminalOperation(
            operation_id,
            None,
            tool_call_id,
            operation_kind,
            new_execution(seq, wall_time_unix_ms),
            request,
            raw_payload_ids=[payload.raw_payload_id],
        )
        self.core.note_created(operation_id)
        if process_id is not None:
            self._process_ids[operation_id] = process_id
            self._join_session_for_process(thread_id, operation_id, operation_kind, process_id, wall_time_unix_ms, seq)
        return operation_id

    def _join_session_for_process(
        self,
        thread_id: str,
        operation_id: str,
        operation_kind: OperationKind,
        process_id: str,
        started_at_unix_ms: int,
        started_seq: int,
    ) -> None:
        """Pick the operation's session from its process id and join it.

        An exec names a fresh process (ids are reused by the OS), so it always opens its own
        session; a write joins whatever session the id maps to, else opens one.
        """
        session_id = None if operation_kind == "exec_command" else self._session_ids_by_process.get(process_id)
        if session_id is None:
            session_id = f"terminal_session:{operation_id}"
            self._session_ids_by_process[process_id] = session_id
        self.operations[operation_id].terminal_id = session_id
        self._ensure_session(thread_id, session_id, operation_id, started_at_unix_ms, started_seq)

    def end_operation(
        self,
        seq: int,
        wall_time_unix_ms: int,
        thread_id: str,
        operation_id: str,
        status: ExecutionStatus,
        response: RawPayload | None,
    ) -> None:
        """Close an operation with its result; an end may be the first to name the process."""
        operation = self.operations.get(operation_id)
        if operation is None:
            raise ReduceError(f"terminal end referenced unknown operation {operation_id}")
        parsed = None
        if response is not None:
            parsed = self._response(self.core.read_payload(response), operation.kind, response.raw_payload_id)
        execution = operation.execution
        execution.close(seq, wall_time_unix_ms, status)
        self.core.note_updated(operation_id)
        if parsed is not None and response is not None:
            process_id, result = parsed
            push_unique(operation.raw_payload_ids, response.raw_payload_id)
            known = self._process_ids.get(operation_id)
            if known is not None and process_id is not None and known != process_id:
                raise ReduceError(f"terminal operation {operation_id} changed process id from {known} to {process_id}")
            if known is None and process_id is not None:
                self._process_ids[operation_id] = process_id
                self._join_session_for_process(
                    thread_id,
                    operation_id,
                    operation.kind,
                    process_id,
                    execution.started_at_unix_ms,
                    execution.started_seq,
                )
            operation.result = result
        if operation.terminal_id is not None:
            self._ensure_session(
                thread_id, operation.terminal_id, operation_id, execution.started_at_unix_ms, execution.started_seq
            )

    def _response(
        self, value: JsonValue, operation_kind: OperationKind, raw_payload_id: str
    ) -> tuple[str | None, TerminalResult]:
        """(process id, result): exec ends are runtime payloads; writes may end from dispatch results."""
        if operation_kind == "exec_command":
            try:
                return parse_exec_end_payload(value)
            except FieldError as error:
                raise error.fault(f"parse exec terminal response {raw_payload_id}") from None
        try:
            return parse_exec_end_payload(value)
        except FieldError as protocol_error:
            try:
                return None, parse_dispatch_response_payload(value)
            except FieldError as error:
                raise ReduceError(
                    f"parse write_stdin terminal response {raw_payload_id} as protocol payload "
                    f"({protocol_error.message}) or dispatch payload: {error.message}"
                ) from None

    def _ensure_session(
        self, thread_id: str, terminal_id: str, operation_id: str, started_at_unix_ms: int, started_seq: int
    ) -> None:
        """Create the session on first use and add the operation to it (sessions stay open)."""
        session = self.sessions.get(terminal_id)
        if session is None:
            session = TerminalSession(
                terminal_id, thread_id, operation_id, [], new_execution(started_seq, started_at_unix_ms)
            )
            self.sessions[terminal_id] = session
            self.core.note_created(terminal_id)
        if session.thread_id != thread_id:
            raise ReduceError(f"terminal session {terminal_id} belongs to thread {session.thread_id}, not {thread_id}")
        if push_unique(session.operation_ids, operation_id):
            self.core.note_updated(terminal_id)

    def sync_model_observation(self, tool_call_id: str) -> None:
        """Mirror the tool's model-visible call/output items onto its terminal operation.

        The runtime result is what the terminal produced; these items are what the model was
        later shown, kept apart on purpose.
        """
        tool_call = self.parts.tools.tool_call(tool_call_id)
        if tool_call is None:
            raise ReduceError(f"tool call {tool_call_id} disappeared during terminal observation linking")
        operation_id = tool_call.terminal_operation_id
        if operation_id is None:
            return
        call_item_ids = list(tool_call.model_visible_call_item_ids)
        output_item_ids = list(tool_call.model_visible_output_item_ids)
        if not call_item_ids and not output_item_ids:
            return
        operation = self.operations.get(operation_id)
        if operation is None:
            raise ReduceError(f"terminal operation {operation_id} disappeared during observation linking")
        for observation in operation.model_observations:
            if observation.source == "direct_tool_call":
                if observation.call_item_ids != call_item_ids or observation.output_item_ids != output_item_ids:
                    observation.call_item_ids = call_item_ids
                    observation.output_item_ids = output_item_ids
                    self.core.note_updated(operation_id)
                return
        operation.model_observations.append(TerminalModelObservation(call_item_ids, output_item_ids))
        self.core.note_updated(operation_id)
