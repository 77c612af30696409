"""Measure ``ReplaySession`` (the model behind the viewer) in a fresh process; print JSON.

    python -m benchmarks.session_probe BUNDLE [--positions N] [--t0 MONOTONIC]

What the viewer needs at a position is the thread's live context and each
item as it was then; a "scrub step" here is exactly those queries for one
position. ``reducer_at`` (the exact full state at a position, from the nearest
checkpoint) is timed separately, for random forward and backward jumps.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import sys
import time

T_IMPORT = time.monotonic()


def _status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(field):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def rss_mb() -> float:
    """Current resident set size (Linux), else the peak so far."""
    return _status_mb("VmRSS:") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_mb() -> float:
    """Peak RSS since exec. VmHWM, not ru_maxrss: the latter also counts the parent's
    memory inherited across fork before exec."""
    return _status_mb("VmHWM:") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median": statistics.median(ordered),
        "p95": ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))],
        "max": ordered[-1],
        "n": len(ordered),
    }


def time_views(session: object, thread_id: str, total: int, rng: random.Random, positions: int) -> dict[str, object]:
    """The app's pane models (``trace_viewer.app.views``, no Textual) per position, when present.

    This is the per-step work of the viewer minus widget layout and painting.
    """
    try:
        from trace_viewer.app import views
    except ImportError:
        return {}
    out: dict[str, object] = {}
    if hasattr(views, "build_timeline"):
        begin = time.perf_counter()
        rows = views.build_timeline(session)
        out["views_timeline_s"] = time.perf_counter() - begin
        out["views_timeline_rows"] = len(rows)
    per_position = [
        getattr(views, name)
        for name in ("build_context", "composition", "selected_call", "previous_call")
        if hasattr(views, name)
    ]
    if not per_position:
        return out
    samples: list[float] = []
    for _ in range(positions):
        position = rng.randint(1, total)
        for target in (position, position - 1):
            begin = time.perf_counter()
            for function in per_position:
                function(session, thread_id, target)
            samples.append(time.perf_counter() - begin)
    out["views_step"] = summary(samples)
    out["views_step_functions"] = [f.__name__ for f in per_position]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.session_probe")
    parser.add_argument("bundle")
    parser.add_argument("--positions", type=int, default=200)
    parser.add_argument("--reducer-at", type=int, default=3, help="random reducer_at jumps to time")
    parser.add_argument("--t0", type=float, default=None, help="time.monotonic() when the parent started us")
    parser.add_argument(
        "--first-budget",
        type=float,
        default=0.25,
        help="seconds of loading before the first screen (what a progressive viewer would do)",
    )
    args = parser.parse_args(argv)
    t0 = args.t0 if args.t0 is not None else T_IMPORT
    out: dict[str, object] = {}
    try:
        from trace_viewer.rollout_session import open_session
    except ImportError as error:
        print(json.dumps({"error": f"n/a (session not ready: {error})"}))
        return 0
    rng = random.Random(7)

    start = time.monotonic()
    session = open_session(args.bundle)  # a bundle, or a session rollout file
    session.load(budget_s=args.first_budget)
    out["first_slice_s"] = time.monotonic() - t0
    out["first_slice_events"] = session.total
    session.load_all()
    out["load_all_s"] = time.monotonic() - start
    out["since_launch_s"] = time.monotonic() - t0
    out["events"] = session.total
    out["fault"] = str(session.fault) if session.fault else None
    out["rss_after_load_mb"] = rss_mb()
    out["peak_after_load_mb"] = peak_mb()
    total = session.total
    if total == 0:
        print(json.dumps(out))
        return 0
    threads = session.thread_order() or [session.rollout.root_thread_id]
    root = threads[0]

    def view(position: int) -> int:
        """Everything the context pane needs at a position: ids, then each item's version then."""
        items = session.context_at(root, position)
        for item_id in items:
            session.item_at(item_id, position)
        session.change_at(position)
        return len(items)

    forward: list[float] = []
    backward: list[float] = []
    sizes: list[int] = []
    for _ in range(args.positions):
        position = rng.randint(2, total)
        begin = time.perf_counter()
        sizes.append(view(position))
        forward.append(time.perf_counter() - begin)
        begin = time.perf_counter()
        view(position - 1)
        backward.append(time.perf_counter() - begin)
    out["scrub_random_jump"] = summary(forward)
    out["scrub_step_back"] = summary(backward)
    out["context_items_median"] = statistics.median(sizes)
    begin = time.perf_counter()
    view(total)
    out["end_s"] = time.perf_counter() - begin

    out.update(time_views(session, root, total, rng, args.positions))

    if args.reducer_at and hasattr(session, "reducer_at"):
        jumps: list[float] = []
        first = time.perf_counter()
        session.reducer_at(total // 2)
        out["reducer_at_first_s"] = time.perf_counter() - first
        for _ in range(args.reducer_at):
            position = rng.randint(1, total)
            begin = time.perf_counter()
            session.reducer_at(position)
            jumps.append(time.perf_counter() - begin)
            begin = time.perf_counter()
            session.reducer_at(max(0, position - 1))
            jumps.append(time.perf_counter() - begin)
        out["reducer_at"] = summary(jumps)
        out["rss_after_reducer_at_mb"] = rss_mb()
    out["peak_rss_mb"] = peak_mb()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
