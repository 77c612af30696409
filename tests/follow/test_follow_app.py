"""Following in the app: pinned to the newest event, pausing when the user looks back, `f` to toggle.

The writer replays a sample bundle the way Codex writes it and stops at fixed
points (``holds``) so the test can act on a known prefix; the app follows with
its own timer/watcher. At the end the app's state is the offline reduce and the
final assistant message is on screen.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from follow.writer import WriterOptions, WriterThread
from trace_viewer.app.main import TraceViewerApp
from trace_viewer.app.screens.viewer import ViewerScreen
from trace_viewer.app.widgets.context import ContextPane
from trace_viewer.app.widgets.panels import TraceHeader
from trace_viewer.reducer.replay import reduce_bundle

SAMPLES = Path(__file__).resolve().parents[2] / "sample_traces"
FINAL_MESSAGE = "All done: printed hello and 2."  # exec_basic's last assistant message
WAIT_S = 15.0


async def until(pilot: object, condition: Callable[[], bool], what: str, wait_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + wait_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; {describe(pilot)}")
        await pilot.pause(0.05)  # type: ignore[attr-defined]


def describe(pilot: object) -> str:
    """The follow state of the screen, for a failure message."""
    screen = pilot.app.screen  # type: ignore[attr-defined]
    if not isinstance(screen, ViewerScreen):
        return f"screen is {screen!r}"
    session = screen.session
    return (
        f"position {screen.position}, total {session.total}, following {screen.following}, "
        f"new_events {screen.new_events}, waiting {session.waiting}, fault {session.fault}, "
        f"thread {screen.thread_id}, context blocks {len(screen.context.blocks)}, "
        f"scroll y {screen.context.scroll_offset.y} of virtual height {screen.context.virtual_size.height} "
        f"(pane height {screen.context.size.height}), "
        f"context shows: {visible_text(screen.context)[-600:]!r}"
    )


def visible_text(widget: ContextPane | TraceHeader) -> str:
    """What the widget shows right now, as plain text."""
    if isinstance(widget, ContextPane):
        return "\n".join(widget.render_line(y).text for y in range(widget.size.height))
    return str(widget.render())


def start_writer(tmp_path: Path, holds: tuple[int, ...], event_delay: float = 0.004) -> WriterThread:
    options = WriterOptions(seed=11, event_delay=event_delay)
    writer = WriterThread(SAMPLES / "exec_basic", tmp_path / "exec_basic", options, holds=holds)
    writer.start()
    # The app opens on a known prefix: the writer is held at its first hold point.
    assert writer.held.wait(WAIT_S), "the writer never reached its first hold"
    return writer


def test_app_follows_pauses_and_toggles(tmp_path: Path) -> None:
    writer = start_writer(tmp_path, holds=(10, 20))
    total = reduce_bundle(SAMPLES / "exec_basic").events_applied

    async def scenario() -> None:
        app = TraceViewerApp(writer.dest, follow=True)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = app.screen
            assert isinstance(screen, ViewerScreen) and screen.following
            await until(pilot, lambda: screen.session.total == 10, "the first 10 events")
            await until(pilot, lambda: screen.position == 10, "the position to pin to the newest event")

            # Looking back pauses following: new events are counted, the position stays.
            await pilot.press("left", "left")
            assert screen.position == 8
            writer.release()
            await until(pilot, lambda: screen.session.total == 20, "events 11-20")
            await pilot.pause(0.3)
            assert screen.position == 8 and screen.new_events == 10
            assert "10 new" in visible_text(screen.query_one(TraceHeader))  # the badge, on screen

            # End jumps back to live and clears the badge.
            await pilot.press("end")
            assert screen.position == 20 and screen.new_events == 0

            # `f` off: nothing more is applied while the writer finishes.
            await pilot.press("f")
            assert not screen.following
            writer.release()
            writer.join(timeout=WAIT_S)
            assert not writer.is_alive() and writer.error is None
            await pilot.pause(0.5)
            assert screen.session.total == 20

            # `f` on again: catches up to the end, pinned.
            await pilot.press("f")
            assert screen.following
            await until(pilot, lambda: screen.session.total == total, "the rest of the events")
            await until(pilot, lambda: screen.position == total, "the position to reach the end")
            offline = reduce_bundle(writer.dest)
            assert screen.session.reducer.to_json() == offline.to_json()
            assert screen.session.fault is None
            await until(pilot, lambda: FINAL_MESSAGE in visible_text(screen.context), "the final message on screen")

    try:
        asyncio.run(scenario())
    finally:
        writer.stop()


def follow_to_the_end(tmp_path: Path, opened_at: int) -> set[int]:
    """Open the app once ``opened_at`` lines are written, let the writer finish, check the end state.

    Returns the event totals the screen went through.
    """
    writer = start_writer(tmp_path, holds=(opened_at,), event_delay=0.04)  # about 0.7 s of writing
    total = reduce_bundle(SAMPLES / "exec_basic").events_applied
    seen_totals: set[int] = set()

    async def scenario() -> None:
        app = TraceViewerApp(writer.dest, follow=True)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            assert isinstance(screen, ViewerScreen)
            await until(pilot, lambda: screen.session.total == opened_at, f"the first {opened_at} events")
            writer.release()

            def done() -> bool:
                seen_totals.add(screen.session.total)
                assert screen.session.fault is None, screen.session.fault
                return screen.session.total == total and not writer.is_alive()

            await until(pilot, done, "every event")
            await until(pilot, lambda: screen.position == total, "the position to reach the end")
            assert screen.session.reducer.to_json() == reduce_bundle(writer.dest).to_json()
            shown = lambda: FINAL_MESSAGE in visible_text(screen.context)
            await until(pilot, shown, "the final message on screen", wait_s=5.0)

    try:
        asyncio.run(scenario())
    finally:
        writer.stop()
    return seen_totals


def test_app_following_a_bundle_being_written_ends_in_the_offline_state(tmp_path: Path) -> None:
    seen_totals = follow_to_the_end(tmp_path, opened_at=5)  # the root thread has started
    assert len(seen_totals) >= 3  # it grew on screen while being written


def test_app_opened_before_the_first_thread_shows_it_once_it_starts(tmp_path: Path) -> None:
    follow_to_the_end(tmp_path, opened_at=1)  # only rollout_started so far
