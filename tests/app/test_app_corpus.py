"""Every corpus bundle opens, scrubs end to end and survives every key, without a traceback.

One test per bundle of ../shared/corpus and ../shared/corpus-schema1, so xdist spreads the sweep
over its workers; a missing corpus shows as a skipped test naming it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import wait_loaded
from corpora import bundles, cases_or_skip, shared

from trace_viewer.app.main import TraceViewerApp
from trace_viewer.app.screens.viewer import ViewerScreen

CASES = cases_or_skip(
    [*bundles(shared("corpus")), *bundles(shared("corpus-schema1"))],
    "corpus",
    "corpus-schema1",
    ids=lambda path: f"{path.parent.name}/{path.name}",
)
# Every view switched on at once, then moved through: a traceback anywhere fails the sweep.
KEYS = ["d", "i", "b", "g", "c", "e", "t", "G"]


@pytest.mark.parametrize("path", CASES)
async def test_corpus_bundle_scrubs_end_to_end(path: Path) -> None:
    app = TraceViewerApp(path)  # never guessed live from file age: the corpus opens as it is on disk
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot, timeout=30)
        screen = app.screen
        assert isinstance(screen, ViewerScreen), type(screen)
        session = screen.session
        step = max(1, session.total // 25)
        for position in [*range(1, session.total + 1, step), session.total]:
            for thread_id in session.rollout.threads:
                screen.goto(position, thread_id=thread_id)
                shown = [b.item_id for b in screen.context.blocks if b.kind == "item" and b.mark != "replaced"]
                assert shown == list(session.context_at(thread_id, position)), (path.name, position, thread_id)
        for key in KEYS:
            await pilot.press(key)
        await pilot.pause()
        assert app.is_running, path.name
        assert app.screen is screen, path.name
