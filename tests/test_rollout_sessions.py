"""Sessions trees: discovery, the picker's listing, threads linked across files, matching bundles."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from rollout_helpers import SAMPLES, rollout_files

from trace_viewer.rollout import sessions
from trace_viewer.rollout.sessions import (
    _prompt_from_item,
    find_rollout_files,
    is_sessions_tree,
    list_sessions,
    newest_session,
    session_info,
    thread_files,
    walk_sessions,
)

AGENTS = SAMPLES / "agents_full"
ROOT_ID = "01a23347-33c3-7591-b44f-a35615aafbc4"
WORKER_A = "01a23347-3451-7ce0-895f-b5b249d054be"
WORKER_B = "01a23347-3467-7ed1-af07-de6288d7b8a3"  # forked from the root


def _home(tmp_path: Path, *cases: str) -> Path:
    """A Codex home whose sessions/ holds the given sample cases' files (and nothing else)."""
    home = tmp_path / "home"
    for case in cases:
        shutil.copytree(SAMPLES / case / "sessions", home / "sessions", dirs_exist_ok=True)
    return home


def test_finds_rollouts_under_a_home_a_sessions_dir_or_a_day_folder(tmp_path: Path) -> None:
    home = _home(tmp_path, "agents_full", "exec_basic")
    (home / "sessions" / "notes.txt").write_text("not a rollout")
    for root in (home, home / "sessions", home / "sessions" / "2026" / "12" / "01"):
        found = find_rollout_files(root)
        assert len(found) == 4, root
        assert all(path.name.startswith("rollout-") for path in found)
    assert is_sessions_tree(home) and not is_sessions_tree(tmp_path / "nothing")


def test_listing_nests_sub_agents_under_their_parent_newest_first(tmp_path: Path) -> None:
    home = _home(tmp_path, "agents_full", "exec_basic", "tools_multiturn_resume")
    listing = list_sessions(home, bundle_roots=[])
    assert [info.first_prompt for info in listing] == [
        "First: say turn 1.",  # 20:24:00
        "Use two sub-agents: one to echo alpha, one to echo beta; then follow up with gamma.",  # 20:23:54
        "list files and compute 1+1",  # 20:23:23
    ]
    agents = listing[1]
    assert agents.thread_id == ROOT_ID and not agents.is_subagent
    assert [child.thread_id for child in agents.children] == [WORKER_A, WORKER_B]
    assert [child.agent_path for child in agents.children] == ["/root/worker_a", "/root/worker_b"]
    # A task handed to a sub-agent reads as its envelope's type and sender (its payload is encrypted here).
    assert [child.first_prompt for child in agents.children] == ["NEW_TASK from /root", "NEW_TASK from /root"]
    assert agents.children[1].forked_from_id == ROOT_ID
    rows = walk_sessions(listing)
    assert [depth for depth, _ in rows] == [0, 0, 1, 1, 0]


def test_listing_fields(tmp_path: Path) -> None:
    home = _home(tmp_path, "tools_multiturn_resume", "agents_full")
    resume, agents = list_sessions(home, bundle_roots=[])
    assert resume.turns == 3 and resume.status == "completed"
    assert resume.model == "gpt-5" and resume.cwd == "/home/dev/project"
    assert resume.started == "2026-12-01T20:24:00.777Z" and resume.cli_version == "0.171.0"
    # The forked child's copy of the parent turn does not count as one of its turns.
    assert [child.turns for child in agents.children] == [2, 1]


def test_status_of_open_and_broken_sessions(tmp_path: Path) -> None:
    home = _home(tmp_path, "exec_basic")
    (path,) = find_rollout_files(home)
    data = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(data[:12]))  # mid-turn
    assert session_info(path).status == "running"
    assert session_info(path, now=time.time() + 3600).status == "incomplete"
    broken = path.with_name("rollout-2026-12-01T20-00-00-broken.jsonl")
    broken.write_bytes(data[0] + b"{oops\n")
    info = session_info(broken)
    assert info.status == "broken" and info.error is not None and "line 2" in info.error
    empty = path.with_name("rollout-2026-12-01T20-00-01-empty.jsonl")
    empty.write_bytes(b"")
    assert session_info(empty).status == "empty"


def test_growing_file_is_scanned_on_from_where_it_stopped(tmp_path: Path) -> None:
    home = _home(tmp_path, "tools_multiturn_resume")
    (path,) = find_rollout_files(home)
    data = path.read_bytes()
    path.write_bytes(data[: data.index(b"\n", len(data) // 3) + 1])
    first = session_info(path)
    scanned = sessions._scans[str(path)].offset
    with path.open("ab") as handle:
        handle.write(data[len(path.read_bytes()) :])
    second = session_info(path)
    assert first.turns < second.turns == 3
    assert sessions._scans[str(path)].offset == len(data) > scanned


def test_bundles_of_the_same_run_are_matched_by_rollout_id(tmp_path: Path) -> None:
    home = _home(tmp_path, "exec_basic", "compaction_remote_manual")
    listing = list_sessions(home, bundle_roots=[SAMPLES])
    expected = {
        rollout_files(SAMPLES / case)[0].name: (SAMPLES / case / "bundle",)
        for case in ("exec_basic", "compaction_remote_manual")
    }
    assert {info.path.name: info.bundles for info in listing} == expected


def test_bundle_roots_default_to_the_trace_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = _home(tmp_path, "exec_basic")
    monkeypatch.setenv("CODEX_ROLLOUT_TRACE_ROOT", str(SAMPLES / "exec_basic"))
    (info,) = list_sessions(home)
    assert [path.name for path in info.bundles] == ["bundle"]
    monkeypatch.delenv("CODEX_ROLLOUT_TRACE_ROOT")
    (info,) = list_sessions(home)
    assert info.bundles == ()


def test_newest_session_skips_sub_agent_threads(tmp_path: Path) -> None:
    home = _home(tmp_path, "agents_full", "exec_basic")
    files = {path.name.split("-", 6)[-1][:-6]: path for path in find_rollout_files(home)}
    now = time.time()
    for index, path in enumerate(sorted(files.values())):
        os.utime(path, (now - 100 + index, now - 100 + index))
    child = next(path for path in files.values() if WORKER_B in path.name)
    os.utime(child, (now, now))  # the most recently written file is a sub-agent's
    newest = newest_session(home)
    assert newest is not None and ROOT_ID in newest.name


def test_newest_session_defaults_to_codex_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = _home(tmp_path, "exec_basic")
    monkeypatch.setenv("CODEX_HOME", str(home))
    assert newest_session() == find_rollout_files(home)[0]
    monkeypatch.setenv("CODEX_HOME", str(tmp_path / "none"))
    assert newest_session() is None


def test_thread_files_link_a_session_across_its_files(tmp_path: Path) -> None:
    home = _home(tmp_path, "agents_full", "exec_basic")
    for file in rollout_files(SAMPLES / "agents_full"):
        linked = thread_files(home / "sessions" / file.relative_to(SAMPLES / "agents_full" / "sessions"))
        assert set(linked) == {ROOT_ID, WORKER_A, WORKER_B}


def test_listing_never_writes(tmp_path: Path) -> None:
    home = _home(tmp_path, "agents_full")
    before = {path: (path.stat().st_mtime_ns, path.stat().st_size) for path in home.rglob("*")}
    os.chmod(home, 0o555)
    try:
        list_sessions(home, bundle_roots=[])
        newest_session(home)
    finally:
        os.chmod(home, 0o755)
    assert {path: (path.stat().st_mtime_ns, path.stat().st_size) for path in home.rglob("*")} == before


def test_a_plain_text_task_shows_after_its_envelope() -> None:
    header = "Message Type: NEW_TASK\nTask name: /root/worker_a\nSender: /root\nPayload:\n"
    item = {"type": "agent_message", "content": [{"type": "input_text", "text": header + "Echo alpha."}]}
    assert _prompt_from_item(item) == "NEW_TASK from /root: Echo alpha."
    plain = {"type": "agent_message", "content": [{"type": "input_text", "text": "Just a note."}]}
    assert _prompt_from_item(plain) == "Just a note."
