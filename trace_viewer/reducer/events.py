"""Shape checks for raw events, so a malformed line becomes a fault before it mutates state.

The official reducer deserialises each line into a typed enum and rejects anything
that does not fit; we do the same with a small table instead of classes, because
events are applied once and then dropped.
"""

from __future__ import annotations

from typing import Any

from trace_viewer.reducer.errors import ReduceError

# Field kinds: "str", "int", "opt_str", "opt_int", "ref", "opt_ref", "any", "obj", "opt_obj", "list".
# Fields ending in "ref" are raw payload refs, registered in `raw_payloads` before reducing.
EVENT_FIELDS: dict[str, dict[str, str]] = {
    "rollout_started": {"trace_id": "str", "root_thread_id": "str"},
    "rollout_ended": {"status": "rollout_status"},
    "recording_completed": {},
    "thread_started": {"thread_id": "str", "agent_path": "str", "metadata_payload": "opt_ref"},
    "thread_ended": {"thread_id": "str", "status": "rollout_status"},
    "thread_resumed": {"thread_id": "str"},
    "codex_turn_started": {"codex_turn_id": "str", "thread_id": "str"},
    "codex_turn_ended": {"codex_turn_id": "str", "status": "exec_status"},
    "history_item_accepted": {"item_id": "str", "agent_message_payload": "opt_ref"},
    "inference_started": {
        "inference_call_id": "str",
        "thread_id": "str",
        "codex_turn_id": "str",
        "model": "str",
        "provider_name": "str",
        "request_payload": "ref",
    },
    "inference_completed": {
        "inference_call_id": "str",
        "response_id": "opt_str",
        "upstream_request_id": "opt_str",
        "response_payload": "ref",
    },
    "inference_failed": {
        "inference_call_id": "str",
        "upstream_request_id": "opt_str",
        "error": "str",
        "partial_response_payload": "opt_ref",
    },
    "inference_cancelled": {
        "inference_call_id": "str",
        "upstream_request_id": "opt_str",
        "reason": "str",
        "partial_response_payload": "opt_ref",
    },
    "tool_call_started": {
        "tool_call_id": "str",
        "model_visible_call_id": "opt_str",
        "code_mode_runtime_tool_id": "opt_str",
        "requester": "obj",
        "kind": "obj",
        "summary": "obj",
        "invocation_payload": "opt_ref",
    },
    "mcp_tool_call_correlation_assigned": {"tool_call_id": "str", "mcp_call_id": "str"},
    "tool_call_runtime_started": {"tool_call_id": "str", "runtime_payload": "ref"},
    "tool_call_runtime_ended": {"tool_call_id": "str", "status": "exec_status", "runtime_payload": "ref"},
    "tool_call_ended": {"tool_call_id": "str", "status": "exec_status", "result_payload": "opt_ref"},
    "stdin_target_resolved": {"tool_call_id": "str", "exec_tool_call_id": "str"},
    "code_cell_started": {"runtime_cell_id": "str", "model_visible_call_id": "str", "source_js": "str"},
    "code_cell_initial_response": {"runtime_cell_id": "str", "status": "cell_status", "response_payload": "opt_ref"},
    "code_cell_ended": {"runtime_cell_id": "str", "status": "cell_status", "response_payload": "opt_ref"},
    "compaction_request_started": {
        "compaction_id": "str",
        "compaction_request_id": "str",
        "thread_id": "str",
        "codex_turn_id": "str",
        "model": "str",
        "provider_name": "str",
        "request_payload": "ref",
    },
    "compaction_request_completed": {
        "compaction_id": "str",
        "compaction_request_id": "str",
        "response_payload": "ref",
    },
    "compaction_request_failed": {"compaction_id": "str", "compaction_request_id": "str", "error": "str"},
    "compaction_installed": {"compaction_id": "str", "checkpoint_payload": "ref"},
    "agent_result_observed": {
        "edge_id": "str",
        "child_thread_id": "str",
        "child_codex_turn_id": "str",
        "parent_thread_id": "str",
        "message": "str",
        "carried_payload": "opt_ref",
    },
    "protocol_event_observed": {"event_type": "str", "event_payload": "ref"},
    "other": {"kind": "str", "summary": "str", "payloads": "ref_list", "metadata": "any"},
}

# The newest schema whose events are all known here. Bundles of a newer schema are reduced by
# its rules, and events of types it added are skipped rather than refused.
NEWEST_SCHEMA = 2

# Schema 1 had no acceptance/recording events and no `kind` on runtime starts.
SCHEMA2_ONLY_EVENTS = frozenset({"history_item_accepted", "recording_completed", "thread_resumed"})

ROLLOUT_STATUSES = frozenset({"running", "completed", "failed", "aborted"})
EXECUTION_STATUSES = frozenset({"running", "completed", "failed", "cancelled", "aborted"})
CODE_CELL_STATUSES = frozenset({"starting", "running", "yielded", "completed", "failed", "terminated"})


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_ref(name: str, value: Any) -> None:
    if not isinstance(value, dict):
        raise ReduceError(f"field `{name}` is not a payload reference")
    for key in ("raw_payload_id", "path"):
        if not isinstance(value.get(key), str):
            raise ReduceError(f"payload reference `{name}` has no string `{key}`")
    kind = value.get("kind")
    if not isinstance(kind, dict) or not isinstance(kind.get("type"), str):
        raise ReduceError(f"payload reference `{name}` has no `kind.type`")


def _check_field(name: str, kind: str, payload: dict[str, Any]) -> None:
    present = name in payload
    value = payload.get(name)
    if kind.startswith("opt_"):
        if value is None:
            return
        kind = kind[4:]
    elif not present and kind != "any":
        raise ReduceError(f"missing field `{name}`")
    if kind == "str" and not isinstance(value, str):
        raise ReduceError(f"field `{name}` must be a string")
    if kind == "int" and not _is_int(value):
        raise ReduceError(f"field `{name}` must be an integer")
    if kind == "obj" and not isinstance(value, dict):
        raise ReduceError(f"field `{name}` must be an object")
    if kind == "ref":
        _check_ref(name, value)
    if kind == "ref_list":
        if not isinstance(value, list):
            raise ReduceError(f"field `{name}` must be a list")
        for entry in value:
            _check_ref(name, entry)
    if kind == "rollout_status" and value not in ROLLOUT_STATUSES:
        raise ReduceError(f"field `{name}` has unknown rollout status {value!r}")
    if kind == "exec_status" and value not in EXECUTION_STATUSES:
        raise ReduceError(f"field `{name}` has unknown status {value!r}")
    if kind == "cell_status" and value not in CODE_CELL_STATUSES:
        raise ReduceError(f"field `{name}` has unknown code cell status {value!r}")


def check_envelope(event: Any) -> None:
    """Reject an event whose envelope does not have the documented types."""
    if not isinstance(event, dict):
        raise ReduceError("event is not a JSON object")
    for name in ("schema_version", "seq", "wall_time_unix_ms"):
        if not _is_int(event.get(name)):
            raise ReduceError(f"missing or non-integer field `{name}`")
    if event["seq"] < 0:
        raise ReduceError("field `seq` is negative")
    if not isinstance(event.get("rollout_id"), str):
        raise ReduceError("missing or non-string field `rollout_id`")
    for name in ("thread_id", "codex_turn_id"):
        if event.get(name) is not None and not isinstance(event[name], str):
            raise ReduceError(f"field `{name}` must be a string or null")
    payload = event.get("payload")
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        raise ReduceError("missing field `payload.type`")


def check_payload(event_type: str, payload: dict[str, Any], schema_version: int) -> None:
    """Check the typed fields of a known event payload (unknown extra fields are ignored)."""
    fields = EVENT_FIELDS.get(event_type)
    if fields is None:
        raise ReduceError(f"unknown event type `{event_type}`")
    if schema_version < 2 and event_type in SCHEMA2_ONLY_EVENTS:
        raise ReduceError(f"event type `{event_type}` does not exist in schema {schema_version}")
    for name, kind in fields.items():
        _check_field(name, kind, payload)
    # Schema 2 made the runtime kind mandatory: it replaces the call's kind.
    if event_type == "tool_call_runtime_started" and schema_version >= 2 and not isinstance(payload.get("kind"), dict):
        raise ReduceError("missing field `kind`")


def payload_refs(event_type: str, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Every raw payload reference an event carries, in field order."""
    refs: list[dict[str, Any]] = []
    for name, kind in EVENT_FIELDS.get(event_type, {}).items():
        value = payload.get(name)
        if value is None:
            continue
        if kind.endswith("ref"):
            refs.append(value)
        elif kind == "ref_list":
            refs.extend(value)
    return refs
