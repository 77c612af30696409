"""Rollout, threads, codex turns and the raw payloads every object points into."""

from __future__ import annotations

from typing import Literal, TypeAlias

import msgspec

from trace_viewer.model.base import UNSET, ExecutionWindow, Record, RolloutStatus, Tagged, Unset
from trace_viewer.model.conversation import ConversationItem, InferenceCall
from trace_viewer.model.runtime import (
    CodeCell,
    Compaction,
    CompactionRequest,
    InteractionEdge,
    TerminalOperation,
    TerminalSession,
    ToolCall,
)

RecordingStatus = Literal["complete", "unclosed"]


class RootOrigin(Tagged, frozen=True, tag="root"):
    pass


class SpawnedOrigin(Tagged, frozen=True, tag="spawned"):
    parent_thread_id: str
    spawn_edge_id: str
    task_name: str
    agent_role: str


ThreadOrigin: TypeAlias = RootOrigin | SpawnedOrigin


class AgentThread(Record):
    """One Codex thread (agent). The root session is a thread too."""

    thread_id: str
    agent_path: str
    nickname: str | None
    origin: ThreadOrigin
    execution: ExecutionWindow
    default_model: str | None
    # The thread's transcript in creation order (not the live context). Schema 1: every item the
    # thread saw. Schema 2 on: accepted history only (docs/REDUCER-NOTES.md).
    conversation_item_ids: list[str] = msgspec.field(default_factory=list)


class CodexTurn(Record):
    """One activation of the Codex runtime for a thread — not a chat turn."""

    codex_turn_id: str
    thread_id: str
    execution: ExecutionWindow
    input_item_ids: list[str] = msgspec.field(default_factory=list)


class PayloadKind(msgspec.Struct, frozen=True, gc=False):
    """`{"type": "inference_request"}` and the like."""

    type: str


class RawPayload(msgspec.Struct, frozen=True, gc=False):
    """Where a payload is stored: a file (schemas 1, 2) or a shard record (schema 3)."""

    raw_payload_id: str
    kind: PayloadKind
    path: str | Unset = UNSET
    # Schema 3; None when the trace has no shard (Codex left the payload out: reading it is a fault).
    shard: int | None | Unset = UNSET
    # Schema 3 prepared prompts: the model items they are made of (omitted when none).
    parts: tuple[RawPayload, ...] | Unset = UNSET

    def location(self) -> dict[str, object]:
        """Where a payload store finds it: the id and its file or shard (not the parts, which a
        read never needs; building them for every read of a prepared prompt was measurable)."""
        out: dict[str, object] = {"raw_payload_id": self.raw_payload_id}
        if not isinstance(self.path, msgspec.UnsetType):
            out["path"] = self.path
        if not isinstance(self.shard, msgspec.UnsetType):
            out["shard"] = self.shard
        return out

    def reference(self) -> dict[str, object]:
        """The whole reference as the trace writes it (a JSON-shaped mapping, parts included)."""
        out: dict[str, object] = {"raw_payload_id": self.raw_payload_id, "kind": {"type": self.kind.type}}
        if not isinstance(self.path, msgspec.UnsetType):
            out["path"] = self.path
        if not isinstance(self.shard, msgspec.UnsetType):
            out["shard"] = self.shard
        if isinstance(self.parts, tuple):
            out["parts"] = [part.reference() for part in self.parts]
        return out


class RolloutTrace(Record):
    """The whole reduced graph. Id-keyed maps are sorted only when serialised."""

    schema_version: int
    trace_id: str
    rollout_id: str
    started_at_unix_ms: int
    ended_at_unix_ms: int | None = None
    status: RolloutStatus = "running"
    recording_complete: bool | Unset = UNSET  # schema 2
    recording_status: RecordingStatus | Unset = UNSET  # schema 3 (replaces recording_complete)
    root_thread_id: str = ""
    threads: dict[str, AgentThread] = msgspec.field(default_factory=dict)
    codex_turns: dict[str, CodexTurn] = msgspec.field(default_factory=dict)
    conversation_items: dict[str, ConversationItem] = msgspec.field(default_factory=dict)
    inference_calls: dict[str, InferenceCall] = msgspec.field(default_factory=dict)
    code_cells: dict[str, CodeCell] = msgspec.field(default_factory=dict)
    tool_calls: dict[str, ToolCall] = msgspec.field(default_factory=dict)
    terminal_sessions: dict[str, TerminalSession] = msgspec.field(default_factory=dict)
    terminal_operations: dict[str, TerminalOperation] = msgspec.field(default_factory=dict)
    compactions: dict[str, Compaction] = msgspec.field(default_factory=dict)
    compaction_requests: dict[str, CompactionRequest] = msgspec.field(default_factory=dict)
    interaction_edges: dict[str, InteractionEdge] = msgspec.field(default_factory=dict)
    raw_payloads: dict[str, RawPayload] = msgspec.field(default_factory=dict)


def new_rollout(
    schema_version: int, trace_id: str, rollout_id: str, root_thread_id: str, started_at_unix_ms: int
) -> RolloutTrace:
    """An empty graph of a schema (its recording flag set as the official output has it)."""
    rollout = RolloutTrace(schema_version, trace_id, rollout_id, started_at_unix_ms, root_thread_id=root_thread_id)
    if schema_version >= 3:
        rollout.recording_status = "unclosed"
    elif schema_version >= 2:
        rollout.recording_complete = False
    return rollout
