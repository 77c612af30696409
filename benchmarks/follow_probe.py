"""Follower side of the follow-latency benchmark; prints JSON ``{seq: monotonic seen}``.

    python -m benchmarks.follow_probe BUNDLE --expect N [--interval-ms 10] [--timeout 60]

Mode ``session``: ``ReplaySession(follow=True).poll()`` in a loop every
``interval-ms`` — the read + parse + apply part of the latency, without a
watcher or a screen. Prints ``READY`` once following, then the JSON when the
``expect``-th event was applied (or on timeout).
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def follow_session(bundle: str, expect: int, interval_s: float, timeout_s: float) -> dict[str, object]:
    from trace_viewer.session import ReplaySession

    session = ReplaySession(bundle, follow=True)
    seen: dict[int, float] = {}
    print("READY", flush=True)
    deadline = time.monotonic() + timeout_s
    poll_costs: list[float] = []
    while session.total < expect and time.monotonic() < deadline and not session.stopped:
        begin = time.monotonic()
        before = session.total
        if session.poll():
            now = time.monotonic()
            poll_costs.append(now - begin)
            for seq in range(before + 1, session.total + 1):
                seen[seq] = now
        time.sleep(interval_s)
    fault = session.fault
    return {
        "seen": seen,
        "fault": str(fault) if fault else None,
        "total": session.total,
        "poll_cost_median_s": sorted(poll_costs)[len(poll_costs) // 2] if poll_costs else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.follow_probe")
    parser.add_argument("bundle")
    parser.add_argument("--expect", type=int, required=True)
    parser.add_argument("--interval-ms", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    try:
        result = follow_session(args.bundle, args.expect, args.interval_ms / 1000, args.timeout)
    except ImportError as error:
        print("READY", flush=True)
        result = {"error": f"n/a (session not ready: {error})"}
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
