"""Mutation tests over the sample bundles: whatever is broken, replay stops calmly at a fault.

Every mutation runs on a private copy of a sample bundle and must keep ``check_replay``'s invariant
(no exception, no internal error, no hang, one-line fault, state = the prefix before the fault).
Where a mutation has a predictable outcome (a seq gap at line N, a torn last line, an ignored
unknown field) the test asserts that outcome too. Under the default Hypothesis profile (``ci``) the
examples are derandomized and bounded, so the suite is the same on every run and takes a fixed, small
amount of time; ``HYPOTHESIS_PROFILE=explore`` draws new ones (see tests/conftest.py).
"""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path
from typing import Any, Self

import pytest
from hostile_helpers import (
    CLEAN_SAMPLES,
    CLEAN_SHARD_SAMPLES,
    SAMPLE_NAMES,
    SAMPLES,
    STATS,
    budget,
    check_cli_reduce,
    check_replay,
    copy_bundle,
    dump_event,
    read_lines,
    run_app,
    run_cli,
    write_lines,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from trace_viewer.bundle import Bundle, bundle_info, discovery
from trace_viewer.bundle.event_log import MAX_LINE_BYTES
from trace_viewer.reducer.replay import replay_bundle
from trace_viewer.reducer.tools import ToolsReducer


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def fresh(work: Path, name: str, slot: str = "m") -> Path:
    """A new writable copy of sample ``name`` (replacing the previous copy in this slot)."""
    return copy_bundle(SAMPLES / name, work / slot)


_original_states: dict[str, dict[str, Any]] = {}


def original_state(name: str) -> dict[str, Any]:
    if name not in _original_states:
        reducer = replay_bundle(SAMPLES / name).reducer
        assert reducer.fault is None, (name, reducer.fault)
        _original_states[name] = reducer.to_json()
    return _original_states[name]


def test_samples_are_what_the_mutations_assume() -> None:
    """Mutations below rely on: one event per line, seq == line number, no blank lines."""
    assert len(CLEAN_SAMPLES) >= 8
    for name in CLEAN_SAMPLES:
        lines = read_lines(SAMPLES / name)
        assert [json.loads(line)["seq"] for line in lines] == list(range(1, len(lines) + 1)), name


# ----- torn lines ------------------------------------------------------------------------------------


def _parses(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("name", CLEAN_SAMPLES)
def test_torn_last_line_at_every_offset(work: Path, name: str) -> None:
    bundle = fresh(work, name)
    lines = read_lines(bundle)
    *head, last = lines
    for cut in range(len(last)):
        write_lines(bundle, [*head, last[:cut]])
        outcome = check_replay(bundle, f"{name} last line cut at {cut}", prefix_key=name, unchanged=len(head))
        if cut == 0 or _parses(last[:cut]):
            assert outcome.fault is None, (cut, outcome.fault)
            assert outcome.applied == len(head) + (cut > 0)
        else:
            assert outcome.fault is not None and outcome.fault.line == len(lines), (cut, outcome.fault)
            assert "cut off" in outcome.fault.message
            assert outcome.applied == len(head)


def test_torn_short_bundle_at_every_offset(work: Path) -> None:
    """A short bundle (the first events of a sample) cut at every byte of the whole file."""
    bundle = fresh(work, "exec_basic")
    lines = read_lines(bundle)[:6]
    data = b"".join(lines)
    starts = [sum(len(line) for line in lines[:index]) for index in range(len(lines) + 1)]
    for cut in range(len(data) + 1):
        (bundle / "trace.jsonl").write_bytes(data[:cut])
        complete = sum(1 for start in starts[1:] if start <= cut)
        outcome = check_replay(bundle, f"short bundle cut at {cut}", prefix_key="exec_basic", unchanged=complete)
        tail = data[starts[complete] : cut]
        if not tail or _parses(tail):
            assert outcome.fault is None, (cut, outcome.fault)
            assert outcome.applied == complete + bool(tail)
        else:
            assert outcome.fault is not None and outcome.fault.line == complete + 1, (cut, outcome.fault)
            assert outcome.applied == complete


@settings(max_examples=budget(150))
@given(data=st.data())
def test_torn_anywhere(work: Path, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(CLEAN_SAMPLES), label="sample")
    bundle = fresh(work, name)
    raw = (bundle / "trace.jsonl").read_bytes()
    cut = data.draw(st.integers(0, len(raw)), label="cut")
    (bundle / "trace.jsonl").write_bytes(raw[:cut])
    complete = raw[:cut].count(b"\n")
    outcome = check_replay(bundle, f"{name} cut at {cut}", prefix_key=name, unchanged=complete)
    assert outcome.applied in (complete, complete + 1)
    if outcome.fault is not None:
        assert outcome.fault.line == complete + 1


# ----- byte flips ------------------------------------------------------------------------------------

INTERESTING_BYTES = [
    0x00,
    0x07,
    0x0A,
    0x0D,
    0x1B,
    0x20,
    0x22,
    0x2C,
    0x30,
    0x3A,
    0x5B,
    0x5C,
    0x5D,
    0x7B,
    0x7D,
    0x7F,
    0x80,
    0xBF,
    0xC0,
    0xC3,
    0xE2,
    0xED,
    0xF0,
    0xFF,
]
BYTE = st.one_of(st.sampled_from(INTERESTING_BYTES), st.integers(0, 255))


@settings(max_examples=budget(300))
@given(data=st.data())
def test_byte_flips(work: Path, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(SAMPLE_NAMES), label="sample")
    bundle = fresh(work, name)
    payload_files = sorted(p.relative_to(bundle).as_posix() for p in (bundle / "payloads").iterdir())
    target = data.draw(
        st.one_of(
            st.just("trace.jsonl"),
            st.just("trace.jsonl"),
            st.just("trace.jsonl"),
            st.just("manifest.json"),
            st.sampled_from(payload_files),
        ),
        label="file",
    )
    raw = bytearray((bundle / target).read_bytes())
    flips = data.draw(st.lists(st.tuples(st.integers(0, len(raw) - 1), BYTE), min_size=1, max_size=6), label="flips")
    for position, value in flips:
        raw[position] = value
    (bundle / target).write_bytes(bytes(raw))
    outcome = check_replay(bundle, f"{name} {target} flips {flips}")
    if target == "trace.jsonl" and name in CLEAN_SAMPLES:
        # Lines before the first flipped byte are untouched, so they are all applied.
        untouched = bytes(raw[: min(position for position, _ in flips)]).count(b"\n")
        assert outcome.applied >= untouched


# ----- deleted, duplicated, swapped lines --------------------------------------------------------------


@settings(max_examples=budget(120))
@given(data=st.data())
def test_line_edits_fault_exactly_where_the_order_breaks(work: Path, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(CLEAN_SAMPLES), label="sample")
    bundle = fresh(work, name)
    lines = read_lines(bundle)
    count = len(lines)
    edit = data.draw(st.sampled_from(["delete", "duplicate", "swap", "move"]), label="edit")
    i = j = data.draw(st.integers(0, count - 1), label="i")
    if edit == "delete":
        del lines[i]
        expected_line = i + 1 if i < count - 1 else None
    elif edit == "duplicate":
        lines.insert(i + 1, lines[i])
        expected_line = i + 2
    else:
        j = data.draw(st.integers(0, count - 1).filter(lambda j: j != i), label="j")
        if edit == "swap":
            lines[i], lines[j] = lines[j], lines[i]
        else:
            lines.insert(j, lines.pop(i))
        expected_line = min(i, j) + 1
    write_lines(bundle, lines)
    outcome = check_replay(bundle, f"{name} {edit} line {i + 1}", prefix_key=name, unchanged=min(i, j))
    if expected_line is None:
        assert outcome.fault is None or outcome.fault.line is None  # the last line gone: a shorter trace
    else:
        assert outcome.fault is not None and outcome.fault.line == expected_line, outcome.fault
        assert outcome.fault.message in (
            f"missing or reordered trace event {expected_line}",
            "trace event after recording completed",  # a copy of the last line, recording_completed
        )
        assert outcome.applied == expected_line - 1


# ----- wrong JSON types in every field ---------------------------------------------------------------

MISSING = object()
# Nested lists too deep for orjson to serialise (254) and for Python's json module (recursion limit).
DEEP_MARKERS = {"<deep 300>": 300, "<deep 5000>": 5000}
WRONG_VALUES: list[Any] = [MISSING, None, True, -1, 2**64, 1.5, "", "\u202e[bold]x\x1b[2J", [], {}, *DEEP_MARKERS]


def _field_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path in an event (list elements: the first one), outermost first."""
    found = [path] if path else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _field_paths(child, (*path, key))
    elif isinstance(value, list) and value:
        found += _field_paths(value[0], (*path, 0))
    return found


def _field_cases() -> dict[str, list[tuple[int, tuple[Any, ...]]]]:
    """(line index, field path) for the first occurrence of each (event type, field path), by sample."""
    seen: set[tuple[str, tuple[Any, ...]]] = set()
    cases: dict[str, list[tuple[int, tuple[Any, ...]]]] = {}
    for name in CLEAN_SAMPLES:
        for index, line in enumerate(read_lines(SAMPLES / name)):
            event = json.loads(line)
            for path in _field_paths(event):
                key = (event["payload"]["type"], path)
                if key not in seen:
                    seen.add(key)
                    cases.setdefault(name, []).append((index, path))
    return cases


FIELD_CASES = _field_cases()


def _set_path(event: Any, path: tuple[Any, ...], value: Any) -> None:
    parent = event
    for key in path[:-1]:
        parent = parent[key]
    if value is MISSING:
        if isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent.pop(path[-1])
    else:
        parent[path[-1]] = value


# Fields every event must carry with the right type: a wrong value is refused at its own line.
ENVELOPE_FIELDS = {("schema_version",), ("seq",), ("payload",), ("payload", "type")}


@pytest.mark.parametrize("name", sorted(FIELD_CASES))
def test_wrong_types_in_every_field(work: Path, name: str) -> None:
    """A wrong value in any field: the events before it stay applied, and the fault (if any) is never
    blamed on an earlier line; in an envelope field, or nested too deep to parse, it is that line."""
    bundle = fresh(work, name)
    lines = read_lines(bundle)
    refused_at_the_line = 0
    for index, path in FIELD_CASES[name]:
        for value in WRONG_VALUES:
            event = json.loads(lines[index])
            _set_path(event, path, value)
            line = dump_event(event)
            for marker, levels in DEEP_MARKERS.items():
                line = line.replace(json.dumps(marker).encode(), b"[" * levels + b"]" * levels)
            write_lines(bundle, [*lines[:index], line, *lines[index + 1 :]])
            label = (
                f"{name} line {index + 1} {'.'.join(map(str, path))} = {'<missing>' if value is MISSING else value!r}"
            )
            outcome = check_replay(bundle, label, prefix_key=name, unchanged=index)
            assert outcome.applied >= index, label
            fault = outcome.fault
            if fault is None:
                assert outcome.applied == len(lines), f"{label}: no fault, but only {outcome.applied} events applied"
            else:
                assert fault.file == "trace.jsonl" and fault.line is not None, f"{label}: {fault}"
                assert fault.line >= index + 1, f"{label}: blamed on an earlier line: {fault}"
                refused_at_the_line += fault.line == index + 1
            if path in ENVELOPE_FIELDS or value == "<deep 5000>":
                assert fault is not None and fault.line == index + 1, f"{label}: not refused at its line: {fault}"
    # Most wrong values are refused where they are; only fields the reducer never reads pass.
    assert refused_at_the_line >= len(FIELD_CASES[name]) * len(WRONG_VALUES) // 2


def test_every_event_type_and_field_is_covered() -> None:
    """The field table above reaches every event type the samples hold, with well over 300 field paths."""
    paths = sum(len(cases) for cases in FIELD_CASES.values())
    assert paths >= 300
    kinds = {json.loads(read_lines(SAMPLES / n)[i])["payload"]["type"] for n, c in FIELD_CASES.items() for i, _ in c}
    assert {
        "inference_started",
        "tool_call_started",
        "compaction_installed",
        "code_cell_started",
        "agent_result_observed",
        "history_item_accepted",
        "recording_completed",
    } <= kinds


# ----- unknown event types and fields ------------------------------------------------------------------

JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=10,
)


@settings(max_examples=budget(60))
@given(data=st.data())
def test_unknown_fields_are_ignored(work: Path, data: st.DataObject) -> None:
    """Extra fields on the envelope or the payload change nothing (like serde without deny_unknown_fields)."""
    name = data.draw(st.sampled_from(CLEAN_SAMPLES), label="sample")
    bundle = fresh(work, name)
    lines = read_lines(bundle)
    indexes = data.draw(st.lists(st.integers(0, len(lines) - 1), min_size=1, max_size=5, unique=True), label="lines")
    for index in indexes:
        event = json.loads(lines[index])
        where = data.draw(st.sampled_from(["envelope", "payload"]), label="where")
        field = "x_unknown_" + data.draw(st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8), label="name")
        (event if where == "envelope" else event["payload"])[field] = data.draw(JSON_VALUE, label="value")
        lines[index] = dump_event(event)
    write_lines(bundle, lines)
    outcome = check_replay(bundle, f"{name} unknown fields at {indexes}")
    assert outcome.fault is None
    assert outcome.state == original_state(name)


def _renumbered(lines: list[bytes], insert_at: int, extra: list[dict[str, Any]]) -> list[bytes]:
    events = [json.loads(line) for line in lines]
    events[insert_at:insert_at] = extra
    for seq, event in enumerate(events, start=1):
        event["seq"] = seq
    return [dump_event(event) for event in events]


def _unknown_event(like: dict[str, Any], type_name: str) -> dict[str, Any]:
    return {**like, "payload": {"type": type_name, "whatever": {"nested": [1, 2, 3]}}}


@pytest.mark.parametrize("name", ["exec_basic", "tools_code_mode", "schema1_exec_basic"])
def test_unknown_event_type_in_a_known_schema_is_a_fault_at_its_line(work: Path, name: str) -> None:
    bundle = fresh(work, name)
    lines = read_lines(bundle)
    at = len(lines) // 2
    write_lines(bundle, _renumbered(lines, at, [_unknown_event(json.loads(lines[at]), "teleport_started")]))
    outcome = check_replay(bundle, f"{name} unknown event", prefix_key=name, unchanged=at)
    assert outcome.fault is not None and outcome.fault.line == at + 1
    assert "teleport_started" in outcome.fault.message
    assert outcome.applied == at


def _as_schema(bundle: Path, version: int, *, events_too: bool = True) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["schema_version"] = version
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    if events_too:
        lines = [json.loads(line) for line in read_lines(bundle)]
        write_lines(bundle, [dump_event({**event, "schema_version": version}) for event in lines])


@pytest.mark.parametrize("name", CLEAN_SHARD_SAMPLES)
def test_newer_schema_bundle_loads_with_a_warning(work: Path, name: str) -> None:
    """A schema newer than 3 is reduced with the newest rules known (schema 3's), and says so."""
    bundle = fresh(work, name)
    _as_schema(bundle, 4)
    outcome = check_replay(bundle, f"{name} as schema 4")
    assert outcome.fault is None
    assert outcome.state == {**original_state(name), "schema_version": 4}
    assert any("schema 4" in warning for warning in Bundle(bundle).warnings)


@settings(max_examples=budget(30))
@given(data=st.data())
def test_newer_schema_unknown_events_are_skipped_and_kept_raw(work: Path, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(CLEAN_SHARD_SAMPLES), label="sample")
    bundle = fresh(work, name)
    _as_schema(bundle, 4)
    lines = read_lines(bundle)
    at = data.draw(st.integers(1, len(lines) - 1), label="at")
    count = data.draw(st.integers(1, 3), label="count")
    extra = [_unknown_event(json.loads(lines[at]), f"future_event_{n}") for n in range(count)]
    write_lines(bundle, _renumbered(lines, at, extra))
    outcome = check_replay(bundle, f"{name} schema 4 with {count} unknown events at {at}")
    assert outcome.fault is None, outcome.fault
    reducer = outcome.replay.reducer
    assert outcome.applied == len(lines) + count
    assert [(seq, kind) for seq, kind in reducer.skipped_events] == [
        (at + 1 + n, f"future_event_{n}") for n in range(count)
    ]
    assert set(outcome.state["threads"]) == set(original_state(name)["threads"])


def test_newer_schema_manifest_with_older_events_is_a_fault_at_line_1(work: Path) -> None:
    bundle = fresh(work, "schema3_exec_basic")
    _as_schema(bundle, 4, events_too=False)
    outcome = check_replay(bundle, "schema 4 manifest, schema 3 events")
    assert outcome.fault is not None and outcome.fault.line == 1
    assert outcome.fault.message == "unsupported trace event schema 3 at line 1"


# ----- hostile lines in trace.jsonl ---------------------------------------------------------------------

HUGE = 50 * 1024 * 1024
DEEP = 100_000

BAD_LINES: dict[str, bytes] = {
    "nul": b"\x00" * 40,
    "control": bytes(range(1, 32)).replace(b"\n", b""),
    "non-utf8": b'{"schema_version":2,"seq":1,"payload":{"type":"\xff\xfe\xc3"}}',
    "non-utf8-raw": bytes(range(0x80, 0x100)),
    "not-json": b"hello world",
    "json-array": b"[1,2,3]",
    "json-number": b"12",
    "json-string": b'"x"',
    "json-null": b"null",
    "bom": b"\xef\xbb\xbf{}",
    "deep-arrays": b"[" * DEEP + b"]" * DEEP,
    "deep-objects": b'{"a":' * DEEP + b"1" + b"}" * DEEP,
    "huge-number": b'{"seq":' + b"9" * 5000 + b"}",
    "escape-sequences": b'"\\u001b]0;PWNED\\u0007\\u001b[2J\\u202e"',
}


@pytest.mark.parametrize("kind", sorted(BAD_LINES))
@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_bad_line_is_a_fault_at_that_line(work: Path, kind: str, where: str) -> None:
    bundle = fresh(work, "tools_terminal")
    lines = read_lines(bundle)
    at = {"first": 0, "middle": len(lines) // 2, "last": len(lines)}[where]
    write_lines(bundle, [*lines[:at], BAD_LINES[kind] + b"\n", *lines[at:]])
    outcome = check_replay(bundle, f"{kind} line at {at + 1}", prefix_key="tools_terminal", unchanged=at)
    assert outcome.fault is not None and outcome.fault.line == at + 1, outcome.fault
    assert outcome.applied == at


def test_huge_line_is_read_and_reduced(work: Path) -> None:
    """A 50 MB string in an event (an unknown field: ignored) costs time, not a crash."""
    bundle = fresh(work, "exec_basic")
    lines = read_lines(bundle)
    event = json.loads(lines[3])
    event["x_padding"] = "a" * HUGE
    lines[3] = dump_event(event)
    write_lines(bundle, lines)
    outcome = check_replay(bundle, "50 MB line")
    assert outcome.fault is None
    assert outcome.state == original_state("exec_basic")


def test_huge_torn_line_without_newline(work: Path) -> None:
    bundle = fresh(work, "exec_basic")
    lines = read_lines(bundle)[:-1]  # without recording_completed, after which any line is refused unread
    count = len(lines)
    write_lines(bundle, [*lines, b'{"x":"' + b"a" * HUGE])
    outcome = check_replay(bundle, "50 MB torn line", prefix_key="exec_basic", unchanged=count)
    assert outcome.fault is not None and "cut off" in outcome.fault.message


def test_crlf_blank_and_whitespace_lines_change_nothing(work: Path) -> None:
    bundle = fresh(work, "tools_code_mode")
    lines = read_lines(bundle)
    mangled: list[bytes] = []
    for index, line in enumerate(lines):
        mangled.append(line[:-1] + b"  \r\n" if index % 2 else line)
        if index % 5 == 0:
            mangled.append(b"\n" if index % 10 else b" \t \r\n")
    write_lines(bundle, mangled)
    outcome = check_replay(bundle, "crlf/blank lines")
    assert outcome.fault is None
    assert outcome.state == original_state("tools_code_mode")


def test_fault_lines_count_blank_lines(work: Path) -> None:
    bundle = fresh(work, "exec_basic")
    lines = read_lines(bundle)
    write_lines(bundle, [b"\n", b"\n", *lines[:4], b"garbage\n", *lines[4:]])
    outcome = check_replay(bundle, "garbage after blank lines", prefix_key="exec_basic", unchanged=4)
    assert outcome.fault is not None and outcome.fault.line == 7
    assert outcome.applied == 4


# ----- payloads -------------------------------------------------------------------------------------------


def _payload_ref(bundle: Path, event_type: str, field: str) -> tuple[int, dict[str, Any]]:
    for index, line in enumerate(read_lines(bundle)):
        event = json.loads(line)
        if event["payload"]["type"] == event_type and isinstance(event["payload"].get(field), dict):
            return index, event["payload"][field]
    raise AssertionError(f"no {event_type}.{field} in {bundle}")


def _deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def _huge_text_in(original: bytes) -> bytes:
    """The original payload with its longest string replaced by a 50 MB one (still valid, still the right shape)."""
    value = json.loads(original)
    best: list[Any] = [None, None, -1]

    def walk(node: Any) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, child in items:
            if isinstance(child, str) and len(child) > best[2]:
                best[:] = [node, key, len(child)]
            walk(child)

    walk(value)
    assert best[0] is not None
    best[0][best[1]] = "x" * HUGE
    return json.dumps(value).encode()


# name -> (new content, or an action on the payload path; whether the payload must stay valid)
PAYLOAD_MUTATIONS: dict[str, Any] = {
    "missing": "delete",
    "empty": b"",
    "whitespace": b" \n\t ",
    "invalid": b'{"input": [',
    "garbage": bytes(range(256)) * 4,
    "non-utf8": b'{"text": "\xff\xfe"}',
    "nul": b"\x00" * 64,
    "deep-arrays": _deep(DEEP),
    "deep-objects": b'{"a":' * DEEP + b"1" + b"}" * DEEP,
    "wrong-shape-huge-string": b'"' + b"y" * HUGE + b'"',
    "huge-text-field": "huge",
    "wrong-shape-list": b"[]",
    "wrong-shape-number": b"1e400",
    "wrong-shape-null": b"null",
    "directory": "mkdir",
    "fifo": "fifo",
    "symlink-to-dev-zero": "devzero",
}
# Payloads read while reducing (the fault is at the event) and ones only checked at the end of the log.
PAYLOAD_SITES = {
    "read": ("exec_basic", "inference_started", "request_payload"),
    "unread": ("exec_basic", "protocol_event_observed", "event_payload"),
}


def _mutate_payload(bundle: Path, path: str, mutation: Any) -> None:
    target = bundle / path
    original = target.read_bytes()
    target.unlink()
    if mutation == "delete":
        return
    if mutation == "mkdir":
        target.mkdir()
    elif mutation == "fifo":
        os.mkfifo(target)
    elif mutation == "devzero":
        target.symlink_to("/dev/zero")
    elif mutation == "huge":
        target.write_bytes(_huge_text_in(original))
    else:
        target.write_bytes(mutation)


@pytest.mark.parametrize("site", sorted(PAYLOAD_SITES))
@pytest.mark.parametrize("kind", sorted(PAYLOAD_MUTATIONS))
def test_bad_payload_is_a_fault_naming_it(work: Path, kind: str, site: str) -> None:
    name, event_type, field = PAYLOAD_SITES[site]
    bundle = fresh(work, name)
    index, ref = _payload_ref(bundle, event_type, field)
    _mutate_payload(bundle, ref["path"], PAYLOAD_MUTATIONS[kind])
    outcome = check_replay(bundle, f"{site} payload {kind}", prefix_key=name, unchanged=index)
    if kind == "huge-text-field" or (site == "unread" and kind.startswith("wrong-shape")):
        assert outcome.fault is None, outcome.fault  # valid JSON of a plausible shape is data, however big
        return
    assert outcome.fault is not None, kind
    if site == "read" or not kind.startswith("wrong-shape"):
        assert outcome.fault.payload_id == ref["raw_payload_id"] or ref["raw_payload_id"] in outcome.fault.message
        assert outcome.fault.line == index + 1
    if site == "read":
        assert outcome.applied == index


def _count_reads(monkeypatch: pytest.MonkeyPatch, module: Any) -> list[int]:
    """Count the bytes read through ``module.open_regular`` (one running total, in a list)."""
    total = [0]
    real_open = module.open_regular

    class Counting:
        def __init__(self, handle: Any) -> None:
            self.handle = handle

        def __getattr__(self, name: str) -> Any:
            return getattr(self.handle, name)

        def read(self, size: int = -1) -> bytes:
            data: bytes = self.handle.read(size)
            total[0] += len(data)
            return data

        def __enter__(self) -> Self:
            return self

        def __exit__(self, *exc: object) -> None:
            self.handle.close()

    monkeypatch.setattr(module, "open_regular", lambda *args, **kwargs: Counting(real_open(*args, **kwargs)))
    return total


@pytest.mark.parametrize("target", ["payload", "trace.jsonl"])
def test_sparse_multi_gigabyte_file_is_refused_without_reading_it(
    work: Path, target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 3 GB file (sparse: no disk used) is refused at a size limit, not read into memory."""
    bundle = fresh(work, "exec_basic", slot="sparse")
    if target == "payload":
        _, ref = _payload_ref(bundle, "inference_started", "request_payload")
        path = bundle / ref["path"]
    else:
        path = bundle / "trace.jsonl"
        path.write_bytes(b"".join(read_lines(bundle)[:5]) + b'{"schema_version":2,')
    with open(path, "r+b") as handle:
        handle.truncate(3 << 30)
    outcome = check_replay(bundle, f"3 GB {target}")
    assert outcome.fault is not None
    assert ("too large" if target == "payload" else "longer than") in outcome.fault.message
    strict, _ = check_cli_reduce(bundle, f"3 GB {target}")  # under a 3 GB address-space limit
    assert strict.returncode == 1
    # What the bundle picker shows reads at most one over-long line's worth, never the 3 GB.
    read = _count_reads(monkeypatch, discovery)
    info = bundle_info(bundle)
    assert read[0] <= MAX_LINE_BYTES + (16 << 20), f"bundle_info read {read[0]} bytes"
    assert info.event_count == (5 if target == "trace.jsonl" else len(read_lines(SAMPLES / "exec_basic")))


# ----- manifest and trace.jsonl themselves ----------------------------------------------------------------

MANIFEST_FIELDS = ["schema_version", "trace_id", "rollout_id", "root_thread_id", "started_at_unix_ms"]


def _manifest_variants() -> dict[str, Any]:
    base = json.loads((SAMPLES / "exec_basic" / "manifest.json").read_text())
    variants: dict[str, Any] = {
        "missing": "delete",
        "empty": b"",
        "not-json": b"manifest",
        "array": b"[]",
        "null": b"null",
        "non-utf8": b'{"schema_version": 2, "trace_id": "\xff"}',
        "deep": _deep(DEEP),
        "huge": json.dumps({**base, "x_padding": "p" * (2 << 20)}).encode(),
        "directory": "mkdir",
        "fifo": "fifo",
        "symlink-to-dev-zero": "devzero",
    }
    for field in MANIFEST_FIELDS:
        variants[f"{field}-missing"] = json.dumps({k: v for k, v in base.items() if k != field}).encode()
        for label, value in [("null", None), ("bool", True), ("float", 2.5), ("list", []), ("object", {})]:
            variants[f"{field}-{label}"] = json.dumps({**base, field: value}).encode()
    for value in [0, -1, 2**64, "2", 99]:
        variants[f"schema_version={value!r}"] = json.dumps({**base, "schema_version": value}).encode()
    variants["rollout_id-other"] = json.dumps({**base, "rollout_id": "someone-else"}).encode()
    return variants


MANIFEST_VARIANTS = _manifest_variants()


@pytest.mark.parametrize("kind", sorted(MANIFEST_VARIANTS))
def test_bad_manifest_is_a_fault_before_any_event(work: Path, kind: str) -> None:
    bundle = fresh(work, "exec_basic")
    _mutate_payload(bundle, "manifest.json", MANIFEST_VARIANTS[kind])
    outcome = check_replay(bundle, f"manifest {kind}")
    assert outcome.fault is not None, kind
    assert outcome.applied == 0
    if kind == "rollout_id-other":
        assert outcome.fault.message == "trace event belongs to another rollout"
    elif kind == "schema_version=99":
        assert outcome.fault.message == "unsupported trace event schema 2 at line 1"
    else:
        assert outcome.fault.file == "manifest.json", outcome.fault


@settings(max_examples=budget(100))
@given(garbage=st.binary(max_size=400))
def test_garbled_manifest(work: Path, garbage: bytes) -> None:
    bundle = fresh(work, "agents_minimal")
    (bundle / "manifest.json").write_bytes(garbage)
    outcome = check_replay(bundle, f"manifest {garbage[:40]!r}")
    assert outcome.fault is not None and outcome.fault.file == "manifest.json"


@pytest.mark.parametrize(
    "kind", ["missing", "empty", "blank-lines", "directory", "fifo", "symlink-to-dev-zero", "symlink-outside"]
)
def test_missing_or_empty_log(work: Path, kind: str) -> None:
    bundle = fresh(work, "exec_basic")
    log = bundle / "trace.jsonl"
    log.unlink()
    if kind == "empty":
        log.write_bytes(b"")
    elif kind == "blank-lines":
        log.write_bytes(b"\n \n\t\n")
    elif kind == "directory":
        log.mkdir()
    elif kind == "fifo":
        os.mkfifo(log)
    elif kind == "symlink-to-dev-zero":
        log.symlink_to("/dev/zero")
    elif kind == "symlink-outside":
        log.symlink_to(SAMPLES / "exec_basic" / "trace.jsonl")
    outcome = check_replay(bundle, f"trace.jsonl {kind}")
    if kind in ("empty", "blank-lines", "symlink-outside"):
        # An empty log is a trace that recorded nothing yet; the link is followed (it is the bundle's own file).
        assert outcome.fault is None
        return
    assert outcome.fault is not None and outcome.fault.file == "trace.jsonl"
    assert outcome.applied == 0


# ----- deeply nested values inside payloads -----------------------------------------------------------


def _payloads_by_kind() -> list[tuple[str, str]]:
    """(sample, payload file): the first payload of each kind (request, response, tool result…) in each sample."""
    chosen: dict[tuple[str, str], str] = {}
    for name in CLEAN_SAMPLES:
        for line in read_lines(SAMPLES / name):
            payload = json.loads(line)["payload"]
            for value in payload.values():
                for ref in value if isinstance(value, list) else [value]:
                    if isinstance(ref, dict) and "raw_payload_id" in ref:
                        chosen.setdefault((name, ref["kind"]["type"]), Path(ref["path"]).name)
    return sorted({(name, file) for (name, _), file in chosen.items()})


ALL_PAYLOADS = _payloads_by_kind()


def _nest_strings(raw: bytes, nested: bytes) -> bytes:
    """The payload with each string value (but ids and type tags) replaced by ``nested``."""
    value = json.loads(raw)
    keep = {"type", "role", "id", "call_id", "name"}

    def walk(node: Any) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, child in list(items):
            if isinstance(child, str) and key not in keep:
                node[key] = "<nested>"
            else:
                walk(child)

    walk(value)
    return json.dumps(value).encode().replace(b'"<nested>"', nested)


def test_deep_values_in_every_payload(work: Path) -> None:
    """600 levels: past serde's limit (128) and orjson's serialiser (254), below the parsers' own limits."""
    nested = b"[" * 600 + b'"x"' + b"]" * 600
    bundle = None
    for name, file in ALL_PAYLOADS:
        if bundle is None or bundle.name != name:
            bundle = fresh(work, name, slot=name)
        target = bundle / "payloads" / file
        original = target.read_bytes()
        target.write_bytes(_nest_strings(original, nested))
        check_replay(bundle, f"{name} {file} with 600-deep values")
        target.write_bytes(original)
    assert len(ALL_PAYLOADS) > 60


@settings(max_examples=budget(30))
@given(data=st.data())
def test_deep_values_of_any_depth(work: Path, data: st.DataObject) -> None:
    name, file = data.draw(st.sampled_from(ALL_PAYLOADS), label="payload")
    levels = data.draw(st.sampled_from([127, 128, 129, 255, 1023, 1025, 9_999, 10_001]), label="levels")
    opener, closer = data.draw(st.sampled_from([(b"[", b"]"), (b'{"k":', b"}")]), label="kind")
    bundle = fresh(work, name)
    target = bundle / "payloads" / file
    target.write_bytes(_nest_strings(target.read_bytes(), opener * levels + b"1" + closer * levels))
    check_replay(bundle, f"{name} {file} with {levels}-deep {opener!r} values")


# ----- payload paths that leave the bundle ------------------------------------------------------------

SECRET = "SENTINEL-never-read-7f3a"
ESCAPES = [
    "../../etc/passwd",
    "/etc/passwd",
    "../outside/secret.json",
    "payloads/../../outside/secret.json",
    "payloads/./../../outside/secret.json",
    "..\\outside\\secret.json",
    "<absolute sentinel>",
    "<symlinked file>",
    "<symlinked directory>",
]


@pytest.fixture()
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every path opened (os.open, builtins.open, io.open), resolved."""
    paths: list[str] = []
    real_os_open = os.open
    real_open = open

    def spy_os_open(path: Any, *args: Any, **kwargs: Any) -> int:
        paths.append(os.path.realpath(path))
        return real_os_open(path, *args, **kwargs)

    def spy_open(path: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(path, (str, bytes, os.PathLike)):
            paths.append(os.path.realpath(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy_os_open)
    monkeypatch.setattr("builtins.open", spy_open)
    monkeypatch.setattr(io, "open", spy_open)  # what pathlib uses
    return paths


def _escape_bundle(work: Path, site: str, escape: str) -> tuple[Path, Path, dict[str, Any]]:
    """A bundle whose ``site`` payload ref points outside it; returns (bundle, sentinel, ref)."""
    name, event_type, field = PAYLOAD_SITES[site]
    bundle = fresh(work, name, slot="escape/bundle")
    outside = work / "escape" / "outside"
    outside.mkdir(exist_ok=True)
    sentinel = outside / "secret.json"
    sentinel.write_text(json.dumps({"secret": SECRET, "input": [], "output_items": []}))
    lines = read_lines(bundle)
    index, ref = _payload_ref(bundle, event_type, field)
    if escape == "<symlinked file>":
        (bundle / ref["path"]).unlink()
        (bundle / ref["path"]).symlink_to(sentinel)
        return bundle, sentinel, ref
    if escape == "<symlinked directory>":
        (outside / Path(ref["path"]).name).symlink_to(sentinel)
        for payload in (bundle / "payloads").iterdir():
            payload.unlink()
        (bundle / "payloads").rmdir()
        (bundle / "payloads").symlink_to(outside)
        return bundle, sentinel, ref
    path = str(sentinel) if escape == "<absolute sentinel>" else escape
    event = json.loads(lines[index])
    event["payload"][field] = {**ref, "path": path}
    lines[index] = dump_event(event)
    write_lines(bundle, lines)
    return bundle, sentinel, {**ref, "path": path}


@pytest.mark.parametrize("site", sorted(PAYLOAD_SITES))
@pytest.mark.parametrize("escape", ESCAPES)
def test_payload_path_leaving_the_bundle_is_refused_unread(
    work: Path, escape: str, site: str, opened: list[str]
) -> None:
    bundle, sentinel, ref = _escape_bundle(work, site, escape)
    opened.clear()  # what the set-up wrote; from here on, only what replay opens
    outcome = check_replay(bundle, f"{site} payload at {escape}")
    assert opened  # the spy sees the product's reads
    assert outcome.fault is not None, escape
    assert "refused" in outcome.fault.message, outcome.fault
    if escape != "<symlinked directory>":  # then the first payload read is the one refused
        assert outcome.fault.payload_id == ref["raw_payload_id"]
    forbidden = {os.path.realpath(sentinel), os.path.realpath("/etc/passwd")}
    assert not forbidden & set(opened), "a payload outside the bundle was opened"
    assert SECRET not in json.dumps(outcome.state)


def test_payload_path_refusal_from_the_command_line(work: Path) -> None:
    bundle, _, _ = _escape_bundle(work, "read", "../outside/secret.json")
    strict, state = check_cli_reduce(bundle, "payload path ../outside/secret.json")
    assert strict.returncode == 1 and b"refused payload path" in strict.stderr
    assert SECRET.encode() not in strict.stdout + strict.stderr
    assert SECRET not in json.dumps(state)


# ----- the command line, on a representative subset ---------------------------------------------------


def _cli_mutations() -> dict[str, Any]:
    """name -> (sample, function mutating a fresh copy of it)."""

    def lines_edit(edit: Any) -> Any:
        def apply(bundle: Path) -> None:
            write_lines(bundle, edit(read_lines(bundle)))

        return apply

    def payload(site: str, kind: str) -> Any:
        def apply(bundle: Path) -> None:
            _, ref = _payload_ref(bundle, *PAYLOAD_SITES[site][1:])
            _mutate_payload(bundle, ref["path"], PAYLOAD_MUTATIONS[kind])

        return apply

    def manifest(kind: str) -> Any:
        return lambda bundle: _mutate_payload(bundle, "manifest.json", MANIFEST_VARIANTS[kind])

    def log(content: Any) -> Any:
        def apply(bundle: Path) -> None:
            (bundle / "trace.jsonl").unlink()
            if content == "fifo":
                os.mkfifo(bundle / "trace.jsonl")
            elif content is not None:
                (bundle / "trace.jsonl").write_bytes(content)

        return apply

    def flip(bundle: Path) -> None:
        raw = bytearray((bundle / "trace.jsonl").read_bytes())
        for position in range(97, len(raw), 997):
            raw[position] ^= 0x5A
        (bundle / "trace.jsonl").write_bytes(bytes(raw))

    def wrong_type(bundle: Path) -> None:
        lines = read_lines(bundle)
        event = json.loads(lines[5])
        event["payload"] = {**event["payload"], "thread_id": [1, {"x": None}]}
        event["wall_time_unix_ms"] = "yesterday"
        lines[5] = dump_event(event)
        write_lines(bundle, lines)

    def unknown(schema: int) -> Any:
        def apply(bundle: Path) -> None:
            if schema == 4:
                _as_schema(bundle, 4)
            lines = read_lines(bundle)
            write_lines(bundle, _renumbered(lines, 7, [_unknown_event(json.loads(lines[7]), "warp_drive_engaged")]))

        return apply

    def schema4(bundle: Path) -> None:
        _as_schema(bundle, 4)

    return {
        "torn last line": ("tools_terminal", lines_edit(lambda lines: [*lines[:-1], lines[-1][:40]])),
        "torn middle": ("tools_terminal", lines_edit(lambda lines: [*lines[:20], lines[20][:33]])),
        "byte flips": ("tools_code_mode", flip),
        "deleted line": ("agents_minimal", lines_edit(lambda lines: lines[:10] + lines[11:])),
        "duplicated line": ("agents_minimal", lines_edit(lambda lines: lines[:10] + lines[9:])),
        "swapped lines": (
            "compaction_local_manual",
            lines_edit(lambda lines: [*lines[:3], lines[4], lines[3], *lines[5:]]),
        ),
        "wrong types": ("exec_basic", wrong_type),
        "unknown event, schema 2": ("exec_basic", unknown(2)),
        "unknown event, schema 4": ("schema3_exec_basic", unknown(4)),
        "schema 4": ("schema3_compaction_remote_midturn", schema4),
        "NUL line": ("exec_basic", lines_edit(lambda lines: [*lines[:4], b"\x00\x00\x00\n", *lines[4:]])),
        "control line": (
            "exec_basic",
            lines_edit(lambda lines: [*lines[:4], BAD_LINES["control"] + b"\n", *lines[4:]]),
        ),
        "non-UTF-8 line": (
            "exec_basic",
            lines_edit(lambda lines: [*lines[:4], BAD_LINES["non-utf8"] + b"\n", *lines[4:]]),
        ),
        "deep line": (
            "exec_basic",
            lines_edit(lambda lines: [*lines[:4], BAD_LINES["deep-objects"] + b"\n", *lines[4:]]),
        ),
        "payload missing": ("exec_basic", payload("read", "missing")),
        "payload empty": ("exec_basic", payload("read", "empty")),
        "payload invalid": ("exec_basic", payload("unread", "invalid")),
        "payload non-UTF-8": ("exec_basic", payload("read", "non-utf8")),
        "payload 50 MB string": ("exec_basic", payload("read", "huge-text-field")),
        "payload 100 000 deep": ("exec_basic", payload("read", "deep-objects")),
        "payload FIFO": ("exec_basic", payload("read", "fifo")),
        "manifest missing": ("exec_basic", manifest("missing")),
        "manifest garbled": ("exec_basic", manifest("not-json")),
        "manifest deep": (
            "exec_basic",
            lambda bundle: (bundle / "manifest.json").write_bytes(BAD_LINES["deep-objects"]),
        ),
        "manifest FIFO": ("exec_basic", manifest("fifo")),
        "trace.jsonl missing": ("exec_basic", log(None)),
        "trace.jsonl empty": ("exec_basic", log(b"")),
        "trace.jsonl FIFO": ("exec_basic", log("fifo")),
    }


CLI_MUTATIONS = _cli_mutations()


@pytest.mark.parametrize("mutation", sorted(CLI_MUTATIONS))
def test_cli_reduce_on_hostile_bundles(work: Path, mutation: str) -> None:
    name, mutate = CLI_MUTATIONS[mutation]
    bundle = fresh(work, name, slot="cli")
    mutate(bundle)
    in_process = check_replay(bundle, mutation)
    strict, _ = check_cli_reduce(bundle, mutation)
    assert (strict.returncode == 1) == (in_process.fault is not None), (mutation, strict.stderr)
    if mutation.startswith(("schema 4", "unknown event, schema 4")):
        assert b"warning: trace schema 4" in strict.stderr


@pytest.mark.parametrize("mutation", ["torn middle", "payload missing", "manifest garbled", "schema 4", "deep line"])
def test_cli_summary_and_context_on_hostile_bundles(work: Path, mutation: str) -> None:
    name, mutate = CLI_MUTATIONS[mutation]
    bundle = fresh(work, name, slot="cli")
    mutate(bundle)
    for args in (["summary", str(bundle)], ["context", str(bundle), "--seq", "12", "--format", "text"]):
        result = run_cli(*args)
        assert result.returncode in (0, 1), (args, result.stderr)
        assert b"Traceback" not in result.stderr
        for line in result.stderr.decode().splitlines():
            assert line.startswith("trace-viewer: "), line
        if result.returncode == 1:
            assert len(result.stderr.splitlines()) == 1


# ----- the app, on a representative subset -------------------------------------------------------------

APP_MUTATIONS = [
    "torn middle",
    "deleted line",
    "wrong types",
    "unknown event, schema 2",
    "unknown event, schema 4",
    "non-UTF-8 line",
    "payload missing",
    "payload invalid",
    "payload 50 MB string",
    "payload 100 000 deep",
    "manifest missing",
    "manifest garbled",
    "trace.jsonl missing",
    "trace.jsonl empty",
]
APP_KEYS = ["end", "home", "l", "right_square_bracket", "i", "G", "h"]


@pytest.mark.parametrize("mutation", APP_MUTATIONS)
def test_app_opens_hostile_bundles_and_shows_the_fault(work: Path, mutation: str) -> None:
    name, mutate = CLI_MUTATIONS[mutation]
    bundle = fresh(work, name, slot="app")
    mutate(bundle)
    fault = check_replay(bundle, mutation).fault
    _, screens = run_app(bundle, mutation, APP_KEYS, frames=False)
    first = screens[0].text
    if fault is None:
        assert "fault" not in screens[0].lines[0], first
        return
    # Where it happened, on the first screen: the file, and the line when there is one.
    assert fault.file in first, first
    if fault.line is not None:
        assert f"line {fault.line}" in first, first


@pytest.mark.parametrize("levels", [300, 1_020])
def test_app_inspects_deeply_nested_events_and_payloads(work: Path, levels: int) -> None:
    """Nesting past orjson's serialiser (254) and Python's recursion limit, just under the parser's 1024."""
    bundle = fresh(work, "exec_basic", slot="app")
    nested = b"[" * levels + b"]" * levels
    lines = read_lines(bundle)
    index, ref = _payload_ref(bundle, "inference_started", "request_payload")
    event = json.loads(lines[index])
    event["x_nested"] = "<nested>"
    lines[index] = dump_event(event).replace(b'"<nested>"', nested)
    write_lines(bundle, lines)
    payload = json.loads((bundle / ref["path"]).read_bytes())
    payload["x_nested"] = "<nested>"
    (bundle / ref["path"]).write_bytes(json.dumps(payload).encode().replace(b'"<nested>"', nested))
    assert check_replay(bundle, f"{levels} levels").fault is None
    _, screens = run_app(bundle, f"{levels} levels", ["colon", *str(index + 1), "enter", "i", "end", "home"])
    assert "Inspector" in screens[4].text


def _newer_schema_with_unknown_event(work: Path) -> tuple[Path, int]:
    bundle = fresh(work, "schema3_exec_basic", slot="app")
    CLI_MUTATIONS["unknown event, schema 4"][1](bundle)
    return bundle, 8  # the seq of the inserted event


def test_app_shows_skipped_unknown_events_raw(work: Path) -> None:
    bundle, seq = _newer_schema_with_unknown_event(work)
    _, screens = run_app(bundle, "schema 4 unknown event", ["colon", *str(seq), "enter", "i"])
    last = screens[-1].text
    assert f"#{seq} warp_drive_engaged" in last, last
    assert '"type": "warp_drive_engaged"' in last, last  # the inspector shows the raw event


def test_app_shows_the_newer_schema_warning(work: Path) -> None:
    bundle, _ = _newer_schema_with_unknown_event(work)
    _, screens = run_app(bundle, "schema 4 warning", [])
    assert "schema 4" in screens[0].text, screens[0].text


def _buggy_handler(self: ToolsReducer, envelope: Any, payload: Any) -> None:
    """A handler with a bug of ours in it (what issue 12 found reported as a fault of the trace)."""
    raise AttributeError("'NoneType' object has no attribute 'thread_id' (injected)")


def test_a_bug_in_a_handler_fails_the_no_internal_error_checks(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The invariant is real: a bug of ours is caught as ours by the in-process and the app checks."""
    bundle = fresh(work, "tools_terminal", slot="bug")
    before = STATS.copy()
    try:
        with monkeypatch.context() as patch:
            patch.setattr(ToolsReducer, "tool_call_started", _buggy_handler)
            with pytest.raises(AssertionError, match="internal error AttributeError"):
                check_replay(bundle, "handler bug")
            with pytest.raises(AssertionError, match="internal error AttributeError"):
                run_app(bundle, "handler bug", [], frames=False)
        assert STATS["crashes"] == before["crashes"] + 2
        # Without the bug the same bundle passes both.
        assert check_replay(bundle, "no bug").fault is None
        run_app(bundle, "no bug", [], frames=False)
    finally:
        injected = STATS - before
        for key in ("crashes", "mutations", "app_runs"):
            STATS[key] -= injected[key]


def test_mutation_counts_are_reported(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The counters behind the session summary count what they claim, whatever ran before.

    Two honest mutations count as two and crash nothing; an injected exception, a bug injected
    into a reducer handler (an internal error) and a hang each fail the check and are counted. The
    injected ones are taken out again afterwards, so the summary reports only real mutations.
    """
    import hostile_helpers

    before = STATS.copy()
    bundle = fresh(work, "exec_basic", slot="counts")
    assert check_replay(bundle, "unmutated").fault is None
    lines = read_lines(bundle)
    write_lines(bundle, [*lines[:2], *lines[3:]])  # a seq gap: a fault of the trace, not a crash
    assert check_replay(bundle, "gap").fault.line == 3
    assert STATS["mutations"] - before["mutations"] == 2
    assert (STATS["crashes"], STATS["hangs"]) == (before["crashes"], before["hangs"])

    real_replay = hostile_helpers.replay_bundle

    def raising(path: Path) -> Any:
        raise RuntimeError("injected")

    def internal(path: Path, **options: Any) -> Any:
        with monkeypatch.context() as patch:
            patch.setattr(ToolsReducer, "tool_call_started", _buggy_handler)
            return real_replay(path, **options)

    def hanging(path: Path) -> Any:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # a loop burning CPU time, as a runaway reducer would
            pass
        return real_replay(path)

    try:
        monkeypatch.setattr(hostile_helpers, "replay_bundle", raising)
        with pytest.raises(AssertionError, match="replay raised RuntimeError: injected"):
            check_replay(bundle, "injected exception")
        assert STATS["crashes"] == before["crashes"] + 1
        monkeypatch.setattr(hostile_helpers, "replay_bundle", internal)
        with pytest.raises(AssertionError, match="internal error AttributeError"):
            check_replay(fresh(work, "exec_basic", slot="counts-bug"), "injected internal error")
        assert STATS["crashes"] == before["crashes"] + 2
        monkeypatch.setattr(hostile_helpers, "replay_bundle", hanging)
        monkeypatch.setattr(hostile_helpers, "REPLAY_SECONDS", 0.1)
        with pytest.raises(AssertionError, match="did not finish"):
            check_replay(bundle, "injected hang")
        assert STATS["hangs"] == before["hangs"] + 1
        assert STATS["mutations"] - before["mutations"] == 5
    finally:
        injected = STATS - before
        for key in ("crashes", "hangs"):
            STATS[key] -= injected[key]
        STATS["mutations"] -= injected["mutations"] - 2
