"""Reading a trace bundle: manifest, event log, payloads. Never writes.

(Minimal first version; see the bundle issue for the incremental reader.)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from trace_viewer.reducer.errors import PayloadError


@dataclass(slots=True)
class LogEntry:
    """One physical line of trace.jsonl: a parsed event, or why it is not one."""

    line: int
    event: Any | None
    error: str | None = None


class PayloadStore:
    """Lazy payload reader confined to the bundle directory."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, ref: dict[str, Any]) -> Path:
        path = (self.root / ref["path"]).resolve()
        if not path.is_relative_to(self.root):
            raise PayloadError(ref["raw_payload_id"], ref["path"], "path leaves the bundle directory")
        return path

    def read_bytes(self, ref: dict[str, Any]) -> bytes:
        try:
            return self._path(ref).read_bytes()
        except OSError as error:
            raise PayloadError(ref["raw_payload_id"], ref["path"], f"cannot open: {error.strerror}") from None

    def read(self, ref: dict[str, Any]) -> Any:
        data = self.read_bytes(ref)
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as error:
            raise PayloadError(ref["raw_payload_id"], ref["path"], f"invalid JSON: {error}") from None

    def read_text(self, ref: dict[str, Any]) -> str:
        return self.read_bytes(ref).decode("utf-8", errors="replace")


class Bundle:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.manifest: dict[str, Any] = orjson.loads((self.path / "manifest.json").read_bytes())
        self.payloads = PayloadStore(self.path)

    def entries(self) -> list[LogEntry]:
        out: list[LogEntry] = []
        data = (self.path / "trace.jsonl").read_bytes()
        lines = data.split(b"\n")
        for index, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            if index == len(lines):
                out.append(LogEntry(index, None, "torn last line (no newline)"))
                break
            try:
                out.append(LogEntry(index, orjson.loads(raw)))
            except orjson.JSONDecodeError as error:
                out.append(LogEntry(index, None, f"invalid JSON: {error}"))
        return out
