"""Run the benchmark suite and print one table of results measured in this run.

    python -m benchmarks                 # everything (a few minutes)
    python -m benchmarks --quick         # fewer repetitions
    python -m benchmarks --only reduce,growth --large /path/to/bundle_or_archive

Not part of the test suite: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import app_bench, follow_bench, pty_bench, rollout_bench, shards_probe, tokens_bench
from benchmarks.data import (
    LARGE3_ARCHIVE,
    LARGE3_ENV,
    LARGE_ENV,
    corpus_dir,
    describe,
    large_source,
    materialise_large,
    prefix_bundles,
)
from benchmarks.procs import REPO_ROOT, use_bytecode_cache
from benchmarks.reduce_bench import Official, ReduceRow, ReduceRunner, ours_ready, resolve_codex
from benchmarks.table import Row, fmt_mb, fmt_s, git_revision, machine, render, verdict

SECTIONS = ("reduce", "reduce3", "growth", "app", "follow", "tokens", "pty", "rollouts")
# Targets from the performance issues: ours/official time and memory ratios.
TIME_TARGET = {"long_session": 2.0, "large": 1.0, "large3": 0.6}
CODEX3_ENV = "CODEX3_BIN"
RSS_TARGET = 3.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {SECTIONS}")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per reducer on long_session (default 7)")
    parser.add_argument("--large-runs", type=int, default=3, help="timed runs per reducer on the large trace")
    parser.add_argument("--quick", action="store_true", help="3 runs on long_session, 1 on the large trace")
    parser.add_argument(
        "--large",
        help=f"large trace: bundle dir, dir holding one, or .tar.xz (env {LARGE_ENV}; "
        "default benchmarks/data/large_trace.tar.xz)",
    )
    parser.add_argument(
        "--large3",
        help=f"large schema 3 trace (env {LARGE3_ENV}; default benchmarks/data/{LARGE3_ARCHIVE.name})",
    )
    parser.add_argument(
        "--codex3",
        help=f"Codex 0.171.0 for the schema 3 rows (env {CODEX3_ENV}; default: --codex if it is 0.171)",
    )
    parser.add_argument("--corpus", help="schema 2 corpus holding long_session (default ../shared/corpus)")
    parser.add_argument("--codex", help="codex binary (env CODEX_BIN; default: codex on PATH)")
    parser.add_argument(
        "--codex-launcher",
        action="store_true",
        help="time the npm Node launcher instead of the native codex binary behind it",
    )
    parser.add_argument("--ours", help="command prefix for our CLI (default: python -m trace_viewer)")
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="do not precompile our modules (by default they are compiled once, like an installed package)",
    )
    parser.add_argument("--markdown", help="also write the table and machine line to this file")
    parser.add_argument("--json", help="also write raw numbers to this file")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.large_runs = 3, 1
    args.sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    return args


def reduce_rows(row: ReduceRow, label: str, target_key: str) -> list[Row]:
    """Table rows (wall time, CPU time, peak RSS) for one reducer comparison."""
    if not row.ours.ok:
        return [Row(f"reduce {label}: time", f"FAILED ({row.ours.first_error})")]
    official = row.official
    if official is None or not official.ok:
        why = "codex not found" if official is None else f"official FAILED ({official.first_error})"
        return [
            Row(f"reduce {label}: time", fmt_s(row.ours.wall), why),
            Row(f"reduce {label}: peak RSS", fmt_mb(row.ours.rss_mb), why),
        ]
    t_ratio = row.ours.wall / official.wall
    m_ratio = row.ours.rss_mb / official.rss_mb
    same = {True: "state identical", False: "STATE DIFFERS from official", None: ""}[row.same_output]
    t_verdict = verdict(t_ratio, TIME_TARGET[target_key])
    c_ratio = row.ours.cpu / official.cpu if official.cpu else None
    return [
        Row(
            f"reduce {label}: time",
            fmt_s(row.ours.wall),
            fmt_s(official.wall),
            f"{t_ratio:.2f}×",
            f"≤ {TIME_TARGET[target_key]:g}×",
            f"{t_verdict}; {same}" if same else t_verdict,
        ),
        Row(
            f"reduce {label}: CPU time (user+sys)",
            fmt_s(row.ours.cpu),
            fmt_s(official.cpu),
            "—" if c_ratio is None else f"{c_ratio:.2f}×",
            "(load-robust)",
        ),
        Row(
            f"reduce {label}: peak RSS",
            fmt_mb(row.ours.rss_mb),
            fmt_mb(official.rss_mb),
            f"{m_ratio:.2f}×",
            f"≤ {RSS_TARGET:g}×",
            verdict(m_ratio, RSS_TARGET),
        ),
    ]


def growth_rows(points: list[tuple[str, ReduceRow]]) -> list[Row]:
    """Time per size and the empirical growth exponent (1 = linear)."""
    rows: list[Row] = []
    base_ours = points[0][1].ours.wall if points[0][1].ours.ok else None
    base_off = points[0][1].official.wall if points[0][1].official and points[0][1].official.ok else None
    for label, row in points:
        ours = row.ours.wall if row.ours.ok else None
        off = row.official.wall if row.official and row.official.ok else None
        ours_text = fmt_s(ours) + (f" (×{ours / base_ours:.1f})" if ours and base_ours else "")
        off_text = fmt_s(off) + (f" (×{off / base_off:.1f})" if off and base_off else "")
        ratio = f"{ours / off:.2f}×" if ours and off else "—"
        rows.append(
            Row(f"growth {label}", ours_text if row.ours.ok else f"FAILED ({row.ours.first_error})", off_text, ratio)
        )
    if len(points) >= 2:
        sizes = [row.size_bytes for _, row in points]

        def exponent(times: list[float | None]) -> float | None:
            """Least-squares slope of log(time) over log(size): 1 is linear, 2 quadratic."""
            pairs = [(math.log(s), math.log(t)) for s, t in zip(sizes, times) if s and t]
            if len(pairs) < 2:
                return None
            mx = sum(x for x, _ in pairs) / len(pairs)
            my = sum(y for _, y in pairs) / len(pairs)
            return sum((x - mx) * (y - my) for x, y in pairs) / sum((x - mx) ** 2 for x, _ in pairs)

        def fit(pick: str, who: str) -> float | None:
            values: list[float | None] = []
            for _, row in points:
                series = row.ours if who == "ours" else row.official
                values.append(getattr(series, pick) if series is not None and series.ok else None)
            return exponent(values)

        def text(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.2f}"

        for pick, name in (("wall", "wall time"), ("cpu", "CPU time")):
            e_ours, e_off = fit(pick, "ours"), fit(pick, "official")
            rows.append(
                Row(
                    f"growth exponent, {name} fit over 1×–4× (1 = linear)",
                    text(e_ours),
                    text(e_off),
                    "—",
                    "near-linear",
                    "" if e_ours is None else ("met" if e_ours <= 1.2 else "MISSED"),
                )
            )
    return rows


@dataclass
class Suite:
    """What one run of the suite shares between its sections, and what they report."""

    args: argparse.Namespace
    workdir: Path
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    runner: ReduceRunner | None = None
    runner3: ReduceRunner | None = None
    large3: Path | None = None
    not_ready: str | None = None
    long_session: Path = Path()
    large: Path | None = None
    large_row: ReduceRow | None = None

    def label(self, name: str, bundle: Path) -> str:
        info = describe(bundle)
        return f"{name} ({info.events} events, {info.size_mb:.0f} MB)"


def setup(suite: Suite) -> None:
    """Find the reducers and the bundles; compile our modules once."""
    args = suite.args
    official = resolve_codex(args.codex, args.codex_launcher)
    if official is None:
        suite.notes.append("official reducer: codex not found (set --codex or CODEX_BIN); official columns empty")
    else:
        suite.notes.append(f"official reducer: {official.version}, {official.note} ({official.path})")
    if not args.no_bytecode_cache:
        use_bytecode_cache(suite.workdir / "pycache")
    suite.notes.append(
        "ours: "
        + (args.ours or f"{Path(sys.executable).name} -m trace_viewer from this checkout")
        + ("" if args.no_bytecode_cache else ", modules precompiled once (as installed), PYTHONPYCACHEPREFIX")
    )
    ours_prefix = shlex.split(args.ours) if args.ours else None
    suite.not_ready = None if ours_prefix else ours_ready()
    suite.runner = ReduceRunner(official, suite.workdir, ours_prefix)
    suite.long_session = corpus_dir(args.corpus) / "long_session"
    source, how = large_source(args.large)
    if source is not None:
        print(f"[bench] large trace from {how}: {source}", file=sys.stderr)
        suite.large = materialise_large(source, suite.workdir)
    if suite.large is None:
        suite.notes.append(f"large trace not found ({how}): pass --large or set {LARGE_ENV}; its rows are skipped")
    if "reduce3" in args.sections or "pty" in args.sections:  # (the pty opens the schema 3 trace too)
        setup_schema3(suite, official, ours_prefix)


def setup_schema3(suite: Suite, official: Official | None, ours_prefix: list[str] | None) -> None:
    """The schema 3 rows need Codex 0.171.0 (each release refuses the other's schema)."""
    args = suite.args
    official3 = (
        resolve_codex(args.codex3 or os.environ.get(CODEX3_ENV), args.codex_launcher)
        if (args.codex3 or os.environ.get(CODEX3_ENV))
        else (official if official is not None and "0.171" in official.version else None)
    )
    if official3 is None:
        suite.notes.append(
            f"schema 3 rows: Codex 0.171.0 not found (set --codex3 or {CODEX3_ENV}); official columns empty"
        )
    elif official3 is not official:
        suite.notes.append(f"official reducer for schema 3: {official3.version}, {official3.note} ({official3.path})")
    suite.runner3 = ReduceRunner(official3, suite.workdir, ours_prefix)
    source, how = large_source(args.large3, flag="--large3", env=LARGE3_ENV, archive=LARGE3_ARCHIVE)
    if source is not None:
        print(f"[bench] large schema 3 trace from {how}: {source}", file=sys.stderr)
        suite.large3 = materialise_large(source, suite.workdir, "large3")
    if suite.large3 is None:
        suite.notes.append(f"large schema 3 trace not found ({how}): its rows are skipped")


def section_reduce(suite: Suite) -> None:
    if suite.not_ready:
        suite.rows.append(Row("reduce", suite.not_ready))
        return
    assert suite.runner is not None
    for name, bundle, runs in (
        ("long_session", suite.long_session, suite.args.runs),
        ("large", suite.large, suite.args.large_runs),
    ):
        if bundle is None or not (bundle / "manifest.json").is_file():
            suite.rows.append(Row(f"reduce {name}", "skipped (bundle not found)"))
            continue
        print(f"[bench] reduce {name}: {runs} alternating runs each", file=sys.stderr)
        result = suite.runner.compare(name, bundle, runs)
        suite.raw[f"reduce_{name}"] = _raw(result)
        suite.rows.extend(reduce_rows(result, suite.label(name, bundle), name))
        if name == "large":
            suite.large_row = result


def section_reduce3(suite: Suite) -> None:
    """Reduce the large schema 3 trace against 0.171.0, then where our time goes (in-process)."""
    if suite.not_ready:
        suite.rows.append(Row("reduce schema 3", suite.not_ready))
        return
    if suite.large3 is None or suite.runner3 is None:
        suite.rows.append(Row("reduce large schema 3", "skipped (bundle not found)"))
        return
    runs = suite.args.large_runs
    print(f"[bench] reduce large schema 3: {runs} alternating runs each", file=sys.stderr)
    result = suite.runner3.compare("large3", suite.large3, runs)
    suite.raw["reduce_large3"] = _raw(result)
    info = describe(suite.large3)
    label = f"large schema 3 ({info.events} events, {info.payload_files} shards)"
    suite.rows.extend(reduce_rows(result, label, "large3"))
    rows, raw = shards_probe.run(suite.large3)
    suite.rows.extend(rows)
    suite.raw["shards_probe"] = raw


def section_growth(suite: Suite) -> None:
    if suite.not_ready:
        suite.rows.append(Row("growth", suite.not_ready))
        return
    if suite.large is None:
        suite.rows.append(Row("growth", "skipped (large trace not found)"))
        return
    assert suite.runner is not None
    print("[bench] growth: prefixes of the large trace", file=sys.stderr)
    points: list[tuple[str, ReduceRow]] = []
    for fraction, bundle in prefix_bundles(suite.large, [0.25, 0.5, 1.0], suite.workdir):
        if fraction >= 1.0 and suite.large_row is not None:
            result = suite.large_row  # the full trace was just measured by the reduce section
        else:
            result = suite.runner.compare(f"prefix{fraction}", bundle, max(1, suite.args.large_runs), False)
        result.size_bytes = describe(bundle).size_bytes
        points.append((f"{int(fraction * 4)}× ({suite.label('', bundle).split('(', 1)[1]}", result))
        suite.raw[f"growth_{fraction}"] = _raw(result)
    suite.rows.extend(growth_rows(points))
    suite.notes.append(
        "growth: 1×/2×/4× are prefixes of the large trace cut at ¼, ½ and all of its bytes "
        "(a prefix is what a reader sees while Codex is still writing)"
    )


def biggest_bundle(suite: Suite, section: str) -> tuple[Path, str] | None:
    """The large trace, else long_session; None (and a "skipped" row) when neither is there."""
    if suite.large is not None:
        return suite.large, "large"
    if (suite.long_session / "manifest.json").is_file():
        return suite.long_session, "long_session"
    suite.rows.append(Row(section, "skipped (neither the large trace nor long_session found)"))
    return None


def section_app(suite: Suite) -> None:
    found = biggest_bundle(suite, "app")
    if found is None:
        return
    print("[bench] app + session", file=sys.stderr)
    bundle, name = found
    rows, raw, notes = app_bench.run(bundle, name, suite.workdir)
    suite.rows.extend(rows)
    suite.notes.extend(notes)
    suite.raw["app"] = raw


def section_rollouts(suite: Suite) -> None:
    print("[bench] session rollouts", file=sys.stderr)
    rows, raw, notes = rollout_bench.run(suite.workdir, runs=1 if suite.args.quick else 3, baseline=suite.large)
    suite.rows.extend(rows)
    suite.notes.extend(notes)
    suite.raw["rollouts"] = raw


def section_follow(suite: Suite) -> None:
    print("[bench] follow latency", file=sys.stderr)
    source = suite.long_session if (suite.long_session / "manifest.json").is_file() else largest_sample()
    rows, raw, notes = follow_bench.run(source, suite.workdir)
    suite.rows.extend(rows)
    suite.notes.extend(notes)
    suite.raw["follow"] = raw


def section_tokens(suite: Suite) -> None:
    found = biggest_bundle(suite, "tokens")
    if found is None:
        return
    print("[bench] tokens", file=sys.stderr)
    rows, raw, notes = tokens_bench.run(*found)
    suite.rows.extend(rows)
    suite.notes.extend(notes)
    suite.raw["tokens"] = raw


def section_pty(suite: Suite) -> None:
    print("[bench] viewer in a pty", file=sys.stderr)
    found = biggest_bundle(suite, "pty")
    traces = [(name, bundle) for bundle, name in [found] if found is not None]
    if suite.large3 is not None:
        traces.append(("large3", suite.large3))  # the schema 3 trace of issue 9's targets
    rows, raw, notes = pty_bench.run(traces, suite.workdir)
    suite.rows.extend(rows)
    suite.notes.extend(notes)
    suite.raw["pty"] = raw


SECTION_RUNNERS = {
    "reduce": section_reduce,
    "reduce3": section_reduce3,
    "growth": section_growth,
    "app": section_app,
    "follow": section_follow,
    "tokens": section_tokens,
    "pty": section_pty,
    "rollouts": section_rollouts,
}


def noisy_series(raw: dict[str, Any]) -> list[str]:
    """Reducer series whose runs spread by more than 30 %: a sign of other load on the machine."""
    out = []
    for key, value in raw.items():
        if not isinstance(value, dict) or "ours" not in value:
            continue
        for who in ("ours", "official"):
            walls = [x["wall_s"] for x in value.get(who) or [] if x["wall_s"] > 0]
            if walls and max(walls) / min(walls) > 1.3:
                out.append(f"{key} {who} {min(walls):.2f}–{max(walls):.2f} s")
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    suite = Suite(args, Path(tempfile.mkdtemp(prefix="tv-bench-")))
    suite.raw.update(machine=machine(), revision=git_revision(str(REPO_ROOT)), load_at_start=load)
    try:
        setup(suite)
        for name in SECTIONS:
            if name in args.sections:
                SECTION_RUNNERS[name](suite)
    finally:
        shutil.rmtree(suite.workdir, ignore_errors=True)
    noisy = noisy_series(suite.raw)
    if noisy:
        suite.notes.append("noisy series (max/min > 1.3; other load on the machine?): " + "; ".join(noisy))
    header = (
        f"Machine: {suite.raw['machine']}"
        + ("" if load is None else f"; load average at start {load:.2f}")
        + f"\nRevision: {suite.raw['revision']}; runs: {args.runs} (long_session), {args.large_runs} (large); "
        f"medians; whole processes, runs alternated; suite took {time.perf_counter() - started:.0f} s"
    )
    text = "\n".join([header, "", render(suite.rows), "", *[f"- {n}" for n in suite.notes]])
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n", encoding="utf-8")
    if args.json:
        Path(args.json).write_text(json.dumps(suite.raw, indent=2) + "\n", encoding="utf-8")
    return 0


def largest_sample() -> Path:
    """Fallback follow source when the corpus is absent: the biggest bundle in sample_traces/."""
    samples = [p.parent for p in (REPO_ROOT / "sample_traces").glob("*/trace.jsonl")]
    if not samples:
        return REPO_ROOT / "sample_traces" / "missing"
    return max(samples, key=lambda p: (p / "trace.jsonl").stat().st_size)


def _raw(row: ReduceRow) -> dict[str, object]:
    def series(s: object) -> object:
        if s is None:
            return None
        return [
            {"wall_s": x.wall_s, "cpu_s": x.cpu_s, "peak_rss_kb": x.peak_rss_kb, "rc": x.returncode} for x in s.samples
        ]

    return {
        "bundle": str(row.bundle),
        "ours": series(row.ours),
        "official": series(row.official),
        "same_output": row.same_output,
    }


if __name__ == "__main__":
    sys.exit(main())
