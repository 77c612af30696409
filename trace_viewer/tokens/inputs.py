"""Token counts of raw model inputs, with no reduced state: e.g. a session rollout's rebuilt calls.

``trace-viewer calls`` rebuilds, from a rollout, the exact Responses ``input``
of every model call (``trace_viewer.calls.CallInfo``). ``InputCounter`` counts
such an input by the same rules as ``TokenCounter`` (framing, categories,
request-level parts), caching each distinct item, so a session of hundreds of
calls re-sending the same history is cheap. What it cannot know without a
trace: a rollout records no tool schemas (pass ``tools`` when known), and
encrypted reasoning is estimated only from ``reasoning_tokens`` given per item.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from trace_viewer.tokens import rules
from trace_viewer.tokens.counter import (
    Composition,
    ItemTokens,
    compose,
    is_base_instructions,
    measure_item,
    request_parts,
)
from trace_viewer.tokens.source import ItemFacts

_KINDS = frozenset(
    {"message", "reasoning", "function_call", "function_call_output", "custom_tool_call", "custom_tool_call_output"}
)
_COMPACTION_TYPES = frozenset({"compaction", "compaction_summary", "context_compaction"})


def facts_of(raw: Mapping[str, Any], item_id: str, thread_id: str = "") -> ItemFacts:
    """An ``ItemFacts`` for a raw Responses item (what the reducer's normalisation would say of it)."""
    item_type = str(raw.get("type"))
    role = str(raw.get("role")) if item_type == "message" else "assistant"
    kind = item_type
    channel = None
    if item_type in _COMPACTION_TYPES:
        kind, channel = "message", "summary"
    elif item_type == "agent_message":
        kind = "message"
    elif item_type not in _KINDS:  # web search and other generic calls and outputs
        kind = "function_call_output" if item_type.endswith("_output") else "function_call"
    if kind.endswith("_output"):
        role = "tool"
    call_id = raw.get("call_id")
    return ItemFacts(
        item_id=item_id,
        thread_id=thread_id,
        role=role,
        channel=channel,
        kind=kind,
        parts=(),
        call_id=call_id if isinstance(call_id, str) else None,
        is_agent_message=item_type == "agent_message",
        producing_call_id=None,
    )


class InputCounter:
    """Counts raw model inputs; one per source (a rollout, a session tree)."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, bool, int | None], ItemTokens] = {}
        self._definitions: dict[str, int] = {}
        self._tool_names: dict[tuple[str, str], str] = {}

    def count(
        self,
        items: Sequence[Mapping[str, Any]],
        *,
        tools: Any = None,
        instructions: str | None = None,
        context_window: int | None = None,
        reported_input_tokens: int | None = None,
        reasoning_tokens: Mapping[int, int] | None = None,
        thread_id: str = "",
        call_id: str | None = None,
    ) -> Composition:
        """The composition of one input list (item ids: the items' ``id``, else ``input:<index>``).

        ``reasoning_tokens`` maps an input index to the reported reasoning tokens of
        that encrypted reasoning item (the estimate); without it such items are unknown.
        """
        counted: list[ItemTokens] = []
        for index, raw in enumerate(items):
            raw_id = raw.get("id")
            item_id = raw_id if isinstance(raw_id, str) and raw_id else f"input:{index}"
            counted.append(self._item(raw, item_id, index, thread_id, (reasoning_tokens or {}).get(index)))
        parts = request_parts(instructions, tools, self._definitions)
        return compose(thread_id, call_id, context_window, reported_input_tokens, counted, parts)

    def _item(
        self, raw: Mapping[str, Any], item_id: str, index: int, thread_id: str, estimate: int | None
    ) -> ItemTokens:
        base_slot = index == 0
        key = (rules.compact_json(raw), base_slot, estimate)
        cached = self._items.get(key)
        if cached is not None:
            return cached if cached.item_id == item_id else dataclasses.replace(cached, item_id=item_id)
        facts = facts_of(raw, item_id, thread_id)
        content = rules.content_from_raw(raw)
        base = base_slot and is_base_instructions(facts, content)
        result = measure_item(facts, content, base=base, estimate=lambda _: estimate, tool_names=self._tool_names)
        self._items[key] = result
        return result
