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
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Self

from watchfiles._rust_notify import RustNotify

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
# Only when polling is forced (WATCHFILES_FORCE_POLLING, as for watchfiles' own functions).
POLL_DELAY_MS = 300


def _start_watching(path: Path) -> RustNotify:
    """Watch ``path`` recursively from now on: every change after this returns is kept until it is collected.

    watchfiles' own ``watch``/``awatch`` only start watching on their first iteration, so a change
    landing between "watcher created" and "first wait" could be missed; ``RustNotify`` (watchfiles'
    documented Rust backend) installs the watches in its constructor, so here there is no such gap.
    """
    if not path.is_dir():
        raise FileNotFoundError(f"cannot watch {path}: not a directory")
    force_polling = bool(os.environ.get("WATCHFILES_FORCE_POLLING"))  # as watchfiles' own switch
    try:
        return RustNotify([str(path)], False, force_polling, POLL_DELAY_MS, True, False)
    except TypeError:  # watchfiles < 0.21: no ignore_permission_denied argument
        return RustNotify([str(path)], False, force_polling, POLL_DELAY_MS, True)  # type: ignore[call-arg]


class _Stop:
    """What ``RustNotify.watch`` checks on every step: our own stop, or the caller's."""

    def __init__(self, other: asyncio.Event | threading.Event | None = None) -> None:
        self.own = threading.Event()
        self.other = other

    def is_set(self) -> bool:
        return self.own.is_set() or (self.other is not None and self.other.is_set())


async def watch_changes(
    path: str | os.PathLike[str],
    *,
    stop_event: asyncio.Event | None = None,
    step_ms: int = STEP_MS,
    debounce_ms: int = DEBOUNCE_MS,
    ready: Callable[[], object] | None = None,
) -> AsyncIterator[set[str]]:
    """Yield the set of changed paths under ``path`` (recursively) each time something changes.

    ``ready`` is called once the watch is in place: whatever was written before that is on disk
    already (read it then), whatever is written after it is reported. Raises ``FileNotFoundError``
    when ``path`` does not exist. Cancelling the task (or setting ``stop_event``) stops the watch.
    """
    notify = _start_watching(Path(path))
    stop = _Stop(stop_event)
    in_flight = False

    def step() -> set[tuple[int, str]] | str:
        result = notify.watch(debounce_ms, step_ms, WAKE_MS, stop)
        if stop.is_set():
            notify.close()  # here, not on the loop: closing while a watch call runs fails in some versions
        return result

    try:
        if ready is not None:
            ready()
        while not stop.is_set():
            in_flight = True
            try:
                result = await asyncio.to_thread(step)
            except asyncio.CancelledError:
                stop.own.set()  # the thread's call returns within a step, and closes the watch
                raise
            in_flight = False
            if isinstance(result, set) and result:
                yield {changed for _, changed in result}
    finally:
        stop.own.set()
        if not in_flight:
            notify.close()


class Watcher:
    """A blocking view of the watch: ``wait`` returns True once something changed since the last wait.

    Watching starts in the constructor, and a thread collects changes for the watcher's lifetime,
    so a change landing after the constructor returns (between two waits, too) is never lost.
    """

    def __init__(self, path: str | os.PathLike[str], *, step_ms: int = STEP_MS) -> None:
        self.path = Path(path)
        self._notify = _start_watching(self.path)
        self._changed = threading.Event()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(step_ms,), name=f"watch {self.path.name}", daemon=True)
        self._thread.start()

    def _run(self, step_ms: int) -> None:
        try:
            while not self._stop.is_set():
                result = self._notify.watch(DEBOUNCE_MS, step_ms, WAKE_MS, self._stop)
                if isinstance(result, set) and result:
                    self._changed.set()
        except BaseException as error:  # noqa: BLE001 - reported by the next wait
            self._error = error
            self._changed.set()
        finally:
            self._notify.close()

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
        """Block until something changed (True) or ``timeout`` seconds passed (False); False once closed."""
        if self.closed:
            return False
        changed = self._changed.wait(timeout)
        if self.closed:
            return False
        self._changed.clear()
        if self._error is not None:
            error, self._error = self._error, None
            raise OSError(f"watching {self.path} failed: {error}") from error
        return changed and not self.closed

    def wake(self) -> None:
        """End a blocked ``wait`` now (it returns True)."""
        self._changed.set()

    def close(self) -> None:
        """Stop watching; a blocked ``wait`` returns (False). The thread ends within one step."""
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
