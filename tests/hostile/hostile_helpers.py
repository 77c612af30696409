"""Shared machinery of the hostile-input suite: bundle copies, the invariant every mutation must keep, counters.

Every mutation runs on a private, writable copy of a bundle (never on ``sample_traces/`` itself) and is
judged by ``check_replay`` (in-process, for the bulk) or ``check_cli`` (a real ``trace-viewer`` process
under a timeout and an address-space limit, for a representative subset). A crash is any exception or
internal error escaping the product, a hang is a run over its time budget; both are counted before the
assertion fails so the session summary can report them.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trace_viewer.cli import dump_state
from trace_viewer.reducer.replay import Replay, replay_bundle
from trace_viewer.text import one_line

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "sample_traces"
_ALL_SAMPLES = sorted(p.name for p in SAMPLES.iterdir() if (p / "manifest.json").is_file())
# Samples whose payloads are files (schemas 1 and 2): the mutations here edit payload files. Schema 3
# samples keep payloads in zstd shards; SHARD_SAMPLES are for the shard mutations and the newer-schema checks.
SAMPLE_NAMES = [name for name in _ALL_SAMPLES if not name.startswith("schema3_")]
SHARD_SAMPLES = [name for name in _ALL_SAMPLES if name.startswith("schema3_")]
# Complete bundles (no fault of their own): mutations of these must be what causes any fault.
CLEAN_SAMPLES = [name for name in SAMPLE_NAMES if (SAMPLES / name / "expected_state.json").is_file()]
CLEAN_SHARD_SAMPLES = [name for name in SHARD_SAMPLES if (SAMPLES / name / "expected_state.json").is_file()]

# In-process budget per reduction: a sample reduces in ~10 ms, a 50 MB payload in well under a second.
REPLAY_SECONDS = 10.0
# A CLI run includes interpreter start-up.
CLI_SECONDS = 30.0
# The address-space limit of CLI runs: generous for a 50 MB string, fatal for an unbounded spike.
CLI_ADDRESS_SPACE = 3 << 30

# Mutations tried, crashes (exceptions/internal errors/tracebacks), hangs (over budget), CLI runs.
STATS: Counter[str] = Counter()

# How many times each test's example budget the Hypothesis profile asks for: the default ``ci``
# profile runs the budgets as written; ``explore`` (local runs hunting new failures) ten times more.
EXPLORE_FACTOR = 10


def budget(max_examples: int) -> int:
    """The number of Hypothesis examples a test runs under the active profile."""
    from hypothesis import settings

    return max_examples if settings.default.derandomize else max_examples * EXPLORE_FACTOR


class Hang(Exception):
    """A run went over its time budget."""


# A run hangs when it spends more than its budget in CPU time (a loop) or WALL_FACTOR times that in
# wall-clock time, at least a minute (blocked). CPU time is what a loaded machine does not inflate:
# xdist workers, CI beside other suites; a wall-clock budget alone failed sound runs there.
WALL_FACTOR = 6


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Interrupt the block with ``Hang`` after ``seconds`` of CPU time or a long wall-clock bound.

    SIGPROF and SIGALRM: main thread, POSIX only.
    """
    wall = max(seconds * WALL_FACTOR, 60.0)

    def on_cpu(signum: int, frame: Any) -> None:
        raise Hang(f"over {seconds}s of CPU time")

    def on_wall(signum: int, frame: Any) -> None:
        raise Hang(f"over {wall}s")

    previous_cpu = signal.signal(signal.SIGPROF, on_cpu)
    previous_wall = signal.signal(signal.SIGALRM, on_wall)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    signal.setitimer(signal.ITIMER_REAL, wall)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGPROF, previous_cpu)
        signal.signal(signal.SIGALRM, previous_wall)


# ----- bundle copies -------------------------------------------------------------------------------


def copy_bundle(source: Path, target: Path) -> Path:
    """A writable copy of a bundle (the samples are read-only; copies must not share inodes with them)."""
    if target.exists():
        remove_tree(target)
    target.mkdir(parents=True)
    for entry in sorted(source.rglob("*")):
        relative = entry.relative_to(source)
        if entry.name.startswith("expected_"):
            continue
        if entry.is_dir():
            (target / relative).mkdir(parents=True, exist_ok=True)
        else:
            shutil.copyfile(entry, target / relative)
    return target


def remove_tree(path: Path) -> None:
    def writable(function: Any, name: str, _exc: Any) -> None:
        os.chmod(os.path.dirname(name), 0o755)
        function(name)

    shutil.rmtree(path, onerror=writable)


def read_lines(bundle: Path) -> list[bytes]:
    """trace.jsonl as raw lines, each with its newline."""
    return (bundle / "trace.jsonl").read_bytes().splitlines(keepends=True)


def write_lines(bundle: Path, lines: list[bytes]) -> None:
    (bundle / "trace.jsonl").write_bytes(b"".join(lines))


def events(bundle: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in read_lines(bundle) if line.strip()]


def dump_event(event: Any) -> bytes:
    return json.dumps(event, ensure_ascii=False).encode("utf-8", "surrogatepass") + b"\n"


# ----- the invariant ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    replay: Replay
    state: dict[str, Any]
    seconds: float

    @property
    def fault(self) -> Any:
        return self.replay.fault

    @property
    def applied(self) -> int:
        return self.replay.reducer.events_applied


_prefix_cache: dict[tuple[str, int], dict[str, Any]] = {}


def prefix_state(bundle: Path, events_applied: int, *, cache_key: str | None = None) -> dict[str, Any]:
    """The state after exactly the first ``events_applied`` events of ``bundle`` (no end-of-log work)."""
    key = (cache_key, events_applied) if cache_key else None
    if key is not None and key in _prefix_cache:
        return _prefix_cache[key]
    state = replay_bundle(bundle, max_events=events_applied).reducer.to_json()
    if key is not None:
        _prefix_cache[key] = state
    return state


def end_of_log(fault: Any) -> bool:
    """Faults found after the whole log was applied (end-of-log payload checks, ``finish``)."""
    return fault.line is None or fault.message.startswith(("read payload ", "invalid payload "))


def check_replay(
    bundle: Path, label: str, *, check_prefix: bool = True, prefix_key: str | None = None, unchanged: int = 0
) -> Outcome:
    """Reduce ``bundle`` in-process and check what every mutation must keep.

    - nothing escapes (no exception, no internal error), within ``REPLAY_SECONDS``;
    - the state serialises exactly as ``reduce`` would write it;
    - a fault is data: a one-line message, a file name, and a state that is exactly the prefix
      of events before it (``--partial`` keeps everything before the fault and nothing of it).

    ``prefix_key`` names the unmutated original when the first ``unchanged`` events are known to be
    untouched, so prefix states of those lengths can be shared between mutations.
    """
    STATS["mutations"] += 1
    started = time.perf_counter()
    try:
        with time_limit(REPLAY_SECONDS):
            replay = replay_bundle(bundle)
            state = replay.reducer.to_json()
            dump_state(state)
    except Hang:
        STATS["hangs"] += 1
        raise AssertionError(f"{label}: replay did not finish within {REPLAY_SECONDS}s") from None
    except BaseException as error:
        STATS["crashes"] += 1
        raise AssertionError(f"{label}: replay raised {type(error).__name__}: {error}") from error
    seconds = time.perf_counter() - started
    internal = replay.internal_error
    if internal is not None:
        # A Hang raised inside the reducer comes back as its internal error: the budget ran out there.
        hang = isinstance(internal, Hang)
        STATS["hangs" if hang else "crashes"] += 1
        what = "did not finish within its budget" if hang else "internal error"
        raise AssertionError(f"{label}: {what} {internal!r} (fault {replay.fault})")
    fault = replay.fault
    if fault is not None:
        assert fault.message, label
        assert "\n" not in one_line(str(fault)), label
        assert fault.file, label
        if check_prefix and fault.file == "trace.jsonl" and not end_of_log(fault):
            applied = replay.reducer.events_applied
            key = prefix_key if applied <= unchanged else None
            expected = prefix_state(bundle, applied, cache_key=key)
            assert state == expected, f"{label}: state at the fault is not the prefix before it ({fault})"
    return Outcome(replay, state, seconds)


# ----- the command line ---------------------------------------------------------------------------------


def _limit_memory() -> None:  # pragma: no cover - runs in the child
    resource.setrlimit(resource.RLIMIT_AS, (CLI_ADDRESS_SPACE, CLI_ADDRESS_SPACE))


def run_cli(*args: str, timeout: float = CLI_SECONDS) -> subprocess.CompletedProcess[bytes]:
    """``python -m trace_viewer ARGS`` with a timeout and an address-space limit; bytes out."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("TRACE_VIEWER_DEBUG", None)
    STATS["cli_runs"] += 1
    try:
        return subprocess.run(
            [sys.executable, "-m", "trace_viewer", *args],
            capture_output=True,
            timeout=timeout,
            env=env,
            preexec_fn=_limit_memory,
            check=False,
        )
    except subprocess.TimeoutExpired:
        STATS["hangs"] += 1
        raise AssertionError(f"trace-viewer {' '.join(args)}: no answer within {timeout}s") from None


def check_cli_reduce(bundle: Path, label: str) -> tuple[subprocess.CompletedProcess[bytes], Any]:
    """Strict ``reduce`` is a state (exit 0) or one stderr line (exit 1); ``--partial`` is always a state."""
    strict = run_cli("reduce", str(bundle))
    partial = run_cli("reduce", "--partial", str(bundle))
    for result in (strict, partial):
        if b"Traceback" in result.stderr or b"internal error" in result.stderr or result.returncode not in (0, 1):
            STATS["crashes"] += 1
            raise AssertionError(f"{label}: exit {result.returncode}: {result.stderr[-2000:]!r}")
    if strict.returncode == 1:
        lines = strict.stderr.decode("utf-8", "replace").splitlines()
        assert len(lines) == 1, f"{label}: strict reduce wrote {len(lines)} stderr lines: {lines}"
        assert lines[0].startswith("trace-viewer: "), lines
        assert strict.stdout == b"", f"{label}: strict reduce refused but wrote a state"
    else:
        json.loads(strict.stdout)
    assert partial.returncode == 0, f"{label}: --partial exited {partial.returncode}: {partial.stderr!r}"
    state = json.loads(partial.stdout)
    assert isinstance(state, dict) and "threads" in state, label
    if strict.returncode == 0:
        assert json.loads(strict.stdout) == state, label
    return strict, state


# ----- the app ------------------------------------------------------------------------------------------

APP_SECONDS = 60.0
# Keys that scrub through a whole trace and open every pane: first/last, step, model calls, turns,
# compactions, threads, inspector, usage, diff, provenance, before/after.
SCRUB_KEYS = [
    "home",
    "l",
    "l",
    "right_square_bracket",
    "right_curly_bracket",
    "c",
    "end",
    "h",
    "left_square_bracket",
    "t",
    "i",
    "d",
    "p",
    "b",
    "u",
    "G",
    "g",
    "G",
]


@dataclass(slots=True)
class Screen:
    """One captured frame: its lines of text, and every (text, style) segment drawn."""

    lines: list[str]
    segments: list[tuple[str, Any]]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def capture(app: Any) -> Screen:
    lines: list[str] = []
    segments: list[tuple[str, Any]] = []
    for strip in app.screen._compositor.render_strips():
        line = []
        for segment in strip:
            line.append(segment.text)
            segments.append((segment.text, segment.style))
        lines.append("".join(line))
    return Screen(lines, segments)


async def _wait_loaded(app: Any, pilot: Any, seconds: float = 20.0) -> None:
    from trace_viewer.app.screens.viewer import ViewerScreen

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        screen = app.screen
        if isinstance(screen, ViewerScreen) and screen.loaded:
            await pilot.pause()
            return
        await pilot.pause(0.02)
    raise Hang(f"the viewer did not finish loading within {seconds}s")


async def _drive(
    bundle: Path, keys: list[str], size: tuple[int, int], follow: bool, frames: bool
) -> tuple[Any, list[Screen]]:
    from trace_viewer.app.main import TraceViewerApp

    # These bundles were written a moment ago but model ones at rest: no auto-follow (it would wait
    # for a torn tail or a missing log to be completed instead of showing the fault).
    app = TraceViewerApp(bundle, follow=follow)
    screens: list[Screen] = []
    async with app.run_test(size=size) as pilot:
        await _wait_loaded(app, pilot)
        session = getattr(app.screen, "session", None)
        screens.append(capture(app))
        for number, key in enumerate(keys, start=1):
            await pilot.press(key)
            await pilot.pause()
            if frames or number == len(keys):
                screens.append(capture(app))
        await pilot.press("q")
        await pilot.pause()
    # A bug of ours while replaying is shown in the viewer as ours, not raised: look for it.
    error = getattr(getattr(session, "replay", None), "internal_error", None)
    if error is not None:
        raise InternalError(f"internal error {error!r} while the viewer replayed {bundle.name}")
    return app, screens


class InternalError(Exception):
    """The viewer met a bug of ours (it showed it; the hostile checks count it as a crash)."""


def run_app(
    bundle: Path,
    label: str,
    keys: list[str] | None = None,
    *,
    size: tuple[int, int] = (140, 45),
    follow: bool = False,
    frames: bool = True,
) -> tuple[Any, list[Screen]]:
    """Open ``bundle`` in the viewer (headless), press ``keys``, quit.

    The first frame and the frame after each key are captured (only the first and the last
    with ``frames=False``).

    Any exception escaping the app counts as a crash, going over ``APP_SECONDS`` as a hang.
    """
    import asyncio

    STATS["app_runs"] += 1
    try:
        with time_limit(APP_SECONDS):
            app, screens = asyncio.run(_drive(bundle, SCRUB_KEYS if keys is None else keys, size, follow, frames))
    except Hang:
        STATS["hangs"] += 1
        raise AssertionError(f"{label}: the app did not answer within {APP_SECONDS}s") from None
    except InternalError as error:
        STATS["crashes"] += 1
        raise AssertionError(f"{label}: {error}") from None
    except BaseException as error:
        STATS["crashes"] += 1
        raise AssertionError(f"{label}: the app raised {type(error).__name__}: {error}") from error
    return app, screens
