"""Reading rollout files: incremental, torn tails, faults with file and line, unknown content kept raw."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from rollout_helpers import SAMPLES, rollout_files

from trace_viewer.rollout import RolloutReader, read_rollout, rebuild_calls
from trace_viewer.rollout import log as log_module
from trace_viewer.rollout.rebuild import (
    LOCAL_COMPACTION_PROMPT,
    NOTE_ABORTED,
    NOTE_COMPACTION_PROMPT,
    strip_plan_tool_passages,
    with_aborted_outputs,
)

EXEC_BASIC = rollout_files(SAMPLES / "exec_basic")[0]
THREAD = "01a23346-0000-7000-8000-000000000001"


def record(kind: str, payload: dict[str, Any], ordinal: int = 0, **extra: Any) -> bytes:
    data = {"timestamp": "2026-12-01T20:00:00.000Z", "ordinal": ordinal, "type": kind, "payload": payload, **extra}
    return json.dumps(data).encode() + b"\n"


def meta(**fields: Any) -> bytes:
    payload = {"id": THREAD, "session_id": THREAD, "cwd": "/w", "base_instructions": {"text": "Base."}, **fields}
    return record("session_meta", payload)


def item(payload: dict[str, Any], sequence: int | None, sampled: int | None, ordinal: int = 1, **md: Any) -> bytes:
    metadata: dict[str, Any] = {"history_sequence": sequence, "sampled_through_sequence": sampled, **md}
    return record("response_item", payload, ordinal, metadata=metadata)


def user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


# ----- reading -----------------------------------------------------------------------------------


def test_sample_reads_to_the_end_without_fault_or_warning() -> None:
    rollout = read_rollout(EXEC_BASIC)
    assert rollout.fault is None and rollout.warnings == []
    assert rollout.meta is not None and rollout.meta.thread_id in EXEC_BASIC.name
    assert [line.line for line in rollout.lines] == list(range(1, 27))
    assert [line.ordinal for line in rollout.lines] == list(range(26))
    assert rollout.lines[2].metadata is not None and rollout.lines[2].metadata.history_sequence == 1


def test_lines_are_read_incrementally_and_a_torn_tail_waits(tmp_path: Path) -> None:
    path = tmp_path / "rollout-x.jsonl"
    data = EXEC_BASIC.read_bytes()
    cut = data.index(b"\n", len(data) // 2) + 1
    path.write_bytes(data[: cut + 40])  # a complete prefix and 40 bytes of the next line
    reader = RolloutReader(path)
    first = reader.read_new()
    assert reader.fault is None and reader.pending_bytes == 40
    assert reader.offset == cut
    assert reader.read_new() == []  # nothing new: the torn line still waits
    with path.open("ab") as handle:
        handle.write(data[cut + 40 :])
    rest = reader.read_new()
    assert reader.fault is None and reader.pending_bytes == 0
    assert [line.line for line in first + rest] == [line.line for line in read_rollout(EXEC_BASIC).lines]
    assert rest[0].offset == cut


def test_torn_last_line_is_a_fault_when_final(tmp_path: Path) -> None:
    path = tmp_path / "rollout-torn.jsonl"
    data = EXEC_BASIC.read_bytes()
    path.write_bytes(data[:-30])
    rollout = read_rollout(path)
    assert rollout.fault is not None
    assert rollout.fault.line == 26 and rollout.fault.file == str(path)
    assert "last line is cut off" in rollout.fault.message
    assert len(rollout.lines) == 25  # the prefix is kept
    assert str(rollout.fault).startswith(f"{path} line 26: ")


def test_garbage_line_stops_reading_and_keeps_the_prefix(tmp_path: Path) -> None:
    path = tmp_path / "rollout-garbage.jsonl"
    lines = EXEC_BASIC.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:5]) + b"{not json\n" + b"".join(lines[5:]))
    rollout = read_rollout(path)
    assert rollout.fault is not None and rollout.fault.line == 6
    assert "cannot parse line" in rollout.fault.message
    assert len(rollout.lines) == 5


def test_first_line_must_be_session_meta(tmp_path: Path) -> None:
    path = tmp_path / "rollout-nometa.jsonl"
    path.write_bytes(record("event_msg", {"type": "task_started", "turn_id": "t"}))
    rollout = read_rollout(path)
    assert rollout.fault is not None and rollout.fault.line == 1
    assert "not a Codex session rollout" in rollout.fault.message and "session_meta" in rollout.fault.message


def test_empty_file_is_a_fault(tmp_path: Path) -> None:
    path = tmp_path / "rollout-empty.jsonl"
    path.write_bytes(b"\n\n")
    rollout = read_rollout(path)
    assert rollout.fault is not None and "no session_meta" in rollout.fault.message


@pytest.mark.parametrize(
    ("line", "field"),
    [
        (record("response_item", {"type": 5}), "response_item.payload.type"),
        (record("response_item", {"type": "message", "role": 3}), "response_item message.role"),
        (record("token_usage_record", {"response_id": 7}), "token_usage_record.payload.response_id"),
        (record("compacted", {"replacement_history": {"a": 1}}), "compacted.payload.replacement_history"),
        (record("compacted", {"replacement_history": [1]}), "replacement_history[0]"),
        (record("event_msg", {"type": "task_started", "turn_id": ["x"]}), "event_msg task_started.turn_id"),
        (record("turn_context", {"model": {}}), "turn_context.payload.model"),
        (record("response_item", user("x"), metadata={"history_sequence": "1"}), "metadata.history_sequence"),
        (record("event_msg", "text"), "payload is a string"),
        (json.dumps({"type": "event_msg", "ordinal": "3", "payload": {}}).encode() + b"\n", "line.ordinal"),
        (b"[1, 2]\n", "not a JSON object"),
    ],
)
def test_wrong_field_types_are_faults_naming_the_field(tmp_path: Path, line: bytes, field: str) -> None:
    path = tmp_path / "rollout-types.jsonl"
    path.write_bytes(meta() + line)
    rollout = read_rollout(path)
    assert rollout.fault is not None and rollout.fault.line == 2, rollout.fault
    assert field in rollout.fault.message
    assert len(rollout.lines) == 1


def test_wrong_session_meta_id_type_is_a_fault(tmp_path: Path) -> None:
    path = tmp_path / "rollout-meta.jsonl"
    path.write_bytes(record("session_meta", {"id": 12}))
    rollout = read_rollout(path)
    assert rollout.fault is not None and rollout.fault.line == 1 and "session_meta.payload.id" in rollout.fault.message


def test_unknown_types_and_fields_are_kept_raw_with_one_warning_each(tmp_path: Path) -> None:
    path = tmp_path / "rollout-new.jsonl"
    path.write_bytes(
        meta()
        + record("hologram", {"x": 1}, 1)
        + record("hologram", {"x": 2}, 2)
        + record("event_msg", {"type": "telepathy"}, 3)
        + record("response_item", {"type": "thought_bubble", "text": "hi"}, 4, metadata={"mood": "calm"})
        + record("turn_context", {"model": "m"}, 5, sparkle=True)
    )
    rollout = read_rollout(path)
    assert rollout.fault is None
    assert [line.known for line in rollout.lines] == [True, False, False, False, False, True]
    assert rollout.lines[1].payload == {"x": 1}  # raw
    messages = [str(warning) for warning in rollout.warnings]
    assert messages == [
        "line 2: unknown hologram kept raw (and 1 more)",
        "line 4: unknown event_msg 'telepathy' kept raw",
        "line 5: unknown response_item 'thought_bubble' kept raw",
        "line 5: unknown field 'metadata.mood' kept raw",
        "line 6: unknown field 'sparkle' kept raw",
    ]


def test_a_huge_line_is_refused_without_reading_it_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(log_module, "MAX_ROLLOUT_LINE_BYTES", 1 << 20)
    path = tmp_path / "rollout-huge.jsonl"
    path.write_bytes(meta() + b'{"type": "response_item", "payload": {"text": "' + b"x" * (3 << 20) + b'"}}\n')
    reader = RolloutReader(path, chunk_size=1 << 18)
    lines = reader.read_new(final=True)
    assert len(lines) == 1
    assert reader.fault is not None and reader.fault.line == 2
    assert "longer than 1 MiB" in reader.fault.message


def test_truncated_file_while_following_is_a_file_fault(tmp_path: Path) -> None:
    path = tmp_path / "rollout-shrink.jsonl"
    path.write_bytes(EXEC_BASIC.read_bytes())
    reader = RolloutReader(path)
    reader.read_new()
    path.write_bytes(EXEC_BASIC.read_bytes()[:100])
    assert reader.read_new() == []
    assert reader.fault is not None and reader.fault_kind == "truncated"
    assert reader.fault.line is None and path.name in reader.fault.message


def test_resume_appends_to_the_same_file_and_reading_continues(tmp_path: Path) -> None:
    resumed = rollout_files(SAMPLES / "tools_multiturn_resume")[0]
    data = resumed.read_bytes().splitlines(keepends=True)
    path = tmp_path / resumed.name
    path.write_bytes(b"".join(data[:19]))  # the first `codex exec` ends at line 19
    reader = RolloutReader(path)
    assert reader.meta is None
    first = reader.read_new()
    with path.open("ab") as handle:
        handle.write(b"".join(data[19:]))
    rest = reader.read_new()
    assert reader.meta is not None and reader.fault is None
    lines = first + rest
    assert sum(1 for line in lines if line.type == "session_meta") == 1
    assert sum(1 for line in lines if line.subtype == "task_started") == 3
    assert len(rebuild_calls(reader.meta, lines)) == 6


# ----- rebuild rules -----------------------------------------------------------------------------


def test_plan_tool_passages_are_cut_from_heading_to_next_heading() -> None:
    text = "Intro.\n\n## Planning\n\nUse plans.\n\n## Other\n\nKeep.\n\n## `update_plan`\n\nA tool.\n"
    assert strip_plan_tool_passages(text) == "Intro.\n\n## Other\n\nKeep.\n\n"


def test_unanswered_calls_get_aborted_outputs_right_after_them() -> None:
    calls = [
        {"type": "function_call", "call_id": "a"},
        {"type": "custom_tool_call", "call_id": "b"},
        {"type": "function_call", "call_id": "c"},
        {"type": "function_call_output", "call_id": "c", "output": "done"},
    ]
    filled, count = with_aborted_outputs(calls)
    assert count == 2
    assert [(item["type"], item["call_id"]) for item in filled] == [
        ("function_call", "a"),
        ("function_call_output", "a"),
        ("custom_tool_call", "b"),
        ("custom_tool_call_output", "b"),
        ("function_call", "c"),
        ("function_call_output", "c"),
    ]
    assert filled[1]["output"] == "aborted"


def _rebuild(tmp_path: Path, body: bytes) -> list[Any]:
    path = tmp_path / "rollout-r.jsonl"
    path.write_bytes(meta() + body)
    rollout = read_rollout(path)
    assert rollout.fault is None and rollout.meta is not None
    return rebuild_calls(rollout.meta, rollout.lines)


def test_input_is_history_up_to_the_sampled_sequence(tmp_path: Path) -> None:
    """A message that arrived while the model was sampling (sequence > S) is not in that call's input."""
    calls = _rebuild(
        tmp_path,
        item(user("first"), 1, 0)
        + item(user("steer: arrived during sampling"), 2, 0)
        + item({"type": "message", "role": "assistant", "content": []}, 3, 1)
        + record("token_usage_record", {"response_id": "r1", "usage": {"input_tokens": 5}}),
    )
    (call,) = calls
    assert [part["content"][0]["text"] for part in call.input] == ["Base.", "first"]
    assert (call.response_id, call.status, call.usage) == ("r1", "completed", {"input_tokens": 5})


def test_no_usage_record_means_the_call_never_completed(tmp_path: Path) -> None:
    calls = _rebuild(
        tmp_path,
        record("event_msg", {"type": "task_started", "turn_id": "t1"})
        + item(user("go"), 1, 0)
        + item({"type": "reasoning", "summary": []}, 2, 1)
        + record("event_msg", {"type": "turn_aborted", "turn_id": "t1", "reason": "interrupted"}),
    )
    (call,) = calls
    assert (call.status, call.response_id, call.turn_id) == ("interrupted", None, "t1")


def test_local_compaction_request_ends_with_the_builtin_prompt(tmp_path: Path) -> None:
    summary = {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "S"}]}
    calls = _rebuild(
        tmp_path,
        item(user("go"), 1, 0)
        + item(summary, 2, 0, compaction_output=True)
        + record("token_usage_record", {"response_id": "r9"})
        + record("compacted", {"message": "summary", "replacement_history": [user("go"), user("S")]}),
    )
    (call,) = calls
    assert (call.kind, call.compaction, call.response_id) == ("compaction", "local", "r9")
    assert call.input[-1]["content"][0]["text"] == LOCAL_COMPACTION_PROMPT and "id" not in call.input[-1]
    assert NOTE_COMPACTION_PROMPT in call.notes


def test_usage_without_output_is_a_remote_compaction_only_when_compacted_confirms(tmp_path: Path) -> None:
    confirmed = _rebuild(
        tmp_path,
        item(user("go"), 1, 0)
        + record("token_usage_record", {"response_id": "c1"})
        + record("compacted", {"compaction_response_id": "c1", "replacement_history": []}),
    )
    assert [(c.kind, c.compaction, c.input[-1]) for c in confirmed] == [
        ("compaction", "remote", {"type": "compaction_trigger"})
    ]
    unconfirmed = _rebuild(
        tmp_path,
        item(user("go"), 1, 0)
        + record("token_usage_record", {"response_id": "c1"})
        + record("event_msg", {"type": "task_complete", "turn_id": "t"}),
    )
    assert [(c.kind, c.compaction, c.input[-1]["type"]) for c in unconfirmed] == [("turn", None, "message")]


def test_forked_child_copies_history_but_not_calls(tmp_path: Path) -> None:
    call = {"type": "function_call", "call_id": "spawn", "name": "spawn_agent", "arguments": "{}"}
    path = tmp_path / "rollout-fork.jsonl"
    path.write_bytes(
        meta(forked_from_id="parent", subagent_history_start_ordinal=3, parent_thread_id="parent")
        + item(user("parent prompt"), 1, 0, ordinal=1, inherited_user_message=True)
        + item(call, 2, 1, ordinal=2, inherited_user_message=True)
        + item(user("child task"), 3, 1, ordinal=3)
        + item({"type": "reasoning", "summary": []}, 4, 3, ordinal=4)
        + record("token_usage_record", {"response_id": "r"}, 5)
    )
    rollout = read_rollout(path)
    assert rollout.meta is not None and rollout.meta.is_subagent
    (only,) = rebuild_calls(rollout.meta, rollout.lines)
    assert [entry.get("call_id") for entry in only.input] == [None, None, "spawn", "spawn", None]
    assert only.input[3] == {"type": "function_call_output", "call_id": "spawn", "output": "aborted"}
    assert NOTE_ABORTED in only.notes


def test_rebuild_shares_no_state_with_reading(tmp_path: Path) -> None:
    """The rebuild does not change the lines it read (they are shown raw elsewhere)."""
    rollout = read_rollout(EXEC_BASIC)
    assert rollout.meta is not None
    before = json.dumps([line.payload for line in rollout.lines])
    rebuild_calls(rollout.meta, rollout.lines)
    assert json.dumps([line.payload for line in rollout.lines]) == before
    assert any("internal_chat_message_metadata_passthrough" in line.payload for line in rollout.lines)


def test_rollout_package_is_reading_layer_only() -> None:
    """trace_viewer.rollout imports nothing above the reading layer (no model, reducer, session, app)."""
    import subprocess
    import sys

    probe = (
        "import json, sys, trace_viewer.rollout, trace_viewer.rollout.sessions; print(json.dumps(sorted(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = json.loads(result.stdout)
    ours = [name.split(".") for name in loaded if name.startswith("trace_viewer.")]
    above = [".".join(parts) for parts in ours if parts[1] in ("model", "reducer", "session", "app", "context")]
    assert above == [], above
    assert "textual" not in loaded


@pytest.mark.parametrize("case", ["agents_full", "compaction_local_midturn", "compaction_remote_manual"])
def test_item_keys_name_the_same_item_in_every_call(case: str) -> None:
    """A key stands for one history item: what a later call re-sends has the key it had before."""
    for file in rollout_files(SAMPLES / case):
        rollout = read_rollout(file)
        assert rollout.meta is not None
        calls = rebuild_calls(rollout.meta, rollout.lines)
        seen: dict[str, Any] = {}
        for call in calls:
            assert len(call.input_keys) == len(call.input) and len(set(call.input_keys)) == len(call.input_keys)
            assert len(call.output_keys) == len(call.output)
            for key, item in zip(call.input_keys + call.output_keys, call.input + call.output, strict=True):
                assert seen.setdefault(key, item) is item, (file.name, key)
        # Every output a later call re-sends keeps its key (unless a compaction replaced history since).
        for earlier, later in itertools.pairwise(calls):
            if later.kind == "turn" and earlier.kind == "turn" and earlier.status == "completed":
                assert set(earlier.output_keys) <= set(later.input_keys), (file.name, earlier.index)
