"""Schema 3 payload shards: zstd frames of length-prefixed records, read lazily and bounded.

A shard (``payloads/000001.zst``, ...) is one zstd frame whose content is a run of
records ``u16 LE id length | u64 LE body length | id | body``. Codex flushes each
record as its own zstd block and finishes the frame only when it closes the shard
(a final 7-byte write), so the newest shard of a live or killed run is an
*unfinished* frame. A streaming decompressor fed the bytes written so far yields
every complete record of it.

Everything here is untrusted input: shard numbers come from trace lines, lengths
come from the shard itself, and a few kilobytes of zstd can claim gigabytes. So:

- decompressed output arrives in chunks of at most ``OUTPUT_CHUNK`` bytes and each
  chunk is indexed as it arrives; a bad header, a duplicate id or a record past the
  size limits stops decompression at once (the output never runs ahead of the checks
  by more than one chunk);
- a record body is at most ``MAX_RECORD_BYTES``; records after the first must end
  within ``MAX_SHARED_SHARD_BYTES`` (Codex starts a new shard past 8 MiB, so only a
  record alone in its shard can be large); a shard holds at most ``MAX_RECORDS``;
- each shard's index (id -> body span) is built once, while its bytes are fed;
- decompressed bytes of finished shards live in a byte-bounded LRU (``cache_bytes``,
  which also pays for the indexes); an evicted shard is decompressed again when
  needed (a few milliseconds for 8 MiB); small records, which later prompts reuse,
  are kept apart in their own bounded LRU (``small_cache_bytes``);
- the newest unfinished shard keeps its decompressor: when it grows, only the new
  compressed bytes are fed, it is never re-read from its start.

Fault texts follow Codex 0.171.0's reducer where it has one (``missing payload
raw_payload:13 in shard 1``, ``open shard PATH: No such file or directory (os error
2)``, ``decompress shard PATH: Restored data doesn't match checksum``, ``partial
record in sealed shard 1``, ``duplicate payload raw_payload:5 in shard 1``,
``missing footer in payload shard 1``).
"""

from __future__ import annotations

import errno
import os
import struct
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import BinaryIO, TypeGuard

import zstandard

from trace_viewer.bundle._files import NotRegularFile, open_regular

SHARD_DIGITS = 6
# Shard numbers are u64 in Codex's reader; a number is only ever formatted into a file name.
MAX_SHARD_NUMBER = 2**64 - 1
# Codex starts a new shard when a record would take the current one past this (uncompressed).
ROTATION_BYTES = 8 << 20
# A record body, like a schema 2 payload file, is at most this big.
MAX_RECORD_BYTES = 256 << 20
# Records after a shard's first must end within this: 8x Codex's rotation size. Only a record
# alone in its shard (bigger than the rotation size by itself) may go past it.
MAX_SHARED_SHARD_BYTES = 64 << 20
# Real shards hold a few hundred records (under 500 per 8 MiB in a 610-call trace).
MAX_RECORDS = 1 << 17
RECORD_HEADER = struct.Struct("<HQ")
# Input is fed in stretches that can release at most this much output; the checks run after each.
OUTPUT_CHUNK = 1 << 20
# A record claiming more than the limits is either corruption (a lying length, a header read out
# of step) or a bomb. Corruption usually ends soon: the shard's remaining output is inflated and
# thrown away, up to this much, to tell them apart the way Codex would (its frame ends first:
# "partial record in sealed shard N"); past this much it is the limit fault.
DISCARD_BYTES = 64 << 20
# Room for decompressed bytes at a shard's first read (doubled as needed).
_FIRST_CAPACITY = 1 << 20
# Compressed bytes read from the file per system call.
READ_CHUNK = 1 << 20
# Memory an index entry costs (key, tuple, ints, dict slot), counted against the cache budget.
INDEX_ENTRY_COST = 200
# Records up to this size are kept in the small-record cache once read (model items, events).
SMALL_RECORD_BYTES = 64 << 10
# Two rotation-size shards: the one being read and the one before it, where most references back
# land (a record is written just before the line citing it; in a 610-call trace 88 % of the model
# items a prompt cites from older shards are one shard back). Indexes are paid from it too.
DEFAULT_CACHE_BYTES = 2 * ROTATION_BYTES
# Model items are stored once and cited by every later prompt, from any older shard: they are
# kept apart, by bytes (3 MB of them in a 610-call trace).
DEFAULT_SMALL_CACHE_BYTES = 8 << 20

_ZSTD_MAGIC = 0xFD2FB528
_SKIPPABLE_MAGIC_MASK = 0xFFFFFFF0
_SKIPPABLE_MAGIC = 0x184D2A50
# python-zstandard's prefixes before zstd's own error name (which Codex prints as it is).
_ZSTD_PREFIXES = ("zstd decompressor error: ", "zstd decompress error: ")
# Block_Maximum_Size: no block regenerates more.
_BLOCK_MAXIMUM = 128 << 10
# Not a frame: fed in pieces this small. Nothing inflates more than 32768x (an RLE block: 4 bytes
# for 128 KiB), so a piece releases at most 1 MiB before the checks run.
_LOST_STEP = 32
_MAX_EXPANSION = 32768


class ShardFault(Exception):
    """A shard cannot give a record. ``reason`` is the official-style one-line message.

    ``missing``: the file or the record is absent (rather than damaged or refused).
    ``retry``: the answer may change while the bundle is written (the shard file does not
    exist yet, or the record is not in the shard's unfinished frame yet).
    """

    def __init__(self, reason: str, *, missing: bool = False, retry: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.missing = missing
        self.retry = retry


class Availability(Enum):
    """What ``ShardReader.availability`` knows about a record without reading it."""

    READY = "ready"  # indexed: a read will return it (unless the file changes)
    PENDING = "pending"  # not there yet, but the shard is still being written: it may come
    FAULT = "fault"  # it will never come: a read raises the fault


def shard_file_name(number: int) -> str:
    return f"{number:0{SHARD_DIGITS}d}.zst"


def valid_shard_number(value: object) -> TypeGuard[int]:
    """An integer Codex could have written (u64); booleans are not numbers here."""
    return type(value) is int and 0 <= value <= MAX_SHARD_NUMBER


class _Stop(Exception):
    """Raised inside the decompressor's output callback to stop it: the shard is faulty."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _FrameWalker:
    """Follows the zstd frame structure (RFC 8878) over the compressed bytes, headers only.

    It answers what the decompressor does not: where a frame ends ("sealed": a finished shard
    gets no more records, an unfinished one may) and how much output a stretch of input can
    release at most (a block regenerates at most 128 KiB; raw and RLE blocks say exactly how
    much), so input is fed in stretches whose output is bounded however it was compressed.
    Bytes that are not a frame leave the walker ``lost``: they are cut in small pieces and the
    decompressor reports the corruption itself.
    """

    __slots__ = (
        "_carry",
        "_checksum",
        "_content_bound",
        "_last",
        "_need",
        "_skip",
        "_skippable",
        "_state",
        "frames",
        "lost",
    )

    def __init__(self) -> None:
        self._carry = b""
        self._state = "magic"
        self._need = 4  # header bytes wanted before the next step
        self._skip = 0  # content bytes (of a block or a skippable frame) still to pass over
        self._content_bound = 0  # output the content being passed over can release
        self._last = False  # that content is the frame's last block
        self._checksum = False
        self._skippable = False  # in a skippable frame (no blocks, no checksum)
        self.frames = 0  # frames seen to their end
        self.lost = False

    @property
    def between_frames(self) -> bool:
        """At a frame boundary (after at least one whole frame), with nothing pending."""
        return self.frames > 0 and self._state == "magic" and not self._carry and not self._skip and not self.lost

    def feed(self, data: bytes) -> list[tuple[int, int, bool]]:
        """Cut points in ``data``, in order: (end offset, most output the bytes since the previous
        cut can release, a frame ends there). The last cut is at ``len(data)``."""
        cuts: list[tuple[int, int, bool]] = []
        position, size = 0, len(data)
        while position < size:
            if self.lost:
                end = min(size, position + _LOST_STEP)
                cuts.append((end, _LOST_STEP * _MAX_EXPANSION, False))
                position = end
            elif self._skip:
                step = min(self._skip, size - position)
                self._skip -= step
                position += step
                if not self._skip:
                    cuts.append((position, self._content_bound, self._content_done()))
            else:
                take = min(self._need - len(self._carry), size - position)
                self._carry += data[position : position + take]
                position += take
                if len(self._carry) == self._need:
                    header, self._carry = self._carry, b""
                    if self._step(header):
                        cuts.append((position, 0, True))
        if not cuts or cuts[-1][0] != size:
            cuts.append((size, self._content_bound if self._skip else 0, False))
        return cuts

    def _step(self, header: bytes) -> bool:
        """Take one header; True when it ends a frame."""
        state = self._state
        if state == "magic":
            magic = int.from_bytes(header, "little")
            if magic == _ZSTD_MAGIC:
                self._state, self._need = "descriptor", 1
            elif magic & _SKIPPABLE_MAGIC_MASK == _SKIPPABLE_MAGIC:
                self._state, self._need = "skippable", 4
                self._skippable = True
            else:
                self.lost = True
        elif state == "skippable":
            return self._content(int.from_bytes(header, "little"), 0, last=True)
        elif state == "descriptor":
            descriptor = header[0]
            single_segment = bool(descriptor & 0x20)
            self._checksum = bool(descriptor & 0x04)
            rest = (
                (0 if single_segment else 1)  # window descriptor
                + (0, 1, 2, 4)[descriptor & 0x03]  # dictionary id
                + (1 if single_segment else 0, 2, 4, 8)[descriptor >> 6]  # content size
            )
            self._state, self._need = ("header", rest) if rest else ("block", 3)
        elif state == "header":
            self._state, self._need = "block", 3
        elif state == "block":
            value = int.from_bytes(header, "little")
            last, kind, size = bool(value & 1), (value >> 1) & 3, value >> 3
            # Raw and RLE blocks regenerate exactly `size` bytes (RLE stores one); others at most 128 KiB.
            bound = size if kind in (0, 1) else _BLOCK_MAXIMUM
            return self._content(1 if kind == 1 else size, bound, last=last)
        elif state == "checksum":
            self._end_frame()
            return True
        return False

    def _content(self, length: int, bound: int, *, last: bool) -> bool:
        """Pass over ``length`` content bytes next; True if that already ends the frame (no content)."""
        self._skip, self._content_bound, self._last = length, bound, last
        self._state = "content"
        return False if length else self._content_done()

    def _content_done(self) -> bool:
        """The content just passed over is complete; True when that ends the frame."""
        if not self._last:
            self._state, self._need = "block", 3
            return False
        if self._checksum and not self._skippable:
            self._state, self._need = "checksum", 4
            return False
        self._end_frame()
        return True

    def _end_frame(self) -> None:
        self.frames += 1
        self._state, self._need = "magic", 4
        self._skippable = False


@dataclass(slots=True)
class _Shard:
    """What is known of one shard file: how far it was read, where each record is, what is kept."""

    number: int
    path: Path
    identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the file read
    # Set once the frame was read to its footer: no record will ever be added. The decompressed
    # size, kept when the bytes are evicted, to check a re-read.
    sealed_size: int | None = None
    consumed: int = 0  # compressed bytes fed to the current decompressor
    walker: _FrameWalker | None = None
    decompressor: zstandard.ZstdDecompressionObj | None = None  # None before reading and once sealed
    # Decompressed bytes (None before reading, or evicted); only the first `length` are output, the
    # rest is room to grow into (filling a buffer in place is 2x faster than appending to it).
    data: bytearray | None = None
    length: int = 0
    indexed: int = 0  # offset in `data` up to which records were indexed
    records: dict[str, tuple[int, int]] = field(default_factory=dict)  # id -> (body start, body end)
    complete: bool = False  # `records` holds every record of the sealed frame
    fault: str | None = None  # what no more bytes can cure (corrupt, hostile, changed)
    # A record past the size limits was announced: output is counted and dropped from here on.
    oversized: str | None = None  # the limit fault, if the output goes on for too long
    discarded: int = 0


class ShardReader:
    """Reads records out of a bundle's shards. Thread-safe; never writes.

    ``root`` is the bundle directory: a shard file (or ``payloads/`` itself) that is a
    link leading outside it is refused, never opened.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        payloads_dir: str = "payloads",
        *,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        small_cache_bytes: int = DEFAULT_SMALL_CACHE_BYTES,
    ) -> None:
        self.root = Path(os.path.realpath(root))
        self.payloads_dir = self.root / payloads_dir
        self.cache_bytes = cache_bytes
        self.small_cache_bytes = small_cache_bytes
        self._shards: dict[int, _Shard] = {}
        # Shards holding decompressed bytes or an index, coldest first (what the budget pays for).
        self._lru: OrderedDict[int, None] = OrderedDict()
        self._small: OrderedDict[tuple[int, str], bytes] = OrderedDict()
        self._small_bytes = 0
        self._newest = -1  # highest shard number opened: the one a live writer appends to
        self._lock = threading.RLock()
        # Times a shard was decompressed from its start (first reads and re-reads after eviction).
        self.decompressions = 0

    def shard_path(self, number: int) -> Path:
        return self.payloads_dir / shard_file_name(number)

    # ----- the public questions ----------------------------------------------------------
    def read(self, payload_id: str, number: int, max_bytes: int | None = None) -> bytes:
        """The body of record ``payload_id`` in shard ``number`` (its first ``max_bytes``), or ``ShardFault``."""
        if not valid_shard_number(number):
            raise ShardFault(f"invalid shard number {number!r}")
        with self._lock:
            small = self._small.get((number, payload_id))
            if small is not None:
                self._small.move_to_end((number, payload_id))
                return small if max_bytes is None else small[: max(max_bytes, 0)]
            shard = self._located(number, payload_id)
            if shard.data is None:  # evicted: decompress it again
                self._reinflate(shard)
                shard = self._located(number, payload_id)
            data = shard.data
            assert data is not None
            start, end = shard.records[payload_id]
            stop = end if max_bytes is None else min(end, start + max(max_bytes, 0))
            with memoryview(data) as view:
                body = bytes(view[start:stop])
            self._lru.move_to_end(number)
            if max_bytes is None and len(body) <= SMALL_RECORD_BYTES:
                self._remember_small(number, payload_id, body)
            return body

    def size(self, payload_id: str, number: int) -> int:
        """The body length of a record, from the index."""
        if not valid_shard_number(number):
            raise ShardFault(f"invalid shard number {number!r}")
        with self._lock:
            small = self._small.get((number, payload_id))
            if small is not None:
                return len(small)
            start, end = self._located(number, payload_id).records[payload_id]
            return end - start

    def availability(self, payload_id: str, number: int) -> Availability:
        """Can the record be read now, may it still come, or never? Reads only what is new."""
        try:
            self.size(payload_id, number)
        except ShardFault as fault:
            return Availability.PENDING if fault.retry else Availability.FAULT
        return Availability.READY

    def record_ids(self, number: int) -> list[str]:
        """Ids of the records of a shard so far, in file order (reads what is new; raises ``ShardFault``)."""
        with self._lock:
            shard = self._ready(number)
            if not shard.complete:
                self._advance(shard)
            return sorted(shard.records, key=lambda record_id: shard.records[record_id][0])

    def footer_fault(self, numbers: Iterable[int], *, recording_closed: bool) -> str | None:
        """The official end-of-log check: shards must be sealed.

        A closed recording has sealed every shard; one that was not closed (killed, or still
        running) may leave its newest shard unfinished, but only that one.
        """
        wanted = sorted({number for number in numbers if valid_shard_number(number)})
        with self._lock:
            for number in wanted:
                try:
                    shard = self._ready(number)
                    if shard.sealed_size is None:
                        self._advance(shard)
                except ShardFault as fault:
                    return fault.reason
                if shard.sealed_size is None and (recording_closed or number != wanted[-1]):
                    return f"missing footer in payload shard {number}"
        return None

    def resident(self, payload_id: str, number: int) -> bool:
        """Can the record be read without decompressing its shard from the start (it may not exist)?"""
        with self._lock:
            if (number, payload_id) in self._small:
                return True
            shard = self._shards.get(number)
            return shard is not None and shard.data is not None

    def ahead(self, number: int) -> bool:
        """Is shard ``number`` past every shard read so far (so a reader going forward reads it next)?"""
        with self._lock:
            return valid_shard_number(number) and number > self._newest

    # ----- cache introspection (tests, benchmarks) -------------------------------------------
    def resident_bytes(self) -> int:
        """Decompressed bytes held for shards other than the live one."""
        with self._lock:
            live = self._live_number()
            return sum(len(shard.data) for shard in self._cached() if shard.data is not None and shard.number != live)

    def cached_bytes(self) -> int:
        """What the cache budget pays for: those bytes plus the indexes."""
        with self._lock:
            return self._cost()

    def small_cache_info(self) -> tuple[int, int]:
        """(records, bytes) in the small-record cache."""
        with self._lock:
            return len(self._small), self._small_bytes

    # ----- finding a record ---------------------------------------------------------------------
    def _ready(self, number: int) -> _Shard:
        if not valid_shard_number(number):
            raise ShardFault(f"invalid shard number {number!r}")
        shard = self._shards.get(number)
        if shard is None:
            shard = self._shards[number] = _Shard(number, self.shard_path(number))
        if shard.fault is not None:
            raise ShardFault(shard.fault)
        return shard

    def _located(self, number: int, payload_id: str) -> _Shard:
        """The shard, indexed far enough to hold ``payload_id``; ``ShardFault`` if it does not."""
        shard = self._ready(number)
        if payload_id not in shard.records and not shard.complete:
            self._advance(shard)
        if payload_id not in shard.records:
            reason = f"missing payload {payload_id} in shard {number}"
            raise ShardFault(reason, missing=True, retry=shard.sealed_size is None)
        return shard

    # ----- decompressing --------------------------------------------------------------------
    def _open(self, shard: _Shard) -> BinaryIO:
        """Open the shard file read-only, confined to the bundle; the fault texts are the official ones."""
        path = shard.path
        real = Path(os.path.realpath(path))
        if real != path and not real.is_relative_to(self.root):
            relative = f"{self.payloads_dir.name}/{path.name}"
            raise ShardFault(f"refused shard path that leaves the bundle via a link: {relative}")
        try:
            return open_regular(real, nofollow=True)
        except NotRegularFile:
            if real.is_dir():  # Codex opens a directory and fails reading it
                raise ShardFault(
                    f"decompress shard {path}: {_os_reason(IsADirectoryError(errno.EISDIR, ''))}"
                ) from None
            raise ShardFault(f"open shard {path}: not a regular file") from None
        except OSError as error:
            missing = isinstance(error, FileNotFoundError)
            raise ShardFault(f"open shard {path}: {_os_reason(error)}", missing=missing, retry=missing) from None

    def _advance(self, shard: _Shard) -> None:
        """Feed the shard's new compressed bytes to its decompressor, indexing records as they arrive."""
        with self._open(shard) as handle:
            status = os.fstat(handle.fileno())
            identity = (status.st_dev, status.st_ino)
            if shard.identity is not None and (identity != shard.identity or status.st_size < shard.consumed):
                self._forget(shard)  # replaced or truncated under us: start over
                shard.sealed_size = None
                for key in [key for key in self._small if key[0] == shard.number]:
                    self._small_bytes -= len(self._small.pop(key))
            shard.identity = identity
            if shard.number > self._newest:
                self._newest = shard.number
                self._seal_older(shard.number)
            if shard.complete:
                return
            if shard.decompressor is None:
                self._start(shard)
            handle.seek(shard.consumed)
            while shard.fault is None and not shard.complete:
                chunk = handle.read(READ_CHUNK)
                if not chunk:
                    break
                self._feed(shard, chunk)
        if shard.fault is not None:
            self._forget(shard)
            raise ShardFault(shard.fault)
        self._lru[shard.number] = None
        self._lru.move_to_end(shard.number)
        self._keep_budget(shard.number)

    def _seal_older(self, newest: int) -> None:
        """A newer shard was opened, so Codex finished the older ones first: read their footers now,
        which frees their decompressors and lets the budget evict them."""
        for shard in list(self._shards.values()):
            if shard.number < newest and shard.decompressor is not None and shard.fault is None:
                try:
                    self._advance(shard)
                except ShardFault:
                    pass  # reported when one of its records is asked for

    def _start(self, shard: _Shard) -> None:
        """A fresh decompressor from the shard's first byte."""
        shard.oversized = None
        shard.discarded = 0
        shard.consumed = 0
        shard.indexed = 0
        shard.records.clear()
        shard.complete = False
        # A re-read knows its size; a first read starts small and doubles.
        shard.data = bytearray(shard.sealed_size if shard.sealed_size is not None else _FIRST_CAPACITY)
        shard.length = 0
        shard.walker = _FrameWalker()
        shard.decompressor = zstandard.ZstdDecompressor().decompressobj()
        self.decompressions += 1

    def _feed(self, shard: _Shard, chunk: bytes) -> None:
        """Inflate new compressed bytes in stretches that release at most ``OUTPUT_CHUNK`` each."""
        walker = shard.walker
        assert walker is not None
        shard.consumed += len(chunk)
        start = end = bound = 0
        for cut, cut_bound, frame_ends in walker.feed(chunk):
            if end > start and bound + cut_bound > OUTPUT_CHUNK:
                self._inflate(shard, chunk[start:end])
                start, bound = end, 0
            bound += cut_bound
            end = cut
            if frame_ends:
                self._inflate(shard, chunk[start:end])
                start, bound = end, 0
            if shard.fault is not None:
                return
        if end > start:
            self._inflate(shard, chunk[start:end])
        if shard.fault is None and walker.between_frames:
            self._seal(shard)

    def _inflate(self, shard: _Shard, piece: bytes) -> None:
        """Decompress one stretch (a frame ending in it is followed by the next, as zstd reads them)."""
        while piece and shard.fault is None:
            decompressor = shard.decompressor
            assert decompressor is not None
            try:
                out = decompressor.decompress(piece)
            except zstandard.ZstdError as error:
                shard.fault = f"decompress shard {shard.path}: {_zstd_reason(error)}"
                return
            piece = b""
            if decompressor.eof:
                piece = decompressor.unused_data
                shard.decompressor = zstandard.ZstdDecompressor().decompressobj()
            if out:
                self._take(shard, out)

    def _take(self, shard: _Shard, out: bytes) -> None:
        """New output: kept and indexed, or only counted past an oversized record."""
        if shard.oversized is not None:
            shard.discarded += len(out)
            if shard.discarded > DISCARD_BYTES:
                shard.fault = shard.oversized
            return
        data = shard.data
        assert data is not None
        end = shard.length + len(out)
        if end > len(data):
            data.extend(bytes(max(len(data), end - len(data))))
        data[shard.length : end] = out
        shard.length = end
        try:
            self._index(shard)
        except _Stop as stop:
            shard.fault = stop.reason

    def _seal(self, shard: _Shard) -> None:
        """The frame ended: nothing more will come. Bytes after the last record are a cut record."""
        data = shard.data
        assert data is not None
        shard.decompressor = None  # frees its window buffer
        shard.walker = None
        del data[shard.length :]  # no more room needed
        if shard.indexed != shard.length or shard.oversized is not None:
            shard.fault = f"partial record in sealed shard {shard.number}"
        elif shard.sealed_size is not None and shard.sealed_size != shard.length:
            shard.fault = f"shard {shard.number} changed while it was read"
        else:
            shard.sealed_size = shard.length
            shard.complete = True

    def _index(self, shard: _Shard) -> None:
        """Index the complete records past ``shard.indexed``; raise ``_Stop`` at anything hostile."""
        data = shard.data
        assert data is not None
        records = shard.records
        offset = shard.indexed
        end = shard.length
        try:
            while end - offset >= RECORD_HEADER.size:
                id_length, body_length = RECORD_HEADER.unpack_from(data, offset)
                body_start = offset + RECORD_HEADER.size + id_length
                body_end = body_start + body_length
                if body_length > MAX_RECORD_BYTES:
                    self._oversized(
                        shard,
                        offset,
                        f"record at byte {offset} claims {body_length} bytes (the limit is {MAX_RECORD_BYTES >> 20} MiB)",
                    )
                    return
                if offset > 0 and body_end > MAX_SHARED_SHARD_BYTES:
                    self._oversized(
                        shard,
                        offset,
                        f"records run past {MAX_SHARED_SHARD_BYTES >> 20} MiB "
                        f"(Codex starts a new shard past {ROTATION_BYTES >> 20} MiB)",
                    )
                    return
                if body_end > end:
                    break  # the rest of this record is still to come
                try:
                    record_id = bytes(data[offset + RECORD_HEADER.size : body_start]).decode("utf-8")
                except UnicodeDecodeError as error:
                    raise _Stop(f"{_utf8_reason(error)} (record id at byte {offset} of shard {shard.number})") from None
                if record_id in records:
                    raise _Stop(f"duplicate payload {record_id} in shard {shard.number}")
                if len(records) >= MAX_RECORDS:
                    raise _Stop(f"decompress shard {shard.path}: more than {MAX_RECORDS} records")
                records[record_id] = (body_start, body_end)
                offset = body_end
        finally:
            # Output past `offset` stays bounded: a complete header was checked above, and a partial
            # one is under 10 bytes plus the id it announces (at most 64 KiB).
            shard.indexed = offset

    @staticmethod
    def _oversized(shard: _Shard, offset: int, why: str) -> None:
        """Stop keeping output at a record past the limits (see ``DISCARD_BYTES``)."""
        assert shard.data is not None
        shard.oversized = f"decompress shard {shard.path}: {why}"
        shard.discarded = shard.length - offset
        shard.length = offset

    def _reinflate(self, shard: _Shard) -> None:
        """Decompress an evicted (sealed) shard again from its start; its index is rebuilt on the way."""
        shard.decompressor = None
        shard.complete = False
        self._advance(shard)

    def _forget(self, shard: _Shard) -> None:
        """Drop what was decompressed; the next read starts from the file's first byte."""
        shard.consumed = 0
        shard.decompressor = None
        shard.walker = None
        shard.data = None
        shard.indexed = 0
        shard.records.clear()
        shard.complete = False
        self._lru.pop(shard.number, None)

    # ----- the cache -----------------------------------------------------------------------
    def _cached(self) -> list[_Shard]:
        return [self._shards[number] for number in self._lru]

    def _live_number(self) -> int | None:
        """The shard a live writer appends to: the newest opened, while it is not sealed."""
        shard = self._shards.get(self._newest)
        return shard.number if shard is not None and shard.sealed_size is None else None

    def _cost(self) -> int:
        live = self._live_number()
        total = 0
        for shard in self._cached():
            if shard.data is not None and shard.number != live:
                total += len(shard.data)
            total += INDEX_ENTRY_COST * len(shard.records)
        return total

    def _keep_budget(self, keep: int) -> None:
        """Evict, coldest first, decompressed bytes and then indexes, until the budget holds.

        ``keep`` (the shard just read) and the live shard stay: the live shard is continued from
        where it was, never re-read. An unfinished shard loses everything (it restarts when read);
        a sealed one keeps its index while only its bytes go.
        """
        excess = self._cost() - self.cache_bytes
        live = self._live_number()
        for number in list(self._lru):
            if excess <= 0:
                return
            shard = self._shards[number]
            if number in (keep, live) or shard.data is None:
                continue
            excess -= len(shard.data)
            if shard.complete:
                shard.data = None
            else:
                excess -= INDEX_ENTRY_COST * len(shard.records)
                self._forget(shard)
        for number in list(self._lru):
            if excess <= 0:
                return
            shard = self._shards[number]
            if number in (keep, live):
                continue
            excess -= INDEX_ENTRY_COST * len(shard.records)
            self._forget(shard)

    def _remember_small(self, number: int, payload_id: str, body: bytes) -> None:
        key = (number, payload_id)
        if key in self._small or len(body) > self.small_cache_bytes:
            return
        self._small[key] = body
        self._small_bytes += len(body)
        while self._small_bytes > self.small_cache_bytes:
            _, evicted = self._small.popitem(last=False)
            self._small_bytes -= len(evicted)


def _os_reason(error: OSError) -> str:
    """Rust's rendering of an OS error: ``No such file or directory (os error 2)``."""
    if error.errno:
        return f"{os.strerror(error.errno)} (os error {error.errno})"
    return str(error)


def _zstd_reason(error: zstandard.ZstdError) -> str:
    text = str(error)
    for prefix in _ZSTD_PREFIXES:
        text = text.removeprefix(prefix)
    return text


def _utf8_reason(error: UnicodeDecodeError) -> str:
    """Rust's ``Utf8Error`` text: ``invalid utf-8 sequence of 1 bytes from index 0``."""
    if error.reason == "unexpected end of data":
        return f"incomplete utf-8 byte sequence from index {error.start}"
    return f"invalid utf-8 sequence of {error.end - error.start} bytes from index {error.start}"


def is_shard_file(path: str | os.PathLike[str]) -> bool:
    """``NNNNNN.zst`` (at least six digits): a name the writer gives shards."""
    name = os.path.basename(path)
    digits = name[:-4]
    return name.endswith(".zst") and len(digits) >= SHARD_DIGITS and digits.isdigit()


__all__ = [
    "MAX_RECORD_BYTES",
    "MAX_SHARED_SHARD_BYTES",
    "ROTATION_BYTES",
    "Availability",
    "ShardFault",
    "ShardReader",
    "is_shard_file",
    "shard_file_name",
    "valid_shard_number",
]
