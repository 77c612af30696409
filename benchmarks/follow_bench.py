"""Follow latency: a writer appends a corpus bundle's events while a follower watches.

Writer and follower are separate processes (no shared GIL); both stamp
``time.monotonic()``, which is one system-wide clock on Linux, so
latency = (follower saw seq N) - (writer finished writing seq N's line).
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.procs import REPO_ROOT, python_env
from benchmarks.table import Row, fmt_s, verdict

FOLLOW_TARGET_S = 0.250
EVENTS = 300
GAP_MS = 15.0


def _latencies(written: dict[str, float], seen: dict[str, float]) -> list[float]:
    return [seen[seq] - at for seq, at in written.items() if seq in seen]


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median": statistics.median(ordered),
        "p95": ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))],
        "max": ordered[-1],
        "n": len(ordered),
    }


def measure(source: Path, workdir: Path, follower_cmd: list[str], events: int, name: str) -> dict[str, Any]:
    """Run one writer/follower pair; returns latency stats or an error."""
    dest = workdir / f"follow-{name}" / source.name
    shutil.rmtree(dest.parent, ignore_errors=True)
    (dest / "payloads").mkdir(parents=True)
    shutil.copyfile(source / "manifest.json", dest / "manifest.json")
    total = sum(1 for line in (source / "trace.jsonl").read_bytes().split(b"\n") if line.strip())
    events = min(events, total)
    times_file = dest.parent / "written.json"
    env = python_env()
    follower = subprocess.Popen(
        [*follower_cmd, str(dest), "--expect", str(events)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert follower.stdout is not None
    ready = follower.stdout.readline().strip()
    if ready != "READY":
        follower.kill()
        _, err = follower.communicate()
        return {"error": f"follower did not start: {ready or err.strip().splitlines()[-1:]}"}
    writer = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.follow_writer",
            str(source),
            str(dest),
            "--times",
            str(times_file),
            "--events",
            str(events),
            "--gap-ms",
            str(GAP_MS),
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    try:
        out, err = follower.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        follower.kill()
        out, err = follower.communicate()
    if writer.returncode != 0:
        return {"error": f"writer failed: {writer.stderr.strip().splitlines()[-1:]}"}
    try:
        result = json.loads(out.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        return {"error": f"follower output unreadable: {(err.strip().splitlines() or ['?'])[-1][:200]}"}
    if "error" in result:
        return result
    written = json.loads(times_file.read_text(encoding="utf-8"))
    lat = _latencies(written, result.get("seen", {}))
    stats = _stats(lat) if lat else None
    return {
        "latency": stats,
        "missed": len(written) - len(lat),
        "events": len(written),
        "fault": result.get("fault"),
        "extra": {k: v for k, v in result.items() if k not in ("seen",)},
    }


def run(source: Path, workdir: Path) -> tuple[list[Row], dict[str, Any], list[str]]:
    rows: list[Row] = []
    raw: dict[str, Any] = {}
    notes: list[str] = []
    if not (source / "manifest.json").is_file():
        return [Row("follow", "skipped (source bundle not found)")], raw, notes
    followers = [
        (
            "session",
            "follow: write → ReplaySession state (poll every 10 ms)",
            [sys.executable, "-m", "benchmarks.follow_probe", "--interval-ms", "10"],
        ),
    ]
    from benchmarks import app_bench

    app_cmd = app_bench.follow_command()
    if app_cmd is not None:
        followers.append(("app", "follow: write → screen (app, headless)", app_cmd))
    else:
        rows.append(Row("follow: write → screen (app)", "n/a (app not ready)", target="≤ 250 ms"))
    for key, label, cmd in followers:
        result = measure(source, workdir, cmd, EVENTS, key)
        raw[key] = result
        if "error" in result:
            rows.append(Row(label, result["error"]))
            continue
        stats = result["latency"]
        if stats is None:
            rows.append(Row(label, f"no events seen (fault: {result.get('fault')})"))
            continue
        text = f"median {fmt_s(stats['median'])}, p95 {fmt_s(stats['p95'])}, max {fmt_s(stats['max'])}"
        if result["missed"]:
            text += f"; {result['missed']} of {result['events']} never seen"
        ok = verdict(stats["p95"], FOLLOW_TARGET_S) if not result["missed"] else "MISSED (events not seen)"
        rows.append(Row(label, text, target="≤ 250 ms", verdict=ok))
        if result.get("fault"):
            notes.append(f"follow ({key}) fault: {result['fault']}")
    written = max((r.get("events", 0) for r in raw.values() if isinstance(r, dict)), default=EVENTS)
    notes.append(
        f"follow: the first {written} events of {source.name} written like Codex does (payloads first, "
        f"each line in two chunks split mid-line), exponential gaps averaging {GAP_MS:g} ms; "
        "verdict on p95"
    )
    return rows, raw, notes
