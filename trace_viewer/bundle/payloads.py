"""Payload files, read lazily and only from inside the bundle.

Payload paths come from the trace itself, so they are untrusted: a path that is
absolute, climbs out with ``..``, or reaches outside through a symlink is refused
before anything is opened. Parsed payloads are kept in a small LRU because the
same payload is typically asked for twice in a row (the follow mode checks it is
complete before the reducer reads it; the inspector shows what the reducer read).

Schema 3 stores payloads as records in zstd shards instead of files; a reference
then carries ``shard`` instead of ``path`` and the store reads it through
``ShardReader``. Callers ask for a payload by its reference and never learn which.
A reference whose ``shard`` is null stands for a payload Codex left out (over its
size limit); reading it is the official fault ``payload omitted by size limit``.

Parsed objects come out of the cache shared: treat them as read-only.
"""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

from trace_viewer.bundle._files import describe_os_error, open_regular
from trace_viewer.bundle.event_log import parse_json_bytes
from trace_viewer.bundle.shards import Availability, ShardFault, ShardReader, shard_file_name, valid_shard_number
from trace_viewer.errors import PayloadError

_DRIVE = re.compile(r"^[A-Za-z]:")
# Far above any real payload (a full request is a few MB), far below what would exhaust memory:
# a hostile or corrupt (e.g. sparse) file this big is refused before it is read.
MAX_PAYLOAD_BYTES = 256 << 20
_LINK_ESCAPE = "refused payload path that leaves the bundle via a link: "
# Codex 0.171.0's text for a reference without a shard (the payload was not captured).
OMITTED = "payload omitted by size limit"


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


class _Where(NamedTuple):
    """A payload reference, read once: its id and where it is stored (a file, or a shard record)."""

    payload_id: str
    path: str | None  # bundle-relative file (schemas 1 and 2)
    shard: int | None  # shard number (schema 3)

    @property
    def label(self) -> str:
        """The location for messages: the file, or ``payloads/NNNNNN.zst``."""
        return self.path if self.path is not None else f"{PAYLOADS_DIR}/{shard_file_name(self.shard or 0)}"

    @property
    def key(self) -> str | tuple[int, str]:
        """The cache and ``validated`` key."""
        return self.path if self.path is not None else (self.shard or 0, self.payload_id)


def _where(ref: Any) -> _Where:
    """Read a reference; ``PayloadRefused``/``PayloadMissing`` when it cannot name a payload."""
    if not isinstance(ref, dict):
        raise PayloadRefused("?", "?", "payload reference is not an object")
    payload_id = ref.get("raw_payload_id")
    payload_id = payload_id if isinstance(payload_id, str) else "?"
    path = ref.get("path")
    if "shard" not in ref and isinstance(path, str):
        return _Where(payload_id, path, None)
    shard = ref.get("shard")
    if shard is None:
        raise PayloadMissing(payload_id, "", OMITTED)  # (stored nowhere)
    if not valid_shard_number(shard):
        raise PayloadRefused(payload_id, "?", f"payload reference has an invalid shard number: {shard!r}")
    return _Where(payload_id, None, shard)


def _ref_fields(ref: Any) -> tuple[str, str]:
    """(payload id, where it is stored): a bundle-relative file, or ``payloads/NNNNNN.zst`` for a shard."""
    where = _where(ref)
    return where.payload_id, where.label


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
        self._cache: OrderedDict[str | tuple[int, str], tuple[Any, int]] = OrderedDict()
        self._cached_bytes = 0
        self._lock = threading.Lock()
        self._real_dirs: dict[tuple[str, ...], Path] = {}
        # Files (paths) and shard records ((shard, id)) whose whole content parsed as JSON once;
        # the end-of-log check skips them.
        self.validated: set[str | tuple[int, str]] = set()
        self.shards = ShardReader(self.root, PAYLOADS_DIR)

    # ----- locating -----------------------------------------------------------
    def resolve(self, ref: dict[str, Any]) -> Path:
        """The real file a reference points to, or ``PayloadRefused``. Does not open anything."""
        where = _where(ref)
        if where.path is None:
            return self.shards.shard_path(where.shard or 0)
        return self._resolve(where)

    def _resolve(self, where: _Where) -> Path:
        payload_id, path = where.payload_id, where.label
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
        where = _where(ref)
        if where.shard is not None:
            try:
                return self.shards.size(where.payload_id, where.shard)
            except ShardFault as fault:
                raise _shard_error(where, fault) from None
        try:
            return self._resolve(where).stat().st_size
        except OSError as error:
            raise PayloadMissing(
                where.payload_id, where.label, f"open payload {where.payload_id}: {describe_os_error(error)}"
            ) from None

    # ----- reading ------------------------------------------------------------
    def read_bytes(self, ref: dict[str, Any], max_bytes: int | None = None) -> bytes:
        """The payload's bytes (at most ``max_bytes`` of them when given)."""
        where = _where(ref)
        return self._bytes(where, "open payload", max_bytes)

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
        return self._load(_where(ref), "open payload", "parse payload")

    def validate(self, ref: dict[str, Any]) -> None:
        """Check a payload exists and is JSON, with the end-of-log wording of the official reducer."""
        where = _where(ref)
        if where.key not in self.validated:
            self._load(where, "read payload", "invalid payload", cache=False)

    def pending(self, ref: dict[str, Any]) -> bool:
        """Live mode: is the payload not readable yet, but may become so as the writer goes on?

        A file may still be being written (it must parse); a shard record is always written
        before the line that cites it, so only a record not yet in an *unfinished* shard (or a
        shard file not there yet) is worth waiting for. A record missing from a sealed shard,
        a damaged shard or a refused reference never is: the reducer reports those.
        """
        try:
            where = _where(ref)
        except PayloadError:
            return False
        if where.shard is not None:
            return self.shards.availability(where.payload_id, where.shard) is Availability.PENDING
        try:
            self._load(where, "open payload", "parse payload")  # lands in the cache: the reducer's read is free
        except PayloadRefused:
            return False
        except PayloadError:
            return True
        return False

    def footer_fault(self, refs: Iterable[dict[str, Any]], *, recording_closed: bool) -> str | None:
        """Schema 3's end-of-log check: the shards of ``refs`` are sealed (all of them once the
        recording was closed; all but the newest otherwise). The official message, or None."""
        numbers: list[int] = []
        for ref in refs:
            number = ref.get("shard") if isinstance(ref, dict) else None
            if valid_shard_number(number):
                numbers.append(number)
        return self.shards.footer_fault(numbers, recording_closed=recording_closed)

    def _bytes(self, where: _Where, open_verb: str, max_bytes: int | None = None) -> bytes:
        if where.shard is not None:
            try:
                return self.shards.read(where.payload_id, where.shard, max_bytes)
            except ShardFault as fault:
                raise _shard_error(where, fault) from None
        target = self._resolve(where)
        try:
            with open_regular(target, nofollow=True) as handle:
                if max_bytes is not None:
                    return handle.read(max_bytes)
                return _read_capped(handle, where.payload_id, where.label)
        except OSError as error:
            raise PayloadMissing(
                where.payload_id, where.label, f"{open_verb} {where.payload_id}: {describe_os_error(error)}"
            ) from None

    def _load(self, where: _Where, open_verb: str, parse_verb: str, *, cache: bool = True) -> Any:
        key = where.key
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit[0]
        data = self._bytes(where, open_verb)
        try:
            value = parse_json_bytes(data)
        except ValueError as error:
            raise PayloadInvalid(where.payload_id, where.label, f"{parse_verb} {where.payload_id}: {error}") from None
        self.validated.add(key)
        if cache:
            self._remember(key, value, len(data))
        return value

    def _remember(self, path: str | tuple[int, str], value: Any, size: int) -> None:
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


def _shard_error(where: _Where, fault: ShardFault) -> PayloadError:
    kind = PayloadMissing if fault.missing else PayloadInvalid
    return kind(where.payload_id, where.label, fault.reason)


class NoPayloads:
    """Stand-in payload source for a bundle whose manifest could not be read."""

    def read(self, ref: dict[str, Any]) -> NoReturn:
        payload_id, path = _ref_fields(ref)
        raise PayloadMissing(payload_id, path, "bundle could not be opened")

    def read_text(self, ref: dict[str, Any]) -> str:
        self.read(ref)
