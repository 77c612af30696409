"""Timing whole processes (wall clock and peak memory of exactly one child), and launching probes.

``os.wait4`` returns the resource usage of the child it reaps (and of the
children that child itself waited for), so peak RSS is attributed to the right
run without subtracting RUSAGE_CHILDREN totals, which only keep a maximum.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(slots=True)
class Sample:
    """One finished process."""

    wall_s: float
    peak_rss_kb: int
    returncode: int
    stderr: str
    # user + system CPU time: far less sensitive than wall time to other load on the machine.
    cpu_s: float = 0.0


@dataclass(slots=True)
class Series:
    """Repeated runs of one command; medians are what the tables report."""

    label: str
    samples: list[Sample] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.samples) and all(s.returncode == 0 for s in self.samples)

    @property
    def wall(self) -> float:
        return statistics.median(s.wall_s for s in self.samples)

    @property
    def cpu(self) -> float:
        return statistics.median(s.cpu_s for s in self.samples)

    @property
    def rss_mb(self) -> float:
        return statistics.median(s.peak_rss_kb for s in self.samples) / 1024

    @property
    def first_error(self) -> str:
        for sample in self.samples:
            if sample.returncode != 0:
                lines = [line for line in sample.stderr.splitlines() if line.strip()]
                return f"exit {sample.returncode}: {lines[-1][:160] if lines else '(no stderr)'}"
        return ""


LAUNCHER = Path(__file__).resolve().parent / "spawn_child.py"


def run_measured(
    cmd: list[str],
    env: dict[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout_s: float = 300.0,
) -> Sample:
    """Run ``cmd`` to completion with stdout discarded; time it and read its peak RSS.

    The child is started by ``spawn_child.py`` (see there why), which times the
    child alone, so the launcher's own start-up is not counted.
    """
    with tempfile.TemporaryFile() as errfile, tempfile.TemporaryFile() as outfile:
        launcher = [sys.executable, "-I", "-S", str(LAUNCHER), *cmd]
        # The launcher writes its report on fd 1; the child inherits it, so send the
        # child's own stdout to stderr's file instead: reducers here write to -o files.
        proc = subprocess.run(
            launcher,
            stdin=subprocess.DEVNULL,
            stdout=outfile,
            stderr=errfile,
            env=env,
            cwd=cwd,
            timeout=timeout_s,
            check=False,
        )
        errfile.seek(0)
        stderr = errfile.read().decode("utf-8", errors="replace")
        outfile.seek(0)
        report = outfile.read().decode("utf-8", errors="replace")
    start = report.rfind("{")
    try:
        data = json.loads(report[start:]) if start >= 0 else None
    except json.JSONDecodeError:
        data = None
    if data is None:
        return Sample(0.0, 0, proc.returncode or 1, stderr + report)
    return Sample(data["wall_s"], data["peak_rss_kb"], data["returncode"], stderr, data.get("cpu_s", 0.0))


# Where our modules' bytecode goes during a run (set by ``use_bytecode_cache``).
_PYCACHE: Path | None = None


def use_bytecode_cache(directory: Path) -> None:
    """Compile this checkout's modules once into ``directory`` and let every child use them.

    An installed package has its .pyc files; a checkout run with
    PYTHONDONTWRITEBYTECODE=1 (as CI and some shells set) would recompile every
    module on every start and add tens of milliseconds to each timed process.
    The cache lives outside the repository (PYTHONPYCACHEPREFIX).
    """
    global _PYCACHE
    _PYCACHE = directory
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(REPO_ROOT / "trace_viewer"), str(REPO_ROOT / "benchmarks")],
        env=python_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )


def python_env() -> dict[str, str]:
    """Environment in which ``python -m trace_viewer`` resolves to this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    if _PYCACHE is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(_PYCACHE)
    return env


def run_python(
    args: list[str], *, timeout_s: float = 600.0, keep_stdout: bool = True
) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` in this checkout (from its root, in ``python_env``), stderr and (unless not
    wanted) stdout captured as text. A non-zero exit is returned, not raised; a timeout raises."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO_ROOT,
        env=python_env(),
        stdout=subprocess.PIPE if keep_stdout else subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def last_line(text: str, default: str = "?") -> str:
    """The last line of a process's output (what a failure says last), or ``default`` if it said nothing."""
    return (text.strip().splitlines() or [default])[-1]


def run_probe(module: str, args: list[str], timeout_s: float = 600.0) -> dict[str, Any]:
    """Run the probe ``python -m MODULE ARGS --t0 NOW`` in a fresh process: the JSON object it prints
    on its last stdout line, or ``{"error": ...}`` saying why there is none (timeout, failure)."""
    try:
        proc = run_python(["-m", module, *args, "--t0", repr(time.monotonic())], timeout_s=timeout_s)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout_s:.0f} s"}
    lines = proc.stdout.strip().splitlines()
    try:
        result: dict[str, Any] = json.loads(lines[-1])
    except (json.JSONDecodeError, IndexError):
        return {"error": f"probe failed (exit {proc.returncode}): {last_line(proc.stderr, 'no output')[:200]}"}
    return result
