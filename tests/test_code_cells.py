"""Code-mode cells: lifecycle, queued starts, runtime-id links, and the schema 2 fields.

Each scenario writes a tiny bundle event by event (the way Codex would) and replays
it with the real reducer, so the checks cover the calls between concerns too.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from corpora import require

from trace_viewer.model import CodeCellRequester
from trace_viewer.reducer import Reducer
from trace_viewer.reducer.replay import reduce_bundle

ROOT = "thread-root"
ROLLOUT = "rollout-1"
SCHEMA2_CELL_KEYS = ("initial_response_status", "raw_initial_response_payload_id", "raw_result_payload_id")


class TraceBuilder:
    """Writes manifest, payloads and trace.jsonl for one small rollout."""

    def __init__(self, root: Path, schema: int = 2) -> None:
        self.root = root
        self.schema = schema
        self.seq = 0
        self.wall = 1_000
        self.next_payload = 1
        (root / "payloads").mkdir(parents=True)
        manifest = {
            "schema_version": schema,
            "trace_id": "trace-1",
            "rollout_id": ROLLOUT,
            "root_thread_id": ROOT,
            "started_at_unix_ms": self.wall,
            "raw_event_log": "trace.jsonl",
            "payloads_dir": "payloads",
        }
        (root / "manifest.json").write_text(json.dumps(manifest))
        self.log = (root / "trace.jsonl").open("w")
        self.add("rollout_started", trace_id="trace-1", root_thread_id=ROOT)
        self.add("thread_started", thread_id=ROOT, agent_path="/root", metadata_payload=None)

    def payload(self, kind: str, body: Any) -> dict[str, Any]:
        number = self.next_payload
        self.next_payload += 1
        path = f"payloads/{number}.json"
        (self.root / path).write_text(json.dumps(body, indent=2))
        return {"raw_payload_id": f"raw_payload:{number}", "kind": {"type": kind}, "path": path}

    def add(self, event_type: str, *, thread: str | None = None, turn: str | None = None, **fields: Any) -> int:
        """Append one event; returns its seq. ``thread``/``turn`` are the envelope context."""
        self.seq += 1
        self.wall += 10
        event = {
            "schema_version": self.schema,
            "seq": self.seq,
            "wall_time_unix_ms": self.wall,
            "rollout_id": ROLLOUT,
            "thread_id": thread,
            "codex_turn_id": turn,
            "payload": {"type": event_type, **fields},
        }
        self.log.write(json.dumps(event) + "\n")
        return self.seq

    # ----- the few event shapes every scenario uses ----------------------------
    def turn(self, turn_id: str, thread: str = ROOT) -> int:
        return self.add("codex_turn_started", codex_turn_id=turn_id, thread_id=thread)

    def inference(self, call_id: str, turn_id: str, items: list[dict[str, Any]], thread: str = ROOT) -> int:
        request = self.payload("inference_request", {"input": items})
        return self.add(
            "inference_started",
            inference_call_id=call_id,
            thread_id=thread,
            codex_turn_id=turn_id,
            model="gpt-test",
            provider_name="test-provider",
            request_payload=request,
        )

    def completed(self, call_id: str, response_id: str, output_items: list[dict[str, Any]]) -> int:
        response = self.payload("inference_response", {"response_id": response_id, "output_items": output_items})
        return self.add(
            "inference_completed",
            inference_call_id=call_id,
            response_id=response_id,
            upstream_request_id=None,
            response_payload=response,
        )

    def cell_started(self, turn_id: str, runtime_cell_id: str, call_id: str, thread: str = ROOT) -> int:
        return self.add(
            "code_cell_started",
            thread=thread,
            turn=turn_id,
            runtime_cell_id=runtime_cell_id,
            model_visible_call_id=call_id,
            source_js=JS,
        )

    def cell_event(
        self,
        event_type: str,
        turn_id: str,
        runtime_cell_id: str,
        status: str,
        response: dict[str, Any] | None = None,
        thread: str = ROOT,
    ) -> int:
        return self.add(
            event_type,
            thread=thread,
            turn=turn_id,
            runtime_cell_id=runtime_cell_id,
            status=status,
            response_payload=response,
        )

    def tool_started(
        self,
        turn_id: str,
        tool_call_id: str,
        *,
        model_visible_call_id: str | None = None,
        runtime_tool_id: str | None = None,
        requester: dict[str, Any] | None = None,
        kind: dict[str, Any] | None = None,
        invocation: dict[str, Any] | None = None,
    ) -> int:
        return self.add(
            "tool_call_started",
            thread=ROOT,
            turn=turn_id,
            tool_call_id=tool_call_id,
            model_visible_call_id=model_visible_call_id,
            code_mode_runtime_tool_id=runtime_tool_id,
            requester=requester or {"type": "model"},
            kind=kind or {"type": "other", "name": "exec"},
            summary={"type": "generic", "label": "tool", "input_preview": None, "output_preview": None},
            invocation_payload=invocation,
        )

    def reduce(self) -> Reducer:
        self.log.close()
        return reduce_bundle(self.root)


JS = "text('hi')"


def user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def exec_call(call_id: str) -> dict[str, Any]:
    return {"type": "custom_tool_call", "name": "exec", "call_id": call_id, "input": JS}


def exec_output(call_id: str, text: str = "Script running with cell ID 1") -> dict[str, Any]:
    return {"type": "custom_tool_call_output", "call_id": call_id, "output": text}


def state(reducer: Reducer) -> dict[str, Any]:
    assert reducer.fault is None, str(reducer.fault)
    return reducer.to_json()


# ---------------------------------------------------------------------------------
# Lifecycle scenarios (after the crate's code_cell_tests), for both schemas
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize("schema", [1, 2])
def test_lifecycle_links_nested_tools_waits_and_outputs(tmp_path: Path, schema: int) -> None:
    b = TraceBuilder(tmp_path, schema)
    b.turn("turn-1")
    b.inference("inference-1", "turn-1", [user("count files")])
    # Dispatch runs before the response that asked for `exec` is reduced: the start queues.
    started = b.cell_started("turn-1", "1", "call-code")
    b.completed("inference-1", "resp-1", [exec_call("call-code")])
    yielded = b.cell_event("code_cell_initial_response", "turn-1", "1", "yielded")
    b.tool_started(
        "turn-1",
        "nested-tool-1",
        runtime_tool_id="tool-1",
        requester={"type": "code_cell", "runtime_cell_id": "1"},
        kind={"type": "other", "name": "add"},
    )
    b.add(
        "tool_call_ended",
        thread=ROOT,
        turn="turn-1",
        tool_call_id="nested-tool-1",
        status="completed",
        result_payload=None,
    )
    b.turn("turn-2")
    b.inference("inference-2", "turn-2", [user("count files"), exec_call("call-code"), exec_output("call-code")])
    wait_request = b.payload(
        "tool_invocation",
        {
            "tool_name": "wait",
            "tool_namespace": None,
            "payload": {"type": "function", "arguments": json.dumps({"cell_id": "1"})},
        },
    )
    b.tool_started(
        "turn-2",
        "wait-tool-1",
        model_visible_call_id="wait-call",
        kind={"type": "other", "name": "wait"},
        invocation=wait_request,
    )
    ended = b.cell_event("code_cell_ended", "turn-2", "1", "completed")
    out = state(b.reduce())

    cell = out["code_cells"]["code_cell:call-code"]
    output_item_id = out["inference_calls"]["inference-2"]["request_item_ids"][-1]
    assert cell["thread_id"] == ROOT
    assert cell["codex_turn_id"] == "turn-1"
    assert cell["runtime_status"] == "completed"
    assert cell["execution"]["status"] == "completed"
    # The window keeps the runtime's own timing, not the moment the source item appeared.
    assert cell["execution"]["started_seq"] == started
    assert cell["execution"]["ended_seq"] == ended
    assert (cell["initial_response_seq"], cell["yielded_seq"]) == (yielded, yielded)
    assert cell["runtime_cell_id"] == "1"
    assert cell["nested_tool_call_ids"] == ["nested-tool-1"]
    assert cell["wait_tool_call_ids"] == ["wait-tool-1"]
    assert cell["output_item_ids"] == [output_item_id]
    assert out["conversation_items"][output_item_id]["produced_by"] == [
        {"type": "code_cell", "code_cell_id": "code_cell:call-code"}
    ]
    assert out["conversation_items"][cell["source_item_id"]]["kind"] == "custom_tool_call"
    assert out["tool_calls"]["nested-tool-1"]["requester"] == {
        "type": "code_cell",
        "code_cell_id": "code_cell:call-code",
    }
    if schema == 2:
        assert [cell[key] for key in SCHEMA2_CELL_KEYS] == ["yielded", None, None]
    else:
        assert not any(key in cell for key in SCHEMA2_CELL_KEYS)
    # Neither the nested tool nor the wait is the call that started the cell.
    assert "started_code_cell_id" not in out["tool_calls"]["nested-tool-1"]
    assert "started_code_cell_id" not in out["tool_calls"]["wait-tool-1"]


@pytest.mark.parametrize("schema", [1, 2])
def test_fast_cell_lifecycle_waits_for_its_source_item(tmp_path: Path, schema: int) -> None:
    b = TraceBuilder(tmp_path, schema)
    b.turn("turn-1")
    b.inference("inference-1", "turn-1", [user("count files")])
    started = b.cell_started("turn-1", "1", "call-code")
    initial = b.cell_event("code_cell_initial_response", "turn-1", "1", "failed")
    ended = b.cell_event("code_cell_ended", "turn-1", "1", "failed")
    b.completed("inference-1", "resp-1", [exec_call("call-code")])
    out = state(b.reduce())

    cell = out["code_cells"]["code_cell:call-code"]
    assert cell["runtime_status"] == "failed"
    assert cell["execution"] == {
        "started_at_unix_ms": cell["execution"]["started_at_unix_ms"],
        "started_seq": started,
        "ended_at_unix_ms": cell["execution"]["ended_at_unix_ms"],
        "ended_seq": ended,
        "status": "failed",
    }
    assert cell["initial_response_seq"] == initial
    assert out["conversation_items"][cell["source_item_id"]]["kind"] == "custom_tool_call"
    if schema == 2:
        assert cell["initial_response_status"] == "failed"


@pytest.mark.parametrize(
    ("turn_status", "runtime_status", "execution_status"),
    [
        ("cancelled", "terminated", "cancelled"),
        ("aborted", "terminated", "cancelled"),
        ("failed", "failed", "failed"),
        # A yielded cell may outlive a completed turn: a later `wait` can resume it.
        ("completed", "starting", "running"),
    ],
)
@pytest.mark.parametrize("schema", [1, 2])
def test_turn_end_closes_unfinished_cells_only_when_abandoned(
    tmp_path: Path, schema: int, turn_status: str, runtime_status: str, execution_status: str
) -> None:
    b = TraceBuilder(tmp_path, schema)
    b.turn("turn-1")
    b.inference("inference-1", "turn-1", [user("count files")])
    b.completed("inference-1", "resp-1", [exec_call("call-code")])
    b.cell_started("turn-1", "1", "call-code")
    turn_end = b.add("codex_turn_ended", thread=ROOT, turn="turn-1", codex_turn_id="turn-1", status=turn_status)
    out = state(b.reduce())

    cell = out["code_cells"]["code_cell:call-code"]
    assert cell["runtime_status"] == runtime_status
    assert cell["execution"]["status"] == execution_status
    closed = turn_status != "completed"
    assert cell["execution"]["ended_seq"] == (turn_end if closed else None)
    # Closing back-fills the initial response time, but no initial response arrived.
    assert cell["initial_response_seq"] == (turn_end if closed else None)
    if schema == 2:
        assert cell["initial_response_status"] is None


@pytest.mark.parametrize("schema", [1, 2])
def test_runtime_cell_ids_can_repeat_across_threads(tmp_path: Path, schema: int) -> None:
    b = TraceBuilder(tmp_path, schema)
    b.add("thread_started", thread_id="thread-child", agent_path="/root/child", metadata_payload=None)
    b.turn("turn-root", ROOT)
    b.turn("turn-child", "thread-child")
    for thread, turn, inference, call in [
        (ROOT, "turn-root", "inference-root", "call-root"),
        ("thread-child", "turn-child", "inference-child", "call-child"),
    ]:
        b.inference(inference, turn, [user("run code")], thread)
        b.cell_started(turn, "1", call, thread)
        b.completed(inference, f"resp-{thread}", [exec_call(call)])
        b.cell_event("code_cell_ended", turn, "1", "completed", thread=thread)
    out = state(b.reduce())

    root_cell = out["code_cells"]["code_cell:call-root"]
    child_cell = out["code_cells"]["code_cell:call-child"]
    assert (root_cell["thread_id"], child_cell["thread_id"]) == (ROOT, "thread-child")
    assert root_cell["runtime_cell_id"] == child_cell["runtime_cell_id"] == "1"
    assert root_cell["runtime_status"] == child_cell["runtime_status"] == "completed"


def test_thread_comes_from_the_turn_when_the_envelope_has_none(tmp_path: Path) -> None:
    b = TraceBuilder(tmp_path)
    b.turn("turn-1")
    b.inference("inference-1", "turn-1", [user("go")])
    b.completed("inference-1", "resp-1", [exec_call("call-code")])
    b.add(
        "code_cell_started",
        thread=None,
        turn="turn-1",
        runtime_cell_id="1",
        model_visible_call_id="call-code",
        source_js=JS,
    )
    out = state(b.reduce())
    assert out["code_cells"]["code_cell:call-code"]["thread_id"] == ROOT


# ---------------------------------------------------------------------------------
# Where schema 1 and schema 2 differ
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize("schema", [1, 2])
def test_first_initial_response_and_last_end_payload(tmp_path: Path, schema: int) -> None:
    b = TraceBuilder(tmp_path, schema)
    b.turn("turn-1")
    b.inference("inference-1", "turn-1", [user("go")])
    b.completed("inference-1", "resp-1", [exec_call("call-code")])
    b.cell_started("turn-1", "1", "call-code")
    first = b.payload("tool_result", {"response": "first"})
    second = b.payload("tool_result", {"response": "second"})
    result = b.payload("tool_result", {"response": "done"})
    initial = b.cell_event("code_cell_initial_response", "turn-1", "1", "yielded", first)
    again = b.cell_event("code_cell_initial_response", "turn-1", "1", "yielded", second)
    b.cell_event("code_cell_ended", "turn-1", "1", "completed", result)
    out = state(b.reduce())

    cell = out["code_cells"]["code_cell:call-code"]
    assert cell["initial_response_seq"] == initial  # the first one, in both schemas
    assert cell["yielded_seq"] == again  # every yield moves this
    if schema == 2:
        assert cell["initial_response_status"] == "yielded"
        assert cell["raw_initial_response_payload_id"] == first["raw_payload_id"]
        assert cell["raw_result_payload_id"] == result["raw_payload_id"]
        # Field order of the official output.
        keys = list(cell)
        assert keys[keys.index("initial_response_seq") + 1 : keys.index("yielded_at_unix_ms")] == list(
            SCHEMA2_CELL_KEYS
        )
    else:
        assert not any(key in cell for key in SCHEMA2_CELL_KEYS)


@pytest.mark.parametrize("schema", [1, 2])
def test_initial_response_after_end(tmp_path: Path, schema: int) -> None:
    """The end back-fills the initial response time; schema 2 lets the real (first)
    initial response replace it, schema 1 keeps the back-fill."""
    b = TraceBuilder(tmp_path, schema)
    b.turn("turn-1")
    b.inference("inference-1", "turn-1", [user("go")])
    b.completed("inference-1", "resp-1", [exec_call("call-code")])
    b.cell_started("turn-1", "1", "call-code")
    ended = b.cell_event("code_cell_ended", "turn-1", "1", "failed")
    initial = b.cell_event("code_cell_initial_response", "turn-1", "1", "failed")
    out = state(b.reduce())

    cell = out["code_cells"]["code_cell:call-code"]
    assert cell["execution"]["ended_seq"] == ended
    assert cell["initial_response_seq"] == (initial if schema == 2 else ended)


def test_turn_end_close_clears_result_payload(tmp_path: Path) -> None:
    b = TraceBuilder(tmp_path)
    b.turn("turn-1")
    b.inference("inference-1", "turn-1", [user("go")])
    b.completed("inference-1", "resp-1", [exec_call("call-code")])
    b.cell_started("turn-1", "1", "call-code")
    partial = b.payload("tool_result", {"response": "still going"})
    # An end that leaves the cell running (yielded) records its payload...
    b.cell_event("code_cell_ended", "turn-1", "1", "yielded", partial)
    # ...and the failed turn's close, which has none, clears it.
    turn_end = b.add("codex_turn_ended", thread=ROOT, turn="turn-1", codex_turn_id="turn-1", status="failed")
    out = state(b.reduce())

    cell = out["code_cells"]["code_cell:call-code"]
    assert cell["execution"]["ended_seq"] == turn_end
    assert cell["runtime_status"] == "failed"
    assert cell["raw_result_payload_id"] is None


@pytest.mark.parametrize("tool_first", [True, False])
@pytest.mark.parametrize("schema", [1, 2])
def test_exec_tool_call_names_the_cell_it_started(tmp_path: Path, schema: int, tool_first: bool) -> None:
    b = TraceBuilder(tmp_path, schema)
    b.turn("turn-1")
    b.inference("inference-1", "turn-1", [user("go")])
    b.completed("inference-1", "resp-1", [exec_call("call-code")])
    if tool_first:
        b.tool_started("turn-1", "tool-exec", model_visible_call_id="call-code")
        b.cell_started("turn-1", "1", "call-code")
    else:
        b.cell_started("turn-1", "1", "call-code")
        b.tool_started("turn-1", "tool-exec", model_visible_call_id="call-code")
    b.tool_started(
        "turn-1",
        "nested",
        runtime_tool_id="tool-1",
        requester={"type": "code_cell", "runtime_cell_id": "1"},
        kind={"type": "other", "name": "add"},
    )
    out = state(b.reduce())

    tool_call = out["tool_calls"]["tool-exec"]
    assert "started_code_cell_id" not in out["tool_calls"]["nested"]
    if schema == 1:
        assert "started_code_cell_id" not in tool_call
        return
    assert tool_call["started_code_cell_id"] == "code_cell:call-code"
    keys = list(tool_call)
    assert keys.index("started_code_cell_id") == keys.index("code_mode_runtime_tool_id") + 1


@pytest.mark.parametrize("tool_first", [True, False])
def test_exec_tool_call_in_another_thread_does_not_name_the_cell(tmp_path: Path, tool_first: bool) -> None:
    b = TraceBuilder(tmp_path)
    b.add("thread_started", thread_id="thread-child", agent_path="/root/child", metadata_payload=None)
    b.turn("turn-root", ROOT)
    b.turn("turn-child", "thread-child")
    b.inference("inference-child", "turn-child", [user("go")], "thread-child")
    b.completed("inference-child", "resp-child", [exec_call("call-child")])
    if tool_first:
        b.tool_started("turn-root", "tool-root", model_visible_call_id="call-child")
    b.cell_started("turn-child", "1", "call-child", "thread-child")
    if not tool_first:
        b.tool_started("turn-root", "tool-root", model_visible_call_id="call-child")
    out = state(b.reduce())
    assert out["code_cells"]["code_cell:call-child"]["thread_id"] == "thread-child"
    assert "started_code_cell_id" not in out["tool_calls"]["tool-root"]


def test_cell_that_never_finds_its_source_item_is_left_out(tmp_path: Path) -> None:
    b = TraceBuilder(tmp_path)
    b.turn("turn-1")
    b.inference("inference-1", "turn-1", [user("go")])
    b.completed("inference-1", "resp-1", [exec_call("call-code")])
    b.tool_started("turn-1", "tool-ghost", model_visible_call_id="call-ghost")
    b.cell_started("turn-1", "1", "call-ghost")
    b.cell_event("code_cell_ended", "turn-1", "1", "completed")
    out = state(b.reduce())
    assert out["code_cells"] == {}
    assert "started_code_cell_id" not in out["tool_calls"]["tool-ghost"]


# ---------------------------------------------------------------------------------
# Faults (official message texts)
# ---------------------------------------------------------------------------------


def _fault_message(b: TraceBuilder) -> str:
    reducer = b.reduce()
    assert reducer.fault is not None
    return reducer.fault.message


def _started_cell(tmp_path: Path) -> TraceBuilder:
    b = TraceBuilder(tmp_path)
    b.turn("turn-1")
    b.inference("inference-1", "turn-1", [user("go")])
    b.completed("inference-1", "resp-1", [exec_call("call-code"), exec_call("call-other")])
    b.cell_started("turn-1", "1", "call-code")
    return b


def test_unknown_runtime_cell_is_a_fault(tmp_path: Path) -> None:
    b = _started_cell(tmp_path)
    b.cell_event("code_cell_initial_response", "turn-1", "9", "completed")
    assert _fault_message(b) == f"code cell initial response referenced unknown runtime cell 9 in thread {ROOT}"


def test_nested_tool_of_unknown_runtime_cell_is_a_fault(tmp_path: Path) -> None:
    b = _started_cell(tmp_path)
    b.tool_started("turn-1", "nested", requester={"type": "code_cell", "runtime_cell_id": "9"})
    assert _fault_message(b) == f"code-mode nested tool referenced unknown runtime cell 9 in thread {ROOT}"


def test_duplicate_start_is_a_fault(tmp_path: Path) -> None:
    b = _started_cell(tmp_path)
    b.cell_started("turn-1", "1", "call-code")
    assert _fault_message(b) == "duplicate code cell start for code_cell:call-code"


def test_runtime_cell_id_reused_for_another_cell_is_a_fault(tmp_path: Path) -> None:
    b = _started_cell(tmp_path)
    b.cell_started("turn-1", "1", "call-other")
    assert _fault_message(b) == (
        f"runtime code cell 1 in thread {ROOT} mapped to both code_cell:call-code and code_cell:call-other"
    )


def test_start_without_thread_or_turn_is_a_fault(tmp_path: Path) -> None:
    b = TraceBuilder(tmp_path)
    b.add("code_cell_started", runtime_cell_id="1", model_visible_call_id="call-code", source_js=JS)
    assert _fault_message(b) == "code cell start 1 did not include a thread id"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ('{"yield_time_ms": 5}', "did not contain cell_id"),
        ('{"cell_id": 1}', "did not contain cell_id"),
        ("{not json", "had invalid JSON arguments"),
    ],
)
def test_wait_without_a_usable_cell_id_is_a_fault(tmp_path: Path, arguments: str, message: str) -> None:
    b = _started_cell(tmp_path)
    wait = b.payload("tool_invocation", {"tool_name": "wait", "payload": {"type": "function", "arguments": arguments}})
    b.tool_started(
        "turn-1", "wait-1", model_visible_call_id="wait-call", kind={"type": "other", "name": "wait"}, invocation=wait
    )
    assert _fault_message(b) == f"wait tool request payload {wait['raw_payload_id']} {message}"


# ---------------------------------------------------------------------------------
# Pieces that need no other concern
# ---------------------------------------------------------------------------------


def test_started_code_cell_id_is_placed_after_runtime_tool_id(tmp_path: Path) -> None:
    b = TraceBuilder(tmp_path, 2)
    b.turn("turn-1")
    b.inference("inference-1", "turn-1", [user("run it")])
    b.completed("inference-1", "resp-1", [exec_call("call-code")])
    b.cell_started("turn-1", "1", "call-code")
    b.tool_started("turn-1", "call-code", model_visible_call_id="call-code")
    keys = list(state(b.reduce())["tool_calls"]["call-code"])
    assert keys[keys.index("code_mode_runtime_tool_id") + 1 : keys.index("code_mode_runtime_tool_id") + 3] == [
        "started_code_cell_id",
        "thread_id",
    ]


def test_runtime_mapping_is_per_thread_and_stable(tmp_path: Path) -> None:
    """A runtime cell id names one cell per thread; the same id may name another cell elsewhere."""
    b = TraceBuilder(tmp_path, 2)
    b.add("thread_started", thread_id="thread-b", agent_path="/root/b", metadata_payload=None)
    b.turn("turn-1")
    b.add("codex_turn_started", codex_turn_id="turn-b", thread_id="thread-b")
    b.cell_started("turn-1", "1", "call-x")
    b.cell_started("turn-1", "1", "call-x", thread=ROOT)  # the same mapping again: queued twice is the fault
    reducer = b.reduce()
    assert reducer.fault is not None and "duplicate code cell start for code_cell:call-x" in reducer.fault.message

    b = TraceBuilder(tmp_path / "two", 2)
    b.add("thread_started", thread_id="thread-b", agent_path="/root/b", metadata_payload=None)
    b.turn("turn-1")
    b.add("codex_turn_started", codex_turn_id="turn-b", thread_id="thread-b")
    b.cell_started("turn-1", "1", "call-x")
    b.cell_started("turn-b", "1", "call-y", thread="thread-b")  # another thread: another cell
    b.tool_started("turn-1", "nested", requester={"type": "code_cell", "runtime_cell_id": "1"})
    cell = b.cell_started("turn-1", "1", "call-z")
    reducer = b.reduce()
    assert reducer.fault is not None and reducer.fault.seq == cell
    assert (
        reducer.fault.message
        == "runtime code cell 1 in thread thread-root mapped to both code_cell:call-x and code_cell:call-z"
    )
    assert reducer.rollout.tool_calls["nested"].requester == CodeCellRequester("code_cell:call-x")


# ---------------------------------------------------------------------------------
# Real recordings
# ---------------------------------------------------------------------------------


def _corpus_case(name: str) -> Path:
    return require(f"corpus/{name}")


@pytest.mark.parametrize("case", ["tools_code_mode", "tools_code_mode_only"])
def test_corpus_code_cells_match_official(case: str) -> None:
    path = _corpus_case(case)
    expected = json.loads((path / "expected_state.json").read_text())
    out = state(reduce_bundle(path))
    assert out["code_cells"] == expected["code_cells"]
    started = {k: v.get("started_code_cell_id") for k, v in out["tool_calls"].items()}
    assert started == {k: v.get("started_code_cell_id") for k, v in expected["tool_calls"].items()}


@pytest.mark.parametrize("case", ["tools_code_mode", "tools_code_mode_only"])
def test_corpus_case_as_schema1_drops_only_the_new_fields(tmp_path: Path, case: str) -> None:
    """The same recording written as schema 1: identical cells minus the schema 2 keys."""
    path = _corpus_case(case)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["schema_version"] = 1
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    shutil.copytree(path / "payloads", tmp_path / "payloads")
    lines = []
    for line in (path / "trace.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event["payload"]["type"] in ("history_item_accepted", "recording_completed", "stdin_target_resolved"):
            continue
        event["schema_version"] = 1
        event["seq"] = len(lines) + 1
        if event["payload"]["type"] == "tool_call_runtime_started":
            event["payload"].pop("kind", None)
        lines.append(json.dumps(event))
    (tmp_path / "trace.jsonl").write_text("\n".join(lines) + "\n")
    expected = json.loads((path / "expected_state.json").read_text())["code_cells"]
    out = state(reduce_bundle(tmp_path))
    for cell in expected.values():
        for key in SCHEMA2_CELL_KEYS:
            del cell[key]
    # Seqs shift once the schema 2 only events are dropped; compare everything else.
    for cells in (expected, out["code_cells"]):
        for cell in cells.values():
            for key in ("execution", "initial_response_seq", "yielded_seq"):
                cell.pop(key)
    assert out["code_cells"] == expected
    assert not any("started_code_cell_id" in tool_call for tool_call in out["tool_calls"].values())
