"""Rollout, thread and codex-turn lifecycles (the crate's `thread` reducer)."""

from __future__ import annotations

from dataclasses import dataclass

from trace_viewer.model import AgentThread, CodexTurn, RootOrigin, SpawnedOrigin, ThreadOrigin, new_execution
from trace_viewer.reducer.core import ReducerCore
from trace_viewer.reducer.errors import ReduceError
from trace_viewer.reducer.events import (
    CodexTurnEnded,
    CodexTurnStarted,
    Envelope,
    ProtocolEventObserved,
    RecordingCompleted,
    RolloutEnded,
    RolloutStarted,
    ThreadEnded,
    ThreadResumed,
    ThreadStarted,
)
from trace_viewer.reducer.fields import JsonObject, JsonValue, opt_str
from trace_viewer.reducer.interfaces import Parts


def spawn_edge_id(parent_thread_id: str, child_thread_id: str) -> str:
    return f"edge:spawn:{parent_thread_id}:{child_thread_id}"


def task_name_from_agent_path(agent_path: str) -> str:
    """Last non-empty path segment: `/root/worker_a` → `worker_a`."""
    for segment in reversed(agent_path.split("/")):
        if segment:
            return segment
    return agent_path


@dataclass(frozen=True, slots=True)
class _Spawn:
    parent_thread_id: str
    agent_path: str | None
    task_name: str | None
    agent_role: str | None


class ThreadsReducer:
    """Threads and codex turns; also the rollout's own status and recording state."""

    def __init__(self, core: ReducerCore) -> None:
        self.core = core
        self.threads = core.rollout.threads
        self.turns = core.rollout.codex_turns
        self.recording_closed = False  # `recording_completed` was applied: nothing may follow

    def connect(self, parts: Parts) -> None:
        self.parts = parts

    # ----- lookups (the Threads interface) ---------------------------------------------------------
    def thread(self, thread_id: str) -> AgentThread:
        thread = self.threads.get(thread_id)
        if thread is None:
            raise ReduceError(f"trace event referenced unknown thread {thread_id}")
        return thread

    def find_thread(self, thread_id: str) -> AgentThread | None:
        return self.threads.get(thread_id)

    def turn(self, codex_turn_id: str) -> CodexTurn | None:
        return self.turns.get(codex_turn_id)

    # ----- rollout ---------------------------------------------------------------------------------
    def rollout_started(self, envelope: Envelope, event: RolloutStarted) -> None:
        self.core.rollout.trace_id = event.trace_id
        self.core.rollout.root_thread_id = event.root_thread_id

    def rollout_ended(self, envelope: Envelope, event: RolloutEnded) -> None:
        # The last rollout_ended wins, and later events are still reduced normally.
        self.core.rollout.status = event.status
        self.core.rollout.ended_at_unix_ms = envelope.wall_time_unix_ms

    def recording_completed(self, envelope: Envelope, event: RecordingCompleted) -> None:
        self.recording_closed = True
        if self.core.schema_version >= 3:
            self.core.rollout.recording_status = "complete"
        else:
            self.core.rollout.recording_complete = True

    def protocol_event_observed(self, envelope: Envelope, event: ProtocolEventObserved) -> None:
        """Protocol events are evidence for the inspector; they change no reduced object."""

    # ----- threads ---------------------------------------------------------------------------------
    def thread_started(self, envelope: Envelope, event: ThreadStarted) -> None:
        thread_id = event.thread_id
        if thread_id in self.threads:
            raise ReduceError(f"duplicate thread start for {thread_id}")
        metadata: JsonObject = {}
        if event.metadata_payload is not None:
            value = self.core.read_payload(event.metadata_payload)
            if not isinstance(value, dict):
                raise ReduceError(f"parse thread metadata {event.metadata_payload.raw_payload_id}")
            metadata = value
        spawn = _thread_spawn(metadata)
        agent_path = (spawn.agent_path if spawn else None) or opt_str(metadata.get("agent_path")) or event.agent_path
        origin: ThreadOrigin = RootOrigin()
        if spawn is not None:
            origin = SpawnedOrigin(
                spawn.parent_thread_id,
                spawn_edge_id(spawn.parent_thread_id, thread_id),
                spawn.task_name or task_name_from_agent_path(agent_path),
                spawn.agent_role or "",
            )
        self.threads[thread_id] = AgentThread(
            thread_id,
            agent_path,
            opt_str(metadata.get("nickname")),
            origin,
            new_execution(envelope.seq, envelope.wall_time_unix_ms),
            opt_str(metadata.get("model")),
        )
        self.core.note_created(thread_id)

    def thread_ended(self, envelope: Envelope, event: ThreadEnded) -> None:
        thread = self.thread(event.thread_id)
        thread.execution.close(envelope.seq, envelope.wall_time_unix_ms, event.status)
        self.core.note_updated(thread.thread_id)

    def thread_resumed(self, envelope: Envelope, event: ThreadResumed) -> None:
        thread_id = event.thread_id
        thread = self.threads.get(thread_id)
        if thread is None:
            raise ReduceError(
                f"cannot resume thread {thread_id}: it was not started in this trace; "
                "resuming threads from an earlier trace is not supported"
            )
        execution = thread.execution
        if execution.ended_seq is None:
            raise ReduceError(f"resumed thread {thread_id} has not ended")
        execution.ended_at_unix_ms = None
        execution.ended_seq = None
        execution.status = "running"
        self.core.note_updated(thread_id)

    # ----- codex turns -------------------------------------------------------------------------------
    def codex_turn_started(self, envelope: Envelope, event: CodexTurnStarted) -> None:
        turn_id = event.codex_turn_id
        if turn_id in self.turns:
            raise ReduceError(f"duplicate codex turn start for {turn_id}")
        self.thread(event.thread_id)
        self.turns[turn_id] = CodexTurn(
            turn_id, event.thread_id, new_execution(envelope.seq, envelope.wall_time_unix_ms)
        )
        self.core.note_created(turn_id)

    def codex_turn_ended(self, envelope: Envelope, event: CodexTurnEnded) -> None:
        turn_id = event.codex_turn_id
        turn = self.turns.get(turn_id)
        if envelope.thread_id is not None and turn is not None and turn.thread_id != envelope.thread_id:
            raise ReduceError(
                f"codex turn end for {turn_id} used thread {envelope.thread_id}, "
                f"but the turn belongs to {turn.thread_id}"
            )
        if turn is None:
            raise ReduceError(f"codex turn end referenced unknown turn {turn_id}")
        turn.execution.close(envelope.seq, envelope.wall_time_unix_ms, event.status)
        self.core.note_updated(turn_id)
        seq, wall = envelope.seq, envelope.wall_time_unix_ms
        self.parts.code_cells.terminate_running_cells_for_turn_end(seq, wall, turn_id, event.status)
        self.parts.inference.close_running_calls_for_turn_end(seq, wall, turn_id, event.status)


def _object(value: JsonValue) -> JsonObject | None:
    return value if isinstance(value, dict) else None


def _thread_spawn(metadata: JsonObject) -> _Spawn | None:
    """The `session_source.subagent.thread_spawn` block of a child thread's metadata."""
    source = _object(metadata.get("session_source"))
    subagent = _object(source.get("subagent")) if source else None
    spawn = _object(subagent.get("thread_spawn")) if subagent else None
    parent = spawn.get("parent_thread_id") if spawn else None
    if spawn is None or not isinstance(parent, str):
        return None
    agent_path = opt_str(spawn.get("agent_path")) or opt_str(metadata.get("agent_path"))
    task_name = (
        opt_str(spawn.get("task_name"))
        or opt_str(metadata.get("task_name"))
        or (task_name_from_agent_path(agent_path) if agent_path else None)
    )
    return _Spawn(
        parent, agent_path, task_name, opt_str(spawn.get("agent_role")) or opt_str(metadata.get("agent_role"))
    )
