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

Run it by hand to feed a viewer::

    python tests/follow/writer.py SOURCE_BUNDLE DEST_DIR [--seed N] [--event-delay 0.2]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


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
    if options.manifest_delay:
        stop.wait(options.manifest_delay)
    _write_file(pieces, dest / "manifest.json", (source / "manifest.json").read_bytes())

    written_payloads: set[str] = set()
    late: list[tuple[float, str]] = []
    count = 0
    log = os.open(dest / "trace.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for line in lines:
            if stop.is_set():
                break
            try:
                event = json.loads(line) if line.strip() else None
            except ValueError:
                event = None  # a broken line of a broken bundle: written as it is
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
    # Payload files no event references (none in Codex's own bundles) are copied last.
    for payload in sorted((source / "payloads").glob("*")):
        relative = f"payloads/{payload.name}"
        if relative not in written_payloads and payload.is_file() and not stop.is_set():
            shutil.copyfile(payload, dest / relative)
    return count


class WriterThread(threading.Thread):
    """``write_bundle`` in the background; ``error`` holds what went wrong, ``progress`` the seqs written.

    ``holds``: line counts after which the writer stops until ``release()`` (``held`` is set meanwhile),
    so a test can act on a known prefix.
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
        self._released = threading.Event()
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
        if lines in self.holds:
            self._released.clear()
            self.held.set()
            while not self._released.wait(0.05) and not self.stop_event.is_set():
                pass
            self.held.clear()

    def release(self) -> None:
        """Let a held writer go on (to its next hold, or the end)."""
        self._released.set()

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
    args = parser.parse_args()
    options = WriterOptions(
        seed=args.seed,
        start_delay=args.start_delay,
        manifest_delay=args.manifest_delay,
        event_delay=args.event_delay,
        chunk_delay=args.chunk_delay,
        late_payloads=args.late_payloads,
    )
    lines = write_bundle(args.source, args.dest, options)
    print(f"wrote {lines} lines into {args.dest}")


if __name__ == "__main__":
    main()
