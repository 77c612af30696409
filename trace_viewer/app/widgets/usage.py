"""The usage pane: the selected call's tokens, context size per call, and what the context is made of."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from trace_viewer.app.render import composition_bar, composition_legend, sparkline, usage_lines
from trace_viewer.app.state import ViewState
from trace_viewer.app.views import composition, context_series, selected_call, usage_unit
from trace_viewer.app.widgets.lines import Themed
from trace_viewer.session import ReplaySession


class UsagePane(Themed, Static):
    view: reactive[ViewState] = reactive(ViewState, init=False, always_update=False)

    def __init__(self, session: ReplaySession, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session = session

    def watch_view(self, view: ViewState) -> None:
        if view.drawer == "usage":
            self.update(self.text(view))

    def on_resize(self) -> None:
        if self.view.drawer == "usage":
            self.update(self.text(self.view))

    def text(self, view: ViewState) -> Text:
        session = self.session
        palette = self.palette()
        width = max(20, self.content_size.width or 60)
        thread_id, position = view.thread_id, view.position
        if thread_id is None:
            return Text("No thread selected.", style=palette["meta"])
        call = selected_call(session, thread_id, position)
        ended = bool(call and call["execution"].get("ended_seq") and call["execution"]["ended_seq"] <= position)
        lines = list(usage_lines(call, palette, ended=ended).split("\n"))
        series = context_series(session, thread_id, position)
        # The unit is the thread's, decided on the whole trace: it must not change while scrubbing.
        unit = usage_unit(session, thread_id)
        values: list[float | None] = [
            (float(p.input_tokens) if p.input_tokens is not None else None) if unit == "tok" else float(p.items)
            for p in series
        ]
        current = None
        if call is not None:
            current = next((i for i, p in enumerate(series) if p.inference_call_id == call["inference_call_id"]), None)
        marks = {i for i, p in enumerate(series) if p.compaction_before}
        known = [v for v in values if v is not None]
        spark = Text("context/call ", style=palette["meta"])
        tail = Text(f" max {max(known):,.0f} {unit}" if known else f" ({unit})", style=palette["meta"])
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
        return Text("\n").join(lines)
