"""Discovery for the picker: schema 3 bundles next to schemas 1 and 2, and broken ones marked cheaply.

Schema 3 bundles are written here as Codex 0.171.0 writes them (``follow.writer.ShardWriter``),
small enough to need no reducer: discovery never reduces.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from follow.writer import ShardWriter

from trace_viewer.bundle.discovery import bundle_info, list_bundles

SAMPLES = Path(__file__).resolve().parents[1] / "sample_traces"
ROLLOUT = "rollout-3"
OLD = time.time() - 3600  # written an hour ago: not being recorded any more


def event(seq: int, payload: dict[str, object], thread: str | None = None) -> str:
    envelope = {
        "schema_version": 3,
        "seq": seq,
        "wall_time_unix_ms": 1_700_000_000_000 + seq,
        "rollout_id": ROLLOUT,
        "thread_id": thread,
        "codex_turn_id": None,
        "payload": payload,
    }
    return json.dumps(envelope, separators=(",", ":")) + "\n"


def ref(number: int, shard: int, kind: str = "protocol_event") -> dict[str, object]:
    return {"raw_payload_id": f"raw_payload:{number}", "kind": {"type": kind}, "shard": shard}


def schema3_bundle(path: Path, *, events: int = 6, finish: bool = True, shard_bytes: int = 600) -> Path:
    """A schema 3 bundle: a thread, protocol events each citing its own record, shards rotating."""
    (path / "payloads").mkdir(parents=True)
    manifest = {
        "schema_version": 3,
        "trace_id": "trace-3",
        "rollout_id": ROLLOUT,
        "root_thread_id": "thread-root",
        "started_at_unix_ms": 1_700_000_000_000,
        "raw_event_log": "trace.jsonl",
        "payloads_dir": "payloads",
    }
    (path / "manifest.json").write_text(json.dumps(manifest))
    writer = ShardWriter(path / "payloads", shard_bytes=shard_bytes)
    lines = [event(1, {"type": "rollout_started", "trace_id": "trace-3", "root_thread_id": "thread-root"})]
    shard = writer.add("raw_payload:1", b'{"thread_id":"thread-root"}')
    started = {"type": "thread_started", "thread_id": "thread-root", "agent_path": "/root"}
    lines.append(event(2, {**started, "metadata_payload": ref(1, shard, "session_metadata")}, "thread-root"))
    for number in range(2, events + 2):
        shard = writer.add(f"raw_payload:{number}", json.dumps({"type": "warning", "message": "x" * 200}).encode())
        observed = {"type": "protocol_event_observed", "event_type": "warning", "event_payload": ref(number, shard)}
        lines.append(event(number + 1, observed, "thread-root"))
    if finish:
        writer.finish()
        lines.append(event(len(lines) + 1, {"type": "recording_completed"}))
    else:
        writer.close()
    (path / "trace.jsonl").write_text("".join(lines))
    return path


def age(path: Path) -> None:
    for entry in [path, *path.rglob("*")]:
        os.utime(entry, (OLD, OLD))


def test_a_folder_mixing_schemas_1_2_and_3_lists_every_bundle(tmp_path: Path) -> None:
    for name in ("schema1_exec_basic", "exec_basic"):
        shutil.copytree(SAMPLES / name, tmp_path / name)
    schema3_bundle(tmp_path / "schema3")
    age(tmp_path)
    infos = {info.name: info for info in list_bundles(tmp_path)}
    assert {name: info.schema_version for name, info in infos.items()} == {
        "schema1_exec_basic": 1,
        "exec_basic": 2,
        "schema3": 3,
    }
    three = infos["schema3"]
    assert three.status == "completed" and three.problem is None and three.first_fault is None
    assert three.thread_count == 1 and three.event_count == 9 and three.recording_complete
    shards = sorted((tmp_path / "schema3" / "payloads").iterdir())
    assert len(shards) >= 3, "the bundle rotates shards"
    log = (tmp_path / "schema3" / "trace.jsonl").stat().st_size
    assert three.size_bytes == log + sum(path.stat().st_size for path in shards), "shards count as stored"
    assert all(info.status == "completed" for info in infos.values())


def damage_missing_shard(bundle: Path) -> str:
    path = bundle / "payloads" / "000002.zst"
    path.unlink()
    return f"open shard {path}: No such file or directory (os error 2)"


def damage_missing_record(bundle: Path) -> str:
    writer_dir = bundle / "payloads"
    for path in writer_dir.iterdir():
        path.unlink()
    writer = ShardWriter(writer_dir, shard_bytes=600)
    # Same layout, record raw_payload:3 left out.
    for number in range(1, 8):
        if number != 3:
            writer.add(f"raw_payload:{number}", b"{}")
    writer.finish()
    return "missing payload raw_payload:3 in shard 1"


def damage_bit_flip(bundle: Path) -> str:
    path = bundle / "payloads" / "000001.zst"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x40
    path.write_bytes(bytes(data))
    return f"decompress shard {path}: Restored data doesn't match checksum"


def damage_torn_tail(bundle: Path) -> str:
    log = bundle / "trace.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:-2]) + lines[-2][:30])
    return f"trace.jsonl line {len(lines) - 1}: last line is cut off (no newline at end of log)"


def damage_cut_with_newline(bundle: Path) -> str:
    log = bundle / "trace.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:-2]) + lines[-2][:30] + b"\n")
    return f"trace.jsonl line {len(lines) - 1}: cannot parse line"


def damage_sparse_log(bundle: Path) -> str:
    with open(bundle / "trace.jsonl", "r+b") as handle:
        handle.seek(0, os.SEEK_END)
        handle.truncate(handle.tell() + (2 << 30))  # 2 GB of holes: no disk, reads as zeros
    return "trace.jsonl line 10: not a trace event (NUL bytes, or longer than the line limit)"


DAMAGE = {
    "missing shard": damage_missing_shard,
    "missing record": damage_missing_record,
    "bit flip": damage_bit_flip,
    "torn last line": damage_torn_tail,
    "last line cut, newline kept": damage_cut_with_newline,
    "sparse log": damage_sparse_log,
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_broken_schema3_bundle_is_marked_with_its_first_problem(tmp_path: Path, damage: str) -> None:
    bundle = schema3_bundle(tmp_path / "bundle")
    expected = DAMAGE[damage](bundle)
    info = bundle_info(bundle)
    assert info.status == ("torn" if damage == "torn last line" else "broken"), info
    assert info.first_fault == expected


def test_a_torn_last_line_is_torn_whatever_the_age_of_the_files(tmp_path: Path) -> None:
    """Being written or cut off, only a later look can tell: the status says what is on disk, never guesses."""
    bundle = schema3_bundle(tmp_path / "bundle", finish=False)
    log = bundle / "trace.jsonl"
    log.write_bytes(log.read_bytes() + b'{"schema_version":3,"seq":')
    fresh = bundle_info(bundle)
    assert fresh.status == "torn" and fresh.torn_tail and "last line is cut off" in (fresh.first_fault or "")
    age(bundle)
    assert bundle_info(bundle).status == fresh.status and bundle_info(bundle).first_fault == fresh.first_fault


def test_a_payload_not_found_yet_is_a_fault_only_once_the_bundle_is_finished(tmp_path: Path) -> None:
    unfinished = schema3_bundle(tmp_path / "unfinished", finish=False)
    finished = schema3_bundle(tmp_path / "finished")
    for bundle in (unfinished, finished):
        for shard in (bundle / "payloads").iterdir():
            shard.unlink()
    assert bundle_info(unfinished).problem_is_payload and bundle_info(unfinished).status == "unfinished"
    assert bundle_info(unfinished).first_fault is None
    assert (
        bundle_info(finished).status == "broken" and bundle_info(finished).first_fault == bundle_info(finished).problem
    )


def test_a_killed_run_is_incomplete_not_broken(tmp_path: Path) -> None:
    """Codex 0.171.0 accepts a bundle whose newest shard was never finished (status running)."""
    bundle = schema3_bundle(tmp_path / "bundle", finish=False)
    info = bundle_info(bundle)
    assert info.problem is None and info.status == "unfinished"


def test_listing_again_decompresses_nothing_new(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = schema3_bundle(tmp_path / "bundle", events=40)
    age(bundle)
    assert bundle_info(bundle).problem is None
    from trace_viewer.bundle import discovery

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a shard was decompressed again")

    monkeypatch.setattr(discovery.ShardReader, "record_ids", refuse)
    assert bundle_info(bundle).problem is None
