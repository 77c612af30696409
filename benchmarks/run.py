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
from pathlib import Path

from benchmarks import app_bench, follow_bench
from benchmarks.data import LARGE_ENV, corpus_dir, describe, large_source, materialise_large, prefix_bundles
from benchmarks.procs import REPO_ROOT
from benchmarks.reduce_bench import ReduceRow, ReduceRunner, ours_ready, resolve_codex
from benchmarks.table import Row, fmt_mb, fmt_s, git_revision, machine, render, verdict

SECTIONS = ("reduce", "growth", "app", "follow")
# Targets from the performance issue: ours/official time and memory ratios.
TIME_TARGET = {"long_session": 2.0, "large": 1.0}
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
    parser.add_argument("--corpus", help="schema 2 corpus holding long_session (default ../shared/corpus)")
    parser.add_argument("--codex", help="codex binary (env CODEX_BIN; default: codex on PATH)")
    parser.add_argument(
        "--codex-launcher",
        action="store_true",
        help="time the npm Node launcher instead of the native codex binary behind it",
    )
    parser.add_argument("--ours", help="command prefix for our CLI (default: python -m trace_viewer)")
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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    load_at_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    workdir = Path(tempfile.mkdtemp(prefix="tv-bench-"))
    rows: list[Row] = []
    notes: list[str] = []
    raw: dict[str, object] = {"machine": machine(), "revision": git_revision(str(REPO_ROOT))}
    try:
        official = resolve_codex(args.codex, args.codex_launcher)
        if official is None:
            notes.append("official reducer: codex not found (set --codex or CODEX_BIN); official columns empty")
        else:
            notes.append(f"official reducer: {official.version}, {official.note} ({official.path})")
        ours_prefix = shlex.split(args.ours) if args.ours else None
        not_ready = None if ours_prefix else ours_ready()
        runner = ReduceRunner(official, workdir, ours_prefix)

        long_session = corpus_dir(args.corpus) / "long_session"
        source, how = large_source(args.large)
        large = None
        if source is not None:
            print(f"[bench] large trace from {how}: {source}", file=sys.stderr)
            large = materialise_large(source, workdir)
        if large is None:
            notes.append(f"large trace not found ({how}): pass --large or set {LARGE_ENV}; its rows are skipped")

        def label(name: str, bundle: Path) -> str:
            info = describe(bundle)
            return f"{name} ({info.events} events, {info.size_mb:.0f} MB)"

        large_row: ReduceRow | None = None
        if "reduce" in args.sections:
            if not_ready:
                rows.append(Row("reduce", not_ready))
            else:
                for name, bundle, runs in (
                    ("long_session", long_session, args.runs),
                    ("large", large, args.large_runs),
                ):
                    if bundle is None or not (bundle / "manifest.json").is_file():
                        rows.append(Row(f"reduce {name}", "skipped (bundle not found)"))
                        continue
                    print(f"[bench] reduce {name}: {runs} alternating runs each", file=sys.stderr)
                    result = runner.compare(name, bundle, runs)
                    raw[f"reduce_{name}"] = _raw(result)
                    rows.extend(reduce_rows(result, label(name, bundle), name))
                    if name == "large":
                        large_row = result

        if "growth" in args.sections:
            if not_ready:
                rows.append(Row("growth", not_ready))
            elif large is None:
                rows.append(Row("growth", "skipped (large trace not found)"))
            else:
                print("[bench] growth: prefixes of the large trace", file=sys.stderr)
                points: list[tuple[str, ReduceRow]] = []
                runs = max(1, args.large_runs)
                for fraction, bundle in prefix_bundles(large, [0.25, 0.5, 1.0], workdir):
                    if fraction >= 1.0 and large_row is not None:
                        result = large_row
                    else:
                        result = runner.compare(f"prefix{fraction}", bundle, runs, check_output=False)
                    result.size_bytes = describe(bundle).size_bytes
                    points.append((f"{int(fraction * 4)}× ({label('large prefix', bundle).split('(', 1)[1]}", result))
                    raw[f"growth_{fraction}"] = _raw(result)
                rows.extend(growth_rows(points))
                notes.append(
                    "growth: 1×/2×/4× are prefixes of the large trace cut at ¼, ½ and all of its bytes "
                    "(a prefix is what a reader sees while Codex is still writing)"
                )

        if "app" in args.sections and large is None and not (long_session / "manifest.json").is_file():
            rows.append(Row("app", "skipped (neither the large trace nor long_session found)"))
        elif "app" in args.sections:
            print("[bench] app + session", file=sys.stderr)
            app_rows, app_raw, app_notes = app_bench.run(
                large or long_session, "large" if large else "long_session", workdir
            )
            rows.extend(app_rows)
            notes.extend(app_notes)
            raw["app"] = app_raw

        if "follow" in args.sections:
            print("[bench] follow latency", file=sys.stderr)
            follow_source = long_session if (long_session / "manifest.json").is_file() else largest_sample()
            follow_rows, follow_raw, follow_notes = follow_bench.run(follow_source, workdir)
            rows.extend(follow_rows)
            notes.extend(follow_notes)
            raw["follow"] = follow_raw
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    noisy = [
        f"{key} {who} {min(x['wall_s'] for x in series):.2f}–{max(x['wall_s'] for x in series):.2f} s"
        for key, value in raw.items()
        if isinstance(value, dict) and "ours" in value
        for who in ("ours", "official")
        if (series := value.get(who))
        and min(x["wall_s"] for x in series) > 0
        and max(x["wall_s"] for x in series) / min(x["wall_s"] for x in series) > 1.3
    ]
    if noisy:
        notes.append("noisy series (max/min > 1.3; other load on the machine?): " + "; ".join(noisy))
    elapsed = time.perf_counter() - started
    load = ""
    if hasattr(os, "getloadavg"):
        load = f"; load average at start {load_at_start:.2f}"
    header = (
        f"Machine: {raw['machine']}{load}\nRevision: {raw['revision']}; runs: {args.runs} (long_session), "
        f"{args.large_runs} (large); medians; whole processes, runs alternated; suite took {elapsed:.0f} s"
    )
    text = "\n".join([header, "", render(rows), "", *[f"- {n}" for n in notes]])
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n", encoding="utf-8")
    if args.json:
        Path(args.json).write_text(json.dumps(raw, indent=2) + "\n", encoding="utf-8")
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
