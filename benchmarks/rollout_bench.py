"""Session rollouts: open the long session in the viewer, scrub it, rebuild its calls, list a sessions tree.

The long session (``benchmarks/data/long_session.tar.xz``: one Codex 0.171.0 rollout, 5579 lines,
622 model calls) is unpacked into the run's work directory. The viewer rows reuse the app and
session probes (fresh processes, frames stamped as they are composited): first usable screen
≤ 1 s and a scrub step ≤ 50 ms are the targets, as for bundles. The same-run baseline is the
bundled sample opened by the same probe, so a slow machine shows in both.
"""

from __future__ import annotations

import lzma
import shutil
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

from benchmarks import app_bench, pty_bench
from benchmarks.procs import REPO_ROOT, last_line, run_probe, run_python
from benchmarks.table import Row, fmt_s, verdict

ARCHIVE = REPO_ROOT / "benchmarks" / "data" / "long_session.tar.xz"


def unpack(workdir: Path) -> Path | None:
    """The long session's rollout file, unpacked under ``workdir`` (None if the archive is absent)."""
    if not ARCHIVE.is_file():
        return None
    target = workdir / "rollouts"
    with lzma.open(ARCHIVE) as stream, tarfile.open(fileobj=stream) as tar:
        if sys.version_info >= (3, 12):
            tar.extractall(target, filter="data")
        else:
            tar.extractall(target)
    return next(iter(sorted(target.rglob("rollout-*.jsonl"))), None)


def _timed(args: list[str], runs: int) -> tuple[float | None, str | None]:
    """Median wall time of ``python -m trace_viewer ARGS`` (output discarded)."""
    walls: list[float] = []
    for _ in range(runs):
        begin = time.perf_counter()
        proc = run_python(["-m", "trace_viewer", *args], keep_stdout=False)
        if proc.returncode != 0:
            return None, last_line(proc.stderr)[:200]
        walls.append(time.perf_counter() - begin)
    walls.sort()
    return walls[len(walls) // 2], None


def _baseline(rows: list[Row], raw: dict[str, Any], bundle: Path) -> None:
    """The large bundle in the same probe, at the same time: how much of a step is the viewer's own cost."""
    ours = raw.get("viewer", {}).get("app") or {}
    base = run_probe("benchmarks.app_probe", [str(bundle)])
    raw["bundle_baseline"] = base
    if "error" in base or "error" in ours:
        rows.append(Row("rollout vs bundle (same run)", base.get("error") or ours.get("error") or "n/a"))
        return
    for key, label in (
        ("first_screen_s", "first usable screen"),
        ("step_forward", "scrub step → p95"),
        ("step_backward", "scrub step ← p95"),
        ("jump_next_call", "jump ] p95"),
    ):
        mine, theirs = ours.get(key), base.get(key)
        if isinstance(mine, dict):
            mine, theirs = mine.get("p95"), (theirs or {}).get("p95")
        if not isinstance(mine, float) or not isinstance(theirs, float) or theirs <= 0:
            continue
        rows.append(
            Row(
                f"rollout vs the large bundle, same run: {label}",
                f"{fmt_s(mine)} vs {fmt_s(theirs)}",
                ratio=f"{mine / theirs:.2f}",
                verdict="the viewer's own cost" if mine / theirs <= 1.2 else "rollout slower",
            )
        )


def _pty_rows(rows: list[Row], raw: dict[str, Any], rollout: Path, lines: int, name: str, runs: int) -> None:
    """The viewer on the rollout in a real pty (terminal driver and escape output included), as for bundles."""
    # The fastest of a few bare starts, as pty_bench takes it (the first one pays for a cold cache).
    bases = [b for b in (pty_bench.measure_baseline() for _ in range(max(3, runs))) if b is not None]
    base = min(bases) if bases else None
    opens = [pty_bench.measure_open(rollout, total=lines) for _ in range(runs)]
    raw["pty"] = {"baseline_first_frame_s": base, "opens": opens}
    for key, label, target in (
        ("first_usable_s", "first usable screen", pty_bench.FIRST_USABLE_TARGET_S),
        ("loaded_s", "fully loaded", pty_bench.LOADED_TARGET_S),
    ):
        values = sorted(value for value in (run[key] for run in opens) if value is not None)
        value = values[len(values) // 2] if values else None
        rows.append(
            Row(
                f"pty: launch → {label} ({name})",
                fmt_s(value),
                ratio=f"{value / base:.1f}× bare Textual" if value and base else "—",
                target=f"≤ {fmt_s(target)}",
                verdict=verdict(value, target),
            )
        )


def run(workdir: Path, runs: int = 3, baseline: Path | None = None) -> tuple[list[Row], dict[str, Any], list[str]]:
    rows: list[Row] = []
    notes: list[str] = []
    raw: dict[str, Any] = {}
    rollout = unpack(workdir)
    if rollout is None:
        return [Row("rollouts", f"skipped ({ARCHIVE.name} not found)")], raw, notes
    name = "long session rollout"
    size_mb = rollout.stat().st_size / 1e6
    lines = sum(1 for _ in rollout.open("rb"))
    notes.append(f"{name}: {rollout.name}, {lines} lines, {size_mb:.1f} MB (Codex 0.171.0)")

    _pty_rows(rows, raw, rollout, lines, name, runs)

    viewer_rows, viewer_raw, viewer_notes = app_bench.run(rollout, name, workdir)
    rows.extend(viewer_rows)
    notes.extend(viewer_notes)
    raw["viewer"] = viewer_raw
    if baseline is not None:
        _baseline(rows, raw, baseline)

    for label, args in (
        ("calls --format json (rebuild every model input)", ["calls", str(rollout), "--format", "json"]),
        ("summary (reduce the whole session)", ["summary", str(rollout)]),
    ):
        wall, error = _timed(args, runs)
        raw[args[0]] = wall
        rows.append(Row(f"rollout: {label}", fmt_s(wall) if error is None else f"FAILED ({error})"))

    # A sessions tree of 40 copies of the long session (distinct names): the picker's listing.
    tree = workdir / "tree" / "sessions" / "2026" / "12" / "01"
    tree.mkdir(parents=True)
    for index in range(40):
        shutil.copyfile(rollout, tree / rollout.name.replace("rollout-", f"rollout-{index:02d}"))
    probe = (
        "import sys, time; from trace_viewer.rollout.sessions import list_sessions; "
        "t = time.perf_counter(); list_sessions(sys.argv[1], bundle_roots=[]); first = time.perf_counter() - t; "
        "t = time.perf_counter(); list_sessions(sys.argv[1], bundle_roots=[]); print(first, time.perf_counter() - t)"
    )
    proc = run_python(["-c", probe, str(workdir / "tree")])
    try:
        first, again = (float(x) for x in proc.stdout.split())
        raw["listing"] = {"first_s": first, "again_s": again, "files": 40, "mb": 40 * size_mb}
        rows.append(
            Row(
                f"rollout: sessions picker listing, 40 files ({40 * size_mb:.0f} MB)",
                f"{fmt_s(first)} (again: {fmt_s(again)})",
                verdict="scanned once, then only what grew",
            )
        )
    except ValueError:
        rows.append(Row("rollout: sessions picker listing", f"FAILED ({proc.stderr.strip()[-200:]})"))
    return rows, raw, notes
