"""The schema 3 shard reader: records, unfinished frames, rotation, the cache, and every fault.

Shards are written here the way Codex 0.171.0 writes them (``follow.writer.ShardWriter``:
one zstd block flush per record, the frame finished only at rotation or exit), or crafted
byte by byte for the damage Codex never writes. Fault texts are 0.171.0's where it has one
(checked against the binary on damaged copies of corpus bundles; see docs/SHARDS.md).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import orjson
import pytest
import zstandard
from follow.writer import ShardWriter, shard_record
from zstd_frames import bomb, frame

from trace_viewer.bundle.payloads import PayloadMissing, PayloadRefused, PayloadStore
from trace_viewer.bundle.shards import (
    MAX_RECORD_BYTES,
    Availability,
    ShardFault,
    ShardReader,
    _FrameWalker,
)


def body(number: int, size: int = 200) -> bytes:
    """A JSON body of about ``size`` bytes, different for every number."""
    return orjson.dumps({"n": number, "text": f"record {number} " + "x" * max(0, size - 40)})


def bundle(tmp_path: Path) -> Path:
    (tmp_path / "payloads").mkdir(parents=True, exist_ok=True)
    return tmp_path


def write_shards(
    root: Path, records: list[tuple[str, bytes]], *, shard_bytes: int = 8 << 20, finish: bool = True
) -> dict[str, int]:
    """Records through a Codex-like writer; the shard of each id."""
    writer = ShardWriter(root / "payloads", shard_bytes=shard_bytes)
    placed = {record_id: writer.add(record_id, data) for record_id, data in records}
    if finish:
        writer.finish()
    else:
        writer.close()
    return placed


def shard_file(root: Path, number: int = 1) -> Path:
    return root / "payloads" / f"{number:06d}.zst"


def fault_of(reader: ShardReader, record_id: str, number: int = 1) -> ShardFault:
    with pytest.raises(ShardFault) as caught:
        reader.read(record_id, number)
    return caught.value


RECORDS = [(f"raw_payload:{n}", body(n)) for n in range(1, 41)]


# ----- reading ------------------------------------------------------------------------------------


def test_records_read_back_exactly_with_sizes_and_prefixes(tmp_path: Path) -> None:
    root = bundle(tmp_path)
    write_shards(root, RECORDS)
    reader = ShardReader(root)
    for record_id, data in RECORDS:
        assert reader.read(record_id, 1) == data
        assert reader.size(record_id, 1) == len(data)
        assert reader.read(record_id, 1, max_bytes=7) == data[:7]
    assert reader.record_ids(1) == [record_id for record_id, _ in RECORDS]
    assert reader.decompressions == 1, "the index is built once, while the shard is first fed"


def test_nothing_is_opened_until_a_record_is_asked_for(tmp_path: Path) -> None:
    root = bundle(tmp_path)
    shard_file(root).write_bytes(b"not even zstd")
    reader = ShardReader(root)
    assert reader.cached_bytes() == 0 and reader.decompressions == 0
    fault = fault_of(reader, "raw_payload:1")
    assert fault.reason == f"decompress shard {shard_file(root)}: Unknown frame descriptor"


def test_a_record_id_is_matched_exactly(tmp_path: Path) -> None:
    """The index is by the record's own id: a reference to another id does not get this one."""
    root = bundle(tmp_path)
    write_shards(root, [("raw_payload:10", body(10)), ("raw_payload:1", body(1))])
    reader = ShardReader(root)
    assert reader.read("raw_payload:1", 1) == body(1)
    fault = fault_of(reader, "raw_payload:100")
    assert fault.reason == "missing payload raw_payload:100 in shard 1"
    assert fault.missing and not fault.retry, "a sealed shard gets no more records"


def test_frames_of_every_shape_are_walked_to_their_end(tmp_path: Path) -> None:
    """One-shot frames (content size, single segment), no checksum, several frames, a skippable frame."""
    root = bundle(tmp_path)
    records = [shard_record(f"raw_payload:{n}", body(n)) for n in range(1, 4)]
    skippable = struct.pack("<II", 0x184D2A53, 5) + b"12345"
    shapes = {
        "one-shot": zstandard.ZstdCompressor().compress(b"".join(records)),
        "no checksum": frame(*records, checksum=False),
        "several frames": frame(records[0]) + frame(records[1], records[2]),
        "skippable frame between": frame(records[0]) + skippable + frame(records[1], records[2]),
    }
    for name, data in shapes.items():
        shard_file(root).write_bytes(data)
        reader = ShardReader(root)
        assert reader.read("raw_payload:3", 1) == body(3), name
        assert reader.footer_fault([1], recording_closed=True) is None, f"{name}: sealed"
    shard_file(root).write_bytes(frame(*records, finish=False))
    assert ShardReader(root).footer_fault([1], recording_closed=True) == "missing footer in payload shard 1"


def test_the_frame_walker_finds_the_end_fed_byte_by_byte() -> None:
    data = frame(shard_record("a", b"{}"), shard_record("b", b"[]"))
    walker = _FrameWalker()
    for index in range(len(data)):
        assert not walker.between_frames, f"the frame cannot end before byte {len(data)} (at {index})"
        walker.feed(data[index : index + 1])
    assert walker.between_frames
    walker.feed(b"\x00\x01\x02\x03")
    assert walker.lost and not walker.between_frames


# ----- live shards: unfinished frames and rotation ------------------------------------------------


def test_an_unfinished_frame_gives_every_complete_record_and_is_continued_not_reread(tmp_path: Path) -> None:
    root = bundle(tmp_path)
    writer = ShardWriter(root / "payloads")
    reader = ShardReader(root)
    for number in range(1, 6):
        writer.add(f"raw_payload:{number}", body(number))
    assert reader.read("raw_payload:5", 1) == body(5)
    fault = fault_of(reader, "raw_payload:6")
    assert fault.reason == "missing payload raw_payload:6 in shard 1" and fault.retry
    assert reader.availability("raw_payload:6", 1) is Availability.PENDING
    for number in range(6, 11):
        writer.add(f"raw_payload:{number}", body(number))
        assert reader.read(f"raw_payload:{number}", 1) == body(number)
    assert reader.decompressions == 1, "new bytes are fed to the same decompressor"
    assert reader.footer_fault([1], recording_closed=False) is None, "the newest shard may be unfinished"
    assert reader.footer_fault([1], recording_closed=True) == "missing footer in payload shard 1"
    writer.finish()
    assert reader.availability("raw_payload:11", 1) is Availability.FAULT, "sealed: it will never come"
    assert reader.footer_fault([1], recording_closed=True) is None
    assert reader.decompressions == 1


def test_half_a_block_on_disk_is_waited_for(tmp_path: Path) -> None:
    """A reader can catch a record's block half written: it shows up once the rest is there."""
    root = bundle(tmp_path)
    block = frame(shard_record("raw_payload:1", body(1)), shard_record("raw_payload:2", body(2, 5000)), finish=False)
    first_end = len(frame(shard_record("raw_payload:1", body(1)), finish=False))
    path = shard_file(root)
    reader = ShardReader(root)
    for cut in (first_end, first_end + 1, first_end + 5, len(block) - 1):
        path.write_bytes(block[:cut])
        assert reader.read("raw_payload:1", 1) == body(1)
        assert reader.availability("raw_payload:2", 1) is Availability.PENDING
    path.write_bytes(block)
    assert reader.read("raw_payload:2", 1) == body(2, 5000)


def test_rotation_seals_the_previous_shard_and_frees_its_decompressor(tmp_path: Path) -> None:
    root = bundle(tmp_path)
    writer = ShardWriter(root / "payloads", shard_bytes=2000)
    reader = ShardReader(root)
    placed = {}
    for number in range(1, 30):
        record_id = f"raw_payload:{number}"
        placed[record_id] = writer.add(record_id, body(number))
        assert reader.read(record_id, placed[record_id]) == body(number)
    assert max(placed.values()) >= 3, "the test rotates"
    assert reader.footer_fault(placed.values(), recording_closed=False) is None
    older = [reader._shards[number] for number in range(1, max(placed.values()))]
    assert all(shard.sealed_size is not None and shard.decompressor is None for shard in older)
    # Every shard was decompressed once, however the reads were interleaved.
    assert reader.decompressions == max(placed.values())


def test_a_killed_run_opens_with_everything_complete(tmp_path: Path) -> None:
    root = bundle(tmp_path)
    placed = write_shards(root, RECORDS, shard_bytes=3000, finish=False)
    # A kill can also land mid-write: half of the last record's block.
    last = shard_file(root, max(placed.values()))
    last.write_bytes(last.read_bytes()[:-5])
    reader = ShardReader(root)
    for record_id, data in RECORDS[:-1]:
        assert reader.read(record_id, placed[record_id]) == data
    assert fault_of(reader, RECORDS[-1][0], placed[RECORDS[-1][0]]).retry
    assert reader.footer_fault(placed.values(), recording_closed=False) is None
    # An unfinished shard that is not the newest was not closed by Codex: a fault even if unclosed.
    first = shard_file(root, 1)
    first.write_bytes(first.read_bytes()[:-7])
    assert (
        ShardReader(root).footer_fault(placed.values(), recording_closed=False) == "missing footer in payload shard 1"
    )


# ----- the cache --------------------------------------------------------------------------------------


def test_eviction_keeps_the_budget_and_an_evicted_shard_is_read_again(tmp_path: Path) -> None:
    root = bundle(tmp_path)
    records = [(f"raw_payload:{n}", body(n, 70_000)) for n in range(1, 31)]
    placed = write_shards(root, records, shard_bytes=300_000)
    shards = max(placed.values())
    reader = ShardReader(root, cache_bytes=700_000, small_cache_bytes=0)
    for record_id, data in records:
        assert reader.read(record_id, placed[record_id]) == data
        assert reader.cached_bytes() <= 700_000 + 300_000, "at most one shard over the budget: the one just read"
    assert reader.decompressions == shards
    first_id, first_data = records[0]
    assert reader._shards[1].data is None, "the coldest shard's bytes were evicted"
    assert reader._shards[1].records, "...but its index was kept"
    assert reader.availability(first_id, 1) is Availability.READY
    assert reader.decompressions == shards, "the index answers without decompressing"
    assert reader.read(first_id, 1) == first_data
    assert reader.decompressions == shards + 1, "an evicted shard is decompressed again"


def test_indexes_are_dropped_too_when_the_budget_is_tiny(tmp_path: Path) -> None:
    root = bundle(tmp_path)
    records = [(f"raw_payload:{n}", body(n, 5000)) for n in range(1, 101)]
    placed = write_shards(root, records, shard_bytes=20_000)
    reader = ShardReader(root, cache_bytes=1, small_cache_bytes=0)
    for record_id, data in [*records, *records]:
        assert reader.read(record_id, placed[record_id]) == data
    held = [number for number, shard in reader._shards.items() if shard.records]
    assert len(held) <= 1, f"only the shard in use keeps an index over budget, not {held}"


def test_small_records_reused_later_need_no_decompression(tmp_path: Path) -> None:
    """Model items are stored once and cited by every later prompt: they stay cached on their own."""
    root = bundle(tmp_path)
    items = [(f"raw_payload:{n}", body(n, 300)) for n in range(1, 6)]
    requests = [(f"raw_payload:{n}", body(n, 60_000)) for n in range(6, 40)]
    placed = write_shards(root, [*items, *requests], shard_bytes=200_000)
    reader = ShardReader(root, cache_bytes=250_000)
    for record_id, data in items:
        assert reader.read(record_id, 1) == data
    for record_id, data in requests:
        assert reader.read(record_id, placed[record_id]) == data
    assert reader._shards[1].data is None, "shard 1 was evicted"
    before = reader.decompressions
    for record_id, data in items:
        assert reader.read(record_id, 1) == data
    assert reader.decompressions == before
    assert reader.small_cache_info()[0] >= len(items)


def test_a_shard_replaced_under_the_reader_is_read_from_its_start(tmp_path: Path) -> None:
    """A sealed shard is trusted while its index is held; once it has to be opened again, a
    replaced file is noticed (another inode) and read from its start, never mixed with the old."""
    root = bundle(tmp_path)
    write_shards(root, RECORDS[:5])
    reader = ShardReader(root)
    assert reader.read("raw_payload:1", 1) == body(1)
    replacement = root / "payloads" / "new.zst"
    replacement.write_bytes(frame(shard_record("raw_payload:99", b'{"new":true}')))
    os.replace(replacement, shard_file(root))
    reader._shards[1].data = None  # as if evicted: the next read opens the file again
    reader._small.clear()
    assert fault_of(reader, "raw_payload:1").reason == "missing payload raw_payload:1 in shard 1"
    assert reader.read("raw_payload:99", 1) == b'{"new":true}'


# ----- faults (0.171.0's wording where it has one) ----------------------------------------------


def test_a_missing_shard_is_the_official_open_fault_and_may_still_come(tmp_path: Path) -> None:
    root = bundle(tmp_path)
    reader = ShardReader(root)
    fault = fault_of(reader, "raw_payload:1")
    assert fault.reason == f"open shard {shard_file(root)}: No such file or directory (os error 2)"
    assert fault.missing and fault.retry
    write_shards(root, RECORDS[:1])
    assert reader.read("raw_payload:1", 1) == body(1), "a shard that appears later is read"


DAMAGE = {
    "empty": (b"", "missing payload raw_payload:1 in shard 1"),
    "garbage": (b"\x13" * 300, "decompress shard {path}: Unknown frame descriptor"),
    "trailing garbage": (
        frame(shard_record("raw_payload:1", b"{}")) + b"garbage!",
        "decompress shard {path}: Unknown frame descriptor",
    ),
    "duplicate id": (
        frame(shard_record("raw_payload:1", b"{}"), shard_record("raw_payload:1", b"[]")),
        "duplicate payload raw_payload:1 in shard 1",
    ),
    "cut record, sealed": (
        frame(shard_record("raw_payload:2", b"{}"), shard_record("raw_payload:1", b"{}")[:-1]),
        "partial record in sealed shard 1",
    ),
    "partial header, sealed": (
        frame(shard_record("raw_payload:2", b"{}"), b"\x05\x00\x01"),
        "partial record in sealed shard 1",
    ),
    "lying length, sealed": (
        frame(struct.pack("<HQ", 13, 1 << 40) + b"raw_payload:1{}"),
        "partial record in sealed shard 1",
    ),
    "id not utf-8": (
        frame(shard_record("raw_payload:2", b"{}"), struct.pack("<HQ", 2, 2) + b"\xff\xfe{}"),
        "invalid utf-8 sequence of 1 bytes from index 0 (record id at byte 25 of shard 1)",
    ),
}


@pytest.mark.parametrize("name", DAMAGE)
def test_damaged_shards_are_one_line_faults_naming_the_shard(tmp_path: Path, name: str) -> None:
    data, reason = DAMAGE[name]
    root = bundle(tmp_path)
    shard_file(root).write_bytes(data)
    fault = fault_of(ShardReader(root), "raw_payload:1")
    assert fault.reason == reason.format(path=shard_file(root)), name
    assert "\n" not in fault.reason


def test_bit_flips_fail_the_checksum(tmp_path: Path) -> None:
    root = bundle(tmp_path)
    write_shards(root, RECORDS)
    data = bytearray(shard_file(root).read_bytes())
    data[-2] ^= 0x01
    shard_file(root).write_bytes(bytes(data))
    fault = fault_of(ShardReader(root), "raw_payload:40")
    assert fault.reason == f"decompress shard {shard_file(root)}: Restored data doesn't match checksum"


def test_an_empty_id_is_a_record_like_any_other(tmp_path: Path) -> None:
    """0.171.0 accepts a record with an empty id; only a second one is a duplicate."""
    root = bundle(tmp_path)
    shard_file(root).write_bytes(frame(shard_record("", b"{}"), shard_record("raw_payload:1", b"[]")))
    assert ShardReader(root).read("raw_payload:1", 1) == b"[]"


def test_a_bomb_of_zeros_stops_at_the_second_header(tmp_path: Path) -> None:
    """Gigabytes of zeros in a few kilobytes: the zeros read as empty records, the second a duplicate."""
    root = bundle(tmp_path)
    data = bomb(4 << 30)
    assert len(data) < 200_000
    shard_file(root).write_bytes(data)
    reader = ShardReader(root)
    assert fault_of(reader, "raw_payload:1").reason == "duplicate payload  in shard 1"
    assert reader._shards[1].data is None, "nothing of it is kept"


def test_a_record_claiming_more_than_the_limit_is_a_fault_without_keeping_it(tmp_path: Path) -> None:
    """A length over the limit: what follows is inflated and dropped, up to a bound, to see whether the
    frame ends first (a lying length: Codex's fault) or not (a bomb: the limit fault)."""
    root = bundle(tmp_path)
    header = struct.pack("<HQ", 13, 1 << 34) + b"raw_payload:1"
    shard_file(root).write_bytes(bomb(4 << 30, prefix=header, byte=ord("x")))
    reader = ShardReader(root)
    fault = fault_of(reader, "raw_payload:1")
    assert fault.reason == (
        f"decompress shard {shard_file(root)}: record at byte 0 claims {1 << 34} bytes "
        f"(the limit is {MAX_RECORD_BYTES >> 20} MiB)"
    )
    shard_file(root).write_bytes(bomb(1 << 20, prefix=header, byte=ord("x")))
    assert fault_of(ShardReader(root), "raw_payload:1").reason == "partial record in sealed shard 1"


def test_records_past_the_shared_limit_are_a_fault(tmp_path: Path) -> None:
    """Only a record alone in its shard may be big: Codex starts a new shard past 8 MiB."""
    root = bundle(tmp_path)
    big = shard_record("raw_payload:2", b"0" * (70 << 20))
    compressor = zstandard.ZstdCompressor(level=1).compressobj()
    data = compressor.compress(shard_record("raw_payload:1", b"{}")) + compressor.compress(big) + compressor.flush()
    shard_file(root).write_bytes(data)
    fault = fault_of(ShardReader(root), "raw_payload:2")
    assert fault.reason.endswith("records run past 64 MiB (Codex starts a new shard past 8 MiB)"), fault.reason
    shard_file(root).write_bytes(zstandard.ZstdCompressor(level=1).compress(big))
    assert len(ShardReader(root).read("raw_payload:2", 1)) == 70 << 20, "alone in its shard, it is fine"


def test_a_directory_fifo_or_link_out_of_the_bundle_is_refused_without_hanging(tmp_path: Path) -> None:
    root = bundle(tmp_path / "bundle")
    shard_file(root).mkdir()
    assert fault_of(ShardReader(root), "raw_payload:1").reason == (
        f"decompress shard {shard_file(root)}: Is a directory (os error 21)"
    )
    shard_file(root).rmdir()
    os.mkfifo(shard_file(root))
    assert fault_of(ShardReader(root), "raw_payload:1").reason == f"open shard {shard_file(root)}: not a regular file"
    shard_file(root).unlink()
    outside = tmp_path / "outside.zst"
    outside.write_bytes(frame(shard_record("raw_payload:1", b"{}")))
    shard_file(root).symlink_to(outside)
    assert fault_of(ShardReader(root), "raw_payload:1").reason == (
        "refused shard path that leaves the bundle via a link: payloads/000001.zst"
    )
    shard_file(root).unlink()
    inside = root / "payloads" / "elsewhere.zst"
    inside.write_bytes(outside.read_bytes())
    shard_file(root).symlink_to(inside)
    assert ShardReader(root).read("raw_payload:1", 1) == b"{}", "a link inside the bundle is followed"


@pytest.mark.parametrize("number", [True, -1, 2**64, 1.0, "1", None, [1]])
def test_shard_numbers_that_are_not_u64_are_refused_unopened(tmp_path: Path, number: object) -> None:
    reader = ShardReader(bundle(tmp_path))
    with pytest.raises(ShardFault, match="invalid shard number"):
        reader.read("raw_payload:1", number)  # type: ignore[arg-type]
    assert reader.availability("raw_payload:1", number) is Availability.FAULT  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("number", "name"), [(0, "000000.zst"), (2**32, "4294967296.zst"), (2**64 - 1, "18446744073709551615.zst")]
)
def test_any_u64_shard_number_names_a_file_like_codex_does(tmp_path: Path, number: int, name: str) -> None:
    root = bundle(tmp_path)
    fault = fault_of(ShardReader(root), "raw_payload:1", number)
    assert fault.reason == f"open shard {root / 'payloads' / name}: No such file or directory (os error 2)"


# ----- through the payload store ------------------------------------------------------------------


def refs_for(placed: dict[str, int]) -> dict[str, dict[str, object]]:
    return {
        record_id: {"raw_payload_id": record_id, "kind": {"type": "protocol_event"}, "shard": shard}
        for record_id, shard in placed.items()
    }


def test_the_store_reads_shards_behind_the_same_interface(tmp_path: Path) -> None:
    root = bundle(tmp_path)
    refs = refs_for(write_shards(root, RECORDS, shard_bytes=3000))
    store = PayloadStore(root)
    ref = refs["raw_payload:7"]
    assert store.read(ref) == orjson.loads(body(7))
    assert store.read_bytes(ref) == body(7)
    assert store.size(ref) == len(body(7))
    preview = store.preview(ref, 10)
    assert preview.text == body(7)[:10].decode() and preview.truncated and preview.size == len(body(7))
    missing = {"raw_payload_id": "raw_payload:77", "kind": {"type": "x"}, "shard": 1}
    with pytest.raises(PayloadMissing, match=r"missing payload raw_payload:77 in shard 1"):
        store.read(missing)
    with pytest.raises(PayloadMissing, match="payload omitted by size limit"):
        store.read({"raw_payload_id": "raw_payload:8", "kind": {"type": "x"}, "shard": None})
    with pytest.raises(PayloadRefused, match="invalid shard number"):
        store.read({"raw_payload_id": "raw_payload:8", "kind": {"type": "x"}, "shard": "1"})


def test_pending_waits_only_for_what_may_still_come(tmp_path: Path) -> None:
    root = bundle(tmp_path)
    store = PayloadStore(root)
    ref = {"raw_payload_id": "raw_payload:1", "kind": {"type": "x"}, "shard": 1}
    assert store.pending(ref), "no shard file yet"
    writer = ShardWriter(root / "payloads")
    writer.add("raw_payload:2", b"{}")
    assert store.pending(ref), "the open shard may still get it"
    writer.add("raw_payload:1", b"{}")
    assert not store.pending(ref)
    writer.finish()
    assert not store.pending({**ref, "raw_payload_id": "raw_payload:3"}), "a sealed shard never will"
    assert not store.pending({**ref, "shard": "1"}), "a refused reference never will"
