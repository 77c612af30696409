"""What every picker screen shares: a title, a filter box, a table of rows, a footer; Enter opens a row.

A picker says only what differs: its columns (header, layout, what styles a cell), where its rows
come from, what a row shows and what opening it opens. The table is redrawn only when what it shows
changed, and the cursor stays on the row it was on (by the path it opens) wherever that row moved.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Generic, TypeVar

from rich.console import JustifyMethod, OverflowMethod
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from trace_viewer.app.messages import OpenBundle
from trace_viewer.app.widgets.lines import COMPONENT_CLASSES

RowT = TypeVar("RowT")

Cells = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Column:
    """A table column: its header, how its cells are laid out, and what styles a cell."""

    header: str
    justify: JustifyMethod | None = None
    overflow: OverflowMethod | None = None
    # A cell's text → the component class (``tv--NAME``) that styles it, "" for none.
    style: Callable[[str], str] | None = None


def styled_by(names: Mapping[str, str]) -> Callable[[str], str]:
    """A column style from a table of cell texts (e.g. statuses) to component class names."""
    return lambda text: names.get(text, "")


class BasePickerScreen(Screen[None], Generic[RowT]):
    """A filterable table of rows under ``root``; Enter opens the row under the cursor, `/` filters."""

    COMPONENT_CLASSES: ClassVar[set[str]] = set(COMPONENT_CLASSES)

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open", show=True),
        Binding("slash", "filter", "Filter", show=True),
        Binding("r", "reload", "Refresh", show=True),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("q", "app.quit", "Quit", show=True),
    ]

    # What a subclass says: the table's columns and the filter's placeholder.
    COLUMNS: ClassVar[tuple[Column, ...]] = ()
    FILTER_PLACEHOLDER: ClassVar[str] = ""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root
        self.rows: list[RowT] = []
        self.shown: list[RowT] = []
        self.query_text = ""
        self._cells: list[Cells] | None = None  # what the table shows now

    # ----- what a subclass says ------------------------------------------------------------------
    def heading(self) -> Text:
        """The line above the filter box (any trace text in it passed through ``safe_line``)."""
        raise NotImplementedError

    def load_rows(self) -> list[RowT]:
        """The rows as they are now (newest first)."""
        raise NotImplementedError

    def empty_notice(self) -> tuple[str, SeverityLevel]:
        """What to tell (message, severity) when a listing found nothing."""
        raise NotImplementedError

    def matches(self, row: RowT, query: str) -> bool:
        """Whether the filter's text keeps the row."""
        raise NotImplementedError

    def row_path(self, row: RowT) -> Path:
        """What opening the row opens; also the row's identity, for keeping the cursor on it."""
        raise NotImplementedError

    def row_cells(self, row: RowT) -> Cells:
        """The row's text, one string a column (already safe to show); compared to skip needless redraws."""
        raise NotImplementedError

    def listing_shown(self) -> None:
        """Called once the first listing is shown (after mount)."""

    # ----- the shared skeleton -------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static(self.heading(), id="picker-title")
        yield Input(placeholder=self.FILTER_PLACEHOLDER, id="picker-filter")
        yield DataTable(id="picker-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(*(column.header for column in self.COLUMNS))
        self.action_reload()
        table.focus()
        self.listing_shown()

    def action_reload(self) -> None:
        self.rows = self.load_rows()
        self._show()
        self.notify_if_empty()

    def notify_if_empty(self) -> None:
        if not self.rows:
            message, severity = self.empty_notice()
            self.notify(message, severity=severity)

    def _show(self) -> None:
        """Show the rows the filter keeps; the cursor stays on the row it was on, wherever that row moved."""
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        before = self.shown
        selected = (
            self.row_path(before[cursor]) if before and cursor is not None and 0 <= cursor < len(before) else None
        )
        self.shown = [row for row in self.rows if self.matches(row, self.query_text)]
        cells = [self.row_cells(row) for row in self.shown]
        if cells == self._cells:
            return  # nothing visible changed: keep the table (and its scroll) as it is
        self._cells = cells
        table.clear()
        styles: dict[str, Style | str] = {"": ""}  # component class → its style, looked up once a redraw

        def style_of(column: Column, text: str) -> Style | str:
            name = column.style(text) if column.style is not None else ""
            if name not in styles:
                styles[name] = self.get_component_rich_style(f"tv--{name}", partial=True)
            return styles[name]

        for index, row_cells in enumerate(cells):
            texts = (
                Text(text, justify=column.justify, overflow=column.overflow, style=style_of(column, text))
                for column, text in zip(self.COLUMNS, row_cells, strict=True)
            )
            table.add_row(*texts, key=str(index))
        moved_to = next((i for i, shown in enumerate(self.shown) if self.row_path(shown) == selected), None)
        if moved_to is not None:
            table.move_cursor(row=moved_to, animate=False)

    def action_filter(self) -> None:
        self.query_one(Input).focus()

    def action_clear_filter(self) -> None:
        self.query_one(Input).value = ""
        self.query_one(DataTable).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.query_text = event.value
        self._show()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one(DataTable).focus()

    def action_open(self) -> None:
        table = self.query_one(DataTable)
        row = table.cursor_row
        if not self.shown or row is None or not (0 <= row < len(self.shown)):
            return
        self.post_message(OpenBundle(self.row_path(self.shown[row])))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()
