"""The header: which bundle is open, its status and models; then the position, thread and modes."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from trace_viewer.app.render import safe_line
from trace_viewer.app.state import ViewState
from trace_viewer.app.views import duration_text, short_id
from trace_viewer.app.widgets.lines import Themed
from trace_viewer.session import ReplaySession

_STATUS_STYLE = {
    "completed": "status-ok",
    "running": "status-running",
    "failed": "status-failed",
    "failed (fault)": "status-failed",
}


def status_name(session: ReplaySession, view: ViewState) -> str:
    """The rollout's status at the position; at the end of an unfinished bundle, why it is unfinished."""
    position = view.position
    if session.fault is not None and position >= session.total:
        return "failed (fault)"
    status = session.rollout_status_at(position)
    if status == "running" and position >= session.total and session.done:
        if view.live.following:
            return "cut off (no writes)" if view.live.quiet else "being written"
        return "incomplete" if not session.closed else status
    return status


class TraceHeader(Themed, Static):
    """Two rows. Top: bundle folder, status, models, duration, ids. Bottom: seq, thread, modes, fault."""

    view: reactive[ViewState] = reactive(ViewState, init=False, always_update=False, repaint=False)
    progress: reactive[float | None] = reactive(None, init=False, repaint=False)

    def __init__(self, session: ReplaySession, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session = session
        self._shown: Text | None = None

    def watch_view(self, view: ViewState) -> None:
        self._show(self.text(view))

    def watch_progress(self) -> None:
        self._show(self.text(self.view))

    def _show(self, text: Text) -> None:
        # A fixed height (viewer.tcss): no layout; an unchanged line is not redrawn.
        if text != self._shown:
            self._shown = text
            self.update(text, layout=False)

    def text(self, view: ViewState) -> Text:
        session = self.session
        palette = self.palette()
        rollout = session.rollout
        position = view.position
        top = Text(no_wrap=True, overflow="ellipsis")
        top.append(safe_line(session.path.name or str(session.path)), palette["thread"])
        status = status_name(session, view)
        top.append("  ")
        top.append(f" {status} ", palette[_STATUS_STYLE.get(status, "status-cancelled")] + palette["current"])
        models = sorted({call.model for call in rollout.inference_calls.values()})
        if models:
            top.append("  " + safe_line(", ".join(models)), palette["meta"])
        started = rollout.started_at_unix_ms
        last = session.wall_ms_at(session.total)
        if started and last:
            top.append("  " + duration_text(last - started), palette["duration"])
        top.append("  trace ", palette["meta"])
        top.append(safe_line(short_id(rollout.trace_id or "?")), palette["id"])
        top.append("  w: full path", palette["meta"])
        bottom = Text(no_wrap=True, overflow="ellipsis")
        bottom.append("seq ", palette["meta"])
        bottom.append(f"{position}", palette["seq"])
        bottom.append(f" / {session.total}", palette["meta"])
        wall = session.wall_ms_at(position)
        if wall and started:
            bottom.append(f"  +{duration_text(max(0, wall - started)) or '0ms'}", palette["duration"])
        thread = rollout.threads.get(view.thread_id or "")
        if thread is not None:
            bottom.append("  thread ", palette["meta"])
            bottom.append(safe_line(thread.agent_path or short_id(view.thread_id or "")), palette["thread"])
            if thread.nickname:
                bottom.append(f" ({safe_line(thread.nickname)})", palette["meta"])
        for flag in view.flags(at_end=position >= session.total):
            bottom.append("  ")
            bottom.append(f"[{safe_line(flag)}]", palette["summary"])
        if self.progress is not None:
            bottom.append(f"  loading {self.progress * 100:.0f}%", palette["status-running"])
        fault = session.fault
        if fault is not None:
            bottom.append("  ✗ ", palette["fault"])
            where = f"internal error at {fault.location()}" if fault.internal else fault.location()
            bottom.append(safe_line(where), palette["fault"])
        for warning in session.warnings:
            bottom.append("  ⚠ ", palette["status-cancelled"])
            bottom.append(safe_line(warning), palette["status-cancelled"])
        joined = Text("\n").join([top, bottom])
        joined.no_wrap = True
        joined.overflow = "ellipsis"
        return joined
