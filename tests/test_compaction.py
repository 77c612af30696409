"""Remote compaction: request attempts, checkpoint installation and the post-compaction baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from bundle_builder import BundleBuilder, Payload, message
from state_view import json_state

ROOT = "thread-root"
DEVELOPER = message("developer", "follow repo rules")
USER = message("user", "count files")
SUMMARY = message("user", "summary of the compacted history")


def started(tmp_path: Path, schema_version: int = 2) -> BundleBuilder:
    bundle = BundleBuilder(tmp_path, schema_version=schema_version)
    bundle.thread()
    bundle.turn("turn-1")
    return bundle


def install(
    bundle: BundleBuilder, compaction_id: str, input_history: list[Any], replacement: list[Any], turn: str = "turn-1"
) -> int:
    checkpoint = Payload("compaction_checkpoint", {"input_history": input_history, "replacement_history": replacement})
    return bundle.add(
        {"type": "compaction_installed", "compaction_id": compaction_id, "checkpoint_payload": checkpoint},
        thread=ROOT,
        turn=turn,
    )


def request_started(bundle: BundleBuilder, compaction_id: str, request_id: str) -> int:
    return bundle.add(
        {
            "type": "compaction_request_started",
            "compaction_id": compaction_id,
            "compaction_request_id": request_id,
            "thread_id": ROOT,
            "codex_turn_id": "turn-1",
            "model": "gpt-test",
            "provider_name": "openai",
            "request_payload": Payload("compaction_request", {"input": []}),
        },
        thread=ROOT,
        turn="turn-1",
    )


@pytest.mark.parametrize("summary_type", ["compaction", "context_compaction", "compaction_summary"])
def test_boundary_repeats_prefix_and_reuses_replacement_items(tmp_path: Path, summary_type: str) -> None:
    bundle = started(tmp_path)
    bundle.inference("inf-1", "turn-1", [DEVELOPER, USER])
    remote_summary = {"type": summary_type, "encrypted_content": "encrypted-summary"}
    installed = install(bundle, "compaction-1", [DEVELOPER, USER], [USER, SUMMARY, remote_summary])
    bundle.turn("turn-2")
    bundle.inference("inf-2", "turn-2", [DEVELOPER, USER, SUMMARY, remote_summary])
    reducer = bundle.reduce()

    assert reducer.fault is None
    first = json_state(reducer)["inference_calls"]["inf-1"]["request_item_ids"]
    second = json_state(reducer)["inference_calls"]["inf-2"]["request_item_ids"]
    compaction = json_state(reducer)["compactions"]["compaction-1"]
    items = json_state(reducer)["conversation_items"]
    producer = [{"type": "compaction", "compaction_id": "compaction-1"}]

    assert compaction["input_item_ids"] == first
    assert compaction["marker_item_id"] == "conversation_item:3"
    assert compaction["replacement_item_ids"] == ["conversation_item:4", "conversation_item:5", "conversation_item:6"]
    assert compaction["installed_at_unix_ms"] == 1000 + 10 * installed
    # The re-sent developer prefix is a new post-compaction item; the rest is the replacement.
    assert second == ["conversation_item:7"] + compaction["replacement_item_ids"]
    marker = items[compaction["marker_item_id"]]
    assert (marker["kind"], marker["channel"], marker["body"], marker["produced_by"]) == (
        "compaction_marker",
        None,
        {"parts": []},
        producer,
    )
    assert "responses_item_id" not in marker
    # Replacement items are new even when identical to live history.
    assert items["conversation_item:4"]["produced_by"] == producer
    summary_item = items["conversation_item:6"]
    assert (summary_item["role"], summary_item["channel"], summary_item["kind"]) == ("assistant", "summary", "message")
    assert summary_item["body"]["parts"] == [
        {"type": "encoded", "label": "encrypted_content", "value": "encrypted-summary"}
    ]
    assert json_state(reducer)["threads"][ROOT]["conversation_item_ids"] == [
        f"conversation_item:{n}" for n in range(1, 8)
    ]
    assert reducer.snapshots[ROOT] == second


def test_unmatched_input_items_are_created_before_the_marker(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    bundle.inference("inf-1", "turn-1", [USER])
    install(bundle, "compaction-1", [USER, message("user", "never sent")], [SUMMARY])
    reducer = bundle.reduce()
    compaction = json_state(reducer)["compactions"]["compaction-1"]
    assert compaction["input_item_ids"] == ["conversation_item:1", "conversation_item:2"]
    assert compaction["marker_item_id"] == "conversation_item:3"
    assert compaction["replacement_item_ids"] == ["conversation_item:4"]
    assert json_state(reducer)["conversation_items"]["conversation_item:2"]["produced_by"] == []


def test_request_attempts_are_listed_on_the_installed_compaction(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    bundle.inference("inf-1", "turn-1", [USER])
    request_started(bundle, "compaction-1", "request-b")
    failed = bundle.add(
        {
            "type": "compaction_request_failed",
            "compaction_id": "compaction-1",
            "compaction_request_id": "request-b",
            "error": "http 500",
        },
        thread=ROOT,
        turn="turn-1",
    )
    request_started(bundle, "compaction-1", "request-a")
    completed = bundle.add(
        {
            "type": "compaction_request_completed",
            "compaction_id": "compaction-1",
            "compaction_request_id": "request-a",
            "response_payload": Payload("compaction_response", {"output": []}),
        },
        thread=ROOT,
        turn="turn-1",
    )
    install(bundle, "compaction-1", [USER], [SUMMARY])
    reducer = bundle.reduce()

    requests = json_state(reducer)["compaction_requests"]
    assert requests["request-b"]["execution"]["status"] == "failed"
    assert requests["request-b"]["execution"]["ended_seq"] == failed
    assert requests["request-b"]["raw_response_payload_id"] is None
    assert requests["request-a"]["execution"]["status"] == "completed"
    assert requests["request-a"]["execution"]["ended_seq"] == completed
    assert requests["request-a"]["raw_response_payload_id"] == "raw_payload:4"
    assert list(requests["request-a"]) == [
        "compaction_request_id",
        "compaction_id",
        "thread_id",
        "codex_turn_id",
        "execution",
        "model",
        "provider_name",
        "raw_request_payload_id",
        "raw_response_payload_id",
    ]
    assert json_state(reducer)["compactions"]["compaction-1"]["request_ids"] == ["request-a", "request-b"]


def test_failed_compaction_leaves_only_the_request(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    request_started(bundle, "compaction-1", "request-1")
    bundle.add(
        {
            "type": "compaction_request_failed",
            "compaction_id": "compaction-1",
            "compaction_request_id": "request-1",
            "error": "context exceeded",
        },
        thread=ROOT,
        turn="turn-1",
    )
    reducer = bundle.reduce()
    assert json_state(reducer)["compactions"] == {}
    assert json_state(reducer)["compaction_requests"]["request-1"]["execution"]["status"] == "failed"


def test_replacement_copy_carries_the_acceptance_of_its_id(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    user = message("user", "count files", item_id="msg-user")
    accepted = bundle.add({"type": "history_item_accepted", "item_id": "msg-user"}, thread=ROOT, turn="turn-1")
    bundle.inference("inf-1", "turn-1", [user])
    install(bundle, "compaction-1", [user], [user])
    reducer = bundle.reduce()
    replacement = json_state(reducer)["conversation_items"]["conversation_item:3"]
    assert replacement["responses_item_id"] == "msg-user"
    assert replacement["accepted_seq"] == accepted


@pytest.mark.parametrize(
    ("event", "message_text"),
    [
        ({"thread": None, "turn": "turn-1"}, "compaction installed event c-1 did not include a thread id"),
        ({"thread": ROOT, "turn": None}, "compaction installed event c-1 did not include a codex turn id"),
        ({"thread": ROOT, "turn": "turn-x"}, "compaction install c-1 referenced unknown codex turn turn-x"),
    ],
)
def test_install_context_errors(tmp_path: Path, event: dict[str, Any], message_text: str) -> None:
    bundle = started(tmp_path)
    checkpoint = Payload("compaction_checkpoint", {"input_history": [], "replacement_history": []})
    bundle.add(
        {"type": "compaction_installed", "compaction_id": "c-1", "checkpoint_payload": checkpoint},
        thread=event["thread"],
        turn=event["turn"],
    )
    reducer = bundle.reduce()
    assert reducer.fault is not None
    assert reducer.fault.message == message_text


def test_duplicate_install_and_missing_arrays_are_faults(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    install(bundle, "c-1", [], [])
    install(bundle, "c-1", [], [])
    reducer = bundle.reduce()
    assert reducer.fault is not None and reducer.fault.message == "duplicate compaction install for c-1"

    other = started(tmp_path / "missing")
    other.add(
        {
            "type": "compaction_installed",
            "compaction_id": "c-1",
            "checkpoint_payload": Payload("compaction_checkpoint", {"input_history": []}),
        },
        thread=ROOT,
        turn="turn-1",
    )
    reducer = other.reduce()
    assert reducer.fault is not None
    assert (
        reducer.fault.message == "compaction checkpoint payload raw_payload:1 did not contain array replacement_history"
    )


def test_request_completion_errors(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    request_started(bundle, "compaction-1", "request-1")
    bundle.add(
        {
            "type": "compaction_request_failed",
            "compaction_id": "compaction-2",
            "compaction_request_id": "request-1",
            "error": "x",
        },
        thread=ROOT,
        turn="turn-1",
    )
    reducer = bundle.reduce()
    assert reducer.fault is not None
    assert reducer.fault.message == (
        "compaction request request-1 completion used compaction compaction-2, but start used compaction-1"
    )
