"""Rollout, threads, codex turns and the execution window they share."""

from __future__ import annotations

from typing import Any, Literal, TypedDict

RolloutStatus = Literal["running", "completed", "failed", "aborted"]
ExecutionStatus = Literal["running", "completed", "failed", "cancelled", "aborted"]


class ExecutionWindow(TypedDict):
    """When an object lived. ``seq`` orders events; wall time is for display only."""

    started_at_unix_ms: int
    started_seq: int
    ended_at_unix_ms: int | None
    ended_seq: int | None
    status: ExecutionStatus


class AgentThread(TypedDict):
    """One Codex thread (agent). The root session is a thread too."""

    thread_id: str
    agent_path: str
    nickname: str | None
    # {"type": "root"} or {"type": "spawned", parent_thread_id, spawn_edge_id, task_name, agent_role}
    origin: dict[str, Any]
    execution: ExecutionWindow
    default_model: str | None
    # The thread's transcript in creation order (not the live context). Schema 1: every item
    # the thread saw. Schema 2: accepted history only (docs/REDUCER-NOTES.md).
    conversation_item_ids: list[str]


class CodexTurn(TypedDict):
    """One activation of the Codex runtime for a thread — not a chat turn."""

    codex_turn_id: str
    thread_id: str
    execution: ExecutionWindow
    input_item_ids: list[str]


class RolloutTrace(TypedDict, total=False):
    """The whole reduced graph. Id-keyed maps are sorted only when serialised."""

    schema_version: int
    trace_id: str
    rollout_id: str
    started_at_unix_ms: int
    ended_at_unix_ms: int | None
    status: RolloutStatus
    recording_complete: bool  # schema 2 only: absent from schema 1 output
    recording_status: Literal["complete", "unclosed"]  # schema 3 (replaces recording_complete)
    root_thread_id: str
    threads: dict[str, AgentThread]
    codex_turns: dict[str, CodexTurn]
    conversation_items: dict[str, Any]
    inference_calls: dict[str, Any]
    code_cells: dict[str, Any]
    tool_calls: dict[str, Any]
    terminal_sessions: dict[str, Any]
    terminal_operations: dict[str, Any]
    compactions: dict[str, Any]
    compaction_requests: dict[str, Any]
    interaction_edges: dict[str, Any]
    raw_payloads: dict[str, Any]


MAP_KEYS = (
    "threads",
    "codex_turns",
    "conversation_items",
    "inference_calls",
    "code_cells",
    "tool_calls",
    "terminal_sessions",
    "terminal_operations",
    "compactions",
    "compaction_requests",
    "interaction_edges",
    "raw_payloads",
)


def new_execution(seq: int, wall_time_unix_ms: int) -> ExecutionWindow:
    """A window that opened at this event and has not closed."""
    return {
        "started_at_unix_ms": wall_time_unix_ms,
        "started_seq": seq,
        "ended_at_unix_ms": None,
        "ended_seq": None,
        "status": "running",
    }


def new_rollout(
    schema_version: int,
    trace_id: str,
    rollout_id: str,
    root_thread_id: str,
    started_at_unix_ms: int,
) -> RolloutTrace:
    """An empty graph, in the official field order."""
    rollout: RolloutTrace = {
        "schema_version": schema_version,
        "trace_id": trace_id,
        "rollout_id": rollout_id,
        "started_at_unix_ms": started_at_unix_ms,
        "ended_at_unix_ms": None,
        "status": "running",
    }
    if schema_version >= 3:
        rollout["recording_status"] = "unclosed"
    elif schema_version >= 2:
        rollout["recording_complete"] = False
    rollout["root_thread_id"] = root_thread_id
    for key in MAP_KEYS:
        rollout[key] = {}  # type: ignore[literal-required]
    return rollout
