"""Every key path of the viewer, driven with Textual's pilot on the bundled samples."""

from __future__ import annotations

import pytest
from conftest import sample, screen_text, wait_loaded

from trace_viewer.app.main import TraceViewerApp
from trace_viewer.app.screens.help import HelpScreen
from trace_viewer.app.screens.prompt import PromptScreen
from trace_viewer.app.screens.viewer import ViewerScreen
from trace_viewer.app.widgets.context import ContextPane
from trace_viewer.app.widgets.inspector import InspectorPane
from trace_viewer.app.widgets.timeline import TimelinePane
from trace_viewer.app.widgets.usage import UsagePane
from trace_viewer.model import ConversationItemAnchor, ToolCallAnchor, tag_of

SIZE = (110, 34)


def viewer(app: TraceViewerApp) -> ViewerScreen:
    screen = app.screen
    assert isinstance(screen, ViewerScreen), type(screen)
    return screen


async def test_opens_at_the_last_event_with_root_thread() -> None:
    app = TraceViewerApp(sample("exec_basic"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        screen = viewer(app)
        assert screen.position == screen.session.total > 0
        assert screen.thread_id == screen.session.rollout.root_thread_id
        text = screen_text(app)
        assert f"seq {screen.session.total} / {screen.session.total}" in text
        assert "/root" in text


@pytest.mark.parametrize("keys", [("left", "right"), ("h", "l")])
async def test_step_keys_move_one_event(keys: tuple[str, str]) -> None:
    back, forward = keys
    app = TraceViewerApp(sample("exec_basic"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        screen = viewer(app)
        total = screen.session.total
        await pilot.press(back, back)
        assert screen.position == total - 2
        await pilot.press(forward)
        assert screen.position == total - 1
        assert f"seq {total - 1} / {total}" in screen_text(app)


async def test_first_and_last_keys() -> None:
    app = TraceViewerApp(sample("exec_basic"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        screen = viewer(app)
        for key, expected in (("g", 1), ("G", screen.session.total), ("home", 1), ("end", screen.session.total)):
            await pilot.press(key)
            assert screen.position == expected, key


async def test_model_call_and_turn_jumps() -> None:
    app = TraceViewerApp(sample("tools_multiturn_appserver"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        screen = viewer(app)
        calls = screen.session.seqs_of("inference_started")
        turns = screen.session.seqs_of("codex_turn_started")
        await pilot.press("g", "right_square_bracket")
        assert screen.position == calls[0]
        await pilot.press("right_square_bracket")
        assert screen.position == calls[1]
        await pilot.press("left_square_bracket")
        assert screen.position == calls[0]
        await pilot.press("right_curly_bracket")
        assert screen.position == turns[1]
        await pilot.press("right_curly_bracket")
        assert screen.position == turns[2]
        await pilot.press("left_curly_bracket")
        assert screen.position == turns[1]
        # Past the last turn: the position stays and the event bar says why.
        await pilot.press("G", "right_curly_bracket")
        assert screen.position == screen.session.total
        assert "No next turn" in screen_text(app)


async def test_remote_compaction_jump_shows_the_boundary() -> None:
    app = TraceViewerApp(sample("compaction_remote_midturn"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        screen = viewer(app)
        installed = screen.session.seqs_of("compaction_installed")[0]
        await pilot.press("g", "c")
        assert screen.position == installed
        assert "installed" in screen_text(app)
        # The next model call sees the replacement: the boundary is a rule inside the context.
        await pilot.press("right_square_bracket")
        kinds = [block.kind for block in screen.context.blocks]
        assert "rule" in kinds
        assert "items replaced by" in screen_text(app)
        await pilot.press("C")
        assert screen.position == installed
        await pilot.press("C")
        assert screen.position == installed
        assert "No previous compaction" in screen_text(app)


async def test_local_compaction_is_detected_and_jumped_to() -> None:
    app = TraceViewerApp(sample("compaction_local_manual"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        screen = viewer(app)
        local = screen.session.local_compactions[0]
        await pilot.press("g", "c")
        assert screen.position == local.seq
        text = screen_text(app)
        assert "local compaction" in text and "dropped" in text
        rule = next(b for b in screen.context.blocks if b.kind == "rule")
        assert rule.current


async def test_before_after_toggle_reveals_replaced_items() -> None:
    app = TraceViewerApp(sample("compaction_remote_midturn"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        screen = viewer(app)
        assert not any(b.mark == "replaced" for b in screen.context.blocks)
        await pilot.press("b")
        replaced = [b for b in screen.context.blocks if b.mark == "replaced"]
        assert replaced
        await pilot.press("b")
        assert not any(b.mark == "replaced" for b in screen.context.blocks)


async def test_goto_prompt() -> None:
    app = TraceViewerApp(sample("exec_basic"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        screen = viewer(app)
        await pilot.press("colon")
        assert isinstance(app.screen, PromptScreen)
        await pilot.press("7", "enter")
        assert app.screen is screen
        assert screen.position == 7
        await pilot.press("colon", "x", "enter")
        assert screen.position == 7
        await pilot.press("colon", "escape")
        assert app.screen is screen


async def test_search_and_hit_navigation() -> None:
    app = TraceViewerApp(sample("exec_basic"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        screen = viewer(app)
        await pilot.press("g", "slash")
        for char in "hello":
            await pilot.press(char)
        await pilot.press("enter")
        search = screen.view.search
        assert search is not None and search.hits
        _, _, first_item = search.hits[search.index]
        assert screen.position == screen.session.first_in_context(first_item)
        selected = screen.context.selected_block()
        assert selected is not None and selected.item_id == first_item
        assert f"hit 1/{len(search.hits)}" in screen_text(app)
        await pilot.press("n")
        assert screen.view.search.index == 1 % len(search.hits)
        await pilot.press("N")
        assert screen.view.search.index == 0
        # Moving on clears the badge; n picks the hits up again.
        await pilot.press("right")
        assert "hit 1/" not in screen_text(app)
        await pilot.press("n")
        assert f"hit {screen.view.search.index + 1}/" in screen_text(app)


async def test_search_highlights_the_match_inside_the_text() -> None:
    app = TraceViewerApp(sample("exec_basic"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        screen = viewer(app)
        screen.run_search("hello")
        await pilot.pause()
        match_style = screen.tv_palette["match"]
        pane = screen.context
        highlighted = [
            segment.text
            for y in range(pane.size.height)
            for segment in pane.render_line(y)
            if segment.style is not None and segment.style.underline and match_style.underline
        ]
        assert any(text.lower() == "hello" for text in highlighted), highlighted


async def test_search_filters_narrow_the_view_and_bad_regex() -> None:
    app = TraceViewerApp(sample("exec_basic"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        screen = viewer(app)
        screen.run_search("role:user")
        await pilot.pause()
        items = screen.session.rollout.conversation_items
        hits = screen.view.search.hits
        assert hits and all(items[item_id].role == "user" for _, _, item_id in hits)
        # The context pane shows only user items now, with a notice saying so.
        shown = [b for b in screen.context.blocks if b.kind == "item"]
        assert shown and all(items[b.item_id].role == "user" for b in shown)
        assert screen.context.blocks[0].text.startswith("Filter role:user")
        assert "[filter role:user]" in screen_text(app)
        screen.run_search("(unclosed")
        await pilot.pause()
        assert screen.view.search.query == "role:user"  # an invalid regex leaves the search as it was
        screen.run_search("")
        await pilot.pause()
        assert screen.view.search is None
        assert any(items[b.item_id].role != "user" for b in screen.context.blocks if b.kind == "item")


async def test_diff_toggle() -> None:
    app = TraceViewerApp(sample("tools_multiturn_appserver"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        screen = viewer(app)
        calls = screen.session.seqs_of("inference_started")
        screen.goto(calls[1])
        await pilot.press("d")
        assert screen.view.diff
        notice = screen.context.blocks[0]
        assert notice.kind == "notice" and notice.text.startswith("Diff since model call")
        # `d` opens on the diff's header.
        assert screen.context.scroll_offset.y == 0
        assert "Diff since model call" in screen_text(app)
        marks = {b.mark for b in screen.context.blocks if b.kind == "item"}
        assert "added" in marks and "kept" in marks
        await pilot.press("d")
        assert not screen.view.diff
        assert all(b.mark not in ("added", "kept") for b in screen.context.blocks)


async def test_inspector_shows_event_and_payload() -> None:
    app = TraceViewerApp(sample("exec_basic"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        screen = viewer(app)
        first_call = screen.session.seqs_of("inference_started")[0]
        screen.goto(first_call)
        await pilot.press("i")
        inspector = app.screen.query_one(InspectorPane)
        assert inspector.display
        lines = [text for _, text in inspector.lines]
        assert any(f'"seq": {first_call}' in line for line in lines)
        assert any(line.startswith("payload raw_payload:") for line in lines)
        assert '"seq"' in screen_text(app)
        await pilot.press("i")
        assert not inspector.display


async def test_usage_pane() -> None:
    app = TraceViewerApp(sample("exec_basic"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await pilot.press("u")
        usage = app.screen.query_one(UsagePane)
        assert usage.display
        text = screen_text(app)
        assert "context/call" in text and "in " in text
        await pilot.press("u")
        assert not usage.display


async def test_thread_cycling_on_multi_agent() -> None:
    app = TraceViewerApp(sample("agents_minimal"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        screen = viewer(app)
        root = screen.thread_id
        await pilot.press("t")
        assert screen.thread_id != root
        child = screen.session.rollout.threads[screen.thread_id]
        assert tag_of(child.origin) == "spawned"
        assert child.agent_path in screen_text(app)
        await pilot.press("T")
        assert screen.thread_id == root


async def test_edge_from_spawn_to_child_and_back() -> None:
    app = TraceViewerApp(sample("agents_minimal"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        screen = viewer(app)
        spawn = next(e for e in screen.session.rollout.interaction_edges.values() if e.kind == "spawn_agent")
        assert isinstance(spawn.source, ToolCallAnchor) and isinstance(spawn.target, ConversationItemAnchor)
        tool = screen.session.rollout.tool_calls[spawn.source.tool_call_id]
        screen.goto(tool.execution.started_seq)
        before = (screen.position, screen.thread_id)
        await pilot.press("e")
        target = spawn.target.item_id
        item = screen.session.rollout.conversation_items[target]
        assert screen.thread_id == item.thread_id != before[1]
        assert screen.position == screen.session.first_in_context(target)
        assert screen.context.selected_block().item_id == target
        await pilot.press("E")
        assert (screen.position, screen.thread_id) == before


async def test_agent_result_edge_goes_to_parent_notification() -> None:
    app = TraceViewerApp(sample("agents_minimal"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        screen = viewer(app)
        result = next(e for e in screen.session.rollout.interaction_edges.values() if e.kind == "agent_result")
        assert isinstance(result.source, ConversationItemAnchor) and isinstance(result.target, ConversationItemAnchor)
        source = result.source.item_id
        items = screen.session.rollout.conversation_items
        screen.goto(screen.session.total, thread_id=items[source].thread_id)
        screen.context.focus()
        await pilot.pause()
        assert screen.context.select_item(source)
        await pilot.press("e")
        parent_item = result.target.item_id
        assert screen.thread_id == items[parent_item].thread_id
        selected = screen.context.selected_block()
        assert selected is not None and selected.item_id == parent_item


async def test_tab_moves_focus_between_panes() -> None:
    app = TraceViewerApp(sample("exec_basic"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        assert isinstance(app.focused, ContextPane)
        await pilot.press("tab")
        assert isinstance(app.focused, TimelinePane)
        await pilot.press("tab")
        assert isinstance(app.focused, ContextPane)


async def test_enter_on_timeline_row_jumps() -> None:
    app = TraceViewerApp(sample("exec_basic"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        screen = viewer(app)
        timeline = screen.timeline
        timeline.focus()
        await pilot.pause()
        timeline.move_cursor(1)
        row = timeline.blocks[1]
        await pilot.press("enter")
        assert screen.position == row.start_seq
        await pilot.press("down")
        row = timeline.blocks[timeline.cursor]
        await pilot.press("enter")
        assert screen.position == row.start_seq


async def test_timeline_fold_with_space() -> None:
    app = TraceViewerApp(sample("exec_basic"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        timeline = viewer(app).timeline
        timeline.focus()
        shown = len(timeline.blocks)
        timeline.move_cursor(0)
        await pilot.press("space")
        assert len(timeline.blocks) == 1
        await pilot.press("space")
        assert len(timeline.blocks) == shown


async def test_mouse_click_on_timeline_row_jumps() -> None:
    app = TraceViewerApp(sample("exec_basic"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        screen = viewer(app)
        row = screen.timeline.blocks[1]
        # Row 1 of the pane's content: one border row above it.
        await pilot.click(TimelinePane, offset=(5, 2))
        assert screen.position == row.start_seq


async def test_context_item_expands_on_enter() -> None:
    app = TraceViewerApp(sample("exec_basic"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        context = viewer(app).context
        context.focus()
        context.move_cursor(0)
        key = context.blocks[0].key
        height = context._heights[0]
        await pilot.press("enter")
        assert key in context.expanded
        assert context._heights[0] > height  # the system prompt is long
        await pilot.press("enter")
        assert key not in context.expanded


async def test_provenance_toggle() -> None:
    app = TraceViewerApp(sample("exec_basic"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        assert "produced by" not in screen_text(app)
        await pilot.press("p")
        assert "produced by" in screen_text(app)


async def test_follow_toggle() -> None:
    app = TraceViewerApp(sample("exec_basic"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        screen = viewer(app)
        await pilot.press("f")
        assert screen.following and screen.session.follow
        assert "[follow]" in screen_text(app)
        await pilot.press("f")
        assert not screen.following


async def test_help_screen() -> None:
    app = TraceViewerApp(sample("exec_basic"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        assert "Next model call" in text
        # The legend of the status glyphs comes first.
        assert "Status glyphs" in text
        for glyph in ("●", "✓", "✗", "⊘", "⇊", "▌"):
            assert any(line.strip().startswith(glyph) for line in text.replace("│", "").splitlines()), glyph
        await pilot.press("escape")
        assert isinstance(app.screen, ViewerScreen)


async def test_command_palette_lists_and_runs_actions() -> None:
    app = TraceViewerApp(sample("exec_basic"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        screen = viewer(app)
        titles = [command.title for command in app.get_system_commands(screen)]
        for expected in ("Next event", "Diff", "Inspector", "Search", "Follow edge", "Quit"):
            assert expected in titles
        await pilot.press("ctrl+p")
        await pilot.pause()
        for char in "First event":
            await pilot.press(char if char != " " else "space")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert screen.position == 1


async def test_quit_key() -> None:
    app = TraceViewerApp(sample("exec_basic"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_broken_bundle_opens_at_the_fault_and_is_browsable() -> None:
    app = TraceViewerApp(sample("broken_last_line_cut"))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        screen = viewer(app)
        fault = screen.session.fault
        assert fault is not None
        text = screen_text(app)
        assert f"line {fault.line}" in text
        assert "cut off" in text
        assert screen.timeline.blocks[-1].kind == "fault"
        assert screen.context.blocks[-1].kind == "fault"
        await pilot.press("h", "h", "left_square_bracket")
        assert screen.position < screen.session.total
        assert screen.context.blocks[-1].kind != "fault"


async def test_small_terminal_80x24_shows_all_parts() -> None:
    app = TraceViewerApp(sample("compaction_remote_midturn"))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        text = screen_text(app)
        for part in ("trace ", "seq ", "Timeline", "Context", "/root"):
            assert part in text


async def test_theme_change_restyles_the_panes() -> None:
    app = TraceViewerApp(sample("exec_basic"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        screen = viewer(app)
        before = screen.context.palette()["role-user"]
        app.theme = "textual-light"
        await pilot.pause()
        after = screen.context.palette()["role-user"]
        assert after != before
        assert "/root" in screen_text(app)
