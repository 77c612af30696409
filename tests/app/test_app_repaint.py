"""Moving through a trace repaints only the rows that changed; the screen must equal a repaint from scratch.

The panes note what they drew on each row and refresh only rows whose content
changed; the header and event bar skip unchanged lines. A row that should have
changed but kept its old look would show stale content: after every key the
screen is compared (text and styles) with the same screen fully repainted.
"""

from __future__ import annotations

import pytest
from conftest import sample, wait_loaded
from textual.strip import Strip

from trace_viewer.app.main import TraceViewerApp
from trace_viewer.app.screens.viewer import ViewerScreen
from trace_viewer.app.widgets.lines import BlockList

SIZE = (110, 30)


def _rows(app) -> list[tuple[tuple[str, object], ...]]:
    """Each screen row as (text, style) runs, as the terminal would receive it."""
    update = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    return [
        tuple((segment.text, segment.style) for segment in Strip.join(list(row)).simplify()) for row in update.strips
    ]


async def _shown_and_fresh(pilot) -> tuple[list[str], list[str]]:
    """The rows that differ between the screen as drawn incrementally and after a repaint from scratch."""
    app = pilot.app
    await pilot.pause()
    shown = _rows(app)
    for widget in app.screen.walk_children():
        widget.refresh()
    app.screen.refresh()
    await pilot.pause()
    fresh = _rows(app)
    stale = [i for i, (a, b) in enumerate(zip(shown, fresh, strict=True)) if a != b]
    text = ["".join(t for t, _ in row) for row in shown]
    return [f"{i}: {text[i]!r}" for i in stale], [f"{i}: {''.join(t for t, _ in fresh[i])!r}" for i in stale]


@pytest.mark.parametrize("name", ["tools_terminal", "compaction_remote_midturn"])
async def test_incremental_repaint_matches_a_full_repaint(name: str) -> None:
    app = TraceViewerApp(sample(name))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        screen = app.screen
        assert isinstance(screen, ViewerScreen)
        total = screen.session.total
        keys = ["home"] + ["right"] * min(total - 1, 40) + ["left"] * 5 + ["right_square_bracket"] * 4
        keys += ["left_square_bracket", "d", "right", "d", "end", "home"]
        checked = 0
        for key in keys:
            before = screen.position
            await pilot.press(key)
            shown, fresh = await _shown_and_fresh(pilot)
            assert shown == fresh, f"stale rows after {key!r} ({before} -> {screen.position})"
            checked += 1
        # The cursor of a focused timeline moves without changing the position.
        screen.timeline.focus()
        for key in ["down", "down", "up", "pagedown", "ctrl+home"]:
            await pilot.press(key)
            shown, fresh = await _shown_and_fresh(pilot)
            assert shown == fresh, f"stale timeline rows after {key!r}"
            checked += 1
        assert checked == len(keys) + 5


async def test_a_step_repaints_only_the_rows_that_changed() -> None:
    """One event forward inside a turn: most rows of the panes keep their drawn lines."""
    app = TraceViewerApp(sample("tools_terminal"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        screen = app.screen
        assert isinstance(screen, ViewerScreen)
        screen.goto(2)
        await pilot.pause()
        panes: list[BlockList] = [screen.timeline, screen.context]
        drawn: dict[int, list[int]] = {}
        for pane in panes:
            calls: list[int] = []
            original = pane.render_line

            def counting(y: int, original=original, calls=calls) -> object:
                calls.append(y)
                return original(y)

            pane.render_line = counting  # type: ignore[method-assign]
            drawn[id(pane)] = calls
        await pilot.press("right")
        await pilot.pause()
        assert screen.position == 3
        timeline_rows = drawn[id(screen.timeline)]
        height = screen.timeline.scrollable_content_region.height
        # The old and the new current rows (and rows whose status or duration changed), not the whole pane.
        assert 0 < len(set(timeline_rows)) < height, timeline_rows
