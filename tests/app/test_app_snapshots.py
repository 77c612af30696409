"""Snapshots of the main screens (fixed terminal size; content comes from fixed sample bundles)."""

from __future__ import annotations

from conftest import sample

from trace_viewer.app.main import TraceViewerApp
from trace_viewer.app.messages import ShowToolCall


def _app(name: str) -> TraceViewerApp:
    return TraceViewerApp(sample(name))


def test_snapshot_end_of_trace_80x24(snap_compare) -> None:
    assert snap_compare(_app("compaction_remote_midturn"), terminal_size=(80, 24))


def test_snapshot_remote_compaction_boundary(snap_compare) -> None:
    # g: first event, c: the install, ]: the next model call, which sees the replacement.
    assert snap_compare(
        _app("compaction_remote_midturn"), press=["g", "c", "right_square_bracket"], terminal_size=(110, 34)
    )


def test_snapshot_local_compaction_boundary(snap_compare) -> None:
    assert snap_compare(_app("compaction_local_manual"), press=["g", "c"], terminal_size=(110, 34))


def test_snapshot_diff(snap_compare) -> None:
    assert snap_compare(
        _app("tools_multiturn_appserver"),
        press=["g", "right_square_bracket", "right_square_bracket", "d"],
        terminal_size=(110, 34),
    )


def test_snapshot_inspector(snap_compare) -> None:
    assert snap_compare(_app("exec_basic"), press=["g", "right_square_bracket", "i"], terminal_size=(110, 34))


def test_snapshot_usage(snap_compare) -> None:
    assert snap_compare(_app("compaction_remote_midturn"), press=["u"], terminal_size=(110, 34))


def test_snapshot_broken_bundle(snap_compare) -> None:
    assert snap_compare(_app("broken_last_line_cut"), terminal_size=(100, 30))


def test_snapshot_child_thread(snap_compare) -> None:
    assert snap_compare(_app("agents_minimal"), press=["t"], terminal_size=(110, 34))


def test_snapshot_help(snap_compare) -> None:
    assert snap_compare(_app("exec_basic"), press=["question_mark"], terminal_size=(100, 34))


def test_snapshot_light_theme(snap_compare) -> None:
    """Every text style comes from the theme: readable in a light one (durations, tokens, ids, seq labels)."""

    async def light(pilot) -> None:
        pilot.app.theme = "catppuccin-latte"
        await pilot.pause()

    assert snap_compare(
        _app("tools_multiturn_appserver"),
        run_before=light,
        press=["g", "right_square_bracket"],
        terminal_size=(110, 34),
    )


def test_snapshot_whole_timeline_with_future_rows_dimmed(snap_compare) -> None:
    # At a running model call: later rows are listed, dimmed; the running call shows no output tokens.
    assert snap_compare(_app("compaction_remote_midturn"), press=["g", "right_square_bracket"], terminal_size=(110, 34))


def test_snapshot_tool_call_detail(snap_compare) -> None:
    async def open_detail(pilot) -> None:
        screen = pilot.app.screen
        tool = next(iter(screen.session.rollout.tool_calls))
        screen.post_message(ShowToolCall(tool))
        await pilot.pause()

    assert snap_compare(_app("tools_terminal"), run_before=open_detail, terminal_size=(110, 34))


def test_snapshot_80x24_timeline_narrowed_and_pane_maximised(snap_compare) -> None:
    assert snap_compare(_app("tools_multiturn_appserver"), press=["less_than_sign", "z"], terminal_size=(80, 24))
