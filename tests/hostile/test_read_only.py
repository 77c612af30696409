"""Reading a bundle never changes it: every file byte-identical, same listing, same times, nothing new.

Each check fingerprints a bundle (every entry's path, type, mode, size, mtime and SHA-256, the
directories included, so a file created and removed again still shows as a changed directory
mtime), runs one way of looking at it, and fingerprints it again. In-process runs also spy on
every open and filesystem-changing call and fail on any that could write inside the bundle.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hostile_helpers import REPO, SAMPLES, STATS, copy_bundle, read_lines, run_app, time_limit, write_lines

from trace_viewer import cli
from trace_viewer.app.main import TraceViewerApp
from trace_viewer.reducer.replay import Replay, replay_bundle
from trace_viewer.session import ReplaySession

Fingerprint = dict[str, tuple[Any, ...]]


def fingerprint(bundle: Path) -> Fingerprint:
    entries: Fingerprint = {".": _entry(bundle)}
    for root, directories, files in os.walk(bundle, followlinks=False):
        for name in directories + files:
            path = Path(root) / name
            entries[path.relative_to(bundle).as_posix()] = _entry(path)
    return entries


def _entry(path: Path) -> tuple[Any, ...]:
    info = path.lstat()
    digest = None
    if stat.S_ISREG(info.st_mode):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    elif stat.S_ISLNK(info.st_mode):
        digest = os.readlink(path)
    return (stat.S_IFMT(info.st_mode), stat.S_IMODE(info.st_mode), info.st_size, info.st_mtime_ns, digest)


_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


@contextmanager
def no_writes_inside(bundle: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Fail on any open for writing, or any create/remove/rename/chmod, of a path inside ``bundle``."""
    root = os.path.realpath(bundle)
    attempts: list[str] = []

    def inside(path: Any) -> bool:
        try:
            real = os.path.realpath(os.fsdecode(path))
        except (TypeError, ValueError):
            return False
        return real == root or real.startswith(root + os.sep)

    real_os_open = os.open
    real_open = open

    def spy_os_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & _WRITE_FLAGS and inside(path):
            attempts.append(f"os.open({path!r}, {flags:#o})")
        return real_os_open(path, flags, *args, **kwargs)

    def spy_open(path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if isinstance(path, (str, bytes, os.PathLike)) and set(mode) & set("wax+") and inside(path):
            attempts.append(f"open({path!r}, {mode!r})")
        return real_open(path, mode, *args, **kwargs)

    def guard(name: str) -> None:
        original = getattr(os, name)

        def spy(path: Any, *args: Any, **kwargs: Any) -> Any:
            if inside(path) or (args and isinstance(args[0], (str, os.PathLike)) and inside(args[0])):
                attempts.append(f"os.{name}({path!r})")
            return original(path, *args, **kwargs)

        monkeypatch.setattr(os, name, spy)

    monkeypatch.setattr(os, "open", spy_os_open)
    monkeypatch.setattr("builtins.open", spy_open)
    monkeypatch.setattr(io, "open", spy_open)  # what pathlib uses
    for name in ("mkdir", "makedirs", "remove", "unlink", "rmdir", "rename", "replace", "chmod", "utime", "truncate",
                 "symlink", "link", "mkfifo"):  # fmt: skip
        guard(name)
    yield attempts
    monkeypatch.undo()
    assert not attempts, attempts


# Bundles of every kind: clean schema 2 and 1, the broken sample, multi-agent, compaction, and a faulty copy.
READ_ONLY_SAMPLES = ["tools_code_mode", "schema1_exec_basic", "broken_last_line_cut", "agents_minimal",
                     "compaction_local_manual"]  # fmt: skip


@pytest.fixture(params=[*READ_ONLY_SAMPLES, "faulty copy"])
def bundle(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    if request.param != "faulty copy":
        return copy_bundle(SAMPLES / request.param, tmp_path / request.param)
    copy = copy_bundle(SAMPLES / "tools_terminal", tmp_path / "faulty")
    lines = read_lines(copy)
    write_lines(copy, [*lines[:30], lines[31], lines[30], *lines[32:]])
    (copy / "payloads" / "3.json").unlink()
    return copy


def _cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-m", "trace_viewer", *args], capture_output=True, env=env, timeout=120,
                          check=False)  # fmt: skip


@pytest.mark.parametrize("bundle", ["agents_minimal", "broken_last_line_cut", "faulty copy"], indirect=True)
def test_command_line_leaves_the_bundle_untouched(bundle: Path, tmp_path: Path) -> None:
    before = fingerprint(bundle)
    out = tmp_path / "out" / "state.json"
    out.parent.mkdir()
    for args in (
        ["reduce", str(bundle)],
        ["reduce", "--partial", str(bundle)],
        ["reduce", "--partial", str(bundle), "-o", str(out)],
        ["reduce", str(bundle), "-o", str(bundle / "state.json")],  # refused: never inside the bundle
        ["reduce", str(bundle), "-o", str(bundle / "payloads" / "1.json")],
        ["context", str(bundle), "--seq", "20", "--format", "text"],
        ["context", str(bundle), "--seq", "1000", "--format", "markdown"],
        ["context", str(bundle), "--seq", "1000", "--format", "json"],
        ["summary", str(bundle)],
    ):
        result = _cli(*args)
        assert result.returncode in (0, 1, 2), (args, result.stderr)
    assert fingerprint(bundle) == before


def test_in_process_reading_leaves_the_bundle_untouched(bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = fingerprint(bundle)
    with no_writes_inside(bundle, monkeypatch):
        replay_bundle(bundle)
        replay_bundle(bundle, max_events=7)
        live = Replay(bundle, payload_wait=0.0)  # following: polled repeatedly, as the viewer does
        for _ in range(3):
            live.poll()
        live.finish()
        session = ReplaySession(bundle)
        session.load_all()
        for seq in (0, 1, session.total // 2, session.total):
            session.reducer_at(seq)
        assert session.search("the|a")
        cli.main(["context", str(bundle), "--seq", "15", "--format", "markdown"])
        cli.main(["summary", str(bundle)])
    assert fingerprint(bundle) == before


# Scrub everything: steps, jumps by call/turn/compaction, threads, every drawer and toggle, search, go-to,
# follow on and off.
APP_KEYS = ["end", "home", "l", "l", "h", "right_square_bracket", "right_curly_bracket", "c", "C", "t", "i", "u",
            "d", "p", "b", "e", "E", "slash", "r", "e", "enter", "n", "N", "colon", "5", "enter", "f", "G", "f",
            "left_square_bracket", "left_curly_bracket", "g", "question_mark", "escape"]  # fmt: skip


@pytest.mark.parametrize("bundle", ["compaction_local_manual", "schema1_exec_basic", "faulty copy"], indirect=True)
def test_app_leaves_the_bundle_untouched(bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = fingerprint(bundle)
    with no_writes_inside(bundle, monkeypatch):
        run_app(bundle, f"read-only {bundle.name}", APP_KEYS, frames=False)
        run_app(bundle, f"read-only follow {bundle.name}", ["end", "home", "end"], follow=True, frames=False)
    assert fingerprint(bundle) == before


def test_app_on_a_folder_of_bundles_leaves_them_untouched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The picker lists (and the viewer opens) bundles of a trace root without touching any of them."""
    root = tmp_path / "root"
    for name in ("exec_basic", "broken_last_line_cut"):
        copy_bundle(SAMPLES / name, root / "2026" / name)
    before = fingerprint(root)
    with no_writes_inside(root, monkeypatch):

        async def drive() -> None:
            app = TraceViewerApp(root, picker=True)
            async with app.run_test(size=(120, 40)) as pilot:
                await pilot.pause(0.3)
                await pilot.press("enter")
                await pilot.pause(0.5)
                await pilot.press("end", "home", "q")
                await pilot.pause()

        STATS["app_runs"] += 1
        with time_limit(60):
            asyncio.run(drive())
    assert fingerprint(root) == before


def test_fingerprint_notices_changes(tmp_path: Path) -> None:
    """The checks above can fail: a changed byte, a new file, a touched mtime are all visible."""
    bundle = copy_bundle(SAMPLES / "exec_basic", tmp_path / "b")
    before = fingerprint(bundle)
    (bundle / "new").write_bytes(b"")
    assert fingerprint(bundle) != before
    (bundle / "new").unlink()
    assert fingerprint(bundle) != before  # the directory's mtime moved
    bundle2 = copy_bundle(SAMPLES / "exec_basic", tmp_path / "c")
    before = fingerprint(bundle2)
    data = (bundle2 / "trace.jsonl").read_bytes()
    shutil.copystat(bundle2 / "manifest.json", bundle2 / "trace.jsonl")
    (bundle2 / "trace.jsonl").write_bytes(data[:-2] + b"X\n")
    assert fingerprint(bundle2) != before


def test_write_spy_notices_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = copy_bundle(SAMPLES / "exec_basic", tmp_path / "b")
    for write in (
        lambda: (bundle / "new.json").write_bytes(b"{}"),
        lambda: os.close(os.open(bundle / "trace.jsonl", os.O_WRONLY | os.O_APPEND)),
        lambda: os.rename(bundle / "manifest.json", bundle / "m.json"),
    ):
        with pytest.raises(AssertionError), no_writes_inside(bundle, monkeypatch):
            write()
