"""Following a bundle while it is written, without the UI: ``ReplaySession(follow=True)`` + a watcher.

The writer (``writer.py``) replays a recorded bundle the way Codex writes one —
payloads first, each line in random pieces, torn tails — while the follower
polls on every wake-up. Whatever the timing, the follower must never report a
fault mid-way, must apply every event exactly once (no re-reduce from the
start), and must end in exactly the offline state.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from corpora import skip_unless
from state_view import json_state

from follow.mock_model import FINAL_ANSWER, MockModel, codex_config
from follow.writer import WriterOptions, WriterThread
from trace_viewer.bundle.watcher import BundleArrivals, watch_bundle, watch_root
from trace_viewer.reducer import Reducer
from trace_viewer.reducer.replay import reduce_bundle
from trace_viewer.session import ReplaySession

if TYPE_CHECKING:
    from conftest import CutBundle

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "sample_traces"
CORPUS = REPO.parent / "shared" / "corpus"
# Upper bound for one follow; runs take well under a second or two.
DEADLINE_S = 30.0


def source_events(bundle: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (bundle / "trace.jsonl").read_bytes().splitlines() if line.strip()]


@pytest.fixture
def apply_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Seqs handed to ``Reducer.apply`` — to prove each event is applied once, never re-reduced."""
    calls: list[int] = []
    original = Reducer.apply

    def counting(self: Reducer, event: Any, line: int | None = None) -> Any:
        calls.append(event.get("seq") if isinstance(event, dict) else -1)
        return original(self, event, line=line)

    monkeypatch.setattr(Reducer, "apply", counting)
    return calls


@dataclass
class Followed:
    session: ReplaySession
    added: list[int] = field(default_factory=list)
    # Distinct non-zero totals seen while the writer was still writing: following really was live.
    totals_while_writing: set[int] = field(default_factory=set)
    # The total at each of the writer's holds, once everything on disk then was read.
    totals_at_holds: list[int] = field(default_factory=list)


def follow_bundle(
    path: Path,
    writing: Callable[[], bool],
    *,
    session: ReplaySession | None = None,
    writer: WriterThread | None = None,
) -> Followed:
    """Poll on every wake-up until the writer is done and everything it wrote is applied.

    With ``writer``, each of its holds is released once a poll finds nothing more on disk: so the
    follower is seen mid-way (``totals_at_holds``) however fast or slow either side runs.
    """
    session = session or ReplaySession(path, follow=True)
    result = Followed(session)
    released = 0
    deadline = time.monotonic() + DEADLINE_S
    with watch_bundle(path) as watcher:
        while time.monotonic() < deadline:
            alive = writing()  # sampled before the poll: a poll after the writer ended sees all it wrote
            reached = writer.reached if writer is not None else 0  # (before the poll, too)
            added = session.poll()
            result.added.append(added)
            assert session.fault is None, f"fault while following: {session.fault}"
            if alive and session.total:
                result.totals_while_writing.add(session.total)
            elif not alive and not added and not session.waiting:
                return result
            if writer is not None and released < reached and not added:
                # Held, and everything before the hold is read (an event may wait for a payload the
                # writer finishes only later: it is released all the same).
                result.totals_at_holds.append(session.total)
                released += 1
                writer.release()
                continue
            # While an event waits for its payload, retry soon: payload contents are not watched by polling.
            watcher.wait(timeout=0.05 if session.waiting else 1.0)
    raise AssertionError(f"follow did not finish in {DEADLINE_S} s (total {session.total})")


def assert_same_as_offline(followed: Followed, source: Path, written: Path) -> None:
    session = followed.session
    events = source_events(source)
    assert [record.seq for record in session.records] == list(range(1, len(events) + 1))
    assert [record.event for record in session.records] == events  # none missed, none duplicated
    assert sum(followed.added) == len(events)
    offline = reduce_bundle(written)
    assert offline.fault is None
    assert session.reducer.to_json() == offline.to_json()
    assert offline.to_json() == reduce_bundle(source).to_json()


CASES = [
    # (sample, writer options): delays keep each run around a second. The short bundles are written
    # slowly enough to span several watcher steps (watchfiles groups changes 20-50 ms at a time).
    ("exec_basic", WriterOptions(seed=1, event_delay=0.012)),
    ("exec_basic", WriterOptions(seed=2, max_chunks=8, cut_before_newline=0.5, late_payloads=0.3)),
    ("agents_minimal", WriterOptions(seed=3, event_delay=0.002)),
    ("compaction_remote_midturn", WriterOptions(seed=4, late_payloads=0.1)),
    ("tools_terminal", WriterOptions(seed=5, event_delay=0.002)),
    ("schema1_exec_basic", WriterOptions(seed=6, late_payloads=0.2, event_delay=0.012)),
]


@pytest.mark.parametrize(("name", "options"), CASES, ids=[f"{name}-{opts.seed}" for name, opts in CASES])
def test_following_a_bundle_ends_in_the_offline_state(
    tmp_path: Path, name: str, options: WriterOptions, apply_calls: list[int]
) -> None:
    source = SAMPLES / name
    dest = tmp_path / name
    events = len(source_events(source))
    holds = (events // 3, 2 * events // 3)  # the writer waits there until the follower has read it all
    writer = WriterThread(source, dest, options, holds=holds)
    writer.start()
    while not (dest / "trace.jsonl").exists() and writer.is_alive():
        time.sleep(0.005)  # the manifest is complete once the log exists (Codex's order)
    followed = follow_bundle(dest, writer.is_alive, writer=writer)
    writer.join()
    assert writer.error is None
    assert apply_calls == list(range(1, events + 1))  # each event applied once, in order
    assert_same_as_offline(followed, source, dest)
    # It grew step by step while being written: at each hold, all written so far was on screen
    # (or all but the events after one whose payload the writer finishes late).
    if options.late_payloads:
        assert 0 < followed.totals_at_holds[0] <= followed.totals_at_holds[1] <= holds[1] < events
    else:
        assert followed.totals_at_holds == list(holds)


@skip_unless("corpus/agents_v1")
def test_following_runs_the_end_of_log_work_once_recording_completed(tmp_path: Path) -> None:
    source = CORPUS / "agents_v1"
    dest = tmp_path / "agents_v1"
    writer = WriterThread(source, dest, WriterOptions(seed=7, event_delay=0.001, chunk_delay=0.001))
    writer.start()
    while not (dest / "trace.jsonl").exists() and writer.is_alive():
        time.sleep(0.005)
    followed = follow_bundle(dest, writer.is_alive)
    writer.join()
    assert_same_as_offline(followed, source, dest)


def test_following_a_bundle_before_its_manifest_is_written(tmp_path: Path) -> None:
    source = SAMPLES / "exec_basic"
    dest = tmp_path / "exec_basic"
    writer = WriterThread(source, dest, WriterOptions(seed=8, manifest_delay=0.2))
    writer.start()
    while not (dest / "payloads").is_dir():
        time.sleep(0.005)
    session = ReplaySession(dest, follow=True)  # only payloads/ exists
    followed = follow_bundle(dest, writer.is_alive, session=session)
    writer.join()
    assert_same_as_offline(followed, source, dest)


def test_following_a_root_picks_up_a_bundle_that_appears_later(tmp_path: Path, apply_calls: list[int]) -> None:
    root = tmp_path / "traces"
    root.mkdir()
    source = SAMPLES / "tools_multiturn_appserver"
    dest = root / "trace-live"
    with watch_root(root) as root_watcher:
        arrivals = BundleArrivals(root)  # nothing there yet
        writer = WriterThread(
            source, dest, WriterOptions(seed=9, start_delay=0.2, manifest_delay=0.1, event_delay=0.002)
        )
        writer.start()
        deadline = time.monotonic() + DEADLINE_S
        found: list[Path] = []
        while not found and time.monotonic() < deadline:
            root_watcher.wait(timeout=1.0)
            found = arrivals.check()  # only once its manifest is complete
    assert found == [dest]
    followed = follow_bundle(dest, writer.is_alive)
    writer.join()
    assert writer.error is None
    assert apply_calls == list(range(1, len(source_events(source)) + 1))
    assert_same_as_offline(followed, source, dest)


def test_a_torn_last_line_is_waited_for_not_a_fault(tmp_path: Path) -> None:
    source = SAMPLES / "broken_last_line_cut"  # the recording stops mid-line
    dest = tmp_path / "cut"
    writer = WriterThread(source, dest, WriterOptions(seed=10, event_delay=0.001))
    writer.start()
    while not (dest / "trace.jsonl").exists() and writer.is_alive():
        time.sleep(0.005)
    session = ReplaySession(dest, follow=True)
    deadline = time.monotonic() + DEADLINE_S
    with watch_bundle(dest) as watcher:
        while time.monotonic() < deadline:
            alive = writer.is_alive()
            added = session.poll()
            assert session.fault is None, session.fault
            if not alive and not added:
                break
            watcher.wait(timeout=1.0)
    writer.join()
    complete_lines = (source / "trace.jsonl").read_bytes().count(b"\n")
    assert session.total == complete_lines and session.waiting and session.fault is None
    # Read as final (follow off), the cut line is the same fault as offline.
    offline = reduce_bundle(dest)
    final = ReplaySession(dest)
    final.load_all()
    assert offline.fault is not None and final.fault == offline.fault
    assert final.reducer.to_json() == offline.to_json()


def test_a_truncated_log_is_reported_with_a_reload_reason(cut_bundle: CutBundle) -> None:
    dest, lines = cut_bundle("exec_basic", 10)
    session = ReplaySession(dest, follow=True)
    assert session.poll() == 10 and session.fault is None
    (dest / "trace.jsonl").write_bytes(b"".join(lines[:4]))
    session.poll()
    assert session.reset_reason is not None and "truncated" in session.reset_reason
    assert session.fault is not None and "truncated" in session.fault.message
    assert session.total == 10  # what was shown stays browsable


def test_a_replaced_log_is_reported_with_a_reload_reason(tmp_path: Path, cut_bundle: CutBundle) -> None:
    dest, lines = cut_bundle("exec_basic", 10)
    session = ReplaySession(dest, follow=True)
    assert session.poll() == 10
    swap = tmp_path / "swap.jsonl"
    swap.write_bytes(b"".join(lines[:12]))
    os.replace(swap, dest / "trace.jsonl")
    session.poll()
    assert session.reset_reason is not None and "replaced" in session.reset_reason
    assert session.total == 10


def test_an_event_whose_payload_is_not_written_yet_is_held_not_applied(cut_bundle: CutBundle) -> None:
    dest, lines = cut_bundle("exec_basic", 2)
    held = json.loads(lines[2])  # seq 3 references payloads/2.json
    payload = dest / held["payload"]["event_payload"]["path"]
    body = payload.read_bytes()
    payload.write_bytes(body[: len(body) // 2])  # caught half-written
    session = ReplaySession(dest, follow=True)
    assert session.poll() == 2
    state = json.dumps(session.reducer.to_json(), sort_keys=True)
    with open(dest / "trace.jsonl", "ab") as handle:
        handle.write(lines[2])
    assert session.poll() == 0
    assert session.waiting and session.fault is None
    assert json.dumps(session.reducer.to_json(), sort_keys=True) == state  # nothing of the held event
    payload.write_bytes(body)
    assert session.poll() == 1 and not session.waiting and session.fault is None
    assert held["payload"]["event_payload"]["raw_payload_id"] in json_state(session)["raw_payloads"]


# ----- the real Codex --------------------------------------------------------------------------------

CODEX = shutil.which("codex")


@pytest.mark.skipif(CODEX is None, reason="the `codex` binary is not on PATH")
def test_following_real_codex_while_it_writes(tmp_path: Path) -> None:
    """Codex runs one slow turn against a local scripted model; we follow its trace root the whole time."""
    assert CODEX is not None
    home, work, root = tmp_path / "home", tmp_path / "work", tmp_path / "traces"
    for directory in (home, work, root):
        directory.mkdir()
    with MockModel(delay_s=0.5) as model, watch_root(root) as root_watcher:
        (home / "config.toml").write_text(codex_config(model.base_url))
        env = {
            **os.environ,
            "CODEX_HOME": str(home),
            "CODEX_ROLLOUT_TRACE_ROOT": str(root),
            "OPENAI_API_KEY": "sk-test-not-used",
            "NO_COLOR": "1",
        }
        arrivals = BundleArrivals(root)
        process = subprocess.Popen(
            [CODEX, "exec", "--skip-git-repo-check", "Say hello through the shell."],
            cwd=work,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        output: list[bytes] = []
        reader = threading.Thread(target=lambda: output.append(process.stdout.read() if process.stdout else b""))
        reader.start()
        try:
            deadline = time.monotonic() + 60
            found: list[Path] = []
            while not found and process.poll() is None and time.monotonic() < deadline:
                root_watcher.wait(timeout=0.5)
                found = arrivals.check()
            found = found or arrivals.check()
            assert found, "codex wrote no trace bundle: " + b"".join(output).decode(errors="replace")[-2000:]
            bundle = found[0]
            followed = follow_bundle(bundle, lambda: process.poll() is None)
            process.wait(timeout=max(1.0, deadline - time.monotonic()))
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            reader.join(timeout=5)
    assert process.returncode == 0, b"".join(output).decode(errors="replace")[-2000:]
    session = followed.session
    # Seen while it grew (Codex takes seconds to write it), not only at the end.
    assert len(followed.totals_while_writing) >= 3 and min(followed.totals_while_writing) < session.total // 2
    offline = reduce_bundle(bundle)
    assert offline.fault is None and session.fault is None
    assert session.reducer.to_json() == offline.to_json()
    assert [record.seq for record in session.records] == list(range(1, len(source_events(bundle)) + 1))
    texts = [
        part.get("text")
        for item in json_state(session)["conversation_items"].values()
        for part in item.get("body", {}).get("parts", [])
    ]
    assert FINAL_ANSWER in texts
    # And the offline state is the official one.
    official = tmp_path / "official.json"
    reduced = subprocess.run(
        [CODEX, "debug", "trace-reduce", str(bundle), "-o", str(official)],
        env=env,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert reduced.returncode == 0, reduced.stderr[-2000:]
    assert json.loads(official.read_text()) == offline.to_json()
