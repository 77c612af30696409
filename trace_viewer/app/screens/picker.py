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

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root
        self.infos: list[BundleInfo] = []

    def compose(self) -> ComposeResult:
        yield Static(Text.assemble(("Bundles under ", "bold"), safe_line(str(self.root))), id="picker-title")
        yield DataTable(id="picker-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("started (UTC)", "status", "events", "threads", "size", "bundle")
        self.action_reload()
        table.focus()

    def action_reload(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        self.infos = list_bundles(self.root)
        for index, info in enumerate(self.infos):
            status = info.status
            table.add_row(
                Text(_started(info)),
                Text(status, style=_STATUS_STYLE.get(status, "")),
                Text(str(info.event_count), justify="right"),
                Text(str(info.thread_count), justify="right"),
                Text(size_text(info.size_bytes), justify="right"),
                Text(safe_line(info.name), overflow="ellipsis"),
                key=str(index),
            )
        if not self.infos:
            self.notify("No bundles found here.", severity="warning")

    def action_open(self) -> None:
        table = self.query_one(DataTable)
        if not self.infos or table.cursor_row is None or not (0 <= table.cursor_row < len(self.infos)):
            return
        self.post_message(self.Chosen(self.infos[table.cursor_row].path))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()
