"""Small text panels: the header, the event bar and the usage pane."""

from __future__ import annotations

import datetime as _dt

from rich.text import Text
from textual.widgets import Static

from trace_viewer.app.render import (
    composition_bar,
    composition_legend,
    safe_line,
    sparkline,
    usage_lines,
)
from trace_viewer.app.views import (
    composition,
    context_series,
    duration_text,
    selected_call,
    short_id,
)
from trace_viewer.app.widgets.lines import Themed
from trace_viewer.session import ReplaySession


def _status_name(session: ReplaySession, position: int) -> str:
    if session.fault is not None and position >= session.total:
        return "failed (fault)"
    status = session.rollout_status_at(position)
    if status == "running" and position >= session.total and session.done and not session.follow:
        return "incomplete" if not session.closed else status
    return status


class TraceHeader(Themed, Static):
    """Ids, status, models, duration; then the position."""

    def show(
        self,
        session: ReplaySession,
        position: int,
        thread_id: str | None,
        *,
        flags: list[str],
        loading: float | None,
    ) -> None:
        palette = self.palette()
        rollout = session.rollout
        top = Text(no_wrap=True, overflow="ellipsis")
        top.append("trace ", palette["meta"])
        top.append(safe_line(short_id(str(rollout.get("trace_id") or "?"))), palette["thread"])
        top.append("  rollout ", palette["meta"])
        top.append(safe_line(short_id(str(rollout.get("rollout_id") or "?"))))
        status = _status_name(session, position)
        top.append("  ")
        style = {
            "completed": "status-ok",
            "running": "status-running",
            "failed": "status-failed",
            "failed (fault)": "status-failed",
        }.get(status, "status-cancelled")
        top.append(f" {status} ", palette[style] + palette["current"])
        models = sorted({str(call.get("model")) for call in rollout["inference_calls"].values()})
        if models:
            top.append("  " + safe_line(", ".join(models)), palette["meta"])
        started = rollout.get("started_at_unix_ms") or 0
        last = session.wall_ms_at(session.total)
        if started and last:
            top.append("  " + duration_text(last - started), palette["duration"])
        bottom = Text(no_wrap=True, overflow="ellipsis")
        bottom.append("seq ", palette["meta"])
        bottom.append(f"{position}", palette["thread"])
        bottom.append(f" / {session.total}", palette["meta"])
        wall = session.wall_ms_at(position)
        if wall and started:
            bottom.append(f"  +{duration_text(max(0, wall - started)) or '0ms'}", palette["duration"])
        thread = rollout["threads"].get(thread_id or "")
        if thread is not None:
            bottom.append("  thread ", palette["meta"])
            bottom.append(safe_line(thread.get("agent_path") or short_id(thread_id or "")), palette["thread"])
            if thread.get("nickname"):
                bottom.append(f" ({safe_line(thread['nickname'])})", palette["meta"])
        for flag in flags:
            bottom.append("  ")
            bottom.append(f"[{flag}]", palette["summary"])
        if loading is not None:
            bottom.append(f"  loading {loading * 100:.0f}%", palette["status-running"])
        fault = session.fault
        if fault is not None:
            bottom.append("  ✗ ", palette["fault"])
            bottom.append(safe_line(fault.location()), palette["fault"])
        for warning in session.warnings:
            bottom.append("  ⚠ ", palette["status-cancelled"])
            bottom.append(safe_line(warning), palette["status-cancelled"])
        self.update(Text("\n").join([top, bottom]))


class EventBar(Themed, Static):
    """What the event at the position is, or why replay stopped there."""

    def show(self, session: ReplaySession, position: int, message: str | None = None) -> None:
        palette = self.palette()
        text = Text(no_wrap=True, overflow="ellipsis")
        if message:
            text.append(safe_line(message), palette["summary"])
            self.update(text)
            return
        fault = session.fault
        record = session.record(position)
        if fault is not None and position >= session.total:
            text.append("✗ ", palette["fault"])
            text.append(safe_line(str(fault)), palette["fault"])
        elif record is None:
            text.append("No events yet." if not session.total else "Before the first event.", palette["meta"])
        else:
            text.append(f"#{record.seq} ", palette["thread"])
            text.append(safe_line(record.type))
            wall = record.wall_ms
            stamp = _dt.datetime.fromtimestamp(wall / 1000, tz=_dt.UTC).strftime("%H:%M:%S.%f")[:-3]
            text.append(f"  {stamp}Z", palette["meta"])
            thread = session.rollout["threads"].get(record.thread_id or "")
            if thread is not None:
                text.append("  " + safe_line(thread.get("agent_path") or ""), palette["meta"])
            change = record.change
            if change.created:
                text.append(f"  +{len(change.created)} new", palette["diff-added"])
            if change.updated:
                text.append(f"  ~{len(change.updated)} updated", palette["meta"])
            if change.context_threads:
                text.append("  context moved", palette["summary"])
        self.update(text)


class UsagePane(Themed, Static):
    """Token usage of the selected call, context size per call, and what the context is made of."""

    def show(self, session: ReplaySession, thread_id: str | None, position: int) -> None:
        palette = self.palette()
        width = max(20, self.content_size.width or 60)
        if thread_id is None:
            self.update(Text("No thread selected.", style=palette["meta"]))
            return
        call = selected_call(session, thread_id, position)
        ended = bool(call and call["execution"].get("ended_seq") and call["execution"]["ended_seq"] <= position)
        lines = list(usage_lines(call, palette, ended=ended).split("\n"))
        series = context_series(session, thread_id, position)
        use_tokens = bool(series) and all(p.input_tokens is not None for p in series)
        values = [float(p.input_tokens if use_tokens else p.items) for p in series]
        current = None
        if call is not None:
            current = next((i for i, p in enumerate(series) if p.inference_call_id == call["inference_call_id"]), None)
        marks = {i for i, p in enumerate(series) if p.compaction_before}
        unit = "tok" if use_tokens else "items"
        spark = Text("context/call ", style=palette["meta"])
        tail = Text(f" max {max(values):,.0f} {unit}" if values else "", style=palette["meta"])
        if marks:
            tail.append(" ■", palette["compaction"])
            tail.append("=after compaction", palette["meta"])
        room = max(4, width - spark.cell_len - tail.cell_len)
        spark.append_text(sparkline(values, palette, current=current, marks=marks, width=room))
        spark.append_text(tail)
        shares = composition(session, thread_id, position)
        lines += [spark, composition_bar(shares, palette, width), composition_legend(shares, palette)]
        for line in lines[:-1]:
            line.no_wrap = True
            line.overflow = "ellipsis"
        self.update(Text("\n").join(lines))
