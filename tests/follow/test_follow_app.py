"""Following in the app: pinned to the newest event, pausing when the user looks back, `f` to toggle.

The writer replays a sample bundle the way Codex writes it and stops at fixed
points (``holds``) so the test can act on a known prefix; the app follows with
its watcher-driven worker. At the end the app's state is the offline reduce and the
final assistant message is on screen. Also: a trace root where bundles appear
after the app started (opened, switched to, or offered), a directory caught
before its manifest, auto-follow of a live bundle, the reload offer after the
log is truncated or replaced, and no polling while nothing is written.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from follow.writer import WriterOptions, WriterThread
from trace_viewer.app.locate import resolve_target
from trace_viewer.app.main import TraceViewerApp
from trace_viewer.app.messages import BundleChanged, OpenBundle
from trace_viewer.app.screens.picker import PickerScreen
from trace_viewer.app.screens.viewer import ViewerScreen
from trace_viewer.app.widgets.context import ContextPane
from trace_viewer.app.widgets.header import TraceHeader
from trace_viewer.reducer.replay import reduce_bundle
from trace_viewer.session import ReplaySession

if TYPE_CHECKING:
    from conftest import CutBundle

SAMPLES = Path(__file__).resolve().parents[2] / "sample_traces"
FINAL_MESSAGE = "All done: printed hello and 2."  # exec_basic's last assistant message
# Every wait is for a condition or a message, never for time; this only gives up on a hang.
WAIT_S = 60.0


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
    assert writer.wait_held(holds[0], WAIT_S), "the writer never reached its first hold"
    return writer


async def test_app_follows_pauses_and_toggles(tmp_path: Path) -> None:
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
        await scenario()
    finally:
        writer.stop()


async def follow_to_the_end(tmp_path: Path, opened_at: int, then: tuple[int, ...] = ()) -> set[int]:
    """Open the app once ``opened_at`` lines are written, let the writer finish, check the end state.

    The writer also holds after each line count in ``then``, until the screen shows that many events.
    Returns the event totals the screen went through.
    """
    writer = start_writer(tmp_path, holds=(opened_at, *then), event_delay=0.04)
    total = reduce_bundle(SAMPLES / "exec_basic").events_applied
    seen_totals: set[int] = set()

    async def scenario() -> None:
        app = TraceViewerApp(writer.dest, follow=True)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            assert isinstance(screen, ViewerScreen)
            await until(pilot, lambda: screen.session.total == opened_at, f"the first {opened_at} events")
            for lines in then:
                writer.release()
                await until(pilot, lambda n=lines: screen.session.total == n, f"{lines} events, while it is written")
                seen_totals.add(screen.session.total)
            writer.release()

            def done() -> bool:
                seen_totals.add(screen.session.total)
                assert screen.session.fault is None, screen.session.fault
                return screen.session.total == total and not writer.is_alive()

            await until(pilot, done, "every event")
            await until(pilot, lambda: screen.position == total, "the position to reach the end")
            assert screen.session.reducer.to_json() == reduce_bundle(writer.dest).to_json()
            shown = lambda: FINAL_MESSAGE in visible_text(screen.context)
            await until(pilot, shown, "the final message on screen")

    try:
        await scenario()
    finally:
        writer.stop()
    return seen_totals


async def test_app_following_a_bundle_being_written_ends_in_the_offline_state(tmp_path: Path) -> None:
    # The root thread has started at 5; the writer waits at 15 and 25 (of 35) until the screen shows them.
    seen_totals = await follow_to_the_end(tmp_path, opened_at=5, then=(15, 25))
    assert {15, 25} <= seen_totals  # it grew on screen while being written


async def test_app_opened_before_the_first_thread_shows_it_once_it_starts(tmp_path: Path) -> None:
    await follow_to_the_end(tmp_path, opened_at=1)  # only rollout_started so far


# ----- a trace root: bundles appearing while the app runs -----------------------------------------


def screen_of(app: TraceViewerApp) -> ViewerScreen | None:
    return app.screen if isinstance(app.screen, ViewerScreen) else None


def viewing(app: TraceViewerApp, path: Path) -> bool:
    screen = screen_of(app)
    return screen is not None and screen.session.path == path


async def test_following_a_root_opens_a_bundle_that_appears_after_start(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    old = root / "old"
    shutil.copytree(SAMPLES / "exec_basic", old)  # finished (its recording is closed): listed, not followed
    total = reduce_bundle(SAMPLES / "exec_basic").events_applied
    # The bundle directory appears only after the app is up (and its manifest a little later).
    options = WriterOptions(seed=5, start_delay=0.6, manifest_delay=0.1, event_delay=0.02)
    writer = WriterThread(SAMPLES / "exec_basic", root / "new", options)

    async def scenario() -> None:
        app = TraceViewerApp(root, follow=True, picker=True)
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: isinstance(app.screen, PickerScreen) and app.screen.listed, "the picker")
            picker = app.screen
            assert isinstance(picker, PickerScreen) and [info.name for info in picker.infos] == ["old"]
            writer.start()
            # No bundle was open: the new one is opened as soon as its manifest is complete.
            await until(pilot, lambda: viewing(app, writer.dest), "the new bundle to open")
            screen = screen_of(app)
            assert screen is not None and screen.following

            def done() -> bool:
                assert screen.session.fault is None, screen.session.fault
                return screen.session.finished and not writer.is_alive()

            await until(pilot, done, "the whole bundle")
            assert writer.error is None
            assert screen.session.total == total and screen.position == total
            assert screen.session.reducer.to_json() == reduce_bundle(writer.dest).to_json()
            await until(pilot, lambda: FINAL_MESSAGE in visible_text(screen.context), "the final message on screen")

            # Back to the list: it shows the new bundle, finished, with its event count.
            await pilot.press("escape")
            await until(pilot, lambda: app.screen is picker and len(picker.infos) == 2, "the picker with both")
            new = next(info for info in picker.infos if info.path == writer.dest)
            assert new.finished and new.event_count == total

    try:
        await scenario()
    finally:
        writer.stop()


async def test_following_a_root_switches_from_a_finished_bundle_and_offers_while_live(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import trace_viewer.app.screens.viewer as viewer_module

    # The open bundle counts as live while a write was seen within QUIET_S: make that the whole test
    # (however slow the machine), so "live" means only "written to since it was opened".
    monkeypatch.setattr(viewer_module, "QUIET_S", 3600.0)
    root = tmp_path / "root"
    root.mkdir()
    shutil.copytree(SAMPLES / "exec_basic", root / "done")
    first = WriterThread(SAMPLES / "exec_basic", root / "first", WriterOptions(seed=1, start_delay=0.3), holds=(8,))
    second = WriterThread(SAMPLES / "exec_basic", root / "second", WriterOptions(seed=2, start_delay=0.3))

    async def scenario() -> None:
        app = TraceViewerApp(root, follow=True, picker=True)
        async with app.run_test(size=(120, 30)) as pilot:
            await until(pilot, lambda: isinstance(app.screen, PickerScreen) and app.screen.listed, "the picker")
            await pilot.press("enter")  # open the finished bundle
            await until(pilot, lambda: viewing(app, root / "done"), "the finished bundle")
            done_screen = screen_of(app)
            assert done_screen is not None and done_screen.session.finished and not done_screen.bundle_live()

            # A new bundle while looking at a finished one: switch to it.
            first.start()
            await until(pilot, lambda: viewing(app, first.dest), "the switch to the new bundle")
            assert await asyncio.to_thread(first.wait_held, 8, WAIT_S)
            screen = screen_of(app)
            assert screen is not None and screen.following
            await until(pilot, lambda: screen.session.total == 8, "the first 8 events")

            # Another one while this one is still being written: offered, not switched to.
            second.start()
            await until(pilot, lambda: screen.view.live.offered == second.dest, "the offer")
            assert viewing(app, first.dest)
            assert "o opens it" in visible_text(screen.query_one(TraceHeader))
            await pilot.press("o")
            await until(pilot, lambda: viewing(app, second.dest), "the offered bundle to open")
            second.join(WAIT_S)
            new_screen = screen_of(app)
            assert new_screen is not None
            await until(pilot, lambda: new_screen.session.finished, "the second bundle to finish")
            assert new_screen.session.reducer.to_json() == reduce_bundle(second.dest).to_json()

    try:
        await scenario()
    finally:
        first.release()
        first.stop()
        second.stop()


async def test_following_a_bundle_directory_before_its_manifest_is_written(tmp_path: Path) -> None:
    dest = tmp_path / "young"
    # Held before the manifest (not a delay: on a loaded machine the app may start slower than any delay).
    writer = WriterThread(SAMPLES / "exec_basic", dest, WriterOptions(seed=3, event_delay=0.01), holds=(0,))
    writer.start()
    assert await asyncio.to_thread(writer.wait_held, 0, WAIT_S), "the writer did not create the directory"
    assert (dest / "payloads").is_dir() and not (dest / "manifest.json").exists()
    target = resolve_target(str(dest), follow=True)
    assert target.error is None and not target.picker

    async def scenario() -> None:
        app = TraceViewerApp(target.path, follow=True)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = app.screen
            assert isinstance(screen, ViewerScreen) and screen.following
            await pilot.pause(0.2)
            assert screen.session.fault is None and screen.session.total == 0
            writer.release()
            await until(pilot, lambda: screen.session.finished, "the bundle to be written")
            assert screen.session.fault is None
            assert screen.session.reducer.to_json() == reduce_bundle(dest).to_json()
            await until(pilot, lambda: FINAL_MESSAGE in visible_text(screen.context), "the final message on screen")

    try:
        await scenario()
    finally:
        writer.stop()


async def test_following_an_empty_root_waits_for_its_first_bundle(tmp_path: Path) -> None:
    root = tmp_path / "traces"
    root.mkdir()
    target = resolve_target(str(root), follow=True)
    assert target.picker and target.error is None
    assert resolve_target(str(root)).error  # without --follow an empty folder is still an error
    writer = WriterThread(SAMPLES / "exec_basic", root / "b1", WriterOptions(seed=4, start_delay=0.3))

    async def scenario() -> None:
        app = TraceViewerApp(root, follow=True, picker=True)
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: isinstance(app.screen, PickerScreen) and app.screen.listed, "the picker")
            writer.start()
            await until(pilot, lambda: viewing(app, writer.dest), "the first bundle to open")
            screen = screen_of(app)
            assert screen is not None
            await until(pilot, lambda: screen.session.finished and screen.position == screen.session.total, "the end")
            assert screen.session.fault is None

    try:
        await scenario()
    finally:
        writer.stop()


# ----- auto-follow, reload after truncation, idle cost --------------------------------------------------


async def test_an_unfinished_bundle_is_followed_once_writes_are_observed(tmp_path: Path) -> None:
    """Opened offline (the torn tail is a fault at once); the first write seen turns following on."""
    writer = start_writer(tmp_path, holds=(12,))
    total = reduce_bundle(SAMPLES / "exec_basic").events_applied

    async def scenario() -> None:
        app = TraceViewerApp(writer.dest)  # no follow=True
        async with app.run_test(size=(120, 30)) as pilot:
            screen = app.screen
            assert isinstance(screen, ViewerScreen)
            await until(pilot, lambda: screen.loaded, "the offline load")
            # Nothing written since it was opened: not following, shown as it is on disk.
            assert not screen.following and screen.session.finished
            await pilot.pause(0.3)
            assert app.screen is screen and not screen.following
            writer.release()
            await until(pilot, lambda: screen_of(app) not in (None, screen), "a live viewer after the first write")
            live = screen_of(app)
            assert live is not None and live.following and live.view.live.observed
            await until(pilot, lambda: live.loaded, "the live viewer to load")
            assert "writes observed" in visible_text(live.query_one(TraceHeader))
            await until(pilot, lambda: live.session.finished, "the end of the recording")
            assert live.session.total == total and live.position == total
            assert live.session.reducer.to_json() == reduce_bundle(writer.dest).to_json()

    try:
        await scenario()
    finally:
        writer.stop()


async def test_writes_seen_twice_on_a_bundle_opened_offline_ask_for_one_live_viewer(
    cut_bundle: CutBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two change messages already queued when the first turns following on: the second is from a stopped watch.

    (A second live viewer would replace the first one while it loads, leaving the test, or the
    user, on a screen that was just taken down.)
    """
    bundle, lines = cut_bundle("exec_basic", 12, name="unfinished")
    opened: list[Path] = []
    original = TraceViewerApp.on_open_bundle

    def counting(self: TraceViewerApp, message: OpenBundle) -> None:
        opened.append(message.path)
        original(self, message)

    monkeypatch.setattr(TraceViewerApp, "on_open_bundle", counting)

    async def scenario() -> None:
        app = TraceViewerApp(bundle)  # no follow=True
        async with app.run_test(size=(120, 30)) as pilot:
            screen = app.screen
            assert isinstance(screen, ViewerScreen)
            await until(pilot, lambda: screen.loaded and screen.watch_ready, "the offline load and its watch")
            with (bundle / "trace.jsonl").open("ab") as log:
                log.write(lines[12])
            screen.post_message(BundleChanged())
            screen.post_message(BundleChanged())
            await until(pilot, lambda: screen_of(app) not in (None, screen), "a live viewer")
            live = screen_of(app)
            assert live is not None
            await until(pilot, lambda: live.loaded, "the live viewer to load")
            await pilot.pause()
            assert opened == [bundle] and app.screen is live and live.following

    await scenario()


async def test_fresh_copies_of_unfinished_or_broken_bundles_open_at_their_fault(
    tmp_path: Path, cut_bundle: CutBundle
) -> None:
    """No guessing from file age: a bundle copied a second ago shows its fault at once, not "being written"."""
    torn, _ = cut_bundle("exec_basic", 10, name="torn", torn=30)
    unfinished, _ = cut_bundle("exec_basic", 10, name="unfinished")
    fresh_copy = tmp_path / "finished"
    shutil.copytree(SAMPLES / "exec_basic", fresh_copy)

    async def scenario() -> None:
        for path in (torn, unfinished, fresh_copy):
            app = TraceViewerApp(path)
            async with app.run_test(size=(100, 30)) as pilot:
                screen = app.screen
                assert isinstance(screen, ViewerScreen)
                await until(pilot, lambda s=screen: s.loaded, f"{path.name} to load")
                assert not screen.following, path
                assert screen.session.done and not screen.session.follow  # read offline, as it is on disk
                header = visible_text(screen.query_one(TraceHeader))
                if path is torn:
                    assert screen.session.fault is not None and screen.session.fault.line == 11
                    assert "failed (fault)" in header and "being written" not in header
                elif path is unfinished:
                    assert screen.session.fault is None and "incomplete" in header
                else:
                    assert "completed" in header

    await scenario()


@pytest.mark.parametrize("how", ["truncated", "replaced"])
async def test_a_truncated_or_replaced_log_offers_a_reload(tmp_path: Path, how: str) -> None:
    writer = start_writer(tmp_path, holds=(15,))

    async def scenario() -> None:
        app = TraceViewerApp(writer.dest, follow=True)
        async with app.run_test(size=(120, 30)) as pilot:
            screen = app.screen
            assert isinstance(screen, ViewerScreen)
            await until(pilot, lambda: screen.session.total == 15, "the first 15 events")
            log = writer.dest / "trace.jsonl"
            lines = log.read_bytes().splitlines(keepends=True)
            if how == "truncated":
                log.write_bytes(b"".join(lines[:6]))
            else:
                other = writer.dest / "trace.jsonl.new"
                other.write_bytes(b"".join(lines[:6]))
                os.replace(other, log)
            await until(pilot, lambda: screen.view.live.reload_reason is not None, "the log change to be noticed")
            assert how in screen.view.live.reload_reason
            assert not screen.following
            assert "r reloads" in visible_text(screen.query_one(TraceHeader))
            # A notification is a message to the app: it is in the list once the app handled it.
            await until(
                pilot,
                lambda: any("r to reload" in str(note.message) for note in app._notifications),
                "the notification",
            )

            await pilot.press("r")
            await until(pilot, lambda: screen_of(app) not in (None, screen), "a fresh viewer")
            fresh = screen_of(app)
            assert fresh is not None
            await until(pilot, lambda: fresh.session.total == 6, "the reloaded log")
            assert fresh.following and fresh.session.fault is None and fresh.view.live.reload_reason is None

    try:
        await scenario()
    finally:
        writer.release()
        writer.stop()


async def test_idle_following_sleeps_in_the_watcher(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing written: no poll at all (the watcher waits in its thread), and `f` off stops the watcher."""
    writer = start_writer(tmp_path, holds=(10,))
    polls: list[float] = []
    original = ReplaySession.poll

    def counting(self: ReplaySession, budget_s: float | None = None) -> int:
        polls.append(time.monotonic())
        return original(self, budget_s)

    monkeypatch.setattr(ReplaySession, "poll", counting)

    async def scenario() -> None:
        app = TraceViewerApp(writer.dest, follow=True)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = app.screen
            assert isinstance(screen, ViewerScreen)
            await until(pilot, lambda: screen.session.total == 10 and not screen.session.waiting, "10 events")
            # The watch is in place and has read what came before it (one poll): from now on only writes wake it.
            await until(pilot, lambda: screen.watch_ready and polls, "the watch to be in place")
            await pilot.pause(0.3)
            polls.clear()
            await pilot.pause(1.5)
            assert polls == [], f"{len(polls)} polls in 1.5 s of nothing"
            worker = screen._watch_worker
            assert worker is not None and not worker.is_finished
            await pilot.press("f")
            await pilot.pause(0.1)
            assert worker.is_cancelled and screen._watch_worker is None
            polls.clear()
            writer.release()
            writer.join(WAIT_S)
            await pilot.pause(0.3)
            assert polls == [] and screen.session.total == 10

    try:
        await scenario()
    finally:
        writer.release()
        writer.stop()


async def test_a_torn_line_is_pending_only_while_writes_arrive(
    cut_bundle: CutBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Following, a torn last line waits for its newline; with no write for QUIET_S it is shown as cut off.

    QUIET_S is short while the test waits for "cut off", and an hour while it checks that a write
    clears it (so a slow machine cannot make the quiet period pass again in between).
    """
    import trace_viewer.app.screens.viewer as viewer_module

    monkeypatch.setattr(viewer_module, "QUIET_S", 0.6)
    bundle, lines = cut_bundle("exec_basic", 12, name="dead", torn=40)

    async def scenario() -> None:
        app = TraceViewerApp(bundle, follow=True)
        async with app.run_test(size=(120, 30)) as pilot:
            screen = app.screen
            assert isinstance(screen, ViewerScreen) and screen.following
            await until(pilot, lambda: screen.loaded and screen.session.total == 12, "the 12 complete events")
            assert screen.session.fault is None and screen.session.waiting  # a torn tail is waited for
            # No write at all: once the quiet period is over, it is shown as cut off.
            await until(pilot, lambda: screen.view.live.quiet, "the quiet period")
            assert "cut off" in visible_text(screen.query_one(TraceHeader))
            assert screen.session.fault is None and screen.session.total == 12

            monkeypatch.setattr(viewer_module, "QUIET_S", 3600.0)
            with (bundle / "trace.jsonl").open("ab") as log:
                log.write(lines[12][40:60])  # a write arrives: pending again, not cut off
            await until(pilot, lambda: not screen.view.live.quiet, "the write to clear the cut-off mark")
            assert "cut off" not in visible_text(screen.query_one(TraceHeader))
            assert screen.session.fault is None and screen.session.total == 12 and screen.session.waiting
            with (bundle / "trace.jsonl").open("ab") as log:
                log.write(lines[12][60:])  # the line completes
            await until(pilot, lambda: screen.session.total == 13 and not screen.session.waiting, "the 13th event")
            assert not screen.view.live.quiet and screen.session.fault is None

    await scenario()


async def test_the_watch_being_ready_is_not_a_write(cut_bundle: CutBundle, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unfinished bundle followed with nothing written is not live; the first real write makes it live.

    QUIET_S is an hour: "live" then means only "a write was seen since it was opened".
    """
    import trace_viewer.app.screens.viewer as viewer_module

    monkeypatch.setattr(viewer_module, "QUIET_S", 3600.0)
    bundle, lines = cut_bundle("exec_basic", 12, name="unfinished")

    async def scenario() -> None:
        app = TraceViewerApp(bundle, follow=True)
        async with app.run_test(size=(120, 30)) as pilot:
            screen = app.screen
            assert isinstance(screen, ViewerScreen) and screen.following
            await until(pilot, lambda: screen.loaded and screen.watch_ready, "the watch to be in place")
            assert screen.session.total == 12 and not screen.bundle_live()  # nothing written since the open
            with (bundle / "trace.jsonl").open("ab") as log:
                log.write(lines[12])
            await until(pilot, lambda: screen.session.total == 13, "the 13th event")
            # The poll the ready message scheduled can read the new line before the watch reports
            # the write (watchfiles batches its events): wait for the report, not just the line.
            await until(pilot, screen.bundle_live, "the write to be seen")

    await scenario()


async def test_the_picker_keeps_its_cursor_when_a_new_bundle_arrives(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    for name in ("agents_minimal", "tools_terminal"):  # started in this order; finished
        shutil.copytree(SAMPLES / name, root / name)
    writer = WriterThread(SAMPLES / "compaction_local_manual", root / "newest", WriterOptions(seed=6))

    async def scenario() -> None:
        app = TraceViewerApp(root, follow=True, picker=True)
        async with app.run_test(size=(120, 30)) as pilot:
            await until(pilot, lambda: isinstance(app.screen, PickerScreen) and app.screen.listed, "the picker")
            picker = app.screen
            assert isinstance(picker, PickerScreen)
            assert [info.name for info in picker.infos] == ["agents_minimal", "tools_terminal"]
            await pilot.press("down")
            writer.start()
            await until(pilot, lambda: viewing(app, writer.dest), "the new bundle to open")
            writer.join(WAIT_S)
            await pilot.press("escape")
            await until(pilot, lambda: app.screen is picker and len(picker.infos) == 3, "the picker, refreshed")
            assert [info.name for info in picker.infos] == ["newest", "agents_minimal", "tools_terminal"]
            table = picker.query_one("#picker-table")
            assert table.cursor_row == 2  # still on tools_terminal, now one row further down

    try:
        await scenario()
    finally:
        writer.stop()
