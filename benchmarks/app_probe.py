"""Drive the Textual app headless in a fresh process and time what a person would feel; print JSON.

    python -m benchmarks.app_probe BUNDLE [--positions N] [--t0 MONOTONIC]
    python -m benchmarks.app_probe --follow BUNDLE --expect N

Timings end at a *frame*: the app's ``_display`` is wrapped so every composited
screen update is stamped with ``time.monotonic()`` and the viewer's position at
that moment. Headless Textual composites exactly as it would for a terminal and
only skips the final write, so "key → first frame showing the new position" is
the latency a user sees, minus the terminal's own drawing.

The app's API is discovered, not assumed: the App subclass in ``trace_viewer.app``,
and a screen exposing ``session`` and ``position`` (the viewer). Anything missing
makes the probe report ``n/a`` instead of failing.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import inspect
import json
import pkgutil
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

T_IMPORT = time.monotonic()
SIZE = (160, 48)
FRAME_TIMEOUT_S = 10.0


def find_app_class() -> type:
    """The Textual ``App`` subclass defined in ``trace_viewer.app`` (raises ImportError if none)."""
    from textual.app import App

    package = importlib.import_module("trace_viewer.app")
    modules = [package]
    for info in pkgutil.iter_modules(package.__path__):
        if info.name in ("main", "app", "application", "viewer"):
            modules.append(importlib.import_module(f"trace_viewer.app.{info.name}"))
    for module in modules:
        for value in vars(module).values():
            if inspect.isclass(value) and issubclass(value, App) and value.__module__.startswith("trace_viewer"):
                return value
    raise ImportError("no textual App subclass in trace_viewer.app")


def make_app(cls: type, bundle: Path, follow: bool) -> Any:
    params = inspect.signature(cls).parameters
    kwargs: dict[str, Any] = {}
    if "follow" in params:
        kwargs["follow"] = follow
    elif follow:
        raise ImportError("the app takes no follow argument")
    return cls(bundle, **kwargs)


def _status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(field):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def summary(samples: list[float]) -> dict[str, float] | None:
    if not samples:
        return None
    ordered = sorted(samples)
    return {
        "median": statistics.median(ordered),
        "p95": ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))],
        "max": ordered[-1],
        "n": len(ordered),
    }


class GcPauses:
    """Durations of full (generation 2) collections: on a big heap they stall the UI for a frame or more."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._start = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        elif info.get("generation") == 2:
            self.pauses.append(time.perf_counter() - self._start)


class Frames:
    """Stamps every composited frame with the viewer's position."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.stamps: list[tuple[float, int | None, bool]] = []
        original = app._display

        def display(screen: Any, renderable: Any) -> Any:
            result = original(screen, renderable)
            if renderable is not None:
                self.stamps.append((time.monotonic(), getattr(screen, "position", None), self.usable(screen)))
            return result

        app._display = display

    @staticmethod
    def viewer(app: Any) -> Any | None:
        screen = app.screen
        return screen if hasattr(screen, "session") and hasattr(screen, "position") else None

    @staticmethod
    def usable(screen: Any) -> bool:
        """The viewer shows a position, and both the timeline and the context have content."""
        session = getattr(screen, "session", None)
        if session is None or not getattr(session, "total", 0) or not getattr(screen, "position", 0):
            return False
        for name in ("timeline", "context"):
            panes = screen.query(f"#{name}")
            if not panes:
                continue  # no such pane: judge by the others
            blocks = getattr(panes.first(), "blocks", None)
            if blocks is not None and not blocks:
                return False
        return True

    async def wait(self, after: float, predicate: Any, timeout: float = FRAME_TIMEOUT_S) -> float | None:
        """Monotonic time of the first frame after ``after`` whose (position, usable) satisfies ``predicate``."""
        deadline = time.monotonic() + timeout
        index = 0
        while True:
            while index < len(self.stamps):
                stamp, position, usable = self.stamps[index]
                index += 1
                if stamp >= after and predicate(position, usable):
                    return stamp
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(0.001)


async def browse(bundle: Path, t0: float, positions: int, seed: int) -> dict[str, Any]:
    cls = find_app_class()
    app = make_app(cls, bundle, follow=False)
    frames = Frames(app)
    out: dict[str, Any] = {"notes": []}
    rng = random.Random(seed)
    async with app.run_test(size=SIZE) as pilot:
        first = await frames.wait(0.0, lambda pos, usable: usable, timeout=120)
        out["first_screen_s"] = None if first is None else first - t0
        viewer = Frames.viewer(app)
        if viewer is None:
            out["notes"].append("app: no viewer screen (with session and position) found")
            return out
        session = viewer.session
        deadline = time.monotonic() + 300
        while not (getattr(viewer, "loaded", True) and session.done) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        loaded = time.monotonic()
        last = await frames.wait(loaded - 0.05, lambda pos, usable: pos == session.total, timeout=10)
        out["fully_loaded_s"] = (last or loaded) - t0
        out["events"] = session.total
        out["first_frame_position"] = next((pos for _, pos, usable in frames.stamps if usable), None)
        total = session.total
        goto = getattr(viewer, "goto", None)
        if total < 3 or goto is None:
            out["notes"].append("app: too few events or no goto(); scrub not measured")
            return out
        forward: list[float] = []
        backward: list[float] = []
        gc_pauses = GcPauses()
        out["gc_tracked_objects"] = len(gc.get_objects())
        for _ in range(positions):
            position = rng.randint(2, total - 1)
            goto(position)
            await pilot.pause()
            for key, target, bucket in (("right", position + 1, forward), ("left", position, backward)):
                begin = time.monotonic()
                await pilot.press(key)
                stamp = await frames.wait(begin, lambda pos, usable, t=target: pos == t)
                if stamp is not None:
                    bucket.append(stamp - begin)
        out["step_forward"] = summary(forward)
        out["step_backward"] = summary(backward)
        # `]`: jump to the next model call — a new request snapshot, so most of the context is new.
        jumps: list[float] = []
        for _ in range(max(1, positions // 2)):
            position = rng.randint(2, total - 1)
            goto(position)
            await pilot.pause()
            begin = time.monotonic()
            await pilot.press("right_square_bracket")
            stamp = await frames.wait(begin, lambda pos, usable, p=position: pos is not None and pos > p, timeout=2)
            if stamp is not None:
                jumps.append(stamp - begin)
        out["jump_next_call"] = summary(jumps)
        goto(1)
        await pilot.pause()
        begin = time.monotonic()
        await pilot.press("end")
        stamp = await frames.wait(begin, lambda pos, usable: pos == total)
        out["end_s"] = None if stamp is None else stamp - begin
        begin = time.monotonic()
        await pilot.press("home")
        stamp = await frames.wait(begin, lambda pos, usable: pos == 1)
        out["home_s"] = None if stamp is None else stamp - begin
        out["gc_gen2_pauses"] = summary(gc_pauses.pauses)
        out["rss_browsing_mb"] = _status_mb("VmRSS:")
        out["peak_rss_mb"] = _status_mb("VmHWM:")
        out["frames"] = len(frames.stamps)
        await pilot.press("q")
    return out


async def follow(bundle: Path, expect: int, timeout: float) -> dict[str, Any]:
    cls = find_app_class()
    app = make_app(cls, bundle, follow=True)
    frames = Frames(app)
    async with app.run_test(size=SIZE):
        deadline = time.monotonic() + 30
        while Frames.viewer(app) is None and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        print("READY", flush=True)
        viewer = Frames.viewer(app)
        deadline = time.monotonic() + timeout
        while viewer is not None and time.monotonic() < deadline:
            if frames.stamps and (frames.stamps[-1][1] or 0) >= expect:
                break
            await asyncio.sleep(0.01)
        seen: dict[int, float] = {}
        shown = 0
        for stamp, position, _ in frames.stamps:
            while position is not None and shown < position:
                shown += 1
                seen[shown] = stamp
        session = getattr(viewer, "session", None)
        fault = getattr(session, "fault", None)
        app.exit(0)
    return {"seen": seen, "fault": str(fault) if fault else None, "frames": len(frames.stamps)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.app_probe")
    parser.add_argument("bundle")
    parser.add_argument("--positions", type=int, default=40)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--t0", type=float, default=None, help="time.monotonic() when the parent started us")
    parser.add_argument("--follow", action="store_true")
    parser.add_argument("--expect", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    try:
        if args.follow:
            result = asyncio.run(follow(Path(args.bundle), args.expect, args.timeout))
        else:
            t0 = args.t0 if args.t0 is not None else T_IMPORT
            result = asyncio.run(browse(Path(args.bundle), t0, args.positions, args.seed))
    except ImportError as error:
        if args.follow:
            print("READY", flush=True)
        result = {"error": f"n/a (app not ready: {error})"}
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
