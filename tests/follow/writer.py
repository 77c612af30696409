"""Re-write an existing bundle into a new directory the way Codex writes a live one.

Codex's writer (observed in 0.169) creates the bundle directory and ``payloads/``,
writes ``manifest.json`` with many small unbuffered writes, opens ``trace.jsonl``
for appending, then for each event writes the payload files it references
*before* appending the event line, flushing after every line. A long line can
still reach the disk in pieces (the line buffer flushes when full), so a reader
may see a torn last line at any moment.

``write_bundle`` reproduces that, seeded, with extra hostility a reader must
survive: each event line is split at random points (sometimes right before its
newline) with small pauses between the pieces; payload files too are written
in pieces; the directory can appear late and the manifest after a delay.
``late_payloads`` (not something Codex does) finishes some payload files only
*after* the line that references them, to exercise the reader's brief retry.

Schema 3 bundles (0.171.0) are re-encoded the way that writer works (seen with
strace): payload records go into ``payloads/000001.zst``, ... through one zstd
compressor per shard, each record compressed and flushed as its own block in one
``write()`` *before* the line citing it; the open shard stays an unfinished frame;
a record that would take the shard past ``shard_bytes`` (8 MiB in Codex, small in
tests) starts the next shard after the old one is finished (its final 7-byte
write); the last shard is finished right before the ``recording_completed`` line,
and stays unfinished when the source has none (a killed run) or writing stops.
When the shard numbers differ from the source's (another ``shard_bytes``), lines
are re-serialised with the new numbers. ``split_records`` (not Codex) writes some
records' blocks in two pieces, so a reader may see half a block.

Run it by hand to feed a viewer::

    python tests/follow/writer.py SOURCE_BUNDLE DEST_DIR [--seed N] [--event-delay 0.2]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zstandard

# Codex 0.171.0 starts a new shard when a record would take the current one past this.
CODEX_SHARD_BYTES = 8 << 20
_RECORD_HEADER = struct.Struct("<HQ")


@dataclass(slots=True)
class WriterOptions:
    seed: int = 0
    # Seconds before the bundle directory is created at all (following a root: it appears late).
    start_delay: float = 0.0
    # Seconds between creating the directory (with payloads/) and writing the manifest.
    manifest_delay: float = 0.0
    # Pause after each event line: uniform in [0, event_delay] seconds.
    event_delay: float = 0.004
    # Pause between the pieces of one line or payload file: uniform in [0, chunk_delay] seconds.
    chunk_delay: float = 0.002
    # Each line is written in 1..max_chunks pieces.
    max_chunks: int = 4
    # Chance that a line is cut exactly before its newline (complete JSON, still not a complete line).
    cut_before_newline: float = 0.2
    # Chance that a referenced payload is finished only after its event line (a slow disk; not Codex).
    late_payloads: float = 0.0
    # How long such a payload lags behind its line, in seconds.
    late_payload_lag: float = 0.05
    # Schema 3: rotate to a new shard when a record would take the current one past this.
    shard_bytes: int = CODEX_SHARD_BYTES
    # Schema 3: chance that a record's block is written in two pieces (a reader sees half a block).
    split_records: float = 0.0


def _payload_refs(value: Any) -> Iterator[dict[str, Any]]:
    """Every payload reference inside an event, wherever the event type keeps it."""
    if isinstance(value, dict):
        if isinstance(value.get("raw_payload_id"), str) and isinstance(value.get("path"), str):
            yield value
        for inner in value.values():
            yield from _payload_refs(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _payload_refs(inner)


class _Pieces:
    """Writes bytes to a file descriptor in random pieces, with pauses between them."""

    def __init__(self, rng: random.Random, options: WriterOptions, stop: threading.Event) -> None:
        self.rng = rng
        self.options = options
        self.stop = stop

    def cuts(self, data: bytes, newline_bias: bool) -> list[int]:
        if len(data) < 2:
            return []
        count = self.rng.randint(1, self.options.max_chunks) - 1
        cuts = set(self.rng.sample(range(1, len(data)), min(count, len(data) - 1)))
        if newline_bias and data.endswith(b"\n") and self.rng.random() < self.options.cut_before_newline:
            cuts.add(len(data) - 1)
        return sorted(cuts)

    def write(self, fd: int, data: bytes, *, newline_bias: bool = False) -> None:
        start = 0
        for cut in [*self.cuts(data, newline_bias), len(data)]:
            view = memoryview(data)[start:cut]
            while view:
                written = os.write(fd, view)
                view = view[written:]
            start = cut
            if cut < len(data):
                self.pause(self.options.chunk_delay)

    def pause(self, ceiling: float) -> None:
        if ceiling > 0:
            self.stop.wait(self.rng.uniform(0, ceiling))


def shard_record(record_id: str, body: bytes) -> bytes:
    """One shard record: u16 LE id length, u64 LE body length, id, body."""
    encoded = record_id.encode("utf-8")
    return _RECORD_HEADER.pack(len(encoded), len(body)) + encoded + body


def read_shard_records(path: Path) -> list[tuple[str, bytes]]:
    """The records of a (finished or unfinished) shard file, in file order; a cut record is left out."""
    data = zstandard.ZstdDecompressor().decompressobj().decompress(path.read_bytes())
    records: list[tuple[str, bytes]] = []
    offset = 0
    while len(data) - offset >= _RECORD_HEADER.size:
        id_length, body_length = _RECORD_HEADER.unpack_from(data, offset)
        start = offset + _RECORD_HEADER.size + id_length
        if start + body_length > len(data):
            break
        records.append((data[offset + _RECORD_HEADER.size : start].decode("utf-8"), data[start : start + body_length]))
        offset = start + body_length
    return records


class ShardWriter:
    """Writes payload records into ``payloads/NNNNNN.zst`` as Codex 0.171.0 does (see the module doc)."""

    def __init__(self, payloads: Path, *, shard_bytes: int = CODEX_SHARD_BYTES, pieces: _Pieces | None = None) -> None:
        self.payloads = payloads
        self.shard_bytes = shard_bytes
        self.pieces = pieces
        self.number = 0  # the open shard (0: none yet)
        self.size = 0  # uncompressed bytes in the open shard
        self._fd: int | None = None
        self._compressor: Any = None

    def add(self, record_id: str, body: bytes, *, split: bool = False) -> int:
        """Write one record (one block, one ``write()``); returns the shard it went to."""
        record = shard_record(record_id, body)
        if self._fd is not None and self.size and self.size + len(record) > self.shard_bytes:
            self.finish()
        if self._fd is None:
            self.number += 1
            self.size = 0
            self._fd = os.open(self.payloads / f"{self.number:06d}.zst", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            self._compressor = zstandard.ZstdCompressor(write_checksum=True).compressobj()
        block = self._compressor.compress(record) + self._compressor.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
        if split and self.pieces is not None and len(block) > 1:
            cut = len(block) // 2
            self._write(block[:cut])
            self.pieces.pause(self.pieces.options.chunk_delay)
            self._write(block[cut:])
        else:
            self._write(block)
        self.size += len(record)
        return self.number

    def finish(self) -> None:
        """Finish the open shard's frame (the final write: last block and checksum) and close it."""
        if self._fd is None:
            return
        self._write(self._compressor.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH))
        self.close()

    def close(self) -> None:
        """Close the open shard; unless it was finished, its frame stays unfinished (a killed writer)."""
        if self._fd is not None:
            os.close(self._fd)
        self._fd = None
        self._compressor = None

    def _write(self, data: bytes) -> None:
        assert self._fd is not None
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]


def _shard_refs(value: Any) -> Iterator[dict[str, Any]]:
    """Every schema 3 payload reference inside an event (a prepared prompt's parts included)."""
    if isinstance(value, dict):
        if isinstance(value.get("raw_payload_id"), str) and "shard" in value:
            yield value
        for inner in value.values():
            yield from _shard_refs(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _shard_refs(inner)


class _Schema3Payloads:
    """The source bundle's records, written to the destination's shards as lines cite them."""

    def __init__(self, source: Path, dest: Path, options: WriterOptions, pieces: _Pieces, rng: random.Random) -> None:
        self.options = options
        self.rng = rng
        self.records: dict[str, tuple[int, bytes]] = {}  # id -> (position in the source, body)
        for path in sorted((source / "payloads").glob("*.zst")):
            for record_id, body in read_shard_records(path):
                self.records.setdefault(record_id, (len(self.records), body))
        self.writer = ShardWriter(dest / "payloads", shard_bytes=options.shard_bytes, pieces=pieces)
        self.placed: dict[str, int] = {}  # id -> shard number in the destination

    def before_line(self, line: bytes, event: Any) -> bytes:
        """Write the records the line cites (in the source's order); the line, renumbered if needed."""
        payload = event.get("payload") if isinstance(event, dict) else None
        if isinstance(payload, dict) and payload.get("type") == "recording_completed":
            self.finish()  # Codex finishes its shard before writing the last line
        refs = list(_shard_refs(event))
        new = {ref["raw_payload_id"] for ref in refs if ref["raw_payload_id"] not in self.placed}
        for record_id in sorted((rid for rid in new if rid in self.records), key=lambda rid: self.records[rid][0]):
            split = self.options.split_records > 0 and self.rng.random() < self.options.split_records
            self.placed[record_id] = self.writer.add(record_id, self.records[record_id][1], split=split)
        changed = False
        for ref in refs:
            number = self.placed.get(ref["raw_payload_id"])
            if number is not None and ref["shard"] != number:
                ref["shard"] = number
                changed = True
        if not changed:
            return line
        return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"

    def finish(self) -> None:
        for record_id, (_, body) in sorted(self.records.items(), key=lambda item: item[1][0]):
            if record_id not in self.placed:  # not cited by any line (Codex has none): still stored
                self.placed[record_id] = self.writer.add(record_id, body)
        self.writer.finish()


def _write_file(pieces: _Pieces, path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        pieces.write(fd, data)
    finally:
        os.close(fd)


def write_bundle(
    source: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    options: WriterOptions | None = None,
    *,
    stop: threading.Event | None = None,
    progress: list[int] | None = None,
    gate: Callable[[int], None] | None = None,
) -> int:
    """Write ``source`` (a finished bundle) into ``dest`` as a live writer would. Returns lines written.

    ``progress``, if given, gets the seq of each event appended right after its line is complete.
    ``gate``, if given, is called with the number of lines written after each one (it may block).
    ``stop`` ends the writing early (the bundle is then left as it is, unfinished).
    """
    options = options or WriterOptions()
    stop = stop or threading.Event()
    rng = random.Random(options.seed)
    pieces = _Pieces(rng, options, stop)
    source = Path(source)
    dest = Path(dest)
    lines = (source / "trace.jsonl").read_bytes().splitlines(keepends=True)

    if options.start_delay:
        stop.wait(options.start_delay)
    (dest / "payloads").mkdir(parents=True, exist_ok=True)
    if gate is not None:
        gate(0)  # a hold at 0 lines: the directory exists, the manifest does not yet
    if options.manifest_delay:
        stop.wait(options.manifest_delay)
    _write_file(pieces, dest / "manifest.json", (source / "manifest.json").read_bytes())

    written_payloads: set[str] = set()
    late: list[tuple[float, str]] = []
    count = 0
    manifest = json.loads((source / "manifest.json").read_bytes())
    sharded = _Schema3Payloads(source, dest, options, pieces, rng) if manifest.get("schema_version", 0) >= 3 else None
    log = os.open(dest / "trace.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for line in lines:
            if stop.is_set():
                break
            try:
                event = json.loads(line) if line.strip() else None
            except ValueError:
                event = None  # a broken line of a broken bundle: written as it is
            if sharded is not None:
                line = sharded.before_line(line, event)
            for ref in _payload_refs(event):
                path = ref["path"]
                if path in written_payloads or not (source / path).is_file():
                    continue
                written_payloads.add(path)
                if options.late_payloads and rng.random() < options.late_payloads:
                    late.append((time.monotonic() + options.late_payload_lag, path))
                    continue
                _write_file(pieces, dest / path, (source / path).read_bytes())
            pieces.write(log, line, newline_bias=True)
            count += 1
            if progress is not None and isinstance(event, dict):
                progress.append(event.get("seq", -1))
            for due, path in [entry for entry in late if entry[0] <= time.monotonic()]:
                late.remove((due, path))
                _write_file(pieces, dest / path, (source / path).read_bytes())
            if gate is not None:
                gate(count)
            pieces.pause(options.event_delay)
        for due, path in late:
            stop.wait(max(0.0, due - time.monotonic()))
            _write_file(pieces, dest / path, (source / path).read_bytes())
    finally:
        os.close(log)
        if sharded is not None:
            sharded.writer.close()  # no `recording_completed` (or stopped): the last frame stays unfinished
    if sharded is not None:
        return count
    # Payload files no event references (none in Codex's own bundles) are copied last.
    for payload in sorted((source / "payloads").glob("*")):
        relative = f"payloads/{payload.name}"
        if relative not in written_payloads and payload.is_file() and not stop.is_set():
            shutil.copyfile(payload, dest / relative)
    return count


class WriterThread(threading.Thread):
    """``write_bundle`` in the background; ``error`` holds what went wrong, ``progress`` the seqs written.

    ``holds``: line counts after which the writer stops until ``release()`` (``held`` is set meanwhile,
    ``held_at`` says which), so a test can act on a known prefix; 0 holds before the manifest is
    written. Releases are counted: the n-th hold passes once ``release()`` was called n times, so a
    release never gets lost by coming before the writer reached its hold.
    """

    def __init__(
        self,
        source: str | os.PathLike[str],
        dest: str | os.PathLike[str],
        options: WriterOptions,
        *,
        holds: Iterable[int] = (),
    ) -> None:
        super().__init__(name=f"bundle-writer-{Path(dest).name}", daemon=True)
        self.source = Path(source)
        self.dest = Path(dest)
        self.options = options
        self.holds = set(holds)
        self.stop_event = threading.Event()
        self.held = threading.Event()
        self.held_at: int | None = None
        self._condition = threading.Condition()
        self._reached = 0  # holds reached so far
        self._releases = 0
        self.progress: list[int] = []
        self.error: BaseException | None = None
        self.lines = 0

    def run(self) -> None:
        try:
            self.lines = write_bundle(
                self.source, self.dest, self.options, stop=self.stop_event, progress=self.progress, gate=self._gate
            )
        except BaseException as error:  # noqa: BLE001 - reported to the test through `error`
            self.error = error

    def _gate(self, lines: int) -> None:
        if lines not in self.holds:
            return
        with self._condition:
            self._reached += 1
            self.held_at = lines
            self.held.set()
            self._condition.notify_all()
            while self._releases < self._reached and not self.stop_event.is_set():
                self._condition.wait(0.05)  # (and look at the stop event now and then)
            self.held_at = None
            self.held.clear()

    @property
    def reached(self) -> int:
        """How many holds the writer has reached so far (it is at the last one while ``held``)."""
        return self._reached

    def wait_held(self, lines: int, timeout: float) -> bool:
        """Block until the writer is held after ``lines`` lines (False: not within ``timeout``, a hang)."""
        with self._condition:
            return self._condition.wait_for(lambda: self.held_at == lines, timeout)

    def release(self) -> None:
        """Let the writer go on past its current (or next) hold, to the one after it or the end."""
        with self._condition:
            self._releases += 1
            self._condition.notify_all()

    def stop(self) -> None:
        self.stop_event.set()
        self.join(timeout=5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--event-delay", type=float, default=WriterOptions.event_delay)
    parser.add_argument("--chunk-delay", type=float, default=WriterOptions.chunk_delay)
    parser.add_argument("--start-delay", type=float, default=0.0)
    parser.add_argument("--manifest-delay", type=float, default=0.0)
    parser.add_argument("--late-payloads", type=float, default=0.0)
    parser.add_argument("--shard-bytes", type=int, default=CODEX_SHARD_BYTES, help="schema 3: rotation size")
    args = parser.parse_args()
    options = WriterOptions(
        seed=args.seed,
        start_delay=args.start_delay,
        manifest_delay=args.manifest_delay,
        event_delay=args.event_delay,
        chunk_delay=args.chunk_delay,
        late_payloads=args.late_payloads,
        shard_bytes=args.shard_bytes,
    )
    lines = write_bundle(args.source, args.dest, options)
    print(f"wrote {lines} lines into {args.dest}")


if __name__ == "__main__":
    main()
