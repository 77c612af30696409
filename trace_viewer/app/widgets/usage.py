"""The usage pane: the context in tokens (tokens' view-model), the selected call's provider figures.

Rows: the call at the cursor and what the provider reported for it (once it
ended); the context's headline (tokens used of the window, free); the context
size per model call of the thread as a sparkline (the current call and the
calls right after a compaction styled apart); the composition bar with free
space last; its legend; the whole trace's total. Without the offline tokenizer
the pane falls back to characters and item counts.
"""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from trace_viewer.app.render import composition_bar, composition_legend, safe_line, sparkline, usage_lines
from trace_viewer.app.state import ViewState
from trace_viewer.app.views import composition, context_series, selected_call, tokens_text, usage_unit
from trace_viewer.app.widgets.lines import Themed
from trace_viewer.session import ReplaySession
from trace_viewer.tokens.view import FREE, SessionTokens, UsageView

# Legend rows shown (the largest categories first); the rest are summed into one row.
LEGEND_ROWS = 6
# Traces with more events than this are token-counted in a thread when the pane first opens.
WARM_IN_THREAD_ABOVE = 2000


class UsagePane(Themed, Static):
    view: reactive[ViewState] = reactive(ViewState, init=False, always_update=False, repaint=False)

    def __init__(self, session: ReplaySession, tokens: SessionTokens | None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session = session
        self.tokens = tokens
        # Counting every call is left to a worker on big traces: until it ran, uncounted points are gaps.
        self.count_all = True
        self._warmed = False

    def watch_view(self, view: ViewState) -> None:
        if view.drawer == "usage":
            self.update(self.text(view))

    def redraw(self) -> None:
        if self.view.drawer == "usage":
            self.update(self.text(self.view))

    def on_resize(self) -> None:
        self.redraw()

    def opened(self, *, loaded: bool, growing: bool) -> None:
        """The pane was opened: count every call of a large trace in a thread, once.

        Only on a loaded bundle that is not growing (the counter reads the state, which following
        mutates); a small or growing trace is counted on the spot.
        """
        if self._warmed or self.tokens is None or not loaded or growing:
            self.count_all = True
        elif self.session.total < WARM_IN_THREAD_ABOVE:
            self._warmed = self.count_all = True
        else:
            self._warmed, self.count_all = True, False
            self.run_worker(self._warm, thread=True, group="tokens", exclusive=True)
        self.redraw()

    def _warm(self) -> None:
        tokens = self.tokens
        if tokens is not None:
            try:
                tokens.warm()
            except Exception as error:  # noqa: BLE001 - the tokenizer or a payload: the pane falls back and says why
                self.app.call_from_thread(self.notify, safe_line(f"Token counting stopped: {error}"), markup=False)
        self.app.call_from_thread(self._warmed_up)

    def _warmed_up(self) -> None:
        self.count_all = True
        self.redraw()

    def text(self, view: ViewState) -> Text:
        palette = self.palette()
        thread_id, position = view.thread_id, view.position
        if thread_id is None:
            return Text("No thread selected.", style=palette["meta"])
        width = max(20, self.content_size.width or 60)
        session = self.session
        call = selected_call(session, thread_id, position)
        ended_seq = call.execution.ended_seq if call is not None else None
        ended = ended_seq is not None and ended_seq <= position
        lines = list(usage_lines(call, palette, ended=ended).split("\n"))
        usage = None
        if self.tokens is not None:
            try:
                usage = self.tokens.usage_at(thread_id, position, count_all=self.count_all)
            except Exception as error:  # noqa: BLE001 - the tokenizer or a payload: fall back, say why
                self.tokens = None
                lines.append(Text(safe_line(f"token counts unavailable: {error}"), style=palette["meta"]))
        lines += self._token_lines(usage, width) if usage is not None else self._char_lines(thread_id, position, width)
        for line in lines:
            line.no_wrap = True
            line.overflow = "ellipsis"
        return Text("\n").join(lines)

    def _token_lines(self, usage: UsageView, width: int) -> list[Text]:
        palette = self.palette()
        head = Text("context ", style=palette["meta"])
        head.append(usage.headline, palette["title"])
        series = usage.series
        spark = Text("context/call ", style=palette["meta"])
        known = [v for v in series.values if v is not None]
        tail = Text(f" max {tokens_text(max(known))} tok" if known else " (tok)", style=palette["meta"])
        marks = set(series.compaction_indexes)
        if marks:
            tail.append(" ■", palette["compaction"])
            tail.append("=after compaction", palette["meta"])
        room = max(4, width - spark.cell_len - tail.cell_len)
        values: list[float | None] = [float(v) if v is not None else None for v in series.values]
        spark.append_text(sparkline(values, palette, current=series.current, marks=marks, width=room))
        spark.append_text(tail)
        bar = Text()
        used = 0
        for index, segment in enumerate(usage.segments):
            cells = round(segment.fraction * width)
            if index == len(usage.segments) - 1:
                cells = width - used
            cells = max(0, min(cells, width - used))
            used += cells
            glyph = "░" if segment.category == FREE else "█"
            bar.append(glyph * cells, palette["share-" + segment.category.replace("_", "-")])
        legend = Text()
        rows = sorted(usage.legend, key=lambda row: -row.tokens)
        for index, row in enumerate(rows[:LEGEND_ROWS]):
            if index:
                legend.append("  ")
            legend.append("■ ", palette["share-" + row.category.replace("_", "-")])
            estimate = "~" if row.estimated else ""
            legend.append(f"{row.label} {estimate}{tokens_text(row.tokens)} ({row.share * 100:.0f}%)", palette["meta"])
        rest = sum(row.tokens for row in rows[LEGEND_ROWS:])
        if rest:
            legend.append(f"  + {len(rows) - LEGEND_ROWS} more {tokens_text(rest)}", palette["meta"])
        free = usage.composition.free
        if free is not None:
            legend.append("  ░ ", palette["share-free"])
            legend.append(f"free {tokens_text(free)}", palette["meta"])
        total = usage.trace_total
        trace = Text("trace ", style=palette["meta"])
        counted = f"{total.counted_calls}/{total.calls} calls counted" if total.counted_calls < total.calls else ""
        trace.append(f"{total.calls} model calls, {tokens_text(total.input_tokens)} tokens sent", palette["title"])
        if counted:
            trace.append(f" ({counted})", palette["meta"])
        if total.reported_calls:
            trace.append(
                f" · provider: in {tokens_text(total.reported_input_tokens)} out "
                f"{tokens_text(total.reported_output_tokens)}",
                palette["meta"],
            )
        return [head, spark, bar, legend, trace]

    def _char_lines(self, thread_id: str, position: int, width: int) -> list[Text]:
        """Without token counts: context size in items (or provider tokens), composition in characters."""
        palette = self.palette()
        session = self.session
        series = context_series(session, thread_id, position)
        unit = usage_unit(session, thread_id)
        values: list[float | None] = [
            (float(p.input_tokens) if p.input_tokens is not None else None) if unit == "tok" else float(p.items)
            for p in series
        ]
        call = selected_call(session, thread_id, position)
        current = None
        if call is not None:
            current = next((i for i, p in enumerate(series) if p.inference_call_id == call.inference_call_id), None)
        marks = {i for i, p in enumerate(series) if p.compaction_before}
        known = [v for v in values if v is not None]
        spark = Text("context/call ", style=palette["meta"])
        tail = Text(f" max {max(known):,.0f} {unit}" if known else f" ({unit})", style=palette["meta"])
        room = max(4, width - spark.cell_len - tail.cell_len)
        spark.append_text(sparkline(values, palette, current=current, marks=marks, width=room))
        spark.append_text(tail)
        shares = composition(session, thread_id, position)
        return [spark, composition_bar(shares, palette, width), composition_legend(shares, palette)]
