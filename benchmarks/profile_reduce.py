"""Profile our reduce in-process with cProfile and print where the time goes.

    python -m benchmarks.profile_reduce [BUNDLE] [--top N] [--sort tottime|cumulative]

BUNDLE defaults to ../shared/corpus/long_session. Runs the same code path as
``trace-viewer reduce BUNDLE -o OUT`` (the CLI's ``main`` when present): once to
warm up (lazy imports, page cache), once timed, then once under the profiler.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from benchmarks.data import corpus_dir


def reduce_callable(bundle: Path, out: Path) -> tuple[Callable[[], object], str]:
    """The CLI entry point if it exists, else the library path it wraps."""
    try:
        from trace_viewer.cli import main as cli_main
    except ImportError:
        cli_main = None
    if cli_main is not None:
        return (lambda: cli_main(["reduce", str(bundle), "-o", str(out)])), "trace_viewer.cli.main(['reduce', ...])"
    import orjson

    from trace_viewer.reducer.replay import reduce_bundle

    def run() -> None:
        reducer = reduce_bundle(bundle)
        out.write_bytes(orjson.dumps(reducer.to_json(), option=orjson.OPT_INDENT_2))

    return run, "reduce_bundle + orjson.dumps (no CLI yet)"


def by_module(stats: pstats.Stats, root: str) -> list[tuple[str, float]]:
    """Self time grouped by source file (ours relative to the repo; the rest by library)."""
    shares: dict[str, float] = defaultdict(float)
    for (filename, _, _), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        if filename.startswith(root):
            key = os.path.relpath(filename, root)
        elif filename == "~":
            key = "builtins / C extensions (orjson, dict, list ...)"
        else:
            key = "stdlib/other: " + Path(filename).name
        shares[key] += tottime
    return sorted(shares.items(), key=lambda kv: kv[1], reverse=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.profile_reduce",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("bundle", nargs="?")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sort", default="tottime", choices=["tottime", "cumulative"])
    args = parser.parse_args(argv)
    bundle = Path(args.bundle) if args.bundle else corpus_dir(None) / "long_session"
    repo = str(Path(__file__).resolve().parent.parent)
    with tempfile.TemporaryDirectory() as tmp:
        run, what = reduce_callable(bundle, Path(tmp) / "state.json")
        run()  # warm-up: lazy imports, page cache
        start = time.perf_counter()
        run()
        plain = time.perf_counter() - start
        profiler = cProfile.Profile()
        start = time.perf_counter()
        profiler.runcall(run)
        profiled = time.perf_counter() - start
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    total = sum(v[2] for v in stats.stats.values()) or 1.0  # type: ignore[attr-defined]
    print(f"{what} on {bundle}")
    print(f"unprofiled {plain * 1000:.0f} ms, profiled {profiled * 1000:.0f} ms\n")
    print("self time by file:")
    for name, seconds in by_module(stats, repo)[:15]:
        print(f"  {seconds / total * 100:5.1f}%  {seconds * 1000:7.1f} ms  {name}")
    stats.strip_dirs().sort_stats(args.sort).print_stats(args.top)
    print(stream.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
