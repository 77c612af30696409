"""The `?` screen: every key (from the same table the bindings and the palette use) and the glyph legend."""

from __future__ import annotations

from typing import ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from trace_viewer.app.commands import COMMANDS, PANE_KEYS
from trace_viewer.app.render import GLYPH_LEGEND


def help_table() -> Table:
    table = Table(box=None, show_header=False, padding=(0, 1), expand=True)
    table.add_column("keys", style="bold", no_wrap=True)
    table.add_column("what")
    for command in COMMANDS:
        table.add_row(Text(command.keys), Text(f"{command.title} — {command.help}"))
    table.add_row(Text(""), Text(""))
    for keys, what in PANE_KEYS:
        table.add_row(Text(keys), Text(what))
    return table


def legend_table() -> Table:
    table = Table(box=None, show_header=False, padding=(0, 1), expand=True, title="Status glyphs", title_justify="left")
    table.add_column("glyph", style="bold", no_wrap=True)
    table.add_column("meaning")
    for glyph, meaning in GLYPH_LEGEND:
        table.add_row(Text(glyph), Text(meaning))
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box") as box:
            box.border_title = "Keys"
            box.border_subtitle = "Esc to close"
            yield Static(Group(legend_table(), Text(""), help_table()))

    def action_dismiss(self, result: None = None) -> None:  # type: ignore[override]
        self.dismiss(None)
