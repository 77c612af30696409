"""Noticing that a bundle or a trace root changed, through ``watchfiles``.

``watchfiles`` watches natively on every platform Codex users work on (inotify
on Linux, FSEvents on macOS, ReadDirectoryChangesW on Windows) from a Rust
thread, so waiting costs no Python time. What changed is not interpreted here:
the reader (``event_log``) finds out what is new by reading; a change only says
"look again". Two ways in:

* ``watch_changes`` — an async iterator, for the viewer's workers;
* ``Watcher`` — a blocking ``wait(timeout)``, for scripts, tests and benchmarks.

Also ``BundleArrivals``: which bundles appeared under a root since the last look.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Self

import watchfiles

from trace_viewer.bundle.discovery import find_bundle_dirs
from trace_viewer.bundle.manifest import load_manifest
from trace_viewer.errors import BundleError

# How often the Rust side looks for new events, and groups them: a write reaches the reader
# after one to two steps. Idle, the watching thread sleeps between steps (no Python runs).
STEP_MS = 20
# Changes arriving continuously are still delivered at least this often.
DEBOUNCE_MS = 50
# The Rust call returns this often even with nothing to report (to notice a stop request).
WAKE_MS = 1000


async def watch_changes(
    path: str | os.PathLike[str],
    *,
    stop_event: asyncio.Event | None = None,
    step_ms: int = STEP_MS,
    debounce_ms: int = DEBOUNCE_MS,
) -> AsyncIterator[set[str]]:
    """Yield the set of changed paths under ``path`` (recursively) each time something changes.

    Raises ``FileNotFoundError`` when ``path`` does not exist. Cancelling the task stops the watch.
    """
    if not os.path.isdir(path):
        raise FileNotFoundError(f"cannot watch {path}: not a directory")
    async for changes in watchfiles.awatch(
        Path(path),
        watch_filter=None,
        debounce=debounce_ms,
        step=step_ms,
        stop_event=stop_event,
        rust_timeout=WAKE_MS,
    ):
        yield {changed for _, changed in changes}


class Watcher:
    """A blocking view of ``watch_changes``: ``wait`` returns True once something changed since the last wait.

    A thread runs the watch for the watcher's lifetime, so a change landing
    between two waits is never lost.
    """

    def __init__(self, path: str | os.PathLike[str], *, step_ms: int = STEP_MS) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise FileNotFoundError(f"cannot watch {path}: not a directory")
        self._changed = threading.Event()
        self._stop = threading.Event()
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(step_ms,), name=f"watch {self.path.name}", daemon=True)
        self._thread.start()
        self._started.wait(5.0)

    def _run(self, step_ms: int) -> None:
        try:
            watch = watchfiles.watch(
                self.path,
                watch_filter=None,
                debounce=DEBOUNCE_MS,
                step=step_ms,
                stop_event=self._stop,
                rust_timeout=WAKE_MS,
                yield_on_timeout=True,
            )
            self._started.set()
            for changes in watch:
                if changes:
                    self._changed.set()
        except BaseException as error:  # noqa: BLE001 - reported by the next wait
            self._error = error
            self._changed.set()
        finally:
            self._started.set()

    def __repr__(self) -> str:
        return f"Watcher({str(self.path)!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._stop.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until something changed (True) or ``timeout`` seconds passed (False)."""
        changed = self._changed.wait(timeout)
        self._changed.clear()
        if self._error is not None:
            error, self._error = self._error, None
            raise OSError(f"watching {self.path} failed: {error}") from error
        return changed and not self.closed

    def wake(self) -> None:
        """End a blocked ``wait`` now (it returns True)."""
        self._changed.set()

    def close(self) -> None:
        self._stop.set()
        self._changed.set()
        self._thread.join(timeout=2.0)


def watch_bundle(path: str | os.PathLike[str]) -> Watcher:
    """Watch one bundle: the log growing or being replaced, the manifest appearing, payload files written."""
    return Watcher(path)


def watch_root(path: str | os.PathLike[str]) -> Watcher:
    """Watch a trace root: bundles appearing under it, their manifests completing, their logs growing."""
    return Watcher(path)


# ----- bundles appearing under a root ------------------------------------------------------------


def manifest_ready(bundle_dir: str | os.PathLike[str]) -> bool:
    """The bundle's manifest exists and validates (Codex writes it in many small writes: it can be caught half-done)."""
    try:
        load_manifest(bundle_dir)
    except BundleError:
        return False
    return True


class BundleArrivals:
    """Which bundles under a trace root appeared since the last look, once their manifest is complete.

    ``known`` bundles (by default, those present now) are never reported; a new
    directory whose manifest is still missing or half-written is reported on a
    later ``check`` once it validates.
    """

    def __init__(
        self, root: str | os.PathLike[str], *, known: Iterable[Path] | None = None, max_depth: int = 2
    ) -> None:
        self.root = Path(root)
        self.max_depth = max_depth
        self.known: set[Path] = set(known) if known is not None else set(find_bundle_dirs(self.root, max_depth))

    def check(self) -> list[Path]:
        """New complete bundles, newest start first."""
        arrived: list[tuple[int, str, Path]] = []
        # A directory is a candidate once its manifest file exists (even empty); one not yet
        # complete is skipped now and looked at again next time.
        for candidate in find_bundle_dirs(self.root, self.max_depth):
            if candidate in self.known:
                continue
            try:
                manifest = load_manifest(candidate)
            except BundleError:
                continue
            self.known.add(candidate)
            arrived.append((-int(manifest["started_at_unix_ms"]), candidate.name, candidate))
        return [path for _, _, path in sorted(arrived)]


__all__ = [
    "BundleArrivals",
    "Watcher",
    "manifest_ready",
    "watch_bundle",
    "watch_changes",
    "watch_root",
]
