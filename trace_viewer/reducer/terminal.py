"""Terminal sessions and operations for exec-like tools (exec_command, write_stdin).

Terminal activity arrives as ordinary tool lifecycle events. An exec_command operation
starts from the runtime begin payload (process id, command, cwd) and ends from the runtime
end payload. write_stdin has no runtime events: its operation starts from the dispatch
invocation (the `session_id` argument names the process) and ends from the dispatch result.

Sessions are not keyed by process id: each is named after the operation that created it
(`terminal_session:<operation id>`), and a per-reducer map from process id to session decides
which session a later write joins. An exec that reports a process id always opens a new
session (process ids get reused); a write joins the mapped session or opens one.
`stdin_target_resolved` can then move a write to the session of the exec it really targets.
Sessions never end: no event reports a terminal shutting down.
"""

from __future__ import annotations

import json
from typing import Any

from trace_viewer.model import new_execution
from trace_viewer.reducer.core import ReducerBase
from trace_viewer.reducer.errors import ReduceError
from trace_viewer.reducer.tools import push_unique, serde_unexpected

_I32 = (-(2**31), 2**31 - 1)
_U64_MAX = 2**64 - 1


class _ParseError(Exception):
    """A payload that does not fit the shape the official reducer deserialises it into."""


class _RawNumber(str):
    """A JSON number kept as its source text (ids must not be reformatted)."""


def _raw_number_text(text: str) -> _RawNumber:
    # Exponents are written lower-case with an explicit sign, as the official build prints them.
    lowered = text.replace("E", "e")
    if "e" in lowered:
        mantissa, exponent = lowered.split("e", 1)
        if not exponent.startswith(("+", "-")):
            exponent = "+" + exponent
        lowered = f"{mantissa}e{exponent}"
    elif lowered == "-0":
        lowered = "0"
    return _RawNumber(lowered)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _ParseError(f"duplicate field `{key}`")
        seen[key] = value
    return seen


def _field(obj: dict[str, Any], name: str, kind: str, default: Any = ...) -> Any:
    """Read one typed field the way serde would, or raise ``_ParseError`` with its message."""
    if name not in obj or (obj[name] is None and kind.startswith("opt_")):
        if kind.startswith("opt_"):
            return None
        if default is not ...:
            return default
        raise _ParseError(f"missing field `{name}`")
    value = obj[name]
    base = kind.removeprefix("opt_")
    if base == "str":
        if isinstance(value, str) and not isinstance(value, _RawNumber):
            return value
        expected = "a string"
    elif base == "str_list":
        if isinstance(value, list):
            for entry in value:
                if not isinstance(entry, str) or isinstance(entry, _RawNumber):
                    raise _ParseError(f"invalid type: {serde_unexpected(entry)}, expected a string")
            return list(value)
        expected = "a sequence"
    else:  # integer kinds
        number = _as_int(value)
        low, high, expected = {"i32": (*_I32, "i32"), "u64": (0, _U64_MAX, "u64"), "usize": (0, _U64_MAX, "usize")}[
            base
        ]
        if number is not None:
            if low <= number <= high:
                return number
            raise _ParseError(f"invalid value: integer `{number}`, expected {expected}")
    raise _ParseError(f"invalid type: {serde_unexpected(_plain(value))}, expected {expected}")


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, _RawNumber) and value.lstrip("-").isdigit():
        return int(value)
    return None


def _plain(value: Any) -> Any:
    """A raw number back as a Python number, for error texts."""
    if isinstance(value, _RawNumber):
        try:
            return int(value)
        except ValueError:
            return float(value)
    return value


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _ParseError(f"invalid type: {serde_unexpected(value)}, expected a map")
    return value


def _compact_json(value: Any) -> str:
    """Compact JSON like serde's `to_string` (no spaces, raw UTF-8)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _text_content(value: Any) -> str | None:
    """Tool output as text: a string as is, text parts joined by newlines, other JSON compact."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        texts = [entry["text"] for entry in value if isinstance(entry, dict) and isinstance(entry.get("text"), str)]
        text = "\n".join(texts)
        return text or None
    if value is None:
        return None
    return _compact_json(value)


def _result(
    exit_code: int | None,
    stdout: str,
    stderr: str,
    formatted_output: str | None,
    original_token_count: int | None = None,
    chunk_id: str | None = None,
) -> dict[str, Any]:
    return {
        "exit_code": exit_code,
        "stdout": stdout,
        "stderr": stderr,
        "formatted_output": formatted_output,
        "original_token_count": original_token_count,
        "chunk_id": chunk_id,
    }


def parse_exec_end_payload(value: Any) -> tuple[str | None, dict[str, Any]]:
    """(process id, result) from an exec end payload: the aggregated output is the stdout."""
    obj = _object(value)
    process_id = _field(obj, "process_id", "opt_str")
    aggregated_output = _field(obj, "aggregated_output", "str", default="")
    exit_code = _field(obj, "exit_code", "i32")
    return process_id, _result(exit_code, aggregated_output, "", None)


def parse_dispatch_response_payload(value: Any) -> dict[str, Any]:
    """Terminal result from a dispatch result payload (direct response, code-mode value or error)."""
    obj = _object(value)
    variant = obj.get("type")
    if variant == "direct_response":
        if "response_item" not in obj:
            raise _ParseError("missing field `response_item`")
        response_item = obj["response_item"]
        output = response_item.get("output") if isinstance(response_item, dict) else None
        text = _text_content(output)
        if text is None:
            text = _compact_json(response_item)
        return _result(None, text, "", text)
    if variant == "code_mode_response":
        if "value" not in obj:
            raise _ParseError("missing field `value`")
        return _code_mode_exec_result(obj["value"])
    if variant == "error":
        error = _field(obj, "error", "str")
        return _result(None, "", error, error)
    if variant is None:
        raise _ParseError("missing field `type`")
    raise _ParseError(f"unknown variant `{variant}`, expected one of `direct_response`, `code_mode_response`, `error`")


def _code_mode_exec_result(value: Any) -> dict[str, Any]:
    """Code mode hands JS the structured unified-exec result; fall back to its text."""
    if isinstance(value, dict):
        try:
            output = _field(value, "output", "str")
            return _result(
                _field(value, "exit_code", "opt_i32"),
                output,
                "",
                output,
                _field(value, "original_token_count", "opt_usize"),
                _field(value, "chunk_id", "opt_str"),
            )
        except _ParseError:
            pass
    text = _text_content(value)
    if text is None:
        text = _compact_json(value)
    return _result(None, text, "", text)


class TerminalReducer(ReducerBase):
    """Terminal operations/sessions built from exec_command and write_stdin tool calls."""

    def init_concerns(self) -> None:
        super().init_concerns()
        # Runtime process id (write_stdin `session_id`) → the session a later write joins.
        self.terminal_session_ids_by_process: dict[str, str] = {}
        # Operation id → the process id it reported, to catch a begin/end mismatch.
        self.terminal_operation_process_ids: dict[str, str] = {}

    # ----- event handler -----------------------------------------------------
    def on_stdin_target_resolved(self, event: dict[str, Any]) -> None:
        payload = event["payload"]
        self.resolve_stdin_target(payload["tool_call_id"], payload["exec_tool_call_id"])

    def resolve_stdin_target(self, tool_call_id: str, exec_tool_call_id: str) -> None:
        """Move a write's operation to the session of the operation it was resolved to.

        Resolution beats the process-id lookup. It only acts when both calls already
        have operations and the target's has a session; otherwise it is dropped.
        """
        tool_calls = self.rollout["tool_calls"]
        write_call = tool_calls.get(tool_call_id)
        if write_call is None:
            raise ReduceError(f"stdin target referenced unknown call {tool_call_id}")
        target_call = tool_calls.get(exec_tool_call_id)
        if target_call is None:
            raise ReduceError(f"stdin target referenced unknown exec {exec_tool_call_id}")
        operations = self.rollout["terminal_operations"]
        operation = operations.get(write_call["terminal_operation_id"] or "")
        target = operations.get(target_call["terminal_operation_id"] or "")
        if operation is None or target is None or target["terminal_id"] is None:
            return
        new_session_id: str = target["terminal_id"]
        old_session_id: str | None = operation["terminal_id"]
        if old_session_id == new_session_id:
            return
        operation_id = operation["operation_id"]
        sessions = self.rollout["terminal_sessions"]
        if old_session_id is not None and old_session_id in sessions:
            old_session = sessions[old_session_id]
            if operation_id in old_session["operation_ids"]:
                old_session["operation_ids"].remove(operation_id)
            # A session left with no operation was only a guess from an unknown id: drop it.
            if not old_session["operation_ids"]:
                del sessions[old_session_id]
            else:
                self.note_updated(old_session_id)
        operation["terminal_id"] = new_session_id
        self.note_updated(operation_id)
        session = sessions.get(new_session_id)
        if session is not None and push_unique(session["operation_ids"], operation_id):
            self.note_updated(new_session_id)

    # ----- operation lifecycle -------------------------------------------------
    def start_terminal_operation_from_invocation(
        self,
        seq: int,
        wall_time_unix_ms: int,
        thread_id: str,
        tool_call_id: str,
        kind: dict[str, Any],
        invocation_payload: dict[str, Any] | None,
    ) -> str | None:
        """A write_stdin operation from its dispatch invocation (no runtime begin event exists)."""
        if kind["type"] != "write_stdin" or invocation_payload is None:
            # A missing invocation keeps the tool call but invents no lossy terminal row.
            return None
        raw_payload_id = invocation_payload["raw_payload_id"]
        value = self.read_payload(invocation_payload)
        request = self.parse_dispatch_terminal_request(value, raw_payload_id)
        if request is None:
            return None
        process_id, terminal_request = request
        return self.insert_terminal_operation(
            {
                "seq": seq,
                "wall_time_unix_ms": wall_time_unix_ms,
                "thread_id": thread_id,
                "tool_call_id": tool_call_id,
                "operation_kind": "write_stdin",
                "raw_payload": invocation_payload,
                "request": {"terminal_id": process_id, "request": terminal_request},
            }
        )

    def parse_dispatch_terminal_request(self, value: Any, raw_payload_id: str) -> tuple[str, dict[str, Any]] | None:
        """(process id, request) from a write_stdin dispatch invocation.

        Schema 2 records no operation when the arguments are unusable (no or empty
        `session_id`, bad JSON, wrong field types); schema 1 refuses the payload.
        """
        context = f"parse terminal invocation payload {raw_payload_id} as dispatch payload"
        try:
            obj = _object(value)
            tool_name = _field(obj, "tool_name", "str")
            inner = _object(obj["payload"]) if "payload" in obj else None
            if inner is None:
                raise _ParseError("missing field `payload`")
            payload_type = _field(inner, "type", "str")
            arguments = _field(inner, "arguments", "opt_str")
        except _ParseError as error:
            raise ReduceError(f"{context}: {error}") from None
        if tool_name != "write_stdin":
            raise ReduceError(f"{context}: dispatch terminal request is for {tool_name}, not write_stdin")
        if payload_type != "function":
            raise ReduceError(f"{context}: write_stdin dispatch payload used unsupported {payload_type} payload")
        if arguments is None:
            raise ReduceError(f"{context}: write_stdin dispatch payload omitted function arguments")
        # Numbers keep their source text: a numeric session id must match a process id string.
        try:
            args = _object(
                json.loads(
                    arguments,
                    object_pairs_hook=_no_duplicate_keys,
                    parse_int=_raw_number_text,
                    parse_float=_raw_number_text,
                )
            )
            if "session_id" not in args:
                raise _ParseError("missing field `session_id`")
            stdin = _field(args, "chars", "str", default="")
            yield_time_ms = _field(args, "yield_time_ms", "opt_u64")
            max_output_tokens = _field(args, "max_output_tokens", "opt_usize")
        except (_ParseError, ValueError) as error:
            if self.schema_version >= 2:
                return None
            raise ReduceError(f"{context}: parse write_stdin dispatch function arguments: {error}") from None
        session_id = args["session_id"]
        if isinstance(session_id, _RawNumber) or (isinstance(session_id, str) and session_id):
            process_id = str(session_id)
        else:
            if self.schema_version >= 2:
                return None
            raise ReduceError(f"{context}: write_stdin dispatch payload omitted session_id")
        request = {
            "type": "write_stdin",
            "stdin": stdin,
            "yield_time_ms": yield_time_ms,
            "max_output_tokens": max_output_tokens,
        }
        return process_id, request

    def start_terminal_operation_from_runtime(
        self,
        seq: int,
        wall_time_unix_ms: int,
        thread_id: str,
        tool_call_id: str,
        kind: dict[str, Any],
        runtime_payload: dict[str, Any],
    ) -> str | None:
        """An operation from a runtime begin payload, for exec-like tool kinds."""
        operation_kind = kind["type"]
        if operation_kind not in ("exec_command", "write_stdin"):
            return None
        raw_payload_id = runtime_payload["raw_payload_id"]
        value = self.read_payload(runtime_payload)
        try:
            obj = _object(value)
            process_id = _field(obj, "process_id", "opt_str")
            command = _field(obj, "command", "str_list")
            cwd = _field(obj, "cwd", "str")
            interaction_input = _field(obj, "interaction_input", "opt_str")
        except _ParseError as error:
            raise ReduceError(f"parse terminal runtime start payload {raw_payload_id}: {error}") from None
        request: dict[str, Any]
        if operation_kind == "exec_command":
            request = {
                "type": "exec_command",
                "command": command,
                "display_command": " ".join(command),
                "cwd": cwd,
                "yield_time_ms": None,
                "max_output_tokens": None,
            }
        else:
            request = {
                "type": "write_stdin",
                "stdin": interaction_input or "",
                "yield_time_ms": None,
                "max_output_tokens": None,
            }
        return self.insert_terminal_operation(
            {
                "seq": seq,
                "wall_time_unix_ms": wall_time_unix_ms,
                "thread_id": thread_id,
                "tool_call_id": tool_call_id,
                "operation_kind": operation_kind,
                "raw_payload": runtime_payload,
                "request": {"terminal_id": process_id, "request": request},
            }
        )

    def insert_terminal_operation(self, start: dict[str, Any]) -> str:
        """Create the operation and, when it names a process, put it in a session."""
        operation_id = self.next_terminal_operation_id()
        process_id: str | None = start["request"]["terminal_id"]
        operation_kind: str = start["operation_kind"]
        self.rollout["terminal_operations"][operation_id] = {
            "operation_id": operation_id,
            "terminal_id": None,
            "tool_call_id": start["tool_call_id"],
            "kind": operation_kind,
            "execution": new_execution(start["seq"], start["wall_time_unix_ms"]),
            "request": start["request"]["request"],
            "result": None,
            "model_observations": [],
            "raw_payload_ids": [start["raw_payload"]["raw_payload_id"]],
        }
        self.note_created(operation_id)
        if process_id is not None:
            self.terminal_operation_process_ids[operation_id] = process_id
            self.join_terminal_session_for_process(
                start["thread_id"], operation_id, operation_kind, process_id, start["wall_time_unix_ms"], start["seq"]
            )
        return operation_id

    def join_terminal_session_for_process(
        self,
        thread_id: str,
        operation_id: str,
        operation_kind: str,
        process_id: str,
        started_at_unix_ms: int,
        started_seq: int,
    ) -> None:
        """Pick the operation's session from its process id and join it.

        An exec names a fresh process (ids are reused by the OS), so it always opens
        its own session; a write joins whatever session the id maps to, else opens one.
        """
        session_id = None if operation_kind == "exec_command" else self.terminal_session_ids_by_process.get(process_id)
        if session_id is None:
            session_id = f"terminal_session:{operation_id}"
            self.terminal_session_ids_by_process[process_id] = session_id
        self.rollout["terminal_operations"][operation_id]["terminal_id"] = session_id
        self.ensure_terminal_session(thread_id, session_id, operation_id, started_at_unix_ms, started_seq)

    def end_terminal_operation(
        self,
        seq: int,
        wall_time_unix_ms: int,
        thread_id: str,
        operation_id: str,
        status: str,
        response_payload: dict[str, Any] | None,
    ) -> None:
        """Close an operation with its result; an end may be the first to name the process."""
        operation = self.rollout["terminal_operations"].get(operation_id)
        if operation is None:
            raise ReduceError(f"terminal end referenced unknown operation {operation_id}")
        parsed = None
        if response_payload is not None:
            value = self.read_payload(response_payload)
            parsed = self.parse_terminal_response_payload(value, operation["kind"], response_payload["raw_payload_id"])

        execution = operation["execution"]
        execution["ended_at_unix_ms"] = wall_time_unix_ms
        execution["ended_seq"] = seq
        execution["status"] = status
        self.note_updated(operation_id)
        if parsed is not None and response_payload is not None:
            process_id, result = parsed
            push_unique(operation["raw_payload_ids"], response_payload["raw_payload_id"])
            known = self.terminal_operation_process_ids.get(operation_id)
            if known is not None and process_id is not None and known != process_id:
                raise ReduceError(f"terminal operation {operation_id} changed process id from {known} to {process_id}")
            if known is None and process_id is not None:
                self.terminal_operation_process_ids[operation_id] = process_id
                self.join_terminal_session_for_process(
                    thread_id,
                    operation_id,
                    operation["kind"],
                    process_id,
                    execution["started_at_unix_ms"],
                    execution["started_seq"],
                )
            operation["result"] = result
        session_id = operation["terminal_id"]
        if session_id is not None:
            self.ensure_terminal_session(
                thread_id, session_id, operation_id, execution["started_at_unix_ms"], execution["started_seq"]
            )

    def parse_terminal_response_payload(
        self, value: Any, operation_kind: str, raw_payload_id: str
    ) -> tuple[str | None, dict[str, Any]]:
        """(process id, result): exec ends are runtime payloads; writes may end from dispatch results."""
        if operation_kind == "exec_command":
            try:
                return parse_exec_end_payload(value)
            except _ParseError as error:
                raise ReduceError(f"parse exec terminal response {raw_payload_id}: {error}") from None
        try:
            return parse_exec_end_payload(value)
        except _ParseError as protocol_error:
            try:
                return None, parse_dispatch_response_payload(value)
            except _ParseError as error:
                raise ReduceError(
                    f"parse write_stdin terminal response {raw_payload_id} as protocol payload "
                    f"({protocol_error}) or dispatch payload: {error}"
                ) from None

    def ensure_terminal_session(
        self,
        thread_id: str,
        terminal_id: str,
        operation_id: str,
        started_at_unix_ms: int,
        started_seq: int,
    ) -> None:
        """Create the session on first use and add the operation to it (sessions stay open)."""
        sessions = self.rollout["terminal_sessions"]
        session = sessions.get(terminal_id)
        if session is None:
            session = {
                "terminal_id": terminal_id,
                "thread_id": thread_id,
                "created_by_operation_id": operation_id,
                "operation_ids": [],
                "execution": new_execution(started_seq, started_at_unix_ms),
            }
            sessions[terminal_id] = session
            self.note_created(terminal_id)
        if session["thread_id"] != thread_id:
            raise ReduceError(
                f"terminal session {terminal_id} belongs to thread {session['thread_id']}, not {thread_id}"
            )
        if push_unique(session["operation_ids"], operation_id):
            self.note_updated(terminal_id)

    def sync_terminal_model_observation(self, tool_call_id: str) -> None:
        """Mirror the tool's model-visible call/output items onto its terminal operation.

        The runtime result is what the terminal produced; these items are what the
        model was later shown, kept apart on purpose.
        """
        tool_call = self.rollout["tool_calls"].get(tool_call_id)
        if tool_call is None:
            raise ReduceError(f"tool call {tool_call_id} disappeared during terminal observation linking")
        operation_id = tool_call["terminal_operation_id"]
        if operation_id is None:
            return
        call_item_ids = list(tool_call["model_visible_call_item_ids"])
        output_item_ids = list(tool_call["model_visible_output_item_ids"])
        if not call_item_ids and not output_item_ids:
            return
        operation = self.rollout["terminal_operations"].get(operation_id)
        if operation is None:
            raise ReduceError(f"terminal operation {operation_id} disappeared during observation linking")
        for observation in operation["model_observations"]:
            if observation["source"] == "direct_tool_call":
                if observation["call_item_ids"] != call_item_ids or observation["output_item_ids"] != output_item_ids:
                    observation["call_item_ids"] = call_item_ids
                    observation["output_item_ids"] = output_item_ids
                    self.note_updated(operation_id)
                return
        operation["model_observations"].append(
            {"call_item_ids": call_item_ids, "output_item_ids": output_item_ids, "source": "direct_tool_call"}
        )
        self.note_updated(operation_id)

    def next_terminal_operation_id(self) -> str:
        ordinal = self.next_terminal_operation_ordinal
        self.next_terminal_operation_ordinal += 1
        return f"terminal_operation:{ordinal}"
