"""The reading layer: manifest, incremental event log, confined payloads, discovery, replay faults."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from bundle_builder import BundleBuilder, Payload
from state_view import json_state

from trace_viewer.bundle import (
    Bundle,
    BundleError,
    EventLog,
    EventLogError,
    PayloadInvalid,
    PayloadMissing,
    PayloadRefused,
    PayloadStore,
    bundle_info,
    find_bundle_dirs,
    is_bundle,
    list_bundles,
    load_manifest,
)
from trace_viewer.bundle import payloads as payloads_module
from trace_viewer.bundle.manifest import manifest_warnings
from trace_viewer.reducer.replay import Replay, reduce_bundle

if TYPE_CHECKING:
    from conftest import CutBundle

SAMPLES = Path(__file__).resolve().parents[1] / "sample_traces"
ROLLOUT = "rollout-1"


def event(seq: int, payload: dict[str, Any], thread: str | None = None) -> dict[str, Any]:
    return {
        "schema_version": 2,
        "seq": seq,
        "wall_time_unix_ms": 1000 + seq,
        "rollout_id": ROLLOUT,
        "thread_id": thread,
        "codex_turn_id": None,
        "payload": payload,
    }


def line(seq: int, payload: dict[str, Any] | None = None) -> bytes:
    payload = payload or {"type": "rollout_started", "trace_id": "trace-1", "root_thread_id": "thread-root"}
    return json.dumps(event(seq, payload)).encode() + b"\n"


def lines(count: int) -> bytes:
    return b"".join(line(seq) for seq in range(1, count + 1))


# ----- event log ---------------------------------------------------------------------------------


def test_read_new_returns_only_lines_written_since_last_call(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    path.write_bytes(lines(2))
    log = EventLog(path)
    first = log.read_new()
    assert [entry.line for entry in first] == [1, 2]
    assert [entry.event["seq"] for entry in first] == [1, 2]
    assert first[1].offset == len(line(1))
    assert log.offset == path.stat().st_size
    assert log.read_new() == []
    with path.open("ab") as handle:
        handle.write(line(3))
    third = log.read_new()
    assert [entry.event["seq"] for entry in third] == [3]
    assert third[0].offset == len(lines(2))
    assert log.offset == path.stat().st_size


def test_torn_last_line_is_pending_until_its_newline_arrives(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    whole = line(2)
    path.write_bytes(line(1) + whole[:17])
    log = EventLog(path)
    assert [entry.line for entry in log.read_new()] == [1]
    assert log.pending == 17
    assert log.read_new() == []  # still waiting, and still not an error
    with path.open("ab") as handle:
        handle.write(whole[17:])
    entries = log.read_new()
    assert [(entry.line, entry.error, entry.event["seq"]) for entry in entries] == [(2, None, 2)]
    assert log.pending == 0


def test_torn_last_line_is_a_fault_once_the_log_is_final(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    path.write_bytes(line(1) + line(2)[:40])
    log = EventLog(path)
    assert len(log.read_new()) == 1
    entries = log.read_new(final=True)
    assert len(entries) == 1
    assert entries[0].line == 2 and entries[0].event is None
    assert "cut off" in entries[0].error


def test_torn_tail_after_recording_completed_is_a_fault_without_final(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    path.write_bytes(line(1) + line(2, {"type": "recording_completed"}) + b'{"schema_version":2,"se')
    log = EventLog(path)
    entries = log.read_new()
    assert log.closed
    assert [entry.error is None for entry in entries] == [True, True, False]


def test_complete_last_line_without_newline_is_an_event_when_final(tmp_path: Path) -> None:
    # The official reducer reads lines with or without a final newline.
    path = tmp_path / "trace.jsonl"
    path.write_bytes(line(1) + line(2).rstrip(b"\n"))
    log = EventLog(path)
    assert len(log.read_new()) == 1
    entries = log.read_new(final=True)
    assert [(entry.line, entry.error) for entry in entries] == [(2, None)]


def test_blank_lines_are_skipped_but_counted(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    path.write_bytes(b"\n   \n" + line(1) + b"\r\n" + line(2).replace(b"\n", b"\r\n"))
    log = EventLog(path)
    entries = log.read_new(final=True)
    assert [(entry.line, entry.event["seq"]) for entry in entries] == [(3, 1), (5, 2)]
    assert log.blank_lines == 3


def test_unparsable_line_is_an_entry_and_reading_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    path.write_bytes(line(1) + b"{not json\n" + b"\x00\x01\xff\n" + line(2))
    entries = EventLog(path).read_new()
    assert [(entry.line, entry.event is None) for entry in entries] == [(1, False), (2, True), (3, True), (4, False)]
    assert entries[1].error.startswith("cannot parse line")


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 1 << 20])
def test_chunk_boundaries_do_not_change_what_is_read(chunk_size: int) -> None:
    path = SAMPLES / "exec_basic" / "trace.jsonl"
    expected = [(entry.line, entry.offset, entry.event) for entry in EventLog(path).read_new(final=True)]
    got = [(entry.line, entry.offset, entry.event) for entry in EventLog(path, chunk_size=chunk_size).read_new(True)]
    assert got == expected
    assert len(got) == 35


def test_writer_splitting_lines_anywhere_never_produces_errors_or_duplicates(tmp_path: Path) -> None:
    data = (SAMPLES / "agents_minimal" / "trace.jsonl").read_bytes()
    path = tmp_path / "trace.jsonl"
    path.write_bytes(b"")
    log = EventLog(path)
    rng = random.Random(7)
    seen: list[int] = []
    position = 0
    with path.open("ab") as handle:
        while position < len(data):
            step = rng.randint(1, 300)
            handle.write(data[position : position + step])
            handle.flush()
            position += step
            for entry in log.read_new():
                assert entry.error is None, entry.error
                seen.append(entry.event["seq"])
    assert seen == list(range(1, data.count(b"\n") + 1))


def test_stopping_iteration_early_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    path.write_bytes(lines(5))
    log = EventLog(path)
    iterator = log.iter_new()
    assert next(iterator).line == 1
    assert next(iterator).line == 2
    iterator.close()
    assert [entry.line for entry in log.read_new()] == [3, 4, 5]


def test_truncated_log_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    path.write_bytes(lines(3))
    log = EventLog(path)
    log.read_new()
    with path.open("r+b") as handle:  # truncate in place: same inode, fewer bytes
        handle.truncate(len(line(1)))
    with pytest.raises(EventLogError) as caught:
        log.read_new()
    assert caught.value.kind == "truncated"


def test_replaced_log_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    path.write_bytes(lines(2))
    log = EventLog(path)
    log.read_new()
    other = tmp_path / "other.jsonl"
    other.write_bytes(lines(4))
    os.replace(other, path)  # a new inode under the same name
    with pytest.raises(EventLogError) as caught:
        log.read_new()
    assert caught.value.kind == "replaced"


def test_log_rewritten_in_place_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    path.write_bytes(lines(2))
    log = EventLog(path)
    log.read_new()
    with path.open("r+b") as handle:  # same inode, same size, but the line boundary moved
        handle.seek(log.offset - 1)
        handle.write(b" ")
        handle.seek(0, os.SEEK_END)
        handle.write(line(3))
    with pytest.raises(EventLogError) as caught:
        log.read_new()
    assert caught.value.kind == "replaced"


def test_missing_log_waits_while_live_and_is_an_error_when_final(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "trace.jsonl")
    assert log.read_new() == []
    with pytest.raises(EventLogError) as caught:
        log.read_new(final=True)
    assert caught.value.kind == "missing"
    assert "open trace event log" in caught.value.reason


# ----- manifest ----------------------------------------------------------------------------------


def test_manifest_problems_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(BundleError) as caught:
        load_manifest(tmp_path)
    assert caught.value.file == "manifest.json" and "missing" in caught.value.reason

    (tmp_path / "manifest.json").write_text('{"schema_version": 2, "trace_id": ')
    with pytest.raises(BundleError) as caught:
        load_manifest(tmp_path)
    assert "invalid JSON" in str(caught.value) and "manifest.json" in str(caught.value)

    manifest = json.loads((SAMPLES / "exec_basic" / "manifest.json").read_text())
    (tmp_path / "manifest.json").write_text(json.dumps({**manifest, "trace_id": 5}))
    with pytest.raises(BundleError, match="`trace_id` must be a string"):
        load_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({**manifest, "started_at_unix_ms": True}))
    with pytest.raises(BundleError, match="`started_at_unix_ms` must be an integer"):
        load_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("[]")
    with pytest.raises(BundleError, match="not a JSON object"):
        load_manifest(tmp_path)


def test_unknown_schema_loads_with_a_warning(tmp_path: Path) -> None:
    manifest = json.loads((SAMPLES / "exec_basic" / "manifest.json").read_text())
    (tmp_path / "manifest.json").write_text(json.dumps({**manifest, "schema_version": 4}))
    loaded = load_manifest(tmp_path)
    assert loaded["schema_version"] == 4
    assert manifest_warnings(loaded) and "4" in manifest_warnings(loaded)[0]
    assert manifest_warnings(manifest) == []


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_manifest_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "manifest.json")
    with pytest.raises(BundleError, match="not a regular file"):
        load_manifest(tmp_path)


# ----- payloads ----------------------------------------------------------------------------------


def ref(path: str, number: int = 1) -> dict[str, Any]:
    return {"raw_payload_id": f"raw_payload:{number}", "kind": {"type": "protocol_event"}, "path": path}


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    bundle = tmp_path / "bundle"
    (bundle / "payloads").mkdir(parents=True)
    for number in range(1, 11):
        (bundle / "payloads" / f"{number}.json").write_text(json.dumps({"n": number, "pad": "x" * 100}))
    (tmp_path / "secret.json").write_text('{"secret": true}')
    return bundle


@pytest.mark.parametrize(
    "path",
    [
        "../secret.json",
        "payloads/../../secret.json",
        "..\\secret.json",
        "/etc/passwd",
        "\\\\server\\share\\x.json",
        "C:/Windows/win.ini",
        "",
        "payloads/1.json\x00",
        "../../../../../../../../etc/passwd",
    ],
)
def test_paths_leaving_the_bundle_are_refused_without_opening(
    store_dir: Path, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_open(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a refused payload must not be opened")

    monkeypatch.setattr(payloads_module, "open_regular", no_open)
    store = PayloadStore(store_dir)
    for read in (store.read, store.read_bytes, store.read_text, store.validate):
        with pytest.raises(PayloadRefused) as caught:
            read(ref(path))
        assert caught.value.raw_payload_id == "raw_payload:1"


def test_symlink_escaping_the_bundle_is_refused_without_opening(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (store_dir / "payloads" / "evil.json").symlink_to(store_dir.parent / "secret.json")
    (store_dir / "payloads" / "dir").symlink_to(store_dir.parent, target_is_directory=True)
    (store_dir / "payloads" / "fine.json").symlink_to(store_dir / "payloads" / "2.json")
    store = PayloadStore(store_dir)
    assert store.read(ref("payloads/fine.json"))["n"] == 2  # links inside the bundle are fine

    monkeypatch.setattr(payloads_module, "open_regular", lambda *a, **k: pytest.fail("opened"))
    for path in ("payloads/evil.json", "payloads/dir/secret.json"):
        with pytest.raises(PayloadRefused, match="leaves the bundle"):
            store.read_bytes(ref(path, 9))


def test_missing_and_invalid_payloads_use_the_official_wording(store_dir: Path) -> None:
    store = PayloadStore(store_dir)
    (store_dir / "payloads" / "bad.json").write_text('{"a": ')
    (store_dir / "payloads" / "empty.json").write_text("")
    with pytest.raises(PayloadMissing, match="open payload raw_payload:5"):
        store.read(ref("payloads/none.json", 5))
    with pytest.raises(PayloadInvalid, match="parse payload raw_payload:6"):
        store.read(ref("payloads/bad.json", 6))
    with pytest.raises(PayloadMissing, match="read payload raw_payload:5"):
        store.validate(ref("payloads/none.json", 5))
    with pytest.raises(PayloadInvalid, match="invalid payload raw_payload:7"):
        store.validate(ref("payloads/empty.json", 7))
    store.validate(ref("payloads/3.json", 3))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_payload_is_refused_without_blocking(store_dir: Path) -> None:
    os.mkfifo(store_dir / "payloads" / "fifo.json")
    with pytest.raises(PayloadMissing, match="not a regular file"):
        PayloadStore(store_dir).read(ref("payloads/fifo.json"))


def test_parsed_payload_cache_is_bounded_and_serves_hits(store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = PayloadStore(store_dir, cache_entries=3)
    for number in range(1, 11):
        assert store.read(ref(f"payloads/{number}.json", number))["n"] == number
        assert store.cache_info()[0] <= 3
    assert store.cache_info()[0] == 3
    opened: list[Any] = []
    real_open = payloads_module.open_regular
    monkeypatch.setattr(payloads_module, "open_regular", lambda *a, **k: opened.append(a) or real_open(*a, **k))
    store.read(ref("payloads/10.json", 10))  # most recent: a cache hit
    assert opened == []
    store.read(ref("payloads/1.json", 1))  # evicted long ago: read again
    assert len(opened) == 1


def test_cache_byte_budget_is_respected(store_dir: Path) -> None:
    store = PayloadStore(store_dir, cache_entries=100, cache_bytes=1000)
    for number in range(1, 11):
        store.read(ref(f"payloads/{number}.json", number))
    entries, size = store.cache_info()
    assert size <= 1000 and 0 < entries < 10


def test_preview_caps_display_reads(store_dir: Path) -> None:
    store = PayloadStore(store_dir, display_cap=10)
    preview = store.preview(ref("payloads/1.json"))
    assert len(preview.text) == 10 and preview.truncated and preview.size > 100
    whole = store.preview(ref("payloads/1.json"), max_bytes=10_000)
    assert not whole.truncated and json.loads(whole.text)["n"] == 1


# ----- replay faults -----------------------------------------------------------------------------


def protocol(builder: BundleBuilder, body: Any = None) -> int:
    return builder.add(
        {"type": "protocol_event_observed", "event_type": "warning", "event_payload": Payload("protocol_event", body)}
    )


def small_bundle(directory: Path) -> BundleBuilder:
    builder = BundleBuilder(directory)
    builder.add({"type": "rollout_started", "trace_id": "trace-1", "root_thread_id": "thread-root"})
    builder.thread()
    return builder


def test_missing_trace_log_is_a_fault_not_a_crash(tmp_path: Path) -> None:
    small_bundle(tmp_path)  # manifest only, nothing reduced yet
    reducer = reduce_bundle(tmp_path)
    assert reducer.fault is not None and reducer.fault.file == "trace.jsonl"
    assert "open trace event log" in reducer.fault.message


@pytest.mark.parametrize("content", [None, "", "{", '{"schema_version": 2}'])
def test_bad_manifest_is_a_fault_naming_the_manifest(tmp_path: Path, content: str | None) -> None:
    shutil.copytree(SAMPLES / "exec_basic", tmp_path / "b")
    if content is None:
        (tmp_path / "b" / "manifest.json").unlink()
    else:
        (tmp_path / "b" / "manifest.json").write_text(content)
    reducer = reduce_bundle(tmp_path / "b")
    assert reducer.fault is not None and reducer.fault.file == "manifest.json"
    assert reducer.to_json()["threads"] == {}


def test_unread_payloads_are_checked_after_the_log_in_id_order(tmp_path: Path) -> None:
    builder = small_bundle(tmp_path)
    for _ in range(11):
        protocol(builder, {"ok": True})
    builder.add({"type": "rollout_ended", "status": "completed"})
    (tmp_path / "payloads" / "2.json").write_text("{")
    (tmp_path / "payloads" / "10.json").unlink()
    reducer = builder.reduce()
    # "raw_payload:10" sorts before "raw_payload:2", as in the official BTreeMap.
    assert reducer.fault is not None
    assert reducer.fault.payload_id == "raw_payload:10"
    assert reducer.fault.message.startswith("read payload raw_payload:10")
    assert reducer.fault.seq == 12 and reducer.fault.line == 12
    assert json_state(reducer)["status"] == "completed"  # everything before stays

    (tmp_path / "payloads" / "10.json").write_text("{}")
    reducer = reduce_bundle(tmp_path)
    assert reducer.fault.payload_id == "raw_payload:2"
    assert reducer.fault.message.startswith("invalid payload raw_payload:2")


def test_a_fault_in_the_log_beats_an_earlier_unread_bad_payload(tmp_path: Path) -> None:
    builder = small_bundle(tmp_path)
    protocol(builder, {"ok": True})
    builder.add({"type": "rollout_ended", "status": "completed"})
    builder.events[-1]["seq"] = 9  # a seq gap after the bad payload
    (tmp_path / "payloads" / "1.json").unlink()
    reducer = builder.reduce()
    assert reducer.fault is not None and "missing or reordered trace event 4" in reducer.fault.message


def test_schema1_has_no_end_of_log_payload_check(tmp_path: Path) -> None:
    builder = BundleBuilder(tmp_path, schema_version=1)
    builder.add({"type": "rollout_started", "trace_id": "trace-1", "root_thread_id": "thread-root"})
    builder.thread()
    protocol(builder, {"ok": True})
    (tmp_path / "payloads" / "1.json").unlink()
    assert builder.reduce().fault is None


def test_any_line_after_recording_completed_is_refused_before_parsing(tmp_path: Path) -> None:
    builder = small_bundle(tmp_path)
    builder.add({"type": "recording_completed"})
    builder.reduce()
    with (tmp_path / "trace.jsonl").open("a") as log:
        log.write("\n  \n")  # trailing blank lines are fine
    assert reduce_bundle(tmp_path).fault is None
    with (tmp_path / "trace.jsonl").open("a") as log:
        log.write("garbage\n")
    fault = reduce_bundle(tmp_path).fault
    assert fault is not None and fault.message == "trace event after recording completed" and fault.line == 6


def test_live_replay_waits_for_torn_lines_and_late_payloads(tmp_path: Path) -> None:
    builder = small_bundle(tmp_path)
    protocol(builder, {"ok": True})
    builder.reduce()
    log_path = tmp_path / "trace.jsonl"
    data = log_path.read_bytes()
    payload = (tmp_path / "payloads" / "1.json").read_bytes()
    (tmp_path / "payloads" / "1.json").unlink()
    log_path.write_bytes(data[:-20])

    replay = Replay(tmp_path, payload_wait=60)
    assert len(replay.poll()) == 2
    assert replay.waiting and replay.fault is None
    log_path.write_bytes(data)  # the line is complete, but its payload is not there yet
    assert replay.poll() == [] and replay.waiting and replay.fault is None
    (tmp_path / "payloads" / "1.json").write_bytes(payload)
    changes = replay.poll()
    assert [change.seq for change in changes] == [3]
    assert not replay.waiting and replay.fault is None
    replay.finish()
    assert replay.finished and replay.fault is None


def test_live_replay_gives_up_on_a_payload_that_never_comes(tmp_path: Path) -> None:
    builder = small_bundle(tmp_path)
    builder.add(
        {
            "type": "thread_started",
            "thread_id": "t2",
            "agent_path": "/root/x",
            "metadata_payload": Payload("session_metadata", {}),
        }
    )
    builder.reduce()
    (tmp_path / "payloads" / "1.json").unlink()
    replay = Replay(tmp_path, payload_wait=0)
    # Even with no time to wait, a few polls must fail first (a poller that was paused looks again).
    replay.poll()
    replay.poll()
    assert replay.fault is None and replay.waiting
    replay.poll()
    assert replay.fault is not None and replay.fault.payload_id == "raw_payload:1"


def test_live_replay_reports_a_truncated_log_for_reload(tmp_path: Path) -> None:
    builder = small_bundle(tmp_path)
    builder.reduce()
    replay = Replay(tmp_path)
    replay.poll()
    (tmp_path / "trace.jsonl").write_bytes(b"")
    replay.poll()
    assert replay.reset_reason is not None and "truncated" in replay.reset_reason
    assert replay.fault is not None


def test_live_replay_picks_up_a_manifest_that_appears_late(tmp_path: Path) -> None:
    replay = Replay(tmp_path)
    assert replay.fault is not None and replay.fault.file == "manifest.json"
    small_bundle(tmp_path).reduce()
    changes = replay.poll()
    assert replay.fault is None and [change.seq for change in changes] == [1, 2]


def test_max_events_stops_at_a_prefix(tmp_path: Path) -> None:
    builder = small_bundle(tmp_path)
    builder.add({"type": "rollout_ended", "status": "completed"})
    builder.reduce()
    assert json_state(reduce_bundle(tmp_path, max_events=2))["status"] == "running"
    assert json_state(reduce_bundle(tmp_path, max_events=3))["status"] == "completed"


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_reading_never_writes_to_the_bundle(tmp_path: Path) -> None:
    for name in ("agents_minimal", "broken_last_line_cut"):
        bundle = tmp_path / name
        shutil.copytree(SAMPLES / name, bundle)
        before = tree_digest(bundle)
        reduce_bundle(bundle)
        Bundle(bundle).entries()
        bundle_info(bundle)
        assert tree_digest(bundle) == before


# ----- discovery ---------------------------------------------------------------------------------


def test_discovery_lists_sample_bundles_with_details() -> None:
    assert is_bundle(SAMPLES / "exec_basic") and not is_bundle(SAMPLES)
    infos = {info.name: info for info in list_bundles(SAMPLES)}
    assert {"exec_basic", "agents_minimal", "broken_last_line_cut", "schema1_exec_basic"} <= set(infos)
    agents = infos["agents_minimal"]
    assert agents.thread_count == 2 and agents.recording_complete and agents.ended_status == "completed"
    assert agents.status == "completed" and agents.size_bytes > 100_000 and agents.schema_version == 2
    broken = infos["broken_last_line_cut"]
    assert broken.torn_tail and not broken.finished
    assert infos["schema1_exec_basic"].finished  # schema 1 ends with rollout_ended
    starts = [info.started_at_unix_ms for info in list_bundles(SAMPLES)]
    assert starts == sorted(starts, reverse=True)


def test_discovery_follows_a_growing_root(tmp_path: Path) -> None:
    assert find_bundle_dirs(tmp_path) == []
    builder = BundleBuilder(tmp_path / "trace-a")
    assert find_bundle_dirs(tmp_path) == [tmp_path / "trace-a"]  # only a manifest so far
    info = bundle_info(tmp_path / "trace-a")
    assert info.thread_count == 0 and info.status == "unfinished"
    builder.add({"type": "rollout_started", "trace_id": "trace-1", "root_thread_id": "thread-root"})
    builder.thread()
    builder.reduce()
    assert bundle_info(tmp_path / "trace-a").thread_count == 1
    builder.thread("t2", "/root/w")
    builder.add({"type": "recording_completed"})
    builder.reduce()
    info = bundle_info(tmp_path / "trace-a")
    assert info.thread_count == 2 and info.recording_complete and info.event_count == 4
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "manifest.json").write_text("nope")
    assert bundle_info(tmp_path / "broken").status == "broken"


@pytest.mark.parametrize("payload", ["5.json", "9.json", "13.json"])
def test_partial_state_has_nothing_of_the_faulty_event(tmp_path: Path, cut_bundle: CutBundle, payload: str) -> None:
    """A handler that fails half-way must not leave half an event behind."""
    broken = tmp_path / "broken"
    shutil.copytree(SAMPLES / "exec_basic", broken)
    (broken / "payloads" / payload).unlink()
    reducer = reduce_bundle(broken)
    assert reducer.fault is not None and reducer.fault.line is not None
    kept = reducer.fault.line - 1
    cut, _ = cut_bundle("exec_basic", kept, name="cut")
    assert reduce_bundle(cut, max_events=kept).to_json() == reducer.to_json()
