"""One rollout line, checked once at the boundary into typed records.

A session rollout (``$CODEX_HOME/sessions/YYYY/MM/DD/rollout-*.jsonl``) is JSON lines written by
Codex: ``{timestamp, ordinal, type, payload}`` plus ``metadata`` on ``response_item`` lines. Every
field this package relies on is type-checked here, so a wrong type is a fault naming the line and
the field, never an exception deeper in. Payloads stay raw JSON (they are shown and re-sent as they
are); the typed records carry what reconstruction and listings need.

Line types and payload types that this version does not know are kept raw and reported as
warnings: newer Codex releases add them, and the rest of the file is still readable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# A JSON object as parsed from the file: untrusted and shared, so treat it as read-only.
JsonObject = dict[str, Any]

LINE_TYPES = frozenset(
    {
        "session_meta",
        "response_item",
        "event_msg",
        "turn_context",
        "world_state",
        "token_usage_record",
        "compacted",
        "inter_agent_communication_metadata",
    }
)
# event_msg subtypes seen in 0.164.0–0.171.0 rollouts, plus the older per-event ones that the
# UI items replaced (still found in old session files).
EVENT_TYPES = frozenset(
    {
        "task_started",
        "task_complete",
        "turn_aborted",
        "thread_settings_applied",
        "item_completed",
        "token_count",
        "user_message",
        "agent_message",
        "agent_reasoning",
        "agent_reasoning_raw_content",
        "exec_command_end",
        "patch_apply_end",
        "mcp_tool_call_end",
        "web_search_end",
        "context_compacted",
        "entered_review_mode",
        "exited_review_mode",
        "error",
        "stream_error",
    }
)
# Responses-API items Codex puts into history.
ITEM_TYPES = frozenset(
    {
        "message",
        "reasoning",
        "function_call",
        "function_call_output",
        "custom_tool_call",
        "custom_tool_call_output",
        "local_shell_call",
        "web_search_call",
        "image_generation_call",
        "tool_search_call",
        "tool_search_output",
        "compaction",
        "agent_message",
        "ghost_snapshot",
    }
)
METADATA_KEYS = frozenset(
    {
        "history_sequence",
        "sampled_through_sequence",
        "client_authored",
        "model_search_state",
        "mcp_attribution",
        "user_input_order",
        "retained_source",
        "fallback_token_limit_override",
        "compaction_output",
        "inherited_user_message",
    }
)
TOP_LEVEL_KEYS = frozenset({"timestamp", "ordinal", "type", "payload", "metadata"})


class RecordError(ValueError):
    """The line is JSON but not a rollout line this reader can rely on (the message names the field)."""


_TYPE_NAMES = {str: "a string", int: "an integer", bool: "a boolean", dict: "an object", list: "an array"}


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _get(obj: JsonObject, key: str, kind: type, where: str, *, required: bool = False) -> Any:
    """``obj[key]`` if it has the expected JSON type; None when absent or null (unless required)."""
    value = obj.get(key)
    if value is None:
        if required:
            raise RecordError(f"{where} has no {key!r}")
        return None
    if kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise RecordError(f"{where}.{key} is {_describe(value)}, expected {_TYPE_NAMES[kind]}")
    return value


def text_field(obj: JsonObject, key: str, where: str, *, required: bool = False) -> str | None:
    value: str | None = _get(obj, key, str, where, required=required)
    return value


def int_field(obj: JsonObject, key: str, where: str) -> int | None:
    value: int | None = _get(obj, key, int, where)
    return value


def object_field(obj: JsonObject, key: str, where: str) -> JsonObject | None:
    value: JsonObject | None = _get(obj, key, dict, where)
    return value


def list_field(obj: JsonObject, key: str, where: str) -> list[Any] | None:
    value: list[Any] | None = _get(obj, key, list, where)
    return value


@dataclass(frozen=True, slots=True)
class ItemMetadata:
    """``response_item.metadata``: where the item sits in the model history (0.169.0+)."""

    history_sequence: int | None
    # The highest history_sequence in the model's input when this item was produced.
    sampled_through_sequence: int | None
    # The summary written by a local compaction.
    compaction_output: bool
    # Copied from the parent into a forked child.
    inherited: bool


@dataclass(frozen=True, slots=True)
class RolloutLine:
    """One non-blank line of a rollout file (a step of the session)."""

    line: int  # 1-based physical line number
    offset: int  # byte offset of the line's first byte
    type: str
    # payload.type of event_msg and response_item lines (None for the other line types).
    subtype: str | None
    payload: JsonObject
    ordinal: int | None
    timestamp: str | None
    metadata: ItemMetadata | None
    # False for a line type / subtype this version does not know (kept raw, reported as a warning).
    known: bool
    # Top-level keys beyond timestamp/ordinal/type/payload/metadata and unknown ``metadata.*`` keys
    # (newer Codex), for the warning.
    unknown_keys: tuple[str, ...] = ()
    # The payload of an unknown line type when it is not an object (``payload`` is then empty).
    other_payload: Any = None
    # The whole line as parsed (shared with ``payload``): what the inspector shows.
    raw: JsonObject | None = None


@dataclass(frozen=True, slots=True)
class SessionMeta:
    """The ``session_meta`` line: who this thread is and what it was started with."""

    thread_id: str
    # The root thread's id (equal to thread_id for a root thread).
    session_id: str | None
    timestamp: str | None
    cwd: str | None
    cli_version: str | None
    originator: str | None
    # "exec", "cli", "vscode", … or "subagent" when spawned by another thread.
    source: str | None
    thread_source: str | None
    model_provider: str | None
    # The model the base instructions were written for (base_instructions.provenance.model).
    model: str | None
    base_instructions: str | None
    parent_thread_id: str | None
    forked_from_id: str | None
    # In a forked child: the first ordinal of the child's own lines (earlier ones copy the parent).
    history_start_ordinal: int | None
    agent_path: str | None
    agent_nickname: str | None
    agent_role: str | None

    @property
    def is_subagent(self) -> bool:
        return self.thread_source == "subagent" or self.source == "subagent" or self.parent_thread_id is not None


def parse_session_meta(payload: JsonObject) -> SessionMeta:
    where = "session_meta.payload"
    thread_id = text_field(payload, "id", where, required=True)
    assert thread_id is not None
    base = payload.get("base_instructions")
    base_text: str | None = None
    model: str | None = None
    if isinstance(base, str):  # some releases store the text directly
        base_text = base
    elif base is not None:
        if not isinstance(base, dict):
            raise RecordError(f"{where}.base_instructions is {_describe(base)}, expected an object")
        base_text = text_field(base, "text", f"{where}.base_instructions")
        provenance = object_field(base, "provenance", f"{where}.base_instructions")
        if provenance is not None:
            model = text_field(provenance, "model", f"{where}.base_instructions.provenance")
    source_value = payload.get("source")
    source: str | None
    spawn: JsonObject = {}
    if isinstance(source_value, str) or source_value is None:
        source = source_value
    elif isinstance(source_value, dict):
        # {"subagent": {"thread_spawn": {parent_thread_id, depth, agent_path, agent_nickname, agent_role}}}
        source = next(iter(source_value), None)
        inner = source_value.get(source) if source else None
        if isinstance(inner, dict):
            candidate = inner.get("thread_spawn")
            spawn = candidate if isinstance(candidate, dict) else {}
    else:
        raise RecordError(f"{where}.source is {_describe(source_value)}, expected a string or an object")
    parent = text_field(payload, "parent_thread_id", where)
    if parent is None and spawn:
        parent = text_field(spawn, "parent_thread_id", f"{where}.source.thread_spawn")
    agent_path = text_field(payload, "agent_path", where)
    agent_nickname = text_field(payload, "agent_nickname", where)
    agent_role = text_field(payload, "agent_role", where)
    if spawn:
        agent_path = agent_path or text_field(spawn, "agent_path", f"{where}.source.thread_spawn")
        agent_nickname = agent_nickname or text_field(spawn, "agent_nickname", f"{where}.source.thread_spawn")
        agent_role = agent_role or text_field(spawn, "agent_role", f"{where}.source.thread_spawn")
    return SessionMeta(
        thread_id=thread_id,
        session_id=text_field(payload, "session_id", where),
        timestamp=text_field(payload, "timestamp", where),
        cwd=text_field(payload, "cwd", where),
        cli_version=text_field(payload, "cli_version", where),
        originator=text_field(payload, "originator", where),
        source=source,
        thread_source=text_field(payload, "thread_source", where),
        model_provider=text_field(payload, "model_provider", where),
        model=model,
        base_instructions=base_text,
        parent_thread_id=parent,
        forked_from_id=text_field(payload, "forked_from_id", where),
        history_start_ordinal=int_field(payload, "subagent_history_start_ordinal", where),
        agent_path=agent_path,
        agent_nickname=agent_nickname,
        agent_role=agent_role,
    )


def _metadata(raw: Any) -> ItemMetadata | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise RecordError(f"metadata is {_describe(raw)}, expected an object")
    return ItemMetadata(
        history_sequence=int_field(raw, "history_sequence", "metadata"),
        sampled_through_sequence=int_field(raw, "sampled_through_sequence", "metadata"),
        compaction_output=raw.get("compaction_output") is True,
        inherited=raw.get("inherited_user_message") is True,
    )


def _check_payload(kind: str, subtype: str | None, payload: JsonObject) -> None:
    """Type-check the payload fields that reconstruction and listings read."""
    where = f"{kind}.payload"
    if kind == "session_meta":
        parse_session_meta(payload)
    elif kind == "token_usage_record":
        for key in ("response_id", "turn_id", "thread_id"):
            text_field(payload, key, where)
        object_field(payload, "usage", where)
    elif kind == "compacted":
        text_field(payload, "message", where)
        text_field(payload, "compaction_response_id", where)
        history = list_field(payload, "replacement_history", where)
        for index, item in enumerate(history or ()):
            if not isinstance(item, dict):
                raise RecordError(f"{where}.replacement_history[{index}] is {_describe(item)}, expected an object")
        for index, entry in enumerate(list_field(payload, "replacement_history_metadata", where) or ()):
            if entry is not None and not isinstance(entry, dict):
                raise RecordError(
                    f"{where}.replacement_history_metadata[{index}] is {_describe(entry)}, expected an object"
                )
            if isinstance(entry, dict):
                int_field(entry, "history_sequence", f"{where}.replacement_history_metadata[{index}]")
    elif kind == "turn_context":
        for key in ("turn_id", "model", "cwd"):
            text_field(payload, key, where)
    elif kind == "event_msg":
        where = f"event_msg {subtype}"
        text_field(payload, "turn_id", where)
        if subtype == "task_complete":
            error = payload.get("error")
            if error is not None and not isinstance(error, dict | str):
                raise RecordError(f"{where}.error is {_describe(error)}, expected an object")
            text_field(payload, "last_agent_message", where)
        elif subtype == "user_message":
            text_field(payload, "message", where)
        elif subtype == "item_completed":
            object_field(payload, "item", where)
    elif kind == "response_item":
        where = f"response_item {subtype}"
        if subtype in ("function_call", "custom_tool_call", "function_call_output", "custom_tool_call_output"):
            text_field(payload, "call_id", where)
        if subtype == "message":
            text_field(payload, "role", where)
            content = payload.get("content")
            if content is not None and not isinstance(content, list | str):
                raise RecordError(f"{where}.content is {_describe(content)}, expected an array")


def parse_record(obj: Any, line: int, offset: int) -> RolloutLine:
    """Check one parsed line and wrap it; raises ``RecordError`` naming the bad field."""
    if not isinstance(obj, dict):
        raise RecordError(f"line is {_describe(obj)}, not a JSON object")
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise RecordError("line has no string 'type'" if kind is None else f"'type' is {_describe(kind)}")
    timestamp = text_field(obj, "timestamp", "line")
    ordinal = int_field(obj, "ordinal", "line")
    payload = obj.get("payload")
    known = kind in LINE_TYPES
    subtype: str | None = None
    odd_payload: Any = None
    if not isinstance(payload, dict):
        if known:
            raise RecordError(f"{kind} line's payload is {_describe(payload)}, expected an object")
        odd_payload, payload = payload, {}  # an unknown line type: kept raw, whatever its payload is
    if kind in ("event_msg", "response_item"):
        subtype = text_field(payload, "type", f"{kind}.payload", required=True)
        known = subtype in (EVENT_TYPES if kind == "event_msg" else ITEM_TYPES)
    if kind in LINE_TYPES:
        _check_payload(kind, subtype, payload)
    raw_metadata = obj.get("metadata") if kind == "response_item" else None
    metadata = _metadata(raw_metadata)
    unknown = [key for key in obj if key not in TOP_LEVEL_KEYS]
    if isinstance(raw_metadata, dict):
        unknown += [f"metadata.{key}" for key in raw_metadata if key not in METADATA_KEYS]
    unknown.sort()
    return RolloutLine(
        line, offset, kind, subtype, payload, ordinal, timestamp, metadata, known, tuple(unknown), odd_payload, obj
    )
