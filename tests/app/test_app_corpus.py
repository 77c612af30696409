"""Every corpus bundle opens, scrubs end to end and survives every key, without a traceback.

Skipped when ../shared/corpus is not next to the repository (the samples are covered elsewhere).
"""

from __future__ import annotations

import os

import pytest
from conftest import CORPUS, ROOT, wait_loaded

from trace_viewer.app.main import TraceViewerApp
from trace_viewer.app.screens.viewer import ViewerScreen

CORPUS_SCHEMA1 = ROOT.parent / "shared" / "corpus-schema1"
CASES = sorted(
    str(root / name)
    for root in (CORPUS, CORPUS_SCHEMA1)
    if root.is_dir()
    for name in os.listdir(root)
    if (root / name / "manifest.json").is_file()
)
KEYS = ["g", "l", "l", "right_square_bracket", "right_curly_bracket", "c", "d", "i", "u", "t", "e", "E", "b", "p",
        "tab", "enter", "space", "G", "h", "left_square_bracket", "C", "d", "i", "T", "question_mark", "escape"]


@pytest.mark.skipif(not CASES, reason="../shared/corpus not available")
@pytest.mark.parametrize("path", CASES, ids=[os.path.basename(c) for c in CASES])
async def test_corpus_bundle_scrubs_end_to_end(path: str) -> None:
    app = TraceViewerApp(__import__("pathlib").Path(path))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot, timeout=30)
        screen = app.screen
        assert isinstance(screen, ViewerScreen)
        session = screen.session
        step = max(1, session.total // 40)
        for position in [*range(1, session.total + 1, step), session.total]:
            for thread_id in session.rollout["threads"]:
                screen.goto(position, thread_id=thread_id)
                shown = [b.item_id for b in screen.context.blocks if b.kind == "item" and b.mark != "replaced"]
                assert shown == list(session.context_at(thread_id, position)), (position, thread_id)
        for key in KEYS:
            await pilot.press(key)
        await pilot.pause()
        assert app.is_running
