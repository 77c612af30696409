"""Reading a trace bundle: manifest, event log, payloads. Nothing here ever writes.

- ``manifest``: load and validate ``manifest.json``.
- ``event_log``: ``trace.jsonl`` read incrementally (offset kept, torn tail pending).
- ``payloads``: lazy, bounded-cache payload reads confined to the bundle directory.
- ``discovery``: is a directory a bundle, and which bundles live under a trace root.

This package depends only on ``trace_viewer.errors``, not on the reducer.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from trace_viewer.bundle.discovery import BundleInfo, bundle_info, find_bundle_dirs, is_bundle, list_bundles
from trace_viewer.bundle.event_log import EVENT_LOG_FILE, EventLog, EventLogError, LogEntry
from trace_viewer.bundle.manifest import MANIFEST_FILE, load_manifest, manifest_warnings
from trace_viewer.bundle.payloads import (
    NoPayloads,
    PayloadInvalid,
    PayloadMissing,
    PayloadPreview,
    PayloadRefused,
    PayloadStore,
)
from trace_viewer.errors import BundleError


class Bundle:
    """One bundle directory: its validated manifest, its event log reader and its payload store.

    Raises ``BundleError`` (naming ``manifest.json``) when the manifest is
    missing or malformed; a missing ``trace.jsonl`` is only an error once the
    log is read as final (a live bundle may hold just its manifest for a moment).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise BundleError(str(self.path), "not a directory", "missing")
        self.manifest: dict[str, Any] = load_manifest(self.path)
        self.warnings: list[str] = manifest_warnings(self.manifest)
        self.payloads = PayloadStore(self.path)
        self.log = EventLog(self.path / EVENT_LOG_FILE)

    @property
    def schema_version(self) -> int:
        return int(self.manifest["schema_version"])

    def entries(self) -> list[LogEntry]:
        """Every line of the log as it is now, read as final (a fresh reader; ``self.log`` is untouched)."""
        return EventLog(self.path / EVENT_LOG_FILE).read_new(final=True)

    def __repr__(self) -> str:
        return f"Bundle({str(self.path)!r})"


__all__ = [
    "EVENT_LOG_FILE",
    "MANIFEST_FILE",
    "Bundle",
    "BundleError",
    "BundleInfo",
    "EventLog",
    "EventLogError",
    "LogEntry",
    "NoPayloads",
    "PayloadInvalid",
    "PayloadMissing",
    "PayloadPreview",
    "PayloadRefused",
    "PayloadStore",
    "bundle_info",
    "find_bundle_dirs",
    "is_bundle",
    "list_bundles",
    "load_manifest",
]
