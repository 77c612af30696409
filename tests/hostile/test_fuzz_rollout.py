"""Hostile session rollouts: whatever is broken, reading stops calmly at a fault naming file and line.

Every mutation runs on a private copy of a sample rollout and must keep ``check_rollout``'s
invariant: no exception escapes reading, rebuilding the calls, rendering them or listing the
session; a fault is one line naming the file (and the line, when it is about one); every line
before the fault is kept, unchanged. Where the outcome is predictable (a torn last line, garbage
at line N, a missing session_meta, an unknown type kept raw) the test asserts it too.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from hostile_helpers import STATS, Hang, budget, run_cli, time_limit
from hypothesis import given, settings
from hypothesis import strategies as st

from trace_viewer import calls as calls_module
from trace_viewer.rollout import Rollout, read_rollout, rebuild_calls
from trace_viewer.rollout import log as log_module
from trace_viewer.rollout.sessions import session_info
from trace_viewer.rollout_session import RolloutSession
from trace_viewer.text import one_line

# The suite-wide Hypothesis profile (tests/conftest.py), 100 examples a test (more when exploring).
HOSTILE = settings(max_examples=budget(100))
REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "sample_traces" / "rollouts"
SOURCES = sorted(SAMPLES.rglob("rollout-*.jsonl"))
SECONDS = 10.0
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rollout-fuzz")


def source_lines(index: int) -> list[bytes]:
    return SOURCES[index % len(SOURCES)].read_bytes().splitlines(keepends=True)


def write(work: Path, data: bytes, index: int = 0) -> Path:
    """The mutated file, alone in a fresh folder: a session also reads the other threads' files
    beside it, so a file left by an earlier example (of any test) must not be there."""
    folder = work / "case"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    path = folder / SOURCES[index % len(SOURCES)].name
    path.write_bytes(data)
    return path


def check_rollout(path: Path, label: str) -> Rollout:
    """Read, rebuild, render and list one mutated file; nothing may escape, faults must be clean."""
    STATS["mutations"] += 1
    try:
        with time_limit(SECONDS):
            rollout = read_rollout(path)
            if rollout.meta is not None:
                rebuilt = rebuild_calls(rollout.meta, rollout.lines)
                calls_module.to_text(calls_module.rollout_calls(path).calls)
                calls_module.to_json(calls_module.rollout_calls(path).calls)
                assert len(rebuilt) == len(calls_module.rollout_calls(path).calls)
            info = session_info(path)
            session = RolloutSession(path)
            session.load_all()
            if session.replay.internal_error is not None:
                raise session.replay.internal_error
            session.reducer.state_json()
            for thread_id in session.rollout.threads:
                session.context_at(thread_id, session.total)
    except Hang:
        STATS["hangs"] += 1
        raise AssertionError(f"{label}: did not finish within {SECONDS}s") from None
    except AssertionError:
        raise
    except BaseException as error:
        STATS["crashes"] += 1
        raise AssertionError(f"{label}: raised {type(error).__name__}: {error}") from error
    fault = rollout.fault
    if fault is not None:
        text = str(fault)
        assert fault.message and "\n" not in one_line(text), label
        assert fault.file == str(path), label
        if fault.line is not None:
            assert all(line.line < fault.line for line in rollout.lines), f"{label}: a line after the fault was kept"
        assert info.status in ("broken", "empty", "completed", "running", "incomplete", "interrupted", "failed")
    return rollout


def test_every_sample_reads_cleanly() -> None:
    assert len(SOURCES) >= 7
    for source in SOURCES:
        rollout = read_rollout(source)
        assert rollout.fault is None and not rollout.warnings, source


# ----- torn, garbage, huge ------------------------------------------------------------------------


@HOSTILE
@given(index=st.integers(0, 100), cut=st.floats(0.0, 1.0))
def test_cut_anywhere(work: Path, index: int, cut: float) -> None:
    data = b"".join(source_lines(index))
    at = int(len(data) * cut)
    rollout = check_rollout(write(work, data[:at], index), f"cut at {at}")
    kept = data[:at].count(b"\n")
    torn = 0 < at < len(data) and data[at - 1 : at] != b"\n"
    if torn and data[at : at + 1] == b"\n":
        # Cut just before a newline: the last line is whole. Codex reads it as a line (its reader
        # splits lines without requiring the last newline), and so does a final read here.
        assert rollout.fault is None or "session_meta" in rollout.fault.message, rollout.fault
        assert len(rollout.lines) == kept + 1 or rollout.meta is None
    elif torn:
        assert rollout.fault is not None and rollout.fault.line == kept + 1
        assert rollout.fault.message.startswith("last line is cut off") or "session_meta" in rollout.fault.message
        assert len(rollout.lines) == kept or rollout.meta is None
    else:
        assert rollout.fault is None or "session_meta" in rollout.fault.message, rollout.fault
        assert len(rollout.lines) == kept or rollout.meta is None


def test_a_whole_last_line_without_its_newline() -> None:
    """Read as final, it is a line (as Codex reads it); followed, it waits for its newline, which a
    live writer writes with the line (one write of line + newline)."""
    from trace_viewer.rollout import RolloutReader

    data = b"".join(source_lines(0))
    work = Path(tempfile.mkdtemp(prefix="rollout-nl-"))
    try:
        path = work / SOURCES[0].name
        path.write_bytes(data[:-1])
        whole = read_rollout(path)
        assert whole.fault is None and len(whole.lines) == data.count(b"\n")
        live = RolloutReader(path)
        assert len(live.read_new()) == data.count(b"\n") - 1 and live.pending_bytes > 0 and live.fault is None
        with path.open("ab") as handle:
            handle.write(b"\n")
        assert len(live.read_new()) == 1 and live.pending_bytes == 0
    finally:
        shutil.rmtree(work)


@HOSTILE
@given(index=st.integers(0, 100), position=st.floats(0.0, 1.0), junk=st.binary(min_size=1, max_size=64))
def test_garbage_line_anywhere(work: Path, index: int, position: float, junk: bytes) -> None:
    lines = source_lines(index)
    at = int(len(lines) * position)
    junk = junk.replace(b"\n", b" ")
    rollout = check_rollout(write(work, b"".join(lines[:at] + [junk + b"\n"] + lines[at:]), index), f"junk {junk!r}")
    try:
        valid = isinstance(json.loads(junk), dict)
    except ValueError:
        valid = False
    if not valid and junk.strip():
        assert rollout.fault is not None and rollout.fault.line == at + 1, rollout.fault


def test_sparse_zeros_and_a_huge_line_are_bounded(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(log_module, "MAX_ROLLOUT_LINE_BYTES", 1 << 20)
    lines = source_lines(0)
    # Longer than the 4 MiB read chunk, so the bound is hit before the whole line is held.
    for tail in (b"\0" * (9 << 20), b'{"type": "response_item", "payload": "' + b"x" * (9 << 20)):
        started = time.perf_counter()
        rollout = check_rollout(write(work, b"".join(lines[:5]) + tail), "huge")
        assert rollout.fault is not None and rollout.fault.line == 6
        assert "longer than 1 MiB" in rollout.fault.message
        assert time.perf_counter() - started < SECONDS


def test_deep_nesting_is_a_fault_not_a_crash(work: Path) -> None:
    lines = source_lines(1)
    deep = b'{"type":"response_item","payload":{"type":"message","content":' + b"[" * 200_000 + b"]" * 200_000 + b"}}\n"
    rollout = check_rollout(write(work, b"".join(lines[:3]) + deep, 1), "deep")
    assert rollout.fault is not None and rollout.fault.line == 4


# ----- structure ----------------------------------------------------------------------------------


def test_missing_session_meta(work: Path) -> None:
    for index in range(len(SOURCES)):
        # Every session_meta line (a forked child's second one is its parent's).
        lines = [line for line in source_lines(index) if b'"type":"session_meta"' not in line[:80]]
        rollout = check_rollout(write(work, b"".join(lines), index), "no session_meta")
        assert rollout.fault is not None and rollout.fault.line == 1
        assert "session_meta" in rollout.fault.message and rollout.lines == []


@HOSTILE
@given(
    index=st.integers(0, 100),
    position=st.floats(0.0, 1.0),
    kind=st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12),
    payload=JSON_VALUES,
)
def test_unknown_line_types_are_kept_raw(work: Path, index: int, position: float, kind: str, payload: Any) -> None:
    from trace_viewer.rollout.records import LINE_TYPES

    lines = source_lines(index)
    at = max(1, int(len(lines) * position))
    extra = json.dumps({"timestamp": "t", "type": f"x_{kind}", "payload": payload}).encode() + b"\n"
    rollout = check_rollout(write(work, b"".join(lines[:at] + [extra] + lines[at:]), index), f"type {kind}")
    assert f"x_{kind}" not in LINE_TYPES
    assert rollout.fault is None, rollout.fault
    assert [str(w) for w in rollout.warnings] == [f"line {at + 1}: unknown x_{kind} kept raw"]
    original = read_rollout(SOURCES[index % len(SOURCES)])
    assert original.meta is not None and rollout.meta is not None
    # A line that is not part of the model history changes no call.
    got = [(c.kind, c.response_id, c.input) for c in rebuild_calls(rollout.meta, rollout.lines)]
    want = [(c.kind, c.response_id, c.input) for c in rebuild_calls(original.meta, original.lines)]
    assert got == want


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for position, child in enumerate(value[:6]):
            found += _paths(child, (*prefix, position))
    return found


@HOSTILE
@given(index=st.integers(0, 100), line_pick=st.integers(0, 10_000), path_pick=st.integers(0, 10_000), value=JSON_VALUES)
def test_any_field_of_any_line_with_any_value(
    work: Path, index: int, line_pick: int, path_pick: int, value: Any
) -> None:
    """Wrong field types anywhere (metadata, payload, replacement history…): a clean fault or a calm result."""
    lines = source_lines(index)
    at = line_pick % len(lines)
    _mutate_and_check(work, index, at, lambda path: len(path) >= 1, path_pick, value)


def _mutate_and_check(work: Path, index: int, at: int, keep: Any, path_pick: int, value: Any) -> None:
    """Set one field (picked among the paths ``keep`` accepts) of line ``at`` to ``value`` and check."""
    lines = source_lines(index)
    record = json.loads(lines[at])
    paths = [path for path in _paths(record) if keep(path)]
    target = paths[path_pick % len(paths)]
    holder = record
    for step in target[:-1]:
        holder = holder[step]
    holder[target[-1]] = value
    mutated = json.dumps(record).encode() + b"\n"
    rollout = check_rollout(
        write(work, b"".join(lines[:at] + [mutated] + lines[at + 1 :]), index), f"{target}={value!r}"
    )
    if rollout.fault is not None:
        assert rollout.fault.line == at + 1, (target, value, rollout.fault)


HISTORY_LINES = ("compacted", "response_item", "token_usage_record", "session_meta")


@HOSTILE
@given(pick=st.integers(0, 10_000), path_pick=st.integers(0, 10_000), value=JSON_VALUES)
def test_history_lines_with_any_value_anywhere(work: Path, pick: int, path_pick: int, value: Any) -> None:
    """The lines the rebuild reads (history items, replacement histories, usage), mutated at any depth."""
    candidates = [
        (index, at)
        for index in range(len(SOURCES))
        for at, raw in enumerate(source_lines(index))
        if json.loads(raw)["type"] in HISTORY_LINES
    ]
    index, at = candidates[pick % len(candidates)]
    _mutate_and_check(
        work, index, at, lambda path: len(path) >= 2 and path[0] in ("payload", "metadata"), path_pick, value
    )


def test_unhashable_and_odd_ids_in_a_replacement_history(work: Path) -> None:
    index = next(i for i, source in enumerate(SOURCES) if b'"type":"compacted"' in source.read_bytes())
    lines = source_lines(index)
    at = next(i for i, raw in enumerate(lines) if json.loads(raw)["type"] == "compacted")
    record = json.loads(lines[at])
    record["payload"]["replacement_history"] += [
        {"type": "function_call", "call_id": ["x"]},
        {"type": "function_call_output", "call_id": {"a": 1}},
        {"type": "custom_tool_call"},
        {"type": None, "role": []},
    ]
    mutated = json.dumps(record).encode() + b"\n"
    rollout = check_rollout(write(work, b"".join(lines[:at] + [mutated] + lines[at + 1 :]), index), "odd ids")
    assert rollout.fault is None and rollout.meta is not None  # valid JSON types where it matters: rebuilt


@HOSTILE
@given(index=st.integers(0, 100), seed=st.integers(0, 2**32))
def test_shuffled_and_duplicated_lines(work: Path, index: int, seed: int) -> None:
    lines = source_lines(index)
    rng = random.Random(seed)
    body = lines[1:]
    rng.shuffle(body)
    body += rng.sample(body, min(5, len(body)))
    rollout = check_rollout(write(work, b"".join([lines[0], *body]), index), f"shuffle {seed}")
    assert rollout.fault is None


def test_not_utf8_and_binary_noise(work: Path) -> None:
    lines = source_lines(2)
    for noise in (
        b"\xff\xfe\xfd\n",
        b'{"type": "event_msg", "payload": {"type": "x\xc3"}}\n',
        bytes(range(256)) + b"\n",
    ):
        rollout = check_rollout(write(work, b"".join(lines[:4]) + noise + b"".join(lines[4:]), 2), repr(noise[:10]))
        assert rollout.fault is not None and rollout.fault.line == 5


# ----- the command line ---------------------------------------------------------------------------


def test_cli_calls_on_broken_rollouts_is_one_line(work: Path) -> None:
    lines = source_lines(0)
    cases = {
        "torn": b"".join(lines)[:-17],
        "garbage": b"".join(lines[:3]) + b"\x00\x01garbage\n" + b"".join(lines[3:]),
        "no-meta": b"".join(lines[1:]),
        "empty": b"",
        "wrong-type": b"".join(lines[:3]) + b'{"type": "token_usage_record", "payload": {"response_id": []}}\n',
    }
    for label, data in cases.items():
        path = write(work, data)
        for form in ("text", "json"):
            result = run_cli("calls", str(path), "--format", form)
            err = result.stderr.decode("utf-8", "replace")
            assert result.returncode == 1, (label, err)
            assert "Traceback" not in err and "internal error" not in err, (label, err)
            assert err.splitlines()[-1].startswith(f"trace-viewer: {path}"), (label, err)
            if form == "json":
                json.loads(result.stdout)
