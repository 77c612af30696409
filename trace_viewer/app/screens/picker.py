"""Choosing a bundle from a folder of bundles: newest first, with status (broken ones with their first fault).

The list can be narrowed by text (name, status, fault) and by ``status:NAME``.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from trace_viewer.app.messages import OpenBundle
from trace_viewer.app.render import safe_line
from trace_viewer.app.views import size_text
from trace_viewer.app.widgets.lines import COMPONENT_CLASSES
from trace_viewer.bundle.discovery import BundleInfo, list_bundles
from trace_viewer.bundle.event_log import EVENT_LOG_FILE
from trace_viewer.reducer.replay import Replay

# Reducing a bundle to find what only a reduction finds runs in slices of about this long, so the list stays responsive.
REDUCE_SLICE_S = 0.02
REDUCE_SLICE_EVENTS = 256

_STATUS_STYLE = {
    "completed": "status-ok",
    "failed": "status-failed",
    "broken": "status-failed",
    "torn": "status-failed",
    "aborted": "status-cancelled",
    "unfinished": "status-running",
    "interrupted": "status-cancelled",
}


@dataclass(frozen=True, slots=True)
class Row:
    info: BundleInfo
    status: str
    fault: str


def describe(info: BundleInfo, reduced_fault: str | None = None) -> Row:
    """Status from the bundle alone (never from file age) and its first fault: what discovery sees
    cheaply, else what reducing it found (``reduced_fault``, e.g. a seq gap)."""
    fault = info.first_fault
    if fault is not None:
        return Row(info, info.status, fault)
    if reduced_fault is not None:
        return Row(info, "broken", reduced_fault)
    return Row(info, info.status, "")


def _started(info: BundleInfo) -> str:
    if not info.started_at_unix_ms:
        return "?"
    moment = _dt.datetime.fromtimestamp(info.started_at_unix_ms / 1000, tz=_dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def matches(row: Row, query: str) -> bool:
    """Every word of the query matches: ``status:X`` the status, other words the name, status or fault."""
    haystack = f"{row.info.name} {row.status} {row.fault}".lower()
    for word in query.lower().split():
        if word.startswith("status:"):
            if row.status != word[len("status:") :]:
                return False
        elif word not in haystack:
            return False
    return True


class PickerScreen(Screen[None]):
    """A table of the bundles under a folder; Enter opens one, `/` filters."""

    COMPONENT_CLASSES: ClassVar[set[str]] = set(COMPONENT_CLASSES)

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open", show=True),
        Binding("slash", "filter", "Filter", show=True),
        Binding("r", "reload", "Refresh", show=True),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("q", "app.quit", "Quit", show=True),
    ]

    class Listed(Message):
        """The first listing is done: the app's root follower can act on it."""

    def __init__(self, root: Path, *, live: bool = False) -> None:
        super().__init__()
        self.root = root
        # Following the root: the list is refreshed as bundles appear and grow (by the app).
        self.live = live
        self.listed = False  # the first listing is done (infos is meaningful)
        self.rows: list[Row] = []
        self.shown: list[Row] = []
        self.query_text = ""
        self._cells: list[tuple[str, ...]] | None = None  # what the table shows now
        # What reducing each bundle found (fault or None), and the log it was found on; see _check_by_reducing.
        self.reduced: dict[Path, tuple[tuple[int, int, int] | None, str | None]] = {}
        self._to_reduce: dict[Path, BundleInfo] = {}
        self._reducing = False

    @property
    def infos(self) -> list[BundleInfo]:
        return [row.info for row in self.rows]

    def compose(self) -> ComposeResult:
        title = Text.assemble(("Bundles under ", "bold"), safe_line(str(self.root)))
        if self.live:
            title.append("  (following: new bundles open as they appear)", "dim")
        yield Static(title, id="picker-title")
        yield Input(placeholder="filter: text, status:broken, status:completed …  (/ to focus)", id="picker-filter")
        yield DataTable(id="picker-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("started (UTC)", "status", "events", "threads", "size", "bundle", "first fault")
        self.action_reload()
        table.focus()
        self.post_message(self.Listed())

    def action_reload(self) -> None:
        self._fill(recheck=True)
        self.listed = True
        if not self.rows:
            message = "No bundles here yet: waiting for one to appear." if self.live else "No bundles found here."
            self.notify(message, severity="information" if self.live else "warning")

    def action_filter(self) -> None:
        self.query_one(Input).focus()

    def action_clear_filter(self) -> None:
        box = self.query_one(Input)
        box.value = ""
        self.query_one(DataTable).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.query_text = event.value
        self._show()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one(DataTable).focus()

    def refresh_live(self) -> None:
        """Re-list (new bundles, growing counts, statuses), keeping the cursor on the same bundle."""
        self._fill()

    def on_screen_resume(self) -> None:
        # Back from a viewer: bundles may have appeared or finished meanwhile.
        if self.live and self.listed:
            self.refresh_live()

    def _fill(self, *, recheck: bool = False) -> None:
        infos = list_bundles(self.root)
        self.rows = [describe(info, self._reduced_fault(info)) for info in infos]
        self._show()
        self._queue_reductions(infos, recheck=recheck)

    # ----- faults only a reduction finds (a seq gap, an inconsistent event) ----------------------
    @property
    def reductions_pending(self) -> bool:
        """Bundles still to be reduced in the background (their fault, if any, is not shown yet)."""
        return bool(self._to_reduce) or self._reducing

    def _reduced_fault(self, info: BundleInfo) -> str | None:
        found = self.reduced.get(info.path)
        return found[1] if found is not None else None

    def _queue_reductions(self, infos: list[BundleInfo], *, recheck: bool) -> None:
        """Reduce, newest first, every bundle with no fault shown that was not reduced as it is now.

        An unfinished bundle that grew is reduced again only once it finishes (or on `r`): a
        bundle being written changes all the time, and the fault of a prefix stays a fault.
        """
        for info in infos:
            if info.first_fault is not None:
                continue
            known = self.reduced.get(info.path)
            if known is not None and (known[0] == _log_stamp(info.path) or not (info.finished or recheck)):
                continue
            self._to_reduce[info.path] = info
        if self._to_reduce and not self._reducing:
            self._reducing = True
            self.run_worker(self._reduce_queued(), group="picker-reduce", exclusive=True)

    async def _reduce_queued(self) -> None:
        try:
            while self._to_reduce:
                path, info = next(iter(self._to_reduce.items()))
                del self._to_reduce[path]
                stamp = _log_stamp(path)
                fault = await _reduce_for_fault(info)
                self.reduced[path] = (stamp, fault)
                self.rows = [describe(row.info, fault) if row.info.path == path else row for row in self.rows]
                self._show()  # (the table is redrawn only if something shown changed)
        finally:
            self._reducing = False

    def _show(self) -> None:
        """Show the rows the filter keeps; the cursor stays on the bundle it was on, wherever that row moved."""
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        before = self.shown
        selected = before[cursor].info.path if before and cursor is not None and 0 <= cursor < len(before) else None
        self.shown = [row for row in self.rows if matches(row, self.query_text)]
        cells = [
            (_started(row.info), row.status, str(row.info.event_count), str(row.info.thread_count),
             size_text(row.info.size_bytes), safe_line(row.info.name), safe_line(row.fault))
            for row in self.shown
        ]  # fmt: skip
        if cells == self._cells:
            return  # nothing visible changed: keep the table (and its scroll) as it is
        self._cells = cells
        table.clear()
        styles = {
            name: self.get_component_rich_style(f"tv--{name}", partial=True) for name in set(_STATUS_STYLE.values())
        }
        for index, (started, status, events, threads, size, name, fault) in enumerate(cells):
            style = styles.get(_STATUS_STYLE.get(status, ""), "")
            table.add_row(
                Text(started),
                Text(status, style=style),
                Text(events, justify="right"),
                Text(threads, justify="right"),
                Text(size, justify="right"),
                Text(name, overflow="ellipsis"),
                Text(fault, overflow="ellipsis", style=styles["status-failed"] if fault else ""),
                key=str(index),
            )
        index = next((i for i, shown in enumerate(self.shown) if shown.info.path == selected), None)
        if index is not None:
            table.move_cursor(row=index, animate=False)

    def action_open(self) -> None:
        table = self.query_one(DataTable)
        if not self.shown or table.cursor_row is None or not (0 <= table.cursor_row < len(self.shown)):
            return
        self.post_message(OpenBundle(self.shown[table.cursor_row].info.path))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()


def _log_stamp(bundle: Path) -> tuple[int, int, int] | None:
    """The log as it is now (inode, size, modification time): reduced again only when it changed."""
    try:
        status = os.stat(bundle / EVENT_LOG_FILE)
    except OSError:
        return None
    return (status.st_ino, status.st_size, status.st_mtime_ns)


async def _reduce_for_fault(info: BundleInfo) -> str | None:
    """The first fault a reduction finds in the bundle as it is now, in slices that let the UI run between.

    A finished bundle is reduced as ``reduce`` would (with the end-of-log checks); an unfinished one
    as a follower would (a torn tail or a payload not written yet is waited for, not a fault).
    """
    final = info.finished
    replay = Replay(info.path)
    loop = asyncio.get_running_loop()
    exhausted = False
    while replay.fault is None and not exhausted:
        deadline = loop.time() + REDUCE_SLICE_S
        while replay.fault is None and loop.time() < deadline:
            target = replay.reducer.events_applied + REDUCE_SLICE_EVENTS
            replay.poll(final=final, max_events=target)
            if replay.reducer.events_applied < target:
                exhausted = True  # all that is on disk now is applied
                break
        await asyncio.sleep(0)
    if final and replay.fault is None:
        await asyncio.to_thread(replay.finish)  # the end-of-log checks read every payload: off the UI's loop
    return str(replay.fault) if replay.fault is not None else None
