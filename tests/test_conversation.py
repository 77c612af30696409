"""Conversation reconciliation: item identity across requests, responses, reasoning and schema 2 ids.

Scenarios re-express the official crate's conversation tests plus the schema 2
rules (Responses ids, accepted history, agent-message receipts) as tiny bundles.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from bundle_builder import BundleBuilder, Payload, message
from corpora import cases_or_skip, shared, skip_unless
from state_view import json_state

from trace_viewer.reducer import Reducer
from trace_viewer.reducer.normalize import summarize_json_text
from trace_viewer.reducer.replay import reduce_bundle

ROOT = "thread-root"


def items_of(reducer: Reducer) -> dict[str, Any]:
    return json_state(reducer)["conversation_items"]


def call(reducer: Reducer, inference_id: str) -> dict[str, Any]:
    return json_state(reducer)["inference_calls"][inference_id]


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
    assert json_state(reducer)["threads"][ROOT]["conversation_item_ids"] == second
    assert reducer.snapshots[ROOT] == second


@pytest.mark.parametrize("schema_version", [1, 2])
def test_response_items_join_the_live_snapshot(tmp_path: Path, schema_version: int) -> None:
    bundle = started(tmp_path, schema_version)
    output = {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "tests passed"}]}
    bundle.inference("inf-1", "turn-1", [message("user", "run tests")], [output])
    reducer = bundle.reduce()

    inference = call(reducer, "inf-1")
    expected = inference["request_item_ids"] + inference["response_item_ids"]
    assert len(inference["response_item_ids"]) == 1
    assert reducer.live_context(ROOT) == expected
    # Schema 1's transcript is every sighting; schema 2's waits for acceptance (see the
    # "accepted history" section below).
    transcript = expected if schema_version == 1 else inference["request_item_ids"]
    assert json_state(reducer)["threads"][ROOT]["conversation_item_ids"] == transcript
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
    thread_items = json_state(reducer)["threads"][ROOT]["conversation_item_ids"]
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
    assert "inf-2" not in json_state(reducer)["inference_calls"]


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
    assert json_state(reducer)["threads"][ROOT]["conversation_item_ids"][:2] == [
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


# ----- schema 2: the thread transcript is accepted history ------------------------------------------------
# Each rule below was established by running the official 0.169.0 reducer on a hand-made bundle;
# the experiment name (docs/REDUCER-NOTES.md, "Thread transcripts") is in each test's docstring.


def assistant(text: str, item_id: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]}
    if item_id is not None:
        item["id"] = item_id
    return item


def accept(bundle: BundleBuilder, responses_id: str, thread: str = ROOT, turn: str = "turn-1") -> int:
    return bundle.add({"type": "history_item_accepted", "item_id": responses_id}, thread=thread, turn=turn)


def transcript(reducer: Reducer, thread: str = ROOT) -> list[int]:
    """The thread's conversation_item_ids as ordinals, for short assertions."""
    return [int(item_id.split(":")[1]) for item_id in json_state(reducer)["threads"][thread]["conversation_item_ids"]]


def test_unaccepted_response_output_stays_out_of_the_transcript(tmp_path: Path) -> None:
    """Experiments `plain`, `accept_only_b`: only the accepted output item joins; the other
    still exists, is the call's response item and part of the live snapshot."""
    bundle = started(tmp_path)
    bundle.inference("inf-1", "turn-1", [message("user", "go")], [assistant("A", "a"), assistant("B", "b")])
    accept(bundle, "b")
    reducer = bundle.reduce()

    assert reducer.fault is None
    assert transcript(reducer) == [1, 3]
    assert call(reducer, "inf-1")["response_item_ids"] == ["conversation_item:2", "conversation_item:3"]
    assert reducer.live_context(ROOT) == ["conversation_item:1", "conversation_item:2", "conversation_item:3"]
    assert "accepted_seq" not in items_of(reducer)["conversation_item:2"]


def test_request_items_are_history_without_acceptance(tmp_path: Path) -> None:
    """Experiment `request_items` (and corpus base instructions): every request input item joins."""
    bundle = started(tmp_path)
    bundle.inference("inf-1", "turn-1", [message("user", "go", item_id="msg-never-accepted"), message("user", "two")])
    reducer = bundle.reduce()
    assert transcript(reducer) == [1, 2]


def test_late_acceptance_inserts_at_the_creation_position(tmp_path: Path) -> None:
    """Experiments `accept_b_then_a`, `late_accept` (vs `late_accept_base`): acceptance order and
    later items do not move an item; the transcript stays in creation order."""
    bundle = started(tmp_path)
    bundle.inference("inf-1", "turn-1", [message("user", "go")], [assistant("A", "a"), assistant("B", "b")])
    bundle.inference("inf-2", "turn-1", [message("user", "go"), assistant("B", "b"), message("user", "more")])
    before = bundle.reduce()
    accept(bundle, "a")
    after = bundle.reduce()

    assert transcript(before) == [1, 3, 4]
    assert transcript(after) == [1, 2, 3, 4]


def test_acceptance_before_the_response_admits_the_output(tmp_path: Path) -> None:
    """Experiment `accept_before_response`: the stamp is known at creation, so the item joins at once."""
    bundle = started(tmp_path)
    bundle.inference("inf-1", "turn-1", [message("user", "go")])
    accept(bundle, "a")
    accept(bundle, "b")
    bundle.add(
        {
            "type": "inference_completed",
            "inference_call_id": "inf-1",
            "response_id": "resp-1",
            "upstream_request_id": None,
            "response_payload": Payload(
                "inference_response",
                {
                    "response_id": "resp-1",
                    "token_usage": None,
                    "output_items": [assistant("A", "a"), assistant("B", "b")],
                },
            ),
        },
        thread=ROOT,
        turn="turn-1",
    )
    assert transcript(bundle.reduce()) == [1, 2, 3]


def test_resending_output_in_a_full_request_admits_it(tmp_path: Path) -> None:
    """Experiments `resent_b_only`, `not_accepted_then_resent`: a re-sent item is a request item."""
    bundle = started(tmp_path)
    bundle.inference("inf-1", "turn-1", [message("user", "go")], [assistant("A", "a"), assistant("B", "b")])
    bundle.inference("inf-2", "turn-1", [message("user", "go"), assistant("B", "b"), message("user", "more")])
    reducer = bundle.reduce()
    assert transcript(reducer) == [1, 3, 4]


def test_resent_with_changed_content_leaves_the_original_out(tmp_path: Path) -> None:
    """Experiments `changed_resend`, `changed_resend_acc`: the edited re-send is a new item; the
    original joins only through an acceptance of the shared Responses id."""
    bundle = started(tmp_path)
    bundle.inference("inf-1", "turn-1", [message("user", "go")], [assistant("A", "a")])
    bundle.inference("inf-2", "turn-1", [message("user", "go"), assistant("A edited", "a"), message("user", "more")])
    unaccepted = bundle.reduce()
    accept(bundle, "a")
    accepted = bundle.reduce()

    assert transcript(unaccepted) == [1, 3, 4]
    assert transcript(accepted) == [1, 2, 3, 4]


def test_incremental_request_admits_the_base_response(tmp_path: Path) -> None:
    """Experiment `incremental`: the base call's output is part of the new request's items."""
    bundle = started(tmp_path)
    bundle.inference("inf-1", "turn-1", [message("user", "go")], [assistant("A", "a")])
    bundle.inference("inf-2", "turn-1", {"previous_response_id": "resp-inf-1", "input": [message("user", "more")]})
    assert transcript(bundle.reduce()) == [1, 2, 3]


@pytest.mark.parametrize(
    ("event_type", "reason_field"), [("inference_failed", "error"), ("inference_cancelled", "reason")]
)
@pytest.mark.parametrize("accepted", [False, True])
def test_partial_output_of_a_broken_stream_needs_acceptance(
    tmp_path: Path, event_type: str, reason_field: str, accepted: bool
) -> None:
    """Experiments `failed_partial[_acc]`, `cancelled_partial[_acc]`."""
    bundle = started(tmp_path)
    bundle.inference("inf-1", "turn-1", [message("user", "go")])
    partial = {"response_id": None, "token_usage": None, "output_items": [assistant("A", "a")]}
    bundle.add(
        {
            "type": event_type,
            "inference_call_id": "inf-1",
            "upstream_request_id": None,
            reason_field: "boom",
            "partial_response_payload": Payload("inference_response", partial),
        },
        thread=ROOT,
        turn="turn-1",
    )
    if accepted:
        accept(bundle, "a")
    reducer = bundle.reduce()
    assert call(reducer, "inf-1")["response_item_ids"] == ["conversation_item:2"]
    assert transcript(reducer) == ([1, 2] if accepted else [1])


@pytest.mark.parametrize(
    ("input_history", "expected"),
    [
        ([message("user", "go"), assistant("A", "a")], [1, 2, 3, 4]),  # `compaction`: input sighting admits 2
        ([message("user", "go")], [1, 3, 4]),  # `compaction_omit`: 2 never joins
        ([message("user", "go"), assistant("Z", "z")], [1, 3, 4, 5]),  # `compaction_newitem`
    ],
)
def test_compaction_items_are_history(tmp_path: Path, input_history: list[Any], expected: list[int]) -> None:
    """Compaction input items (reused or new), the marker and the replacement items all join."""
    bundle = started(tmp_path)
    bundle.inference("inf-1", "turn-1", [message("user", "go")], [assistant("A", "a")])
    checkpoint = {"input_history": input_history, "replacement_history": [message("user", "summary", item_id="s1")]}
    bundle.add(
        {
            "type": "compaction_installed",
            "compaction_id": "cmp-1",
            "checkpoint_payload": Payload("compaction_checkpoint", checkpoint),
        },
        thread=ROOT,
        turn="turn-1",
    )
    assert transcript(bundle.reduce()) == expected


@pytest.mark.parametrize(("accepting_thread", "expected"), [(None, [3]), (ROOT, [3]), ("thread-child", [3, 4])])
def test_child_output_needs_acceptance_on_the_child_thread(
    tmp_path: Path, accepting_thread: str | None, expected: list[int]
) -> None:
    """Experiments `child_none`, `child_acc_root`, `child_acc_child`: the envelope thread decides."""
    bundle = started(tmp_path)
    bundle.inference("inf-1", "turn-1", [message("user", "go")], [assistant("A", "a")])
    accept(bundle, "a")
    bundle.thread("thread-child", "/root/child")
    bundle.turn("turn-c", "thread-child")
    bundle.inference("inf-c", "turn-c", [message("user", "task")], [assistant("C", "c")], thread_id="thread-child")
    if accepting_thread is not None:
        accept(bundle, "c", thread=accepting_thread, turn="turn-1" if accepting_thread == ROOT else "turn-c")
    reducer = bundle.reduce()
    assert transcript(reducer) == [1, 2]
    assert transcript(reducer, "thread-child") == expected


def test_late_acceptances_across_threads_keep_each_transcript_in_order(tmp_path: Path) -> None:
    """Experiment `interleave`."""
    bundle = started(tmp_path)
    bundle.thread("thread-child", "/root/child")
    bundle.turn("turn-c", "thread-child")
    bundle.inference("inf-1", "turn-1", [message("user", "go")], [assistant("A", "a"), assistant("B", "b")])
    bundle.inference(
        "inf-c",
        "turn-c",
        [message("user", "task")],
        [assistant("C", "c"), assistant("D", "d")],
        thread_id="thread-child",
    )
    bundle.inference("inf-2", "turn-1", [message("user", "go"), message("user", "next")], [assistant("E", "e")])
    for responses_id in ("e", "b", "a"):
        accept(bundle, responses_id)
    accept(bundle, "d", thread="thread-child", turn="turn-c")
    reducer = bundle.reduce()
    assert transcript(reducer) == [1, 2, 3, 7, 8]
    assert transcript(reducer, "thread-child") == [4, 6]


def test_receipt_for_existing_unaccepted_output_admits_it(tmp_path: Path) -> None:
    """Experiments `receipt_late`, `receipt_late_none`: the receipt stamps the existing item."""
    delivered = agent_message("am-1", "hi")
    bundle = started(tmp_path)
    bundle.inference("inf-1", "turn-1", [message("user", "go")], [delivered])
    without_receipt = bundle.reduce()
    bundle.add(
        {
            "type": "history_item_accepted",
            "item_id": "am-1",
            "agent_message_payload": Payload("protocol_event", delivered),
        },
        thread=ROOT,
        turn="turn-1",
    )
    with_receipt = bundle.reduce()
    assert transcript(without_receipt) == [1]
    assert transcript(with_receipt) == [1, 2]
    assert len(items_of(with_receipt)) == 2


def test_only_the_transcript_drops_unaccepted_output(tmp_path: Path) -> None:
    """Experiments `tool_none`, `tool_output_only`: the tool call still names its call item."""
    bundle = started(tmp_path)
    bundle.inference("inf-1", "turn-1", [message("user", "go")], [function_call("call-1", "{}", "fc-1")])
    bundle.add(
        {
            "type": "tool_call_started",
            "tool_call_id": "tool-1",
            "model_visible_call_id": "call-1",
            "code_mode_runtime_tool_id": None,
            "requester": {"type": "model"},
            "kind": {"type": "other", "name": "shell"},
            "summary": {"type": "generic", "label": "shell", "input_preview": None, "output_preview": None},
            "invocation_payload": None,
        },
        thread=ROOT,
        turn="turn-1",
    )
    output = {"type": "function_call_output", "call_id": "call-1", "output": "ok"}
    bundle.inference("inf-2", "turn-1", [message("user", "go"), output])
    reducer = bundle.reduce()

    assert transcript(reducer) == [1, 3]
    tool = json_state(reducer)["tool_calls"]["tool-1"]
    assert tool["model_visible_call_item_ids"] == ["conversation_item:2"]
    assert tool["model_visible_output_item_ids"] == ["conversation_item:3"]
    assert items_of(reducer)["conversation_item:2"]["produced_by"] == [
        {"type": "inference", "inference_call_id": "inf-1"}
    ]


def test_agent_deliveries_are_found_among_unaccepted_output(tmp_path: Path) -> None:
    """Experiments `edge_after`, `edge_two`: a result edge observed later targets the first matching
    delivery the thread saw, even one the transcript leaves out."""
    delivery = json.dumps({"author": "/root/child", "recipient": "/root", "content": "done", "trigger_turn": False})
    bundle = started(tmp_path)
    bundle.thread("thread-child", "/root/child")
    bundle.turn("turn-c", "thread-child")
    bundle.inference("inf-1", "turn-1", [message("user", "go")], [assistant(delivery, "m1")])
    bundle.inference("inf-2", "turn-1", [message("user", "again")], [assistant(delivery, "m2")])
    accept(bundle, "m2")
    bundle.add(
        {
            "type": "agent_result_observed",
            "edge_id": "edge-1",
            "child_thread_id": "thread-child",
            "child_codex_turn_id": "turn-c",
            "parent_thread_id": ROOT,
            "message": "done",
            "carried_payload": None,
        },
        thread=ROOT,
        turn="turn-1",
    )
    reducer = bundle.reduce()
    assert transcript(reducer) == [1, 3, 4]
    edge = json_state(reducer)["interaction_edges"]["edge-1"]
    assert edge["target"] == {"type": "conversation_item", "item_id": "conversation_item:2"}


@skip_unless("corpus/compaction_local_manual")
def test_corpus_case_without_acceptances(tmp_path: Path) -> None:
    """Experiment `strip_all` on compaction_local_manual: with every history_item_accepted removed,
    the official transcript loses the unaccepted response items 8, 9, 17 and 18."""
    source = shared("corpus/compaction_local_manual")
    events = [json.loads(line) for line in (source / "trace.jsonl").read_text().splitlines() if line.strip()]
    kept = [event for event in events if event["payload"]["type"] != "history_item_accepted"]
    for seq, event in enumerate(kept, start=1):
        event["seq"] = seq
    bundle_dir = tmp_path / "bundle"
    bundle_dir.mkdir()
    (bundle_dir / "manifest.json").write_text((source / "manifest.json").read_text())
    shutil.copytree(source / "payloads", bundle_dir / "payloads")  # links out of a bundle are refused
    (bundle_dir / "trace.jsonl").write_text("".join(json.dumps(event) + "\n" for event in kept))
    reducer = reduce_bundle(bundle_dir)

    assert reducer.fault is None
    assert len(items_of(reducer)) == 18
    assert transcript(reducer, json_state(reducer)["root_thread_id"]) == [
        1,
        2,
        3,
        4,
        5,
        6,
        7,
        10,
        11,
        12,
        13,
        14,
        15,
        16,
    ]


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

CORPORA = [shared("corpus"), shared("corpus-schema1")]
SECTIONS = ("conversation_items", "inference_calls", "compactions", "compaction_requests", "threads")
CASES = sorted(
    case for root in CORPORA if root.is_dir() for case in root.iterdir() if (case / "expected_state.json").exists()
)


@pytest.mark.parametrize("case", cases_or_skip(CASES, "corpus", "corpus-schema1", ids=lambda case: case.name))
def test_corpus_conversation_sections_match_the_official_reducer(case: Path) -> None:
    reducer = reduce_bundle(case)
    assert reducer.fault is None
    expected = json.loads((case / "expected_state.json").read_text())
    state = reducer.to_json()
    for section in SECTIONS:
        assert state[section] == expected[section], section


@skip_unless("corpus/compaction_local_manual")
def test_local_compaction_resend_with_new_ids_makes_new_items() -> None:
    reducer = reduce_bundle(CORPORA[0] / "compaction_local_manual")
    by_seq = {c["execution"]["started_seq"]: c for c in json_state(reducer)["inference_calls"].values()}
    assert by_seq[34]["request_item_ids"] == [f"conversation_item:{n}" for n in (1, 10, 11, 4, 12, 13)]
    assert len(json_state(reducer)["conversation_items"]) == 18
