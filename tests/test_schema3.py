"""Schema 3 (Codex 0.171.0) rules: payload shards, prepared prompts, accepted tool outputs, confirmed waits.

Every scenario is a tiny bundle written with ``bundle_builder`` in schema 3 layout (zstd shards, one
flushed block per record, prepared prompts with ``model_item`` parts) and replayed with the real
reducer. Each rule was settled by running Codex 0.171.0's ``debug trace-reduce`` on the same bundle;
the experiment names in the docstrings are the ones in docs/REDUCER-NOTES.md ("Schema 3").
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from bundle_builder import BundleBuilder, Payload, message, shard_record, write_shard
from state_view import json_state

from trace_viewer import cli
from trace_viewer.bundle.event_log import parse_json_bytes
from trace_viewer.bundle.shards import ShardReader
from trace_viewer.reducer import Reducer, prepared
from trace_viewer.reducer.errors import ReduceError
from trace_viewer.reducer.fields import JsonValue
from trace_viewer.reducer.prepared import PreparedPromptChecker, assemble, prepared_prompt_problem
from trace_viewer.reducer.replay import Replay, reduce_bundle

ROOT = "thread-root"
SAMPLES = Path(__file__).resolve().parents[1] / "sample_traces"

USER = message("user", "hi", item_id="msg_u")
CALL = {"type": "function_call", "id": "fc_1", "name": "exec_command", "arguments": '{"cmd":"ls"}', "call_id": "call_1"}
OUTPUT = {"type": "function_call_output", "id": "fco_1", "call_id": "call_1", "output": "files"}
OTHER = message("user", "zz")
MORE = message("user", "yy")


def started(tmp_path: Path, schema_version: int = 3) -> BundleBuilder:
    bundle = BundleBuilder(tmp_path / "bundle", schema_version=schema_version)
    bundle.add({"type": "rollout_started", "trace_id": "trace-1", "root_thread_id": ROOT})
    bundle.thread()
    bundle.turn("turn-1")
    return bundle


def tool(bundle: BundleBuilder, call_id: str = "call_1", name: str = "exec_command") -> int:
    return bundle.add(
        {
            "type": "tool_call_started",
            "tool_call_id": call_id,
            "model_visible_call_id": call_id,
            "code_mode_runtime_tool_id": None,
            "requester": {"type": "model"},
            "kind": {"type": "other", "name": name},
            "summary": {"type": "generic", "label": name, "input_preview": None, "output_preview": None},
            "invocation_payload": None,
        },
        thread=ROOT,
        turn="turn-1",
    )


def accept_output(bundle: BundleBuilder, body: Any, item_id: str = "fco_1") -> int:
    return bundle.add(
        {"type": "history_item_accepted", "item_id": item_id, "tool_output_payload": Payload("protocol_event", body)},
        thread=ROOT,
        turn="turn-1",
    )


def with_output_accepted(tmp_path: Path, body: Any = OUTPUT) -> BundleBuilder:
    """A call asks for a tool, the tool runs, and its output is accepted into history."""
    bundle = started(tmp_path)
    bundle.inference("i1", "turn-1", [USER], [CALL])
    tool(bundle)
    accept_output(bundle, body)
    return bundle


def items(reducer: Reducer) -> dict[str, Any]:
    return json_state(reducer)["conversation_items"]


def numbers(ids: list[str]) -> list[int]:
    return [int(item_id.rsplit(":", 1)[1]) for item_id in ids]


def transcript(reducer: Reducer) -> list[int]:
    return numbers(json_state(reducer)["threads"][ROOT]["conversation_item_ids"])


def request_of(reducer: Reducer, call_id: str) -> list[int]:
    return numbers(json_state(reducer)["inference_calls"][call_id]["request_item_ids"])


def reduced_ok(bundle: BundleBuilder, **write_options: Any) -> Reducer:
    reducer = bundle.reduce(**write_options)
    assert reducer.fault is None, reducer.fault
    return reducer


def fault_of(bundle: BundleBuilder, **write_options: Any) -> str:
    reducer = bundle.reduce(**write_options)
    assert reducer.fault is not None
    return str(reducer.fault)


# ----- state shape ----------------------------------------------------------------------------------


def test_shard_refs_prepared_prompts_and_recording_status(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    bundle.inference("i1", "turn-1", [USER], [message("assistant", "done")])
    reducer = reduced_ok(bundle)
    state = json.loads(cli.dump_state(reducer.to_json()))
    assert state["recording_status"] == "unclosed" and "recording_complete" not in state
    call = state["inference_calls"]["i1"]
    keys = list(call)
    assert keys.index("raw_request_payload_id") + 1 == keys.index("prepared_prompt_payload_id")
    prepared = state["raw_payloads"][call["prepared_prompt_payload_id"]]
    assert prepared["kind"] == {"type": "prepared_prompt"} and prepared["shard"] == 1
    assert [part["kind"]["type"] for part in prepared["parts"]] == ["model_item"]
    part_id = prepared["parts"][0]["raw_payload_id"]
    assert state["raw_payloads"][part_id] == {"raw_payload_id": part_id, "kind": {"type": "model_item"}, "shard": 1}
    assert all("path" not in record for record in state["raw_payloads"].values())

    bundle.add({"type": "recording_completed"})
    assert json.loads(cli.dump_state(reduced_ok(bundle).to_json()))["recording_status"] == "complete"


def test_model_items_are_stored_once_and_shared_by_later_prompts(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    bundle.inference("i1", "turn-1", [USER], [message("assistant", "a", item_id="m1")])
    bundle.inference(
        "i2", "turn-1", [USER, message("assistant", "a", item_id="m1"), OTHER], [message("assistant", "b")]
    )
    reducer = reduced_ok(bundle)
    payloads = json_state(reducer)["raw_payloads"]
    first, second = (
        payloads[json_state(reducer)["inference_calls"][call]["prepared_prompt_payload_id"]]["parts"]
        for call in ("i1", "i2")
    )
    assert second[0] == first[0]  # the same model_item record, referenced by both prompts
    assert len(second) == 3


def test_the_prepared_prompt_assembles_into_the_request(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    request = {"input": [USER, OTHER], "tools": [{"type": "function", "name": "exec_command"}]}
    bundle.inference("i1", "turn-1", request, [message("assistant", "ok")])
    reducer = reduced_ok(bundle)
    ref = json_state(reducer)["raw_payloads"][
        json_state(reducer)["inference_calls"]["i1"]["prepared_prompt_payload_id"]
    ]
    store = reducer.payloads
    fragments = store.read(ref)
    assert prepared_prompt_problem(fragments, len(ref["parts"])) is None
    assert json.loads(assemble(fragments, [store.read_text(part) for part in ref["parts"]])) == request


# ----- accepted tool outputs ------------------------------------------------------------------------


def test_an_accepted_tool_output_is_an_item_before_any_request_shows_it(tmp_path: Path) -> None:
    """exec_basic / compaction_local_midturn: first seen at the acceptance, produced by its tool, not model-visible."""
    bundle = with_output_accepted(tmp_path)
    acceptance = len(bundle.events)
    reducer = reduced_ok(bundle)
    item = items(reducer)["conversation_item:3"]
    assert item["kind"] == "function_call_output" and item["responses_item_id"] == "fco_1"
    assert item["first_seen_at_unix_ms"] == bundle.events[acceptance - 1]["wall_time_unix_ms"]
    assert item["accepted_seq"] == acceptance
    assert item["produced_by"] == [{"type": "tool", "tool_call_id": "call_1"}]
    assert json_state(reducer)["tool_calls"]["call_1"]["model_visible_output_item_ids"] == []
    assert transcript(reducer) == [1, 3]  # fc_1 was never accepted: only a request would admit it

    bundle.inference("i2", "turn-1", [USER, CALL, OUTPUT], [message("assistant", "done")])
    reducer = reduced_ok(bundle)
    assert request_of(reducer, "i2") == [1, 2, 3]
    assert json_state(reducer)["tool_calls"]["call_1"]["model_visible_output_item_ids"] == ["conversation_item:3"]


def test_the_next_sighting_of_the_id_binds_to_the_accepted_output_whatever_its_content(tmp_path: Path) -> None:
    """A5 / A8 / A9: the item keeps its kind and call id, takes the body the model saw, links the request's tool."""
    bundle = with_output_accepted(tmp_path, {**OUTPUT, "type": "custom_tool_call_output", "call_id": "call_zz"})
    bundle.inference("i2", "turn-1", [USER, CALL, {**OUTPUT, "output": "other text"}], [message("assistant", "d")])
    reducer = reduced_ok(bundle)
    item = items(reducer)["conversation_item:3"]
    assert request_of(reducer, "i2") == [1, 2, 3]
    assert (item["kind"], item["call_id"]) == ("custom_tool_call_output", "call_zz")
    assert item["body"]["parts"] == [{"type": "text", "text": "other text"}]
    assert item["produced_by"] == [{"type": "tool", "tool_call_id": "call_1"}]  # call_zz has no tool


def test_an_accepted_output_is_not_in_the_live_snapshot(tmp_path: Path) -> None:
    """S4: an id-less copy of the output before it in the next request is a new item, not a positional match."""
    bundle = with_output_accepted(tmp_path)
    copy = {key: value for key, value in OUTPUT.items() if key != "id"}
    bundle.inference("i2", "turn-1", [USER, CALL, copy, OUTPUT], [message("assistant", "d")])
    reducer = reduced_ok(bundle)
    assert request_of(reducer, "i2") == [1, 2, 4, 3]


@pytest.mark.parametrize(
    ("requests", "expected"),
    [
        ([[USER, CALL, OTHER, OUTPUT]], [1, 2, 4, 3]),  # S7
        ([[USER, CALL, OTHER]], [1, 2, 3, 4]),  # S8: no binding, creation order
        ([[USER, CALL, OTHER], [USER, CALL, OTHER, OUTPUT]], [1, 2, 3, 4]),  # S5: bound later, nothing new before it
        ([[OTHER, USER, CALL, OUTPUT]], [1, 2, 4, 3]),
        ([[USER, CALL, OTHER], [USER, CALL, OTHER, MORE, OUTPUT]], [1, 2, 6, 3, 4]),
        ([[USER, CALL, OTHER, OUTPUT, MORE]], [1, 2, 4, 3, 5]),
        ([[OTHER, MORE, OUTPUT]], [1, 4, 5, 3]),
    ],
)
def test_new_items_before_a_bound_output_go_before_it_in_the_transcript(
    tmp_path: Path, requests: list[list[Any]], expected: list[int]
) -> None:
    bundle = with_output_accepted(tmp_path)
    for index, request in enumerate(requests):
        bundle.inference(f"j{index}", "turn-1", request, [message("assistant", f"reply {index}")])
    assert transcript(reduced_ok(bundle)) == expected


def test_an_agent_message_receipt_keeps_creation_order(tmp_path: Path) -> None:
    """agents_minimal: the rule above is for accepted tool outputs only."""
    bundle = started(tmp_path)
    receipt = {"type": "agent_message", "id": "am_1", "author": "/root", "recipient": "/root"}
    receipt["content"] = [{"type": "input_text", "text": "task"}]
    bundle.add(
        {
            "type": "history_item_accepted",
            "item_id": "am_1",
            "agent_message_payload": Payload("protocol_event", receipt),
        },
        thread=ROOT,
        turn="turn-1",
    )
    bundle.inference("i1", "turn-1", [OTHER, MORE, receipt], [message("assistant", "b")])
    reducer = reduced_ok(bundle)
    assert request_of(reducer, "i1") == [2, 3, 1]
    assert transcript(reducer) == [1, 2, 3]


def test_an_output_accepted_twice_or_already_seen_makes_no_second_item(tmp_path: Path) -> None:
    """A10 / A10b / A11."""
    bundle = with_output_accepted(tmp_path)
    accept_output(bundle, {**OUTPUT, "output": "changed"})
    bundle.inference("i2", "turn-1", [USER, CALL, OUTPUT], [message("assistant", "d")])
    reducer = reduced_ok(bundle)
    assert [item["responses_item_id"] for item in items(reducer).values() if item["kind"].endswith("output")] == [
        "fco_1"
    ]

    bundle = started(tmp_path / "seen")
    bundle.inference("i1", "turn-1", [USER], [CALL])
    tool(bundle)
    bundle.inference("i2", "turn-1", [USER, CALL, OUTPUT], [message("assistant", "d")])
    acceptance = accept_output(bundle, OUTPUT)
    reducer = reduced_ok(bundle)
    assert len(items(reducer)) == 4 and items(reducer)["conversation_item:3"]["accepted_seq"] == acceptance


@pytest.mark.parametrize(
    ("body", "message_start"),
    [
        ({**OUTPUT, "id": "fco_2"}, "accepted item payload does not match fco_1"),  # A1
        (message("user", "x", item_id="fco_1"), "accepted item payload does not match fco_1"),  # A2
        ({key: value for key, value in OUTPUT.items() if key != "id"}, "accepted item payload does not match"),  # A3
        ({**CALL, "id": "fco_1"}, "accepted item payload does not match fco_1"),  # G function_call
        ({"id": "fco_1"}, "model item in payload raw_payload:"),  # A7: the item itself is checked first
    ],
)
def test_an_accepted_output_must_be_a_tool_output_with_the_accepted_id(
    tmp_path: Path, body: Any, message_start: str
) -> None:
    bundle = with_output_accepted(tmp_path, body)
    acceptance = len(bundle.events)
    bundle.inference("i2", "turn-1", [USER], [message("assistant", "later")])
    later_request = _inference_refs(bundle, 1)["request_payload"]["raw_payload_id"]
    reducer = bundle.reduce(drop=frozenset({later_request}))  # a later fault loses: the check is in replay
    assert reducer.fault is not None and reducer.fault.seq == acceptance
    assert reducer.fault.message.startswith(message_start), reducer.fault


@pytest.mark.parametrize("schema_version", [2, 3])
def test_outputs_may_be_resent_with_other_content_from_schema_2_on(tmp_path: Path, schema_version: int) -> None:
    """C1-C6: the model-visible call id check covers calls only (0.169.0 and 0.171.0); schema 1 covers outputs too."""
    bundle = started(tmp_path, schema_version)
    bundle.inference("i1", "turn-1", [USER, CALL, OUTPUT], [message("assistant", "d")])
    bundle.inference("i2", "turn-1", [USER, CALL, {**OUTPUT, "output": "other"}], [message("assistant", "e")])
    reducer = reduced_ok(bundle)
    assert request_of(reducer, "i2") == [1, 2, 5]

    bundle.inference("i3", "turn-1", [USER, {**CALL, "arguments": '{"cmd":"pwd"}'}], [message("assistant", "f")])
    assert "model-visible call id call_1 was reused with different content" in fault_of(bundle)


def test_schema_1_still_refuses_a_resent_output_with_other_content(tmp_path: Path) -> None:
    bundle = BundleBuilder(tmp_path / "bundle", schema_version=1)
    bundle.thread()
    bundle.turn("turn-1")
    bundle.inference("i1", "turn-1", [USER, CALL, OUTPUT], [message("assistant", "d")])
    bundle.inference("i2", "turn-1", [USER, CALL, {**OUTPUT, "output": "other"}], [message("assistant", "e")])
    assert "model-visible call id call_1 was reused with different content" in fault_of(bundle)


# ----- references -----------------------------------------------------------------------------------


def _inference_refs(bundle: BundleBuilder, index: int) -> dict[str, Any]:
    return [event["payload"] for event in bundle.events if event["payload"]["type"] == "inference_started"][index]


def test_a_reference_that_contradicts_an_earlier_one_is_refused(tmp_path: Path) -> None:
    """Conflicting references (T1-T10): any other kind, shard or parts for a known id, parts included."""
    bundle = started(tmp_path)
    bundle.inference("i1", "turn-1", [USER], [message("assistant", "a")])
    bundle.inference("i2", "turn-1", [USER], [message("assistant", "b")])
    part_id = _inference_refs(bundle, 0)["prepared_prompt_payload"]["parts"][0]["raw_payload_id"]
    later_part = _inference_refs(bundle, 1)["prepared_prompt_payload"]["parts"][0]
    reduced_ok(bundle)  # the same part in both prompts, referenced identically

    for field, value in (("kind", {"type": "protocol_event"}), ("shard", 2)):
        original = later_part[field]
        later_part[field] = value
        reducer = bundle.reduce()
        assert reducer.fault is not None and reducer.fault.message == f"conflicting references for payload {part_id}"
        assert reducer.fault.seq == len(bundle.events) - 1
        later_part[field] = original

    _inference_refs(bundle, 1)["request_payload"]["raw_payload_id"] = part_id  # a part, now top level
    assert f"conflicting references for payload {part_id}" in fault_of(bundle)

    bundle = started(tmp_path / "within")
    bundle.inference("i1", "turn-1", [USER], [message("assistant", "a")])
    prepared = _inference_refs(bundle, 0)["prepared_prompt_payload"]
    prepared["parts"].append({**prepared["parts"][0], "shard": 2})  # T4: one prompt, two shards for one id
    assert "conflicting references for payload" in fault_of(bundle)


def test_request_evidence_must_be_labelled(tmp_path: Path) -> None:
    """0.171.0 checks the two kinds after the duplicate-start check and before the turn check."""
    bundle = started(tmp_path)
    bundle.inference("i1", "turn-1", [USER], [message("assistant", "a")])
    payload = _inference_refs(bundle, 0)
    payload["request_payload"]["kind"] = {"type": "model_item"}
    payload["codex_turn_id"] = "no-such-turn"
    assert fault_of(bundle).endswith("inference i1 has mislabeled request evidence")


@pytest.mark.parametrize("schema_version", [2, 3])
def test_unknown_payload_kinds_are_refused_on_their_line(tmp_path: Path, schema_version: int) -> None:
    bundle = started(tmp_path, schema_version)
    line = bundle.inference("i1", "turn-1", [USER], [message("assistant", "a")]) - 1
    _inference_refs(bundle, 0)["request_payload"]["kind"] = {"type": "warp_drive"}
    reducer = bundle.reduce()
    assert reducer.fault is not None and reducer.fault.line == line
    assert "unknown variant `warp_drive`" in reducer.fault.message


def test_a_prepared_prompt_is_required_and_a_ref_needs_a_shard(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    bundle.inference("i1", "turn-1", [USER], [message("assistant", "a")])
    _inference_refs(bundle, 0).pop("prepared_prompt_payload")
    assert "missing field `prepared_prompt_payload`" in fault_of(bundle)

    # A schema 2 `path` means nothing in schema 3: with no shard, the payload is one Codex left out.
    bundle = started(tmp_path / "path")
    bundle.inference("i1", "turn-1", [USER], [message("assistant", "a")])
    request = _inference_refs(bundle, 0)["request_payload"]
    request["path"] = "payloads/1.json"
    del request["shard"]
    assert fault_of(bundle).endswith(f"payload {request['raw_payload_id']}: payload omitted by size limit")


@pytest.mark.parametrize("how", ["null", "absent"])
def test_a_reference_without_a_shard_is_a_payload_omitted_by_size_limit(tmp_path: Path, how: str) -> None:
    """0.171.0 accepts the line and fails where it reads the payload, with no line in its message; we
    name the line, seq and payload. A request is read at its event, a prepared prompt after the log."""
    for field, read_at_its_event in (("request_payload", True), ("prepared_prompt_payload", False)):
        bundle = started(tmp_path / field / how)
        started_seq = bundle.inference("i1", "turn-1", [USER], [message("assistant", "a")]) - 1
        ref = _inference_refs(bundle, 0)[field]
        if how == "null":
            ref["shard"] = None
        else:
            del ref["shard"]
        reducer = bundle.reduce()
        fault = reducer.fault
        assert fault is not None, field
        assert fault.message == "payload omitted by size limit"
        assert (fault.line, fault.seq, fault.payload_id) == (started_seq, started_seq, ref["raw_payload_id"])
        assert fault.after_log is not read_at_its_event, field
        assert fault.payload_path in (None, ""), "a reference with no shard is stored nowhere"
        assert f"payload {ref['raw_payload_id']}" in str(fault) and f"line {started_seq}" in str(fault)


@pytest.mark.parametrize(
    ("shard", "problem"),
    [
        ("1", 'invalid type: string "1", expected u64'),
        (True, "invalid type: boolean `true`, expected u64"),
        ({}, "invalid type: map, expected u64"),
        ([1], "invalid type: sequence, expected u64"),
        (-1, "invalid value: integer `-1`, expected u64"),
        # 0.171.0 reads lines with arbitrary precision: a non-integer number reaches the u64 as
        # serde_json's private number map.
        (1.0, "invalid type: map, expected u64"),
        (1.5, "invalid type: map, expected u64"),
        (2**64, "invalid type: map, expected u64"),
    ],
)
def test_a_shard_of_the_wrong_type_refuses_the_line(tmp_path: Path, shard: object, problem: str) -> None:
    """0.171.0: `parse trace event line N` / `invalid type: …, expected u64` (checked on damaged corpus
    bundles). The fault names the line, seq and payload; nothing of the line is applied."""
    bundle = started(tmp_path)
    started_seq = bundle.inference("i1", "turn-1", [USER], [message("assistant", "a")]) - 1
    ref = _inference_refs(bundle, 0)["prepared_prompt_payload"]["parts"][0]
    ref["shard"] = shard
    reducer = bundle.reduce()
    fault = reducer.fault
    assert fault is not None
    assert fault.message == f"payload reference `prepared_prompt_payload.parts`: {problem}"
    assert (fault.line, fault.seq, fault.payload_id, fault.after_log) == (
        started_seq,
        started_seq,
        ref["raw_payload_id"],
        False,
    )
    assert reducer.events_applied == started_seq - 1
    assert "i1" not in reducer.rollout.inference_calls


# ----- the end-of-log payload check -----------------------------------------------------------------


def test_prepared_prompts_are_checked_after_the_last_line(tmp_path: Path) -> None:
    """e3 / e4: never read while replaying, so a fault in the log wins; then each is checked in id order."""
    bundle = started(tmp_path)
    bundle.inference("i1", "turn-1", [USER], [message("assistant", "a")])
    prepared = _inference_refs(bundle, 0)["prepared_prompt_payload"]["raw_payload_id"]
    response = "raw_payload:4"
    reducer = bundle.reduce(corrupt={prepared: b"[]"}, drop=frozenset({response}))
    assert reducer.fault is not None and reducer.fault.payload_id == response and not reducer.fault.after_log

    for body, problem in [
        (b'{"x":1}', "invalid type: map, expected a sequence"),
        (b'["a",1]', "invalid type: integer `1`, expected a string"),
        (b'["a"]', "invalid payload fragment count"),
        (b'["{\\"a\\":","} x"]', "prepared prompt is not JSON once assembled"),
    ]:
        reducer = bundle.reduce(corrupt={prepared: body})
        assert reducer.fault is not None and reducer.fault.after_log, body
        assert reducer.fault.payload_id == prepared and reducer.fault.message.startswith(problem), reducer.fault
        assert reducer.fault.line == 4  # where the prompt was first referenced
        assert json_state(reducer)["inference_calls"]["i1"]["response_item_ids"]  # every line was applied
    reduced_ok(bundle, corrupt={prepared: b'["[","]"]'})  # any JSON document will do, not only a request


def test_the_end_of_log_check_goes_in_payload_id_text_order(tmp_path: Path) -> None:
    """count 9 + drop 12: `raw_payload:12` sorts before `raw_payload:9`."""
    bundle = started(tmp_path)
    for index in range(3):
        bundle.inference(f"i{index}", "turn-1", [USER, message("user", f"n{index}")], [message("assistant", "a")])
    prompts = [_inference_refs(bundle, index)["prepared_prompt_payload"]["raw_payload_id"] for index in range(3)]
    late_part = _inference_refs(bundle, 2)["prepared_prompt_payload"]["parts"][1]["raw_payload_id"]
    assert numbers([late_part]) > numbers([prompts[0]]) and late_part < prompts[0]
    reducer = bundle.reduce(corrupt={prompts[0]: b'["a"]'}, drop=frozenset({late_part}))
    assert reducer.fault is not None and reducer.fault.payload_id == late_part
    assert reducer.fault.message == f"missing payload {late_part} in shard 1"


# ----- confirmed waits ------------------------------------------------------------------------------

EXEC = {"type": "custom_tool_call", "id": "ct_1", "call_id": "c1", "name": "exec", "input": "text('hi')"}
EXEC_OUTPUT = {"type": "custom_tool_call_output", "id": "cto_1", "call_id": "c1", "output": "yielded"}


def code_mode(tmp_path: Path, arguments_cell: str = "1") -> BundleBuilder:
    """A yielded cell `1` and a model `wait` call `w1` whose arguments name ``arguments_cell``."""
    bundle = started(tmp_path)
    bundle.inference("i1", "turn-1", [USER], [EXEC])
    tool(bundle, "c1", "exec")
    cell = {"runtime_cell_id": "1"}
    bundle.add(
        {"type": "code_cell_started", **cell, "model_visible_call_id": "c1", "source_js": "x"},
        thread=ROOT,
        turn="turn-1",
    )
    bundle.add(
        {"type": "code_cell_initial_response", **cell, "status": "yielded", "response_payload": None},
        thread=ROOT,
        turn="turn-1",
    )
    wait = {"type": "function_call", "id": "fw_1", "call_id": "w1", "name": "wait"}
    wait["arguments"] = json.dumps({"cell_id": arguments_cell})
    bundle.inference("i2", "turn-1", [USER, EXEC, EXEC_OUTPUT], [wait])
    tool(bundle, "w1", "wait")
    return bundle


def resolve(bundle: BundleBuilder, tool_call_id: str = "w1", cell: str = "1", **envelope: Any) -> int:
    context = {"thread": ROOT, "turn": "turn-1", **envelope}
    return bundle.add(
        {"type": "code_cell_wait_target_resolved", "tool_call_id": tool_call_id, "runtime_cell_id": cell}, **context
    )


def test_a_confirmed_wait_names_its_cell_and_links_it(tmp_path: Path) -> None:
    """V1 / V5 / V6: the confirmation, not the call's arguments, links the wait (and no arguments are parsed)."""
    bundle = code_mode(tmp_path, arguments_cell="9")
    reducer = reduced_ok(bundle)
    assert json_state(reducer)["code_cells"]["code_cell:c1"]["wait_tool_call_ids"] == []
    resolve(bundle)
    reducer = reduced_ok(bundle)
    wait = json_state(reducer)["tool_calls"]["w1"]
    keys = list(wait)
    assert wait["resolved_wait_runtime_cell_id"] == "1"
    assert keys.index("resolved_wait_runtime_cell_id") == keys.index("code_mode_runtime_tool_id") + 1
    assert "resolved_wait_runtime_cell_id" not in json_state(reducer)["tool_calls"]["c1"]
    assert json_state(reducer)["code_cells"]["code_cell:c1"]["wait_tool_call_ids"] == ["w1"]


def test_a_wait_confirmed_for_an_unknown_cell_is_kept_unlinked(tmp_path: Path) -> None:
    """V2."""
    bundle = code_mode(tmp_path)
    resolve(bundle, cell="2")
    reducer = reduced_ok(bundle)
    assert json_state(reducer)["tool_calls"]["w1"]["resolved_wait_runtime_cell_id"] == "2"
    assert json_state(reducer)["code_cells"]["code_cell:c1"]["wait_tool_call_ids"] == []


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"thread": None, "tool_call_id": "nope"}, "confirmed wait missing thread"),  # V10 / v11: first check
        ({"turn": None}, "confirmed wait missing turn"),  # v13
        ({"tool_call_id": "nope"}, "confirmed wait referenced unknown dispatch nope"),  # V3
        ({"turn": "turn-x"}, "confirmed wait target has wrong dispatch context"),  # v15
        ({"thread": "thread-x"}, "confirmed wait target has wrong dispatch context"),  # v12
        ({"twice": True, "turn": "turn-x"}, "confirmed wait target has wrong dispatch context"),  # v17
        ({"twice": True}, "duplicate confirmed wait target for w1"),  # V4b
    ],
)
def test_a_confirmed_wait_is_checked(tmp_path: Path, edit: dict[str, Any], message: str) -> None:
    bundle = code_mode(tmp_path)
    edit = dict(edit)
    if edit.pop("twice", False):
        resolve(bundle)
    tool_call_id = edit.pop("tool_call_id", "w1")
    seq = resolve(bundle, tool_call_id, **edit)
    reducer = bundle.reduce()
    assert reducer.fault is not None and reducer.fault.seq == seq and reducer.fault.message == message


# ----- samples: faults of a real 0.171.0 bundle ----------------------------------------------------------


def test_a_missing_shard_is_a_fault_naming_it(tmp_path: Path) -> None:
    reducer = reduce_bundle(SAMPLES / "schema3_broken_missing_shard")
    assert reducer.fault is not None and reducer.fault.line == 2 and reducer.fault.payload_id == "raw_payload:1"
    assert "open shard" in reducer.fault.message and "payloads/000001.zst" in reducer.fault.message
    assert "No such file or directory (os error 2)" in reducer.fault.message


def test_a_missing_record_is_a_fault_naming_payload_and_shard(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(SAMPLES / "schema3_exec_basic", bundle)
    reader = ShardReader(bundle)
    kept = [shard_record(record_id, reader.read(record_id, 1)) for record_id in reader.record_ids(1)]
    kept = [
        record for record, record_id in zip(kept, reader.record_ids(1), strict=True) if record_id != "raw_payload:5"
    ]
    write_shard(bundle / "payloads" / "000001.zst", kept)  # the request of the first call, read while replaying
    reducer = reduce_bundle(bundle)
    assert reducer.fault is not None and reducer.fault.payload_id == "raw_payload:5" and not reducer.fault.after_log
    assert reducer.fault.message == "missing payload raw_payload:5 in shard 1"


def test_a_killed_run_leaves_an_unfinished_frame_that_still_reduces(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    bundle.inference("i1", "turn-1", [USER], [message("assistant", "a")])
    reducer = reduced_ok(bundle, unfinished=True)
    assert json_state(reducer)["recording_status"] == "unclosed"
    assert json_state(reducer)["inference_calls"]["i1"]["response_item_ids"] == ["conversation_item:2"]


def test_the_reference_fields_table_names_every_reference_of_every_event() -> None:
    """``payload_refs`` reads the fields named in ``REF_FIELDS``: on every event of the samples, those
    are exactly the typed payload's fields that hold a reference (and in field order)."""
    from trace_viewer.model import RawPayload
    from trace_viewer.reducer.events import REF_FIELDS, Skipped, parse_envelope, parse_payload, payload_refs

    checked = 0
    for log in sorted(SAMPLES.glob("*/trace.jsonl")):
        schema = json.loads((log.parent / "manifest.json").read_text())["schema_version"]
        for line in log.read_text().splitlines():
            try:
                envelope, raw = parse_envelope(json.loads(line))
                payload = parse_payload(envelope, raw, schema)
            except (ValueError, ReduceError):
                continue  # the broken samples
            if isinstance(payload, Skipped):
                continue
            holding = []
            for name in payload.__struct_fields__:
                value = getattr(payload, name)
                values = value if isinstance(value, tuple) else (value,)
                holding.extend(entry for entry in values if isinstance(entry, RawPayload))
                if any(isinstance(entry, RawPayload) for entry in values):
                    assert name in REF_FIELDS[envelope.type], (log.parent.name, envelope.type, name)
            assert payload_refs(envelope.type, payload) == holding
            checked += 1
    assert checked > 500


def _many_shards(tmp_path: Path, shard_limit: int = 4000) -> BundleBuilder:
    bundle = started(tmp_path)
    bundle.shard_limit = shard_limit  # a shard every few calls
    history: list[dict[str, Any]] = [USER]
    for index in range(12):
        history = [*history, message("user", f"question {index} " + "x" * 200)]
        bundle.inference(f"i{index}", "turn-1", history, [message("assistant", f"answer {index}")])
    return bundle


def _replay_with_one_shard_cached(bundle: BundleBuilder, **write_options: Any) -> tuple[Replay, ShardReader]:
    bundle.write(**write_options)
    replay = Replay(bundle.dir)
    assert replay.bundle is not None
    reader = replay.bundle.payloads.shards
    reader.cache_bytes = 1  # nothing but the shard being read stays decompressed
    reader.small_cache_bytes = 0
    replay.finish()
    return replay, reader


def test_the_end_of_log_check_does_not_decompress_every_shard_again(tmp_path: Path) -> None:
    """Payloads are checked when first referenced, while their shard is at hand; not all over after the log."""
    bundle = _many_shards(tmp_path)
    replay, reader = _replay_with_one_shard_cached(bundle)
    shards = len(list((bundle.dir / "payloads").glob("*.zst")))
    assert shards >= 6 and replay.reducer.fault is None
    assert reader.decompressions == shards  # (it was about twice as many: once in the log, once after it)
    assert json_state(replay.reducer) == json_state(reduce_bundle(bundle.dir))


@pytest.mark.parametrize("shard_limit", range(3000, 6001, 500))
def test_a_prompt_that_opens_a_new_shard_is_checked_without_a_second_decompression(
    tmp_path: Path, shard_limit: int
) -> None:
    """After a rotation the first record of the new shard can be one the reducer never reads (a
    prompt, its model items): checked early all the same, its shard is decompressed once."""
    bundle = _many_shards(tmp_path, shard_limit)
    opened_by_unread = [
        (shard, payload_id)
        for (shard, payload_id, _), (previous, _, _) in zip(bundle.records[1:], bundle.records, strict=False)
        if shard != previous and not payload_id_of_kind(bundle, payload_id, "inference_request")
    ]
    replay, reader = _replay_with_one_shard_cached(bundle)
    shards = len(list((bundle.dir / "payloads").glob("*.zst")))
    assert replay.reducer.fault is None
    assert reader.decompressions == shards, opened_by_unread
    assert json_state(replay.reducer) == json_state(reduce_bundle(bundle.dir))


def payload_id_of_kind(bundle: BundleBuilder, payload_id: str, kind: str) -> bool:
    return any(
        isinstance(ref, dict) and ref.get("raw_payload_id") == payload_id and ref.get("kind") == {"type": kind}
        for event in bundle.events
        for ref in event["payload"].values()
    )


def test_an_early_check_does_not_hide_a_problem_or_change_which_is_reported(tmp_path: Path) -> None:
    bundle = _many_shards(tmp_path)
    prompts = [_inference_refs(bundle, index)["prepared_prompt_payload"]["raw_payload_id"] for index in range(12)]
    replay, _ = _replay_with_one_shard_cached(bundle, corrupt={prompts[5]: b'["a"]', prompts[2]: b"{}"})
    fault = replay.reducer.fault
    assert fault is not None and fault.after_log and fault.payload_id == min(prompts[2], prompts[5])
    assert replay.reducer.events_applied == len(bundle.events)


@pytest.mark.parametrize(
    ("first", "last"),
    [
        ('{"input":[', '],"tools":[]}'),  # Codex's shape: passes with any number of parts
        ('{"input":', "}"),  # one part is a value there, two are not
        ('{"input":"', '"}'),  # inside a string: any number passes
        ("[", ""),  # never closed
        ('{"a":1', "}"),  # a part glued to a number
        ("", ""),  # one part is a document, two are not
    ],
)
def test_the_prepared_prompt_checker_remembers_only_what_cannot_change_the_answer(first: str, last: str) -> None:
    """Counts of parts in any order give the uncached answer, a cached pass included."""
    checker = PreparedPromptChecker()
    for part_count in (2, 1, 5, 3, 1, 2, 8):
        fragments: list[JsonValue] = [first, *[","] * (part_count - 1), last]
        assert checker.problem(fragments, part_count) == prepared_prompt_problem(fragments, part_count)
    odd: list[JsonValue] = [first, ";", last]  # an inner fragment that is not a bare comma
    assert checker.problem(odd, 2) == prepared_prompt_problem(odd, 2)


def _uncached_problem(payload_id: str, data: bytes, part_count: int) -> str | None:
    try:
        value = parse_json_bytes(data)
    except ValueError as error:
        return f"invalid payload {payload_id}: {error}"
    return prepared_prompt_problem(value, part_count)


@pytest.mark.parametrize(("first", "last"), [('{"input":[', '],"tools":[]}'), ('{"input":', "}"), ("", "")])
def test_a_prompt_body_written_as_a_known_shape_is_answered_without_parsing_it(first: str, last: str) -> None:
    """From the bytes: the same answer as parsing them, for written, rewritten and broken bodies."""
    checker = PreparedPromptChecker()
    for part_count in (1, 2, 5, 1, 3, 2):
        fragments = [first, *[","] * (part_count - 1), last]
        bodies = [
            json.dumps(fragments, separators=(",", ":"), ensure_ascii=False).encode(),  # as Codex writes it
            json.dumps(fragments).encode(),  # other spacing: parsed, never matched by its bytes
            json.dumps(fragments, separators=(",", ":")).encode()[:-1],  # cut: not JSON
        ]
        for body in bodies:
            assert checker.problem_of("raw_payload:9", body, part_count) == _uncached_problem(
                "raw_payload:9", body, part_count
            ), (part_count, body[:40])


def test_codex_written_prompt_bodies_of_a_passing_shape_are_parsed_once_per_shape(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parsed: list[bytes] = []

    def counting(data: bytes) -> JsonValue:
        parsed.append(data)
        return parse_json_bytes(data)

    monkeypatch.setattr(prepared, "parse_json_bytes", counting)
    checker = PreparedPromptChecker()
    for part_count in (1, 2, 5, 1, 3, 2, 40):
        fragments = ['{"input":[', *[","] * (part_count - 1), '],"tools":[]}']
        assert (
            checker.problem_of("raw_payload:9", json.dumps(fragments, separators=(",", ":")).encode(), part_count)
            is None
        )
    # The body at 1 part, then the first at 2 or more (the assembled check parses once for each too).
    assert len([data for data in parsed if data.startswith(b'["')]) == 2
