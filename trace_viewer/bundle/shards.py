"""Schema 3 payload shards: zstd frames of length-prefixed records, read lazily and bounded.

A shard (``payloads/000001.zst``, ...) is one zstd frame whose content is a run of
records ``u16 LE id length | u64 LE body length | id | body``. Codex flushes each
record as its own zstd block and finishes the frame only when it closes the shard,
so the newest shard of a live (or killed) run is an *unfinished* frame. A streaming
decompressor fed the bytes written so far yields every complete record of it.

Everything here is untrusted input: shard numbers come from trace lines, lengths
come from the shard itself, and a few kilobytes of zstd can claim gigabytes. A
shard is therefore decompressed through a persistent decompressor with a hard cap
on its inflated size, its records are indexed once (id -> span), and decompressed
bytes of finished shards live in a byte-bounded LRU. When a live shard grows, only
the new compressed bytes are fed on: a shard is never re-read from its start while
its bytes are kept.
"""

from __future__ import annotations

import os
import struct
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import zstandard

from trace_viewer.bundle._files import open_regular

SHARD_DIGITS = 6
MAX_SHARD_NUMBER = 10**SHARD_DIGITS - 1
# Codex rotates a shard at 8 MiB of records; one record may be bigger than that (it then sits
# alone), and a payload is at most MAX_PAYLOAD_BYTES. Anything past this is a bomb or corruption.
MAX_SHARD_INFLATED = (256 + 16) << 20
# Longest record id: real ids are `raw_payload:N`.
MAX_RECORD_ID = 256
RECORD_HEADER = struct.Struct("<HQ")
READ_CHUNK = 1 << 20
# Compressed bytes inflated per step. A zstd block inflates to at most 128 KiB from a few bytes
# (ratio < 2**15), so one step can overshoot the cap by at most 64 MiB before it is noticed.
FEED_STEP = 2048


class ShardFault(Exception):
    """A shard cannot give a record. ``reason`` is the official-style message."""

    def __init__(self, reason: str, *, missing: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        # True when the record is simply absent (a live reader may wait for it).
        self.missing = missing


def shard_file_name(number: int) -> str:
    return f"{number:0{SHARD_DIGITS}d}.zst"


def valid_shard_number(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_SHARD_NUMBER


@dataclass(slots=True)
class _Shard:
    """What is known of one shard file: how far it was read, and where each record is."""

    number: int
    path: Path
    consumed: int = 0  # compressed bytes fed to the decompressor
    decompressor: zstandard.ZstdDecompressionObj | None = None
    data: bytearray | None = None  # decompressed bytes (None once evicted)
    inflated: int = 0  # decompressed length seen (kept after eviction)
    parsed: int = 0  # offset in `data` up to which records were indexed
    records: dict[str, tuple[int, int]] = field(default_factory=dict)  # id -> (body start, body end)
    finished: bool = False  # the frame ended: nothing more will come
    broken: str | None = None  # a fault that no more bytes can cure (corrupt, bomb, bad record)
    identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the file first read


class ShardReader:
    """Reads records out of a bundle's shards. Thread-safe; never writes.

    ``cache_bytes`` bounds the decompressed bytes kept for *finished* shards; the
    open shard of a live bundle keeps its bytes so that it can be continued.
    """

    def __init__(
        self,
        payloads_dir: str | os.PathLike[str],
        *,
        cache_bytes: int = 64 << 20,
        max_inflated: int = MAX_SHARD_INFLATED,
    ) -> None:
        self.payloads_dir = Path(payloads_dir)
        self.cache_bytes = cache_bytes
        self.max_inflated = max_inflated
        self._shards: dict[int, _Shard] = {}
        self._resident: OrderedDict[int, int] = OrderedDict()  # finished shards holding data -> size
        self._resident_bytes = 0
        self._lock = threading.RLock()

    def shard_path(self, number: int) -> Path:
        return self.payloads_dir / shard_file_name(number)

    # ----- reading -------------------------------------------------------------
    def read(self, payload_id: str, number: int) -> bytes:
        """The body of record ``payload_id`` in shard ``number``, or ``ShardFault``."""
        if not valid_shard_number(number):
            raise ShardFault(f"invalid shard number {number!r}")
        with self._lock:
            shard = self._shards.get(number)
            if shard is None:
                shard = self._shards[number] = _Shard(number, self.shard_path(number))
            if shard.data is None and shard.consumed:
                self._restart(shard)  # evicted: decompress it again from the start
            span = shard.records.get(payload_id)
            if span is None and not shard.finished and shard.broken is None:
                self._advance(shard)
                span = shard.records.get(payload_id)
            if span is None:
                if shard.broken is not None:
                    raise ShardFault(shard.broken)
                raise ShardFault(f"missing payload {payload_id} in shard {number}", missing=True)
            assert shard.data is not None
            body = bytes(shard.data[span[0] : span[1]])
            self._touch(shard)
            return body

    def record_ids(self, number: int) -> list[str]:
        """Ids of the records indexed so far in a shard (reads what is new)."""
        with self._lock:
            shard = self._shards.setdefault(number, _Shard(number, self.shard_path(number)))
            if shard.data is None and shard.consumed:
                self._restart(shard)
            if not shard.finished and shard.broken is None:
                self._advance(shard)
            return list(shard.records)

    def _restart(self, shard: _Shard) -> None:
        shard.consumed = 0
        shard.decompressor = None
        shard.inflated = 0
        shard.parsed = 0
        shard.finished = False
        shard.broken = None
        shard.records.clear()

    def _advance(self, shard: _Shard) -> None:
        """Feed the shard's new compressed bytes to its decompressor and index new records."""
        try:
            handle = open_regular(shard.path, nofollow=True)
        except OSError as error:
            # The official wording: `open shard PATH` caused by the OS error.
            raise ShardFault(
                f"open shard {shard.path}: {_os_reason(error)}", missing=isinstance(error, FileNotFoundError)
            ) from None
        with handle:
            stat = os.fstat(handle.fileno())
            identity = (stat.st_dev, stat.st_ino)
            if shard.identity is not None and (identity != shard.identity or stat.st_size < shard.consumed):
                self._restart(shard)  # replaced or truncated under us: start over
            shard.identity = identity
            if shard.decompressor is None:
                shard.decompressor = zstandard.ZstdDecompressor().decompressobj()
                shard.data = bytearray()
            assert shard.data is not None
            handle.seek(shard.consumed)
            while not shard.finished and shard.broken is None:
                chunk = handle.read(READ_CHUNK)
                if not chunk:
                    break
                shard.consumed += len(chunk)
                self._feed(shard, chunk)
        self._index(shard)

    def _feed(self, shard: _Shard, chunk: bytes) -> None:
        """Inflate ``chunk`` in small steps, so a bomb is caught within one step's worth of output."""
        decompressor, data = shard.decompressor, shard.data
        assert decompressor is not None and data is not None
        view = memoryview(chunk)
        for start in range(0, len(view), FEED_STEP):
            try:
                out = decompressor.decompress(view[start : start + FEED_STEP])
            except zstandard.ZstdError as error:
                shard.broken = f"decompress shard {shard.number}: {error}"
                return
            data += out
            if len(data) > self.max_inflated:
                del data[self.max_inflated :]
                shard.broken = (
                    f"decompress shard {shard.number}: inflates past "
                    f"{self.max_inflated >> 20} MiB (a corrupt or hostile shard)"
                )
                return
            if decompressor.eof:
                shard.finished = True  # bytes after the frame are ignored, as zstd does
                break
        shard.inflated = len(data)

    def _index(self, shard: _Shard) -> None:
        data = shard.data
        assert data is not None
        offset = shard.parsed
        end = len(data)
        while end - offset >= RECORD_HEADER.size:
            id_length, body_length = RECORD_HEADER.unpack_from(data, offset)
            body_start = offset + RECORD_HEADER.size + id_length
            body_end = body_start + body_length
            if id_length == 0 or id_length > MAX_RECORD_ID:
                shard.broken = f"shard {shard.number}: bad record header at byte {offset} (id length {id_length})"
                break
            if body_end > end:
                if shard.finished or body_length > self.max_inflated:
                    shard.broken = (
                        f"shard {shard.number}: record at byte {offset} runs past the end of the "
                        f"data ({body_length} bytes claimed)"
                    )
                break  # a live shard: the rest of this record is still to come
            try:
                record_id = bytes(data[offset + RECORD_HEADER.size : body_start]).decode("utf-8")
            except UnicodeDecodeError:
                shard.broken = f"shard {shard.number}: record id at byte {offset} is not UTF-8"
                break
            shard.records.setdefault(record_id, (body_start, body_end))
            offset = body_end
        shard.parsed = offset
        if shard.finished and shard.broken is None and offset != end:
            shard.broken = f"shard {shard.number}: {end - offset} stray bytes after the last record"

    def _touch(self, shard: _Shard) -> None:
        """Account a shard's bytes in the LRU once it is finished, and evict the coldest."""
        if not shard.finished or shard.data is None:
            return
        size = len(shard.data)
        if shard.number in self._resident:
            self._resident.move_to_end(shard.number)
        else:
            self._resident[shard.number] = size
            self._resident_bytes += size
        while self._resident_bytes > self.cache_bytes and len(self._resident) > 1:
            number, evicted = self._resident.popitem(last=False)
            self._resident_bytes -= evicted
            cold = self._shards[number]
            cold.data = None
            cold.decompressor = None

    def resident_bytes(self) -> int:
        """Decompressed bytes held for finished shards (the bounded cache)."""
        with self._lock:
            return self._resident_bytes


def _os_reason(error: OSError) -> str:
    if isinstance(error, FileNotFoundError):
        return "No such file or directory (os error 2)"
    code = f" (os error {error.errno})" if error.errno else ""
    return f"{error.strerror or error}{code}"
