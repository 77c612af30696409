"""What the usage pane shows, in tokens: a pure view-model over ``TokenCounter``.

For the app (which renders it) and anything else that wants the same figures.
Nothing here draws or escapes: labels are ours, tool names come from the
trace (escape them when displaying).

For the app, ``SessionTokens(session)`` bundles it: one per ``ReplaySession``,
``refresh()`` after the session loaded more (following), then
``usage_at(thread_id, position)``, ``item(item_id)``, ``call(call_id)``.

Underneath, all pure functions of a counter (plus, for positions, a session):

* ``usage_at(counter, session, thread_id, position)`` → ``UsageView`` of the
  thread's live context after event ``position`` (what the context pane lists),
  with the series' current call = the thread's latest call started by then.
* ``usage_for_call(counter, call_id, position=None)`` → ``UsageView`` of exactly
  what one call sent.
* ``UsageView``: ``composition`` (totals, window, free, provider figure),
  ``segments`` (the composition bar, free space last), ``legend`` (one row per
  non-empty category, tool outputs and tool definitions broken down by tool),
  ``item_tokens`` (item id → ``ItemTokens``, for the context pane),
  ``series`` (context size in tokens per call of the thread, with compaction
  drops and the current call), ``trace_total`` (every call of the trace).
* ``token_delta(before, after)`` → ``TokenDelta`` between two compositions
  (for the diff): total and per-category change, items added and dropped.

Cost: counts are cached per item, so after the first count of a call a view
is a few sums. The first view of a large trace counts every call of the thread
(for the series) and of the trace (for the total); pass ``count_all=False`` to
get only what is already counted (missing points are ``None``) and call
``counter.warm()`` in a worker, then ask again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from trace_viewer.tokens import rules
from trace_viewer.tokens.counter import Composition, ItemTokens, TokenCounter
from trace_viewer.tokens.source import StateSource

if TYPE_CHECKING:
    from trace_viewer.session import ReplaySession

FREE = "free"
# Rows of detail under a legend row (the largest tools).
DETAIL_ROWS = 5


@dataclass(frozen=True, slots=True)
class Segment:
    """One stretch of the composition bar. ``fraction`` is of the window (of the total when no window is known)."""

    category: str  # a ``rules.CATEGORIES`` key, or ``FREE``
    label: str
    tokens: int
    fraction: float
    estimated: bool = False


@dataclass(frozen=True, slots=True)
class LegendRow:
    category: str
    label: str
    tokens: int
    share: float  # of the total used
    percent_of_window: float | None
    estimated: bool  # includes an estimate (encrypted reasoning)
    unknown_items: int  # items in this category holding content that could not be counted
    detail: tuple[tuple[str, int], ...] = ()  # (tool name, tokens), largest first


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    call_id: str
    seq: int  # where the call started
    total: int | None  # our count of what it sent (None: not counted yet, with count_all=False)
    reported_input_tokens: int | None
    compaction_before: bool  # the call dropped items the thread's previous call had sent


@dataclass(frozen=True, slots=True)
class ContextSeries:
    points: tuple[SeriesPoint, ...]
    current: int | None  # index of the current call in ``points``
    context_window: int | None

    @property
    def values(self) -> list[int | None]:
        return [point.total for point in self.points]

    @property
    def compaction_indexes(self) -> list[int]:
        return [index for index, point in enumerate(self.points) if point.compaction_before]


@dataclass(frozen=True, slots=True)
class TraceTotal:
    """Every model call of the trace: what we count it sent, and what the provider reported."""

    calls: int
    counted_calls: int
    input_tokens: int  # our count, summed over counted calls
    reported_calls: int
    reported_input_tokens: int
    reported_output_tokens: int


@dataclass(frozen=True, slots=True)
class UsageView:
    composition: Composition
    segments: tuple[Segment, ...]
    legend: tuple[LegendRow, ...]
    item_tokens: Mapping[str, ItemTokens]
    series: ContextSeries
    trace_total: TraceTotal

    @property
    def headline(self) -> str:
        """One line: used / window (percent), free, and the provider's figure with the difference."""
        comp = self.composition
        text = f"{comp.total:,} tokens"
        if comp.context_window:
            text += f" of {comp.context_window:,} ({comp.percent or 0:.1f}%) · {comp.free:,} free"
        if comp.reported_input_tokens is not None:
            diff = comp.difference or 0
            text += f" · provider {comp.reported_input_tokens:,} ({diff:+,})"
        if comp.estimated_tokens:
            text += f" · ~{comp.estimated_tokens:,} estimated"
        return text


@dataclass(frozen=True, slots=True)
class TokenDelta:
    total: int
    categories: dict[str, int]  # only categories that changed
    added: tuple[ItemTokens, ...]
    dropped: tuple[ItemTokens, ...]
    kept: int  # items in both

    @property
    def added_tokens(self) -> int:
        return sum(item.tokens for item in self.added)

    @property
    def dropped_tokens(self) -> int:
        return sum(item.tokens for item in self.dropped)

    @property
    def text(self) -> str:
        return f"{self.total:+,} tokens (+{self.added_tokens:,} added, −{self.dropped_tokens:,} dropped)"


# ----- building ---------------------------------------------------------------------------


def segments(composition: Composition) -> tuple[Segment, ...]:
    """The composition bar: categories in order, then free space (when the window is known)."""
    whole = composition.context_window or composition.total or 1
    whole = max(whole, composition.total)
    estimated = {item.category for item in composition.items if item.estimated}
    out = [
        Segment(name, rules.LABELS[name], tokens, tokens / whole, name in estimated)
        for name, tokens in composition.categories.items()
        if tokens
    ]
    free = composition.free
    if free is not None and free > 0:
        out.append(Segment(FREE, "free", free, free / whole))
    return tuple(out)


def legend(composition: Composition) -> tuple[LegendRow, ...]:
    total = composition.total or 1
    window = composition.context_window
    rows: list[LegendRow] = []
    tool_outputs = composition.tool_outputs_by_tool()
    definitions: dict[str, dict[str, int]] = {rules.BUILTIN_TOOLS: {}, rules.MCP_TOOLS: {}}
    for part in composition.request_parts:
        if part.category in definitions:
            bucket = definitions[part.category]
            bucket[part.name] = bucket.get(part.name, 0) + part.tokens
    for name, tokens in composition.categories.items():
        if not tokens and not any(item.category == name and item.unknown for item in composition.items):
            continue
        members = [item for item in composition.items if item.category == name]
        if name == rules.TOOL_OUTPUTS:
            detail = tuple(tool_outputs.items())
        elif name in definitions:
            detail = tuple(sorted(definitions[name].items(), key=lambda pair: (-pair[1], pair[0])))
        else:
            detail = ()
        rows.append(
            LegendRow(
                category=name,
                label=rules.LABELS[name],
                tokens=tokens,
                share=tokens / total,
                percent_of_window=100.0 * tokens / window if window else None,
                estimated=any(item.estimated for item in members),
                unknown_items=sum(1 for item in members if item.unknown),
                detail=detail[:DETAIL_ROWS],
            )
        )
    return tuple(rows)


def series(
    counter: TokenCounter, thread_id: str, *, position: int | None = None, count_all: bool = True
) -> ContextSeries:
    """Context size per call of the thread (calls started at or before ``position``)."""
    source = counter.source
    points: list[SeriesPoint] = []
    previous: frozenset[str] = frozenset()
    window = None
    for call_id in source.call_ids(thread_id):
        facts = source.call(call_id)
        if facts is None or (position is not None and facts.started_seq > position):
            continue
        composition = counter.call(call_id) if count_all else counter.counted_call(call_id)
        if composition is not None and composition.context_window is not None:
            window = composition.context_window
        current_items = frozenset(facts.request_item_ids)
        points.append(
            SeriesPoint(
                call_id=call_id,
                seq=facts.started_seq,
                total=composition.total if composition is not None else None,
                reported_input_tokens=facts.input_tokens,
                compaction_before=bool(previous) and not previous <= current_items,
            )
        )
        previous = current_items
    current = len(points) - 1 if points else None
    return ContextSeries(tuple(points), current, window)


def trace_total(counter: TokenCounter, *, count_all: bool = True) -> TraceTotal:
    source = counter.source
    calls = source.call_ids()
    counted = ours = reported_calls = reported_in = reported_out = 0
    for call_id in calls:
        composition = counter.call(call_id) if count_all else counter.counted_call(call_id)
        if composition is not None:
            counted += 1
            ours += composition.total
        facts = source.call(call_id)
        if facts is not None and facts.input_tokens is not None:
            reported_calls += 1
            reported_in += facts.input_tokens
            reported_out += facts.output_tokens or 0
    return TraceTotal(len(calls), counted, ours, reported_calls, reported_in, reported_out)


def view(
    counter: TokenCounter, composition: Composition, *, current_call: str | None, position: int | None, count_all: bool
) -> UsageView:
    line = series(counter, composition.thread_id, position=position, count_all=count_all)
    if current_call is not None:
        index = next((i for i, point in enumerate(line.points) if point.call_id == current_call), None)
        line = ContextSeries(line.points, index, line.context_window)
    return UsageView(
        composition=composition,
        segments=segments(composition),
        legend=legend(composition),
        item_tokens={item.item_id: item for item in composition.items},
        series=line,
        trace_total=trace_total(counter, count_all=count_all),
    )


def usage_for_call(
    counter: TokenCounter, call_id: str, *, position: int | None = None, count_all: bool = True
) -> UsageView:
    """Exactly what one inference call sent (raises ``KeyError`` for an unknown call)."""
    composition = counter.call(call_id)
    return view(counter, composition, current_call=call_id, position=position, count_all=count_all)


def usage_for_context(
    counter: TokenCounter, thread_id: str, item_ids: Sequence[str], position: int, *, count_all: bool = True
) -> UsageView:
    """A live context (item ids after event ``position``), with the series up to that position."""
    composition = counter.context(thread_id, item_ids, position)
    latest = counter.latest_call(thread_id, position)
    return view(
        counter,
        composition,
        current_call=latest.call_id if latest is not None else None,
        position=position,
        count_all=count_all,
    )


def usage_at(
    counter: TokenCounter, session: ReplaySession, thread_id: str, position: int, *, count_all: bool = True
) -> UsageView:
    """The thread's live context after event ``position``: what the context pane shows, in tokens."""
    return usage_for_context(counter, thread_id, session.context_at(thread_id, position), position, count_all=count_all)


def token_delta(before: Composition, after: Composition) -> TokenDelta:
    """How the context changed from ``before`` to ``after`` (e.g. the previous call and now)."""
    old = {item.item_id: item for item in before.items}
    new = {item.item_id: item for item in after.items}
    changed = {
        name: after.categories.get(name, 0) - before.categories.get(name, 0)
        for name in rules.CATEGORIES
        if after.categories.get(name, 0) != before.categories.get(name, 0)
    }
    return TokenDelta(
        total=after.total - before.total,
        categories=changed,
        added=tuple(item for item_id, item in new.items() if item_id not in old),
        dropped=tuple(item for item_id, item in old.items() if item_id not in new),
        kept=sum(1 for item_id in new if item_id in old),
    )


class SessionTokens:
    """The token model of one ``ReplaySession``, kept in step with it while it loads or follows.

    Call ``refresh()`` whenever the session applied more events (cheap when
    nothing changed). Counting happens on first use and is cached; to keep the
    UI thread free on a large trace, call ``warm()`` from a worker first.
    """

    def __init__(self, session: ReplaySession) -> None:
        self.session = session
        self._rollout: object = None
        self._fed = 0
        self.counter = self._new_counter()

    def _new_counter(self) -> TokenCounter:
        self._rollout = self.session.rollout
        self._fed = 0
        counter = TokenCounter(StateSource(self.session.rollout, self.session.payloads))
        self._feed(counter)
        return counter

    def _feed(self, counter: TokenCounter) -> None:
        records = self.session.records
        if self._fed < len(records):
            counter.source.add_events(record.event for record in records[self._fed :])
            self._fed = len(records)

    def refresh(self) -> None:
        """Take in what the session applied since (a replaced reducer means a fresh counter)."""
        if self.session.rollout is not self._rollout or len(self.session.records) < self._fed:
            self.counter = self._new_counter()
        else:
            self._feed(self.counter)

    def usage_at(self, thread_id: str, position: int, *, count_all: bool = True) -> UsageView:
        self.refresh()
        return usage_at(self.counter, self.session, thread_id, position, count_all=count_all)

    def usage_for_call(self, call_id: str, *, position: int | None = None, count_all: bool = True) -> UsageView:
        self.refresh()
        return usage_for_call(self.counter, call_id, position=position, count_all=count_all)

    def item(self, item_id: str) -> ItemTokens:
        """One item's tokens (for the context pane)."""
        self.refresh()
        return self.counter.item(item_id)

    def call(self, call_id: str) -> Composition:
        self.refresh()
        return self.counter.call(call_id)

    def delta(self, before_call_id: str, after: Composition) -> TokenDelta:
        """Token delta from a call's request to a composition (e.g. the diff's baseline call → now)."""
        return token_delta(self.call(before_call_id), after)

    def warm(self) -> int:
        """Count every call of the trace now (for a background worker); returns how many."""
        self.refresh()
        return self.counter.warm()
