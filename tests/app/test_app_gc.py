"""The app tunes the collector while it runs (see ``gc_policy``) and leaves it as it found it."""

from __future__ import annotations

import gc

from conftest import sample, wait_loaded

from trace_viewer.app import gc_policy
from trace_viewer.app.main import TraceViewerApp


async def test_loaded_state_is_frozen_and_the_policy_undone_on_exit() -> None:
    before = gc.get_threshold()
    app = TraceViewerApp(sample("exec_basic"))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        assert gc.get_threshold()[0] == gc_policy.GEN0_THRESHOLD
        assert gc.get_freeze_count() > 0  # the loaded session is out of the collector's sight
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
