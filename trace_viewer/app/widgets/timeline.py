"""The timeline: threads, turns, model calls, tools and compactions as a tree that grows with the position."""

from __future__ import annotations

from collections.abc import Hashable
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.strip import Strip

from trace_viewer.app.render import timeline_label
from trace_viewer.app.views import TimelineRow, duration_text
from trace_viewer.app.widgets.lines import BlockList, with_gutter


class TimelinePane(BlockList[TimelineRow]):
    """Rows visible at the current position; the current event's row is marked, Enter jumps to a row."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *BlockList.BINDINGS,
        Binding("enter", "activate", "Jump", show=False),
        Binding("space", "toggle_fold", "Fold", show=False),
    ]

    GUTTER = 1
    FIXED_HEIGHT = 1
    activate_on_first_click = True

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[TimelineRow] = []
        self.position = 0
        self.current_key: str | None = None
        self.collapsed: set[str] = set()
        self._wall_ms: int | None = None

    def update_view(self, rows: list[TimelineRow], position: int, current_key: str | None, wall_ms: int | None) -> None:
        cursor_key = self.blocks[self.cursor].key if self.cursor is not None and self.blocks else None
        self.rows = rows
        self.position = position
        self.current_key = current_key
        self._wall_ms = wall_ms
        visible: list[TimelineRow] = []
        hidden_under: int | None = None
        for row in rows:
            if not row.visible_at(position):
                continue
            if hidden_under is not None and row.depth > hidden_under:
                continue
            hidden_under = row.depth if row.key in self.collapsed else None
            visible.append(row)
        self.set_blocks(visible)
        keys = [row.key for row in visible]
        if cursor_key in keys:
            self.cursor = keys.index(cursor_key)
        if current_key in keys:
            index = keys.index(current_key)
            if not self.has_focus or self.cursor is None:
                self.cursor = index
            self.scroll_intent("block", index, False)
        elif not self.has_focus and visible:
            self.scroll_intent("end")
        self.refresh()

    def block_key(self, block: TimelineRow) -> Hashable:
        duration = block.duration_at(self.position, self._wall_ms)
        return (
            block.key,
            block.status_at(self.position),
            duration_text(duration),
            block.key in self.collapsed,
            block.detail,
            block.has_children,
        )

    def render_block(self, block: TimelineRow, width: int) -> Text:
        return timeline_label(
            block,
            self.palette(),
            status=block.status_at(self.position),
            duration_ms=block.duration_at(self.position, self._wall_ms),
            collapsed=block.key in self.collapsed,
        )

    def decorate(self, block: TimelineRow, index: int, strip: Strip, line: int, width: int) -> Strip:
        palette = self.palette()
        if block.key == self.current_key:
            strip = with_gutter(strip, "▶", palette["gutter-current"]).apply_style(palette["current"])
        else:
            strip = with_gutter(strip, " ", Style.null())
        if index == self.cursor:
            strip = strip.apply_style(palette["cursor"])
        return strip

    def action_activate(self) -> None:
        self.activate()

    def action_toggle_fold(self) -> None:
        if self.cursor is None:
            return
        row = self.blocks[self.cursor]
        if not row.has_children:
            return
        self.collapsed ^= {row.key}
        self.update_view(self.rows, self.position, self.current_key, self._wall_ms)
