"""Trace events as typed values: each raw line is checked once here, then handled as a struct.

``parse_event`` is the boundary between the untrusted JSON of ``trace.jsonl`` and the reducer.
It checks the envelope and the event's documented fields (the official reducer deserialises each
line into a typed enum and refuses anything that does not fit) and returns an ``Envelope`` and
one payload struct per event type. Fields that the official reducer itself reads later, with its
own wording (a tool's kind, summary and requester, ``other.metadata``), stay JSON values here and
are read by the part that owns them.

Payload references become ``RawPayload`` records; a prepared prompt's parts equal to a record
already registered are that record (they repeat hundreds of times).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import msgspec

from trace_viewer.model import UNSET, ExecutionStatus, PayloadKind, RawPayload, RolloutStatus
from trace_viewer.model.runtime import CodeCellRuntimeStatus
from trace_viewer.reducer.errors import PayloadError, ReduceError
from trace_viewer.reducer.fields import FieldError, JsonObject, JsonValue, event_u64, is_int

# The newest schema whose events are all known here. Bundles of a newer schema are reduced by
# its rules, and events of types it added are skipped rather than refused.
NEWEST_SCHEMA = 3

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
_KINDS = {kind: PayloadKind(kind) for kind in PAYLOAD_KINDS_SCHEMA3}

_ROLLOUT_STATUSES: dict[str, RolloutStatus] = {
    "running": "running",
    "completed": "completed",
    "failed": "failed",
    "aborted": "aborted",
}
_EXECUTION_STATUSES: dict[str, ExecutionStatus] = {
    "running": "running",
    "completed": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
    "aborted": "aborted",
}
_CELL_STATUSES: dict[str, CodeCellRuntimeStatus] = {
    "starting": "starting",
    "running": "running",
    "yielded": "yielded",
    "completed": "completed",
    "failed": "failed",
    "terminated": "terminated",
}


def payload_kinds(schema_version: int) -> tuple[str, ...]:
    """The payload kinds a schema knows (schema 1 has schema 2's list)."""
    return PAYLOAD_KINDS_SCHEMA3 if schema_version >= 3 else PAYLOAD_KINDS_SCHEMA2


class Envelope(msgspec.Struct, frozen=True, gc=False):
    """What every event carries besides its payload."""

    schema_version: int
    seq: int
    wall_time_unix_ms: int
    rollout_id: str
    thread_id: str | None
    codex_turn_id: str | None
    type: str


class Payload(msgspec.Struct, frozen=True, gc=False):
    """Base of the typed event payloads."""


class RolloutStarted(Payload, frozen=True):
    trace_id: str
    root_thread_id: str


class RolloutEnded(Payload, frozen=True):
    status: RolloutStatus


class RecordingCompleted(Payload, frozen=True):
    pass


class ThreadStarted(Payload, frozen=True):
    thread_id: str
    agent_path: str
    metadata_payload: RawPayload | None


class ThreadEnded(Payload, frozen=True):
    thread_id: str
    status: RolloutStatus


class ThreadResumed(Payload, frozen=True):
    thread_id: str


class CodexTurnStarted(Payload, frozen=True):
    codex_turn_id: str
    thread_id: str


class CodexTurnEnded(Payload, frozen=True):
    codex_turn_id: str
    status: ExecutionStatus


class HistoryItemAccepted(Payload, frozen=True):
    item_id: str
    agent_message_payload: RawPayload | None
    tool_output_payload: RawPayload | None  # schema 3


class InferenceStarted(Payload, frozen=True):
    inference_call_id: str
    thread_id: str
    codex_turn_id: str
    model: str
    provider_name: str
    request_payload: RawPayload
    prepared_prompt_payload: RawPayload | None  # schema 3 (required there)


class InferenceCompleted(Payload, frozen=True):
    inference_call_id: str
    response_id: str | None
    upstream_request_id: str | None
    response_payload: RawPayload


class InferenceFailed(Payload, frozen=True):
    inference_call_id: str
    upstream_request_id: str | None
    error: str
    partial_response_payload: RawPayload | None


class InferenceCancelled(Payload, frozen=True):
    inference_call_id: str
    upstream_request_id: str | None
    reason: str
    partial_response_payload: RawPayload | None


class ToolCallStarted(Payload, frozen=True):
    tool_call_id: str
    model_visible_call_id: str | None
    code_mode_runtime_tool_id: str | None
    requester: JsonObject
    kind: JsonObject
    summary: JsonObject
    invocation_payload: RawPayload | None


class McpToolCallCorrelationAssigned(Payload, frozen=True):
    tool_call_id: str
    mcp_call_id: str


class ToolCallRuntimeStarted(Payload, frozen=True):
    tool_call_id: str
    runtime_payload: RawPayload
    kind: JsonObject | None  # schema 2 on (it replaces the call's kind); schema 1 has none


class ToolCallRuntimeEnded(Payload, frozen=True):
    tool_call_id: str
    status: ExecutionStatus
    runtime_payload: RawPayload


class ToolCallEnded(Payload, frozen=True):
    tool_call_id: str
    status: ExecutionStatus
    result_payload: RawPayload | None


class StdinTargetResolved(Payload, frozen=True):
    tool_call_id: str
    exec_tool_call_id: str


class CodeCellWaitTargetResolved(Payload, frozen=True):
    tool_call_id: str
    runtime_cell_id: str


class CodeCellStarted(Payload, frozen=True):
    runtime_cell_id: str
    model_visible_call_id: str
    source_js: str


class CodeCellInitialResponse(Payload, frozen=True):
    runtime_cell_id: str
    status: CodeCellRuntimeStatus
    response_payload: RawPayload | None


class CodeCellEnded(Payload, frozen=True):
    runtime_cell_id: str
    status: CodeCellRuntimeStatus
    response_payload: RawPayload | None


class CompactionRequestStarted(Payload, frozen=True):
    compaction_id: str
    compaction_request_id: str
    thread_id: str
    codex_turn_id: str
    model: str
    provider_name: str
    request_payload: RawPayload


class CompactionRequestCompleted(Payload, frozen=True):
    compaction_id: str
    compaction_request_id: str
    response_payload: RawPayload


class CompactionRequestFailed(Payload, frozen=True):
    compaction_id: str
    compaction_request_id: str
    error: str


class CompactionInstalled(Payload, frozen=True):
    compaction_id: str
    checkpoint_payload: RawPayload


class AgentResultObserved(Payload, frozen=True):
    edge_id: str
    child_thread_id: str
    child_codex_turn_id: str
    parent_thread_id: str
    message: str
    carried_payload: RawPayload | None


class ProtocolEventObserved(Payload, frozen=True):
    event_type: str
    event_payload: RawPayload


class Other(Payload, frozen=True):
    kind: str
    summary: str
    payloads: tuple[RawPayload, ...]
    metadata: JsonValue


class Skipped(Payload, frozen=True):
    """An event of a type only a newer schema knows: kept raw by the viewer, not reduced."""


class _Reader:
    """The documented fields of one payload object, read in declaration order."""

    __slots__ = ("known", "payload", "schema_version")

    def __init__(self, payload: JsonObject, schema_version: int, known: Mapping[str, RawPayload]) -> None:
        self.payload = payload
        self.schema_version = schema_version
        self.known = known

    def _present(self, name: str) -> JsonValue:
        if name not in self.payload:
            raise ReduceError(f"missing field `{name}`")
        return self.payload[name]

    def text(self, name: str) -> str:
        value = self._present(name)
        if not isinstance(value, str):
            raise ReduceError(f"field `{name}` must be a string")
        return value

    def opt_text(self, name: str) -> str | None:
        value = self.payload.get(name)
        if value is not None and not isinstance(value, str):
            raise ReduceError(f"field `{name}` must be a string")
        return value

    def obj(self, name: str) -> JsonObject:
        value = self._present(name)
        if not isinstance(value, dict):
            raise ReduceError(f"field `{name}` must be an object")
        return value

    def raw(self, name: str) -> JsonValue:
        return self.payload.get(name)

    def rollout_status(self, name: str) -> RolloutStatus:
        value = self._present(name)
        status = _ROLLOUT_STATUSES.get(value) if isinstance(value, str) else None
        if status is None:
            raise ReduceError(f"field `{name}` has unknown rollout status {value!r}")
        return status

    def status(self, name: str) -> ExecutionStatus:
        value = self._present(name)
        status = _EXECUTION_STATUSES.get(value) if isinstance(value, str) else None
        if status is None:
            raise ReduceError(f"field `{name}` has unknown status {value!r}")
        return status

    def cell_status(self, name: str) -> CodeCellRuntimeStatus:
        value = self._present(name)
        status = _CELL_STATUSES.get(value) if isinstance(value, str) else None
        if status is None:
            raise ReduceError(f"field `{name}` has unknown code cell status {value!r}")
        return status

    def ref(self, name: str) -> RawPayload:
        return parse_ref(name, self._present(name), self.schema_version, self.known)

    def opt_ref(self, name: str, since_schema: int = 1) -> RawPayload | None:
        if self.schema_version < since_schema:
            return None
        value = self.payload.get(name)
        return None if value is None else parse_ref(name, value, self.schema_version, self.known)

    def refs(self, name: str) -> tuple[RawPayload, ...]:
        value = self._present(name)
        if not isinstance(value, list):
            raise ReduceError(f"field `{name}` must be a list")
        return tuple(parse_ref(name, entry, self.schema_version, self.known) for entry in value)


def _runtime_kind(r: _Reader) -> JsonObject | None:
    if r.schema_version < 2:
        return None
    value = r.payload.get("kind")
    if not isinstance(value, dict):
        raise ReduceError("missing field `kind`")
    return value


def _prepared_prompt(r: _Reader) -> RawPayload | None:
    return r.ref("prepared_prompt_payload") if r.schema_version >= 3 else None


_PARSERS: dict[str, Callable[[_Reader], Payload]] = {
    "rollout_started": lambda r: RolloutStarted(r.text("trace_id"), r.text("root_thread_id")),
    "rollout_ended": lambda r: RolloutEnded(r.rollout_status("status")),
    "recording_completed": lambda r: RecordingCompleted(),
    "thread_started": lambda r: ThreadStarted(r.text("thread_id"), r.text("agent_path"), r.opt_ref("metadata_payload")),
    "thread_ended": lambda r: ThreadEnded(r.text("thread_id"), r.rollout_status("status")),
    "thread_resumed": lambda r: ThreadResumed(r.text("thread_id")),
    "codex_turn_started": lambda r: CodexTurnStarted(r.text("codex_turn_id"), r.text("thread_id")),
    "codex_turn_ended": lambda r: CodexTurnEnded(r.text("codex_turn_id"), r.status("status")),
    "history_item_accepted": lambda r: HistoryItemAccepted(
        r.text("item_id"), r.opt_ref("agent_message_payload"), r.opt_ref("tool_output_payload", since_schema=3)
    ),
    "inference_started": lambda r: InferenceStarted(
        r.text("inference_call_id"),
        r.text("thread_id"),
        r.text("codex_turn_id"),
        r.text("model"),
        r.text("provider_name"),
        r.ref("request_payload"),
        _prepared_prompt(r),
    ),
    "inference_completed": lambda r: InferenceCompleted(
        r.text("inference_call_id"),
        r.opt_text("response_id"),
        r.opt_text("upstream_request_id"),
        r.ref("response_payload"),
    ),
    "inference_failed": lambda r: InferenceFailed(
        r.text("inference_call_id"),
        r.opt_text("upstream_request_id"),
        r.text("error"),
        r.opt_ref("partial_response_payload"),
    ),
    "inference_cancelled": lambda r: InferenceCancelled(
        r.text("inference_call_id"),
        r.opt_text("upstream_request_id"),
        r.text("reason"),
        r.opt_ref("partial_response_payload"),
    ),
    "tool_call_started": lambda r: ToolCallStarted(
        r.text("tool_call_id"),
        r.opt_text("model_visible_call_id"),
        r.opt_text("code_mode_runtime_tool_id"),
        r.obj("requester"),
        r.obj("kind"),
        r.obj("summary"),
        r.opt_ref("invocation_payload"),
    ),
    "mcp_tool_call_correlation_assigned": lambda r: McpToolCallCorrelationAssigned(
        r.text("tool_call_id"), r.text("mcp_call_id")
    ),
    "tool_call_runtime_started": lambda r: ToolCallRuntimeStarted(
        r.text("tool_call_id"), r.ref("runtime_payload"), _runtime_kind(r)
    ),
    "tool_call_runtime_ended": lambda r: ToolCallRuntimeEnded(
        r.text("tool_call_id"), r.status("status"), r.ref("runtime_payload")
    ),
    "tool_call_ended": lambda r: ToolCallEnded(r.text("tool_call_id"), r.status("status"), r.opt_ref("result_payload")),
    "stdin_target_resolved": lambda r: StdinTargetResolved(r.text("tool_call_id"), r.text("exec_tool_call_id")),
    "code_cell_wait_target_resolved": lambda r: CodeCellWaitTargetResolved(
        r.text("tool_call_id"), r.text("runtime_cell_id")
    ),
    "code_cell_started": lambda r: CodeCellStarted(
        r.text("runtime_cell_id"), r.text("model_visible_call_id"), r.text("source_js")
    ),
    "code_cell_initial_response": lambda r: CodeCellInitialResponse(
        r.text("runtime_cell_id"), r.cell_status("status"), r.opt_ref("response_payload")
    ),
    "code_cell_ended": lambda r: CodeCellEnded(
        r.text("runtime_cell_id"), r.cell_status("status"), r.opt_ref("response_payload")
    ),
    "compaction_request_started": lambda r: CompactionRequestStarted(
        r.text("compaction_id"),
        r.text("compaction_request_id"),
        r.text("thread_id"),
        r.text("codex_turn_id"),
        r.text("model"),
        r.text("provider_name"),
        r.ref("request_payload"),
    ),
    "compaction_request_completed": lambda r: CompactionRequestCompleted(
        r.text("compaction_id"), r.text("compaction_request_id"), r.ref("response_payload")
    ),
    "compaction_request_failed": lambda r: CompactionRequestFailed(
        r.text("compaction_id"), r.text("compaction_request_id"), r.text("error")
    ),
    "compaction_installed": lambda r: CompactionInstalled(r.text("compaction_id"), r.ref("checkpoint_payload")),
    "agent_result_observed": lambda r: AgentResultObserved(
        r.text("edge_id"),
        r.text("child_thread_id"),
        r.text("child_codex_turn_id"),
        r.text("parent_thread_id"),
        r.text("message"),
        r.opt_ref("carried_payload"),
    ),
    "protocol_event_observed": lambda r: ProtocolEventObserved(r.text("event_type"), r.ref("event_payload")),
    "other": lambda r: Other(r.text("kind"), r.text("summary"), r.refs("payloads"), r.raw("metadata")),
}

# The first schema that has each event type (schema 1 had no acceptance/recording events).
EVENT_SINCE_SCHEMA = {
    "history_item_accepted": 2,
    "recording_completed": 2,
    "thread_resumed": 2,
    "code_cell_wait_target_resolved": 3,
}
EVENT_TYPES = frozenset(_PARSERS)


def parse_envelope(event: JsonValue) -> tuple[Envelope, JsonObject]:
    """The checked envelope and the raw payload object; ``ReduceError`` if it does not fit."""
    if not isinstance(event, dict):
        raise ReduceError("event is not a JSON object")
    numbers: list[int] = []
    for name in ("schema_version", "seq", "wall_time_unix_ms"):
        value = event.get(name)
        if not is_int(value):
            raise ReduceError(f"missing or non-integer field `{name}`")
        numbers.append(value)
    if numbers[1] < 0:
        raise ReduceError("field `seq` is negative")
    rollout_id = event.get("rollout_id")
    if not isinstance(rollout_id, str):
        raise ReduceError("missing or non-string field `rollout_id`")
    context: list[str | None] = []
    for name in ("thread_id", "codex_turn_id"):
        value = event.get(name)
        if value is not None and not isinstance(value, str):
            raise ReduceError(f"field `{name}` must be a string or null")
        context.append(value)
    payload = event.get("payload")
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        raise ReduceError("missing field `payload.type`")
    event_type = payload["type"]
    assert isinstance(event_type, str)
    return Envelope(numbers[0], numbers[1], numbers[2], rollout_id, context[0], context[1], event_type), payload


def parse_payload(
    envelope: Envelope, payload: JsonObject, schema_version: int, known: Mapping[str, RawPayload] | None = None
) -> Payload:
    """The typed payload of a known event type (unknown extra fields are ignored).

    A schema newer than ours may add event types: those give ``Skipped``.
    """
    parse = _PARSERS.get(envelope.type)
    if parse is None:
        if schema_version > NEWEST_SCHEMA:
            return Skipped()
        raise ReduceError(f"unknown event type `{envelope.type}`")
    if schema_version < EVENT_SINCE_SCHEMA.get(envelope.type, 1):
        raise ReduceError(f"event type `{envelope.type}` does not exist in schema {schema_version}")
    return parse(_Reader(payload, schema_version, known if known is not None else {}))


# ----- payload references ----------------------------------------------------------------------------


def parse_ref(name: str, value: JsonValue, schema_version: int, known: Mapping[str, RawPayload]) -> RawPayload:
    """A payload reference: a file ``path`` up to schema 2, a ``shard`` number from schema 3 on."""
    if not isinstance(value, dict):
        raise ReduceError(f"field `{name}` is not a payload reference")
    payload_id = value.get("raw_payload_id")
    if not isinstance(payload_id, str):
        raise ReduceError(f"payload reference `{name}` has no string `raw_payload_id`")
    if schema_version < 3:
        path = value.get("path")
        if not isinstance(path, str):
            raise ReduceError(f"payload reference `{name}` has no string `path`")
        return RawPayload(payload_id, _kind(name, value.get("kind"), schema_version), path=path)
    kind = _kind(name, value.get("kind"), schema_version)
    shard = value.get("shard")
    if shard is not None:
        # 0.171.0 refuses the whole line ("parse trace event line N"); we name the payload too.
        try:
            shard = event_u64(shard)
        except FieldError as error:
            raise PayloadError(payload_id, "", f"payload reference `{name}`: {error.message}") from None
    # A null or absent shard is a payload Codex left out (over its size limit): 0.171.0 accepts the
    # line and fails where it reads the payload ("payload omitted by size limit"); so does the store.
    parts = value.get("parts")
    if parts is None or parts == []:
        return RawPayload(payload_id, kind, shard=shard)
    if not isinstance(parts, list):
        raise ReduceError(f"payload reference `{name}` has non-array `parts`")
    return RawPayload(payload_id, kind, shard=shard, parts=_parse_parts(f"{name}.parts", parts, schema_version, known))


def _kind(name: str, value: JsonValue, schema_version: int) -> PayloadKind:
    kind_type = value.get("type") if isinstance(value, dict) else None
    if not isinstance(kind_type, str):
        raise ReduceError(f"payload reference `{name}` has no `kind.type`")
    known = _KINDS.get(kind_type)
    if known is not None and (schema_version >= 3 or kind_type in PAYLOAD_KINDS_SCHEMA2):
        return known
    if schema_version > NEWEST_SCHEMA:
        return PayloadKind(kind_type)  # a newer schema may add kinds
    expected = ", ".join(f"`{kind}`" for kind in payload_kinds(schema_version))
    raise ReduceError(f"payload reference `{name}`: unknown variant `{kind_type}`, expected one of {expected}")


def _parse_parts(
    name: str, parts: list[JsonValue], schema_version: int, known: Mapping[str, RawPayload]
) -> tuple[RawPayload, ...]:
    """A prepared prompt's parts (hundreds per call): a part equal to a known record is that record."""
    out: list[RawPayload] = []
    for part in parts:
        if isinstance(part, dict) and not part.get("parts"):
            part_id = part.get("raw_payload_id")
            existing = known.get(part_id) if isinstance(part_id, str) else None
            if existing is not None:
                kind = part.get("kind")
                shard = part.get("shard")
                if (
                    type(shard) is int  # (not 1.0 or true, which equal 1)
                    and existing.shard == shard
                    and isinstance(kind, dict)
                    and kind.get("type") == existing.kind.type
                    and existing.parts is UNSET
                ):
                    out.append(existing)
                    continue
        out.append(parse_ref(name, part, schema_version, known))
    return tuple(out)


def payload_refs(event_type: str, payload: Payload) -> list[RawPayload]:
    """Every payload reference of a typed event, in field order (a prepared prompt's parts not included)."""
    refs: list[RawPayload] = []
    for name in REF_FIELDS.get(event_type, ()):
        value = getattr(payload, name)
        if isinstance(value, RawPayload):
            refs.append(value)
        elif isinstance(value, tuple):
            refs.extend(entry for entry in value if isinstance(entry, RawPayload))
    return refs


# Fields of raw events that hold payload references, for readers of raw lines (the viewer, follow mode).
REF_FIELDS: dict[str, tuple[str, ...]] = {
    "thread_started": ("metadata_payload",),
    "history_item_accepted": ("agent_message_payload", "tool_output_payload"),
    "inference_started": ("request_payload", "prepared_prompt_payload"),
    "inference_completed": ("response_payload",),
    "inference_failed": ("partial_response_payload",),
    "inference_cancelled": ("partial_response_payload",),
    "tool_call_started": ("invocation_payload",),
    "tool_call_runtime_started": ("runtime_payload",),
    "tool_call_runtime_ended": ("runtime_payload",),
    "tool_call_ended": ("result_payload",),
    "code_cell_initial_response": ("response_payload",),
    "code_cell_ended": ("response_payload",),
    "compaction_request_started": ("request_payload",),
    "compaction_request_completed": ("response_payload",),
    "compaction_installed": ("checkpoint_payload",),
    "agent_result_observed": ("carried_payload",),
    "protocol_event_observed": ("event_payload",),
    "other": ("payloads",),
}


def raw_payload_refs(payload: JsonValue, *, with_parts: bool = False) -> list[JsonObject]:
    """The reference objects of a raw (unchecked) event payload, tolerating any shape."""
    if not isinstance(payload, dict):
        return []
    event_type = payload.get("type")
    refs: list[JsonObject] = []
    for name in REF_FIELDS.get(event_type, ()) if isinstance(event_type, str) else ():
        value = payload.get(name)
        for ref in value if isinstance(value, list) else [value]:
            if isinstance(ref, dict) and isinstance(ref.get("raw_payload_id"), str):
                refs.append(ref)
                parts = ref.get("parts")
                if with_parts and isinstance(parts, list):
                    refs.extend(raw_payload_refs({"type": "other", "payloads": parts}, with_parts=True))
    return refs
