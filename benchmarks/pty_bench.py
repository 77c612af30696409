"""The viewer in a real terminal: a pty of fixed size, the app's own output stream, wall-clock times.

Headless runs skip the terminal driver, the escape-sequence output and the
pty; this benchmark does not. It spawns ``python -m trace_viewer.app`` under a
pseudo-terminal (120×40, ``TERM=xterm-256color``), reads what the app writes,
strips escape sequences and looks for text:

* first usable screen: the header's ``seq N / N`` and both pane titles are drawn;
* fully loaded: ``seq T / T`` with T the bundle's event count, and no ``loading`` figure;
* follow latency (``--follow``): a line appended to a live bundle → its ``seq N`` on screen;
* idle CPU: the app's CPU time (``/proc``) over a few idle seconds while following.

Baseline, same run, same pty: a bare Textual app drawing one ``Static`` — what any
Textual app costs to start here. Ratios against it are what to compare between machines.

    python -m benchmarks.pty_bench [--large PATH] [--bundle PATH] [--events N]
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path
from typing import Any

from benchmarks.data import large_source, materialise_large
from benchmarks.procs import REPO_ROOT, python_env

COLUMNS, ROWS = 120, 40
ESCAPES = re.compile(
    rb"\x1b(?:\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[PX^_][^\x1b]*\x1b\\|[()][0-9A-Za-z]|.)"
)
BASELINE_APP = """
from textual.app import App
from textual.widgets import Static
class Bare(App):
    def compose(self):
        yield Static("baseline ready")
Bare().run()
"""


class PtyApp:
    """A process under a pty; ``wait_for`` reads its output until a pattern shows in the text."""

    def __init__(self, argv: list[str], *, cwd: Path = REPO_ROOT) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        env = {**python_env(), "TERM": "xterm-256color", "COLUMNS": str(COLUMNS), "LINES": str(ROWS)}
        env.pop("TEXTUAL_DRIVER", None)
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env, start_new_session=True, close_fds=True
        )
        os.close(slave)
        self.master = master
        self.text = b""  # everything written so far, escape sequences removed

    def pump(self, timeout: float) -> bool:
        """Read what is available within ``timeout``; False once the process has closed the pty."""
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.master, 1 << 16)
        except OSError:
            return False
        if not data:
            return False
        self.text += ESCAPES.sub(b"", data)
        return True

    def wait_for(self, pattern: bytes, timeout: float, *, since: int = 0) -> float | None:
        """Monotonic time at which ``pattern`` (a regex) first appears after offset ``since`` of the text."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if regex.search(self.text, since):
                return time.monotonic()
            if not self.pump(0.005):
                return None
        return None

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.pump(min(0.05, deadline - time.monotonic())):
            pass

    def close(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        os.close(self.master)


def event_count(bundle: Path) -> int:
    return sum(1 for line in (bundle / "trace.jsonl").read_bytes().split(b"\n") if line.strip())


def measure_open(bundle: Path, timeout: float = 60.0, *, total: int | None = None) -> dict[str, Any]:
    """Launch → first usable screen and → fully loaded; ``total`` is the event count (a rollout's: its lines)."""
    total = event_count(bundle) if total is None else total
    app = PtyApp([sys.executable, "-m", "trace_viewer.app", str(bundle)])
    try:
        usable = app.wait_for(rb"seq \d+ / \d+(?s:.*)Timeline|Timeline(?s:.*)seq \d+ / \d+", timeout)
        loaded = app.wait_for(rb"seq %d / %d" % (total, total), timeout)
        if loaded is not None:
            # The loading figure is gone once the last slice is drawn.
            app.drain(0.3)
        return {
            "events": total,
            "first_usable_s": None if usable is None else usable - app.started,
            "loaded_s": None if loaded is None else loaded - app.started,
        }
    finally:
        app.close()


def measure_baseline(timeout: float = 30.0) -> float | None:
    app = PtyApp([sys.executable, "-c", BASELINE_APP])
    try:
        seen = app.wait_for(rb"baseline ready", timeout)
        return None if seen is None else seen - app.started
    finally:
        app.close()


def measure_follow(source: Path, events: int, workdir: Path, idle_s: float = 3.0) -> dict[str, Any]:
    """Copy a bundle's first lines, follow it, append the rest one by one; time each appearance on screen."""
    dest = workdir / "live" / source.name
    shutil.copytree(source, dest)
    lines = (source / "trace.jsonl").read_bytes().splitlines(keepends=True)
    events = min(events, len(lines))
    # Start with a prefix and no closing event: the app follows, pinned to the newest event.
    start = max(1, min(10, events // 4))
    (dest / "trace.jsonl").write_bytes(b"".join(lines[:start]))
    app = PtyApp([sys.executable, "-m", "trace_viewer.app", str(dest), "--follow"])
    latencies: list[float] = []
    try:
        if app.wait_for(rb"seq %d / %d" % (start, start), 60.0) is None:
            return {"error": "the app did not show the prefix"}
        app.drain(1.0)
        before = app.cpu_seconds()
        app.drain(idle_s)
        idle_cpu = (app.cpu_seconds() - before) / idle_s
        with (dest / "trace.jsonl").open("ab") as log:
            for index in range(start, events):
                mark = len(app.text)
                log.write(lines[index])
                log.flush()
                written = time.monotonic()
                seen = app.wait_for(rb"seq %d / %d" % (index + 1, index + 1), 5.0, since=mark)
                if seen is None:
                    return {"error": f"seq {index + 1} never appeared", "latencies_ms": latencies}
                latencies.append((seen - written) * 1000)
                app.drain(0.05)  # writes spaced like Codex's bursts, not a flood
        latencies.sort()
        return {
            "events": len(latencies),
            "median_ms": latencies[len(latencies) // 2],
            "p95_ms": latencies[int(len(latencies) * 0.95) - 1] if len(latencies) >= 20 else latencies[-1],
            "max_ms": latencies[-1],
            "idle_cpu_percent": idle_cpu * 100,
        }
    finally:
        app.close()


FIRST_USABLE_TARGET_S = 1.0
LOADED_TARGET_S = 1.5
FOLLOW_TARGET_MS = 250.0


def measure(
    traces: list[tuple[str, Path]], follow_source: Path, workdir: Path, *, runs: int = 3, events: int = 60
) -> dict[str, Any]:
    """Baseline, then each named trace opened ``runs`` times (medians), then following."""
    out: dict[str, Any] = {"terminal": f"{COLUMNS}x{ROWS}"}
    baselines = [b for b in (measure_baseline() for _ in range(runs)) if b is not None]
    out["baseline_first_frame_s"] = min(baselines) if baselines else None
    opened: dict[str, Any] = {}
    for name, bundle in traces:
        opens = [measure_open(bundle) for _ in range(runs)]
        opened[name] = {"events": opens[0]["events"]}
        for key in ("first_usable_s", "loaded_s"):
            values = sorted(r[key] for r in opens if r[key] is not None)
            opened[name][key] = values[len(values) // 2] if values else None
            opened[name][key + "_runs"] = values
    out["opened"] = opened
    out["follow"] = measure_follow(follow_source, events, workdir)
    return out


def run(traces: list[tuple[str, Path]], workdir: Path, *, runs: int = 3) -> tuple[list[Any], dict[str, Any], list[str]]:
    """Rows for benchmarks.run: first usable / fully loaded in a pty per named trace, follow latency, idle CPU."""
    from benchmarks.table import Row, fmt_s, verdict

    raw = measure(traces, REPO_ROOT / "sample_traces" / "tools_terminal", workdir, runs=runs)
    base = raw.get("baseline_first_frame_s")
    rows = [Row("pty: bare Textual app → first frame (baseline)", fmt_s(base))]
    note = (
        f"pty: the viewer under a {raw['terminal']} pseudo-terminal, timed from spawn to the text in its output "
        "stream (benchmarks/pty_bench.py); ratios are against the bare Textual app in the same pty and run"
    )
    notes = [note]
    for large_name, large_raw in raw["opened"].items():
        for key, label, target in (
            ("first_usable_s", "first usable screen", FIRST_USABLE_TARGET_S),
            ("loaded_s", "fully loaded", LOADED_TARGET_S),
        ):
            value = large_raw.get(key)
            ratio = f"{value / base:.1f}× baseline" if value and base else "—"
            rows.append(Row(f"pty: launch → {label} ({large_name})", fmt_s(value), ratio=ratio,
                            target=f"≤ {fmt_s(target)}", verdict=verdict(value, target)))  # fmt: skip
    follow = raw.get("follow") or {}
    if "error" in follow:
        rows.append(Row("pty: follow write → screen", f"n/a ({follow['error']})"))
    else:
        latency = f"median {follow['median_ms']:.0f} ms, p95 {follow['p95_ms']:.0f} ms, max {follow['max_ms']:.0f} ms"
        rows.append(Row("pty: follow write → screen", latency, target="≤ 250 ms",
                        verdict=verdict(follow["p95_ms"], FOLLOW_TARGET_MS)))  # fmt: skip
        rows.append(Row("pty: idle CPU while following", f"{follow['idle_cpu_percent']:.1f} % of a core"))
    return rows, raw, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pty_bench")
    parser.add_argument("--large", help="the large trace (bundle, folder or archive); default: benchmarks/data")
    parser.add_argument("--bundle", default=str(REPO_ROOT / "sample_traces" / "tools_terminal"),
                        help="bundle to follow (its lines are replayed into a live copy)")  # fmt: skip
    parser.add_argument("--events", type=int, default=60, help="events to append while following")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pty-bench-") as tmp:
        workdir = Path(tmp)
        source, how = large_source(args.large)
        traces = [("large", materialise_large(source, workdir))] if source is not None else []
        out = measure(traces, Path(args.bundle), workdir, runs=args.runs, events=args.events)
        out["large_from"] = how
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
