"""Where a schema 3 reduce spends its time on shards: one fresh process, the reduce timed inside.

    python -m benchmarks.shards_probe BUNDLE [CACHE_MIB SMALL_CACHE_MIB]

The child replays the bundle (log, then end-of-log checks) with timers around the shard reader's
steps: reading and decompressing (zstd plus the walker that bounds it), keeping and indexing the
output, and parsing payload JSON. It prints one JSON object; ``run`` turns it into table rows.
Not a timing assertion anywhere: the rows are for reading.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.procs import REPO_ROOT, python_env
from benchmarks.table import Row, fmt_mb, fmt_s


def _timed(owner: Any, name: str, totals: dict[str, float], key: str) -> None:
    original: Callable[..., Any] = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            totals[key] += time.perf_counter() - started

    setattr(owner, name, wrapper)


def _peak_rss_mb() -> float:
    """This process's peak RSS since exec (VmHWM): ru_maxrss would count the forking parent's size."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def probe(bundle: str, cache_mib: float | None = None, small_mib: float | None = None) -> dict[str, Any]:
    """Reduce ``bundle`` in this process and say where shard reading cost what."""
    from trace_viewer.bundle import payloads, shards
    from trace_viewer.reducer.replay import Replay

    totals = {"inflate": 0.0, "take": 0.0, "parse": 0.0, "advance": 0.0}
    _timed(shards.ShardReader, "_advance", totals, "advance")
    _timed(shards.ShardReader, "_inflate", totals, "inflate")
    _timed(shards.ShardReader, "_take", totals, "take")
    _timed(payloads, "parse_json_bytes", totals, "parse")
    started = time.perf_counter()
    replay = Replay(bundle)  # reads the manifest only: the budgets can still be set
    assert replay.bundle is not None
    reader = replay.bundle.payloads.shards
    if cache_mib is not None:
        reader.cache_bytes = int(cache_mib * (1 << 20))
    if small_mib is not None:
        reader.small_cache_bytes = int(small_mib * (1 << 20))
    replay.poll(final=True)
    log_done = time.perf_counter()
    log_decompressions = reader.decompressions
    replay.finish()
    ended = time.perf_counter()
    return {
        "fault": None if replay.fault is None else str(replay.fault),
        "total_s": ended - started,
        "log_s": log_done - started,
        "end_s": ended - log_done,
        "advance_s": totals["advance"],  # opening, reading and feeding shards (includes the two below)
        "zstd_s": totals["inflate"] - totals["take"],  # the decompressor itself
        "keep_index_s": totals["take"],  # appending output and indexing records
        "parse_s": totals["parse"],  # payload JSON (the reducer's reads and the end-of-log check)
        "decompressions_log": log_decompressions,
        "decompressions": reader.decompressions,
        "shards": len(list(Path(bundle, "payloads").glob("*.zst"))),
        "cache_mib": reader.cache_bytes / (1 << 20),
        "small_cache_mib": reader.small_cache_bytes / (1 << 20),
        "peak_rss_mb": _peak_rss_mb(),
    }


def run(
    bundle: Path, budgets: tuple[tuple[float, float], ...] = ((16, 8), (1, 0), (128, 8))
) -> tuple[list[Row], dict[str, Any]]:
    """Probe in fresh processes (the default budget, then smaller and larger ones) and make rows."""
    rows: list[Row] = []
    raw: dict[str, Any] = {}
    for index, (cache, small) in enumerate(budgets):
        cmd = [sys.executable, "-m", "benchmarks.shards_probe", str(bundle)]
        if index:
            cmd += [str(cache), str(small)]
        result = subprocess.run(cmd, capture_output=True, text=True, env=python_env(), cwd=REPO_ROOT, check=False)
        if result.returncode != 0:
            rows.append(Row("shards probe", f"FAILED ({result.stderr.strip()[-200:]})"))
            return rows, raw
        data = json.loads(result.stdout)
        raw[f"cache_{cache:g}_{small:g}"] = data
        budget = f"cache {data['cache_mib']:g} MiB + small {data['small_cache_mib']:g} MiB"
        if index == 0:
            rows.append(
                Row(
                    f"schema 3 reduce in-process ({budget}): total / log / end-of-log checks",
                    f"{fmt_s(data['total_s'])} / {fmt_s(data['log_s'])} / {fmt_s(data['end_s'])}",
                    verdict="fault: " + data["fault"] if data["fault"] else "",
                )
            )
            rows.append(
                Row(
                    "  of which shard reading: zstd / keeping + indexing output / payload JSON parsing",
                    f"{fmt_s(data['zstd_s'])} / {fmt_s(data['keep_index_s'])} / {fmt_s(data['parse_s'])}",
                    verdict=f"{data['decompressions']} decompressions of {data['shards']} shards "
                    f"({data['decompressions_log']} during the log)",
                )
            )
        rows.append(
            Row(
                f"  {budget}: peak RSS, decompressions",
                f"{fmt_mb(data['peak_rss_mb'])}, {data['decompressions']}",
                verdict=f"total {fmt_s(data['total_s'])}",
            )
        )
    return rows, raw


def main() -> None:
    args = sys.argv[1:]
    cache = float(args[1]) if len(args) > 1 else None
    small = float(args[2]) if len(args) > 2 else None
    sys.stdout.write(json.dumps(probe(args[0], cache, small)))


if __name__ == "__main__":
    main()
