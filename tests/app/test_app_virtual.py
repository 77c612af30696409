"""The context pane renders only what is on screen: estimated heights must not change what is drawn."""

from __future__ import annotations

from itertools import pairwise

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


async def test_a_new_content_height_lays_out_the_screen_only_when_the_scrollbar_comes_or_goes() -> None:
    """Jumping between overflowing contexts updates the scroll range in place (no full-screen layout)."""
    app = TraceViewerApp(sample("tools_terminal"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        screen = app.screen
        assert isinstance(screen, ViewerScreen)
        context = screen.context
        layouts: list[int] = []
        refresh_layout = screen._refresh_layout

        def counting(*args: object, **kwargs: object) -> None:
            layouts.append(1)
            refresh_layout(*args, **kwargs)  # type: ignore[arg-type]

        screen._refresh_layout = counting  # type: ignore[method-assign]
        viewport = context.scrollable_content_region.height
        heights: dict[int, int] = {}
        for position in range(1, screen.session.total + 1):
            screen.goto(position)
            await pilot.pause()
            heights[position] = context.virtual_size.height
        tall = [p for p, h in heights.items() if h > viewport]
        pairs = [(a, b) for a, b in pairwise(tall) if heights[a] != heights[b]]
        assert pairs, heights  # the sample has overflowing contexts of different heights
        short = [p for p, h in heights.items() if h <= viewport]
        assert short, heights

        for before, after in pairs[:3]:
            screen.goto(before)
            await pilot.pause()
            layouts.clear()
            screen.goto(after)
            await pilot.pause()
            assert not layouts, (before, after)
            assert context.virtual_size.height == sum(context._heights) == heights[after]
            assert context.show_vertical_scrollbar
            in_place = (context.max_scroll_y, context.vertical_scrollbar.window_virtual_size, context.scroll_offset)
            assert in_place[1] == heights[after]
            # What a full layout of the screen gives is what the in-place update gave.
            screen.refresh(layout=True)
            await pilot.pause()
            assert layouts
            assert (context.max_scroll_y, context.vertical_scrollbar.window_virtual_size, context.scroll_offset) == (
                in_place
            )
        # Down to a context that fits: the scrollbar goes, and the screen is laid out for it.
        screen.goto(short[-1])
        await pilot.pause()
        assert layouts
        assert context.virtual_size.height == heights[short[-1]]
        assert context.max_scroll_y == 0
