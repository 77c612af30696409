"""The timeline: every thread, turn, model call, tool and compaction of the trace, at every position.

Rows the cursor has not reached yet are listed dimmed (no status, no duration:
nothing from after the cursor); choosing one jumps forward to it.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.strip import Strip

from trace_viewer.app.messages import JumpTo, ShowToolCall
from trace_viewer.app.render import timeline_label
from trace_viewer.app.state import ViewState
from trace_viewer.app.views import TimelineRow, build_timeline, current_row_key, duration_text
from trace_viewer.app.widgets.lines import BlockList, with_gutter
from trace_viewer.session import ReplaySession


class TimelinePane(BlockList[TimelineRow]):
    """The tree of the whole trace; the current event's row is marked. A click jumps; Enter jumps or shows a tool call."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *BlockList.BINDINGS,
        Binding("enter", "activate", "Jump", show=False),
        Binding("space", "toggle_fold", "Fold", show=False),
    ]

    GUTTER = 1
    FIXED_HEIGHT = 1
    activate_on_first_click = True

    view: reactive[ViewState] = reactive(ViewState, init=False, always_update=False, repaint=False)

    def __init__(self, session: ReplaySession, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session = session
        self.rows: list[TimelineRow] = []
        self.rows_by_object: dict[str, str] = {}
        self._rows_revision = -1
        self.position = 0
        self.current_key: str | None = None
        self.collapsed: set[str] = set()
        self._wall_ms: int | None = None

    def _rebuild_rows(self) -> None:
        if self._rows_revision == self.session.revision:
            return
        self.rows = build_timeline(self.session)
        self.rows_by_object = {row.object_id: row.key for row in self.rows}
        self._rows_revision = self.session.revision

    def row_for(self, key: str | None) -> TimelineRow | None:
        return next((row for row in self.rows if row.key == key), None) if key else None

    def watch_view(self, view: ViewState) -> None:
        self._rebuild_rows()
        self.position = view.position
        self.current_key = current_row_key(self.session, self.rows_by_object, view.position)
        self._wall_ms = self.session.wall_ms_at(view.position)
        self._show()

    def _show(self) -> None:
        cursor_key = self.blocks[self.cursor].key if self.cursor is not None and self.blocks else None
        visible: list[TimelineRow] = []
        hidden_under: int | None = None
        for row in self.rows:
            if hidden_under is not None and row.depth > hidden_under:
                continue
            hidden_under = row.depth if row.key in self.collapsed else None
            visible.append(row)
        self.set_blocks(visible, repaint=False)
        keys = [row.key for row in visible]
        if cursor_key in keys:
            self.cursor = keys.index(cursor_key)
        if self.current_key in keys:
            index = keys.index(self.current_key)
            if not self.has_focus or self.cursor is None:
                self.cursor = index
            self.scroll_intent("block", index, False)
        elif not self.has_focus and visible:
            last_started = max((i for i, row in enumerate(visible) if row.visible_at(self.position)), default=0)
            self.scroll_intent("block", last_started, False)
        self.repaint()

    def block_key(self, block: TimelineRow) -> Hashable:
        position = self.position
        return (
            block.key,
            block.status_at(position),
            duration_text(block.duration_at(position, self._wall_ms)),
            block.key in self.collapsed,
            block.detail_at(position),
            block.has_children,
        )

    def render_block(self, block: TimelineRow, width: int) -> Text:
        position = self.position
        return timeline_label(
            block,
            self.palette(),
            status=block.status_at(position),
            duration_ms=block.duration_at(position, self._wall_ms),
            collapsed=block.key in self.collapsed,
            detail=block.detail_at(position),
            width=width,
        )

    def decoration_key(self, block: TimelineRow, index: int, line: int) -> Hashable:
        return (block.key == self.current_key, block.visible_at(self.position), index == self.cursor)

    def decorate(self, block: TimelineRow, index: int, strip: Strip, line: int, width: int) -> Strip:
        palette = self.palette()
        if block.key == self.current_key:
            strip = with_gutter(strip, "▶", palette["gutter-current"]).apply_style(palette["current"])
        else:
            strip = with_gutter(strip, " ", Style.null())
        if not block.visible_at(self.position) and block.kind != "fault":
            strip = strip.apply_style(palette["dim"])
        if index == self.cursor:
            strip = strip.apply_style(palette["cursor"])
        return strip

    def action_activate(self) -> None:
        """Enter: a tool call the cursor has reached opens its details; any other row is jumped to."""
        if self.cursor is not None and 0 <= self.cursor < len(self.blocks):
            row = self.blocks[self.cursor]
            if row.kind == "tool" and row.visible_at(self.position):
                self.post_message(ShowToolCall(row.object_id))
                return
        self.activate()

    def on_block_list_activated(self, message: BlockList.Activated) -> None:
        if message.owner is not self:
            return
        message.stop()
        row: TimelineRow = message.block
        if row.kind == "fault":
            self.post_message(JumpTo(self.session.total, None))
            return
        self.post_message(JumpTo(row.start_seq, row.thread_id))

    def action_toggle_fold(self) -> None:
        if self.cursor is None:
            return
        row = self.blocks[self.cursor]
        if not row.has_children:
            return
        self.collapsed ^= {row.key}
        self._show()
