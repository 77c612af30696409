"""The context pane renders only what is on screen: estimated heights must not change what is drawn."""

from __future__ import annotations

from conftest import sample, wait_loaded
from rich.console import Console
from textual.geometry import Region

from trace_viewer.app.main import TraceViewerApp
from trace_viewer.app.render import Palette, item_rows_estimate, render_item
from trace_viewer.app.screens.viewer import ViewerScreen
from trace_viewer.app.widgets.context import ContextPane
from trace_viewer.session import ReplaySession

SIZE = (100, 24)


def test_folded_item_height_estimate_is_close_to_the_rendered_height() -> None:
    session = ReplaySession(sample("tools_terminal"))
    session.load_all()
    console = Console(width=200)
    misses = total = 0
    items = list(session.rollout.conversation_items.values())
    for width in (30, 60, 95):
        for item in items:
            group = render_item(
                item, Palette(), width=width, expanded=False, provenance=False, mark="", index=1, first_seq=1
            )
            rows = len(console.render_lines(group, console.options.update_width(width), pad=False, new_lines=False))
            estimate = item_rows_estimate(item, width=width, expanded=False, provenance=False)
            assert abs(estimate - rows) <= 3, (item.item_id, width, estimate, rows)
            misses += estimate != rows
            total += 1
    assert misses <= total // 4  # mostly exact: folded bodies are a few short lines


def pane_lines(pane: ContextPane) -> list[str]:
    width, height = pane.outer_size
    return [strip.text for strip in pane.render_lines(Region(0, 0, width, height))]


async def test_estimated_layout_draws_the_same_rows_as_a_measured_one() -> None:
    app = TraceViewerApp(sample("tools_terminal"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        screen = app.screen
        assert isinstance(screen, ViewerScreen)
        context = screen.context
        session = screen.session
        # Positions with a current item (scrolled to it) and the end (scrolled to the bottom).
        positions = sorted({session.total, *(seq for seq in range(1, session.total + 1, 7))})

        def draw(position: int, *, measure_all: bool) -> list[str]:
            context.MEASURE_ALL_UP_TO = 10_000 if measure_all else 0
            context.clear_cache()
            # Kept scroll offsets (no current item) would land on different rows in the two layouts.
            context.scroll_to(y=0, animate=False, immediate=True)
            screen.goto(position)
            context._apply_scroll_intent()
            return pane_lines(context)

        saw_estimates = False
        for position in positions:
            exact = draw(position, measure_all=True)
            exact_heights = list(context._heights)
            estimated = draw(position, measure_all=False)
            saw_estimates |= bool(context._estimated)
            assert estimated == exact, position
            # Scrolling through the whole list renders every block, and then the layout is the exact one.
            context.scroll_to(y=0, animate=False, immediate=True)
            while True:
                pane_lines(context)
                if context.scroll_offset.y >= context.max_scroll_y:
                    break
                context.scroll_to(y=context.scroll_offset.y + 5, animate=False, immediate=True)
            assert not context._estimated, position
            assert context._heights == exact_heights, position
        assert saw_estimates  # the sample is longer than the pane: some blocks were never rendered
        await pilot.pause()
