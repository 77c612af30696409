"""Token counts of a trace: per item (once per trace), per call and per live context.

An item's count comes from the raw Responses item the model was sent: the
entry of the first request that carried it (requests carry the whole context,
one input entry per request item), else the response that produced it, else
its reduced body (exact for text, not for cut JSON summaries). Items are
immutable, so each is counted once and cached; a call's composition is then a
sum over cached counts, cheap enough for every scrub step.

Counts that depend on the provider's usage (the reasoning estimate) are only
cached once the producing call has ended.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from trace_viewer.bundle.event_log import parse_json_bytes
from trace_viewer.reducer.prepared import assemble
from trace_viewer.tokens import rules
from trace_viewer.tokens.encoding import ENCODING, count_tokens
from trace_viewer.tokens.source import CallFacts, ItemFacts, StateSource


@dataclass(frozen=True, slots=True)
class ItemTokens:
    """One context item's tokens."""

    item_id: str
    category: str
    tokens: int  # content + framing (estimates included)
    framing: int
    estimated: bool = False  # part of ``tokens`` is an estimate (encrypted reasoning)
    unknown: bool = False  # holds content that could not be counted (encrypted, images): not in ``tokens``
    exact: bool = True  # counted from the raw item sent to the model (False: from a lossy reduced body)
    tool: str | None = None  # tool name of a tool call or tool output
    split: tuple[tuple[str, int], ...] = ()  # tokens per category when parts differ (e.g. skills + permissions)


@dataclass(frozen=True, slots=True)
class RequestPart:
    """A request-level part counted besides the items: a tool definition or the request's instructions."""

    category: str
    name: str
    tokens: int


@dataclass(frozen=True, slots=True)
class Composition:
    """What one context is made of, in tokens."""

    thread_id: str
    call_id: str | None  # the inference call, or None for a live context
    context_window: int | None
    reported_input_tokens: int | None
    items: tuple[ItemTokens, ...]
    request_parts: tuple[RequestPart, ...]
    categories: dict[str, int] = field(default_factory=dict)
    total: int = 0

    @property
    def free(self) -> int | None:
        return None if self.context_window is None else self.context_window - self.total

    @property
    def percent(self) -> float | None:
        """Share of the window used (may exceed 100 when the count is over the window)."""
        if not self.context_window:
            return None
        return 100.0 * self.total / self.context_window

    @property
    def difference(self) -> int | None:
        """Our total minus the provider's ``input_tokens`` (None when not reported)."""
        return None if self.reported_input_tokens is None else self.total - self.reported_input_tokens

    @property
    def estimated_tokens(self) -> int:
        return sum(item.tokens - item.framing for item in self.items if item.estimated)

    @property
    def unknown_items(self) -> int:
        return sum(1 for item in self.items if item.unknown)

    def tool_outputs_by_tool(self) -> dict[str, int]:
        """Tool-output tokens per tool name (largest first); outputs of an unknown tool under ``?``."""
        out: dict[str, int] = {}
        for item in self.items:
            if item.category == rules.TOOL_OUTPUTS:
                name = item.tool or "?"
                out[name] = out.get(name, 0) + item.tokens
        return dict(sorted(out.items(), key=lambda pair: (-pair[1], pair[0])))

    def to_json(self) -> dict[str, Any]:
        """The ``trace-viewer tokens --format json`` object."""
        return {
            "encoding": ENCODING,
            "context_window": self.context_window,
            "total": self.total,
            "free": self.free,
            "reported_input_tokens": self.reported_input_tokens,
            "categories": dict(self.categories),
            "items": [{"item_id": i.item_id, "category": i.category, "tokens": i.tokens} for i in self.items],
        }


def compose(
    thread_id: str,
    call_id: str | None,
    window: int | None,
    reported: int | None,
    items: Sequence[ItemTokens],
    parts: Sequence[RequestPart],
) -> Composition:
    categories = dict.fromkeys(rules.CATEGORIES, 0)
    for item in items:
        categories[item.category] += item.tokens
    for part in parts:
        categories[part.category] += part.tokens
    return Composition(
        thread_id=thread_id,
        call_id=call_id,
        context_window=window,
        reported_input_tokens=reported,
        items=tuple(items),
        request_parts=tuple(parts),
        categories=categories,
        total=sum(categories.values()),
    )


class TokenCounter:
    """Counts tokens for one trace; every count is cached, so repeated questions are cheap.

    Safe to share between the UI thread and one worker: caches are only ever
    filled with the same values, under a lock.
    """

    def __init__(self, source: StateSource) -> None:
        self.source = source
        self._lock = threading.RLock()
        self._items: dict[str, ItemTokens] = {}
        self._parts: dict[str, tuple[RequestPart, ...]] = {}  # call id -> its request-level parts
        self._compositions: dict[str, Composition] = {}
        self._definitions: dict[str, int] = {}  # compact JSON of a tool definition -> tokens
        self._first_sighting: dict[str, tuple[str, int]] = {}  # item id -> (call id, position)
        self._indexed_calls: set[str] = set()
        self._indexed_count = -1
        self._tool_names: dict[tuple[str, str], str] = {}  # (thread, call id) -> tool name

    # ----- public ---------------------------------------------------------------------------
    def item(self, item_id: str) -> ItemTokens:
        """The tokens of one conversation item (cached once final)."""
        cached = self._items.get(item_id)
        if cached is not None:
            return cached
        with self._lock:
            self._index_calls()
            sighting = self._first_sighting.get(item_id)
            facts = self.source.call(sighting[0]) if sighting is not None else None
            if facts is not None:
                counted = self._load_request(facts).get(item_id)
                if counted is not None:
                    return counted
            return self._count_elsewhere(item_id)

    def items(self, item_ids: Iterable[str]) -> list[ItemTokens]:
        return [self.item(item_id) for item_id in item_ids]

    def call(self, call_id: str) -> Composition:
        """The composition of exactly what one inference call sent (raises ``KeyError`` if unknown)."""
        cached = self._compositions.get(call_id)
        if cached is not None:
            return cached
        facts = self.source.call(call_id)
        if facts is None:
            raise KeyError(call_id)
        with self._lock:
            self._index_calls()
            parts = self._request_parts(facts)
            items = self.items(facts.request_item_ids)
            window = self.source.context_window(facts.turn_id, facts.thread_id, facts.started_seq)
            composition = compose(facts.thread_id, call_id, window, facts.input_tokens, items, parts)
            if facts.ended_seq is not None and all(self._final(item) for item in items):
                self._compositions[call_id] = composition
            return composition

    def counted_call(self, call_id: str) -> Composition | None:
        """The call's composition if it is already counted (never counts anything)."""
        return self._compositions.get(call_id)

    def context(self, thread_id: str, item_ids: Sequence[str], seq: int) -> Composition:
        """The composition of a live context (item ids, e.g. ``ReplaySession.context_at``) after event ``seq``.

        Request-level parts are those of the thread's latest call started at or
        before ``seq`` (none before its first call). The provider's figure is
        given only when that call sent exactly this context.
        """
        with self._lock:
            latest = self.latest_call(thread_id, seq)
            parts: tuple[RequestPart, ...] = ()
            reported = None
            turn_id = None
            if latest is not None:
                parts = self._request_parts(latest)
                turn_id = latest.turn_id
                if tuple(item_ids) == latest.request_item_ids:
                    reported = latest.input_tokens
            turns = [tid for started, tid in self.source.turn_ids(thread_id) if started <= seq]
            if turns:
                turn_id = turns[-1]
            window = self.source.context_window(turn_id, thread_id, seq)
            return compose(thread_id, None, window, reported, self.items(item_ids), parts)

    def latest_call(self, thread_id: str, seq: int) -> CallFacts | None:
        """The thread's last inference call started at or before ``seq``."""
        best: CallFacts | None = None
        for call_id in self.source.call_ids(thread_id):
            facts = self.source.call(call_id)
            if facts is not None and facts.started_seq <= seq:
                best = facts
        return best

    def warm(self, call_ids: Iterable[str] | None = None) -> int:
        """Count every item of these calls (default: all); returns how many calls. For a background worker."""
        ids = list(self.source.call_ids() if call_ids is None else call_ids)
        for call_id in ids:
            self.call(call_id)
        return len(ids)

    def cache_info(self) -> dict[str, int]:
        return {"items": len(self._items), "calls": len(self._compositions), "requests": len(self._parts)}

    # ----- indexing -------------------------------------------------------------------------
    def _index_calls(self) -> None:
        """Where each item was first sent: (call, position). New calls are indexed as they appear."""
        count = self.source.call_count()
        if count == self._indexed_count:
            return
        for call_id in self.source.call_ids():
            if call_id in self._indexed_calls:
                continue
            facts = self.source.call(call_id)
            if facts is None:
                continue
            self._indexed_calls.add(call_id)
            for position, item_id in enumerate(facts.request_item_ids):
                self._first_sighting.setdefault(item_id, (call_id, position))
        self._indexed_count = count

    # ----- requests -------------------------------------------------------------------------
    def _request_parts(self, facts: CallFacts) -> tuple[RequestPart, ...]:
        parts = self._parts.get(facts.call_id)
        if parts is None:
            self._load_request(facts)
            parts = self._parts[facts.call_id]
        return parts

    def _load_request(self, facts: CallFacts) -> dict[str, ItemTokens]:
        """Read a call's request once: cache its request-level parts, count the items it sent first.

        The parsed payload is dropped afterwards (only counts are kept), and it is
        read past the payload store's cache, so counting a whole trace does not
        hold every request in memory.
        """
        payload = self.source.read_payload(facts.request_ref, cache=False)
        request = payload if isinstance(payload, dict) else {}
        tools = request.get("tools")
        if not isinstance(tools, list) and facts.prepared_prompt_ref is not None:
            prepared = self._prepared_prompt(facts)  # schema 3 records the tools there too
            tools = prepared.get("tools") if prepared is not None else None
        self._parts[facts.call_id] = request_parts(request.get("instructions"), tools, self._definitions)
        inputs = request.get("input")
        aligned: list[Any] | None = None
        if isinstance(inputs, list):
            entries = [x for x in inputs if not (isinstance(x, dict) and x.get("type") == "additional_tools")]
            if len(entries) == len(facts.request_item_ids):
                aligned = entries
        return self._count_first_sent(facts, aligned)

    def _prepared_prompt(self, facts: CallFacts) -> dict[str, Any] | None:
        """Schema 3: the prepared request, rebuilt from its fragments and the model items between them."""
        ref = facts.prepared_prompt_ref
        fragments = self.source.read_payload(ref)
        if not isinstance(fragments, list) or not all(isinstance(f, str) for f in fragments):
            return None
        parts = (ref or {}).get("parts") or ()
        if len(fragments) != len(parts) + 1:
            return None
        bodies = [self.source.read_payload(part if isinstance(part, dict) else None) for part in parts]
        if any(body is None for body in bodies):
            return None
        try:
            value = parse_json_bytes(assemble(fragments, [rules.compact_json(b) for b in bodies]).encode("utf-8"))
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    # ----- items ----------------------------------------------------------------------------
    def _count_first_sent(self, facts: CallFacts, inputs: list[Any] | None) -> dict[str, ItemTokens]:
        """Count every item this call sent first, from its raw request entries (``inputs``, aligned)."""
        counted: dict[str, ItemTokens] = {}
        for position, item_id in enumerate(facts.request_item_ids):
            if self._first_sighting.get(item_id) != (facts.call_id, position):
                continue
            if item_id in self._items:
                counted[item_id] = self._items[item_id]
                continue
            item = self.source.item(item_id)
            if item is None:
                continue
            raw = inputs[position] if inputs is not None else None
            content = rules.content_from_raw(raw) if isinstance(raw, dict) else self._fallback_content(item)
            base = position == 0 and is_base_instructions(item, content)
            counted[item_id] = self._measure(item, content, base)
            self._store(counted[item_id])
        return counted

    def _count_elsewhere(self, item_id: str) -> ItemTokens:
        """An item no request carried: from the response that produced it, else from its reduced body."""
        item = self.source.item(item_id)
        if item is None:
            return ItemTokens(item_id, rules.ASSISTANT_MESSAGES, 0, 0, unknown=True, exact=False)
        result = self._measure(item, self._fallback_content(item), base=False)
        self._store(result)
        return result

    def _fallback_content(self, item: ItemFacts) -> rules.Content:
        if item.producing_call_id is not None:
            producer = self.source.call(item.producing_call_id)
            if producer is not None and item.item_id in producer.response_item_ids:
                response = self.source.read_payload(producer.response_ref)
                outputs = response.get("output_items") if isinstance(response, dict) else None
                if isinstance(outputs, list) and len(outputs) == len(producer.response_item_ids):
                    raw = outputs[producer.response_item_ids.index(item.item_id)]
                    if isinstance(raw, dict):
                        return rules.content_from_raw(raw)
        return rules.content_from_parts(item.parts)

    def _measure(self, item: ItemFacts, content: rules.Content, base: bool) -> ItemTokens:
        return measure_item(item, content, base=base, estimate=self._reasoning_estimate, tool_names=self._tool_names)

    def _reasoning_estimate(self, item: ItemFacts) -> int | None:
        """The producing call's reported reasoning tokens, shared among its reasoning items."""
        if item.producing_call_id is None:
            return None
        producer = self.source.call(item.producing_call_id)
        if producer is None or producer.reasoning_output_tokens is None:
            return None
        siblings = [
            other
            for other in producer.response_item_ids
            if (facts := self.source.item(other)) is not None and facts.kind == "reasoning"
        ] or [item.item_id]
        share, remainder = divmod(producer.reasoning_output_tokens, len(siblings))
        return share + (remainder if siblings[0] == item.item_id else 0)

    def _final(self, tokens: ItemTokens) -> bool:
        return tokens.item_id in self._items

    def _store(self, tokens: ItemTokens) -> None:
        """Cache a count unless it may still change (a reasoning estimate before its call ended)."""
        item = self.source.item(tokens.item_id)
        if item is not None and item.kind == "reasoning" and item.producing_call_id is not None:
            producer = self.source.call(item.producing_call_id)
            if producer is None or producer.ended_seq is None:
                return
        self._items[tokens.item_id] = tokens


def measure_item(
    item: ItemFacts,
    content: rules.Content,
    *,
    base: bool,
    estimate: Callable[[ItemFacts], int | None],
    tool_names: dict[tuple[str, str], str],
) -> ItemTokens:
    """An item's tokens by the framing rule (``rules``); ``estimate`` gives encrypted reasoning's estimate.

    ``tool_names`` maps (thread, call id) to a tool call's name: filled by calls, read by their outputs.
    """
    if item.kind == "compaction_marker":
        return ItemTokens(item.item_id, rules.COMPACTION_SUMMARIES, 0, 0)
    categories = rules.piece_categories(
        role=item.role,
        channel=item.channel,
        kind=item.kind,
        is_agent_message=item.is_agent_message,
        content=content,
        base=base,
    )
    per_category: dict[str, int] = {}
    estimated = unknown = False
    encrypted = any(piece.encrypted for piece in content.pieces)
    # Encrypted reasoning: its readable summary is not what the model re-reads; the estimate stands for it.
    sealed_reasoning = item.kind == "reasoning" and encrypted
    reasoning_estimate = estimate(item) if sealed_reasoning else None
    for piece, category in zip(content.pieces, categories, strict=False):
        if piece.text is not None:
            if sealed_reasoning:
                continue
            tokens = count_tokens(piece.text)
        elif piece.encrypted and reasoning_estimate is not None:
            tokens = reasoning_estimate
            estimated = True
        else:
            tokens = 0
            unknown = True
        per_category[category] = per_category.get(category, 0) + tokens
    if not per_category:
        per_category[categories[0]] = 0
    main = max(per_category, key=lambda name: (per_category[name], -list(per_category).index(name)))
    tool = content.tool_name
    if item.call_id is not None:
        key = (item.thread_id, item.call_id)
        if tool is not None:
            tool_names[key] = tool
        elif item.kind in ("function_call_output", "custom_tool_call_output"):
            tool = tool_names.get(key)
    framing = rules.FRAMING_TOKENS
    split = tuple(per_category.items()) if len(per_category) > 1 else ()
    if sealed_reasoning and reasoning_estimate is None:
        unknown = True
    return ItemTokens(
        item_id=item.item_id,
        category=main,
        tokens=sum(per_category.values()) + framing,
        framing=framing,
        estimated=estimated,
        unknown=unknown,
        exact=content.exact and not estimated and not unknown,
        tool=tool,
        split=split,
    )


def is_base_instructions(item: ItemFacts, content: rules.Content) -> bool:
    """For the first item of a request: a developer message of plain prose is Codex's base instructions."""
    if item.role not in ("developer", "system") or item.kind != "message" or item.is_agent_message:
        return False
    texts = [piece.text for piece in content.pieces if piece.text]
    return bool(texts) and rules.looks_like_base_instructions(texts[0])


def request_parts(instructions: Any, tools: Any, cache: dict[str, int]) -> tuple[RequestPart, ...]:
    """A request's ``instructions`` and tool definitions (compact JSON, counted once per distinct text)."""
    parts: list[RequestPart] = []
    if isinstance(instructions, str) and instructions:
        parts.append(RequestPart(rules.BASE_INSTRUCTIONS, "instructions", count_tokens(instructions)))
    for definition in tools if isinstance(tools, list) else ():
        if not isinstance(definition, dict):
            continue
        text = rules.compact_json(definition)
        tokens = cache.get(text)
        if tokens is None:
            tokens = cache[text] = count_tokens(text)
        category = rules.MCP_TOOLS if rules.is_mcp_tool(definition) else rules.BUILTIN_TOOLS
        parts.append(RequestPart(category, rules.tool_label(definition), tokens))
    return tuple(parts)
