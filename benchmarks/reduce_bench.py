"""`trace-viewer reduce` against `codex debug trace-reduce`, whole processes, alternating runs."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import orjson

from benchmarks.procs import REPO_ROOT, Series, python_env, run_measured

CODEX_ENV = "CODEX_BIN"


@dataclass(slots=True)
class Official:
    """How the official reducer is run."""

    path: str
    note: str
    version: str


def resolve_codex(cli_value: str | None, use_launcher: bool = False) -> Official | None:
    """The Codex binary. The npm package's ``codex`` is a Node launcher that execs a native
    binary; by default we time the native binary (the launcher only adds Node's start-up),
    which makes the comparison stricter for us."""
    candidate = cli_value or os.environ.get(CODEX_ENV) or shutil.which("codex")
    if not candidate or not os.path.exists(candidate):
        return None
    note = "codex binary"
    real = os.path.realpath(candidate)
    with open(real, "rb") as handle:
        is_script = handle.read(2) == b"#!"
    if is_script and not use_launcher:
        package = Path(real).parent.parent  # .../@openai/codex/bin/codex.js -> .../@openai/codex
        natives = sorted(
            glob.glob(str(package / "node_modules" / "@openai" / "codex-*" / "vendor" / "*" / "bin" / "codex"))
        )
        if natives:
            candidate, note = natives[0], "native binary behind the npm launcher"
        else:
            note = "npm launcher (native binary not found)"
    elif is_script:
        note = "npm launcher (includes Node start-up)"
    try:
        version = subprocess.run(
            [candidate, "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        version = "?"
    return Official(candidate, note, version)


def ours_ready() -> str | None:
    """None when ``python -m trace_viewer reduce`` exists in this checkout, else why not."""
    if not (REPO_ROOT / "trace_viewer" / "__main__.py").is_file():
        return "n/a (CLI not ready: no trace_viewer/__main__.py)"
    return None


@dataclass(slots=True)
class ReduceRow:
    name: str
    bundle: Path
    ours: Series
    official: Series | None
    same_output: bool | None
    size_bytes: int = 0


class ReduceRunner:
    """Runs both reducers on a bundle; keeps one temp dir for outputs and CODEX_HOME."""

    def __init__(self, official: Official | None, workdir: Path, ours_prefix: list[str] | None = None) -> None:
        self.official = official
        # How to start our CLI; default ``python -m trace_viewer`` from this checkout.
        self.ours_prefix = ours_prefix or [sys.executable, "-m", "trace_viewer"]
        self.workdir = workdir
        self.codex_home = tempfile.mkdtemp(prefix="codex-home-", dir=workdir)
        self.ours_env = python_env()
        self.codex_env = dict(os.environ, CODEX_HOME=self.codex_home, RUST_BACKTRACE="0")

    def ours_cmd(self, bundle: Path, out: Path) -> list[str]:
        return [*self.ours_prefix, "reduce", str(bundle), "-o", str(out)]

    def official_cmd(self, bundle: Path, out: Path) -> list[str]:
        assert self.official is not None
        return [self.official.path, "debug", "trace-reduce", str(bundle), "-o", str(out)]

    def compare(self, name: str, bundle: Path, runs: int, check_output: bool = True) -> ReduceRow:
        """Warm-up once each (page cache), then ``runs`` rounds in ABBA order to cancel drift."""
        ours = Series("ours")
        official = Series("official") if self.official else None
        out_ours = self.workdir / f"{name}.ours.json"
        out_official = self.workdir / f"{name}.official.json"
        jobs = [(ours, self.ours_cmd(bundle, out_ours), self.ours_env)]
        if official is not None:
            jobs.append((official, self.official_cmd(bundle, out_official), self.codex_env))
        for _, cmd, env in jobs:
            run_measured(cmd, env=env, cwd=REPO_ROOT)
        for round_index in range(runs):
            order = jobs if round_index % 2 == 0 else list(reversed(jobs))
            for series, cmd, env in order:
                series.samples.append(run_measured(cmd, env=env, cwd=REPO_ROOT))
        same: bool | None = None
        if check_output and official is not None and ours.ok and official.ok:
            same = orjson.loads(out_ours.read_bytes()) == orjson.loads(out_official.read_bytes())
        for path in (out_ours, out_official):
            path.unlink(missing_ok=True)
        return ReduceRow(name, bundle, ours, official, same)
