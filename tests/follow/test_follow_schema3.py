"""Following a schema 3 bundle while it is written, without the UI: ``ReplaySession(follow=True)``.

The writer re-encodes a 0.171.0 bundle the way that Codex writes one (``writer.py``): each record
compressed and flushed as its own zstd block before the line citing it, the open shard an
unfinished frame, a new shard past a (here small) size after the old one is finished, torn trace
lines. The follower polls on every wake-up and must end in exactly the offline state, having fed
each shard's bytes to one decompressor: no shard is ever read again from its start.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import zstandard

from follow.test_follow_session import DEADLINE_S, follow_bundle, source_events
from follow.writer import WriterOptions, WriterThread
from trace_viewer.bundle.watcher import watch_bundle
from trace_viewer.reducer.replay import reduce_bundle
from trace_viewer.session import ReplaySession

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "sample_traces"
SCHEMA3 = [
    "schema3_exec_basic",
    "schema3_agents_minimal",
    "schema3_compaction_remote_midturn",
    "schema3_tools_code_mode",
]
pytestmark = pytest.mark.skipif(
    not all((SAMPLES / name).is_dir() for name in SCHEMA3), reason="needs the sample_traces/schema3_* bundles"
)

CASES = [
    # Small shards (Codex rotates at 8 MiB; these samples hold under 1 MiB of records): several rotations.
    ("schema3_exec_basic", WriterOptions(seed=21, shard_bytes=48 << 10)),
    ("schema3_exec_basic", WriterOptions(seed=22, shard_bytes=16 << 10, split_records=0.5, max_chunks=8)),
    ("schema3_agents_minimal", WriterOptions(seed=23, shard_bytes=40 << 10, event_delay=0.002)),
    ("schema3_compaction_remote_midturn", WriterOptions(seed=24, shard_bytes=64 << 10, split_records=0.3)),
    ("schema3_tools_code_mode", WriterOptions(seed=25, shard_bytes=100 << 10, event_delay=0.002)),
]


def start(source: Path, dest: Path, options: WriterOptions, holds: tuple[int, ...] = ()) -> WriterThread:
    writer = WriterThread(source, dest, options, holds=holds)
    writer.start()
    while not (dest / "trace.jsonl").exists() and writer.is_alive():
        time.sleep(0.005)  # the manifest is complete once the log exists (Codex's order)
    return writer


def shard_files(bundle: Path) -> list[Path]:
    return sorted((bundle / "payloads").glob("*.zst"))


@pytest.mark.parametrize(("name", "options"), CASES, ids=[f"{name}-{opts.seed}" for name, opts in CASES])
def test_following_a_schema3_bundle_ends_in_the_offline_state(
    tmp_path: Path, name: str, options: WriterOptions
) -> None:
    source = SAMPLES / name
    dest = tmp_path / name
    events = source_events(source)
    holds = (len(events) // 3, 2 * len(events) // 3)  # the writer waits there until the follower read it all
    writer = start(source, dest, options, holds=holds)
    followed = follow_bundle(dest, writer.is_alive, writer=writer)
    writer.join()
    assert writer.error is None
    session = followed.session
    assert [record.seq for record in session.records] == list(range(1, len(events) + 1))
    offline = reduce_bundle(dest)
    assert offline.fault is None, offline.fault
    assert session.reducer.to_json() == offline.to_json()
    # It grew step by step while being written: at each hold, everything written so far was read.
    assert followed.totals_at_holds == list(holds)
    shards = shard_files(dest)
    assert len(shards) >= 3, "the writer rotated"
    reader = session.replay.bundle.payloads.shards
    assert reader.decompressions == len(shards), "each shard was fed once, never read again from its start"
    # Rotation renumbered the shards, and nothing else: the source's own reduction, shards aside.
    expected = reduce_bundle(source).to_json()
    for payload in expected["raw_payloads"].values():
        payload.pop("shard", None)
        for part in payload.get("parts", []):
            part.pop("shard", None)
    got = offline.to_json()
    for payload in got["raw_payloads"].values():
        payload.pop("shard", None)
        for part in payload.get("parts", []):
            part.pop("shard", None)
    assert got == expected


def test_a_bundle_killed_mid_run_opens_with_everything_complete(tmp_path: Path) -> None:
    """A writer stopped for good leaves its newest shard an unfinished frame: 0.171.0 accepts the
    bundle (running, unclosed); so do we, with every complete event."""
    source = SAMPLES / "schema3_tools_code_mode"
    dest = tmp_path / "killed"
    stop_at = len(source_events(source)) * 2 // 3
    writer = start(source, dest, WriterOptions(seed=26, shard_bytes=64 << 10), holds=(stop_at,))
    assert writer.wait_held(stop_at, DEADLINE_S), "the writer never reached its hold"
    writer.stop()
    assert writer.error is None
    newest = zstandard.ZstdDecompressor().decompressobj()
    newest.decompress(shard_files(dest)[-1].read_bytes())
    assert not newest.eof and len(shard_files(dest)) >= 2, "the newest shard is an unfinished frame"
    offline = reduce_bundle(dest)
    assert offline.fault is None, offline.fault
    state = offline.to_json()
    assert state["recording_status"] == "unclosed" and state["status"] == "running"
    assert offline.events_applied == stop_at
    # The follower, had it watched, ends in the same state.
    session = ReplaySession(dest, follow=True)
    deadline = time.monotonic() + DEADLINE_S
    with watch_bundle(dest) as watcher:
        while session.poll() or session.waiting:
            watcher.wait(timeout=0.05)
            if time.monotonic() > deadline:
                break
    assert session.reducer.to_json() == state


def test_a_follower_ahead_of_a_half_written_record_waits_for_it(tmp_path: Path) -> None:
    """A record's block caught half written (``split_records``: not Codex, a slow disk) is waited for
    like a torn line: never a fault while the writer goes on."""
    source = SAMPLES / "schema3_exec_basic"
    dest = tmp_path / "split"
    options = WriterOptions(seed=27, shard_bytes=32 << 10, split_records=1.0, chunk_delay=0.01)
    writer = start(source, dest, options)
    followed = follow_bundle(dest, writer.is_alive)
    writer.join()
    assert followed.session.reducer.to_json() == reduce_bundle(dest).to_json()
