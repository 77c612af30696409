"""Noticing that a bundle or a trace root changed, without burning CPU while nothing does.

Following a live trace means re-reading the log whenever Codex appends to it.
A ``Watcher`` answers one question — "did anything under this path change?" —
and blocks until it did (or a timeout passed). It never reads trace data
itself: on wake-up the caller polls its reader (``ReplaySession.poll``,
``EventLog.iter_new``, ``find_bundle_dirs``), which is cheap when nothing is
new (one ``stat``). Wake-ups may be spurious; missed ones are not expected,
but callers should still poll after a timeout as a safety net (for example on
network file systems, where inotify only sees local writes).

Two backends, chosen by ``backend="auto"`` (override with the environment
variable ``TRACE_VIEWER_WATCH=poll``):

* ``inotify`` (Linux, through ctypes, no dependency): the kernel wakes us;
  idle cost is zero. New sub-directories (a bundle appearing under a root,
  its ``payloads/`` directory) are watched as they are created.
* ``poll``: ``os.stat`` of the watched directories and the files directly in
  them (size, mtime, inode), every 50 ms after a change, backing off when idle
  to every 200 ms for a bundle (an event must show within 250 ms) and every
  500 ms for a root (it holds many bundles; a new one can wait a little).
  Payload *contents* are not stat-ed (a large trace holds thousands): while a
  reader waits for a payload, wait with a short timeout.

Usage from asyncio (a Textual async worker: no thread, ``poll`` stays on the UI loop)::

    with watch_bundle(path) as watcher:
        while following:
            # Short timeout while an event waits for its payload or a torn line for its end.
            await watcher.wait_async(timeout=0.05 if session.waiting else 1.0)
            session.poll()                 # always: a timeout is a safety-net poll

or from a worker thread, with ``watcher.wait(...)`` (then hand the poll to the
thread that owns the session, e.g. ``app.call_from_thread``).

One waiter at a time. ``wake()`` and ``close()`` may be called from any thread
and make a blocked ``wait`` return ``False`` promptly. ``BundleArrivals`` says
which bundles appeared under a root once their manifest is complete.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import errno
import os
import select
import struct
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Self

from trace_viewer.bundle.discovery import find_bundle_dirs
from trace_viewer.bundle.manifest import MANIFEST_FILE, load_manifest
from trace_viewer.errors import BundleError

PAYLOADS_DIR = "payloads"
# Polling backend: interval right after a change, and the ceilings it backs off to when idle.
MIN_INTERVAL = 0.05
MAX_INTERVAL = 0.2
ROOT_MAX_INTERVAL = 0.5
_BACKOFF = 1.5

# inotify(7) flags.
_IN_MODIFY = 0x2
_IN_CLOSE_WRITE = 0x8
_IN_MOVED_FROM = 0x40
_IN_MOVED_TO = 0x80
_IN_CREATE = 0x100
_IN_DELETE = 0x200
_IN_DELETE_SELF = 0x400
_IN_MOVE_SELF = 0x800
_IN_Q_OVERFLOW = 0x4000
_IN_IGNORED = 0x8000
_IN_ONLYDIR = 0x1000000
_IN_ISDIR = 0x40000000
_ENTRIES = _IN_CREATE | _IN_MOVED_TO | _IN_MOVED_FROM | _IN_DELETE | _IN_DELETE_SELF | _IN_MOVE_SELF
# A bundle directory: the log growing (IN_MODIFY per flushed write), manifest finished, files swapped.
_DIR_MASK = _ENTRIES | _IN_MODIFY | _IN_CLOSE_WRITE | _IN_ONLYDIR
# payloads/: Codex writes each file with many small unbuffered writes; only its completion matters.
_PAYLOADS_MASK = _ENTRIES | _IN_CLOSE_WRITE | _IN_ONLYDIR
# A trace root (or a bundle watched only for new bundles): entries coming and going.
_ENTRIES_MASK = _ENTRIES | _IN_CLOSE_WRITE | _IN_ONLYDIR
_EVENT = struct.Struct("iIII")


def _load_libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.inotify_init1.argtypes = [ctypes.c_int]
        libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
    except (OSError, AttributeError):
        return None
    return libc


_libc: ctypes.CDLL | None = None
_libc_loaded = False


def _inotify_libc() -> ctypes.CDLL | None:
    global _libc, _libc_loaded
    if not _libc_loaded:
        _libc = _load_libc()
        _libc_loaded = True
    return _libc


class Watcher:
    """Blocks until something under ``path`` changes. Build it with ``watch_bundle`` or ``watch_root``.

    ``depth`` is how many directory levels below ``path`` are watched too
    (directories named in ``skip`` are not entered). ``growth=False`` ignores
    files growing (only entries appearing, disappearing or being completed
    count): what a root watcher needs when it only looks for new bundles.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        depth: int,
        skip: Iterable[str] = (),
        growth: bool = True,
        backend: str = "auto",
        min_interval: float = MIN_INTERVAL,
        max_interval: float = MAX_INTERVAL,
    ) -> None:
        self.path = Path(os.path.realpath(path))
        if not self.path.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "cannot watch: not a directory", str(path))
        self.depth = depth
        self.skip = frozenset(skip)
        self.growth = growth
        self.min_interval = min_interval
        self.max_interval = max_interval
        self.interval = min_interval
        self._lock = threading.Lock()
        self._closed = False
        self._waiting = False
        self._woken = threading.Event()
        self._fd = -1
        self._wake_r = self._wake_w = -1
        self._dirs: dict[int, tuple[Path, int]] = {}  # inotify watch descriptor -> (directory, depth)
        # inotify ran out of watches for some directory: waits are capped, and a capped wait reports a change.
        self.degraded = False
        self._signature: dict[str, tuple[int, int, int]] = {}
        self._listing: dict[str, tuple[tuple[int, int, int], list[str], list[str]]] = {}
        choice = os.environ.get("TRACE_VIEWER_WATCH", backend) if backend == "auto" else backend
        if choice not in ("auto", "inotify", "poll"):
            raise ValueError(f"unknown watcher backend {choice!r} (auto, inotify, poll)")
        self.backend = "poll"
        if choice != "poll" and self._start_inotify():
            self.backend = "inotify"
        elif choice == "inotify":
            raise OSError(errno.ENOSYS, "inotify is not available here")
        else:
            self._signature = self._snapshot()

    def __repr__(self) -> str:
        return f"Watcher({str(self.path)!r}, backend={self.backend!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        # A watcher dropped without close() must not leak its descriptors.
        if getattr(self, "_lock", None) is not None and not self._closed:
            self.close()

    @property
    def closed(self) -> bool:
        return self._closed

    # ----- waiting ----------------------------------------------------------------------
    def wait(self, timeout: float | None = None) -> bool:
        """Block until a change is noticed (True), or ``timeout`` seconds pass / ``wake``/``close`` (False)."""
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        if not self._begin_wait():
            return False
        try:
            while not self._closed:
                verdict = self._woken_or_changed()
                if verdict is not None:
                    return verdict
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                if self.backend == "inotify":
                    pause = _capped(self.max_interval, remaining) if self.degraded else remaining
                    ready, _, _ = select.select([self._fd, self._wake_r], [], [], pause)
                    self._drain_wake_pipe()
                    if not ready and self.degraded and pause != remaining:
                        return True
                else:
                    self._woken.wait(_capped(self.interval, remaining))
            return False
        finally:
            self._release_after_wait()

    async def wait_async(self, timeout: float | None = None) -> bool:
        """``wait`` for asyncio: the inotify descriptor joins the event loop; polling sleeps between checks."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + max(0.0, timeout)
        if not self._begin_wait():
            return False
        try:
            while not self._closed:
                verdict = self._woken_or_changed()
                if verdict is not None:
                    return verdict
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    return False
                if self.backend == "inotify":
                    ready = loop.create_future()

                    def readable(future: asyncio.Future[None] = ready) -> None:
                        if not future.done():
                            future.set_result(None)

                    pause = _capped(self.max_interval, remaining) if self.degraded else remaining
                    loop.add_reader(self._fd, readable)
                    loop.add_reader(self._wake_r, readable)
                    try:
                        await asyncio.wait_for(ready, pause)
                    except TimeoutError:
                        if self.degraded and pause != remaining:
                            return True
                    finally:
                        loop.remove_reader(self._fd)
                        loop.remove_reader(self._wake_r)
                    self._drain_wake_pipe()
                else:
                    # Sleep in short steps so wake()/close() from another thread is noticed soon.
                    await asyncio.sleep(_capped(self.interval, remaining))
            return False
        finally:
            self._release_after_wait()

    def _begin_wait(self) -> bool:
        """Mark a wait as under way (so close() leaves releasing to it); False if already closed."""
        with self._lock:
            if self._closed:
                return False
            self._waiting = True
        return True

    def _woken_or_changed(self) -> bool | None:
        """False if woken (consuming the wake), True if the bundle changed, None to keep waiting."""
        if self._woken.is_set():
            self._woken.clear()
            return False
        if self._changed():
            return True
        return None

    def wake(self) -> None:
        """Make the current (or next) ``wait`` return ``False`` at once. Safe from any thread."""
        self._woken.set()
        self._poke()

    def close(self) -> None:
        """Stop watching; a blocked ``wait`` returns ``False``. Idempotent, safe from any thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            waiting = self._waiting
        self._woken.set()
        self._poke()
        if not waiting:
            self._release()

    def _release_after_wait(self) -> None:
        with self._lock:
            self._waiting = False
            release = self._closed
        if release:
            self._release()

    def _poke(self) -> None:
        if self._wake_w >= 0:
            try:
                os.write(self._wake_w, b"!")
            except OSError:  # full pipe: a wake-up is already pending; closed: nobody waits
                pass

    def _drain_wake_pipe(self) -> None:
        try:
            while os.read(self._wake_r, 512):
                pass
        except OSError:  # EAGAIN: empty
            pass

    def _release(self) -> None:
        for fd in (self._fd, self._wake_r, self._wake_w):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._fd = self._wake_r = self._wake_w = -1
        self._dirs.clear()

    def _changed(self) -> bool:
        if self.backend == "inotify":
            return self._read_events()
        snapshot = self._snapshot()
        if snapshot != self._signature:
            self._signature = snapshot
            self.interval = self.min_interval
            return True
        self.interval = min(self.max_interval, self.interval * _BACKOFF)
        return False

    # ----- inotify ------------------------------------------------------------------------
    def _start_inotify(self) -> bool:
        libc = _inotify_libc()
        if libc is None:
            return False
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            return False  # EMFILE (too many instances) and the like: polling still works
        self._fd = fd
        try:
            self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
            if not self._add_tree(self.path, 0):
                raise OSError("root directory could not be watched")
        except OSError:
            self._release()
            return False
        return True

    def _mask(self, directory: Path, depth: int) -> int:
        if not self.growth:
            return _ENTRIES_MASK
        return _PAYLOADS_MASK if depth > 0 and directory.name == PAYLOADS_DIR else _DIR_MASK

    def _add_tree(self, directory: Path, depth: int) -> bool:
        """Watch ``directory`` and, within ``depth``, the directories already inside it."""
        libc = _inotify_libc()
        assert libc is not None
        wd = libc.inotify_add_watch(self._fd, os.fsencode(directory), self._mask(directory, depth))
        if wd < 0:
            if ctypes.get_errno() == errno.ENOSPC:
                # Out of watches (fs.inotify.max_user_watches): changes in this directory could go
                # unnoticed, so from now on every wait also ends after max_interval, as polling would.
                self.degraded = True
            return False  # or it vanished already / is not a directory: nothing to watch
        self._dirs[wd] = (directory, depth)
        if depth < self.depth:
            for child in self._subdirs(directory):
                self._add_tree(child, depth + 1)
        return True

    def _subdirs(self, directory: Path) -> Iterator[Path]:
        try:
            with os.scandir(directory) as entries:
                names = [entry.name for entry in entries if _is_dir(entry)]
        except OSError:
            return
        for name in sorted(names):
            if name not in self.skip and not name.startswith("."):
                yield directory / name

    def _read_events(self) -> bool:
        """Consume queued inotify events; True if any of them is a change (not just bookkeeping)."""
        changed = False
        while True:
            try:
                data = os.read(self._fd, 64 * 1024)
            except BlockingIOError:
                return changed
            except OSError:
                return True  # the descriptor broke: let the caller re-read everything
            if not data:
                return changed
            offset = 0
            while offset + _EVENT.size <= len(data):
                wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                name = data[offset + _EVENT.size : offset + _EVENT.size + length].rstrip(b"\0")
                offset += _EVENT.size + length
                changed |= self._handle(wd, mask, name)

    def _handle(self, wd: int, mask: int, name: bytes) -> bool:
        if mask & _IN_Q_OVERFLOW:
            return True  # events were dropped: anything may have changed
        if mask & _IN_IGNORED:
            gone = self._dirs.pop(wd, None)
            return gone is not None and gone[1] == 0  # the watched directory itself went away
        where = self._dirs.get(wd)
        if where is None:
            return False
        directory, depth = where
        if mask & _IN_ISDIR and mask & (_IN_CREATE | _IN_MOVED_TO) and depth < self.depth:
            child_name = os.fsdecode(name)
            if child_name not in self.skip and not child_name.startswith("."):
                # Watch the new directory before the caller looks into it, so nothing written
                # in it after the caller's look can go unnoticed.
                self._add_tree(directory / child_name, depth + 1)
        return True

    # ----- polling --------------------------------------------------------------------------
    def _snapshot(self) -> dict[str, tuple[int, int, int]]:
        """(inode, size, mtime) of every watched directory and of the files directly in non-payload ones.

        A directory's listing is re-read only when its own mtime moved, so an
        idle check is one ``stat`` per watched directory and file.
        """
        signature: dict[str, tuple[int, int, int]] = {}
        pending: list[tuple[Path, int]] = [(self.path, 0)]
        while pending:
            directory, depth = pending.pop()
            key = str(directory)
            stamp = _stamp(directory)
            if stamp is None:
                self._listing.pop(key, None)
                continue
            signature[key] = stamp
            cached = self._listing.get(key)
            if cached is None or cached[0] != stamp:
                cached = (stamp, *self._list(directory))
                self._listing[key] = cached
            _, files, subdirs = cached
            if directory.name != PAYLOADS_DIR or depth == 0:
                # Without growth only the manifest matters: its completion is what makes a bundle openable.
                for name in files if self.growth else [name for name in files if name == MANIFEST_FILE]:
                    file_stamp = _stamp(directory / name)
                    if file_stamp is not None:
                        signature[str(directory / name)] = file_stamp
            if depth < self.depth:
                pending.extend((directory / name, depth + 1) for name in subdirs)
        return signature

    def _list(self, directory: Path) -> tuple[list[str], list[str]]:
        files: list[str] = []
        subdirs: list[str] = []
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    if entry.name.startswith("."):
                        continue
                    if _is_dir(entry):
                        if entry.name not in self.skip:
                            subdirs.append(entry.name)
                    else:
                        files.append(entry.name)
        except OSError:
            pass
        return sorted(files), sorted(subdirs)


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _capped(limit: float, remaining: float | None) -> float:
    """Sleep at most ``limit`` seconds, and no longer than what is left of the deadline."""
    return limit if remaining is None else min(limit, remaining)


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        status = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    return (status.st_ino, status.st_size, status.st_mtime_ns)


def watch_bundle(path: str | os.PathLike[str], *, backend: str = "auto") -> Watcher:
    """Watch one bundle: the log growing or being replaced, the manifest appearing, payload files completed."""
    return Watcher(path, depth=1, backend=backend)


def watch_root(path: str | os.PathLike[str], *, depth: int = 2, growth: bool = True, backend: str = "auto") -> Watcher:
    """Watch a trace root for bundles appearing (and, with ``growth``, for their logs growing: picker counts).

    ``depth`` matches ``find_bundle_dirs``: bundles directly under the root or one level deeper.
    Payload directories are not watched.
    """
    return Watcher(
        path, depth=depth, skip={PAYLOADS_DIR}, growth=growth, backend=backend, max_interval=ROOT_MAX_INTERVAL
    )


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
    "watch_root",
]
