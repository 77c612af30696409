"""Where moves land: next model call/turn/compaction, agent edges. Pure functions of the session (no Textual)."""

from __future__ import annotations

from dataclasses import dataclass

from trace_viewer.model import ConversationItemAnchor, InteractionEdge, ThreadAnchor, ToolCallAnchor, TraceAnchor
from trace_viewer.session import ReplaySession

JUMP_NAMES = {"inference": "model call", "turn": "turn", "compaction": "compaction"}


@dataclass(frozen=True, slots=True)
class Landing:
    """Where a jump lands: a position, the thread to show there, and the item to select and highlight."""

    position: int
    thread_id: str | None
    focus_item: str | None = None
    note: str | None = None


def jump_target(session: ReplaySession, kind: str, direction: int, position: int) -> int | None:
    """The next (``direction`` > 0) or previous start of a model call / turn / compaction."""
    if kind == "inference":
        seqs = session.seqs_of("inference_started")
    elif kind == "turn":
        seqs = session.seqs_of("codex_turn_started")
    else:
        seqs = session.compaction_seqs()
    if direction > 0:
        return next((s for s in seqs if s > position), None)
    return next((s for s in reversed(seqs) if s < position), None)


def event_thread(session: ReplaySession, seq: int) -> str | None:
    """The thread an event belongs to (a detected local compaction: the compacted thread)."""
    record = session.record(seq)
    if record is None:
        return None
    for local in session.local_compactions:
        if local.seq == seq:
            return local.thread_id
    return record.thread_id


def event_anchors(session: ReplaySession, position: int) -> list[tuple[str, str]]:
    """Objects the event at ``position`` created or updated, as edge anchors."""
    anchors: list[tuple[str, str]] = []
    change = session.change_at(position)
    if change is not None:
        rollout = session.rollout
        for object_id in (*change.created, *change.updated):
            if object_id in rollout.tool_calls:
                anchors.append(("tool_call", object_id))
            elif object_id in rollout.conversation_items:
                anchors.append(("conversation_item", object_id))
    return anchors


def _anchor_of(end: TraceAnchor) -> tuple[str, str]:
    if isinstance(end, ConversationItemAnchor):
        return "conversation_item", end.item_id
    if isinstance(end, ToolCallAnchor):
        return "tool_call", end.tool_call_id
    assert isinstance(end, ThreadAnchor)
    return "thread", end.thread_id


def edge_landing(session: ReplaySession, anchors: list[tuple[str, str]], position: int) -> Landing | None:
    """Follow the first interaction edge from (or back to) one of ``anchors``.

    Forward from a spawn/send tool call: the item it delivered, at the first position it is in the
    receiving thread's context — selected, so the pane scrolls to it and highlights it.
    """
    edges = list(session.rollout.interaction_edges.values())
    for anchor in anchors:
        for forward in (True, False):
            for edge in edges:
                if _anchor_of(edge.source if forward else edge.target) != anchor:
                    continue
                there = _anchor_of(edge.target if forward else edge.source)
                landing = _landing(session, there, edge, position)
                if landing is not None:
                    return landing
    return None


def _landing(session: ReplaySession, anchor: tuple[str, str], edge: InteractionEdge, position: int) -> Landing | None:
    kind, object_id = anchor
    rollout = session.rollout
    if kind == "conversation_item":
        item = rollout.conversation_items.get(object_id)
        if item is None:
            return None
        seq = session.first_in_context(object_id) or session.first_seq(object_id) or position
        return Landing(seq, item.thread_id, object_id, f"{edge.kind}: → {object_id}")
    if kind == "tool_call":
        tool = rollout.tool_calls.get(object_id)
        if tool is None:
            return None
        note = f"{edge.kind}: → tool call {object_id}"
        return Landing(tool.execution.started_seq, tool.thread_id, None, note)
    if kind == "thread":
        thread = rollout.threads.get(object_id)
        if thread is None:
            return None
        note = f"{edge.kind}: → thread {thread.agent_path}"
        return Landing(max(position, thread.execution.started_seq), object_id, None, note)
    return None


def root_thread(session: ReplaySession, current: str | None) -> str | None:
    """Keep a valid thread selection: the current one if it exists, else the root, else the first."""
    threads = session.rollout.threads
    if current is not None and current in threads:
        return current
    root = session.rollout.root_thread_id
    return root if root in threads else next(iter(threads), None)
