"""The watcher wakes on the changes a follower cares about, stays asleep otherwise, and stops on request.

Every test runs with both backends (inotify where the kernel has it, and the
stat-polling fallback). Timeouts are generous upper bounds, never measured
latencies: a wake-up is expected well before them.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from trace_viewer.bundle.watcher import BundleArrivals, Watcher, manifest_ready, watch_bundle, watch_root

MANIFEST = {
    "schema_version": 2,
    "trace_id": "trace-1",
    "rollout_id": "rollout-1",
    "root_thread_id": "thread-root",
    "started_at_unix_ms": 1000,
}
SOON = 3.0  # seconds: the "it did wake" bound


def _inotify_available(tmp: Path) -> bool:
    try:
        with Watcher(tmp, depth=0, backend="inotify"):
            return True
    except OSError:
        return False


@pytest.fixture(params=["inotify", "poll"])
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "inotify" and not _inotify_available(tmp_path_factory.mktemp("probe")):
        pytest.skip("inotify is not available on this system")
    return request.param


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
    """Let a background change finish and swallow the rest of its wake-ups (one write can queue several)."""
    thread.join()
    while watcher.wait(timeout=0.1):
        pass


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as handle:
        handle.write(data)


def test_idle_wait_times_out(tmp_path: Path, backend: str) -> None:
    bundle = make_bundle(tmp_path / "b")
    with watch_bundle(bundle, backend=backend) as watcher:
        assert watcher.backend == backend
        begin = time.monotonic()
        assert watcher.wait(timeout=0.3) is False
        assert time.monotonic() - begin >= 0.29


def test_log_growth_wakes(tmp_path: Path, backend: str) -> None:
    bundle = make_bundle(tmp_path / "b")
    with watch_bundle(bundle, backend=backend) as watcher:
        writing = later(0.05, lambda: append(bundle / "trace.jsonl", b'{"seq": 1'))
        assert watcher.wait(timeout=SOON) is True
        settle(watcher, writing)
        # The rest of a torn line is a change too.
        later(0.05, lambda: append(bundle / "trace.jsonl", b"}\n"))
        assert watcher.wait(timeout=SOON) is True


def test_manifest_and_log_appearing_wake(tmp_path: Path, backend: str) -> None:
    bundle = tmp_path / "b"
    (bundle / "payloads").mkdir(parents=True)
    with watch_bundle(bundle, backend=backend) as watcher:
        writing = later(0.05, lambda: (bundle / "manifest.json").write_text(json.dumps(MANIFEST)))
        assert watcher.wait(timeout=SOON) is True
        settle(watcher, writing)
        later(0.05, lambda: (bundle / "trace.jsonl").write_bytes(b"{}\n"))
        assert watcher.wait(timeout=SOON) is True


def test_payload_written_wakes_bundle_watcher(tmp_path: Path, backend: str) -> None:
    bundle = make_bundle(tmp_path / "b")
    with watch_bundle(bundle, backend=backend) as watcher:
        later(0.05, lambda: (bundle / "payloads" / "1.json").write_text("{}"))
        assert watcher.wait(timeout=SOON) is True


def test_replaced_log_wakes(tmp_path: Path, backend: str) -> None:
    bundle = make_bundle(tmp_path / "b")
    append(bundle / "trace.jsonl", b"{}\n")
    with watch_bundle(bundle, backend=backend) as watcher:
        other = tmp_path / "other.jsonl"
        other.write_bytes(b"{}\n")
        later(0.05, lambda: other.replace(bundle / "trace.jsonl"))
        assert watcher.wait(timeout=SOON) is True


def test_root_watcher_sees_a_bundle_appear_and_its_manifest_complete(tmp_path: Path, backend: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    with watch_root(root, growth=False, backend=backend) as watcher:
        arrivals = BundleArrivals(root)
        writing = later(0.05, lambda: (root / "trace-a" / "payloads").mkdir(parents=True))
        assert watcher.wait(timeout=SOON) is True
        settle(watcher, writing)
        # Codex writes the manifest in pieces: half a manifest is not an arrival yet.
        half = json.dumps(MANIFEST).encode()
        writing = later(0.05, lambda: (root / "trace-a" / "manifest.json").write_bytes(half[:20]))
        assert watcher.wait(timeout=SOON) is True
        settle(watcher, writing)
        assert not manifest_ready(root / "trace-a")
        assert arrivals.check() == []
        later(0.05, lambda: (root / "trace-a" / "manifest.json").write_bytes(half))
        deadline = time.monotonic() + SOON
        found: list[Path] = []
        while not found and time.monotonic() < deadline:
            watcher.wait(timeout=0.5)
            found = arrivals.check()
        assert found == [root / "trace-a"]
        assert arrivals.check() == []  # reported once


def test_root_watcher_with_growth_sees_logs_grow_but_not_payloads(tmp_path: Path, backend: str) -> None:
    root = tmp_path / "root"
    bundle = make_bundle(root / "trace-a")
    with watch_root(root, backend=backend) as watcher:
        writing = later(0.05, lambda: append(bundle / "trace.jsonl", b"{}\n"))
        assert watcher.wait(timeout=SOON) is True
        settle(watcher, writing)
        (bundle / "payloads" / "1.json").write_text("{}")
        assert watcher.wait(timeout=0.4) is False


def test_arrivals_order_newest_start_first_and_ignore_existing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    make_bundle(root / "old")
    arrivals = BundleArrivals(root)
    make_bundle(root / "x-early", started=2000)
    make_bundle(root / "a-late", started=3000)
    assert arrivals.check() == [root / "a-late", root / "x-early"]
    everything = BundleArrivals(root, known=())
    assert set(everything.check()) == {root / "old", root / "a-late", root / "x-early"}


def test_wake_and_close_interrupt_a_blocked_wait(tmp_path: Path, backend: str) -> None:
    bundle = make_bundle(tmp_path / "b")
    watcher = watch_bundle(bundle, backend=backend)
    later(0.1, watcher.wake)
    begin = time.monotonic()
    assert watcher.wait(timeout=10) is False
    assert time.monotonic() - begin < SOON
    later(0.1, watcher.close)
    begin = time.monotonic()
    assert watcher.wait(timeout=10) is False
    assert time.monotonic() - begin < SOON
    assert watcher.closed and watcher.wait(timeout=0) is False


async def test_async_wait(tmp_path: Path, backend: str) -> None:
    bundle = make_bundle(tmp_path / "b")

    async def scenario() -> tuple[bool, bool, bool]:
        with watch_bundle(bundle, backend=backend) as watcher:
            idle = await watcher.wait_async(timeout=0.2)
            writing = later(0.05, lambda: append(bundle / "trace.jsonl", b"{}\n"))
            changed = await watcher.wait_async(timeout=SOON)
            settle(watcher, writing)
            later(0.05, watcher.wake)
            woken = await watcher.wait_async(timeout=10)
            return idle, changed, woken

    assert await scenario() == (False, True, False)


async def test_async_wait_can_be_cancelled(tmp_path: Path, backend: str) -> None:
    bundle = make_bundle(tmp_path / "b")

    async def scenario() -> bool:
        with watch_bundle(bundle, backend=backend) as watcher:
            task = asyncio.create_task(watcher.wait_async())
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # Still usable after a cancelled wait.
            later(0.05, lambda: append(bundle / "trace.jsonl", b"{}\n"))
            return await watcher.wait_async(timeout=SOON)

    assert await scenario() is True


def test_idle_costs_almost_no_cpu(tmp_path: Path, backend: str) -> None:
    bundle = make_bundle(tmp_path / "b")
    for index in range(200):
        (bundle / "payloads" / f"{index}.json").write_text("{}")
    with watch_bundle(bundle, backend=backend) as watcher:
        before = time.thread_time()
        assert watcher.wait(timeout=0.6) is False
        spent = time.thread_time() - before
    # Polling backs off to 5 checks a second (payload files are not stat-ed); inotify sleeps in the kernel.
    assert spent < 0.03


def test_polling_backs_off_when_idle_and_speeds_up_after_a_change(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b")
    with Watcher(bundle, depth=1, backend="poll", min_interval=0.01, max_interval=0.04) as watcher:
        assert watcher.wait(timeout=0.3) is False
        assert watcher.interval == watcher.max_interval
        later(0.05, lambda: append(bundle / "trace.jsonl", b"{}\n"))
        assert watcher.wait(timeout=SOON) is True
        assert watcher.interval == watcher.min_interval


def test_environment_forces_polling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACE_VIEWER_WATCH", "poll")
    with watch_bundle(make_bundle(tmp_path / "b")) as watcher:
        assert watcher.backend == "poll"
    with pytest.raises(ValueError):
        Watcher(tmp_path, depth=0, backend="fsevents")


def test_watching_a_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError):
        watch_bundle(tmp_path / "nope")
