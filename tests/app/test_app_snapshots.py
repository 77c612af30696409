"""Snapshots of the main screens (fixed terminal size; content comes from fixed sample bundles)."""

from __future__ import annotations

from conftest import sample

from trace_viewer.app.main import TraceViewerApp


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
