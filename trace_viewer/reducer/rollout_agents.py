"""Multi-agent interaction edges of a session rollout, as ``reducer.agents`` builds them for bundles.

A rollout has no runtime events for the agent tools, but the parent's file records what each one
did as a UI item (``event_msg.item_completed``) naming the tool call and the other thread:

- multi-agent v2 ``SubAgentActivity``: ``started`` (a spawn), ``interacted`` (send_message /
  followup_task), ``interrupted`` (interrupt_agent), ``completed`` (a child's turn finished: its
  result is delivered to the parent);
- multi-agent v1 ``CollabAgentToolCall``: ``spawn_agent`` and ``close_agent`` with
  ``receiver_thread_ids``.

Edges go from the tool call (or the child's final message, for a result) to the conversation item
that delivered the message on the other side: the next ``agent_message`` of the receiving thread
from the sender's agent path, whichever of the two files is applied first. A spawn whose task
item never appears (v1 children get a plain user message) ends on the child thread, and a close
always does; undelivered sends and results are dropped, as the bundle reducer does. Edge ids,
kinds, anchors and times are the bundle reducer's (checked against the bundle of the same run).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from trace_viewer.model import (
    AgentMessageMetadata,
    AssignAgentTaskKind,
    ConversationItem,
    ConversationItemAnchor,
    InteractionEdge,
    InteractionEdgeKind,
    RolloutTrace,
    SendMessageKind,
    ThreadAnchor,
    ToolCall,
    ToolCallAnchor,
    TraceAnchor,
)
from trace_viewer.reducer.agents import spawn_edge_id, tool_edge_id

_COMPLETED_PREFIX = "subagent-completed-"


def agent_result_edge_id(child_thread_id: str, child_turn_id: str, parent_thread_id: str) -> str:
    return f"edge:agent_result:{child_thread_id}:{child_turn_id}:{parent_thread_id}"


@dataclass(slots=True)
class _Pending:
    """An edge waiting for the receiving thread's delivery item."""

    edge_id: str
    kind: InteractionEdgeKind
    source: TraceAnchor
    target_thread_id: str
    author: str
    started_at_unix_ms: int
    ended_at_unix_ms: int | None = None
    carried_raw_payload_ids: list[str] = field(default_factory=list)
    # Spawns only: the child thread to end on if the task item never shows up.
    fallback_thread_id: str | None = None
    # A v1 spawn: no task item will come; the edge ends on the child as soon as its file is read.
    on_thread: bool = False


@dataclass(slots=True)
class RolloutAgents:
    """Pending deliveries and the edges they became; fed by the rollout reducer, line by line."""

    rollout: RolloutTrace
    note_created: Callable[[str], None]
    note_updated: Callable[[str], None]
    pending: list[_Pending] = field(default_factory=list)
    # Delivery items no edge claimed yet, per receiving thread: (item id, author), in arrival order.
    unclaimed: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    # The last plain assistant message of each (thread, turn): what a child's result reports.
    last_answer: dict[tuple[str, str], str] = field(default_factory=dict)

    # ----- what the reducer reports -------------------------------------------------------------
    def item_added(self, item: ConversationItem) -> None:
        """A model-visible item of a thread's own history (not a forked child's copy, not a replacement)."""
        metadata = item.agent_message
        if isinstance(metadata, AgentMessageMetadata):
            thread = self.rollout.threads.get(item.thread_id)
            if thread is None or metadata.recipient != thread.agent_path:
                return
            for index, pending in enumerate(self.pending):
                if not pending.on_thread and (pending.target_thread_id, pending.author) == (
                    item.thread_id,
                    metadata.author,
                ):
                    del self.pending[index]
                    self._to_item(pending, item.item_id)
                    return
            self.unclaimed.setdefault(item.thread_id, []).append((item.item_id, metadata.author))
        elif item.role == "assistant" and item.kind == "message" and item.codex_turn_id is not None:
            self.last_answer[(item.thread_id, item.codex_turn_id)] = item.item_id

    def activity(self, thread_id: str, ui_item: dict[str, object], tool: ToolCall | None, line_payload: str,
                 wall: int) -> None:  # fmt: skip
        """A UI item of a parent thread about another thread (see the module docstring)."""
        kind = ui_item.get("type")
        if kind == "SubAgentActivity":
            other = ui_item.get("agent_thread_id")
            if not isinstance(other, str):
                return
            what = ui_item.get("kind")
            if what == "completed":
                item_id = ui_item.get("id")
                if isinstance(item_id, str) and item_id.startswith(_COMPLETED_PREFIX):
                    self._result(thread_id, other, item_id[len(_COMPLETED_PREFIX) :], line_payload, wall)
            elif tool is not None and what == "started":
                self._deliver(tool, spawn_edge_id(thread_id, other), "spawn_agent", other, wall, fallback=True)
            elif tool is not None and what == "interacted":
                edge_kind: InteractionEdgeKind = (
                    "assign_agent_task" if isinstance(tool.kind, AssignAgentTaskKind) else "send_message"
                )
                if isinstance(tool.kind, AssignAgentTaskKind | SendMessageKind):
                    self._deliver(tool, tool_edge_id(tool.tool_call_id), edge_kind, other, wall, fallback=False)
            elif tool is not None and what == "interrupted":
                self._close(tool, other, wall)
        elif kind == "CollabAgentToolCall" and tool is not None:
            receivers = ui_item.get("receiver_thread_ids")
            others = [value for value in receivers if isinstance(value, str)] if isinstance(receivers, list) else []
            name = ui_item.get("tool")
            for other in others:
                if name == "spawn_agent":
                    # A v1 child's task is a plain user message, never a delivery item: the edge ends
                    # on the thread (where the bundle reducer's spawn fallback puts it too).
                    edge = self._edge(tool, spawn_edge_id(thread_id, other), "spawn_agent", other, wall)
                    if other in self.rollout.threads:
                        self._upsert(edge)
                    else:  # its file comes later in the merged order
                        self.pending.append(
                            _Pending(
                                edge.edge_id,
                                edge.kind,
                                edge.source,
                                other,
                                "",
                                edge.started_at_unix_ms,
                                wall,
                                edge.carried_raw_payload_ids,
                                other,
                                on_thread=True,
                            )
                        )
                elif name == "close_agent":
                    self._close(tool, other, wall)

    def thread_started(self, thread_id: str) -> None:
        """A thread's file was reached: v1 spawns of it end on it now."""
        for pending in [p for p in self.pending if p.on_thread and p.fallback_thread_id == thread_id]:
            self.pending.remove(pending)
            self._to_thread(pending, thread_id)

    def finish(self) -> None:
        """The files end: spawns that never met their task item end on the child thread."""
        pending, self.pending = self.pending, []
        for edge in pending:
            child = edge.fallback_thread_id
            if child is not None and child in self.rollout.threads:
                self._to_thread(edge, child)

    def _to_thread(self, pending: _Pending, thread_id: str) -> None:
        self._upsert(
            InteractionEdge(
                pending.edge_id,
                pending.kind,
                pending.source,
                ThreadAnchor(thread_id),
                pending.started_at_unix_ms,
                pending.ended_at_unix_ms,
                [],
                list(pending.carried_raw_payload_ids),
            )
        )

    # ----- edges -------------------------------------------------------------------------------------
    def _deliver(
        self, tool: ToolCall, edge_id: str, kind: InteractionEdgeKind, target: str, wall: int, *, fallback: bool
    ) -> None:
        sender = self.rollout.threads.get(tool.thread_id)
        if sender is None:
            return
        self._queue(
            _Pending(
                edge_id,
                kind,
                ToolCallAnchor(tool.tool_call_id),
                target,
                sender.agent_path,
                tool.execution.started_at_unix_ms,
                wall,
                _payload_ids(tool),
                target if fallback else None,
            )
        )

    def _result(self, parent: str, child: str, child_turn: str, line_payload: str, wall: int) -> None:
        thread = self.rollout.threads.get(child)
        if thread is None:
            return
        answer = self.last_answer.get((child, child_turn))
        source: TraceAnchor = ConversationItemAnchor(answer) if answer is not None else ThreadAnchor(child)
        edge_id = agent_result_edge_id(child, child_turn, parent)
        self._queue(_Pending(edge_id, "agent_result", source, parent, thread.agent_path, wall, wall, [line_payload]))

    def _queue(self, pending: _Pending) -> None:
        waiting = self.unclaimed.get(pending.target_thread_id, []) if not pending.on_thread else []
        for index, (item_id, author) in enumerate(waiting):
            if author == pending.author:
                del waiting[index]
                self._to_item(pending, item_id)
                return
        self.pending.append(pending)

    def _to_item(self, pending: _Pending, item_id: str) -> None:
        self._upsert(
            InteractionEdge(
                pending.edge_id,
                pending.kind,
                pending.source,
                ConversationItemAnchor(item_id),
                pending.started_at_unix_ms,
                pending.ended_at_unix_ms,
                [item_id],
                list(pending.carried_raw_payload_ids),
            )
        )

    def _close(self, tool: ToolCall, target: str, wall: int) -> None:
        if target in self.rollout.threads:  # a close naming a thread this session never saw: no edge
            self._upsert(self._edge(tool, tool_edge_id(tool.tool_call_id), "close_agent", target, wall))

    def _edge(self, tool: ToolCall, edge_id: str, kind: InteractionEdgeKind, target: str, wall: int) -> InteractionEdge:
        return InteractionEdge(
            edge_id,
            kind,
            ToolCallAnchor(tool.tool_call_id),
            ThreadAnchor(target),
            tool.execution.started_at_unix_ms,
            wall,
            [],
            _payload_ids(tool),
        )

    def _upsert(self, edge: InteractionEdge) -> None:
        edges = self.rollout.interaction_edges
        existing = edges.get(edge.edge_id)
        if existing is None:
            edges[edge.edge_id] = edge
            self.note_created(edge.edge_id)
            return
        existing.ended_at_unix_ms = edge.ended_at_unix_ms
        for payload_id in edge.carried_raw_payload_ids:
            if payload_id not in existing.carried_raw_payload_ids:
                existing.carried_raw_payload_ids.append(payload_id)
        self.note_updated(edge.edge_id)

    def tool_result(self, tool: ToolCall) -> None:
        """A tool's output arrived after its edge: the edge keeps the result line as evidence too."""
        result = tool.raw_result_payload_id
        if result is None:
            return
        anchor = ToolCallAnchor(tool.tool_call_id)
        for edge in self.rollout.interaction_edges.values():
            if edge.source == anchor and result not in edge.carried_raw_payload_ids:
                edge.carried_raw_payload_ids.append(result)
                self.note_updated(edge.edge_id)
        for pending in self.pending:
            if pending.source == anchor and result not in pending.carried_raw_payload_ids:
                pending.carried_raw_payload_ids.append(result)


def _payload_ids(tool: ToolCall) -> list[str]:
    out: list[str] = []
    for payload_id in (tool.raw_invocation_payload_id, *tool.raw_runtime_payload_ids, tool.raw_result_payload_id):
        if payload_id is not None and payload_id not in out:
            out.append(payload_id)
    return out
