"""The watcher (watchfiles) wakes on the changes a follower cares about, stays asleep otherwise, and stops.

Nothing here measures time. Watching starts when the watcher is created, so a change
made after that is reported however late the test gets round to waiting for it;
``HANG_S`` only keeps a broken watcher from hanging the suite. Latency and idle CPU
are measured by the benchmarks (benchmarks/follow_bench.py, benchmarks/pty_bench.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

import trace_viewer.bundle.watcher as watcher_module
from trace_viewer.bundle.watcher import BundleArrivals, manifest_ready, watch_bundle, watch_changes, watch_root

MANIFEST = {
    "schema_version": 2,
    "trace_id": "trace-1",
    "rollout_id": "rollout-1",
    "root_thread_id": "thread-root",
    "started_at_unix_ms": 1000,
}
HANG_S = 60.0  # a wait that must return is given up on after this: a hang, not a slow machine


def make_bundle(path: Path, *, started: int = 1000) -> Path:
    (path / "payloads").mkdir(parents=True)
    (path / "manifest.json").write_text(json.dumps({**MANIFEST, "started_at_unix_ms": started}))
    (path / "trace.jsonl").write_bytes(b"")
    return path


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as handle:
        handle.write(data)


def replace_log(bundle: Path) -> None:
    (bundle / "trace.jsonl.new").write_bytes(b"{}\n")
    os.replace(bundle / "trace.jsonl.new", bundle / "trace.jsonl")


class CountingNotify:
    """watchfiles' RustNotify, counting the calls that came back to Python and the closes."""

    instances: ClassVar[list[CountingNotify]] = []

    def __init__(self, *args: Any) -> None:
        self.inner = REAL_NOTIFY(*args)
        self.started = 0
        self.returned = 0
        self.closed = threading.Event()
        CountingNotify.instances.append(self)

    def watch(self, *args: Any) -> Any:
        self.started += 1
        result = self.inner.watch(*args)
        self.returned += 1
        return result

    def close(self) -> None:
        self.inner.close()
        self.closed.set()


REAL_NOTIFY = watcher_module.RustNotify


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> list[CountingNotify]:
    CountingNotify.instances = []
    monkeypatch.setattr(watcher_module, "RustNotify", CountingNotify)
    return CountingNotify.instances


# ----- the blocking watcher -------------------------------------------------------------------------


def test_nothing_written_means_no_change(tmp_path: Path) -> None:
    with watch_bundle(make_bundle(tmp_path / "b")) as watcher:
        assert watcher.wait(timeout=0.3) is False


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda bundle: append(bundle / "trace.jsonl", b"{}\n"), id="log grows"),
        pytest.param(lambda bundle: (bundle / "payloads" / "1.json").write_text("{}"), id="payload written"),
        pytest.param(replace_log, id="log replaced"),
        pytest.param(lambda bundle: (bundle / "trace.jsonl").write_bytes(b""), id="log truncated"),
    ],
)
def test_a_change_made_before_the_wait_is_reported(tmp_path: Path, change: Any) -> None:
    bundle = make_bundle(tmp_path / "b")
    append(bundle / "trace.jsonl", b"{}\n{}\n")
    with watch_bundle(bundle) as watcher:
        change(bundle)  # nobody is waiting yet while the change lands
        assert watcher.wait(timeout=HANG_S) is True


def test_a_change_made_during_the_wait_wakes_it(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b")
    with watch_bundle(bundle) as watcher:
        writer = threading.Thread(target=append, args=(bundle / "trace.jsonl", b"{}\n"))
        writer.start()
        assert watcher.wait(timeout=HANG_S) is True
        writer.join()


def test_each_step_of_a_bundle_being_created_is_seen(tmp_path: Path) -> None:
    """The directory, then its manifest, then its log (each step watched by a watcher made after the last)."""
    bundle = tmp_path / "b"
    bundle.mkdir()
    with watch_bundle(bundle) as watcher:
        (bundle / "manifest.json").write_text(json.dumps(MANIFEST))
        assert watcher.wait(timeout=HANG_S) is True
    with watch_bundle(bundle) as watcher:  # the manifest's writes are over: only the log's are reported
        (bundle / "trace.jsonl").write_bytes(b"{}\n")
        assert watcher.wait(timeout=HANG_S) is True


def test_wake_ends_a_wait_and_close_ends_every_wait(tmp_path: Path) -> None:
    watcher = watch_bundle(make_bundle(tmp_path / "b"))
    watcher.wake()  # a wake-up before the wait is not lost
    assert watcher.wait() is True
    results: list[bool] = []
    waiting = threading.Thread(target=lambda: results.append(watcher.wait()))  # no timeout: only close ends it
    waiting.start()
    watcher.close()
    waiting.join(HANG_S)
    assert not waiting.is_alive(), "closing the watcher did not end a blocked wait"
    assert results == [False] and watcher.closed
    assert watcher.wait() is False  # closed: returns at once


def test_idle_the_watching_thread_stays_inside_one_rust_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, counting: list[CountingNotify]
) -> None:
    """No Python runs while nothing changes (the Rust call would return only on its own wake-up period)."""
    monkeypatch.setattr(watcher_module, "WAKE_MS", 3_600_000)
    bundle = make_bundle(tmp_path / "b")
    with watch_bundle(bundle) as watcher:
        assert watcher.wait(timeout=0.5) is False
        (notify,) = counting
        assert (notify.started, notify.returned) == (1, 0)
        append(bundle / "trace.jsonl", b"{}\n")
        assert watcher.wait(timeout=HANG_S) is True
    assert notify.closed.wait(HANG_S), "closing the watcher did not stop its Rust call"
    assert notify.returned == notify.started


def test_a_root_watcher_sees_a_bundle_appear_and_then_its_log_grow(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    with watch_root(root) as watcher:
        make_bundle(root / "2026" / "b1")
        assert watcher.wait(timeout=HANG_S) is True
    with watch_root(root) as watcher:
        append(root / "2026" / "b1" / "trace.jsonl", b"{}\n")
        assert watcher.wait(timeout=HANG_S) is True


def test_watching_a_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        watch_bundle(tmp_path / "nope")


# ----- the async changes (the viewer's workers) -----------------------------------------------------


async def changes_until(changes: AsyncIterator[set[str]], *wanted: Path) -> set[str]:
    """Every changed path reported until all of ``wanted`` are among them."""
    seen: set[str] = set()
    async for changed in changes:
        seen |= changed
        if {str(path) for path in wanted} <= seen:
            break
    return seen


async def test_async_changes_name_the_changed_paths_and_ready_comes_first(tmp_path: Path) -> None:
    """Once ``ready`` is called every later change is reported, with its path, however late the consumer reads.

    (A directory created under the watch is reported itself; what is written inside it in the first
    instant, before the Rust side adds a watch for it, may not be: nothing here relies on that.)
    """
    root = tmp_path / "root"
    old = make_bundle(root / "old")
    events: list[str] = []

    def ready() -> None:
        events.append("ready")
        append(old / "trace.jsonl", b"{}\n")  # written right after the watch is in place, before the first read
        (root / "new").mkdir()

    changes = watch_changes(root, ready=ready)
    seen = await asyncio.wait_for(changes_until(changes, root / "new", old / "trace.jsonl"), HANG_S)
    assert events == ["ready"] and {str(old / "trace.jsonl"), str(root / "new")} <= seen
    (old / "payloads" / "1.json").write_text("{}")
    seen = await asyncio.wait_for(changes_until(changes, old / "payloads" / "1.json"), HANG_S)
    assert str(old / "payloads" / "1.json") in seen
    await changes.aclose()


async def test_async_changes_stop_on_request(tmp_path: Path, counting: list[CountingNotify]) -> None:
    bundle = make_bundle(tmp_path / "b")
    stop = asyncio.Event()

    async def consume() -> set[str]:
        seen: set[str] = set()
        async for changed in watch_changes(
            bundle, stop_event=stop, ready=lambda: append(bundle / "trace.jsonl", b"{}\n")
        ):
            seen |= changed
            stop.set()
        return seen

    seen = await asyncio.wait_for(consume(), HANG_S)
    assert str(bundle / "trace.jsonl") in seen
    (notify,) = counting
    assert notify.closed.is_set()


async def test_cancelling_async_changes_stops_the_watch(tmp_path: Path, counting: list[CountingNotify]) -> None:
    bundle = make_bundle(tmp_path / "b")
    watching = asyncio.Event()

    async def consume() -> None:
        async for _ in watch_changes(bundle, ready=watching.set):
            pass

    task = asyncio.create_task(consume())
    await asyncio.wait_for(watching.wait(), HANG_S)
    await asyncio.sleep(0)  # let the first Rust call start
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (notify,) = counting
    closed = await asyncio.to_thread(notify.closed.wait, HANG_S)
    assert closed, "the cancelled watch's Rust call never ended"


async def test_async_changes_of_a_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        async for _ in watch_changes(tmp_path / "nope"):
            pass


# ----- bundles appearing under a root --------------------------------------------------------------


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
