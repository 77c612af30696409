"""ReplaySession: positions, recorded history and checkpoints agree with the reducer itself."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from bundle_builder import BundleBuilder, message
from conftest import CORPUS, sample, sample_names
from corpora import skip_unless

from trace_viewer.reducer import Reducer
from trace_viewer.reducer.replay import reduce_bundle, replay_bundle
from trace_viewer.session import ReplaySession, clone_reducer, item_text


def _loaded(path) -> ReplaySession:
    session = ReplaySession(path)
    session.load_all()
    return session


@pytest.mark.parametrize("name", sample_names())
def test_head_state_equals_offline_reduce(name: str) -> None:
    path = sample(name)
    session = _loaded(path)
    offline = reduce_bundle(path)
    assert session.reducer.to_json() == offline.to_json()
    assert (session.fault is None) == (offline.fault is None)
    assert session.total == offline.events_applied


@pytest.mark.parametrize("name", sample_names())
def test_every_position_matches_a_replay_to_that_position(name: str) -> None:
    """The recorded contexts and item versions are exactly what the reducer held after each event."""
    session = _loaded(sample(name))
    for seq in range(session.total + 1):
        exact = session.reducer_at(seq)
        for thread_id in exact.rollout.threads:
            live = tuple(exact.snapshots.get(thread_id, []))
            assert session.context_at(thread_id, seq) == live, (name, seq, thread_id)
            for item_id in live:
                assert session.item_at(item_id, seq) == exact.rollout.conversation_items[item_id], (seq, item_id)


@pytest.mark.parametrize("name", ["compaction_remote_midturn", "compaction_local_manual", "agents_minimal"])
def test_the_last_context_change_is_where_the_context_last_moved(name: str) -> None:
    """``last_context_change`` (a bisect) agrees with watching the context position by position."""
    session = _loaded(sample(name))
    for thread_id in session.rollout.threads:
        last = 0
        previous = session.context_at(thread_id, 0)
        for seq in range(session.total + 1):
            now = session.context_at(thread_id, seq)
            if now != previous:
                last = seq
            previous = now
            assert session.last_context_change(thread_id, seq) == last, (name, thread_id, seq)
    assert session.last_context_change("no such thread", session.total) == 0


def test_reducer_at_uses_checkpoints_when_seeking_back(monkeypatch: pytest.MonkeyPatch) -> None:
    path = sample("compaction_remote_midturn")
    session = ReplaySession(path, checkpoint_every=8)
    session.load_all()
    assert session.total > 24
    session.reducer_at(session.total - 1)
    checkpoints = sorted(session._checkpoints)
    assert checkpoints[0] == 0 and len(checkpoints) >= session.total // 8
    assert 16 in checkpoints
    # The reference: the first 20 events reduced offline from the start, no checkpoint involved.
    want = replay_bundle(path, max_events=20).reducer.to_json()

    # Seeking back starts from the checkpoint at 16: only events 17..20 are applied again.
    applied: list[int | None] = []
    real_apply = Reducer.apply

    def counting_apply(self: Reducer, event: Any, *args: Any, **kwargs: Any) -> Any:
        applied.append(event.get("seq") if isinstance(event, dict) else None)
        return real_apply(self, event, *args, **kwargs)

    monkeypatch.setattr(Reducer, "apply", counting_apply)
    late = session.reducer_at(20)
    assert applied == [17, 18, 19, 20]
    assert late.events_applied == 20
    assert late.to_json() == want


def test_clone_is_independent() -> None:
    session = _loaded(sample("exec_basic"))
    twin = clone_reducer(session.reducer)
    twin.rollout.threads.clear()
    assert session.rollout.threads
    assert twin.payloads is session.reducer.payloads


def test_fault_keeps_everything_before_it() -> None:
    session = _loaded(sample("broken_last_line_cut"))
    assert session.fault is not None
    assert session.fault.line is not None
    assert session.total > 0
    assert session.record(session.total) is not None
    assert session.context_at(session.rollout.root_thread_id, session.total)


def test_local_compaction_detected_and_remote_not_double_counted() -> None:
    local = _loaded(sample("compaction_local_manual"))
    assert len(local.local_compactions) == 1
    found = local.local_compactions[0]
    assert found.dropped_item_ids and found.added_item_ids
    assert local.record(found.seq).type == "inference_started"
    remote = _loaded(sample("compaction_remote_midturn"))
    assert remote.local_compactions == []
    assert remote.compaction_seqs() == remote.seqs_of("compaction_installed")


def test_search_matches_item_text_and_filters() -> None:
    session = _loaded(sample("exec_basic"))
    hits = session.search("hello")
    assert hits
    for hit in hits:
        assert "hello" in item_text(session.rollout.conversation_items[hit.item_id]).lower()
    assert [h.seq for h in hits] == sorted(h.seq for h in hits)
    users = session.search("", roles=["user"])
    assert users and all(session.rollout.conversation_items[h.item_id].role == "user" for h in users)
    with pytest.raises(re.error):
        session.search("(")


def test_progressive_load_and_poll_apply_each_event_once(tmp_path) -> None:
    """Loading in slices, then polling as lines are appended, ends in the offline state."""
    bundle = BundleBuilder(tmp_path / "b")
    bundle.thread()
    bundle.turn("turn-1")
    bundle.inference("call-1", "turn-1", [message("user", "hi")], [message("assistant", "hello")])
    bundle.end_turn("turn-1")
    events = list(bundle.events)
    log = tmp_path / "b" / "trace.jsonl"
    log.write_text("".join(json.dumps(e) + "\n" for e in events[:2]))
    session = ReplaySession(tmp_path / "b", follow=True)
    assert session.load(max_events=1) == 1
    assert session.load() == 1
    # A torn line is waited for, not a fault, while following.
    text = json.dumps(events[2])
    with open(log, "a") as handle:
        handle.write(text[:10])
    assert session.poll() == 0 and session.fault is None
    with open(log, "a") as handle:
        handle.write(text[10:] + "\n" + "".join(json.dumps(e) + "\n" for e in events[3:]))
    assert session.poll() == len(events) - 2
    assert [r.seq for r in session.records] == list(range(1, len(events) + 1))
    assert (
        session.reducer.to_json()["conversation_items"] == reduce_bundle(tmp_path / "b").to_json()["conversation_items"]
    )


def test_unopenable_bundle_is_a_fault_not_a_crash(tmp_path) -> None:
    (tmp_path / "trace.jsonl").write_text("{}\n")
    session = _loaded(tmp_path)
    assert session.fault is not None
    assert "manifest" in session.fault.file
    assert session.total == 0


@skip_unless("corpus/long_session")
def test_long_session_positions_spot_checked() -> None:
    session = _loaded(CORPUS / "long_session")
    root = session.rollout.root_thread_id
    for seq in range(1, session.total + 1, max(1, session.total // 12)):
        exact = session.reducer_at(seq)
        assert session.context_at(root, seq) == tuple(exact.snapshots.get(root, []))
