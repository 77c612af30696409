"""The event bar: what the event at the position is, or why replay stopped there, or a one-off note."""

from __future__ import annotations

import datetime as _dt

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from trace_viewer.app.render import safe_line
from trace_viewer.app.state import ViewState
from trace_viewer.app.widgets.lines import Themed
from trace_viewer.session import ReplaySession

# Said at the end of a bundle whose last line is torn while nothing is being written.
CUT_OFF = "trace.jsonl: the last line is cut off (no newline), and nothing has been written for a while"


class EventBar(Themed, Static):
    view: reactive[ViewState] = reactive(ViewState, init=False, always_update=False, repaint=False)

    def __init__(self, session: ReplaySession, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session = session
        self._shown: Text | None = None

    def watch_view(self, view: ViewState) -> None:
        self._show(self.text(view))

    def _show(self, text: Text) -> None:
        # A fixed height (viewer.tcss): no layout; an unchanged line is not redrawn.
        if text != self._shown:
            self._shown = text
            self.update(text, layout=False)

    def text(self, view: ViewState) -> Text:
        session = self.session
        position = view.position
        palette = self.palette()
        text = Text(no_wrap=True, overflow="ellipsis")
        if view.note:
            text.append(safe_line(view.note), palette["summary"])
            return text
        fault = session.fault
        record = session.record(position)
        if fault is not None and position >= session.total:
            text.append("✗ ", palette["fault"])
            text.append(safe_line(str(fault)), palette["fault"])
        elif view.live.quiet and position >= session.total:
            text.append("✗ ", palette["fault"])
            text.append(CUT_OFF, palette["fault"])
        elif record is None:
            text.append("No events yet." if not session.total else "Before the first event.", palette["meta"])
        else:
            text.append(f"#{record.seq} ", palette["seq"])
            text.append(safe_line(record.type), palette["title"])
            stamp = _dt.datetime.fromtimestamp(record.wall_ms / 1000, tz=_dt.UTC).strftime("%H:%M:%S.%f")[:-3]
            text.append(f"  {stamp}Z", palette["meta"])
            thread = session.rollout.threads.get(record.thread_id or "")
            if thread is not None:
                text.append("  " + safe_line(thread.agent_path), palette["meta"])
            change = record.change
            if change.created:
                text.append(f"  +{len(change.created)} new", palette["diff-added"])
            if change.updated:
                text.append(f"  ~{len(change.updated)} updated", palette["meta"])
            if change.context_threads:
                text.append("  context moved", palette["summary"])
        return text
