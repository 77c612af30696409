"""The detail view of one tool call (Enter on a tool call): arguments, output, terminal, MCP, code cell, timings."""

from __future__ import annotations

from typing import ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from trace_viewer.app.render import safe, safe_line
from trace_viewer.app.tool_detail import ToolDetail, tool_detail
from trace_viewer.session import ReplaySession

# Long outputs are cut here; the inspector shows the raw payloads whole.
MAX_TEXT = 20_000


def render_detail(detail: ToolDetail) -> RenderableType:
    parts: list[RenderableType] = []
    for section in detail.sections:
        parts.append(Text(safe_line(section.title), style="bold"))
        if section.rows:
            table = Table(box=None, show_header=False, padding=(0, 1), pad_edge=False)
            table.add_column(no_wrap=True, style="dim")
            table.add_column(overflow="fold")
            for label, value in section.rows:
                table.add_row(Text(safe_line(label)), Text(safe(value)))
            parts.append(table)
        if section.text:
            text = section.text if len(section.text) <= MAX_TEXT else section.text[:MAX_TEXT] + "\n… (cut)"
            parts.append(Text(safe(text)))
        parts.append(Text(""))
    return Group(*parts)


class ToolDetailScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,enter", "close", "Close")]

    def __init__(self, session: ReplaySession, tool_call_id: str, position: int) -> None:
        super().__init__()
        self.detail = tool_detail(session, tool_call_id, position)
        self.tool_call_id = tool_call_id
        self.position = position

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="detail-box") as box:
            title = self.detail.title if self.detail else self.tool_call_id
            box.border_title = safe_line(f"Tool call {title} at seq {self.position}")
            box.border_subtitle = "Esc to close"
            if self.detail is None:
                yield Static(Text(f"No tool call {safe_line(self.tool_call_id)}."))
            else:
                yield Static(render_detail(self.detail), id="detail-body")

    def action_close(self) -> None:
        self.dismiss(None)
