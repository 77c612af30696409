"""Normalised request items are reused, and that changes nothing.

The reducer keeps, per thread, the last request's ``input`` and its normalised items,
and per Responses id the last raw item normalised. A new request's equal prefix, or an
item with an id equal to one seen before (a schema 3 model item stored once and sent again
at another position), is not normalised again. Parts that point into their payload
(``raw_payload_id``) are re-pointed at the new one; a json summary that needed the
payload's number text (a float inside a non-string value) is computed every time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from bundle_builder import BundleBuilder, message
from state_view import json_state

from trace_viewer.reducer import conversation, normalize
from trace_viewer.session import clone_reducer

ROOT = "thread-root"

TOOLS = {"type": "additional_tools", "role": "developer", "tools": [{"type": "function", "name": "lookup"}]}
CALL = {"type": "function_call", "name": "shell", "arguments": '{"cmd": ["ls", "-l"], "ratio": 1.50}', "call_id": "c1"}
OUTPUT = {"type": "function_call_output", "call_id": "c1", "output": "total 0"}
IMAGE = {"type": "message", "role": "user", "content": [{"type": "input_image", "image_url": "data:..."}]}


def build(tmp_path: Path) -> BundleBuilder:
    bundle = BundleBuilder(tmp_path)
    bundle.thread()
    bundle.turn("turn-1")
    history: list[Any] = [TOOLS, message("developer", "be brief"), message("user", "list files")]
    bundle.inference("inf-1", "turn-1", history)
    history += [CALL, OUTPUT, IMAGE]
    bundle.inference("inf-2", "turn-1", history)
    history += [message("assistant", "done"), message("user", "thanks")]
    bundle.inference("inf-3", "turn-1", history)
    # A request that rewrites the start of the history: nothing of the old prefix is reused.
    bundle.inference("inf-4", "turn-1", [message("developer", "be verbose"), *history[1:]])
    return bundle


def count_normalised(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    original = normalize.normalize_model_item

    def counting(item: Any, raw_payload_id: str, raw: Any = None) -> Any:
        seen.append(item.get("type"))
        return original(item, raw_payload_id, raw)

    monkeypatch.setattr(conversation, "normalize_model_item", counting)
    monkeypatch.setattr(normalize, "normalize_model_item", counting)
    return seen


def test_reused_prefix_gives_the_same_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = build(tmp_path)
    seen = count_normalised(monkeypatch)
    with_memo = bundle.reduce()
    normalised_with_memo = len(seen)
    monkeypatch.setattr(
        conversation.ConversationReducer,
        "_load_request_items",
        lambda self, ref, thread_id, items: self._load_items(ref, "input", items),
    )
    seen.clear()
    without = bundle.reduce()
    assert with_memo.fault is None and without.fault is None
    assert with_memo.to_json() == without.to_json()
    # Without the memo every request normalises its whole input (additional_tools skipped):
    # 2 + 5 + 7 + 8 items. With it: 2, then the call, output and image, then only the two new
    # messages (the call and image are re-pointed at the new payload), then all 8 of the
    # rewritten request (these items have no Responses id to find them by).
    assert len(seen) == 2 + 5 + 7 + 8
    assert normalised_with_memo == 2 + 3 + 2 + 8


FLOAT_CALL = {"type": "function_call", "name": "shell", "arguments": {"ratio": 1.5}, "call_id": "c2", "id": "fc_2"}


def test_items_are_found_again_by_responses_id_and_floats_are_never_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = BundleBuilder(tmp_path)
    bundle.thread()
    bundle.turn("turn-1")
    kept = message("user", "keep me", item_id="msg_keep")
    bundle.inference("inf-1", "turn-1", [message("developer", "a"), kept, FLOAT_CALL])
    bundle.inference("inf-2", "turn-1", [message("developer", "b"), kept, FLOAT_CALL])
    seen = count_normalised(monkeypatch)
    reducer = bundle.reduce()
    assert reducer.fault is None
    # inf-2 differs at index 0: `kept` is found by its id; the call (a float in a JSON value,
    # summarised from the payload's number text) is normalised again.
    assert seen == ["message", "message", "function_call", "message", "function_call"]
    items = json_state(reducer)["conversation_items"]
    call = next(item for item in items.values() if item["kind"] == "function_call")
    assert call["body"]["parts"][0]["summary"] == '{"ratio":1.5}'


def test_payload_bound_parts_name_the_payload_of_their_request(tmp_path: Path) -> None:
    reducer = build(tmp_path).reduce()
    items = json_state(reducer)["conversation_items"]
    calls = json_state(reducer)["inference_calls"]
    payload_of = {name: calls[name]["raw_request_payload_id"] for name in ("inf-2", "inf-3")}
    images = {}
    for name in ("inf-2", "inf-3"):
        for item_id in calls[name]["request_item_ids"]:
            parts = items[item_id]["body"]["parts"]
            if parts and parts[0]["type"] == "payload_ref":
                images[name] = parts[0]["raw_payload_id"]
    assert images == payload_of
    # The JSON-argument call keeps its first sighting (same content key) and its summary.
    call_items = [items[i] for i in calls["inf-3"]["request_item_ids"] if items[i]["kind"] == "function_call"]
    assert len(call_items) == 1
    assert call_items[0]["body"]["parts"][0]["raw_payload_id"] == payload_of["inf-2"]


def test_clones_share_the_memo(tmp_path: Path) -> None:
    reducer = build(tmp_path).reduce()
    twin = clone_reducer(reducer)
    assert twin.conversation._request_inputs is reducer.conversation._request_inputs
    assert twin.rollout is not reducer.rollout
