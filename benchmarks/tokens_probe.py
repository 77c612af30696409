"""Measure token counting on one bundle in a fresh process; print JSON on the last line.

    python -m benchmarks.tokens_probe BUNDLE [--positions N] [--t0 MONOTONIC]

Baseline measured in the same process: the replay of the bundle (what opening
it costs anyway). Then: loading the tokenizer; counting every item of every
call cold (each item once, every request payload read once); the same again
cached; and a usage-pane scrub step (``usage_at`` at random positions, counts
cached), the per-step work the app adds for tokens.
"""

from __future__ import annotations

import argparse
import json
import random
import time

from benchmarks.session_probe import rss_mb, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tokens_probe")
    parser.add_argument("bundle")
    parser.add_argument("--positions", type=int, default=200)
    parser.add_argument("--t0", type=float, default=None)
    args = parser.parse_args(argv)
    try:
        from trace_viewer.session import ReplaySession
        from trace_viewer.tokens import view
        from trace_viewer.tokens.encoding import count_tokens
        from trace_viewer.tokens.report import session_counter
    except ImportError as error:
        print(json.dumps({"error": f"n/a (tokens not ready: {error})"}))
        return 0
    out: dict[str, object] = {}
    begin = time.perf_counter()
    session = ReplaySession(args.bundle)
    session.load_all()
    out["replay_s"] = time.perf_counter() - begin
    out["events"] = session.total
    out["rss_after_replay_mb"] = rss_mb()

    begin = time.perf_counter()
    count_tokens("load the vocabulary")
    out["tokenizer_load_s"] = time.perf_counter() - begin
    out["rss_after_tokenizer_mb"] = rss_mb()

    counter = session_counter(session)
    begin = time.perf_counter()
    out["calls"] = counter.warm()
    out["cold_s"] = time.perf_counter() - begin
    info = counter.cache_info()
    out["items"] = info["items"]
    out["rss_after_count_mb"] = rss_mb()

    begin = time.perf_counter()
    counter.warm()
    out["cached_s"] = time.perf_counter() - begin

    rng = random.Random(7)
    threads = session.thread_order() or [session.rollout.root_thread_id]
    root = threads[0]
    steps: list[float] = []
    for _ in range(args.positions):
        position = rng.randint(1, max(1, session.total))
        begin = time.perf_counter()
        view.usage_at(counter, session, root, position)
        steps.append(time.perf_counter() - begin)
    out["scrub_step"] = summary(steps)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
