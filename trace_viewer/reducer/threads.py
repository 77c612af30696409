"""Rollout, thread and codex-turn lifecycles."""

from __future__ import annotations

from typing import Any

from trace_viewer.model import new_execution
from trace_viewer.reducer.core import ReducerBase
from trace_viewer.reducer.errors import ReduceError

_THREAD_STATUS = {"running": "running", "completed": "completed", "failed": "failed", "aborted": "aborted"}


def spawn_edge_id(parent_thread_id: str, child_thread_id: str) -> str:
    return f"edge:spawn:{parent_thread_id}:{child_thread_id}"


def task_name_from_agent_path(agent_path: str) -> str:
    """Last non-empty path segment: `/root/worker_a` → `worker_a`."""
    for segment in reversed(agent_path.split("/")):
        if segment:
            return segment
    return agent_path


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


class ThreadReducer(ReducerBase):
    def on_rollout_started(self, event: dict[str, Any]) -> None:
        payload = event["payload"]
        self.rollout["trace_id"] = payload["trace_id"]
        self.rollout["root_thread_id"] = payload["root_thread_id"]

    def on_rollout_ended(self, event: dict[str, Any]) -> None:
        # The last rollout_ended wins, and later events are still reduced normally.
        self.rollout["status"] = event["payload"]["status"]
        self.rollout["ended_at_unix_ms"] = event["wall_time_unix_ms"]

    def on_recording_completed(self, event: dict[str, Any]) -> None:
        self.recording_completed = True
        if self.schema_version >= 3:
            self.rollout["recording_status"] = "complete"
        else:
            self.rollout["recording_complete"] = True

    def on_protocol_event_observed(self, event: dict[str, Any]) -> None:
        """Protocol events are evidence for the inspector; they change no reduced object."""

    def on_thread_started(self, event: dict[str, Any]) -> None:
        payload = event["payload"]
        thread_id: str = payload["thread_id"]
        if thread_id in self.rollout["threads"]:
            raise ReduceError(f"duplicate thread start for {thread_id}")
        metadata: dict[str, Any] = {}
        if payload.get("metadata_payload") is not None:
            value = self.read_payload(payload["metadata_payload"])
            if not isinstance(value, dict):
                raise ReduceError(f"parse thread metadata {payload['metadata_payload']['raw_payload_id']}")
            metadata = value
        spawn = _thread_spawn(metadata)
        agent_path = (spawn or {}).get("agent_path") or _opt_str(metadata.get("agent_path")) or payload["agent_path"]
        origin: dict[str, Any]
        if spawn is not None:
            origin = {
                "type": "spawned",
                "parent_thread_id": spawn["parent_thread_id"],
                "spawn_edge_id": spawn_edge_id(spawn["parent_thread_id"], thread_id),
                "task_name": spawn.get("task_name") or task_name_from_agent_path(agent_path),
                "agent_role": spawn.get("agent_role") or "",
            }
        else:
            origin = {"type": "root"}
        self.rollout["threads"][thread_id] = {
            "thread_id": thread_id,
            "agent_path": agent_path,
            "nickname": _opt_str(metadata.get("nickname")),
            "origin": origin,
            "execution": new_execution(event["seq"], event["wall_time_unix_ms"]),
            "default_model": _opt_str(metadata.get("model")),
            "conversation_item_ids": [],
        }
        self.note_created(thread_id)

    def on_thread_ended(self, event: dict[str, Any]) -> None:
        payload = event["payload"]
        thread = self.thread(payload["thread_id"])
        execution = thread["execution"]
        execution["ended_at_unix_ms"] = event["wall_time_unix_ms"]
        execution["ended_seq"] = event["seq"]
        execution["status"] = _THREAD_STATUS[payload["status"]]
        self.note_updated(thread["thread_id"])

    def on_thread_resumed(self, event: dict[str, Any]) -> None:
        thread_id = event["payload"]["thread_id"]
        thread = self.rollout["threads"].get(thread_id)
        if thread is None:
            raise ReduceError(
                f"cannot resume thread {thread_id}: it was not started in this trace; "
                "resuming threads from an earlier trace is not supported"
            )
        execution = thread["execution"]
        if execution["ended_seq"] is None:
            raise ReduceError(f"resumed thread {thread_id} has not ended")
        execution["ended_at_unix_ms"] = None
        execution["ended_seq"] = None
        execution["status"] = "running"
        self.note_updated(thread_id)

    def on_codex_turn_started(self, event: dict[str, Any]) -> None:
        payload = event["payload"]
        turn_id: str = payload["codex_turn_id"]
        if turn_id in self.rollout["codex_turns"]:
            raise ReduceError(f"duplicate codex turn start for {turn_id}")
        self.thread(payload["thread_id"])
        self.rollout["codex_turns"][turn_id] = {
            "codex_turn_id": turn_id,
            "thread_id": payload["thread_id"],
            "execution": new_execution(event["seq"], event["wall_time_unix_ms"]),
            "input_item_ids": [],
        }
        self.note_created(turn_id)

    def on_codex_turn_ended(self, event: dict[str, Any]) -> None:
        payload = event["payload"]
        turn_id: str = payload["codex_turn_id"]
        turn = self.rollout["codex_turns"].get(turn_id)
        envelope_thread = event.get("thread_id")
        if envelope_thread is not None and turn is not None and turn["thread_id"] != envelope_thread:
            raise ReduceError(
                f"codex turn end for {turn_id} used thread {envelope_thread}, "
                f"but the turn belongs to {turn['thread_id']}"
            )
        if turn is None:
            raise ReduceError(f"codex turn end referenced unknown turn {turn_id}")
        status = payload["status"]
        execution = turn["execution"]
        execution["ended_at_unix_ms"] = event["wall_time_unix_ms"]
        execution["ended_seq"] = event["seq"]
        execution["status"] = status
        self.note_updated(turn_id)
        self.terminate_running_code_cells_for_turn_end(event["seq"], event["wall_time_unix_ms"], turn_id, status)
        self.close_running_inference_calls_for_turn_end(event["seq"], event["wall_time_unix_ms"], turn_id, status)


def _thread_spawn(metadata: dict[str, Any]) -> dict[str, Any] | None:
    """The `session_source.subagent.thread_spawn` block of a child thread's metadata."""
    source = metadata.get("session_source")
    if not isinstance(source, dict):
        return None
    subagent = source.get("subagent")
    if not isinstance(subagent, dict):
        return None
    spawn = subagent.get("thread_spawn")
    if not isinstance(spawn, dict):
        return None
    parent = spawn.get("parent_thread_id")
    if not isinstance(parent, str):
        return None
    agent_path = _opt_str(spawn.get("agent_path")) or _opt_str(metadata.get("agent_path"))
    task_name = (
        _opt_str(spawn.get("task_name"))
        or _opt_str(metadata.get("task_name"))
        or (task_name_from_agent_path(agent_path) if agent_path else None)
    )
    return {
        "parent_thread_id": parent,
        "agent_path": agent_path,
        "task_name": task_name,
        "agent_role": _opt_str(spawn.get("agent_role")) or _opt_str(metadata.get("agent_role")),
    }
