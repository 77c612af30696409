"""Tool call lifecycle: model-visible links, kinds (schema 1 and 2), MCP correlation, errors.

Hand-written scenarios in the spirit of the crate's tool tests, then every corpus case's
tool and terminal sections against the official reducer's output.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from bundle_builder import message
from corpora import cases_or_skip, shared
from tool_fixtures import THREAD, TURN, ToolTrace, direct_response, function_call, function_output

from trace_viewer.reducer.replay import reduce_bundle

OTHER_ADD = {"type": "other", "name": "add"}
MCP_ADD = {"type": "mcp", "server": "calc", "tool": "add"}
SECTIONS = ("tool_calls", "terminal_sessions", "terminal_operations")
CORPORA = [shared("corpus"), shared("corpus-schema1")]


def mcp_begin(call_id: str) -> dict[str, Any]:
    return {"call_id": call_id, "turn_id": TURN, "invocation": {"server": "calc", "tool": "add", "arguments": {}}}


def mcp_end(call_id: str) -> dict[str, Any]:
    return {**mcp_begin(call_id), "result": {"Ok": {"content": [{"type": "text", "text": "5"}]}}}


def test_tool_start_links_call_item_output_item_and_response(tmp_path: Path) -> None:
    trace = ToolTrace(tmp_path)
    call = function_call("call-1", "lookup", {"q": 1})
    trace.inference("inference-1", TURN, [message("user", "look it up")], [call])
    trace.tool_started("tool-1", {"type": "other", "name": "lookup"}, model_visible_call_id="call-1")
    end = trace.tool_ended("tool-1", direct_response("call-1", "found"))
    trace.inference("inference-2", TURN, [message("user", "look it up"), call, function_output("call-1", "found")])

    reducer = trace.reduce()
    assert reducer.fault is None
    state = reducer.to_json()
    tool = state["tool_calls"]["tool-1"]
    inference_1 = state["inference_calls"]["inference-1"]
    assert tool["model_visible_call_item_ids"] == inference_1["response_item_ids"]
    assert inference_1["tool_call_ids_started_by_response"] == ["tool-1"]
    [output_id] = tool["model_visible_output_item_ids"]
    assert output_id == state["inference_calls"]["inference-2"]["request_item_ids"][-1]
    # The output item names the tool as its producer (the reverse link).
    assert {"type": "tool", "tool_call_id": "tool-1"} in state["conversation_items"][output_id]["produced_by"]
    assert tool["execution"]["ended_seq"] == end["seq"]
    assert tool["execution"]["status"] == "completed"
    assert tool["raw_result_payload_id"] is not None
    assert tool["summary"] == {"type": "generic", "label": "lookup", "input_preview": None, "output_preview": None}
    assert "started_code_cell_id" not in tool


def test_items_seen_before_the_tool_starts_are_linked_at_start(tmp_path: Path) -> None:
    trace = ToolTrace(tmp_path)
    call = function_call("call-1", "lookup", {})
    # A replayed history shows the call and its output before the tool is (re)started.
    trace.inference("inference-1", TURN, [message("user", "hi"), call, function_output("call-1", "old")])
    trace.tool_started("tool-1", {"type": "other", "name": "lookup"}, model_visible_call_id="call-1")

    state = trace.reduce().to_json()
    tool = state["tool_calls"]["tool-1"]
    request = state["inference_calls"]["inference-1"]["request_item_ids"]
    assert tool["model_visible_call_item_ids"] == [request[1]]
    assert tool["model_visible_output_item_ids"] == [request[2]]
    assert {"type": "tool", "tool_call_id": "tool-1"} in state["conversation_items"][request[2]]["produced_by"]
    # Only a response that held the call item counts as having started the tool.
    assert state["inference_calls"]["inference-1"]["tool_call_ids_started_by_response"] == []


def test_duplicate_tool_call_start_is_a_fault(tmp_path: Path) -> None:
    trace = ToolTrace(tmp_path)
    trace.tool_started("tool-1", OTHER_ADD)
    trace.tool_started("tool-1", OTHER_ADD)
    reducer = trace.reduce()
    assert reducer.fault is not None
    assert reducer.fault.message == "duplicate tool call start for tool-1"
    assert "tool-1" in reducer.to_json()["tool_calls"]


def test_two_tools_for_one_model_visible_call_is_a_fault(tmp_path: Path) -> None:
    trace = ToolTrace(tmp_path)
    trace.tool_started("tool-1", OTHER_ADD, model_visible_call_id="call-1")
    trace.tool_started("tool-2", OTHER_ADD, model_visible_call_id="call-1")
    reducer = trace.reduce()
    assert reducer.fault is not None
    assert reducer.fault.message == "duplicate tool call for model-visible call id call-1"


def test_schema2_runtime_kind_replaces_the_call_kind(tmp_path: Path) -> None:
    trace = ToolTrace(tmp_path)
    trace.tool_started("tool-1", OTHER_ADD, label="mcp__calc.add")
    trace.runtime_started("tool-1", mcp_begin("tool-1"), MCP_ADD)
    trace.event("mcp_tool_call_correlation_assigned", context=True, tool_call_id="tool-1", mcp_call_id="uuid-1")
    trace.runtime_ended("tool-1", mcp_end("tool-1"))
    trace.tool_ended("tool-1", direct_response("call-1", "error"), status="failed")

    reducer = trace.reduce()
    assert reducer.fault is None
    tool = reducer.to_json()["tool_calls"]["tool-1"]
    assert tool["kind"] == MCP_ADD
    assert tool["mcp_call_id"] == "uuid-1"
    # The upgrade leaves the producer's summary alone.
    assert tool["summary"]["label"] == "mcp__calc.add"
    assert tool["raw_runtime_payload_ids"] == ["raw_payload:1", "raw_payload:2"]
    assert tool["execution"]["status"] == "failed"
    assert tool["terminal_operation_id"] is None


def test_schema2_runtime_kind_can_make_a_terminal_operation(tmp_path: Path) -> None:
    trace = ToolTrace(tmp_path)
    trace.tool_started("tool-1", OTHER_ADD)
    begin = {"call_id": "tool-1", "turn_id": TURN, "command": ["ls"], "cwd": "/", "process_id": "4"}
    trace.runtime_started("tool-1", begin, {"type": "exec_command"})

    state = trace.reduce().to_json()
    tool = state["tool_calls"]["tool-1"]
    assert tool["kind"] == {"type": "exec_command"}
    assert tool["summary"] == {"type": "terminal", "operation_id": "terminal_operation:1"}
    assert state["terminal_operations"]["terminal_operation:1"]["request"]["display_command"] == "ls"


def test_schema1_mcp_kind_comes_from_the_runtime_invocation(tmp_path: Path) -> None:
    trace = ToolTrace(tmp_path, schema_version=1)
    trace.tool_started("tool-1", OTHER_ADD)
    trace.tool_started("tool-2", OTHER_ADD)
    trace.runtime_started("tool-1", mcp_begin("tool-1"))
    trace.runtime_started("tool-2", {"call_id": "tool-2", "turn_id": TURN})

    reducer = trace.reduce()
    assert reducer.fault is None
    tools = reducer.to_json()["tool_calls"]
    assert tools["tool-1"]["kind"] == MCP_ADD
    assert tools["tool-2"]["kind"] == OTHER_ADD


def test_schema1_malformed_mcp_invocation_is_a_fault(tmp_path: Path) -> None:
    trace = ToolTrace(tmp_path, schema_version=1)
    trace.tool_started("tool-1", OTHER_ADD)
    trace.runtime_started("tool-1", {"call_id": "tool-1", "invocation": {"server": "calc"}})

    reducer = trace.reduce()
    assert reducer.fault is not None
    assert reducer.fault.message == "parse MCP runtime invocation in raw_payload:1: missing field `tool`"


@pytest.mark.parametrize(
    ("tool_call_id", "repeat", "message"),
    [
        ("nope", False, "MCP correlation referenced unknown tool call nope"),
        ("tool-1", True, "duplicate MCP correlation for tool call tool-1"),
    ],
)
def test_mcp_correlation_errors(tmp_path: Path, tool_call_id: str, repeat: bool, message: str) -> None:
    trace = ToolTrace(tmp_path)
    trace.tool_started("tool-1", OTHER_ADD)
    for _ in range(2 if repeat else 1):
        trace.event("mcp_tool_call_correlation_assigned", context=True, tool_call_id=tool_call_id, mcp_call_id="u")
    reducer = trace.reduce()
    assert reducer.fault is not None
    assert reducer.fault.message == message


def test_tool_start_without_thread_uses_the_turn_thread(tmp_path: Path) -> None:
    trace = ToolTrace(tmp_path)
    trace.event(
        "tool_call_started",
        envelope_turn=TURN,
        tool_call_id="tool-1",
        model_visible_call_id=None,
        code_mode_runtime_tool_id=None,
        requester={"type": "model"},
        kind={"tool": "t", "type": "mcp", "server": "s"},
        summary={"type": "generic", "label": "x"},
        invocation_payload=None,
    )
    reducer = trace.reduce()
    assert reducer.fault is None
    tool = reducer.to_json()["tool_calls"]["tool-1"]
    assert tool["thread_id"] == THREAD
    assert tool["started_by_codex_turn_id"] == TURN
    # Tagged values come out in the official field order, absent optionals as null.
    assert list(tool["kind"]) == ["type", "server", "tool"]
    assert tool["summary"] == {"type": "generic", "label": "x", "input_preview": None, "output_preview": None}


@pytest.mark.parametrize(
    ("event_type", "fields", "message"),
    [
        ("tool_call_ended", {"status": "completed", "result_payload": None}, "tool call end referenced unknown call x"),
        (
            "tool_call_runtime_ended",
            {"status": "completed", "runtime_payload": None},
            "tool runtime end referenced unknown call x",
        ),
    ],
)
def test_events_for_an_unknown_tool_call_are_faults(
    tmp_path: Path, event_type: str, fields: dict[str, Any], message: str
) -> None:
    trace = ToolTrace(tmp_path)
    if "runtime_payload" in fields:
        fields = {**fields, "runtime_payload": trace.payload("tool_runtime_event", {})}
    trace.event(event_type, context=True, tool_call_id="x", **fields)
    reducer = trace.reduce()
    assert reducer.fault is not None
    assert reducer.fault.message == message


def test_tool_start_with_unknown_turn_is_a_fault(tmp_path: Path) -> None:
    trace = ToolTrace(tmp_path)
    trace.event(
        "tool_call_started",
        envelope_turn="turn-x",
        tool_call_id="tool-1",
        model_visible_call_id=None,
        code_mode_runtime_tool_id=None,
        requester={"type": "model"},
        kind=OTHER_ADD,
        summary={"type": "generic", "label": "x", "input_preview": None, "output_preview": None},
        invocation_payload=None,
    )
    reducer = trace.reduce()
    assert reducer.fault is not None
    assert reducer.fault.message == "tool call start referenced unknown Codex turn turn-x"


def _corpus_cases() -> list[Path]:
    cases = []
    for root in CORPORA:
        if root.is_dir():
            cases.extend(sorted(p for p in root.iterdir() if (p / "expected_state.json").is_file()))
    return cases


@pytest.mark.parametrize("case", cases_or_skip(_corpus_cases(), "corpus", "corpus-schema1", ids=lambda p: p.name))
def test_corpus_tool_and_terminal_sections_match_official(case: Path) -> None:
    expected = json.loads((case / "expected_state.json").read_text())
    reducer = reduce_bundle(case)
    assert reducer.fault is None, str(reducer.fault)
    state = reducer.to_json()
    for section in SECTIONS:
        assert state[section] == expected[section], section
