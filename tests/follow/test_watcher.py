"""The watcher (watchfiles) wakes on the changes a follower cares about, stays asleep otherwise, and stops.

Timeouts are generous upper bounds, never measured latencies: a wake-up is
expected well before them (benchmarks/follow_bench.py measures latency).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from trace_viewer.bundle.watcher import BundleArrivals, Watcher, manifest_ready, watch_bundle, watch_changes, watch_root

MANIFEST = {
    "schema_version": 2,
    "trace_id": "trace-1",
    "rollout_id": "rollout-1",
    "root_thread_id": "thread-root",
    "started_at_unix_ms": 1000,
}
SOON = 3.0  # seconds: the "it did wake" bound


def make_bundle(path: Path, *, started: int = 1000) -> Path:
    (path / "payloads").mkdir(parents=True)
    (path / "manifest.json").write_text(json.dumps({**MANIFEST, "started_at_unix_ms": started}))
    (path / "trace.jsonl").write_bytes(b"")
    return path


def later(delay: float, action: Callable[[], object]) -> threading.Thread:
    thread = threading.Thread(target=lambda: (time.sleep(delay), action()), daemon=True)
    thread.start()
    return thread


def settle(watcher: Watcher, thread: threading.Thread) -> None:
    """Let a background change finish and swallow the rest of its wake-ups."""
    thread.join()
    while watcher.wait(timeout=0.2):
        pass


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as handle:
        handle.write(data)


def test_idle_wait_times_out(tmp_path: Path) -> None:
    with watch_bundle(make_bundle(tmp_path / "b")) as watcher:
        started = time.monotonic()
        assert watcher.wait(timeout=0.3) is False
        assert time.monotonic() - started >= 0.25


def test_log_growth_wakes(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b")
    with watch_bundle(bundle) as watcher:
        later(0.1, lambda: append(bundle / "trace.jsonl", b"{}\n"))
        assert watcher.wait(timeout=SOON) is True


def test_a_change_between_two_waits_is_not_lost(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b")
    with watch_bundle(bundle) as watcher:
        append(bundle / "trace.jsonl", b"{}\n")
        time.sleep(0.3)  # nobody is waiting while the write lands
        assert watcher.wait(timeout=SOON) is True


def test_manifest_and_log_appearing_wake(tmp_path: Path) -> None:
    bundle = tmp_path / "b"
    bundle.mkdir()
    with watch_bundle(bundle) as watcher:
        thread = later(0.1, lambda: (bundle / "manifest.json").write_text(json.dumps(MANIFEST)))
        assert watcher.wait(timeout=SOON) is True
        settle(watcher, thread)
        later(0.1, lambda: (bundle / "trace.jsonl").write_bytes(b"{}\n"))
        assert watcher.wait(timeout=SOON) is True


def test_payload_written_wakes_bundle_watcher(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b")
    with watch_bundle(bundle) as watcher:
        later(0.1, lambda: (bundle / "payloads" / "1.json").write_text("{}"))
        assert watcher.wait(timeout=SOON) is True


def test_replaced_log_wakes(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b")
    with watch_bundle(bundle) as watcher:

        def replace() -> None:
            (bundle / "trace.jsonl.new").write_bytes(b"{}\n")
            os.replace(bundle / "trace.jsonl.new", bundle / "trace.jsonl")

        later(0.1, replace)
        assert watcher.wait(timeout=SOON) is True


def test_root_watcher_sees_a_bundle_appear_and_its_log_grow(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    with watch_root(root) as watcher:
        thread = later(0.1, lambda: make_bundle(root / "2026" / "b1"))
        assert watcher.wait(timeout=SOON) is True
        settle(watcher, thread)
        later(0.1, lambda: append(root / "2026" / "b1" / "trace.jsonl", b"{}\n"))
        assert watcher.wait(timeout=SOON) is True


def test_arrivals_order_newest_start_first_and_ignore_existing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    make_bundle(root / "old")
    arrivals = BundleArrivals(root)
    make_bundle(root / "a", started=2000)
    make_bundle(root / "b", started=3000)
    (root / "c").mkdir()
    (root / "c" / "manifest.json").write_text('{"schema_version": 2')  # half-written
    assert arrivals.check() == [root / "b", root / "a"]
    assert arrivals.check() == []
    assert not manifest_ready(root / "c")
    (root / "c" / "manifest.json").write_text(json.dumps(MANIFEST))
    assert arrivals.check() == [root / "c"]


def test_wake_and_close_interrupt_a_blocked_wait(tmp_path: Path) -> None:
    watcher = watch_bundle(make_bundle(tmp_path / "b"))
    later(0.1, watcher.wake)
    started = time.monotonic()
    assert watcher.wait(timeout=SOON) is True
    later(0.1, watcher.close)
    watcher.wait(timeout=SOON)
    assert time.monotonic() - started < SOON
    assert watcher.closed


async def test_async_changes_report_the_changed_paths_and_stop_on_request(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b")

    async def scenario() -> set[str]:
        stop = asyncio.Event()
        later(0.2, lambda: append(bundle / "trace.jsonl", b"{}\n"))
        seen: set[str] = set()
        async for changed in watch_changes(bundle, stop_event=stop):
            seen |= changed
            stop.set()
        return seen

    seen = await asyncio.wait_for(scenario(), timeout=SOON * 2)
    assert str(bundle / "trace.jsonl") in seen


async def test_async_changes_can_be_cancelled(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b")

    async def scenario() -> None:
        async def consume() -> None:
            async for _ in watch_changes(bundle):
                pass

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    await asyncio.wait_for(scenario(), timeout=SOON * 2)


def test_idle_costs_almost_no_cpu(tmp_path: Path) -> None:
    """The watching thread sleeps in Rust between its steps: a second of idling costs milliseconds of CPU."""
    bundle = make_bundle(tmp_path / "b")
    for index in range(200):
        (bundle / "payloads" / f"{index}.json").write_text("{}")
    with watch_bundle(bundle) as watcher:
        time.sleep(0.2)
        before = resource.getrusage(resource.RUSAGE_SELF)
        assert watcher.wait(timeout=1.0) is False
        after = resource.getrusage(resource.RUSAGE_SELF)
    spent = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert spent < 0.05, f"{spent * 1000:.1f} ms of CPU in 1 s of idling"


def test_watching_a_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        watch_bundle(tmp_path / "nope")
