"""Terminal operations and sessions: exec_command, write_stdin, process ids, stdin targets.

Scenarios re-expressed from the crate's terminal tests, plus the schema 2 session rules
(minted `terminal_session:<operation>` ids, process-id map, `stdin_target_resolved`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bundle_builder import message
from tool_fixtures import (
    TURN,
    ToolTrace,
    direct_response,
    exec_begin,
    exec_end,
    function_call,
    function_output,
    write_stdin_invocation,
)

EXEC = {"type": "exec_command"}
WRITE = {"type": "write_stdin"}


def start_exec(trace: ToolTrace, tool_call_id: str, process_id: str | None, command: list[str] | None = None) -> None:
    trace.tool_started(tool_call_id, EXEC)
    trace.runtime_started(tool_call_id, exec_begin(tool_call_id, command or ["bash"], process_id), EXEC)


def test_exec_command_becomes_terminal_operation_and_session(tmp_path: Path) -> None:
    trace = ToolTrace(tmp_path)
    call = function_call("call-1", "exec_command", {"cmd": "cargo test"})
    trace.inference("inference-1", TURN, [message("user", "run tests")], [call])
    invocation = {
        "tool_name": "exec_command",
        "tool_namespace": None,
        "payload": {"type": "function", "arguments": "{}"},
    }
    trace.tool_started("tool-1", EXEC, model_visible_call_id="call-1", invocation=invocation)
    begin = trace.runtime_started("tool-1", exec_begin("tool-1", ["cargo", "test"]), EXEC)
    end = trace.runtime_ended("tool-1", exec_end("tool-1", "ok\n", process_id="pty-1"))
    trace.tool_ended("tool-1", direct_response("call-1", "ok\n"))
    trace.inference("inference-2", TURN, [message("user", "run tests"), call, function_output("call-1", "ok\n")])

    reducer = trace.reduce()
    assert reducer.fault is None
    state = reducer.to_json()
    tool = state["tool_calls"]["tool-1"]
    assert tool["terminal_operation_id"] == "terminal_operation:1"
    assert tool["summary"] == {"type": "terminal", "operation_id": "terminal_operation:1"}
    assert tool["raw_runtime_payload_ids"] == ["raw_payload:4", "raw_payload:5"]
    # The dispatch result arrives after the runtime end and must not re-end the operation.
    assert tool["execution"]["ended_seq"] == end["seq"] + 1

    operation = state["terminal_operations"]["terminal_operation:1"]
    session_id = "terminal_session:terminal_operation:1"
    assert operation == {
        "operation_id": "terminal_operation:1",
        "terminal_id": session_id,
        "tool_call_id": "tool-1",
        "kind": "exec_command",
        "execution": {
            "started_at_unix_ms": begin["wall_time_unix_ms"],
            "started_seq": begin["seq"],
            "ended_at_unix_ms": end["wall_time_unix_ms"],
            "ended_seq": end["seq"],
            "status": "completed",
        },
        "request": {
            "type": "exec_command",
            "command": ["cargo", "test"],
            "display_command": "cargo test",
            "cwd": "/repo",
            "yield_time_ms": None,
            "max_output_tokens": None,
        },
        "result": {
            "exit_code": 0,
            "stdout": "ok\n",
            "stderr": "",
            "formatted_output": None,
            "original_token_count": None,
            "chunk_id": None,
        },
        "model_observations": [
            {
                "call_item_ids": tool["model_visible_call_item_ids"],
                "output_item_ids": tool["model_visible_output_item_ids"],
                "source": "direct_tool_call",
            }
        ],
        "raw_payload_ids": ["raw_payload:4", "raw_payload:5"],
    }
    assert len(tool["model_visible_call_item_ids"]) == 1
    assert len(tool["model_visible_output_item_ids"]) == 1
    # A process id first reported at the end still opens the session at the operation's start.
    assert state["terminal_sessions"] == {
        session_id: {
            "terminal_id": session_id,
            "thread_id": "thread-root",
            "created_by_operation_id": "terminal_operation:1",
            "operation_ids": ["terminal_operation:1"],
            "execution": {
                "started_at_unix_ms": begin["wall_time_unix_ms"],
                "started_seq": begin["seq"],
                "ended_at_unix_ms": None,
                "ended_seq": None,
                "status": "running",
            },
        }
    }


def test_write_stdin_joins_the_session_of_its_process(tmp_path: Path) -> None:
    trace = ToolTrace(tmp_path)
    start_exec(trace, "tool-exec", "123")
    arguments = {"session_id": 123, "chars": "echo hi\n", "yield_time_ms": 250, "max_output_tokens": 2000}
    start = trace.tool_started(
        "tool-stdin", WRITE, model_visible_call_id="call-stdin", invocation=write_stdin_invocation(arguments)
    )
    end = trace.tool_ended("tool-stdin", direct_response("call-stdin", "hi\n"))

    reducer = trace.reduce()
    assert reducer.fault is None
    state = reducer.to_json()
    tool = state["tool_calls"]["tool-stdin"]
    assert tool["summary"] == {"type": "terminal", "operation_id": "terminal_operation:2"}
    operation = state["terminal_operations"]["terminal_operation:2"]
    assert operation["terminal_id"] == "terminal_session:terminal_operation:1"
    assert operation["kind"] == "write_stdin"
    assert operation["execution"]["started_seq"] == start["seq"]
    assert operation["execution"]["ended_seq"] == end["seq"]
    assert operation["request"] == {
        "type": "write_stdin",
        "stdin": "echo hi\n",
        "yield_time_ms": 250,
        "max_output_tokens": 2000,
    }
    # The model-facing text is both the stdout and the formatted output; no exit code yet.
    assert operation["result"] == {
        "exit_code": None,
        "stdout": "hi\n",
        "stderr": "",
        "formatted_output": "hi\n",
        "original_token_count": None,
        "chunk_id": None,
    }
    assert operation["raw_payload_ids"] == [tool["raw_invocation_payload_id"], tool["raw_result_payload_id"]]
    assert state["terminal_sessions"]["terminal_session:terminal_operation:1"]["operation_ids"] == [
        "terminal_operation:1",
        "terminal_operation:2",
    ]


def test_writes_to_an_unknown_process_share_one_new_session(tmp_path: Path) -> None:
    trace = ToolTrace(tmp_path)
    trace.tool_started("w1", WRITE, invocation=write_stdin_invocation({"session_id": 7, "chars": "a"}))
    trace.tool_started("w2", WRITE, invocation=write_stdin_invocation({"session_id": "7", "chars": "b"}))

    state = trace.reduce().to_json()
    assert list(state["terminal_sessions"]) == ["terminal_session:terminal_operation:1"]
    session = state["terminal_sessions"]["terminal_session:terminal_operation:1"]
    assert session["created_by_operation_id"] == "terminal_operation:1"
    assert session["operation_ids"] == ["terminal_operation:1", "terminal_operation:2"]


def test_exec_reusing_a_process_id_opens_a_new_session(tmp_path: Path) -> None:
    trace = ToolTrace(tmp_path)
    start_exec(trace, "exec-1", "5")
    start_exec(trace, "exec-2", "5")
    trace.tool_started("write", WRITE, invocation=write_stdin_invocation({"session_id": 5}))

    state = trace.reduce().to_json()
    sessions = state["terminal_sessions"]
    assert sessions["terminal_session:terminal_operation:1"]["operation_ids"] == ["terminal_operation:1"]
    # The process id now names the newer exec, so the write joins that one.
    assert sessions["terminal_session:terminal_operation:2"]["operation_ids"] == [
        "terminal_operation:2",
        "terminal_operation:3",
    ]
    assert state["terminal_operations"]["terminal_operation:3"]["request"]["stdin"] == ""


def test_exec_without_any_process_id_has_no_session(tmp_path: Path) -> None:
    trace = ToolTrace(tmp_path)
    start_exec(trace, "exec-1", None)
    trace.runtime_ended("exec-1", exec_end("exec-1", "done\n", exit_code=3))

    state = trace.reduce().to_json()
    operation = state["terminal_operations"]["terminal_operation:1"]
    assert operation["terminal_id"] is None
    assert operation["result"]["exit_code"] == 3
    assert state["terminal_sessions"] == {}


def test_process_id_changing_between_begin_and_end_is_a_fault(tmp_path: Path) -> None:
    trace = ToolTrace(tmp_path)
    start_exec(trace, "exec-1", "1")
    trace.runtime_ended("exec-1", exec_end("exec-1", "", process_id="2"))

    reducer = trace.reduce()
    assert reducer.fault is not None
    assert reducer.fault.message == "terminal operation terminal_operation:1 changed process id from 1 to 2"


def test_exec_end_without_exit_code_is_a_fault(tmp_path: Path) -> None:
    trace = ToolTrace(tmp_path)
    start_exec(trace, "exec-1", "1")
    trace.runtime_ended("exec-1", exec_end("exec-1", "", exit_code=...))

    reducer = trace.reduce()
    assert reducer.fault is not None
    assert reducer.fault.message.startswith("parse exec terminal response raw_payload:2")
    assert "missing field `exit_code`" in reducer.fault.message


@pytest.mark.parametrize(
    "arguments",
    [{"chars": "x"}, {"session_id": None}, {"session_id": ""}, {"session_id": 1, "chars": 5}, "not json"],
)
def test_schema2_write_stdin_without_a_usable_session_has_no_operation(tmp_path: Path, arguments: object) -> None:
    trace = ToolTrace(tmp_path)
    trace.tool_started("write", WRITE, invocation=write_stdin_invocation(arguments))
    start_exec(trace, "exec-1", "9")

    reducer = trace.reduce()
    assert reducer.fault is None
    state = reducer.to_json()
    tool = state["tool_calls"]["write"]
    assert tool["terminal_operation_id"] is None
    assert tool["summary"]["type"] == "generic"
    # No operation number was spent on the write.
    assert list(state["terminal_operations"]) == ["terminal_operation:1"]


def test_schema1_write_stdin_without_session_id_is_a_fault(tmp_path: Path) -> None:
    trace = ToolTrace(tmp_path, schema_version=1)
    trace.tool_started("write", WRITE, invocation=write_stdin_invocation({"session_id": None, "chars": "x"}))

    reducer = trace.reduce()
    assert reducer.fault is not None
    assert reducer.fault.message.startswith("parse terminal invocation payload raw_payload:1 as dispatch payload")
    assert "write_stdin dispatch payload omitted session_id" in reducer.fault.message


def test_stdin_target_resolution_moves_the_write_to_the_exec_session(tmp_path: Path) -> None:
    trace = ToolTrace(tmp_path)
    start_exec(trace, "exec-1", "10")
    # The write names a process nobody reported, so it first opens a session of its own.
    trace.tool_started("write", WRITE, invocation=write_stdin_invocation({"session_id": 99, "chars": "y\n"}))
    trace.event("stdin_target_resolved", context=True, tool_call_id="write", exec_tool_call_id="exec-1")
    trace.tool_ended("write", direct_response("call-w", "y\n"))

    reducer = trace.reduce()
    assert reducer.fault is None
    state = reducer.to_json()
    assert (
        state["terminal_operations"]["terminal_operation:2"]["terminal_id"] == "terminal_session:terminal_operation:1"
    )
    # The guessed session is left without operations and disappears.
    assert list(state["terminal_sessions"]) == ["terminal_session:terminal_operation:1"]
    assert state["terminal_sessions"]["terminal_session:terminal_operation:1"]["operation_ids"] == [
        "terminal_operation:1",
        "terminal_operation:2",
    ]


def test_stdin_target_resolution_before_anything_to_move_is_ignored(tmp_path: Path) -> None:
    trace = ToolTrace(tmp_path)
    trace.tool_started("exec-1", EXEC)
    trace.tool_started("write", WRITE, invocation=write_stdin_invocation({"session_id": 3}))
    trace.event("stdin_target_resolved", context=True, tool_call_id="write", exec_tool_call_id="exec-1")

    reducer = trace.reduce()
    assert reducer.fault is None
    operation = reducer.to_json()["terminal_operations"]["terminal_operation:1"]
    assert operation["terminal_id"] == "terminal_session:terminal_operation:1"


@pytest.mark.parametrize(
    ("write", "target", "message"),
    [
        ("nope", "exec-1", "stdin target referenced unknown call nope"),
        ("exec-1", "nope", "stdin target referenced unknown exec nope"),
    ],
)
def test_stdin_target_resolution_needs_known_calls(tmp_path: Path, write: str, target: str, message: str) -> None:
    trace = ToolTrace(tmp_path)
    start_exec(trace, "exec-1", "1")
    trace.event("stdin_target_resolved", context=True, tool_call_id=write, exec_tool_call_id=target)

    reducer = trace.reduce()
    assert reducer.fault is not None
    assert reducer.fault.message == message


def test_code_mode_write_stdin_result_projects_structured_exec_fields(tmp_path: Path) -> None:
    trace = ToolTrace(tmp_path)
    trace.event(
        "code_cell_started",
        context=True,
        runtime_cell_id="cell-1",
        model_visible_call_id="call-code",
        source_js="await tools.write_stdin({ chars: '' })",
    )
    arguments = {"session_id": 456, "chars": "", "yield_time_ms": 1000, "max_output_tokens": 4000}
    trace.tool_started(
        "tool-stdin",
        WRITE,
        invocation=write_stdin_invocation(arguments),
        requester={"type": "code_cell", "runtime_cell_id": "cell-1"},
        code_mode_runtime_tool_id="runtime-tool-1",
    )
    value = {
        "chunk_id": "abc123",
        "wall_time_seconds": 1.25,
        "exit_code": 0,
        "original_token_count": 3,
        "output": "done\n",
    }
    trace.tool_ended("tool-stdin", {"type": "code_mode_response", "value": value})

    reducer = trace.reduce()
    assert reducer.fault is None
    state = reducer.to_json()
    assert state["tool_calls"]["tool-stdin"]["requester"] == {
        "type": "code_cell",
        "code_cell_id": "code_cell:call-code",
    }
    assert state["terminal_operations"]["terminal_operation:1"]["result"] == {
        "exit_code": 0,
        "stdout": "done\n",
        "stderr": "",
        "formatted_output": "done\n",
        "original_token_count": 3,
        "chunk_id": "abc123",
    }


def test_write_stdin_error_result_is_stderr(tmp_path: Path) -> None:
    trace = ToolTrace(tmp_path)
    trace.tool_started("write", WRITE, invocation=write_stdin_invocation({"session_id": 1, "chars": "x"}))
    trace.tool_ended("write", {"type": "error", "error": "no such process"}, status="failed")

    state = trace.reduce().to_json()
    operation = state["terminal_operations"]["terminal_operation:1"]
    assert operation["execution"]["status"] == "failed"
    assert operation["result"]["stderr"] == "no such process"
    assert operation["result"]["formatted_output"] == "no such process"
    assert operation["result"]["stdout"] == ""
