"""What a path, or no path, opens: bundles, folders of bundles, rollout files, sessions trees, defaults."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from rollout_helpers import SAMPLES, rollout_files

from trace_viewer.samples import sample_path
from trace_viewer.sources import SourceError, resolve_source

BUNDLES = SAMPLES.parent


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No trace root and an empty Codex home, whatever the machine has."""
    monkeypatch.delenv("CODEX_ROLLOUT_TRACE_ROOT", raising=False)
    home = tmp_path / "codex-home"
    home.mkdir()
    monkeypatch.setenv("CODEX_HOME", str(home))
    return home


def test_paths_of_every_kind(env: Path) -> None:
    bundle = BUNDLES / "exec_basic"
    assert resolve_source(str(bundle)).kind == "bundle"
    assert resolve_source(str(bundle / "trace.jsonl")).path == bundle
    assert resolve_source(str(BUNDLES)).kind == "bundles"
    rollout = rollout_files(SAMPLES / "tools_multiturn_resume")[0]
    source = resolve_source(str(rollout))
    assert (source.kind, source.path) == ("rollout", rollout)
    sessions = SAMPLES / "agents_full" / "sessions"
    assert resolve_source(str(sessions)).kind == "sessions"
    with pytest.raises(SourceError, match="no such file"):
        resolve_source(str(env / "missing"))
    empty = env / "empty"
    empty.mkdir()
    with pytest.raises(SourceError, match="no trace bundle or session rollout here"):
        resolve_source(str(empty))
    assert resolve_source(str(empty), follow=True).kind == "bundles"  # a trace root bundles will appear in


def test_a_rollout_names_the_bundles_of_the_same_run(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    case = SAMPLES / "exec_basic"
    source = resolve_source(str(rollout_files(case)[0]))
    assert source.bundles == (case / "bundle",)  # found beside the sessions tree
    # Under the trace root too, for a real home (the bundle is not beside ~/.codex/sessions).
    copy = env / "sessions" / "2026" / "12" / "01"
    copy.mkdir(parents=True)
    shutil.copy(rollout_files(case)[0], copy)
    (only,) = list(copy.iterdir())
    assert resolve_source(str(only)).bundles == ()
    monkeypatch.setenv("CODEX_ROLLOUT_TRACE_ROOT", str(case))
    assert resolve_source(str(only)).bundles == (case / "bundle",)


def test_default_prefers_the_trace_root_then_the_newest_session_then_the_sample(
    env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    sample = sample_path()
    assert sample is not None
    assert resolve_source(None).path == sample and resolve_source(None).note == "bundled sample"

    sessions = env / "sessions"
    shutil.copytree(SAMPLES / "agents_full" / "sessions", sessions)
    shutil.copytree(SAMPLES / "exec_basic" / "sessions", sessions, dirs_exist_ok=True)
    files = sorted(sessions.rglob("rollout-*.jsonl"))
    now = time.time()
    for index, path in enumerate(files):
        os.utime(path, (now - 50 + index, now - 50 + index))
    child = next(path for path in files if "de6288d7b8a3" in path.name)  # a sub-agent thread
    os.utime(child, (now, now))
    chosen = resolve_source(None)
    assert chosen.kind == "rollout" and "a35615aafbc4" in chosen.path.name  # its root, not the child
    assert chosen.note is not None and "newest session" in chosen.note

    root = tmp_path / "traces"
    shutil.copytree(BUNDLES / "exec_basic", root / "trace-x")
    monkeypatch.setenv("CODEX_ROLLOUT_TRACE_ROOT", str(root))
    chosen = resolve_source(None)
    assert (chosen.kind, chosen.path) == ("bundle", root / "trace-x")
