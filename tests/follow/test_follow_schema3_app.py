"""The app following a schema 3 bundle while it is written (zstd shards, Codex 0.171.0's way).

The writer (``writer.py``) re-encodes ``schema3_exec_basic`` as 0.171.0 writes: each record a
flushed zstd block before the line citing it, the open shard an unfinished frame, rotation past a
small size here (several shards), torn trace lines. The app follows with its watcher-driven
worker; at the end its state is the offline reduce, the last message is on screen, and every
shard was fed to one decompressor (none read again from its start).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from follow.test_follow_app import WAIT_S, until, visible_text
from follow.writer import WriterOptions, WriterThread
from trace_viewer.app.main import TraceViewerApp
from trace_viewer.app.screens.viewer import ViewerScreen
from trace_viewer.reducer.replay import reduce_bundle

SAMPLES = Path(__file__).resolve().parents[2] / "sample_traces"
SOURCE = SAMPLES / "schema3_exec_basic"
FINAL_MESSAGE = "All done: printed hello and 2."  # its last assistant message
pytestmark = pytest.mark.skipif(not SOURCE.is_dir(), reason="needs sample_traces/schema3_exec_basic")


@pytest.mark.parametrize("split_records", [0.0, 0.5], ids=["codex-writes", "half-written-blocks"])
async def test_app_follows_a_schema3_bundle_to_the_offline_state(tmp_path: Path, split_records: float) -> None:
    options = WriterOptions(seed=31, event_delay=0.02, shard_bytes=40 << 10, split_records=split_records)
    writer = WriterThread(SOURCE, tmp_path / "live", options, holds=(10,))
    writer.start()
    assert writer.held.wait(WAIT_S), "the writer never reached its hold"
    total = reduce_bundle(SOURCE).events_applied

    async def scenario() -> None:
        app = TraceViewerApp(writer.dest, follow=True)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = app.screen
            assert isinstance(screen, ViewerScreen) and screen.following
            await until(pilot, lambda: screen.session.total == 10, "the first 10 events")
            writer.release()
            await until(pilot, lambda: screen.session.total == total, "every event, while it is written")
            await until(pilot, lambda: screen.position == total, "the position pinned to the newest event")
            writer.join(timeout=WAIT_S)
            assert writer.error is None
            offline = reduce_bundle(writer.dest)
            assert offline.fault is None and screen.session.fault is None
            assert screen.session.reducer.to_json() == offline.to_json()
            shards = sorted((writer.dest / "payloads").glob("*.zst"))
            assert len(shards) >= 3, "the writer rotated"
            replay = screen.session.replay
            assert replay.bundle is not None
            assert replay.bundle.payloads.shards.decompressions == len(shards), "no shard was read twice"
            await until(pilot, lambda: FINAL_MESSAGE in visible_text(screen.context), "the final message on screen")

    try:
        await scenario()
    finally:
        writer.stop()
