"""Issue 11's capabilities, each driven with the pilot as a person would (keys, clicks)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import msgspec
import pytest
from conftest import sample, screen_text, wait_loaded

from trace_viewer.app.main import TraceViewerApp
from trace_viewer.app.screens.picker import PickerScreen
from trace_viewer.app.screens.tool_detail import ToolDetailScreen
from trace_viewer.app.screens.viewer import ViewerScreen
from trace_viewer.app.views import build_context, build_timeline, content_key, turn_titles
from trace_viewer.model import ConversationItemAnchor, ToolCallAnchor
from trace_viewer.session import ReplaySession

SIZE = (110, 34)


def viewer(app: TraceViewerApp) -> ViewerScreen:
    screen = app.screen
    assert isinstance(screen, ViewerScreen), type(screen)
    return screen


# 1. The whole timeline, always.
async def test_every_row_is_listed_at_every_position_and_later_rows_are_dimmed_and_jumpable() -> None:
    app = TraceViewerApp(sample("agents_full") if (Path(sample("exec_basic")).parent / "agents_full").is_dir()
                         else sample("agents_minimal"))  # fmt: skip
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        screen = viewer(app)
        everything = len(screen.timeline.rows)
        for key in ("g", "G", "home"):
            await pilot.press(key)
            assert len(screen.timeline.blocks) == everything, key
        await pilot.press("g")
        future = [i for i, row in enumerate(screen.timeline.blocks) if not row.visible_at(screen.position)]
        assert future, "at the first event, later rows are listed as not started yet"
        row = screen.timeline.blocks[future[-1]]
        assert row.status_at(screen.position) == "future"
        assert row.duration_at(screen.position, screen.session.wall_ms_at(screen.position)) is None
        # Clicking a dimmed row jumps forward to it, and the timeline still lists everything.
        screen.timeline.focus()
        screen.timeline.move_cursor(future[-1])
        screen.timeline.activate()
        await pilot.pause()
        assert screen.position == row.start_seq
        assert len(screen.timeline.blocks) == everything


# 2. Nothing from after the cursor.
async def test_a_running_call_shows_elapsed_time_to_the_cursor_and_no_output_tokens() -> None:
    app = TraceViewerApp(sample("compaction_remote_midturn"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        screen = viewer(app)
        calls = screen.session.rollout.inference_calls
        call = next(c for c in calls.values() if (c.execution.ended_seq or 0) > c.execution.started_seq)
        started, ended = call.execution.started_seq, call.execution.ended_seq
        assert ended is not None
        screen.goto(ended - 1)  # the call has started and not ended here
        await pilot.pause()
        row = next(r for r in screen.timeline.rows if r.object_id == call.inference_call_id)
        assert row.status_at(screen.position) == "running"
        assert "out " not in row.detail_at(screen.position)
        wall = screen.session.wall_ms_at(screen.position)
        assert row.duration_at(screen.position, wall) == wall - call.execution.started_at_unix_ms
        assert "out " in row.detail_at(ended)
        # The usage pane's unit is the thread's, whatever the position.
        await pilot.press("u")
        units = set()
        for position in (started, ended - 1, ended, screen.session.total):
            screen.goto(position)
            await pilot.pause()
            text = screen_text(app)
            units.add("tok" if " tok" in text else "items" if " items" in text.split("context/call")[-1] else "?")
        assert len(units) == 1, units


# 3. Turns told apart.
def test_turns_are_labelled_by_ordinal_and_prompt() -> None:
    session = ReplaySession(sample("tools_multiturn_appserver"))
    session.load_all()
    titles = sorted(turn_titles(session.rollout).values())
    assert titles == ["turn 1 · First: say turn 1.", "turn 2 · Second: say turn 2.", "turn 3 · Third: say turn 3."]
    rows = [row.title for row in build_timeline(session) if row.kind == "turn"]
    assert rows[1] == "turn 2 · Second: say turn 2."


async def test_the_inspector_keeps_the_turn_id() -> None:
    app = TraceViewerApp(sample("tools_multiturn_appserver"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        screen = viewer(app)
        turn_id = next(iter(screen.session.rollout.codex_turns))
        screen.goto(screen.session.seqs_of("inference_started")[0])
        await pilot.press("i")
        lines = [text for _, text in screen.query_one("#inspector").lines]
        assert any(line.startswith("turn 1 · First") and turn_id in line for line in lines)


# 4. Say which bundle is open.
async def test_the_header_names_the_bundle_and_w_shows_its_full_path(tmp_path: Path) -> None:
    bundle = tmp_path / "some-folder" / "my-bundle"
    shutil.copytree(sample("exec_basic"), bundle)
    app = TraceViewerApp(bundle)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        assert screen_text(app).splitlines()[0].strip().startswith("my-bundle")
        await pilot.press("w")
        await pilot.pause()
        assert any(str(bundle.resolve()) in str(note.message) for note in app._notifications)


# 6. The picker marks broken bundles and filters.
async def test_picker_marks_broken_bundles_with_their_fault_and_filters(tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(sample("exec_basic"), root / "good")
    shutil.copytree(sample("broken_last_line_cut"), root / "torn")
    (root / "nomanifest").mkdir()
    shutil.copytree(sample("exec_basic"), root / "badmanifest")
    (root / "badmanifest" / "manifest.json").write_text("{not json")
    app = TraceViewerApp(root, picker=True)
    async with app.run_test(size=(140, 30)) as pilot:
        await pilot.pause()
        picker = app.screen
        assert isinstance(picker, PickerScreen)
        by_name = {row.info.name: row for row in picker.rows}
        assert by_name["good"].status == "completed" and not by_name["good"].fault
        assert by_name["torn"].status == "torn" and "cut off" in by_name["torn"].fault
        assert by_name["badmanifest"].status == "broken" and "manifest.json" in by_name["badmanifest"].fault
        assert "cut off" in screen_text(app)
        await pilot.press("slash")
        for char in "status:torn":
            await pilot.press(char)
        assert [row.info.name for row in picker.shown] == ["torn"]
        await pilot.press("escape")
        assert len(picker.shown) == len(picker.rows)
        await pilot.press("slash", "g", "o", "o", "enter")
        assert [row.info.name for row in picker.shown] == ["good"]


async def test_picker_shows_a_fault_only_a_reduction_finds_without_waiting_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A seq gap is invisible to the cheap scan: the picker reduces in the background and then marks the bundle."""
    import trace_viewer.app.screens.picker as picker_module

    root = tmp_path / "root"
    shutil.copytree(sample("exec_basic"), root / "good")
    shutil.copytree(sample("exec_basic"), root / "gap")
    log = root / "gap" / "trace.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:5] + lines[6:]))  # event 6 is missing
    gate = asyncio.Event()
    original = picker_module._reduce_for_fault

    async def gated(info):  # the reductions wait until the test has used the list
        await gate.wait()
        return await original(info)

    monkeypatch.setattr(picker_module, "_reduce_for_fault", gated)
    app = TraceViewerApp(root, picker=True)
    async with app.run_test(size=(140, 30)) as pilot:
        await pilot.pause()
        picker = app.screen
        assert isinstance(picker, PickerScreen) and picker.listed and picker.reductions_pending
        by_name = {row.info.name: row for row in picker.rows}
        assert by_name["gap"].status == "completed" and not by_name["gap"].fault  # the scan alone sees nothing
        await pilot.press("slash", "g", "a", "p", "enter")  # the list answers while reductions are pending
        assert [row.info.name for row in picker.shown] == ["gap"]
        await pilot.press("escape", "down")
        table = picker.query_one("#picker-table")
        assert table.cursor_row == 1
        on = picker.shown[1].info.path
        gate.set()
        while picker.reductions_pending:
            await pilot.pause(0.05)
        by_name = {row.info.name: row for row in picker.rows}
        assert by_name["gap"].status == "broken" and "missing or reordered trace event 6" in by_name["gap"].fault
        assert by_name["good"].status == "completed" and not by_name["good"].fault
        await pilot.pause()
        assert "missing or reordered trace event 6" in screen_text(app)
        assert picker.shown[table.cursor_row].info.path == on  # the row changed under the cursor: it stays
        calls: list[object] = []
        monkeypatch.setattr(picker_module, "_reduce_for_fault", lambda info: calls.append(info))
        picker.refresh_live()  # nothing changed on disk: nothing is reduced again
        assert calls == [] and not picker.reductions_pending


# 8. 80×24 works.
async def test_80x24_keeps_help_quit_status_and_duration_and_the_layout_keys() -> None:
    app = TraceViewerApp(sample("tools_multiturn_appserver"))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        screen = viewer(app)
        await pilot.pause(0.1)
        text = screen_text(app)
        footer = [line for line in text.splitlines() if line.strip()][-1]
        assert "? Help" in footer and "q Quit" in footer
        # Timeline rows keep their status glyph and their duration even when the title is cut.
        rows = [line for line in text.splitlines() if "model gpt-5" in line or "exec_command" in line]
        assert rows and all("✓" in row and "ms" in row for row in rows), rows
        width = screen.timeline.size.width
        await pilot.press("greater_than_sign")
        assert screen.timeline.size.width > width
        await pilot.press("less_than_sign", "less_than_sign", "less_than_sign")
        assert not screen.timeline.display or screen.timeline.size.width == 0
        assert screen.view.timeline == "hidden"
        await pilot.press("greater_than_sign")
        assert screen.timeline.display
        screen.context.focus()
        await pilot.press("z")
        assert screen.maximized is screen.context
        await pilot.press("z")
        assert screen.maximized is None


# 9. Jumps land on their target.
async def test_e_lands_on_the_delivered_item_in_view_and_highlighted() -> None:
    app = TraceViewerApp(sample("agents_minimal"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        screen = viewer(app)
        spawn = next(e for e in screen.session.rollout.interaction_edges.values() if e.kind == "spawn_agent")
        assert isinstance(spawn.source, ToolCallAnchor) and isinstance(spawn.target, ConversationItemAnchor)
        tool = screen.session.rollout.tool_calls[spawn.source.tool_call_id]
        screen.goto(tool.execution.started_seq)
        await pilot.press("e")
        await pilot.pause()
        target = spawn.target.item_id
        pane = screen.context
        index = next(i for i, b in enumerate(pane.blocks) if b.item_id == target)
        region = pane.block_region(index)
        top = pane.scroll_offset.y
        assert top <= region.y < top + pane.scrollable_content_region.height, "scrolled into view"
        assert pane.focus_item == target and pane.cursor == index
        shown = [pane.render_line(y) for y in range(pane.size.height)]
        assert any(strip.text.startswith("▶") for strip in shown), "the landing item is marked"


def test_diff_matches_items_by_content() -> None:
    session = ReplaySession(sample("tools_multiturn_appserver"))
    session.load_all()
    items = session.rollout.conversation_items
    first, second = list(items)[:2]
    clone = msgspec.structs.replace(items[first], item_id="conversation_item:other")
    assert content_key(clone) == content_key(items[first])
    assert content_key(items[first]) != content_key(items[second])
    thread = session.rollout.root_thread_id
    calls = session.seqs_of("inference_started")
    from trace_viewer.app.views import ContextOptions

    blocks = build_context(session, thread, calls[1], ContextOptions(diff=True))
    assert blocks[0].text.startswith("Diff since model call") and "−0 dropped" in blocks[0].text


# 11. A detail view per tool call.
async def test_enter_on_a_tool_call_opens_its_detail_view() -> None:
    app = TraceViewerApp(sample("tools_terminal"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        screen = viewer(app)
        timeline = screen.timeline
        timeline.focus()
        index = next(i for i, row in enumerate(timeline.blocks) if row.kind == "tool")
        timeline.move_cursor(index)
        await pilot.press("enter")
        await pilot.pause()
        detail = app.screen
        assert isinstance(detail, ToolDetailScreen) and detail.detail is not None
        titles = [section.title for section in detail.detail.sections]
        for title in ("Tool call", "Timings", "Arguments", "Terminal operation", "Result", "Terminal session"):
            assert title in titles
        result = next(s for s in detail.detail.sections if s.title == "Result")
        assert ("exit code", "0") in result.rows
        session_rows = next(s for s in detail.detail.sections if s.title == "Terminal session").rows
        assert any("stdin" in what for _, what in session_rows)
        text = screen_text(app)
        assert "Terminal session" in text or "Arguments" in text
        await pilot.press("escape")
        assert app.screen is screen
        # In the context pane, Enter on a tool call item opens the same view.
        screen.context.focus()
        call_index = next(
            i for i, b in enumerate(screen.context.blocks)
            if b.item_id and screen.session.rollout.conversation_items[b.item_id].kind == "function_call"
        )  # fmt: skip
        screen.context.move_cursor(call_index)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ToolDetailScreen)


async def test_mcp_and_code_cell_details() -> None:
    for name, title in (("tools_mcp", "MCP"), ("tools_code_mode", "Code cell")):
        app = TraceViewerApp(sample(name))
        async with app.run_test(size=SIZE) as pilot:
            await wait_loaded(pilot)
            screen = viewer(app)
            from trace_viewer.app.tool_detail import tool_detail

            details = [tool_detail(screen.session, t, screen.position) for t in screen.session.rollout.tool_calls]
            assert any(title in [s.title for s in d.sections] for d in details if d), name


async def test_a_tool_detail_before_the_call_ends_has_no_output() -> None:
    session = ReplaySession(sample("tools_terminal"))
    session.load_all()
    from trace_viewer.app.tool_detail import tool_detail

    tool_id, tool = next(iter(session.rollout.tool_calls.items()))
    detail = tool_detail(session, tool_id, tool.execution.started_seq)
    assert detail is not None
    titles = [s.title for s in detail.sections]
    assert "Result" not in titles and "Output" in titles


# 12. Familiar keys.
async def test_ctrl_d_and_ctrl_u_scroll_half_a_page() -> None:
    app = TraceViewerApp(sample("exec_basic"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        screen = viewer(app)
        pane = screen.context
        pane.focus()
        pane.scroll_home(animate=False, immediate=True)
        await pilot.pause()
        half = pane.scrollable_content_region.height // 2
        await pilot.press("ctrl+d")
        assert pane.scroll_offset.y == half
        await pilot.press("ctrl+u")
        assert pane.scroll_offset.y == 0


async def test_the_screenshot_command_writes_an_svg_and_says_where(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TRACE_VIEWER_SCREENSHOTS", str(tmp_path))
    app = TraceViewerApp(sample("exec_basic"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await app.run_action("screenshot")
        await pilot.pause()
        written = list(tmp_path.glob("*.svg"))
        assert len(written) == 1 and "<svg" in written[0].read_text()[:500]
        assert any(str(written[0]) in str(note.message) for note in app._notifications)


# The usage pane in tokens (tokens' view-model) and the diff's token delta.
async def test_usage_pane_shows_the_context_in_tokens_with_free_space_and_the_trace_total() -> None:
    app = TraceViewerApp(sample("compaction_remote_midturn"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await pilot.press("u")
        await pilot.pause()
        text = screen_text(app)
        assert "tokens of" in text and "free" in text  # headline: used of the window, free
        assert "░" in text  # free space is the last stretch of the bar
        assert "trace 3 model calls" in text and "provider:" in text
        assert "tok" in text.split("context/call", 1)[1].splitlines()[0]


async def test_the_diff_header_says_how_many_tokens_moved() -> None:
    app = TraceViewerApp(sample("tools_multiturn_appserver"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        screen = viewer(app)
        screen.goto(screen.session.seqs_of("inference_started")[1])
        await pilot.press("d")
        header = screen.context.blocks[0].text
        assert header.startswith("Diff since model call") and "tokens (+" in header and "dropped)" in header
