"""The reduced trace graph: what a finished (or partial) bundle *is*.

Every object is a typed ``msgspec.Struct`` (see ``model.base``): attribute access checked by mypy,
and one encoder call (``to_state_json``) writes exactly the official ``state.json`` (fields in the
official order, unknown optional fields left out, id-keyed maps sorted like BTreeMaps).

The model knows nothing about how it is built (``trace_viewer.reducer``) or shown
(``trace_viewer.app``).
"""

from __future__ import annotations

from collections.abc import Iterator

import msgspec

from trace_viewer.model.base import (
    UNSET,
    ExecutionStatus,
    ExecutionWindow,
    RolloutStatus,
    Unset,
    is_set,
    new_execution,
    tag_of,
)
from trace_viewer.model.conversation import (
    AgentMessageMetadata,
    CodeCellProducer,
    CodePart,
    CompactionProducer,
    ConversationBody,
    ConversationChannel,
    ConversationItem,
    ConversationItemKind,
    ConversationPart,
    ConversationRole,
    EncodedPart,
    HarnessProducer,
    InferenceCall,
    InferenceProducer,
    InteractionEdgeProducer,
    JsonPart,
    PayloadRefPart,
    Producer,
    SummaryPart,
    TextPart,
    TokenUsage,
    ToolProducer,
    UserInputProducer,
    producer_source_id,
)
from trace_viewer.model.runtime import (
    AgentSummary,
    ApplyPatchKind,
    AssignAgentTaskKind,
    CloseAgentKind,
    CodeCell,
    CodeCellRequester,
    CodeCellRuntimeStatus,
    Compaction,
    CompactionRequest,
    ConversationItemAnchor,
    ExecCommandKind,
    ExecCommandRequest,
    GenericSummary,
    ImageGenerationKind,
    InteractionEdge,
    InteractionEdgeKind,
    McpKind,
    ModelRequester,
    OtherKind,
    SendMessageKind,
    SpawnAgentKind,
    TerminalModelObservation,
    TerminalOperation,
    TerminalRequest,
    TerminalResult,
    TerminalSession,
    TerminalSummary,
    ThreadAnchor,
    ToolCall,
    ToolCallAnchor,
    ToolCallKind,
    ToolCallRequester,
    ToolCallSummary,
    TraceAnchor,
    WaitAgentKind,
    WaitAgentSummary,
    WebKind,
    WriteStdinKind,
    WriteStdinRequest,
)
from trace_viewer.model.session import (
    AgentThread,
    CodexTurn,
    PayloadKind,
    RawPayload,
    RecordingStatus,
    RolloutTrace,
    RootOrigin,
    SpawnedOrigin,
    ThreadOrigin,
    new_rollout,
)

_ENCODER = msgspec.json.Encoder(order="deterministic")


def to_state_json(rollout: RolloutTrace) -> bytes:
    """The graph as compact JSON: official field order, maps sorted by key."""
    return _ENCODER.encode(rollout)


def state_json_pieces(rollout: RolloutTrace) -> Iterator[bytes]:
    """``to_state_json`` indented by 2 (as ``msgspec.json.format`` indents it), one map entry at a
    time: written piece by piece, the text never exists whole, nor once compact and once indented."""
    encode = _ENCODER.encode
    opening = b"{\n  "
    for name in rollout.__struct_fields__:
        value = getattr(rollout, name)
        if value is UNSET:  # (omitted, as the encoder omits it)
            continue
        yield opening + encode(name) + b": "
        opening = b",\n  "
        if isinstance(value, dict) and value:
            entry = b"{\n    "
            for key in sorted(value):
                yield entry + encode(key) + b": " + _indented(encode(value[key]), b"\n    ")
                entry = b",\n    "
            yield b"\n  }"
        else:
            yield _indented(encode(value), b"\n  ")
    yield b"\n}"


def _indented(compact: bytes, newline: bytes) -> bytes:
    # (A raw newline is never inside JSON text, so each one starts a line of the formatted value.)
    return msgspec.json.format(compact, indent=2).replace(b"\n", newline)


def to_builtins(value: object) -> object:
    """The graph (or any part of it) as plain JSON values: dicts, lists, strings, numbers."""
    return msgspec.json.decode(_ENCODER.encode(value))


__all__ = [
    "UNSET",
    "AgentMessageMetadata",
    "AgentSummary",
    "AgentThread",
    "ApplyPatchKind",
    "AssignAgentTaskKind",
    "CloseAgentKind",
    "CodeCell",
    "CodeCellProducer",
    "CodeCellRequester",
    "CodeCellRuntimeStatus",
    "CodePart",
    "CodexTurn",
    "Compaction",
    "CompactionProducer",
    "CompactionRequest",
    "ConversationBody",
    "ConversationChannel",
    "ConversationItem",
    "ConversationItemAnchor",
    "ConversationItemKind",
    "ConversationPart",
    "ConversationRole",
    "EncodedPart",
    "ExecCommandKind",
    "ExecCommandRequest",
    "ExecutionStatus",
    "ExecutionWindow",
    "GenericSummary",
    "HarnessProducer",
    "ImageGenerationKind",
    "InferenceCall",
    "InferenceProducer",
    "InteractionEdge",
    "InteractionEdgeKind",
    "InteractionEdgeProducer",
    "JsonPart",
    "McpKind",
    "ModelRequester",
    "OtherKind",
    "PayloadKind",
    "PayloadRefPart",
    "Producer",
    "RawPayload",
    "RecordingStatus",
    "RolloutStatus",
    "RolloutTrace",
    "RootOrigin",
    "SendMessageKind",
    "SpawnAgentKind",
    "SpawnedOrigin",
    "SummaryPart",
    "TerminalModelObservation",
    "TerminalOperation",
    "TerminalRequest",
    "TerminalResult",
    "TerminalSession",
    "TerminalSummary",
    "TextPart",
    "ThreadAnchor",
    "ThreadOrigin",
    "TokenUsage",
    "ToolCall",
    "ToolCallAnchor",
    "ToolCallKind",
    "ToolCallRequester",
    "ToolCallSummary",
    "ToolProducer",
    "TraceAnchor",
    "Unset",
    "UserInputProducer",
    "WaitAgentKind",
    "WaitAgentSummary",
    "WebKind",
    "WriteStdinKind",
    "WriteStdinRequest",
    "is_set",
    "new_execution",
    "new_rollout",
    "producer_source_id",
    "state_json_pieces",
    "tag_of",
    "to_builtins",
    "to_state_json",
]
