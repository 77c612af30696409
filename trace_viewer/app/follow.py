"""Workers that watch the disk and tell a screen about it, as messages.

``watch_bundle_worker`` watches one bundle; ``watch_root_worker`` a trace root.
Neither reads the bundle nor knows a screen: they post ``BundleChanged`` /
``RootChanged`` to whoever started them, who reads what is new on the UI's
loop. Waiting happens in watchfiles' Rust thread, so an idle follower costs
nothing in Python.
"""

from __future__ import annotations

import asyncio
import os
from functools import partial
from pathlib import Path

from textual.message_pump import MessagePump

from trace_viewer.app.messages import BundleChanged, RootChanged, WatchFailed
from trace_viewer.bundle.watcher import watch_changes

# A trace root where logs are being written changes constantly: tell the app at most this often.
ROOT_THROTTLE_S = 0.5
# A bundle directory that does not exist yet (following before Codex created it): look this often.
MISSING_RETRY_S = 0.25


async def _until_exists(path: Path) -> None:
    while not os.path.isdir(path):
        await asyncio.sleep(MISSING_RETRY_S)


async def watch_bundle_worker(path: Path, target: MessagePump) -> None:
    """Post ``BundleChanged`` to ``target`` after every batch of writes to the bundle (runs until cancelled)."""
    await _until_exists(path)
    # Once the watch is in place, read what was written before it (since the open): nothing is missed.
    ready = partial(target.post_message, BundleChanged(ready=True))
    try:
        async for _ in watch_changes(path, ready=ready):
            target.post_message(BundleChanged())
    except OSError as error:
        target.post_message(WatchFailed(str(error)))


async def watch_root_worker(root: Path, target: MessagePump) -> None:
    """Post ``RootChanged`` to ``target`` when bundles appear or change under ``root`` (throttled)."""
    await _until_exists(root)
    loop = asyncio.get_running_loop()
    last = 0.0
    ready = partial(target.post_message, RootChanged(frozenset()))  # bundles that came before the watch
    try:
        async for changes in watch_changes(root, debounce_ms=int(ROOT_THROTTLE_S * 1000), ready=ready):
            pause = last + ROOT_THROTTLE_S - loop.time()
            if pause > 0:
                await asyncio.sleep(pause)
            last = loop.time()
            target.post_message(RootChanged(frozenset(changes)))
    except OSError as error:
        target.post_message(WatchFailed(str(error)))
