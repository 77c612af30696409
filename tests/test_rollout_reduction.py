"""Session rollouts reduced into the typed graph, step by step, as bundles are.

The checks that matter most: every inference call's ``request_item_ids`` are exactly the items
the model received (against ``requests.jsonl``), the live context follows the history, threads
are linked across files, and following a growing session ends in the offline state.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from corpora import cases_or_skip
from rollout_helpers import (
    SAMPLES,
    SHARED_CORPUS,
    case_dirs,
    is_compaction_request,
    requests_by_thread,
    rollout_files,
    unpacked,
)

from trace_viewer.model import UNSET, CompactionProducer, InferenceProducer, SpawnedOrigin, ToolProducer
from trace_viewer.rollout_session import RolloutReplay, RolloutSession, open_session
from trace_viewer.session import ReplaySession

SAMPLE_CASES = case_dirs(SAMPLES)


def loaded(path: Path, **options: bool) -> RolloutSession:
    session = open_session(path, **options)
    assert isinstance(session, RolloutSession)
    session.load_all()
    assert session.fault is None, session.fault
    return session


def root_file(case: Path) -> Path:
    """The case's root thread file (a sub-agent's file opens the same session)."""
    return rollout_files(case)[0]


def _responses_ids(session: RolloutSession, item_ids: list[str]) -> list[object]:
    items = session.rollout.conversation_items
    return [items[item_id].responses_item_id for item_id in item_ids]


def check_requests(case: Path) -> int:
    """Each thread's calls, in order, saw the requests' items (by Responses id; ids a rollout lacks are unset).

    As in a bundle, a compaction request is a compaction request of the graph, not an inference
    call: the thread has one per compaction request received (``calls`` lists their inputs)."""
    session = loaded(root_file(case))
    by_thread = requests_by_thread(case)
    checked = 0
    for thread_id, requests in by_thread.items():
        calls = sorted(
            (call for call in session.rollout.inference_calls.values() if call.thread_id == thread_id),
            key=lambda call: call.execution.started_seq,
        )
        failed = [r for r in requests if (r.get("mock_plan") or {}).get("fail")]
        retried = [r for r in failed if any(o["body"]["input"] == r["body"]["input"] for o in requests if o is not r)]
        requests = [r for r in requests if r not in retried]
        compactions = [r for r in requests if is_compaction_request(r)]
        requests = [r for r in requests if r not in compactions]
        asked = [r for r in session.rollout.compaction_requests.values() if r.thread_id == thread_id]
        assert len(asked) == len(compactions), (case.name, thread_id, len(asked), len(compactions))
        assert len(calls) == len(requests), (case.name, thread_id, len(calls), len(requests))
        for call, request in zip(calls, requests, strict=True):
            wanted: list[object] = [item.get("id", UNSET) for item in request["body"]["input"]]
            wanted[0] = UNSET  # the base instructions message's id is not in the rollout
            got = _responses_ids(session, call.request_item_ids)
            synthetic = [i for i, item in enumerate(request["body"]["input"]) if item.get("output") == "aborted"]
            for index in synthetic:
                wanted[index] = UNSET  # ids Codex synthesises for aborted outputs
            assert got == wanted, (case.name, call.inference_call_id)
            checked += 1
    return checked


@pytest.mark.parametrize("case", cases_or_skip(case_dirs(SHARED_CORPUS), "corpus-rollouts", ids=lambda c: c.name))
def test_every_call_saw_the_requests_items_corpus(case: Path) -> None:
    assert check_requests(case) > 0


@pytest.mark.parametrize("case", SAMPLE_CASES, ids=lambda c: c.name)
def test_every_call_saw_the_requests_items_samples(case: Path) -> None:
    assert check_requests(case) > 0


@pytest.mark.parametrize("version", ["0.164.0", "0.169.0"])
def test_every_call_saw_the_requests_items_old_versions(version: str) -> None:
    for name in ("compaction_local_midturn", "agents_full", "tools_interrupt_INT", "tools_fail_http500"):
        assert check_requests(unpacked(version) / name) > 0


def test_threads_are_linked_across_files() -> None:
    session = loaded(root_file(SAMPLES / "agents_full"))
    threads = session.rollout.threads
    root = session.rollout.root_thread_id
    assert threads[root].agent_path == "/root"
    children = [thread for thread in threads.values() if thread.thread_id != root]
    assert sorted(thread.agent_path for thread in children) == ["/root/worker_a", "/root/worker_b"]
    for child in children:
        assert isinstance(child.origin, SpawnedOrigin) and child.origin.parent_thread_id == root
        assert child.origin.spawn_edge_id in session.rollout.interaction_edges
    assert session.thread_order()[0] == root
    # Opening a child's file opens the same session.
    child_file = next(f for f in rollout_files(SAMPLES / "agents_full") if children[0].thread_id in f.name)
    assert set(loaded(child_file).rollout.threads) == set(threads)


def test_turns_calls_tools_and_their_outputs() -> None:
    session = loaded(root_file(SAMPLES / "exec_basic"))
    rollout = session.rollout
    (turn,) = rollout.codex_turns.values()
    assert turn.execution.status == "completed"
    calls = sorted(rollout.inference_calls.values(), key=lambda c: c.execution.started_seq)
    # The user's prompt is request input, with no producer (as in a bundle); accepted on its line.
    prompt = rollout.conversation_items[calls[0].request_item_ids[-1]]
    assert prompt.role == "user" and prompt.produced_by == [] and prompt.accepted_seq == 8  # line 8
    assert [c.response_id for c in calls] == ["resp_1", "resp_2", "resp_3"]
    assert all(c.usage is not None and c.usage.input_tokens == 100 for c in calls)
    assert [c.tool_call_ids_started_by_response for c in calls] == [["call_ls"], ["call_py"], []]
    ls = rollout.tool_calls["call_ls"]
    assert ls.execution.status == "completed" and ls.kind.__class__.__name__ == "ExecCommandKind"
    (output,) = ls.model_visible_output_item_ids
    assert rollout.conversation_items[output].produced_by == [ToolProducer("call_ls")]
    first_response = rollout.conversation_items[calls[0].response_item_ids[0]]
    assert first_response.produced_by == [InferenceProducer(calls[0].inference_call_id)]
    assert first_response.kind == "reasoning"


def test_interrupts_and_errors() -> None:
    interrupted = loaded(root_file(unpacked("0.169.0") / "tools_interrupt_INT"))
    statuses = sorted(t.execution.status for t in interrupted.rollout.codex_turns.values())
    assert statuses == ["cancelled"]  # SIGINT mid-stream
    assert "cancelled" in {c.execution.status for c in interrupted.rollout.inference_calls.values()}
    failed = loaded(root_file(unpacked("0.169.0") / "tools_fail_http500"))
    (turn,) = failed.rollout.codex_turns.values()
    # The turn failed; the session, as a bundle's, is the recording's: it ended normally.
    assert turn.execution.status == "failed" and failed.rollout.status == "completed"
    last = max(failed.rollout.inference_calls.values(), key=lambda c: c.execution.started_seq)
    assert last.execution.status == "failed" and last.response_id is None


def test_remote_compaction_has_its_request_and_replacement() -> None:
    session = loaded(root_file(SAMPLES / "compaction_remote_manual"))
    rollout = session.rollout
    (compaction,) = rollout.compactions.values()
    (request_id,) = compaction.request_ids
    request = rollout.compaction_requests[request_id]
    assert request.compaction_id == compaction.compaction_id
    replacement = [rollout.conversation_items[i] for i in compaction.replacement_item_ids]
    assert replacement[-1].channel == "summary"  # the encrypted compaction item
    assert all(item.produced_by == [CompactionProducer(compaction.compaction_id)] for item in replacement)
    assert session.compaction_seqs() == [session.first_seq(compaction.compaction_id)]
    # The live context right after installing is the replacement (after the base instructions).
    seq = session.first_seq(compaction.compaction_id) or 0
    context = session.context_at(compaction.thread_id, seq)
    assert list(context[1:]) == compaction.replacement_item_ids
    assert set(compaction.input_item_ids).isdisjoint(context)


def test_local_compaction_summary_is_in_the_replacement() -> None:
    session = loaded(root_file(SAMPLES / "compaction_local_midturn"))
    rollout = session.rollout
    (compaction,) = rollout.compactions.values()
    (request_id,) = compaction.request_ids  # the local request, which a bundle does not record
    request = rollout.compaction_requests[request_id]
    assert request.execution.status == "completed" and request.compaction_id == compaction.compaction_id
    texts = [
        part.text
        for item_id in compaction.replacement_item_ids
        for part in rollout.conversation_items[item_id].body.parts
        if hasattr(part, "text")
    ]
    assert any(text.startswith("Another language model started to solve this problem") for text in texts)
    # The summary the compaction request returned is its output, before `compacted` installed it.
    (summary,) = [i for i in rollout.conversation_items.values() if i.responses_item_id == "msg_summary_1"]
    assert summary.produced_by == [CompactionProducer(compaction.compaction_id)]
    assert [c.response_id for c in rollout.inference_calls.values()] == ["resp_1", "resp_3", "resp_4"]


def test_every_step_is_recorded_with_the_raw_line() -> None:
    file = root_file(SAMPLES / "exec_basic")
    session = loaded(file)
    lines = [json.loads(raw) for raw in file.read_text().splitlines()]
    assert session.total == len(lines)
    assert [record.event["rollout_record"] for record in session.records] == lines
    assert [record.line for record in session.records] == list(range(1, len(lines) + 1))
    assert session.seqs_of("codex_turn_started") == [2]
    assert len(session.seqs_of("inference_started")) == 3
    store = session.payloads
    call = next(iter(session.rollout.inference_calls.values()))
    raw = session.rollout.raw_payloads[call.raw_request_payload_id]
    assert store.read(raw.reference()) == lines[10]  # line 11: the first output item


def test_reducer_at_matches_the_session_at_every_position() -> None:
    session = loaded(root_file(SAMPLES / "compaction_local_midturn"))
    for seq in (0, 5, 18, 21, session.total):
        reducer = session.reducer_at(seq)
        assert reducer.events_applied == seq
        for thread_id in session.rollout.threads:
            assert tuple(reducer.live_context(thread_id)) == session.context_at(thread_id, seq), seq
    assert session.reducer_at(session.total).to_json() == session.reducer.to_json()


@pytest.mark.parametrize("read_lines", [1, 3])
@pytest.mark.parametrize("case", ["agents_full", "tools_multiturn_resume"])
def test_reading_a_few_lines_at_a_time_gives_the_same_steps(
    case: str, read_lines: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files read in slices (as for a first screen) are merged in the same order as files read whole."""
    whole = loaded(root_file(SAMPLES / case))
    monkeypatch.setattr(RolloutReplay, "READ_LINES", read_lines)
    session = open_session(root_file(SAMPLES / case))
    assert isinstance(session, RolloutSession)
    session.load(max_events=5)
    assert session.total == 5 and not session.done
    assert len(session.replay.files) == len(whole.replay.files)
    assert any(file.reader.more for file in session.replay.files)  # the rest is not read yet
    session.load_all()
    assert session.fault is None and session.total == whole.total
    assert [record.event for record in session.records] == [record.event for record in whole.records]
    assert session.reducer.to_json() == whole.reducer.to_json()


def test_following_a_growing_session_line_by_line(tmp_path: Path) -> None:
    """Lines appended one at a time (a torn half first) end in the offline state."""
    source = root_file(SAMPLES / "compaction_remote_manual")
    offline = loaded(source)
    target = tmp_path / "sessions" / "2026" / "12" / "01" / source.name
    target.parent.mkdir(parents=True)
    target.write_bytes(b"")
    live = open_session(target, follow=True)
    assert isinstance(live, RolloutSession)
    data = source.read_bytes().splitlines(keepends=True)
    for raw in data:
        half = len(raw) // 2
        with target.open("ab") as handle:
            handle.write(raw[:half])
        live.poll()
        before = live.total
        assert live.fault is None and live.waiting  # the torn line waits
        with target.open("ab") as handle:
            handle.write(raw[half:])
        live.poll()
        assert live.total == before + 1
    assert live.fault is None and not live.finished
    assert live.total == offline.total
    for thread_id in offline.rollout.threads:
        for seq in range(offline.total + 1):
            assert live.context_at(thread_id, seq) == offline.context_at(thread_id, seq)
    live_state, offline_state = live.reducer.to_json(), offline.reducer.to_json()
    # Only offline knows the files ended: the recording is complete and idle threads end there.
    assert live_state.pop("recording_status") == "unclosed" and offline_state.pop("recording_status") == "complete"
    for thread_id, thread in offline_state["threads"].items():  # type: ignore[union-attr]
        assert live_state["threads"][thread_id]["execution"]["status"] == "running"  # type: ignore[index]
        assert thread["execution"]["status"] == "completed"  # type: ignore[index]
        live_state["threads"][thread_id]["execution"] = thread["execution"]  # type: ignore[index]
    assert live_state == offline_state


def test_following_picks_up_a_new_sub_agent_file(tmp_path: Path) -> None:
    case = SAMPLES / "agents_full"
    files = rollout_files(case)
    day = tmp_path / "sessions" / "2026" / "12" / "01"
    day.mkdir(parents=True)
    root = next(f for f in files if "a35615aafbc4" in f.name)
    (day / root.name).write_bytes(root.read_bytes())
    live = open_session(day / root.name, follow=True)
    live.poll()
    assert len(live.rollout.threads) == 1
    for other in files:
        if other != root:
            (day / other.name).write_bytes(other.read_bytes())
    live.poll()
    assert len(live.rollout.threads) == 3 and live.fault is None


def test_a_torn_rollout_opens_up_to_the_fault(tmp_path: Path) -> None:
    source = root_file(SAMPLES / "exec_basic")
    torn = tmp_path / source.name
    torn.write_bytes(source.read_bytes()[:-40])
    session = open_session(torn)
    session.load_all()
    assert session.fault is not None and session.fault.line == 26 and session.fault.file == str(torn)
    assert session.total == 25 and len(session.rollout.inference_calls) == 3


def test_bundles_still_open_as_bundles() -> None:
    session = open_session(SAMPLES / "exec_basic" / "bundle")
    assert type(session) is ReplaySession
