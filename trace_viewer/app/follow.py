"""Follow mode glue: is a bundle live, and following a trace root for new bundles.

The viewer screen follows one bundle itself (a watcher-driven worker); this
module holds what is shared with the app: the cheap "is this bundle still being
written?" test behind auto-follow and the switch policy, and ``RootFollower``,
the app-level worker of ``--follow ROOT`` that notices new bundle directories
and keeps the picker current.

No Textual imports at run time here: the screens are imported where they are
used (they import this module).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from trace_viewer.app.render import safe_line
from trace_viewer.bundle.discovery import RECENT_SECONDS, bundle_info
from trace_viewer.bundle.event_log import EVENT_LOG_FILE
from trace_viewer.bundle.manifest import MANIFEST_FILE
from trace_viewer.bundle.watcher import BundleArrivals, Watcher, watch_root

if TYPE_CHECKING:
    from textual.app import App

    from trace_viewer.app.screens.picker import PickerScreen

# A bundle watcher wait while an event waits for its payload: short, because a payload file
# completing inside payloads/ is the one change the polling backend does not see.
WAITING_TIMEOUT_S = 0.05
# While idle: only a safety net (network file systems, where inotify misses remote writes).
IDLE_TIMEOUT_S = 1.0
# Redraws while following: at most this often (events arriving in a burst are drawn together).
MIN_FRAME_S = 1 / 30
# How much of the UI loop one poll may take before the screen gets a chance to draw.
POLL_BUDGET_S = 0.05
# Auto-follow: how often an idle follower checks whether the writer went quiet for RECENT_SECONDS.
STALE_CHECK_S = 10.0
# A trace root: how often at most new bundles are looked for / the picker is refreshed,
# and the safety-net wait when nothing is noticed.
ROOT_THROTTLE_S = 0.5
ROOT_IDLE_TIMEOUT_S = 5.0


def recently_modified(path: Path) -> bool:
    """The bundle directory or its log changed within ``RECENT_SECONDS``."""
    newest = 0.0
    for candidate in (path, path / EVENT_LOG_FILE):
        try:
            newest = max(newest, os.stat(candidate).st_mtime)
        except OSError:
            continue
    return time.time() - newest < RECENT_SECONDS


def bundle_is_live(path: str | os.PathLike[str]) -> bool:
    """The bundle is still being written: unfinished (no ``recording_completed``/``rollout_ended``) and recent.

    Cheap for the common case: an old bundle costs two ``stat`` calls; only a
    recently touched one has its log scanned (incrementally, cached).
    A recent directory whose manifest (and log) are not written yet counts as live.
    """
    path = Path(path)
    if not recently_modified(path):
        return False
    if not (path / MANIFEST_FILE).exists():
        # Codex writes the manifest before it opens the log: a log without one is broken, not young.
        return not (path / EVENT_LOG_FILE).exists()
    info = bundle_info(path)
    return info.error is None and not info.finished and info.status == "recording"


class RootFollower:
    """``--follow ROOT``: watches the root, reports new bundles to the app, keeps the picker live.

    Policy when a new bundle's manifest is complete (the newest one if several):
    the viewer switches to it when what it shows is finished (or no bundle is
    open: the picker is up); when the open bundle is still live, the viewer only
    offers it (notification + ``o``), since the user is watching something that
    is still moving.
    """

    def __init__(self, app: App[int], root: Path) -> None:
        self.app = app
        self.root = root
        self.arrivals = BundleArrivals(root)
        self.watcher: Watcher | None = None

    async def run(self) -> None:
        try:
            self.watcher = watch_root(self.root, growth=True)
        except OSError:
            self.watcher = None  # not a directory (any more): look every few seconds
        loop = asyncio.get_running_loop()
        try:
            for _ in range(100):  # the picker lists the root when it mounts; act on that listing
                picker = self._picker()
                if picker is not None and picker.listed:
                    break
                await asyncio.sleep(0.02)
            self._open_live_at_start()
            while True:
                if self.watcher is not None:
                    await self.watcher.wait_async(ROOT_IDLE_TIMEOUT_S)
                else:
                    await asyncio.sleep(ROOT_IDLE_TIMEOUT_S)
                started = loop.time()
                self.check()
                # Growth of live logs wakes the watcher per write: look at most every ROOT_THROTTLE_S.
                await asyncio.sleep(max(0.0, ROOT_THROTTLE_S - (loop.time() - started)))
        finally:
            if self.watcher is not None:
                self.watcher.close()

    def _open_live_at_start(self) -> None:
        """Started on a root while Codex is already writing into it: open that bundle at once."""
        picker = self._picker()
        if picker is None or not picker.listed or not picker.infos or self.app.screen is not picker:
            return
        newest = picker.infos[0]
        if newest.status == "recording" and not newest.finished:
            self._open(newest.path, f"Following {newest.name} (still being written).")

    def check(self) -> None:
        """Look for new bundles and refresh the picker; called after each (throttled) wake-up."""
        arrived = self.arrivals.check()
        picker = self._picker()
        if picker is not None and self.app.screen is picker:
            picker.refresh_live()
        if arrived:
            self.arrived(arrived[0])

    def arrived(self, path: Path) -> None:
        from trace_viewer.app.screens.viewer import ViewerScreen

        viewer = next((s for s in reversed(self.app.screen_stack) if isinstance(s, ViewerScreen)), None)
        if viewer is None and self.app.screen is not self._picker():
            # A dialog is up over the picker: don't open a screen on top of it; the list shows the bundle.
            self.app.notify(safe_line(f"New bundle {path.name} (in the list)."), markup=False)
        elif viewer is None:
            self._open(path, f"New bundle {path.name}: opened it.")
        elif viewer.bundle_live() or self.app.screen is not viewer:
            # Watching something still moving (or a dialog is up): offer, don't yank the view away.
            viewer.offer_bundle(path)
        else:
            viewer.open_other(path)
            note = f"New bundle {path.name}: switched to it (the previous one had finished)."
            self.app.notify(safe_line(note), markup=False)

    def _open(self, path: Path, note: str) -> None:
        from trace_viewer.app.screens.viewer import ViewerScreen
        from trace_viewer.session import ReplaySession

        self.app.sub_title = path.name
        self.app.push_screen(ViewerScreen(ReplaySession(path, follow=True), follow=True))
        self.app.notify(safe_line(note), markup=False)

    def _picker(self) -> PickerScreen | None:
        from trace_viewer.app.screens.picker import PickerScreen

        return next((s for s in self.app.screen_stack if isinstance(s, PickerScreen)), None)
