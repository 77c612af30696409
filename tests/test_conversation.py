"""Conversation reconciliation: item identity across requests, responses, reasoning and schema 2 ids.

Scenarios re-express the official crate's conversation tests plus the schema 2
rules (Responses ids, accepted history, agent-message receipts) as tiny bundles.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from bundle_builder import BundleBuilder, Payload, message

from trace_viewer.reducer import Reducer
from trace_viewer.reducer.normalize import summarize_json_text
from trace_viewer.reducer.replay import reduce_bundle

ROOT = "thread-root"


def items_of(reducer: Reducer) -> dict[str, Any]:
    return reducer.rollout["conversation_items"]


def call(reducer: Reducer, inference_id: str) -> dict[str, Any]:
    return reducer.rollout["inference_calls"][inference_id]


def started(tmp_path: Path, schema_version: int = 2) -> BundleBuilder:
    bundle = BundleBuilder(tmp_path, schema_version=schema_version)
    bundle.thread()
    bundle.turn("turn-1")
    return bundle


def function_call(call_id: str, arguments: str, item_id: str | None = None) -> dict[str, Any]:
    item = {"type": "function_call", "name": "shell", "arguments": arguments, "call_id": call_id}
    if item_id is not None:
        item["id"] = item_id
    return item


# ----- identity across request snapshots -----------------------------------------------


def test_request_snapshot_reuses_history_but_not_new_identical_items(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    bundle.inference("inf-1", "turn-1", [message("user", "ok")])
    bundle.turn("turn-2")
    bundle.inference("inf-2", "turn-2", [message("user", "ok"), message("assistant", "ack"), message("user", "ok")])
    reducer = bundle.reduce()

    assert reducer.fault is None
    first = call(reducer, "inf-1")["request_item_ids"]
    second = call(reducer, "inf-2")["request_item_ids"]
    assert second == [first[0], "conversation_item:2", "conversation_item:3"]
    assert len(items_of(reducer)) == 3
    assert reducer.rollout["threads"][ROOT]["conversation_item_ids"] == second
    assert reducer.snapshots[ROOT] == second


def test_response_items_join_the_thread_and_the_live_snapshot(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    output = {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "tests passed"}]}
    bundle.inference("inf-1", "turn-1", [message("user", "run tests")], [output])
    reducer = bundle.reduce()

    inference = call(reducer, "inf-1")
    expected = inference["request_item_ids"] + inference["response_item_ids"]
    assert len(inference["response_item_ids"]) == 1
    assert reducer.rollout["threads"][ROOT]["conversation_item_ids"] == expected
    assert reducer.live_context(ROOT) == expected
    response_item = items_of(reducer)[inference["response_item_ids"][0]]
    assert response_item["produced_by"] == [{"type": "inference", "inference_call_id": "inf-1"}]
    assert response_item["body"]["parts"] == [{"type": "text", "text": "tests passed"}]


def test_agent_messages_keep_routing_and_content(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    bundle.inference(
        "inf-1",
        "turn-1",
        [
            {
                "type": "agent_message",
                "author": "/root/worker",
                "recipient": "/root",
                "content": [{"type": "input_text", "text": "done"}],
            },
            {
                "type": "agent_message",
                "author": "/root",
                "recipient": "/root/worker",
                "content": [{"type": "encrypted_content", "encrypted_content": "encrypted-task"}],
            },
        ],
    )
    reducer = bundle.reduce()

    done, task = (items_of(reducer)[i] for i in call(reducer, "inf-1")["request_item_ids"])
    assert (done["role"], done["channel"], done["kind"]) == ("assistant", "analysis", "message")
    assert done["agent_message"] == {"author": "/root/worker", "recipient": "/root"}
    assert done["body"]["parts"] == [{"type": "text", "text": "done"}]
    assert task["agent_message"] == {"author": "/root", "recipient": "/root/worker"}
    assert task["body"]["parts"] == [{"type": "encoded", "label": "encrypted_content", "value": "encrypted-task"}]
    assert list(done) == [
        "item_id",
        "thread_id",
        "codex_turn_id",
        "first_seen_at_unix_ms",
        "role",
        "channel",
        "kind",
        "agent_message",
        "body",
        "call_id",
        "produced_by",
    ]


def test_later_full_request_reuses_response_tool_call_by_position(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    bundle.inference(
        "inf-1", "turn-1", [message("user", "run tests")], [function_call("call-1", '{"cmd":"cargo test"}')]
    )
    bundle.turn("turn-2")
    bundle.inference(
        "inf-2", "turn-2", [message("user", "run tests"), function_call("call-1", '{"cmd": "cargo test"}')]
    )
    reducer = bundle.reduce()

    first, second = call(reducer, "inf-1"), call(reducer, "inf-2")
    assert second["request_item_ids"] == first["request_item_ids"] + first["response_item_ids"]
    assert len(items_of(reducer)) == 2
    part = items_of(reducer)[first["response_item_ids"][0]]["body"]["parts"][0]
    # The summary is re-serialised compactly; the ref points at the first sighting.
    assert part == {"type": "json", "summary": '{"cmd":"cargo test"}', "raw_payload_id": "raw_payload:2"}


def test_incremental_request_carries_prior_request_and_response_forward(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    usage = {
        "input_tokens": 10,
        "cached_input_tokens": 1,
        "cache_write_input_tokens": 3,
        "output_tokens": 5,
        "reasoning_output_tokens": 2,
        "total_tokens": 15,
    }
    bundle.inference(
        "inf-1",
        "turn-1",
        [message("user", "run tests")],
        [function_call("call-1", '{"cmd":"cargo test"}')],
        response_id="resp-1",
        token_usage=usage,
    )
    bundle.turn("turn-2")
    bundle.inference(
        "inf-2",
        "turn-2",
        {
            "previous_response_id": "resp-1",
            "input": [{"type": "function_call_output", "call_id": "call-1", "output": "tests passed"}],
        },
    )
    reducer = bundle.reduce()

    first, second = call(reducer, "inf-1"), call(reducer, "inf-2")
    thread_items = reducer.rollout["threads"][ROOT]["conversation_item_ids"]
    assert second["request_item_ids"] == first["request_item_ids"] + first["response_item_ids"] + [thread_items[2]]
    assert thread_items == second["request_item_ids"]
    assert first["usage"] == {
        "input_tokens": 10,
        "cached_input_tokens": 1,
        "cache_write_input_tokens": 3,
        "output_tokens": 5,
        "reasoning_output_tokens": 2,
    }


def test_unknown_previous_response_id_is_a_fault(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    bundle.inference("inf-1", "turn-1", {"previous_response_id": "resp-missing", "input": [message("user", "hi")]})
    reducer = bundle.reduce()
    assert reducer.fault is not None
    assert reducer.fault.message == (
        "incremental inference request inf-1 referenced unknown previous_response_id resp-missing"
    )


def test_full_snapshot_may_reorder_items_and_insert_new_ones(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    bundle.inference("inf-1", "turn-1", [message("developer", "follow the rules"), message("user", "count files")])
    bundle.turn("turn-2")
    bundle.inference(
        "inf-2",
        "turn-2",
        [
            message("user", "count files"),
            message("user", "summary of an earlier attempt"),
            message("developer", "follow the rules"),
        ],
    )
    reducer = bundle.reduce()

    first, second = call(reducer, "inf-1")["request_item_ids"], call(reducer, "inf-2")["request_item_ids"]
    assert second == [first[1], "conversation_item:3", first[0]]
    assert len(items_of(reducer)) == 3


def test_positional_match_ignores_earlier_use_like_the_official_reducer(tmp_path: Path) -> None:
    # [A, B] then [B, B]: B is found by search for position 0, and position 1 is B again.
    bundle = started(tmp_path)
    bundle.inference("inf-1", "turn-1", [message("user", "A"), message("user", "B")])
    bundle.inference("inf-2", "turn-1", [message("user", "B"), message("user", "B")])
    reducer = bundle.reduce()
    assert call(reducer, "inf-2")["request_item_ids"] == ["conversation_item:2", "conversation_item:2"]


# ----- reasoning ---------------------------------------------------------------------------


def reasoning(blob: str, text: str | None = None, summary: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "reasoning", "summary": [], "encrypted_content": blob}
    if text is not None:
        item["content"] = [{"type": "text", "text": text}]
    if summary is not None:
        item["summary"] = [{"type": "summary_text", "text": summary}]
    return item


def test_reasoning_body_keeps_text_summary_and_blob(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    bundle.inference(
        "inf-1",
        "turn-1",
        [message("user", "think")],
        [
            {
                "type": "reasoning",
                "content": [{"type": "reasoning_text", "text": "raw"}],
                "summary": [{"type": "summary_text", "text": "brief"}],
                "encrypted_content": "blob",
            }
        ],
    )
    reducer = bundle.reduce()
    item = items_of(reducer)[call(reducer, "inf-1")["response_item_ids"][0]]
    assert item["kind"] == "reasoning"
    assert item["body"]["parts"] == [
        {"type": "text", "text": "raw"},
        {"type": "summary", "text": "brief"},
        {"type": "encoded", "label": "encrypted_content", "value": "blob"},
    ]


def test_encrypted_reasoning_is_reused_and_keeps_readable_text(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    user = message("user", "count files")
    fc = function_call("call-1", '{"cmd":"ls | wc -l"}')
    bundle.inference("inf-1", "turn-1", [user], [reasoning("blob", text="need count"), fc])
    bundle.turn("turn-2")
    bundle.inference(
        "inf-2",
        "turn-2",
        [
            user,
            reasoning("blob"),
            fc,
            {"type": "function_call_output", "call_id": "call-1", "output": "31\n"},
        ],
    )
    reducer = bundle.reduce()

    first, second = call(reducer, "inf-1"), call(reducer, "inf-2")
    assert second["request_item_ids"][:3] == first["request_item_ids"] + first["response_item_ids"]
    assert items_of(reducer)[first["response_item_ids"][0]]["body"]["parts"] == [
        {"type": "text", "text": "need count"},
        {"type": "encoded", "label": "encrypted_content", "value": "blob"},
    ]
    assert len(items_of(reducer)) == 4


def test_reasoning_merges_a_missing_readable_kind(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    user = message("user", "count files")
    bundle.inference("inf-1", "turn-1", [user, reasoning("blob", text="need count")])
    bundle.inference("inf-2", "turn-1", [user, reasoning("blob", summary="counting files")])
    reducer = bundle.reduce()

    reasoning_id = call(reducer, "inf-1")["request_item_ids"][1]
    assert call(reducer, "inf-2")["request_item_ids"][1] == reasoning_id
    assert items_of(reducer)[reasoning_id]["body"]["parts"] == [
        {"type": "text", "text": "need count"},
        {"type": "summary", "text": "counting files"},
        {"type": "encoded", "label": "encrypted_content", "value": "blob"},
    ]


def test_reasoning_with_conflicting_text_keeps_the_first_reading(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    user = message("user", "count files")
    bundle.inference("inf-1", "turn-1", [user], [reasoning("blob", text="first text")])
    bundle.inference("inf-2", "turn-1", [user, reasoning("blob", text="different text")])
    reducer = bundle.reduce()

    reasoning_id = call(reducer, "inf-1")["response_item_ids"][0]
    assert call(reducer, "inf-2")["request_item_ids"] == [call(reducer, "inf-1")["request_item_ids"][0], reasoning_id]
    assert items_of(reducer)[reasoning_id]["body"]["parts"][0] == {"type": "text", "text": "first text"}
    assert len(items_of(reducer)) == 2


# ----- refusals and exclusions ------------------------------------------------------------------


def test_call_id_reused_with_other_content_is_a_fault(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    bundle.inference("inf-1", "turn-1", [function_call("call-1", '{"cmd":"cargo test"}')])
    bundle.inference("inf-2", "turn-1", [function_call("call-1", '{"cmd":"cargo check"}')])
    reducer = bundle.reduce()
    assert reducer.fault is not None
    assert reducer.fault.message == "model-visible call id call-1 was reused with different content"
    assert "inf-2" not in reducer.rollout["inference_calls"]


def test_unsupported_model_item_is_a_fault(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    bundle.inference("inf-1", "turn-1", [{"type": "new_unhandled_model_item", "payload": "x"}])
    reducer = bundle.reduce()
    assert reducer.fault is not None
    assert reducer.fault.message == "unsupported model item type new_unhandled_model_item in payload raw_payload:1"


def test_missing_request_input_is_a_fault(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    bundle.inference("inf-1", "turn-1", {"model": "gpt-test"})
    reducer = bundle.reduce()
    assert reducer.fault is not None
    assert reducer.fault.message == "inference request payload raw_payload:1 did not contain input"


def test_additional_tools_are_not_conversation(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    tools = {"type": "additional_tools", "role": "developer", "tools": [{"type": "function", "name": "lookup"}]}
    bundle.inference("inf-1", "turn-1", [tools, message("user", "find it")])
    reducer = bundle.reduce()
    ids = call(reducer, "inf-1")["request_item_ids"]
    assert len(ids) == 1
    assert items_of(reducer)[ids[0]]["body"]["parts"] == [{"type": "text", "text": "find it"}]


# ----- schema 2: Responses ids -----------------------------------------------------------------


@pytest.mark.parametrize(("schema_version", "expected"), [(1, ["conversation_item:1"]), (2, ["conversation_item:2"])])
def test_same_content_with_a_new_id_is_a_new_item_only_in_schema_2(
    tmp_path: Path, schema_version: int, expected: list[str]
) -> None:
    bundle = started(tmp_path, schema_version)
    bundle.inference("inf-1", "turn-1", [message("developer", "rules", item_id="msg_a")])
    bundle.inference("inf-2", "turn-1", [message("developer", "rules", item_id="msg_b")])
    reducer = bundle.reduce()
    assert reducer.fault is None
    assert call(reducer, "inf-2")["request_item_ids"] == expected
    first = items_of(reducer)["conversation_item:1"]
    assert ("responses_item_id" in first) == (schema_version == 2)


@pytest.mark.parametrize(("schema_version", "expected"), [(1, [1, 2]), (2, [2, 1])])
def test_swapped_identical_items_follow_their_ids_in_schema_2(
    tmp_path: Path, schema_version: int, expected: list[int]
) -> None:
    bundle = started(tmp_path, schema_version)
    bundle.inference("inf-1", "turn-1", [message("user", "same", item_id="m1"), message("user", "same", item_id="m2")])
    bundle.inference("inf-2", "turn-1", [message("user", "same", item_id="m2"), message("user", "same", item_id="m1")])
    reducer = bundle.reduce()
    assert call(reducer, "inf-2")["request_item_ids"] == [f"conversation_item:{n}" for n in expected]


def test_same_id_with_other_content_is_a_new_item_sharing_the_id(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    bundle.add({"type": "history_item_accepted", "item_id": "m1"}, thread=ROOT, turn="turn-1")
    bundle.inference("inf-1", "turn-1", [message("user", "first", item_id="m1")])
    bundle.inference("inf-2", "turn-1", [message("user", "edited", item_id="m1")])
    reducer = bundle.reduce()
    assert call(reducer, "inf-2")["request_item_ids"] == ["conversation_item:2"]
    for item_id in ("conversation_item:1", "conversation_item:2"):
        item = items_of(reducer)[item_id]
        assert (item["responses_item_id"], item["accepted_seq"]) == ("m1", 3)


def test_missing_id_is_filled_in_from_a_later_sighting_in_field_order(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    bundle.add({"type": "history_item_accepted", "item_id": "m1"}, thread=ROOT, turn="turn-1", wall=5555)
    bundle.inference("inf-1", "turn-1", [message("user", "hello")])
    bundle.inference("inf-2", "turn-1", [message("user", "hello", item_id="m1")])
    reducer = bundle.reduce()
    item = items_of(reducer)["conversation_item:1"]
    assert call(reducer, "inf-2")["request_item_ids"] == ["conversation_item:1"]
    assert list(item)[:5] == ["item_id", "responses_item_id", "accepted_at_unix_ms", "accepted_seq", "thread_id"]
    assert (item["responses_item_id"], item["accepted_at_unix_ms"], item["accepted_seq"]) == ("m1", 5555, 3)


# ----- schema 2: accepted history -----------------------------------------------------------------


def test_first_acceptance_stamps_items_seen_before_or_after_it(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    bundle.add({"type": "history_item_accepted", "item_id": "m-user"}, thread=ROOT, turn="turn-1")  # seq 3
    bundle.inference(
        "inf-1",
        "turn-1",
        [message("user", "hi", item_id="m-user")],
        [
            {
                "type": "message",
                "id": "m-out",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "hello"}],
            }
        ],
    )
    late = bundle.add({"type": "history_item_accepted", "item_id": "m-out"}, thread=ROOT, turn="turn-1")
    bundle.add({"type": "history_item_accepted", "item_id": "m-out"}, thread=ROOT, turn="turn-1")  # duplicate
    bundle.add({"type": "history_item_accepted", "item_id": "never-seen"}, thread=ROOT, turn="turn-1")
    bundle.add({"type": "history_item_accepted", "item_id": ""}, thread=ROOT, turn="turn-1")
    reducer = bundle.reduce()

    assert reducer.fault is None
    user, output = items_of(reducer)["conversation_item:1"], items_of(reducer)["conversation_item:2"]
    assert user["accepted_seq"] == 3
    assert output["accepted_seq"] == late
    assert output["accepted_at_unix_ms"] == 1000 + 10 * late
    assert len(items_of(reducer)) == 2


def test_acceptance_is_per_envelope_thread(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    bundle.thread("child", "/root/child")
    bundle.turn("turn-c", "child")
    bundle.inference("inf-c", "turn-c", [message("user", "task", item_id="m-task")], thread_id="child")
    bundle.add({"type": "history_item_accepted", "item_id": "m-task"}, thread=ROOT, turn="turn-1")
    reducer = bundle.reduce()
    assert "accepted_seq" not in items_of(reducer)["conversation_item:1"]


def test_acceptance_without_a_thread_is_a_fault(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    bundle.add({"type": "history_item_accepted", "item_id": "m1"})
    reducer = bundle.reduce()
    assert reducer.fault is not None
    assert reducer.fault.message == "history acceptance has no thread"


def agent_message(item_id: str, text: str, author: str = "/root", recipient: str = "/root/worker") -> dict[str, Any]:
    return {
        "type": "agent_message",
        "id": item_id,
        "author": author,
        "recipient": recipient,
        "content": [{"type": "input_text", "text": text}],
    }


def test_agent_message_receipt_creates_the_item_early_and_binds_its_first_sighting(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    receipt = agent_message("amsg-1", "do the task")
    seq = bundle.add(
        {
            "type": "history_item_accepted",
            "item_id": "amsg-1",
            "agent_message_payload": Payload("protocol_event", receipt),
        },
        thread=ROOT,
        turn="turn-1",
    )
    sighting = agent_message("amsg-1", "do the task (as sent)", recipient="/root/other")
    bundle.inference("inf-1", "turn-1", [message("user", "hi"), sighting])
    bundle.inference("inf-2", "turn-1", [message("user", "hi"), agent_message("amsg-1", "edited again")])
    reducer = bundle.reduce()

    assert reducer.fault is None
    item = items_of(reducer)["conversation_item:1"]
    assert item["first_seen_at_unix_ms"] == 1000 + 10 * seq
    assert item["accepted_seq"] == seq
    assert item["produced_by"] == []
    # Bound whatever its content: the body is the one the model saw, routing stays the receipt's.
    assert item["body"]["parts"] == [{"type": "text", "text": "do the task (as sent)"}]
    assert item["agent_message"] == {"author": "/root", "recipient": "/root/worker"}
    assert call(reducer, "inf-1")["request_item_ids"] == ["conversation_item:2", "conversation_item:1"]
    assert reducer.rollout["threads"][ROOT]["conversation_item_ids"][:2] == [
        "conversation_item:1",
        "conversation_item:2",
    ]
    # After the binding, ordinary matching applies again: changed content is a new item.
    assert call(reducer, "inf-2")["request_item_ids"] == ["conversation_item:2", "conversation_item:3"]


def test_receipt_after_the_sighting_only_stamps(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    bundle.inference("inf-1", "turn-1", [agent_message("amsg-1", "task")])
    bundle.add(
        {
            "type": "history_item_accepted",
            "item_id": "amsg-1",
            "agent_message_payload": Payload("protocol_event", agent_message("amsg-1", "task")),
        },
        thread=ROOT,
        turn="turn-1",
    )
    reducer = bundle.reduce()
    assert list(items_of(reducer)) == ["conversation_item:1"]
    assert items_of(reducer)["conversation_item:1"]["accepted_seq"] == 4


@pytest.mark.parametrize(
    ("receipt", "message_text"),
    [
        (agent_message("other-id", "x"), "accepted agent message does not match receipt amsg-1"),
        (message("user", "x", item_id="amsg-1"), "accepted agent message does not match receipt amsg-1"),
        ({"id": "amsg-1"}, "model item in payload raw_payload:1 did not contain a string type"),
    ],
)
def test_mismatched_receipts_are_faults(tmp_path: Path, receipt: dict[str, Any], message_text: str) -> None:
    bundle = started(tmp_path)
    bundle.add(
        {
            "type": "history_item_accepted",
            "item_id": "amsg-1",
            "agent_message_payload": Payload("protocol_event", receipt),
        },
        thread=ROOT,
        turn="turn-1",
    )
    reducer = bundle.reduce()
    assert reducer.fault is not None
    assert reducer.fault.message == message_text


# ----- json body summaries ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "summary"),
    [
        ('{"b": 1, "a": 2.50, "b": 3}', '{"b":3,"a":2.50}'),
        (
            "[1E3, 1.0e3, 1e-3, 1e+3, -0, -0.0, 12345678901234567890]",
            "[1e+3,1.0e+3,1e-3,1e+3,0,-0.0,12345678901234567890]",
        ),
        (r'{"s": "\u00e9\n\t\/\u0001"}', '{"s":"é\\n\\t/\\u0001"}'),
        (r'"\ud83d\ude00"', '"😀"'),
        (" {} ", "{}"),
    ],
)
def test_json_summaries_keep_source_order_and_number_text(arguments: str, summary: str) -> None:
    assert summarize_json_text(arguments) == summary


@pytest.mark.parametrize("arguments", ["NaN", "[1,]", '{"a":1}x', r'"\ud800"', "[" * 128 + "]" * 128, "", "not json"])
def test_text_that_serde_json_refuses_is_not_json(arguments: str) -> None:
    assert summarize_json_text(arguments) is None


def test_json_summary_is_cut_at_240_bytes_on_a_character_boundary() -> None:
    summary = summarize_json_text(json.dumps({"ka": "é" * 200}))
    assert summary is not None
    assert summary.endswith("...")
    head = summary[:-3].encode("utf-8")
    assert len(head) == 239  # '{"ka":"' is 7 bytes, then 116 two-byte chars; one more would make 241
    exactly_240 = "[" + "1," * 118 + "1]"
    assert summarize_json_text(exactly_240) == exactly_240
    assert summarize_json_text("[" + "1," * 119 + "1]") == "[" + "1," * 119 + "1..."


def test_non_json_arguments_stay_text_and_float_values_keep_their_literal(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    bundle.inference(
        "inf-1",
        "turn-1",
        [
            function_call("call-1", "ls -la"),
            {"type": "web_search_call", "id": "ws1", "call_id": "ws-call", "action": {"score": 2.50, "n": 1e3}},
        ],
    )
    request_file = tmp_path / "payloads" / "1.json"
    request_file.write_text(request_file.read_text().replace("1000.0", "1.0E3").replace("2.5", "2.50"))
    reducer = bundle.reduce()
    text_item, search_item = (items_of(reducer)[i] for i in call(reducer, "inf-1")["request_item_ids"])
    assert text_item["body"]["parts"] == [{"type": "text", "text": "ls -la"}]
    # The payload's own number literals survive (the fast parser would print 2.5 and 1000.0).
    assert search_item["body"]["parts"][0]["summary"] == (
        '{"type":"web_search_call","id":"ws1","call_id":"ws-call","action":{"score":2.50,"n":1.0e+3}}'
    )


# ----- corpus ---------------------------------------------------------------------------------------------

CORPORA = [Path("/work/shared/corpus"), Path("/work/shared/corpus-schema1")]
SECTIONS = ("conversation_items", "inference_calls", "compactions", "compaction_requests")
CASES = sorted(
    case for root in CORPORA if root.is_dir() for case in root.iterdir() if (case / "expected_state.json").exists()
)


@pytest.mark.skipif(not CASES, reason="corpus not available")
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_corpus_conversation_sections_match_the_official_reducer(case: Path) -> None:
    reducer = reduce_bundle(case)
    assert reducer.fault is None
    expected = json.loads((case / "expected_state.json").read_text())
    state = reducer.to_json()
    for section in SECTIONS:
        assert state[section] == expected[section], section


@pytest.mark.skipif(not (CORPORA[0] / "compaction_local_manual").is_dir(), reason="corpus not available")
def test_local_compaction_resend_with_new_ids_makes_new_items() -> None:
    reducer = reduce_bundle(CORPORA[0] / "compaction_local_manual")
    by_seq = {c["execution"]["started_seq"]: c for c in reducer.rollout["inference_calls"].values()}
    assert by_seq[34]["request_item_ids"] == [f"conversation_item:{n}" for n in (1, 10, 11, 4, 12, 13)]
    assert len(reducer.rollout["conversation_items"]) == 18
