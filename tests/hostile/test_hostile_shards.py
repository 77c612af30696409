"""Hostile schema 3 shards: cut, garbage, empty, bombs, lying lengths, swapped ids, bit flips,
missing shards and wrong types for ``shard``. Each ends in at most a clean fault, with bounded memory.

Every mutation runs on a private copy of ``sample_traces/schema3_exec_basic`` (a 0.171.0 bundle)
and must keep ``check_replay``'s invariant (nothing escapes, a one-line fault, the state before it
is exactly the prefix). Where 0.171.0 has a wording for the damage (checked by running it on the
same mutations), the fault must use it. Memory is proven, not timed: the bombs are read in a child
process whose address space is capped (``RLIMIT_AS``), and its peak RSS is read from ``wait4``.
"""

from __future__ import annotations

import json
import os
import struct
import sys
from pathlib import Path
from typing import Any

import pytest
from follow.writer import ShardWriter, read_shard_records, shard_record
from hostile_helpers import REPO, SAMPLES, STATS, budget, check_cli_reduce, check_replay, copy_bundle, read_lines
from hypothesis import given, settings
from hypothesis import strategies as st
from zstd_frames import bomb, frame

from trace_viewer.bundle.payloads import PayloadMissing, PayloadStore
from trace_viewer.bundle.shards import MAX_RECORD_BYTES

BASE = "schema3_exec_basic"
pytestmark = pytest.mark.skipif(not (SAMPLES / BASE).is_dir(), reason=f"needs sample_traces/{BASE}")

# Faults a damaged shard may end in: 0.171.0's wordings, and ours where it has none (it runs out of memory).
SHARD_FAULTS = (
    "missing payload ",
    "missing footer in payload shard ",
    "partial record in sealed shard ",
    "duplicate payload ",
    "decompress shard ",
    "open shard ",
    "invalid utf-8 sequence",
    "incomplete utf-8 byte sequence",
)
# The capped address space of the child reading a bomb: the interpreter with the product loaded
# takes ~100 MB of it; a shard may inflate to one record of MAX_RECORD_BYTES (kept, then copied once
# to be returned). Gigabytes would not fit.
BOMB_ADDRESS_SPACE = 1 << 30


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("shards")


def fresh(work: Path, slot: str = "m") -> Path:
    return copy_bundle(SAMPLES / BASE, work / slot)


def shard(bundle: Path, number: int = 1) -> Path:
    return bundle / "payloads" / f"{number:06d}.zst"


def records(bundle: Path) -> list[tuple[str, bytes]]:
    return read_shard_records(shard(bundle))


def rewrite(bundle: Path, chunks: list[bytes], *, finish: bool = True) -> None:
    """Shard 1 made of these chunks (records or any bytes), one flushed block each, as Codex writes."""
    shard(bundle).write_bytes(frame(*chunks, finish=finish))


def encoded(entries: list[tuple[str, bytes]]) -> list[bytes]:
    return [shard_record(record_id, body) for record_id, body in entries]


def assert_shard_fault(outcome: Any, label: str) -> None:
    fault = outcome.fault
    assert fault is not None, f"{label}: no fault"
    assert fault.message.startswith(SHARD_FAULTS) or "payload" in fault.message, f"{label}: {fault}"


_original: dict[str, Any] = {}


def original_state() -> Any:
    if "state" not in _original:
        outcome = check_replay(SAMPLES / BASE, "original")
        assert outcome.fault is None, outcome.fault
        _original["state"] = outcome.state
    return _original["state"]


# ----- cut, garbage, empty -------------------------------------------------------------------------


def test_a_shard_cut_anywhere_is_a_clean_fault(work: Path) -> None:
    """Cut at every block boundary and in between: what is complete stays readable, and since the
    recording was closed the cut frame is refused, as 0.171.0 does."""
    data = shard(SAMPLES / BASE).read_bytes()
    cuts = sorted({*range(0, len(data), max(1, len(data) // budget(40))), len(data) - 7, len(data) - 1})
    for cut in cuts:
        bundle = fresh(work)
        shard(bundle).write_bytes(data[:cut])
        outcome = check_replay(bundle, f"shard cut at {cut}", prefix_key=BASE)
        assert_shard_fault(outcome, f"cut at {cut}")
    bundle = fresh(work)
    shard(bundle).write_bytes(data[:-7])  # just the footer lost: every record is there
    assert check_replay(bundle, "footer cut").fault.message == "missing footer in payload shard 1"


@given(garbage=st.binary(min_size=0, max_size=4096))
@settings(max_examples=budget(30))
def test_garbage_instead_of_a_shard(work: Path, garbage: bytes) -> None:
    bundle = fresh(work, "garbage")
    shard(bundle).write_bytes(garbage)
    outcome = check_replay(bundle, f"garbage shard {garbage[:16]!r}")
    assert_shard_fault(outcome, "garbage")
    assert outcome.fault.line == 2, "the first reference to the shard is where it fails"


def test_an_empty_shard_and_garbage_after_the_frame(work: Path) -> None:
    bundle = fresh(work)
    shard(bundle).write_bytes(b"")
    assert check_replay(bundle, "empty shard").fault.message.endswith("missing payload raw_payload:1 in shard 1")
    bundle = fresh(work)
    shard(bundle).write_bytes(shard(SAMPLES / BASE).read_bytes() + b"trailing garbage")
    fault = check_replay(bundle, "trailing garbage").fault
    assert fault.message == f"decompress shard {shard(bundle)}: Unknown frame descriptor"


# ----- records that lie ------------------------------------------------------------------------------


@pytest.mark.parametrize("delta", [1, 1000, -5, 1 << 40, (1 << 64) - 1])
def test_a_lying_record_length_is_a_clean_fault(work: Path, delta: int) -> None:
    bundle = fresh(work)
    chunks = encoded(records(SAMPLES / BASE))
    record_id, body = records(SAMPLES / BASE)[4]
    length = min(len(body) + delta, (1 << 64) - 1) if delta > 0 else len(body) + delta
    chunks[4] = struct.pack("<HQ", len(record_id), length) + record_id.encode() + body
    rewrite(bundle, chunks)
    outcome = check_replay(bundle, f"record length {delta:+}")
    assert_shard_fault(outcome, f"length {delta:+}")
    if delta > 0:  # runs past the data of a sealed shard: 0.171.0's wording, even for a huge claim
        assert outcome.fault.message == "partial record in sealed shard 1"


def test_a_record_under_another_id_is_missing_and_a_duplicate_is_refused(work: Path) -> None:
    entries = records(SAMPLES / BASE)
    bundle = fresh(work)
    renamed = [
        (record_id if index != 4 else "raw_payload:500", body) for index, (record_id, body) in enumerate(entries)
    ]
    rewrite(bundle, encoded(renamed))
    assert check_replay(bundle, "renamed id").fault.message.endswith("missing payload raw_payload:5 in shard 1")
    bundle = fresh(work)
    rewrite(bundle, encoded([*entries[:5], (entries[4][0], b"{}"), *entries[5:]]))
    assert check_replay(bundle, "duplicate id").fault.message == "duplicate payload raw_payload:5 in shard 1"


@given(data=st.data())
@settings(max_examples=budget(20))
def test_swapped_record_ids_end_cleanly(work: Path, data: st.DataObject) -> None:
    """Each id gets the other's body: the reducer may refuse the content, it never crashes on it."""
    entries = records(SAMPLES / BASE)
    first = data.draw(st.integers(0, len(entries) - 1), label="first")
    second = data.draw(st.integers(0, len(entries) - 1).filter(lambda other: other != first), label="second")
    swapped = list(entries)
    swapped[first] = (entries[second][0], entries[first][1])
    swapped[second] = (entries[first][0], entries[second][1])
    bundle = fresh(work, "swap")
    rewrite(bundle, encoded(swapped))
    check_replay(bundle, f"ids of records {first} and {second} swapped")


@given(data=st.data())
@settings(max_examples=budget(40))
def test_bit_flips_in_a_shard(work: Path, data: st.DataObject) -> None:
    original = shard(SAMPLES / BASE).read_bytes()
    position = data.draw(st.integers(0, len(original) - 1), label="byte")
    bit = data.draw(st.integers(0, 7), label="bit")
    flipped = bytearray(original)
    flipped[position] ^= 1 << bit
    bundle = fresh(work, "flip")
    shard(bundle).write_bytes(bytes(flipped))
    outcome = check_replay(bundle, f"bit {bit} of byte {position} flipped")
    if outcome.fault is None:  # a flip zstd cannot see (a header bit that changes nothing)
        assert outcome.state == original_state()
    else:
        assert_shard_fault(outcome, f"flip {position}.{bit}")


# ----- missing shards, wrong shard numbers -------------------------------------------------------------


def test_a_missing_shard_is_the_official_open_fault(work: Path) -> None:
    bundle = fresh(work)
    shard(bundle).unlink()
    fault = check_replay(bundle, "missing shard").fault
    assert fault.line == 2
    assert fault.message == f"open shard {shard(bundle)}: No such file or directory (os error 2)"


WRONG_SHARDS: list[Any] = ["1", 1.5, -1, True, None, {}, [1], 2**64, 10**30, 0, 2, 4294967296]


@pytest.mark.parametrize("value", WRONG_SHARDS, ids=repr)
@pytest.mark.parametrize("where", ["metadata_payload", "a prepared prompt part"])
def test_wrong_values_for_shard_are_clean_faults_and_never_open_anything_outside(
    work: Path, value: Any, where: str
) -> None:
    bundle = fresh(work)
    lines = read_lines(bundle)
    for index, line in enumerate(lines):
        event = json.loads(line)
        payload = event["payload"]
        if where == "metadata_payload" and "metadata_payload" in payload:
            payload["metadata_payload"]["shard"] = value
            break
        if where != "metadata_payload" and "prepared_prompt_payload" in payload:
            payload["prepared_prompt_payload"]["parts"][0]["shard"] = value
            break
    lines[index] = json.dumps(event).encode() + b"\n"
    (bundle / "trace.jsonl").write_bytes(b"".join(lines))
    outcome = check_replay(bundle, f"shard {value!r} in {where}")
    assert outcome.fault is not None, f"shard {value!r} in {where} was accepted"
    assert not list(bundle.parent.glob("*.zst")), "nothing is created anywhere"


# ----- bombs, under a capped address space ------------------------------------------------------------

_READ_ALL = """
import json, sys
from trace_viewer.bundle.payloads import PayloadStore
from trace_viewer.errors import PayloadError
store = PayloadStore(sys.argv[1])
faults = set()
for line in open(sys.argv[1] + "/trace.jsonl", "rb"):
    def refs(value):
        if isinstance(value, dict):
            if "raw_payload_id" in value:
                yield value
            for inner in value.values():
                yield from refs(inner)
        elif isinstance(value, list):
            for inner in value:
                yield from refs(inner)
    for ref in refs(json.loads(line)):
        try:
            store.read_bytes(ref)
        except PayloadError as error:
            faults.add(error.reason)
print(json.dumps(sorted(faults)))
"""

_LAUNCH = """
import json, os, resource, sys
limit, out, err, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
actions = [(os.POSIX_SPAWN_OPEN, 1, out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
           (os.POSIX_SPAWN_OPEN, 2, err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)]
pid = os.posix_spawn(cmd[0], cmd, os.environ, file_actions=actions)
_, status, usage = os.wait4(pid, 0)
print(json.dumps({"code": os.waitstatus_to_exitcode(status), "peak_mb": usage.ru_maxrss / 1024}))
"""


def run_capped(tmp: Path, *args: str) -> tuple[dict[str, Any], str, str]:
    """``python ARGS`` in a child whose address space is capped; (exit code and peak RSS, stdout, stderr)."""
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("TRACE_VIEWER_DEBUG", None)
    out, err = tmp / "out.txt", tmp / "err.txt"
    launcher = [sys.executable, "-I", "-S", "-c", _LAUNCH, str(BOMB_ADDRESS_SPACE), str(out), str(err)]
    STATS["cli_runs"] += 1
    result = subprocess.run([*launcher, sys.executable, *args], capture_output=True, env=env, timeout=120, check=True)
    return json.loads(result.stdout), out.read_text(errors="replace"), err.read_text(errors="replace")


BOMBS = {
    # Gigabytes of zeros in a few kilobytes: zero headers are empty ids, the second a duplicate.
    "zeros": (lambda: bomb(8 << 30), "duplicate payload  in shard 1"),
    # A real first record, then one claiming 1 TiB followed by gigabytes of "x".
    "claimed terabyte": (
        lambda: bomb(
            8 << 30,
            prefix=shard_record("raw_payload:1", b"{}") + struct.pack("<HQ", 13, 1 << 40) + b"raw_payload:2",
            byte=ord("x"),
        ),
        "decompress shard {shard}: record at byte 25 claims 1099511627776 bytes (the limit is 256 MiB)",
    ),
    # Records after the first past 64 MiB: only a record alone in its shard may be that big.
    "records past the shared limit": (
        lambda: bomb(
            200 << 20,
            prefix=shard_record("raw_payload:1", b"{}") + struct.pack("<HQ", 13, 200 << 20) + b"raw_payload:2",
            byte=ord("x"),
        ),
        "decompress shard {shard}: records run past 64 MiB (Codex starts a new shard past 8 MiB)",
    ),
    # As big as a record may be, alone in its shard: inflated and kept, then refused as JSON.
    "largest legal record": (
        lambda: bomb(MAX_RECORD_BYTES, prefix=struct.pack("<HQ", 13, MAX_RECORD_BYTES) + b"raw_payload:1", byte=32),
        None,
    ),
}


@pytest.mark.parametrize("name", BOMBS)
def test_a_decompression_bomb_is_a_clean_fault_in_bounded_memory(work: Path, tmp_path: Path, name: str) -> None:
    make, reason = BOMBS[name]
    bundle = fresh(work, f"bomb-{name.replace(' ', '-')}")
    data = make()
    assert len(data) < 1 << 20, "a few kilobytes (at most a megabyte) on disk"
    shard(bundle).write_bytes(data)
    usage, out, err = run_capped(tmp_path, "-c", _READ_ALL, str(bundle))
    assert usage["code"] == 0 and not err, f"{name}: the reader died: {usage} {err[-2000:]}"
    faults = json.loads(out)
    assert faults, f"{name}: no fault"
    if reason is not None:
        assert reason.format(shard=shard(bundle)) in faults, faults
    # The whole product, strict and --partial (also under an address-space cap).
    strict, _ = check_cli_reduce(bundle, f"bomb {name}")
    assert strict.returncode == 1
    print(f"{name}: reader peak RSS {usage['peak_mb']:.0f} MB")  # shown with -s; the proof is the cap


def test_a_bomb_inside_a_live_shard_is_refused_while_following(work: Path) -> None:
    """An unfinished frame is read as it grows: a record claiming too much is refused, not awaited."""
    bundle = fresh(work)
    data = bomb(
        4 << 30, prefix=shard_record("raw_payload:1", b"{}") + struct.pack("<HQ", 13, 1 << 40) + b"raw_payload:2"
    )
    shard(bundle).write_bytes(data[:-3])  # the last block header cut: still an unfinished frame
    store = PayloadStore(bundle)
    ref = {"raw_payload_id": "raw_payload:2", "kind": {"type": "x"}, "shard": 1}
    assert not store.pending(ref), "waiting would not cure it"


# ----- a live writer's shard, damaged while followed ------------------------------------------------


def test_a_shard_growing_then_truncated_is_read_from_its_start(work: Path) -> None:
    bundle = fresh(work)
    writer_dir = bundle / "payloads"
    for path in writer_dir.iterdir():
        path.unlink()
    writer = ShardWriter(writer_dir)
    entries = records(SAMPLES / BASE)
    for record_id, body in entries[:10]:
        writer.add(record_id, body)
    store = PayloadStore(bundle)
    refs = [{"raw_payload_id": record_id, "kind": {"type": "x"}, "shard": 1} for record_id, _ in entries]
    assert [store.read_bytes(ref) for ref in refs[:10]] == [body for _, body in entries[:10]]
    writer.close()
    shard(bundle).write_bytes(shard(bundle).read_bytes()[:100])  # truncated under the reader
    assert store.pending(refs[12]), "a record still to come may come"
    with pytest.raises(PayloadMissing, match=r"missing payload raw_payload:6 in shard 1"):
        store.read_bytes(refs[5])  # the shard was read again from its start: what was cut is gone
