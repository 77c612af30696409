"""Every corpus bundle opens, scrubs end to end and survives every key, without a traceback.

Skipped when ../shared/corpus is not next to the repository (the samples are covered elsewhere).
One app opens every bundle in turn (a screen per bundle), which keeps the sweep fast.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import CORPUS, ROOT, sample, wait_loaded

from trace_viewer.app.main import TraceViewerApp
from trace_viewer.app.screens.viewer import ViewerScreen
from trace_viewer.session import ReplaySession

CORPUS_SCHEMA1 = ROOT.parent / "shared" / "corpus-schema1"
CASES = sorted(
    root / name
    for root in (CORPUS, CORPUS_SCHEMA1)
    if root.is_dir()
    for name in os.listdir(root)
    if (root / name / "manifest.json").is_file()
)
# Every view switched on at once, then moved through: a traceback anywhere fails the sweep.
KEYS = ["d", "i", "b", "g", "c", "e", "t", "G"]


@pytest.mark.skipif(not CASES, reason="../shared/corpus not available")
async def test_every_corpus_bundle_scrubs_end_to_end() -> None:
    app = TraceViewerApp(sample("exec_basic"))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        for path in CASES:
            screen = ViewerScreen(ReplaySession(Path(path)))
            await app.push_screen(screen)
            await wait_loaded(pilot, timeout=30)
            session = screen.session
            step = max(1, session.total // 25)
            for position in [*range(1, session.total + 1, step), session.total]:
                for thread_id in session.rollout["threads"]:
                    screen.goto(position, thread_id=thread_id)
                    shown = [b.item_id for b in screen.context.blocks if b.kind == "item" and b.mark != "replaced"]
                    assert shown == list(session.context_at(thread_id, position)), (path.name, position, thread_id)
            for key in KEYS:
                await pilot.press(key)
            await pilot.pause()
            assert app.is_running, path.name
            assert app.screen is screen, path.name
            app.pop_screen()
            await pilot.pause()
