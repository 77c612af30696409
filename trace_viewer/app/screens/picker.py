"""Choosing a bundle from a folder of bundles: newest first, with status (broken ones with their first fault).

The list can be narrowed by text (name, status, fault) and by ``status:NAME``.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import os
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual.message import Message
from textual.notifications import SeverityLevel

from trace_viewer.app.render import safe_line
from trace_viewer.app.screens.base_picker import BasePickerScreen, Cells, Column, styled_by
from trace_viewer.app.views import size_text
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


class PickerScreen(BasePickerScreen[Row]):
    """A table of the bundles under a folder; Enter opens one, `/` filters."""

    COLUMNS = (
        Column("started (UTC)"),
        Column("status", style=styled_by(_STATUS_STYLE)),
        Column("events", justify="right"),
        Column("threads", justify="right"),
        Column("size", justify="right"),
        Column("bundle", overflow="ellipsis"),
        Column("first fault", overflow="ellipsis", style=lambda fault: "status-failed" if fault else ""),
    )
    FILTER_PLACEHOLDER = "filter: text, status:broken, status:completed …  (/ to focus)"

    class Listed(Message):
        """The first listing is done: the app's root follower can act on it."""

    def __init__(self, root: Path, *, live: bool = False) -> None:
        super().__init__(root)
        # Following the root: the list is refreshed as bundles appear and grow (by the app).
        self.live = live
        self.listed = False  # the first listing is done (infos is meaningful)
        # What reducing each bundle found (fault or None), and the log it was found on; see _check_by_reducing.
        self.reduced: dict[Path, tuple[tuple[int, int, int] | None, str | None]] = {}
        self._to_reduce: dict[Path, BundleInfo] = {}
        self._reducing = False

    @property
    def infos(self) -> list[BundleInfo]:
        return [row.info for row in self.rows]

    def heading(self) -> Text:
        title = Text.assemble(("Bundles under ", "bold"), safe_line(str(self.root)))
        if self.live:
            title.append("  (following: new bundles open as they appear)", "dim")
        return title

    def listing_shown(self) -> None:
        self.post_message(self.Listed())

    def action_reload(self) -> None:
        self._fill(recheck=True)
        self.listed = True
        self.notify_if_empty()

    def empty_notice(self) -> tuple[str, SeverityLevel]:
        if self.live:
            return "No bundles here yet: waiting for one to appear.", "information"
        return "No bundles found here.", "warning"

    def refresh_live(self) -> None:
        """Re-list (new bundles, growing counts, statuses), keeping the cursor on the same bundle."""
        self._fill()

    def on_screen_resume(self) -> None:
        # Back from a viewer: bundles may have appeared or finished meanwhile.
        if self.live and self.listed:
            self.refresh_live()

    def load_rows(self) -> list[Row]:
        return [describe(info, self._reduced_fault(info)) for info in list_bundles(self.root)]

    def _fill(self, *, recheck: bool = False) -> None:
        self.rows = self.load_rows()
        self._show()
        self._queue_reductions(self.infos, recheck=recheck)

    def matches(self, row: Row, query: str) -> bool:
        return matches(row, query)

    def row_path(self, row: Row) -> Path:
        return row.info.path

    def row_cells(self, row: Row) -> Cells:
        info = row.info
        return (_started(info), row.status, str(info.event_count), str(info.thread_count),
                size_text(info.size_bytes), safe_line(info.name), safe_line(row.fault))  # fmt: skip

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
