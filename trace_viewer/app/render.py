"""Rich ``Text`` for trace objects. Untrusted strings only ever enter as plain text.

Every string that came from a trace goes through ``safe`` (control and bidi
characters become visible escapes) and is appended to a ``Text`` as a plain
span — never parsed as markup — so ``[bold]`` in a model's answer stays
``[bold]`` on screen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson
from rich.console import Group
from rich.style import Style
from rich.text import Text

from trace_viewer.app.views import duration_text, short_id, size_text, tokens_text
from trace_viewer.model import (
    AgentMessageMetadata,
    CodePart,
    ConversationItem,
    EncodedPart,
    InferenceCall,
    JsonPart,
    PayloadRefPart,
    SummaryPart,
    TextPart,
    producer_source_id,
    tag_of,
)
from trace_viewer.text import visible

# Folded items show this many logical lines; each is cut to a few screen rows.
FOLD_LINES = 6
# Expanded items still stop somewhere: the inspector shows the whole payload.
EXPANDED_MAX_CHARS = 200_000


def safe(value: Any) -> str:
    """Untrusted text, made safe to draw (no raw control or bidi characters)."""
    return visible(value if isinstance(value, str) else str(value))


def safe_line(value: Any) -> str:
    """Untrusted text for a single row (newlines shown as ``\\n``)."""
    return visible(value if isinstance(value, str) else str(value), keep_newlines=False)


@dataclass
class Palette:
    """Named styles, resolved from the stylesheet (component classes) by the widgets."""

    styles: dict[str, Style] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Style:
        return self.styles.get(name, Style.null())


ROLE_STYLE = {
    "system": "role-system",
    "developer": "role-system",
    "user": "role-user",
    "assistant": "role-assistant",
    "tool": "role-tool",
}

STATUS_GLYPH = {
    "future": "·",
    "running": "●",
    "completed": "✓",
    "failed": "✗",
    "cancelled": "⊘",
    "aborted": "⊘",
    "yielded": "◐",
    "starting": "○",
    "terminated": "⊘",
}

KIND_GLYPH = {
    "thread": "◆",
    "turn": "▸",
    "inference": "◇",
    "tool": "⚙",
    "code_cell": "λ",
    "compaction_request": "⇣",
    "compaction": "⇊",
    "local_compaction": "⇊",
    "fault": "✗",
}


def status_style(status: str) -> str:
    return {
        "future": "dim",
        "running": "status-running",
        "completed": "status-ok",
        "failed": "status-failed",
        "cancelled": "status-cancelled",
        "aborted": "status-cancelled",
    }.get(status, "status-running")


# The status glyphs, for the `?` legend.
GLYPH_LEGEND: tuple[tuple[str, str], ...] = (
    ("●", "running at the cursor (elapsed time up to the cursor)"),
    ("✓", "completed"),
    ("✗", "failed, or where replay stopped"),
    ("⊘", "cancelled / aborted / terminated"),
    ("◐", "yielded (code cell waiting)"),
    ("·", "not started yet at the cursor (dimmed; click or Enter jumps there)"),
    ("⇊", "a compaction (remote, or detected local)"),
    ("▌", "context gutter: touched by the event at the cursor / added / summary"),
    ("▶", "timeline: the row of the event at the cursor"),
)


def fold_pieces(pieces: list[tuple[str, str]], width: int, expanded: bool) -> tuple[list[tuple[str, str]], int, int]:
    """Cut styled body pieces down to a few lines (folded) or a generous cap (expanded).

    Returns the pieces to show, and how many logical lines / characters were hidden.
    Folded, each line is also cut to about two screen rows, so a 20 KB one-line
    prompt costs the same to draw as a short one.
    """
    shown: list[tuple[str, str]] = []
    hidden_lines = hidden_chars = 0
    lines_left = FOLD_LINES
    chars_left = EXPANDED_MAX_CHARS
    per_line = max(20, width * 2)
    if not expanded:
        # Folding away one or two short lines saves nothing: show them.
        total_lines = sum(text.count("\n") for _, text in pieces)
        total_chars = sum(len(text) for _, text in pieces)
        expanded = total_lines <= FOLD_LINES + 2 and total_chars <= (FOLD_LINES + 2) * per_line
    for style, text in pieces:
        if expanded:
            if chars_left <= 0:
                hidden_lines += text.count("\n") + 1
                hidden_chars += len(text)
                continue
            if len(text) > chars_left:
                rest = text[chars_left:]
                hidden_lines += rest.count("\n") + 1
                hidden_chars += len(rest)
                text = text[:chars_left]
            chars_left -= len(text)
            shown.append((style, text))
            continue
        if lines_left <= 0:
            hidden_lines += text.count("\n") + (0 if text.endswith("\n") else 1)
            hidden_chars += len(text)
            continue
        kept: list[str] = []
        start = 0
        length = len(text)
        while start < length and lines_left > 0:
            end = text.find("\n", start)
            end = length if end < 0 else end
            line = text[start:end]
            kept.append(line if len(line) <= per_line else line[: per_line - 1] + "…")
            hidden_chars += max(0, len(line) - per_line + 1) if len(line) > per_line else 0
            lines_left -= 1
            start = end + 1
        if start < length:
            rest = text[start:]
            hidden_lines += rest.count("\n") + (0 if rest.endswith("\n") else 1)
            hidden_chars += len(rest)
        chunk = "\n".join(kept)
        if text.endswith("\n") and start >= length:
            chunk += "\n"
        shown.append((style, chunk))
    return shown, hidden_lines, hidden_chars


def pretty_json(summary: str) -> str:
    """Tool arguments arrive as a JSON string; indent them when they parse."""
    try:
        value = orjson.loads(summary)
    except (orjson.JSONDecodeError, TypeError):
        return summary
    if not isinstance(value, (dict, list)):
        return summary
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
    except TypeError:
        return summary


def item_body(item: ConversationItem, tool_label: str | None = None) -> list[tuple[str, str]]:
    """(style name, raw text) pieces of an item's body, in order."""
    pieces: list[tuple[str, str]] = []
    agent = item.agent_message
    if isinstance(agent, AgentMessageMetadata):
        pieces.append(("agent", f"{agent.author} → {agent.recipient}\n"))
    kind = item.kind
    if kind in ("function_call", "custom_tool_call") and tool_label:
        pieces.append(("call", f"{tool_label}  ({item.call_id})\n"))
    elif kind in ("function_call_output", "custom_tool_call_output") and item.call_id:
        pieces.append(("meta", f"output of {item.call_id}\n"))
    for part in item.body.parts:
        if isinstance(part, TextPart):
            pieces.append(("text", part.text))
        elif isinstance(part, SummaryPart):
            pieces.append(("summary-text", part.text))
        elif isinstance(part, EncodedPart):
            pieces.append(("badge", f"⟨{part.label or 'encoded'} · {size_text(len(part.value))}⟩"))
        elif isinstance(part, JsonPart):
            pieces.append(("code", pretty_json(part.summary)))
        elif isinstance(part, CodePart):
            pieces.append(("meta", f"{part.language or 'code'}:\n"))
            pieces.append(("code", part.source))
        elif isinstance(part, PayloadRefPart):
            pieces.append(("badge", f"⟨{part.label or 'payload'} · {part.raw_payload_id}⟩"))
    return pieces


def item_header(
    item: ConversationItem,
    palette: Palette,
    *,
    index: int | None,
    mark: str,
    first_seq: int | None,
) -> Text:
    role: str = item.role
    kind: str = item.kind
    channel = item.channel
    header = Text(no_wrap=True, overflow="ellipsis")
    prefix = {"added": "+ ", "dropped": "− ", "kept": "  ", "replaced": "  "}.get(mark, "")
    if prefix:
        header.append(prefix, palette["diff-" + mark] if mark in ("added", "dropped") else palette["meta"])
    if index is not None:
        header.append(f"{index:>3} ", palette["meta"])
    header.append(role, palette[ROLE_STYLE.get(role, "role-tool")])
    if channel:
        header.append(f"/{safe_line(channel)}", palette["meta"])
    if kind != "message":
        header.append(f" {kind}", palette["kind"])
    if mark == "summary":
        header.append(" ★ summary", palette["summary"])
    header.append("  " + (item.item_id.replace("conversation_item:", "item ", 1)), palette["meta"])
    if first_seq is not None:
        header.append(f" @{first_seq}", palette["meta"])
    return header


def provenance_text(item: ConversationItem, palette: Palette, first_seq: int | None) -> Text:
    out = Text(style=palette["meta"])
    producers = []
    for producer in item.produced_by:
        kind = tag_of(producer)
        source_id = producer_source_id(producer)
        producers.append(f"{kind} {short_id(source_id)}" if source_id else kind)
    out.append("produced by " + (", ".join(producers) if producers else "request input (no producer)"))
    if first_seq is not None:
        out.append(f" · first seen seq {first_seq}")
    if isinstance(item.accepted_seq, int):
        out.append(f" · accepted seq {item.accepted_seq}")
    if isinstance(item.responses_item_id, str) and item.responses_item_id:
        out.append(f" · responses id {safe_line(item.responses_item_id)}")
    if item.codex_turn_id:
        out.append(f" · turn {short_id(item.codex_turn_id)}")
    return out


def render_item(
    item: ConversationItem,
    palette: Palette,
    *,
    width: int,
    expanded: bool,
    provenance: bool,
    mark: str,
    index: int | None,
    first_seq: int | None,
    tool_label: str | None = None,
    highlight: str | None = None,
) -> Group:
    """Header line (never wrapped), optional provenance line, then the (folded) body.

    ``highlight``: a search regex; its matches inside the body are marked.
    """
    parts: list[Text] = [item_header(item, palette, index=index, mark=mark, first_seq=first_seq)]
    if provenance:
        parts.append(provenance_text(item, palette, first_seq))
    if item.kind == "compaction_marker":
        parts.append(Text("compaction marker (history before this point was replaced)", style=palette["rule"]))
        return Group(*parts)
    pieces = [(style, text if text.endswith("\n") else text + "\n") for style, text in item_body(item, tool_label)]
    shown, hidden_lines, hidden_chars = fold_pieces(pieces, width, expanded)
    body = Text(overflow="fold")
    for style, text in shown:
        body.append(safe(text), palette[style])
    body.rstrip()
    if highlight:
        mark_matches(body, highlight, palette["match"])
    if body.plain:
        parts.append(body)
    if hidden_lines or hidden_chars:
        noun = "line" if hidden_lines == 1 else "lines"
        parts.append(
            Text(f"… {hidden_lines} more {noun} ({size_text(hidden_chars)}) · Space to expand", style=palette["fold"])
        )
    return Group(*parts)


def mark_matches(text: Text, pattern: str, style: Style) -> int:
    """Style every match of a (case-insensitive) search regex inside ``text``; returns how many."""
    try:
        regex = re.compile(pattern, re.IGNORECASE)
    except re.error:
        return 0
    count = 0
    for match in regex.finditer(text.plain):
        if match.end() > match.start():
            text.stylize(style, match.start(), match.end())
            count += 1
    return count


def item_rows_estimate(
    item: ConversationItem,
    *,
    width: int,
    expanded: bool,
    provenance: bool,
    tool_label: str | None = None,
) -> int:
    """About how many screen rows ``render_item`` takes at ``width``, from the text alone (no Rich).

    Folds exactly like ``render_item`` and counts each shown line as its length over
    the width; word wrapping and wide characters can add a row here and there. Used
    for blocks off screen, which are rendered (and measured) once they come into view.
    """
    rows = 2 if provenance else 1
    if item.kind == "compaction_marker":
        return rows + 1
    pieces = [(style, text if text.endswith("\n") else text + "\n") for style, text in item_body(item, tool_label)]
    shown, hidden_lines, hidden_chars = fold_pieces(pieces, width, expanded)
    body = "".join(text for _, text in shown).rstrip()
    if body:
        rows += sum(max(1, -(-len(line) // width)) for line in body.split("\n"))
    if hidden_lines or hidden_chars:
        rows += 1
    return rows


def timeline_label(
    row: Any,
    palette: Palette,
    *,
    status: str,
    duration_ms: int | None,
    collapsed: bool,
    detail: str = "",
    width: int | None = None,
) -> Text:
    """One timeline row: indent, tree glyph, status glyph, title, detail, and the duration at the right.

    With ``width``, the title and detail are cut first: status and duration always stay
    visible, even at 80 columns. A row not started yet (``future``) has no duration.
    """
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append("  " * row.depth)
    if row.has_children:
        text.append("▸ " if collapsed else "▾ ", palette["meta"])
    else:
        text.append("  ")
    glyph = STATUS_GLYPH.get(status, "·")
    if row.kind in ("compaction", "local_compaction"):
        text.append(KIND_GLYPH[row.kind] + " ", palette["compaction"])
    elif row.kind == "fault":
        text.append("✗ ", palette["status-failed"])
    else:
        text.append(glyph + " ", palette[status_style(status)])
    title_style = {
        "thread": "thread",
        "compaction": "compaction",
        "local_compaction": "compaction",
        "fault": "status-failed",
    }.get(row.kind, "title")
    text.append(safe_line(row.title), palette[title_style])
    if detail:
        text.append(" " + safe_line(detail), palette["meta"])
    tail = Text()
    if duration_ms is not None and row.kind not in ("compaction", "local_compaction", "fault"):
        tail.append(" " + duration_text(duration_ms), palette["duration"])
    if width is not None and tail.cell_len and text.cell_len + tail.cell_len > width:
        text.truncate(max(1, width - tail.cell_len), overflow="ellipsis")
    if width is not None and tail.cell_len:
        text.pad_right(max(0, width - text.cell_len - tail.cell_len))
    text.append_text(tail)
    return text


def usage_lines(call: InferenceCall | None, palette: Palette, *, ended: bool) -> Text:
    """Two rows: which call and its tokens; request/response sizes."""
    out = Text()
    if call is None:
        out.append("No model call on this thread yet.", palette["meta"])
        return out
    out.append("call ", palette["meta"])
    out.append(short_id(call.inference_call_id), palette["thread"])
    out.append(f" {safe_line(call.model)}", palette["meta"])
    usage = call.usage if ended else None
    if usage is None:
        out.append("  tokens: " + ("running…" if not ended else "not reported"), palette["meta"])
    else:
        for label, count in (
            ("in", usage.input_tokens),
            ("cached", usage.cached_input_tokens),
            ("out", usage.output_tokens),
            ("reasoning", usage.reasoning_output_tokens),
        ):
            out.append(f"  {label} ", palette["meta"])
            out.append(tokens_text(count))
    out.append("\n")
    responses = len(call.response_item_ids) if ended else 0
    out.append(
        f"request {len(call.request_item_ids)} items → response {responses} items",
        palette["meta"],
    )
    return out


SPARK_BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(
    values: list[float | None], palette: Palette, *, current: int | None, marks: set[int], width: int
) -> Text:
    """One row of block characters; the current call and compaction drops styled apart.

    With more values than columns, each column shows the maximum of its bucket. A value not
    known at the cursor (a call still running) is a gap: ``·``.
    """
    out = Text(no_wrap=True)
    if not values:
        out.append("(no model calls yet)", palette["meta"])
        return out
    columns = min(len(values), max(1, width))
    top = max((v for v in values if v is not None), default=0.0) or 1.0
    for column in range(columns):
        lo = column * len(values) // columns
        hi = max(lo + 1, (column + 1) * len(values) // columns)
        bucket = [v for v in values[lo:hi] if v is not None]
        if not bucket:
            out.append("·", palette["spark-current"] if current is not None and lo <= current < hi else palette["meta"])
            continue
        level = round((max(bucket) / top) * (len(SPARK_BLOCKS) - 1))
        style = palette["spark"]
        if any(i in marks for i in range(lo, hi)):
            style = palette["compaction"]
        if current is not None and lo <= current < hi:
            style = palette["spark-current"]
        out.append(SPARK_BLOCKS[level], style)
    return out


def composition_bar(shares: dict[str, int], palette: Palette, width: int) -> Text:
    total = sum(shares.values())
    out = Text(no_wrap=True)
    if not total:
        out.append("(empty context)", palette["meta"])
        return out
    names = [name for name, value in shares.items() if value]
    used = 0
    for position, name in enumerate(names):
        cells = round(shares[name] / total * width)
        if position == len(names) - 1:
            cells = width - used
        cells = max(0, min(cells, width - used))
        used += cells
        out.append("█" * cells, palette["share-" + name.replace(" ", "-")])
    return out


def composition_legend(shares: dict[str, int], palette: Palette) -> Text:
    total = sum(shares.values()) or 1
    out = Text()
    first = True
    for name, value in shares.items():
        if not value:
            continue
        if not first:
            out.append("  ")
        first = False
        out.append("■ ", palette["share-" + name.replace(" ", "-")])
        out.append(f"{name} {value * 100 / total:.0f}%", palette["meta"])
    out.append(f"   ({sum(shares.values()):,} chars)", palette["meta"])
    return out
