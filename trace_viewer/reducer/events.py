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
    "history_item_accepted": {"item_id": "str", "agent_message_payload": "opt_ref", "tool_output_payload": "opt_ref"},
    "inference_started": {
        "inference_call_id": "str",
        "thread_id": "str",
        "codex_turn_id": "str",
        "model": "str",
        "provider_name": "str",
        "request_payload": "ref",
        "prepared_prompt_payload": "ref",
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
    "code_cell_wait_target_resolved": {"tool_call_id": "str", "runtime_cell_id": "str"},
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
NEWEST_SCHEMA = 3

# The first schema that has each event type (schema 1 had no acceptance/recording events).
EVENT_SINCE_SCHEMA = {
    "history_item_accepted": 2,
    "recording_completed": 2,
    "thread_resumed": 2,
    "code_cell_wait_target_resolved": 3,
}
# Fields a schema added to an existing event: ignored (not even checked) by older schemas' rules.
FIELD_SINCE_SCHEMA = {"prepared_prompt_payload": 3, "tool_output_payload": 3}

# Payload kinds (`kind.type` of a reference): the official reducers refuse any other as they parse the line.
PAYLOAD_KINDS_SCHEMA2 = (
    "inference_request",
    "inference_response",
    "compaction_request",
    "compaction_checkpoint",
    "compaction_response",
    "tool_invocation",
    "tool_result",
    "tool_runtime_event",
    "terminal_runtime_event",
    "protocol_event",
    "session_metadata",
    "agent_result",
)
# Schema 3 adds the prepared prompt and what it is built from (0.171.0's list, in its order).
PAYLOAD_KINDS_SCHEMA3 = (
    "inference_request",
    "prepared_prompt",
    "model_item",
    "content_value",
    "warmup_context",
    *PAYLOAD_KINDS_SCHEMA2[1:],
)
_KNOWN_KINDS = {2: frozenset(PAYLOAD_KINDS_SCHEMA2), 3: frozenset(PAYLOAD_KINDS_SCHEMA3)}


def payload_kinds(schema_version: int) -> tuple[str, ...]:
    """The payload kinds a schema knows (schema 1 has schema 2's list)."""
    return PAYLOAD_KINDS_SCHEMA3 if schema_version >= 3 else PAYLOAD_KINDS_SCHEMA2


ROLLOUT_STATUSES = frozenset({"running", "completed", "failed", "aborted"})
EXECUTION_STATUSES = frozenset({"running", "completed", "failed", "cancelled", "aborted"})
CODE_CELL_STATUSES = frozenset({"starting", "running", "yielded", "completed", "failed", "terminated"})


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_ref(name: str, value: Any, schema_version: int) -> None:
    """A payload reference: a file ``path`` up to schema 2, a ``shard`` number from schema 3 on."""
    if not isinstance(value, dict):
        raise ReduceError(f"field `{name}` is not a payload reference")
    if not isinstance(value.get("raw_payload_id"), str):
        raise ReduceError(f"payload reference `{name}` has no string `raw_payload_id`")
    if schema_version >= 3:
        if not _is_int(value.get("shard")):
            raise ReduceError(f"payload reference `{name}` has no integer `shard`")
    elif not isinstance(value.get("path"), str):
        raise ReduceError(f"payload reference `{name}` has no string `path`")
    kind = value.get("kind")
    if not isinstance(kind, dict) or not isinstance(kind.get("type"), str):
        raise ReduceError(f"payload reference `{name}` has no `kind.type`")
    if kind["type"] not in _KNOWN_KINDS[min(max(schema_version, 2), 3)] and schema_version <= NEWEST_SCHEMA:
        expected = ", ".join(f"`{known}`" for known in payload_kinds(schema_version))
        raise ReduceError(f"payload reference `{name}`: unknown variant `{kind['type']}`, expected one of {expected}")
    if schema_version >= 3 and value.get("parts") is not None:
        # A prepared prompt lists the model items it is made of: references too (hundreds per call).
        parts = value["parts"]
        if not isinstance(parts, list):
            raise ReduceError(f"payload reference `{name}` has non-array `parts`")
        known = _KNOWN_KINDS[3] if schema_version <= NEWEST_SCHEMA else None
        for part in parts:
            if (
                type(part) is dict
                and type(part.get("raw_payload_id")) is str
                and type(part.get("shard")) is int
                and type(kind := part.get("kind")) is dict
                and (kind.get("type") in known if known is not None else type(kind.get("type")) is str)
                and not part.get("parts")
            ):
                continue
            _check_ref(f"{name}.parts", part, schema_version)  # the exact complaint, or nested parts


def _check_field(name: str, kind: str, payload: dict[str, Any], schema_version: int) -> None:
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
        _check_ref(name, value, schema_version)
    if kind == "ref_list":
        if not isinstance(value, list):
            raise ReduceError(f"field `{name}` must be a list")
        for entry in value:
            _check_ref(name, entry, schema_version)
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
    if schema_version < EVENT_SINCE_SCHEMA.get(event_type, 1):
        raise ReduceError(f"event type `{event_type}` does not exist in schema {schema_version}")
    for name, kind in fields.items():
        if schema_version >= FIELD_SINCE_SCHEMA.get(name, 1):
            _check_field(name, kind, payload, schema_version)
    # Schema 2 made the runtime kind mandatory: it replaces the call's kind.
    if event_type == "tool_call_runtime_started" and schema_version >= 2 and not isinstance(payload.get("kind"), dict):
        raise ReduceError("missing field `kind`")


def payload_refs(event_type: str, payload: dict[str, Any], schema_version: int = NEWEST_SCHEMA) -> list[dict[str, Any]]:
    """Every raw payload reference an event carries, in field order (a prepared prompt's parts not included)."""
    refs: list[dict[str, Any]] = []
    for name, kind in EVENT_FIELDS.get(event_type, {}).items():
        value = payload.get(name)
        if value is None or schema_version < FIELD_SINCE_SCHEMA.get(name, 1):
            continue
        if kind.endswith("ref"):
            refs.append(value)
        elif kind == "ref_list":
            refs.extend(value)
    return refs
