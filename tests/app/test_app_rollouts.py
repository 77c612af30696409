"""The viewer on session rollouts: a file, a sessions tree, the newest session by default, following."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from conftest import SAMPLES, screen_text, wait_loaded
from textual.widgets import DataTable

from trace_viewer.app.locate import resolve_target
from trace_viewer.app.main import TraceViewerApp
from trace_viewer.app.screens.sessions import SessionsPickerScreen
from trace_viewer.app.screens.viewer import ViewerScreen
from trace_viewer.rollout_session import RolloutSession

ROLLOUTS = SAMPLES / "rollouts"


def rollout(case: str, contains: str = "") -> Path:
    files = sorted((ROLLOUTS / case / "sessions").rglob("rollout-*.jsonl"))
    if not files:
        pytest.skip(f"sample_traces/rollouts/{case} is not present")
    return next(f for f in files if contains in f.name)


async def test_a_rollout_file_opens_in_the_viewer_with_its_compaction() -> None:
    path = rollout("compaction_remote_manual")
    app = TraceViewerApp(path)
    async with app.run_test(size=(150, 40)) as pilot:
        await wait_loaded(pilot)
        screen = app.screen
        assert isinstance(screen, ViewerScreen) and isinstance(screen.session, RolloutSession)
        session = screen.session
        assert session.fault is None and session.total == 50
        await pilot.press("g", "c")  # first event, then the next compaction
        await pilot.pause()
        (compaction,) = session.rollout.compactions.values()
        assert screen.view.position == session.first_seq(compaction.compaction_id)
        assert "compaction" in screen_text(app)
        await pilot.press("right_square_bracket")  # the next model call: after the compaction
        await pilot.pause()
        assert screen.view.position in session.seqs_of("inference_started")
        await pilot.press("i")  # the inspector names the rollout file and shows the raw line
        await pilot.pause()
        text = screen_text(app)
        assert path.name[:30] in text and "rollout_record" in text


async def test_the_matching_bundle_is_offered_and_opens_with_B() -> None:
    app = TraceViewerApp(rollout("exec_basic"))
    async with app.run_test(size=(150, 40)) as pilot:
        await wait_loaded(pilot)
        assert isinstance(app.screen, ViewerScreen) and isinstance(app.screen.session, RolloutSession)
        await pilot.press("B")
        await wait_loaded(pilot)
        await pilot.pause(0.1)
        screen = app.screen
        assert isinstance(screen, ViewerScreen) and not isinstance(screen.session, RolloutSession)
        assert screen.session.path == ROLLOUTS / "exec_basic" / "bundle"


async def test_a_sessions_tree_opens_the_picker_with_sub_agents_under_their_parent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    home = tmp_path / ".codex"
    for case in ("agents_full", "exec_basic", "tools_multiturn_resume"):
        shutil.copytree(ROLLOUTS / case / "sessions", home / "sessions", dirs_exist_ok=True)
    target = resolve_target(str(home / "sessions"))
    assert target.sessions and target.error is None
    app = TraceViewerApp(target.path, sessions=True)
    async with app.run_test(size=(160, 30)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SessionsPickerScreen)
        assert screen.query_one(DataTable).row_count == 5
        assert [depth for depth, _ in screen.rows] == [0, 0, 1, 1, 0]
        text = screen_text(app)
        assert "First: say turn 1." in text and "/root/worker_a" in text
        assert "Sessions under ~/.codex/sessions" in text and str(tmp_path) not in text  # the home shown as ~
        await pilot.press("down", "enter")  # the multi-agent session (second newest)
        await wait_loaded(pilot)
        viewer = app.screen
        assert isinstance(viewer, ViewerScreen) and len(viewer.session.rollout.threads) == 3
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, SessionsPickerScreen)


def test_no_argument_opens_the_newest_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CODEX_ROLLOUT_TRACE_ROOT", raising=False)
    home = tmp_path / "home"
    shutil.copytree(ROLLOUTS / "exec_basic" / "sessions", home / "sessions")
    monkeypatch.setenv("CODEX_HOME", str(home))
    target = resolve_target(None)
    assert target.error is None and target.path.suffix == ".jsonl" and not target.picker
    assert target.note is not None and "newest session" in target.note


async def test_following_a_growing_session(tmp_path: Path) -> None:
    source = rollout("compaction_local_midturn")
    day = tmp_path / "sessions" / "2026" / "12" / "01"
    day.mkdir(parents=True)
    target = day / source.name
    lines = source.read_bytes().splitlines(keepends=True)
    target.write_bytes(b"".join(lines[:10]))
    app = TraceViewerApp(target, follow=True)
    async with app.run_test(size=(140, 36)) as pilot:
        await wait_loaded(pilot)
        screen = app.screen
        assert isinstance(screen, ViewerScreen) and screen.following
        assert screen.session.total == 10
        for raw in lines[10:]:
            with target.open("ab") as handle:
                handle.write(raw[: len(raw) // 2])
                handle.flush()
                handle.write(raw[len(raw) // 2 :])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while screen.session.total < len(lines) and loop.time() < deadline:
            await pilot.pause(0.05)
        assert screen.session.total == len(lines) and screen.session.fault is None
        assert screen.view.position == len(lines)  # pinned to the newest line
        assert len(screen.session.rollout.compactions) == 1
