"""The inspector: the raw event at the position and its payloads as highlighted JSON.

Payloads are read only while the inspector is open, and only the rows on
screen are highlighted, so a multi-megabyte request payload costs one parse
and a split into lines. Very large payloads are shown as a truncated preview.
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson
from rich.highlighter import JSONHighlighter
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from trace_viewer.app.state import ViewState
from trace_viewer.app.views import size_text, turn_titles
from trace_viewer.app.widgets.lines import Themed
from trace_viewer.reducer.events import raw_payload_refs
from trace_viewer.session import EventRecord, ReplaySession
from trace_viewer.text import visible

# Above this size a payload is not parsed for display; its first bytes are shown instead.
PRETTY_LIMIT = 8 << 20
PREVIEW_BYTES = 256 << 10
# Rows longer than this are cut (the horizontal scrollbar would be useless beyond it).
MAX_ROW = 4000


def _pretty(value: Any) -> list[str]:
    try:
        dumped = orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
    except (TypeError, RecursionError):
        # Too deep (or not JSON at all): say so rather than walk it again.
        return ["(value too deeply nested to pretty-print)"]
    return dumped.split("\n")


class InspectorPane(Themed, ScrollView, can_focus=True, inherit_bindings=False):
    """Lines of JSON (event first, then each payload), highlighted as they scroll into view."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "scroll_up", "Up", show=False),
        Binding("down,j", "scroll_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("ctrl+d", "half_page(1)", "Half page down", show=False),
        Binding("ctrl+u", "half_page(-1)", "Half page up", show=False),
        Binding("shift+left", "scroll_left", "Left", show=False),
        Binding("shift+right", "scroll_right", "Right", show=False),
        Binding("ctrl+home", "scroll_home", "Top", show=False),
        Binding("ctrl+end", "scroll_end", "Bottom", show=False),
    ]

    view: reactive[ViewState] = reactive(ViewState, init=False, always_update=False, repaint=False)

    def __init__(self, session: ReplaySession, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session = session
        self._turn_titles: tuple[int, dict[str, str]] = (-1, {})
        # (kind, text): kind "json" is highlighted, "title" is a section header, "note" is dim.
        self.lines: list[tuple[str, str]] = []
        self._cache: LRUCache[tuple[int, int], Strip] = LRUCache(1024)
        self._highlighter = JSONHighlighter()
        self._shown: tuple[Any, ...] | None = None

    def action_half_page(self, delta: int) -> None:
        height = max(1, self.scrollable_content_region.height // 2)
        self.scroll_to(y=self.scroll_offset.y + delta * height, animate=False, immediate=True)

    def watch_view(self, view: ViewState) -> None:
        if view.drawer == "inspector":
            self.show_event(self.session, self.session.record(view.position))

    def _turn_title(self, turn_id: str) -> str:
        revision, titles = self._turn_titles
        if revision != self.session.revision:
            titles = turn_titles(self.session.rollout)
            self._turn_titles = (self.session.revision, titles)
        return titles.get(turn_id, "turn")

    def show_event(self, session: ReplaySession, record: EventRecord | None) -> None:
        key = (id(session), record.seq if record else None, session.revision if record is None else 0)
        if key == self._shown:
            return
        self._shown = key
        lines: list[tuple[str, str]] = []
        if record is None:
            fault = session.fault
            lines.append(("note", "No event at this position."))
            if fault is not None:
                lines.append(("title", f"fault: {fault}"))
        else:
            change = record.change
            log_file = record.event.get("rollout_file", "trace.jsonl")  # a session rollout names its file
            lines.append(("title", f"event seq {record.seq} · {log_file} line {record.line} · {record.type}"))
            if record.thread_id:
                thread = session.rollout.threads.get(record.thread_id)
                lines.append(("note", f"thread {thread.agent_path if thread else '?'} · id {record.thread_id}"))
            if record.turn_id:
                lines.append(("note", f"{self._turn_title(record.turn_id)} · id {record.turn_id}"))
            if change.created or change.updated or change.context_threads:
                lines.append(
                    (
                        "note",
                        (
                            f"created {', '.join(change.created) or '–'} · updated {', '.join(change.updated) or '–'}"
                            f" · context moved {len(change.context_threads)} thread(s)"
                        ),
                    )
                )
            lines.extend(("json", line) for line in _pretty(record.event))
            for ref in raw_payload_refs(record.payload):
                lines.extend(self._payload_lines(session, ref))
        fault = session.fault
        if fault is not None and fault.detail and (record is None or record.seq >= session.total):
            # TRACE_VIEWER_DEBUG=1: the traceback of our bug, for whoever fixes it.
            lines.append(("note", ""))
            lines.extend(("fault", line) for line in fault.detail.splitlines())
        self.lines = [(kind, visible(text, keep_newlines=False)[:MAX_ROW]) for kind, text in lines]
        self._cache.clear()
        width = min(MAX_ROW, max((len(text) for _, text in self.lines), default=0))
        self.virtual_size = Size(width, len(self.lines))
        self.scroll_to(0, 0, animate=False, immediate=True)
        self.refresh()

    def _payload_lines(self, session: ReplaySession, ref: dict[str, Any]) -> list[tuple[str, str]]:
        payload_id = str(ref.get("raw_payload_id"))
        kind = (ref.get("kind") or {}).get("type") if isinstance(ref.get("kind"), dict) else None
        store = session.payloads
        header = f"payload {payload_id} · {kind or '?'} · {ref.get('path')}"
        out: list[tuple[str, str]] = [("note", ""), ("title", header)]
        if store is None:
            out.append(("note", "(bundle could not be opened)"))
            return out
        try:
            size = store.size(ref)
            out[-1] = ("title", f"{header} · {size_text(size)}")
            if size > PRETTY_LIMIT:
                preview = store.preview(ref, PREVIEW_BYTES)
                out.append(("note", f"(large payload: first {size_text(PREVIEW_BYTES)} shown as text)"))
                out.extend(("json", line) for line in preview.text.split("\n"))
                return out
            out.extend(("json", line) for line in _pretty(store.read(ref)))
        except Exception as error:  # noqa: BLE001 - a broken payload is something to show, not to crash on
            out.append(("fault", f"cannot show payload: {getattr(error, 'reason', None) or error}"))
        return out

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        if index >= len(self.lines):
            return Strip.blank(width, self.rich_style)
        key = (index, scroll_x)
        cached = self._cache.get(key)
        if cached is not None and cached.cell_length == width:
            return cached
        kind, raw = self.lines[index]
        palette = self.palette()
        text = Text(raw, no_wrap=True, end="")
        if kind == "json":
            self._highlighter.highlight(text)
        elif kind == "title":
            text.stylize(palette["thread"])
        elif kind == "fault":
            text.stylize(palette["fault"])
        else:
            text.stylize(palette["meta"])
        segments = list(text.render(self.app.console))
        strip = Strip(segments).crop_extend(scroll_x, scroll_x + width, self.rich_style).apply_style(self.rich_style)
        self._cache[key] = strip
        return strip

    def clear_cache(self) -> None:
        self._cache.clear()
        self.refresh()
