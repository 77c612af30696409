"""``trace-viewer tokens``: which composition to report, and the text form of it.

All trace text (ids, tool names, agent paths) goes through ``one_line`` before
it is printed.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from trace_viewer.context import ContextError, inference_context, resolve_thread
from trace_viewer.text import json_safe, one_line
from trace_viewer.tokens import rules
from trace_viewer.tokens.counter import Composition, ItemTokens, TokenCounter
from trace_viewer.tokens.encoding import ENCODING
from trace_viewer.tokens.source import StateSource

if TYPE_CHECKING:
    from trace_viewer.session import ReplaySession


def session_counter(session: ReplaySession) -> TokenCounter:
    """A counter over a replay session's head state (events give the context window)."""
    return TokenCounter(StateSource(session.rollout, session.payloads, (record.event for record in session.records)))


def composition_for(
    session: ReplaySession,
    counter: TokenCounter,
    *,
    inference: str | None = None,
    seq: int | None = None,
    thread: str | None = None,
) -> Composition:
    """One call's composition (``inference``), or a thread's live context after ``seq``.

    Raises ``ContextError`` when the call or thread does not exist.
    """
    rollout = session.rollout
    if inference is not None:
        thread_id, _ = inference_context(rollout, inference)
        if thread is not None and resolve_thread(rollout, thread) != thread_id:
            raise ContextError(f"inference call {one_line(inference)} is not on thread {one_line(thread)}")
        return counter.call(inference)
    thread_id = resolve_thread(rollout, thread)
    position = max(0, min(seq if seq is not None else session.total, session.total))
    return counter.context(thread_id, session.context_at(thread_id, position), position)


def to_json(composition: Composition) -> str:
    return json_safe(json.dumps(composition.to_json(), indent=2, ensure_ascii=False))


def _mark(item: ItemTokens) -> str:
    lossy = not item.exact and not item.estimated and not item.unknown
    return ("~" if item.estimated else "") + ("?" if item.unknown else "") + ("*" if lossy else "")


def _tokens(count: int) -> str:
    return f"{count:,}"


def to_text(composition: Composition, *, title: str) -> str:
    """A readable report: headline, categories (tools broken down), items in order, the marks explained."""
    comp = composition
    lines = [f"{one_line(title)} · {ENCODING}"]
    used = f"used {_tokens(comp.total)}"
    if comp.context_window is not None:
        used += f" of {_tokens(comp.context_window)} ({comp.percent or 0:.1f}%) · free {_tokens(comp.free or 0)}"
    else:
        used += " (context window not recorded in the trace)"
    lines.append(used)
    if comp.reported_input_tokens is not None:
        lines.append(
            f"provider input_tokens {_tokens(comp.reported_input_tokens)} · ours − provider {comp.difference or 0:+,}"
        )
    else:
        lines.append("provider input_tokens: not reported for this context")
    lines += ["", f"{'category':<28}{'tokens':>10}{'share':>8}"]
    parts_by_category: dict[str, dict[str, int]] = {}
    for part in comp.request_parts:
        bucket = parts_by_category.setdefault(part.category, {})
        bucket[part.name] = bucket.get(part.name, 0) + part.tokens
    outputs = comp.tool_outputs_by_tool()
    for name in rules.CATEGORIES:
        tokens = comp.categories.get(name, 0)
        if not tokens:
            continue
        share = 100.0 * tokens / comp.total if comp.total else 0.0
        estimated = any(item.estimated for item in comp.items if item.category == name)
        label = rules.LABELS[name] + (" (~ estimate)" if estimated else "")
        lines.append(f"{label:<28}{_tokens(tokens):>10}{share:>7.1f}%")
        detail = outputs if name == rules.TOOL_OUTPUTS else parts_by_category.get(name, {})
        if name != rules.TOOL_OUTPUTS:
            detail = dict(sorted(detail.items(), key=lambda pair: (-pair[1], pair[0])))
        if len(detail) > 1 or name == rules.TOOL_OUTPUTS:
            for tool, count in detail.items():
                lines.append(f"  {one_line(tool)[:26]:<26}{_tokens(count):>10}")
    lines += ["", "items"]
    for number, item in enumerate(comp.items, start=1):
        tool = f"  {one_line(item.tool)}" if item.tool else ""
        lines.append(
            f"  [{number}] {one_line(item.item_id)}  {rules.LABELS[item.category]}  "
            f"{_mark(item)}{_tokens(item.tokens)}{tool}"
        )
    if not comp.items:
        lines.append("  (no items)")
    if comp.request_parts:
        lines.append(
            f"  + request: {len(comp.request_parts)} parts, {_tokens(sum(p.tokens for p in comp.request_parts))}"
        )
    notes = [
        f"each item counts its content plus {rules.FRAMING_TOKENS} framing tokens",
    ]
    if any(item.estimated for item in comp.items):
        notes.append("~ estimate: encrypted reasoning, from the provider's reported reasoning tokens")
    if any(item.unknown for item in comp.items):
        notes.append("? holds content that cannot be counted (encrypted or not text): not in the total")
    if any(not item.exact and not item.estimated for item in comp.items):
        notes.append("* counted from the reduced item (no raw request carried it): approximate")
    lines += ["", *("note: " + note for note in notes)]
    return "\n".join(lines) + "\n"
