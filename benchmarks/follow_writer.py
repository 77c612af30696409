"""Replay a bundle into a directory the way Codex writes it, timestamping each event.

    python -m benchmarks.follow_writer SRC DEST --times TIMES.json [--events N] [--gap-ms G]

For each event: its payload files are written first (Codex writes a payload
before the event that references it), then the event line is appended in two
chunks split mid-line and flushed. The ``time.monotonic()`` at which the line was
complete is recorded per seq; CLOCK_MONOTONIC is system-wide on Linux, so a
follower in another process can subtract it from its own readings.
DEST must already hold ``manifest.json`` (the benchmark creates it before the
follower starts).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from pathlib import Path

_PAYLOAD_PATH = re.compile(rb'"path":"([^"]+)"')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.follow_writer")
    parser.add_argument("src")
    parser.add_argument("dest")
    parser.add_argument("--times", required=True)
    parser.add_argument("--events", type=int, default=0, help="stop after N events (0 = all)")
    parser.add_argument("--gap-ms", type=float, default=20.0, help="mean pause between events")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    src, dest = Path(args.src), Path(args.dest)
    rng = random.Random(args.seed)
    lines = [line for line in (src / "trace.jsonl").read_bytes().split(b"\n") if line.strip()]
    if args.events:
        lines = lines[: args.events]
    times: dict[int, float] = {}
    (dest / "payloads").mkdir(exist_ok=True)
    with open(dest / "trace.jsonl", "ab", buffering=0) as log:
        for seq, line in enumerate(lines, start=1):
            for ref in _PAYLOAD_PATH.findall(line):
                source = src / ref.decode()
                if source.is_file():
                    target = dest / ref.decode()
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(source.read_bytes())
            data = line + b"\n"
            cut = rng.randrange(1, len(data))
            log.write(data[:cut])
            time.sleep(0.002)  # a reader may see the torn half
            log.write(data[cut:])
            times[seq] = time.monotonic()
            # Exponential gaps: mostly short, sometimes long, like a model streaming then a tool running.
            time.sleep(rng.expovariate(1000.0 / args.gap_ms) if args.gap_ms > 0 else 0)
    Path(args.times).write_text(json.dumps(times), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
