"""Opening: what PATH means, the picker, and untrusted text shown safely."""

from __future__ import annotations

import json

from bundle_builder import BundleBuilder, message
from conftest import SAMPLES, sample, screen_text, wait_loaded
from textual.widgets import DataTable

from trace_viewer.app import run
from trace_viewer.app.locate import resolve_target
from trace_viewer.app.main import TraceViewerApp
from trace_viewer.app.screens.picker import PickerScreen
from trace_viewer.app.screens.viewer import RedrawSchedule, ViewerScreen


def test_resolve_target_kinds(tmp_path, monkeypatch) -> None:
    bundle = sample("exec_basic")
    assert resolve_target(str(bundle)).path == bundle
    assert resolve_target(str(bundle / "manifest.json")).path == bundle
    folder = resolve_target(str(SAMPLES))
    assert folder.picker and folder.error is None
    assert resolve_target(str(tmp_path / "missing")).error
    assert resolve_target(str(tmp_path)).error  # an empty folder is neither
    monkeypatch.setenv("CODEX_ROLLOUT_TRACE_ROOT", str(SAMPLES))
    newest = resolve_target(None)
    assert newest.error is None and (newest.path / "manifest.json").is_file()
    monkeypatch.delenv("CODEX_ROLLOUT_TRACE_ROOT")
    fallback = resolve_target(None)
    assert fallback.error is None and fallback.path.parent == SAMPLES


def test_run_refuses_a_missing_path_with_exit_2(tmp_path, capsys) -> None:
    assert run(str(tmp_path / "nope")) == 2
    assert "no such file" in capsys.readouterr().err


async def test_picker_lists_bundles_and_opens_one() -> None:
    app = TraceViewerApp(SAMPLES, picker=True)
    async with app.run_test(size=(110, 30)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, PickerScreen)
        table = app.screen.query_one(DataTable)
        assert table.row_count == len(app.screen.infos) >= 5
        started = [info.started_at_unix_ms or 0 for info in app.screen.infos]
        assert started == sorted(started, reverse=True)
        await pilot.press("enter")
        await wait_loaded(pilot)
        assert isinstance(app.screen, ViewerScreen)
        assert app.screen.session.path == app.screen.session.path.parent / app.screen.session.path.name


async def test_missing_manifest_opens_with_a_fault(tmp_path) -> None:
    (tmp_path / "trace.jsonl").write_text("")
    app = TraceViewerApp(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        assert "manifest.json" in screen_text(app)


HOSTILE = "[bold red]not bold[/] [@click=app.quit]x[/] \x1b[2J\x1b]0;pwned\x07 back\x08space \u202eevil\u202c end"


async def test_untrusted_text_is_shown_literally_and_escaped(tmp_path) -> None:
    bundle = BundleBuilder(tmp_path / "b")
    bundle.thread(agent_path="/root")
    bundle.turn("turn-1")
    bundle.inference("call-1", "turn-1", [message("user", HOSTILE)], [message("assistant", "[link=http://x]ok[/link]")])
    bundle.end_turn("turn-1")
    bundle.reduce()
    app = TraceViewerApp(tmp_path / "b")
    async with app.run_test(size=(150, 40)) as pilot:
        await wait_loaded(pilot)
        screen = app.screen
        assert isinstance(screen, ViewerScreen)
        await pilot.press("i")  # the inspector shows the raw event and payload JSON too
        await pilot.press("p")
        text = screen_text(app)
        assert "[bold red]not bold[/]" in text
        assert "[@click=app.quit]x[/]" in text
        assert "[link=http://x]ok[/link]" in text
        assert "\\x1b[2J" in text and "\\x1b]0;pwned\\x07" in text and "\\x08" in text
        assert "\\u202eevil\\u202c" in text
        for raw in ("\x1b[2J", "\x07", "\x08", "\u202e", "\u202c"):
            assert raw not in text
        assert app.is_running  # the [@click=app.quit] stayed text
        assert json.loads((tmp_path / "b" / "manifest.json").read_text())["trace_id"] == "trace-1"


def append(path, text: str) -> None:
    """Write like Codex does: append and flush (small writes; blocking is fine in a test)."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)


async def test_follow_mode_shows_events_as_they_are_written(tmp_path) -> None:
    bundle = BundleBuilder(tmp_path / "live")
    bundle.thread()
    bundle.turn("turn-1")
    bundle.inference("call-1", "turn-1", [message("user", "hi")], [message("assistant", "first answer")])
    bundle.inference("call-2", "turn-1", [message("user", "again")], [message("assistant", "second answer")])
    bundle.end_turn("turn-1")
    lines = [json.dumps(event) + "\n" for event in bundle.events]
    log = tmp_path / "live" / "trace.jsonl"
    log.write_text("".join(lines[:4]))
    app = TraceViewerApp(tmp_path / "live", follow=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        screen = app.screen
        assert isinstance(screen, ViewerScreen) and screen.following
        assert screen.position == 4
        append(log, lines[4][:7])  # a torn line: waited for, never a fault
        await pilot.pause(0.5)
        assert screen.session.fault is None and screen.position == 4
        append(log, lines[4][7:] + "".join(lines[5:]))
        for _ in range(50):
            await pilot.pause(0.05)
            if screen.position == len(lines):
                break
        assert screen.position == len(lines)
        assert "second answer" in screen_text(app)


async def test_opening_at_the_last_event_shows_the_newest_context_items() -> None:
    """Like `less +G`: at End the context pane shows its end, also on the very first screen."""
    from trace_viewer.app.widgets.context import ContextPane

    app = TraceViewerApp(sample("compaction_remote_midturn"))
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_loaded(pilot)
        await pilot.pause(0.2)
        pane = app.screen.query_one(ContextPane)
        assert pane.max_scroll_y > 0, "the sample's context should be taller than the pane"
        assert pane.scroll_offset.y == pane.max_scroll_y
        assert "All done" in screen_text(app)


def test_no_argument_opens_the_same_sample_as_the_cli(monkeypatch) -> None:
    """The app and `trace-viewer` in a pipe agree on the bundled sample they fall back to."""
    from trace_viewer.samples import sample_path

    monkeypatch.delenv("CODEX_ROLLOUT_TRACE_ROOT", raising=False)
    assert resolve_target(None).path == sample_path()


def test_the_panes_follow_a_loading_trace_less_and_less_often() -> None:
    """Each redraw of a growing trace costs more: waits double (1, 2, 4 s...), not a fixed rate."""
    schedule = RedrawSchedule(100.0, first_s=1.0)
    due = [now for now in (100.5 + 0.5 * step for step in range(30)) if schedule.due(now)]
    assert due == [101.0, 103.0, 107.0, 115.0]
