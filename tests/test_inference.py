"""Inference call lifecycle: start checks, terminal events, partial output, turn-end cleanup."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from bundle_builder import BundleBuilder, Payload, message
from state_view import json_state

ROOT = "thread-root"


def started(tmp_path: Path) -> BundleBuilder:
    bundle = BundleBuilder(tmp_path)
    bundle.thread()
    bundle.turn("turn-1")
    return bundle


def assistant(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]}


def terminal_event(kind: str, inference_id: str, output: list[Any] | None, request_id: str | None) -> dict[str, Any]:
    partial = None
    if output is not None:
        partial = Payload("inference_response", {"response_id": None, "token_usage": None, "output_items": output})
    field = "reason" if kind == "inference_cancelled" else "error"
    return {
        "type": kind,
        "inference_call_id": inference_id,
        "upstream_request_id": request_id,
        field: "stopped",
        "partial_response_payload": partial,
    }


def test_started_call_has_the_official_shape(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    seq = bundle.inference("inf-1", "turn-1", [message("user", "hello")])
    reducer = bundle.reduce()
    assert json_state(reducer)["inference_calls"]["inf-1"] == {
        "inference_call_id": "inf-1",
        "thread_id": ROOT,
        "codex_turn_id": "turn-1",
        "execution": {
            "started_at_unix_ms": 1000 + 10 * seq,
            "started_seq": seq,
            "ended_at_unix_ms": None,
            "ended_seq": None,
            "status": "running",
        },
        "model": "gpt-test",
        "provider_name": "test-provider",
        "response_id": None,
        "upstream_request_id": None,
        "request_item_ids": ["conversation_item:1"],
        "response_item_ids": [],
        "tool_call_ids_started_by_response": [],
        "usage": None,
        "raw_request_payload_id": "raw_payload:1",
        "raw_response_payload_id": None,
    }


def test_completion_records_response_and_usage(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    usage = {"input_tokens": 7, "cached_input_tokens": 0, "output_tokens": 3, "reasoning_output_tokens": -4}
    seq = bundle.inference(
        "inf-1", "turn-1", [message("user", "hi")], [assistant("hello")], response_id="resp-9", token_usage=usage
    )
    reducer = bundle.reduce()
    inference = json_state(reducer)["inference_calls"]["inf-1"]
    assert inference["response_id"] == "resp-9"
    assert inference["execution"]["ended_seq"] == seq
    assert inference["execution"]["status"] == "completed"
    assert inference["raw_response_payload_id"] == "raw_payload:2"
    # cache_write defaults to 0 and negative counters clamp to 0.
    assert inference["usage"] == {
        "input_tokens": 7,
        "cached_input_tokens": 0,
        "cache_write_input_tokens": 0,
        "output_tokens": 3,
        "reasoning_output_tokens": 0,
    }


def test_usage_with_a_missing_counter_is_ignored(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    bundle.inference(
        "inf-1",
        "turn-1",
        [message("user", "hi")],
        [assistant("hello")],
        token_usage={"input_tokens": 7, "output_tokens": 3},
    )
    reducer = bundle.reduce()
    assert json_state(reducer)["inference_calls"]["inf-1"]["usage"] is None


def test_cancelled_call_keeps_its_partial_output(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    bundle.inference("inf-1", "turn-1", [message("user", "draft")])
    bundle.add(
        terminal_event("inference_cancelled", "inf-1", [assistant("partial")], "req-cancelled"),
        thread=ROOT,
        turn="turn-1",
    )
    reducer = bundle.reduce()
    inference = json_state(reducer)["inference_calls"]["inf-1"]
    assert inference["execution"]["status"] == "cancelled"
    assert inference["upstream_request_id"] == "req-cancelled"
    assert inference["response_id"] is None
    [item_id] = inference["response_item_ids"]
    item = json_state(reducer)["conversation_items"][item_id]
    assert item["produced_by"] == [{"type": "inference", "inference_call_id": "inf-1"}]


def test_failed_call_without_output(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    bundle.inference("inf-1", "turn-1", [message("user", "hi")])
    seq = bundle.add(terminal_event("inference_failed", "inf-1", None, None), thread=ROOT, turn="turn-1")
    reducer = bundle.reduce()
    inference = json_state(reducer)["inference_calls"]["inf-1"]
    assert inference["execution"]["status"] == "failed"
    assert inference["execution"]["ended_seq"] == seq
    assert inference["raw_response_payload_id"] is None
    assert inference["response_item_ids"] == []


@pytest.mark.parametrize(
    ("turn_status", "inference_status"),
    [("cancelled", "cancelled"), ("completed", "cancelled"), ("failed", "failed"), ("aborted", "aborted")],
)
def test_turn_end_closes_running_calls(tmp_path: Path, turn_status: str, inference_status: str) -> None:
    bundle = started(tmp_path)
    bundle.inference("inf-1", "turn-1", [message("user", "wait")])
    turn_end = bundle.end_turn("turn-1", turn_status)
    reducer = bundle.reduce()
    execution = json_state(reducer)["inference_calls"]["inf-1"]["execution"]
    assert (execution["status"], execution["ended_seq"]) == (inference_status, turn_end)


def test_late_cancellation_keeps_the_turn_end_status_but_takes_the_evidence(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    bundle.inference("inf-1", "turn-1", [message("user", "interrupt")])
    turn_end = bundle.end_turn("turn-1", "failed")
    bundle.add(
        terminal_event("inference_cancelled", "inf-1", [assistant("late partial")], "req-late"),
        thread=ROOT,
        turn="turn-1",
    )
    reducer = bundle.reduce()
    inference = json_state(reducer)["inference_calls"]["inf-1"]
    assert (inference["execution"]["status"], inference["execution"]["ended_seq"]) == ("failed", turn_end)
    assert inference["raw_response_payload_id"] == "raw_payload:2"
    assert inference["upstream_request_id"] == "req-late"
    [item_id] = inference["response_item_ids"]
    assert json_state(reducer)["conversation_items"][item_id]["body"]["parts"] == [
        {"type": "text", "text": "late partial"}
    ]


def test_unknown_turn_is_a_fault(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    bundle.inference("inf-1", "turn-missing", [message("user", "hello")])
    reducer = bundle.reduce()
    assert reducer.fault is not None
    assert reducer.fault.message == "inference start inf-1 referenced unknown codex turn turn-missing"


def test_turn_of_another_thread_is_a_fault(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    bundle.thread("child", "/root/child")
    bundle.inference("inf-1", "turn-1", [message("user", "hello")], thread_id="child")
    reducer = bundle.reduce()
    assert reducer.fault is not None
    assert (
        reducer.fault.message == "inference start inf-1 used thread child, but codex turn turn-1 belongs to thread-root"
    )


def test_duplicate_start_is_a_fault(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    bundle.inference("inf-1", "turn-1", [message("user", "hello")])
    bundle.inference("inf-1", "turn-1", [message("user", "hello")])
    reducer = bundle.reduce()
    assert reducer.fault is not None
    assert reducer.fault.message == "duplicate inference start for inf-1"


def test_completion_of_an_unknown_call_is_a_fault(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    bundle.add(terminal_event("inference_failed", "inf-x", None, None), thread=ROOT, turn="turn-1")
    reducer = bundle.reduce()
    assert reducer.fault is not None
    assert reducer.fault.message == "inference completion referenced unknown call inf-x"


def test_duplicate_completion_is_tolerated_and_last_response_id_wins(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    first = bundle.inference("inf-1", "turn-1", [message("user", "hi")], [assistant("a")], response_id="resp-1")
    bundle.add(terminal_event("inference_cancelled", "inf-1", None, None), thread=ROOT, turn="turn-1")
    reducer = bundle.reduce()
    inference = json_state(reducer)["inference_calls"]["inf-1"]
    assert reducer.fault is None
    assert inference["execution"]["ended_seq"] == first
    assert inference["response_id"] is None
    assert len(inference["response_item_ids"]) == 1


def test_a_later_terminal_event_clears_the_response_id_for_incremental_requests(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    bundle.inference("inf-1", "turn-1", [message("user", "hi")], [assistant("a")], response_id="resp-1")
    bundle.add(terminal_event("inference_cancelled", "inf-1", None, None), thread=ROOT, turn="turn-1")
    bundle.inference("inf-2", "turn-1", {"previous_response_id": "resp-1", "input": [message("user", "more")]})
    reducer = bundle.reduce()
    assert reducer.fault is not None
    assert reducer.fault.message == "incremental inference request inf-2 referenced unknown previous_response_id resp-1"


def test_incremental_delta_must_agree_with_a_longer_live_snapshot(tmp_path: Path) -> None:
    bundle = started(tmp_path)
    bundle.inference("inf-1", "turn-1", [message("user", "A")], [assistant("B")], response_id="resp-1")
    bundle.inference("inf-2", "turn-1", [message("user", "A"), assistant("B"), message("user", "C")])
    bundle.inference("inf-3", "turn-1", {"previous_response_id": "resp-1", "input": [message("user", "C")]})
    bundle.inference("inf-4", "turn-1", {"previous_response_id": "resp-1", "input": [message("user", "D")]})
    reducer = bundle.reduce()
    assert json_state(reducer)["inference_calls"]["inf-3"]["request_item_ids"] == [
        "conversation_item:1",
        "conversation_item:2",
        "conversation_item:3",
    ]
    assert reducer.fault is not None
    assert reducer.fault.message == (
        "model conversation mismatch while reducing turn turn-1 for thread thread-root at item index 2: "
        "existing item conversation_item:3 does not match the current model payload item"
    )
