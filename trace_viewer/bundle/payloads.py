"""Payload files, read lazily and only from inside the bundle.

Payload paths come from the trace itself, so they are untrusted: a path that is
absolute, climbs out with ``..``, or reaches outside through a symlink is refused
before anything is opened. Parsed payloads are kept in a small LRU because the
same payload is typically asked for twice in a row (the follow mode checks it is
complete before the reducer reads it; the inspector shows what the reducer read).

Schema 3 stores payloads as records in zstd shards instead of files; a reference
then carries ``shard`` instead of ``path`` and the store reads it through
``ShardReader``. Callers ask for a payload by its reference and never learn which.

Parsed objects come out of the cache shared: treat them as read-only.
"""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trace_viewer.bundle._files import describe_os_error, open_regular
from trace_viewer.bundle.event_log import parse_json_bytes
from trace_viewer.bundle.shards import ShardFault, ShardReader, shard_file_name, valid_shard_number
from trace_viewer.errors import PayloadError

_DRIVE = re.compile(r"^[A-Za-z]:")
# Far above any real payload (a full request is a few MB), far below what would exhaust memory:
# a hostile or corrupt (e.g. sparse) file this big is refused before it is read.
MAX_PAYLOAD_BYTES = 256 << 20
_LINK_ESCAPE = "refused payload path that leaves the bundle via a link: "


class PayloadRefused(PayloadError):
    """The payload path points outside the bundle; it was not opened."""


class PayloadMissing(PayloadError):
    """The payload file does not exist (or cannot be opened)."""


class PayloadInvalid(PayloadError):
    """The payload file exists but is not valid JSON."""


@dataclass(frozen=True, slots=True)
class PayloadPreview:
    """The start of a payload's text, for display; ``truncated`` if the file is longer."""

    text: str
    size: int
    truncated: bool


PAYLOADS_DIR = "payloads"


def _ref_fields(ref: Any) -> tuple[str, str]:
    """(payload id, where it is stored): a bundle-relative file, or ``payloads/NNNNNN.zst`` for a shard."""
    if not isinstance(ref, dict):
        raise PayloadRefused("?", "?", "payload reference is not an object")
    payload_id = ref.get("raw_payload_id")
    payload_id = payload_id if isinstance(payload_id, str) else "?"
    if "shard" in ref:
        shard = ref["shard"]
        if not valid_shard_number(shard):
            raise PayloadRefused(payload_id, "?", f"payload reference has an invalid shard number: {shard!r}")
        return payload_id, f"{PAYLOADS_DIR}/{shard_file_name(shard)}"
    path = ref.get("path")
    if not isinstance(path, str):
        raise PayloadRefused(payload_id, "?", "payload reference has no path")
    return payload_id, path


def _shard_of(ref: dict[str, Any]) -> int | None:
    shard = ref.get("shard")
    return shard if valid_shard_number(shard) else None


def safe_relative_parts(path: str) -> list[str] | None:
    """The components of a bundle-relative path, or None if it could leave the bundle.

    Both separators count, so a Windows-style ``..\\..\\x`` is caught on POSIX too.
    """
    if not path or "\x00" in path or path[0] in "/\\" or _DRIVE.match(path):
        return None
    parts = [part for part in re.split(r"[/\\]", path) if part not in ("", ".")]
    if not parts or any(part == ".." for part in parts):
        return None
    return parts


def _read_capped(handle: Any, payload_id: str, path: str) -> bytes:
    """The whole file, unless it is over ``MAX_PAYLOAD_BYTES`` (``PayloadInvalid``, nothing read)."""
    size = os.fstat(handle.fileno()).st_size
    data = handle.read(MAX_PAYLOAD_BYTES + 1) if size <= MAX_PAYLOAD_BYTES else b""
    if size > MAX_PAYLOAD_BYTES or len(data) > MAX_PAYLOAD_BYTES:
        raise PayloadInvalid(
            payload_id,
            path,
            f"read payload {payload_id}: too large ({max(size, len(data))} bytes; the limit is "
            f"{MAX_PAYLOAD_BYTES >> 20} MiB)",
        )
    return data


class PayloadStore:
    """Lazy payload reader confined to the bundle directory; never writes."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        cache_entries: int = 64,
        cache_bytes: int = 64 << 20,
        display_cap: int = 256 << 10,
    ) -> None:
        self.root = Path(os.path.realpath(root))
        self.cache_entries = cache_entries
        self.cache_bytes = cache_bytes
        self.display_cap = display_cap
        self._cache: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._cached_bytes = 0
        self._lock = threading.Lock()
        self._real_dirs: dict[tuple[str, ...], Path] = {}
        # Paths (or shard record keys) whose whole content parsed as JSON once; the end-of-log check skips them.
        self.validated: set[str] = set()
        self.shards = ShardReader(self.root / PAYLOADS_DIR)

    # ----- locating -----------------------------------------------------------
    def resolve(self, ref: dict[str, Any]) -> Path:
        """The real file a reference points to, or ``PayloadRefused``. Does not open anything."""
        payload_id, path = _ref_fields(ref)
        parts = safe_relative_parts(path)
        if parts is None:
            raise PayloadRefused(payload_id, path, f"refused payload path that leaves the bundle: {path}")
        # Directories are resolved once (payloads normally share `payloads/`); the file itself
        # is checked every time, and opened with O_NOFOLLOW so it cannot turn into a link later.
        directory = self._real_dirs.get(tuple(parts[:-1]))
        if directory is None:
            directory = Path(os.path.realpath(self.root.joinpath(*parts[:-1])))
            if directory != self.root and not directory.is_relative_to(self.root):
                raise PayloadRefused(payload_id, path, _LINK_ESCAPE + path)
            self._real_dirs[tuple(parts[:-1])] = directory
        target = directory / parts[-1]
        if os.path.islink(target):
            target = Path(os.path.realpath(target))
            if not target.is_relative_to(self.root):
                raise PayloadRefused(payload_id, path, _LINK_ESCAPE + path)
        return target

    def size(self, ref: dict[str, Any]) -> int:
        """Payload size in bytes (raises ``PayloadMissing`` when absent)."""
        payload_id, path = _ref_fields(ref)
        if _shard_of(ref) is not None:
            return len(self._shard_bytes(ref))
        try:
            return self.resolve(ref).stat().st_size
        except OSError as error:
            raise PayloadMissing(payload_id, path, f"open payload {payload_id}: {describe_os_error(error)}") from None

    # ----- reading ------------------------------------------------------------
    def read_bytes(self, ref: dict[str, Any], max_bytes: int | None = None) -> bytes:
        """The payload's bytes (at most ``max_bytes`` of them when given)."""
        payload_id, path = _ref_fields(ref)
        if _shard_of(ref) is not None:
            data = self._shard_bytes(ref)
            return data if max_bytes is None else data[:max_bytes]
        target = self.resolve(ref)
        try:
            with open_regular(target, nofollow=True) as handle:
                return _read_capped(handle, payload_id, path) if max_bytes is None else handle.read(max_bytes)
        except OSError as error:
            raise PayloadMissing(payload_id, path, f"open payload {payload_id}: {describe_os_error(error)}") from None

    def read_text(self, ref: dict[str, Any], max_bytes: int | None = None) -> str:
        """The file's text; undecodable bytes become U+FFFD."""
        return self.read_bytes(ref, max_bytes).decode("utf-8", errors="replace")

    def preview(self, ref: dict[str, Any], max_bytes: int | None = None) -> PayloadPreview:
        """At most ``max_bytes`` (default ``display_cap``) of text, for showing a payload without loading it all."""
        cap = self.display_cap if max_bytes is None else max_bytes
        size = self.size(ref)
        data = self.read_bytes(ref, cap)
        return PayloadPreview(data.decode("utf-8", errors="replace"), size, size > len(data))

    def read(self, ref: dict[str, Any]) -> Any:
        """Parsed JSON (cached). Raises ``PayloadError`` if missing, refused or invalid."""
        return self._load(ref, "open payload", "parse payload")

    def validate(self, ref: dict[str, Any]) -> None:
        """Check a payload exists and is JSON, with the end-of-log wording of the official reducer."""
        payload_id, path = _ref_fields(ref)
        if (f"{path}#{payload_id}" if _shard_of(ref) is not None else path) in self.validated:
            return
        self._load(ref, "read payload", "invalid payload", cache=False)

    def _shard_bytes(self, ref: dict[str, Any]) -> bytes:
        payload_id, path = _ref_fields(ref)
        shard = _shard_of(ref)
        assert shard is not None
        try:
            return self.shards.read(payload_id, shard)
        except ShardFault as fault:
            raise PayloadMissing(payload_id, path, fault.reason) from None

    def _load(self, ref: dict[str, Any], open_verb: str, parse_verb: str, *, cache: bool = True) -> Any:
        payload_id, path = _ref_fields(ref)
        sharded = _shard_of(ref) is not None
        key = f"{path}#{payload_id}" if sharded else path
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit[0]
        if sharded:
            data = self._shard_bytes(ref)
        else:
            target = self.resolve(ref)
            try:
                with open_regular(target, nofollow=True) as handle:
                    data = _read_capped(handle, payload_id, path)
            except OSError as error:
                raise PayloadMissing(
                    payload_id, path, f"{open_verb} {payload_id}: {describe_os_error(error)}"
                ) from None
        try:
            value = parse_json_bytes(data)
        except ValueError as error:
            raise PayloadInvalid(payload_id, path, f"{parse_verb} {payload_id}: {error}") from None
        self.validated.add(key)
        if cache:
            self._remember(key, value, len(data))
        return value

    def _remember(self, path: str, value: Any, size: int) -> None:
        # Big payloads are not cached: one of them would evict everything useful.
        if size > self.cache_bytes // 4 or self.cache_entries <= 0:
            return
        with self._lock:
            old = self._cache.pop(path, None)
            if old is not None:
                self._cached_bytes -= old[1]
            self._cache[path] = (value, size)
            self._cached_bytes += size
            while len(self._cache) > self.cache_entries or self._cached_bytes > self.cache_bytes:
                _, (_, evicted) = self._cache.popitem(last=False)
                self._cached_bytes -= evicted

    def cache_info(self) -> tuple[int, int]:
        """(entries, bytes) currently cached."""
        with self._lock:
            return len(self._cache), self._cached_bytes

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()
            self._cached_bytes = 0


class NoPayloads:
    """Stand-in payload source for a bundle whose manifest could not be read."""

    def read(self, ref: dict[str, Any]) -> Any:
        payload_id, path = _ref_fields(ref)
        raise PayloadMissing(payload_id, path, "bundle could not be opened")

    def read_text(self, ref: dict[str, Any]) -> str:
        return self.read(ref)
