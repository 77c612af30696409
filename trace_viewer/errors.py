"""Why reading or reducing a bundle stopped.

These live at the package root so the reading layer (``trace_viewer.bundle``)
can raise them without importing the reducer. ``trace_viewer.reducer.errors``
re-exports them under the names the reducer modules use.

A fault is data the viewer shows, not an exception it crashes on.
"""

from __future__ import annotations

from dataclasses import dataclass


class ReduceError(Exception):
    """An event the reducer cannot apply consistently (the official reducer would bail)."""


class PayloadError(ReduceError):
    """A payload that is missing, unreadable, invalid JSON or outside the bundle.

    ``path`` is where it is stored (bundle-relative), empty when the reference names no place.
    """

    def __init__(self, raw_payload_id: str, path: str, message: str) -> None:
        super().__init__(f"payload {raw_payload_id}{f' ({path})' if path else ''}: {message}")
        self.raw_payload_id = raw_payload_id
        self.path = path
        self.reason = message


class BundleError(ReduceError):
    """A bundle-level file (manifest, event log) is missing, unreadable or malformed.

    ``file`` is the bundle-relative name (``manifest.json``, ``trace.jsonl``) so
    the message can say which file to look at.
    """

    def __init__(self, file: str, message: str, kind: str = "invalid") -> None:
        super().__init__(f"{file}: {message}")
        self.file = file
        self.reason = message
        # "missing", "unreadable", "invalid", or for the event log "truncated" / "replaced".
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Fault:
    """Where and why replay stopped; everything before it is still valid state."""

    message: str
    file: str = "trace.jsonl"
    line: int | None = None
    seq: int | None = None
    payload_id: str | None = None
    payload_path: str | None = None
    # Found by the end-of-log payload check: every line was applied, and ``line``/``seq`` say
    # where the payload was first referenced, not where replay stopped.
    after_log: bool = False
    # A bug of trace_viewer hit while applying the event at ``line``/``seq``, not a fault of the
    # trace; ``detail`` holds the traceback when TRACE_VIEWER_DEBUG is set.
    internal: bool = False
    detail: str = ""

    def location(self) -> str:
        if self.after_log:
            where = []
            if self.payload_id is not None:
                where.append(f"payload {self.payload_id}" + (f" ({self.payload_path})" if self.payload_path else ""))
            if self.line is not None:
                where.append(f"referenced at line {self.line}" + (f", seq {self.seq}" if self.seq is not None else ""))
            return f"{self.file} end-of-log check" + (", " + " ".join(where) if where else "")
        parts = [self.file]
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.seq is not None:
            parts.append(f"seq {self.seq}")
        if self.payload_id is not None:
            parts.append(f"payload {self.payload_id}" + (f" ({self.payload_path})" if self.payload_path else ""))
        return " ".join(parts[:1]) + (" " + ", ".join(parts[1:]) if len(parts) > 1 else "")

    def __str__(self) -> str:
        if self.internal:
            ours = "internal error in trace_viewer (a bug of ours, not of the trace)"
            return f"{ours} at {self.location()}: {self.message}"
        return f"{self.location()}: {self.message}"

    def to_json(self) -> dict[str, object]:
        return {
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "seq": self.seq,
            "payload_id": self.payload_id,
            "payload_path": self.payload_path,
            "after_log": self.after_log,
            "internal": self.internal,
        }
