"""Choosing a bundle from a folder of bundles: newest first, with status, size and thread count."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from trace_viewer.app.render import safe_line
from trace_viewer.app.views import size_text
from trace_viewer.bundle.discovery import BundleInfo, list_bundles

_STATUS_STYLE = {
    "completed": "green",
    "failed": "red",
    "broken": "red",
    "aborted": "yellow",
    "recording": "cyan",
    "incomplete": "yellow",
}


def _started(info: BundleInfo) -> str:
    if not info.started_at_unix_ms:
        return "?"
    moment = _dt.datetime.fromtimestamp(info.started_at_unix_ms / 1000, tz=_dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


class PickerScreen(Screen[None]):
    """A table of the bundles under a folder; Enter opens one."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open", show=True),
        Binding("r", "reload", "Refresh", show=True),
        Binding("q", "app.quit", "Quit", show=True),
    ]

    class Chosen(Message):
        def __init__(self, path: Path) -> None:
            super().__init__()
            self.path = path

    def __init__(self, root: Path, *, live: bool = False) -> None:
        super().__init__()
        self.root = root
        # Following the root: the list is refreshed as bundles appear and grow (by the app's RootFollower).
        self.live = live
        self.listed = False  # the first listing is done (infos is meaningful)
        self.infos: list[BundleInfo] = []
        self._cells: list[tuple[str, ...]] | None = None  # what the table shows now

    def compose(self) -> ComposeResult:
        title = Text.assemble(("Bundles under ", "bold"), safe_line(str(self.root)))
        if self.live:
            title.append("  (following: new bundles open as they appear)", "dim")
        yield Static(title, id="picker-title")
        yield DataTable(id="picker-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("started (UTC)", "status", "events", "threads", "size", "bundle")
        self.action_reload()
        table.focus()

    def action_reload(self) -> None:
        self._fill()
        self.listed = True
        if not self.infos:
            message = "No bundles here yet: waiting for one to appear." if self.live else "No bundles found here."
            self.notify(message, severity="information" if self.live else "warning")

    def refresh_live(self) -> None:
        """Re-list (new bundles, growing counts, statuses), keeping the cursor on the same bundle."""
        table = self.query_one(DataTable)
        row = table.cursor_row
        selected = self.infos[row].path if self.infos and row is not None and 0 <= row < len(self.infos) else None
        self._fill()
        if selected is not None:
            index = next((i for i, info in enumerate(self.infos) if info.path == selected), None)
            if index is not None:
                table.move_cursor(row=index, animate=False)

    def on_screen_resume(self) -> None:
        # Back from a viewer: bundles may have appeared or finished meanwhile.
        if self.live and self.listed:
            self.refresh_live()

    def _fill(self) -> None:
        infos = list_bundles(self.root)
        cells = [
            (_started(info), info.status, str(info.event_count), str(info.thread_count), size_text(info.size_bytes),
             safe_line(info.name))
            for info in infos
        ]  # fmt: skip
        self.infos = infos
        if cells == self._cells:
            return  # nothing visible changed: keep the table (and its scroll) as it is
        self._cells = cells
        table = self.query_one(DataTable)
        table.clear()
        for index, (started, status, events, threads, size, name) in enumerate(cells):
            table.add_row(
                Text(started),
                Text(status, style=_STATUS_STYLE.get(status, "")),
                Text(events, justify="right"),
                Text(threads, justify="right"),
                Text(size, justify="right"),
                Text(name, overflow="ellipsis"),
                key=str(index),
            )

    def action_open(self) -> None:
        table = self.query_one(DataTable)
        if not self.infos or table.cursor_row is None or not (0 <= table.cursor_row < len(self.infos)):
            return
        self.post_message(self.Chosen(self.infos[table.cursor_row].path))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()
