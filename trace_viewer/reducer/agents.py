"""Multi-agent interaction edges: spawn, send, assign, close, agent results.

An edge says "information flowed from here to there". Its source is the tool
call that sent it (or the child's final message for an agent result); its
target is, whenever possible, the exact model-visible conversation item that
delivered the message on the recipient side — not merely the recipient thread.

That target usually does not exist yet when the sending tool is recorded: the
recipient's mailbox item only becomes a conversation item when a later request
(or, in schema 2, an agent-message receipt) shows it. So delivery edges wait in
``pending_agent_interaction_edges`` until an item with the same author,
recipient and content appears in the recipient thread. Pending edges that never
find their item are dropped at the end of the log, except spawn edges, which
fall back to the child thread: the child is real even if it failed before its
task became model-visible.

Close edges always target the thread, and are created as soon as the tool runs.
Both schemas behave the same here; the tool kind (upgraded by
``tool_call_runtime_started.kind`` in schema 2) decides which payload shapes apply.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypedDict

from trace_viewer.reducer.core import ReducerBase
from trace_viewer.reducer.errors import ReduceError
from trace_viewer.reducer.threads import spawn_edge_id

__all__ = ["AgentReducer", "PendingAgentInteractionEdge", "spawn_edge_id", "tool_edge_id"]


class PendingAgentInteractionEdge(TypedDict):
    """A delivery edge waiting for its recipient-side conversation item."""

    edge_id: str
    kind: str
    source: dict[str, Any]
    target_thread_id: str
    message_author: str
    message_content: str
    # Spawn only: the child thread to target if the task message never shows up.
    unresolved_spawn_thread_id: str | None
    started_at_unix_ms: int
    ended_at_unix_ms: int | None
    carried_raw_payload_ids: list[str]


def tool_edge_id(tool_call_id: str) -> str:
    """Send, assign and close edges are named after the tool call that made them."""
    return f"edge:tool:{tool_call_id}"


class AgentReducer(ReducerBase):
    def init_concerns(self) -> None:
        super().init_concerns()
        # Deliveries still looking for their recipient item, in arrival order.
        self.pending_agent_interaction_edges: list[PendingAgentInteractionEdge] = []
        # Items already claimed as some edge's target: an item carries at most one delivery.
        self._agent_edge_target_items: set[str] = set()
        # Edge ids by source tool call, so a tool's result payload finds its edge without a scan.
        self._agent_edges_by_tool: dict[str, list[str]] = {}

    # ----- events -----------------------------------------------------------
    def on_agent_result_observed(self, event: dict[str, Any]) -> None:
        payload = event["payload"]
        self.queue_agent_result_interaction_edge(
            {
                "wall_time_unix_ms": event["wall_time_unix_ms"],
                "edge_id": payload["edge_id"],
                "child_thread_id": payload["child_thread_id"],
                "child_codex_turn_id": payload["child_codex_turn_id"],
                "parent_thread_id": payload["parent_thread_id"],
                "message": payload["message"],
                "carried_payload": payload.get("carried_payload"),
            }
        )

    def finish(self) -> None:
        super().finish()
        # Only once the whole log is read do we know which spawns never met their task item.
        self.resolve_pending_spawn_edge_fallbacks()

    # ----- runtime observations (called by tools.py) --------------------------
    def start_agent_interaction_from_runtime(self, tool_call_id: str, runtime_payload: dict[str, Any]) -> None:
        """A runtime begin: send/assign queue their delivery, close links the thread at once."""
        tool_call = self.rollout["tool_calls"].get(tool_call_id)
        if tool_call is None:
            raise ReduceError(f"agent edge referenced unknown tool call {tool_call_id}")
        kind = tool_call["kind"]["type"]
        if kind in ("assign_agent_task", "send_message"):
            begin = _parse_struct(self.read_payload(runtime_payload), "CollabAgentInteractionBeginEvent", _BEGIN)
            self.queue_message_agent_interaction(tool_call_id, kind, begin["receiver_thread_id"], begin["prompt"], None)
        elif kind == "close_agent":
            begin = _parse_struct(self.read_payload(runtime_payload), "CollabCloseBeginEvent", _CLOSE_BEGIN)
            self.upsert_close_agent_interaction(tool_call_id, begin["receiver_thread_id"], None)

    def end_agent_interaction_from_runtime(
        self, wall_time_unix_ms: int, tool_call_id: str, runtime_payload: dict[str, Any]
    ) -> None:
        """A runtime end: v2 activity events or the v1 collab end events, by tool kind."""
        kind = self.rollout["tool_calls"][tool_call_id]["kind"]
        if kind["type"] == "mcp" and self.schema_version >= 2:
            # Schema 2 keeps MCP runtime ends out of agent reduction entirely (checked against 0.169).
            return
        value = self.read_payload(runtime_payload)
        if isinstance(value, dict) and "agent_thread_id" in value:
            spec = _ACTIVITY if self.schema_version >= 2 else _ACTIVITY_SCHEMA1
            activity = _parse_struct(value, "SubAgentActivityEvent", spec)
            self.end_sub_agent_activity(wall_time_unix_ms, tool_call_id, kind, activity)
            return
        kind_type = kind["type"]
        if kind_type == "spawn_agent":
            self.end_spawn_agent_interaction(
                wall_time_unix_ms, tool_call_id, _parse_struct(value, "CollabAgentSpawnEndEvent", _SPAWN_END)
            )
        elif kind_type in ("assign_agent_task", "send_message"):
            end = _parse_struct(value, "CollabAgentInteractionEndEvent", _INTERACTION_END)
            self.end_message_agent_interaction(wall_time_unix_ms, tool_call_id, kind_type, end)
        elif kind_type == "close_agent":
            end = _parse_struct(value, "CollabCloseEndEvent", _CLOSE_END)
            self.upsert_close_agent_interaction(tool_call_id, end["receiver_thread_id"], wall_time_unix_ms)

    def end_sub_agent_activity(
        self, wall_time_unix_ms: int, tool_call_id: str, tool_kind: dict[str, Any], payload: dict[str, Any]
    ) -> None:
        """Multi-agent v2 reports one activity per tool; it must fit the tool that caused it."""
        target_thread_id: str = payload["agent_thread_id"]
        pair = (tool_kind["type"], payload["kind"])
        if pair == ("spawn_agent", "started"):
            tool_call = self.rollout["tool_calls"].get(tool_call_id)
            if tool_call is None:
                raise ReduceError(f"agent activity referenced unknown tool call {tool_call_id}")
            self.queue_sub_agent_activity_message_edge(
                wall_time_unix_ms,
                tool_call_id,
                spawn_edge_id(tool_call["thread_id"], target_thread_id),
                "spawn_agent",
                target_thread_id,
                target_thread_id,
            )
        elif pair in (("assign_agent_task", "interacted"), ("send_message", "interacted")):
            self.queue_sub_agent_activity_message_edge(
                wall_time_unix_ms, tool_call_id, tool_edge_id(tool_call_id), pair[0], target_thread_id, None
            )
        elif pair == ("close_agent", "interrupted"):
            self.upsert_close_agent_interaction(tool_call_id, target_thread_id, wall_time_unix_ms)
        elif payload["kind"] == "completed":
            return  # schema 2: a finished sub-agent says nothing about delivery, whatever the tool
        else:
            raise ReduceError(
                f"sub-agent activity {payload['kind'].capitalize()} does not match tool call kind "
                f"{_debug_tool_kind(tool_kind)}"
            )

    def queue_sub_agent_activity_message_edge(
        self,
        wall_time_unix_ms: int,
        tool_call_id: str,
        edge_id: str,
        edge_kind: str,
        target_thread_id: str,
        unresolved_spawn_thread_id: str | None,
    ) -> None:
        tool_call = self.rollout["tool_calls"].get(tool_call_id)
        if tool_call is None:
            raise ReduceError(f"agent activity referenced unknown tool call {tool_call_id}")
        self.queue_or_resolve_agent_interaction_edge(
            {
                "edge_id": edge_id,
                "kind": edge_kind,
                "source": _tool_anchor(tool_call_id),
                "target_thread_id": target_thread_id,
                "message_author": self.agent_path_for_thread(tool_call["thread_id"]),
                # Activity events carry no text: the message is what the model asked to send.
                "message_content": self.agent_message_content_from_invocation(tool_call_id),
                "unresolved_spawn_thread_id": unresolved_spawn_thread_id,
                "started_at_unix_ms": tool_call["execution"]["started_at_unix_ms"],
                "ended_at_unix_ms": wall_time_unix_ms,
                "carried_raw_payload_ids": self.agent_tool_payload_ids(tool_call_id),
            }
        )

    def agent_message_content_from_invocation(self, tool_call_id: str) -> str:
        """The `message` argument of the agent tool's function call."""
        tool_call = self.rollout["tool_calls"].get(tool_call_id)
        if tool_call is None:
            raise ReduceError(f"agent activity referenced unknown tool call {tool_call_id}")
        payload_id = tool_call["raw_invocation_payload_id"]
        if payload_id is None:
            raise ReduceError(f"agent activity tool call {tool_call_id} missing invocation payload")
        ref = self.rollout["raw_payloads"].get(payload_id)
        if ref is None:
            raise ReduceError(
                f"agent activity tool call {tool_call_id} referenced missing invocation payload {payload_id}"
            )
        invocation = self.read_payload(ref)
        inner = invocation.get("payload") if isinstance(invocation, dict) else None
        arguments = inner.get("arguments") if isinstance(inner, dict) else None
        if not isinstance(arguments, str):
            raise ReduceError(f"agent activity tool call {tool_call_id} missing function arguments")
        try:
            args = _loads_struct(arguments, frozenset({"message"}))
        except (ValueError, RecursionError) as error:
            raise ReduceError(f"parse agent activity tool call {tool_call_id} arguments") from error
        # serde also accepts a struct written as a sequence of its fields: here, `["text"]`.
        message = args.get("message") if isinstance(args, dict) else args[0] if _is_single(args) else None
        if not isinstance(message, str):
            raise ReduceError(f"parse agent activity tool call {tool_call_id} arguments")
        return message

    def attach_agent_interaction_tool_result(self, tool_call_id: str, result_payload: dict[str, Any] | None) -> None:
        """Keep the tool's result payload as evidence on its edge, reduced or still pending."""
        if result_payload is None:
            return
        payload_id: str = result_payload["raw_payload_id"]
        edge_ids = self._agent_edges_by_tool.get(tool_call_id)
        if edge_ids:
            # Several edges from one tool are possible in theory; the first by id wins, as in a sorted map.
            edge = self.rollout["interaction_edges"][min(edge_ids)]
            if payload_id not in edge["carried_raw_payload_ids"]:
                edge["carried_raw_payload_ids"].append(payload_id)
                self.note_updated(edge["edge_id"])
            return
        # The tool can end before its delivery is model-visible; the pending edge keeps the evidence.
        for pending in self.pending_agent_interaction_edges:
            if _is_tool_anchor(pending["source"], tool_call_id):
                _push_unique(pending["carried_raw_payload_ids"], payload_id)
                return

    def end_spawn_agent_interaction(self, wall_time_unix_ms: int, tool_call_id: str, payload: dict[str, Any]) -> None:
        """Multi-agent v1 spawn end: names the new child (if one was created) and the task prompt."""
        child_thread_id = payload["new_thread_id"]
        if child_thread_id is None:
            return
        tool_call = self.rollout["tool_calls"][tool_call_id]
        self.queue_or_resolve_agent_interaction_edge(
            {
                "edge_id": spawn_edge_id(payload["sender_thread_id"], child_thread_id),
                "kind": "spawn_agent",
                "source": _tool_anchor(tool_call_id),
                "target_thread_id": child_thread_id,
                "message_author": self.agent_path_for_thread(tool_call["thread_id"]),
                "message_content": payload["prompt"],
                "unresolved_spawn_thread_id": child_thread_id,
                "started_at_unix_ms": tool_call["execution"]["started_at_unix_ms"],
                "ended_at_unix_ms": wall_time_unix_ms,
                "carried_raw_payload_ids": self.agent_tool_payload_ids(tool_call_id),
            }
        )

    def end_message_agent_interaction(
        self, wall_time_unix_ms: int, tool_call_id: str, edge_kind: str, payload: dict[str, Any]
    ) -> None:
        self.queue_message_agent_interaction(
            tool_call_id, edge_kind, payload["receiver_thread_id"], payload["prompt"], wall_time_unix_ms
        )

    def queue_message_agent_interaction(
        self,
        tool_call_id: str,
        kind: str,
        target_thread_id: str,
        message_content: str,
        ended_at_unix_ms: int | None,
    ) -> None:
        tool_call = self.rollout["tool_calls"][tool_call_id]
        self.queue_or_resolve_agent_interaction_edge(
            {
                "edge_id": tool_edge_id(tool_call_id),
                "kind": kind,
                "source": _tool_anchor(tool_call_id),
                "target_thread_id": target_thread_id,
                "message_author": self.agent_path_for_thread(tool_call["thread_id"]),
                "message_content": message_content,
                "unresolved_spawn_thread_id": None,
                "started_at_unix_ms": tool_call["execution"]["started_at_unix_ms"],
                "ended_at_unix_ms": ended_at_unix_ms,
                "carried_raw_payload_ids": self.agent_tool_payload_ids(tool_call_id),
            }
        )

    def agent_tool_payload_ids(self, tool_call_id: str) -> list[str]:
        """Every raw payload the tool has so far: invocation, runtime events, result."""
        tool_call = self.rollout["tool_calls"].get(tool_call_id)
        if tool_call is None:
            raise ReduceError(f"agent edge referenced unknown tool call {tool_call_id}")
        payload_ids: list[str] = []
        if tool_call["raw_invocation_payload_id"] is not None:
            _push_unique(payload_ids, tool_call["raw_invocation_payload_id"])
        for payload_id in tool_call["raw_runtime_payload_ids"]:
            _push_unique(payload_ids, payload_id)
        if tool_call["raw_result_payload_id"] is not None:
            _push_unique(payload_ids, tool_call["raw_result_payload_id"])
        return payload_ids

    def upsert_close_agent_interaction(
        self, tool_call_id: str, target_thread_id: str, ended_at_unix_ms: int | None
    ) -> None:
        if target_thread_id not in self.rollout["threads"]:
            # A failed close may name a thread this trace never saw; the tool's payloads keep that evidence.
            return
        tool_call = self.rollout["tool_calls"].get(tool_call_id)
        if tool_call is None:
            raise ReduceError(f"close edge referenced unknown tool call {tool_call_id}")
        self.upsert_interaction_edge(
            _edge(
                tool_edge_id(tool_call_id),
                "close_agent",
                _tool_anchor(tool_call_id),
                {"type": "thread", "thread_id": target_thread_id},
                tool_call["execution"]["started_at_unix_ms"],
                ended_at_unix_ms,
                [],
                self.agent_tool_payload_ids(tool_call_id),
            )
        )

    # ----- agent results ------------------------------------------------------
    def queue_agent_result_interaction_edge(self, observed: dict[str, Any]) -> None:
        """A child's completion, delivered as a notification into the parent's mailbox."""
        child_thread_id: str = observed["child_thread_id"]
        message_author = self.agent_path_for_thread(child_thread_id)
        source_item_id = self.latest_assistant_message_item_for_turn(child_thread_id, observed["child_codex_turn_id"])
        if source_item_id is not None:
            source: dict[str, Any] = {"type": "conversation_item", "item_id": source_item_id}
        else:
            # Failed or cancelled children notify the parent without a final message:
            # anchor on the child thread rather than invent an item.
            source = {"type": "thread", "thread_id": child_thread_id}
        carried = observed.get("carried_payload")
        wall: int = observed["wall_time_unix_ms"]
        self.queue_or_resolve_agent_interaction_edge(
            {
                "edge_id": observed["edge_id"],
                "kind": "agent_result",
                "source": source,
                "target_thread_id": observed["parent_thread_id"],
                "message_author": message_author,
                "message_content": observed["message"],
                "unresolved_spawn_thread_id": None,
                "started_at_unix_ms": wall,
                "ended_at_unix_ms": wall,
                "carried_raw_payload_ids": [carried["raw_payload_id"]] if carried is not None else [],
            }
        )

    # ----- resolution -----------------------------------------------------------
    def resolve_pending_agent_edges_for_item(self, item_id: str) -> None:
        """Called for every item a model-facing payload (or receipt) shows: is it a delivery we wait for?"""
        if not self.pending_agent_interaction_edges or item_id in self._agent_edge_target_items:
            return
        message = self.inter_agent_message_item(item_id)
        if message is None:
            return
        thread_id, author, content = message
        for index, pending in enumerate(self.pending_agent_interaction_edges):
            if (
                pending["target_thread_id"] == thread_id
                and pending["message_author"] == author
                and pending["message_content"] == content
            ):
                del self.pending_agent_interaction_edges[index]
                self.upsert_agent_interaction_edge_for_item(pending, item_id)
                return

    def queue_or_resolve_agent_interaction_edge(self, pending: PendingAgentInteractionEdge) -> None:
        """Link to an already visible delivery item, else wait (merging with a same-id wait)."""
        item_id = self.find_unlinked_inter_agent_message_item(
            pending["target_thread_id"], pending["message_author"], pending["message_content"]
        )
        if item_id is not None:
            self.upsert_agent_interaction_edge_for_item(pending, item_id)
            return
        for existing in self.pending_agent_interaction_edges:
            if existing["edge_id"] != pending["edge_id"]:
                continue
            if any(existing[key] != pending[key] for key in _PENDING_IDENTITY):  # type: ignore[literal-required]
                raise ReduceError(
                    f"pending interaction edge {pending['edge_id']} was observed with conflicting delivery data"
                )
            existing["started_at_unix_ms"] = min(existing["started_at_unix_ms"], pending["started_at_unix_ms"])
            existing["ended_at_unix_ms"] = _later_end(existing["ended_at_unix_ms"], pending["ended_at_unix_ms"])
            for payload_id in pending["carried_raw_payload_ids"]:
                _push_unique(existing["carried_raw_payload_ids"], payload_id)
            return
        self.pending_agent_interaction_edges.append(pending)

    def resolve_pending_spawn_edge_fallbacks(self) -> None:
        """End of log: spawns that never met their task item target the child thread instead."""
        pending_edges, self.pending_agent_interaction_edges = self.pending_agent_interaction_edges, []
        for pending in pending_edges:
            child_thread_id = pending["unresolved_spawn_thread_id"]
            if child_thread_id is None:
                continue  # undelivered sends/assigns/results have no honest target: dropped
            if pending["kind"] != "spawn_agent":
                raise ReduceError(f"non-spawn interaction edge {pending['edge_id']} carried a spawn fallback target")
            if child_thread_id not in self.rollout["threads"]:
                continue
            self.upsert_interaction_edge(
                _edge(
                    pending["edge_id"],
                    pending["kind"],
                    pending["source"],
                    {"type": "thread", "thread_id": child_thread_id},
                    pending["started_at_unix_ms"],
                    pending["ended_at_unix_ms"],
                    [],
                    pending["carried_raw_payload_ids"],
                )
            )

    def upsert_agent_interaction_edge_for_item(self, pending: PendingAgentInteractionEdge, target_item_id: str) -> None:
        self.upsert_interaction_edge(
            _edge(
                pending["edge_id"],
                pending["kind"],
                pending["source"],
                {"type": "conversation_item", "item_id": target_item_id},
                pending["started_at_unix_ms"],
                pending["ended_at_unix_ms"],
                [target_item_id],
                pending["carried_raw_payload_ids"],
            )
        )

    def upsert_interaction_edge(self, edge: dict[str, Any]) -> None:
        """Insert, or widen an existing edge with the same id and endpoints."""
        edge_id: str = edge["edge_id"]
        existing = self.rollout["interaction_edges"].get(edge_id)
        if existing is None:
            self.rollout["interaction_edges"][edge_id] = edge
            target = edge["target"]
            if target["type"] == "conversation_item":
                self._agent_edge_target_items.add(target["item_id"])
            source = edge["source"]
            if source["type"] == "tool_call":
                self._agent_edges_by_tool.setdefault(source["tool_call_id"], []).append(edge_id)
            self.note_created(edge_id)
            return
        if (
            existing["kind"] != edge["kind"]
            or existing["source"] != edge["source"]
            or existing["target"] != edge["target"]
        ):
            raise ReduceError(f"interaction edge {edge_id} was observed with conflicting endpoints")
        existing["started_at_unix_ms"] = min(existing["started_at_unix_ms"], edge["started_at_unix_ms"])
        existing["ended_at_unix_ms"] = _later_end(existing["ended_at_unix_ms"], edge["ended_at_unix_ms"])
        for item_id in edge["carried_item_ids"]:
            _push_unique(existing["carried_item_ids"], item_id)
        for payload_id in edge["carried_raw_payload_ids"]:
            _push_unique(existing["carried_raw_payload_ids"], payload_id)
        self.note_updated(edge_id)

    # ----- lookups --------------------------------------------------------------
    def find_unlinked_inter_agent_message_item(
        self, thread_id: str, message_author: str, message_content: str
    ) -> str | None:
        """First delivery item in the thread with this author and content that no edge claimed yet."""
        if thread_id not in self.rollout["threads"]:
            return None
        # Not the transcript: in schema 2 unaccepted response output is still searched.
        for item_id in self.thread_seen_conversation_item_ids(thread_id):
            if item_id in self._agent_edge_target_items:
                continue
            message = self.inter_agent_message_item(item_id)
            if message is not None and message[1] == message_author and message[2] == message_content:
                return item_id
        return None

    def inter_agent_message_item(self, item_id: str) -> tuple[str, str, str] | None:
        """(thread, author, content) if the item is a message delivered to its own thread's agent."""
        item = self.rollout["conversation_items"].get(item_id)
        if item is None:
            return None
        fields = inter_agent_message_fields(item)
        if fields is None:
            return None
        author, recipient, content = fields
        thread = self.rollout["threads"].get(item["thread_id"])
        if thread is None or recipient != thread["agent_path"]:
            return None
        return item["thread_id"], author, content

    def agent_path_for_thread(self, thread_id: str) -> str:
        thread = self.rollout["threads"].get(thread_id)
        if thread is None:
            raise ReduceError(f"agent edge referenced unknown thread {thread_id}")
        return thread["agent_path"]

    def latest_assistant_message_item_for_turn(self, thread_id: str, codex_turn_id: str) -> str | None:
        """The child's last plain assistant message in that turn: what its result reports."""
        best: tuple[int, str] | None = None
        for item in self.rollout["conversation_items"].values():
            if (
                item["thread_id"] == thread_id
                and item["codex_turn_id"] == codex_turn_id
                and item["role"] == "assistant"
                and item["kind"] == "message"
                and "agent_message" not in item
            ):
                # Ties on time go to the greatest id in byte order, as a max over a sorted map would.
                key = (item["first_seen_at_unix_ms"], item["item_id"])
                if best is None or key >= best:
                    best = key
        return best[1] if best is not None else None


# ----- delivery items ------------------------------------------------------------

_AGENT_NAME = re.compile(r"[a-z0-9_]+")


def inter_agent_message_fields(item: dict[str, Any]) -> tuple[str, str, str] | None:
    """(author, recipient, content) of an assistant message that carries an agent-to-agent delivery."""
    if item["role"] != "assistant" or item["kind"] != "message":
        return None
    parts: list[dict[str, Any]] = item["body"]["parts"]
    metadata = item.get("agent_message")
    if metadata is not None:
        # Encrypted deliveries are compared on their encrypted payload, after the readable header.
        if len(parts) == 1 and parts[0]["type"] == "text":
            content = parts[0]["text"]
        elif len(parts) == 1 and _is_encrypted_part(parts[0]):
            content = parts[0]["value"]
        elif len(parts) == 2 and parts[0]["type"] == "text" and _is_encrypted_part(parts[1]):
            content = parts[1]["value"]
        else:
            return None
        return metadata["author"], metadata["recipient"], content
    # Older traces deliver v2 messages as assistant text holding a serialised
    # communication. Only that exact shape counts; other assistant JSON is not a delivery.
    if len(parts) != 1 or parts[0]["type"] != "text":
        return None
    return _parse_inter_agent_communication(parts[0]["text"])


def _is_encrypted_part(part: dict[str, Any]) -> bool:
    return part["type"] == "encoded" and part["label"] == "encrypted_content"


_COMMUNICATION_FIELDS = frozenset(
    {
        "id",
        "author",
        "recipient",
        "other_recipients",
        "content",
        "encrypted_content",
        "internal_chat_message_metadata_passthrough",
        "trigger_turn",
    }
)


def _parse_inter_agent_communication(text: str) -> tuple[str, str, str] | None:
    if not text.lstrip(" \t\n\r").startswith("{"):
        return None  # cheap exit: most assistant text is not JSON at all
    try:
        value = _loads_struct(text, _COMMUNICATION_FIELDS)
    except (ValueError, RecursionError):
        return None
    author, recipient = value.get("author"), value.get("recipient")
    content, encrypted = value.get("content"), value.get("encrypted_content")
    if not (_is_agent_path(author) and _is_agent_path(recipient) and isinstance(content, str)):
        return None
    if not isinstance(value.get("trigger_turn"), bool):
        return None
    if encrypted is not None and not isinstance(encrypted, str):
        return None
    message_id = value.get("id")
    if message_id is not None and not isinstance(message_id, str):
        return None
    others = value.get("other_recipients", [])
    if not isinstance(others, list) or not all(_is_agent_path(path) for path in others):
        return None
    return author, recipient, encrypted if encrypted is not None else content


def _is_agent_path(value: Any) -> bool:
    return isinstance(value, str) and _agent_path_problem(value) is None


def _agent_path_problem(path: str) -> str | None:
    """Why a text is not an absolute agent path (`/root/...` in lowercase names, or `/morpheus`)."""
    if path == "/morpheus":
        return None
    if not path.startswith("/") or path[1:].split("/")[0] != "root":
        return "absolute agent paths must start with `/root` or be `/morpheus`"
    if path.endswith("/"):
        return "absolute agent path must not end with `/`"
    for name in path[1:].split("/")[1:]:
        if not name:
            return "agent_name must not be empty"
        if name in ("root", ".", ".."):
            return f"agent_name `{name}` is reserved"
        if _AGENT_NAME.fullmatch(name) is None:
            return "agent_name must use only lowercase letters, digits, and underscores"
    return None


def _is_single(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 1


class _JsonObject(dict[str, Any]):
    """A parsed JSON object that remembers which keys appeared more than once."""

    repeated: frozenset[str] = frozenset()


def _object_with_repeats(pairs: list[tuple[str, Any]]) -> _JsonObject:
    out = _JsonObject(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        out.repeated = frozenset(key for key, _ in pairs if key in seen or seen.add(key))
    return out


def _loads_struct(text: str, fields: frozenset[str]) -> Any:
    """Parse JSON as serde would for a struct: a repeated known field is an error, NaN is not JSON."""
    value = json.loads(text, object_pairs_hook=_object_with_repeats, parse_constant=_reject_constant)
    if isinstance(value, _JsonObject) and value.repeated & fields:
        raise ValueError(f"duplicate field `{min(value.repeated & fields)}`")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid number {name}")


# ----- typed runtime payloads ----------------------------------------------------
# The official reducer deserialises runtime payloads into protocol structs and
# stops on the first mismatch, with serde's wording. Field kinds: "str",
# "opt_str", "i64" (defaulted when absent), "thread" (a UUID, re-rendered in
# canonical lower-case hyphenated form), "opt_thread", "path" (agent path),
# "status" (AgentStatus enum), "activity" / "activity1" (SubAgentActivityKind enum, schema 2 / 1).
# Its JSON numbers keep their text (arbitrary precision), so a number in the
# wrong place is just "number", and a non-integer where i64 is due is "invalid number".


def _without(fields: dict[str, str], name: str) -> dict[str, str]:
    """``fields`` minus ``name``, order kept (the order sets which missing field is reported first)."""
    return {key: kind for key, kind in fields.items() if key != name}


_BEGIN = {
    "call_id": "str",
    "started_at_ms": "i64",
    "sender_thread_id": "thread",
    "receiver_thread_id": "thread",
    "prompt": "str",
}
_INTERACTION_END = {
    "call_id": "str",
    "completed_at_ms": "i64",
    "sender_thread_id": "thread",
    "receiver_thread_id": "thread",
    "receiver_agent_nickname": "opt_str",
    "receiver_agent_role": "opt_str",
    "prompt": "str",
    "status": "status",
}
# Close events carry the same fields as interaction events, minus the prompt.
_CLOSE_BEGIN = _without(_BEGIN, "prompt")
_CLOSE_END = _without(_INTERACTION_END, "prompt")
_SPAWN_END = {
    "call_id": "str",
    "completed_at_ms": "i64",
    "sender_thread_id": "thread",
    "new_thread_id": "opt_thread",
    "new_agent_nickname": "opt_str",
    "new_agent_role": "opt_str",
    "prompt": "str",
    "model": "str",
    "reasoning_effort": "str",
    "status": "status",
}
_ACTIVITY = {
    "event_id": "str",
    "occurred_at_ms": "i64",
    "agent_thread_id": "thread",
    "agent_path": "path",
    "kind": "activity",
}
# Schema 1's protocol had no `completed` activity yet.
_ACTIVITY_SCHEMA1 = {**_ACTIVITY, "kind": "activity1"}
_DEFAULTED = {"i64": 0, "opt_str": None, "opt_thread": None}
_I64_RANGE = (-(2**63), 2**63 - 1)
# Enum variants: name -> payload kind (None for a unit variant, else "opt_str" / "str").
_ACTIVITY1_VARIANTS: dict[str, str | None] = {"started": None, "interacted": None, "interrupted": None}
_ACTIVITY_VARIANTS: dict[str, str | None] = {**_ACTIVITY1_VARIANTS, "completed": None}
_STATUS_VARIANTS: dict[str, str | None] = {
    "pending_init": None,
    "running": None,
    "interrupted": None,
    "completed": "opt_str",
    "errored": "str",
    "shutdown": None,
    "not_found": None,
}


def _parse_struct(value: Any, name: str, spec: dict[str, str]) -> dict[str, Any]:
    """Check a payload against a protocol struct; return its fields with ids normalised."""
    if not isinstance(value, dict):
        raise ReduceError(f"invalid type: {_describe(value)}, expected struct {name}")
    out: dict[str, Any] = {}
    for key, raw in value.items():  # serde reports the first bad value in document order
        kind = spec.get(key)
        if kind is not None:
            out[key] = _convert(raw, kind)
    for key, kind in spec.items():  # then the first missing field in declaration order
        if key not in out:
            if kind not in _DEFAULTED:
                raise ReduceError(f"missing field `{key}`")
            out[key] = _DEFAULTED[kind]
    return out


def _convert(raw: Any, kind: str) -> Any:
    if kind.startswith("opt_"):
        if raw is None:
            return None
        kind = kind[4:]
    if kind == "i64":
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise ReduceError(f"invalid type: {_describe(raw)}, expected i64")
        if isinstance(raw, float) or not _I64_RANGE[0] <= raw <= _I64_RANGE[1]:
            raise ReduceError("invalid number")
        return raw
    if kind == "status":
        return _enum_variant(raw, _STATUS_VARIANTS)
    if kind == "activity":
        return _enum_variant(raw, _ACTIVITY_VARIANTS)
    if kind == "activity1":
        return _enum_variant(raw, _ACTIVITY1_VARIANTS)
    if not isinstance(raw, str):
        raise ReduceError(f"invalid type: {_describe(raw)}, expected a string")
    if kind == "thread":
        return _thread_id_text(raw)
    if kind == "path":
        problem = _agent_path_problem(raw)
        if problem is not None:
            raise ReduceError(problem)
    return raw


def _enum_variant(raw: Any, variants: dict[str, str | None]) -> str:
    """An externally tagged enum: `"variant"`, or `{"variant": content}`; returns the variant name."""
    if isinstance(raw, str):
        name, content, has_content = raw, None, False
    elif isinstance(raw, dict):
        if len(raw) != 1:
            raise ReduceError("invalid value: map, expected map with a single key")
        ((name, content),) = raw.items()
        has_content = True
    else:
        raise ReduceError(f"invalid type: {_describe(raw)}, expected string or map")
    if name not in variants:
        expected = ", ".join(f"`{variant}`" for variant in variants)
        raise ReduceError(f"unknown variant `{name}`, expected one of {expected}")
    payload_kind = variants[name]
    if payload_kind is None:
        if has_content and content is not None:
            raise ReduceError(f"invalid type: {_describe(content)}, expected unit")
    elif not has_content:
        raise ReduceError("invalid type: unit variant, expected newtype variant")
    else:
        _convert(content, payload_kind)
    return name


def _thread_id_text(raw: str) -> str:
    """Thread ids are UUIDs in the protocol; the reducer keys threads by their canonical text."""
    if len(raw) == 32:
        digits = raw
    elif len(raw) == 36:
        digits = _hyphenated_digits(raw)
    elif len(raw) == 38 and raw.startswith("{") and raw.endswith("}"):
        digits = _hyphenated_digits(raw[1:-1])
    elif len(raw) == 45 and raw.startswith("urn:uuid:"):
        digits = _hyphenated_digits(raw[9:])
    else:
        digits = None
    if digits is None or any(ch not in _HEX_DIGITS for ch in digits):
        raise ReduceError(_uuid_problem(raw))
    digits = digits.lower()
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _hyphenated_digits(text: str) -> str | None:
    if len(text) != 36 or any(text[index] != "-" for index in (8, 13, 18, 23)):
        return None
    return text.replace("-", "", 4) if text.count("-") == 4 else None


def _uuid_problem(raw: str) -> str:
    """Why a text is not a UUID, in the uuid crate's words (first bad character, else shape)."""
    offset, body, simple = 0, raw, True
    if len(raw) >= 2 and raw.startswith("{") and raw.endswith("}"):
        offset, body, simple = 1, raw[1:-1], False
    elif raw.startswith("urn:uuid:"):
        offset, body, simple = 9, raw[9:], False
    hyphens: list[int] = []
    position = 0  # byte position, as the message counts bytes
    for char in body:
        if char == "-":
            hyphens.append(position)
        elif char not in _HEX_DIGITS:
            return (
                "invalid character: expected an optional prefix of `urn:uuid:` followed by [0-9a-fA-F-], "
                f"found `{char}` at {position + offset + 1}"
            )
        position += len(char.encode("utf-8"))
    size = len(body.encode("utf-8"))
    if not hyphens and simple:
        return f"invalid length: expected length 32 for simple format, found {size}"
    if len(hyphens) != 4:
        return f"invalid group count: expected 5, found {len(hyphens) + 1}"
    starts = (0, 9, 14, 19, 24)
    for group in range(4):
        if hyphens[group] != starts[group + 1] - 1:
            found = hyphens[group] - starts[group]
            return f"invalid group length in group {group}: expected {(8, 4, 4, 4, 12)[group]}, found {found}"
    return f"invalid group length in group 4: expected 12, found {size - starts[4]}"


def _describe(value: Any) -> str:
    """serde's wording for an unexpected JSON value (numbers keep their text, so they are just "number")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{'true' if value else 'false'}`"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return f"string {json.dumps(value, ensure_ascii=False)}"
    if isinstance(value, list):
        return "sequence"
    return "map"


def _debug_tool_kind(kind: dict[str, Any]) -> str:
    """A tool kind as the official error message prints it (`SpawnAgent`, `Other { name: "x" }`)."""
    name = "".join(word.capitalize() for word in str(kind["type"]).split("_"))
    fields = [f"{key}: {json.dumps(value, ensure_ascii=False)}" for key, value in kind.items() if key != "type"]
    return f"{name} {{ {', '.join(fields)} }}" if fields else name


# ----- small helpers -----------------------------------------------------------

_PENDING_IDENTITY = (
    "kind",
    "source",
    "target_thread_id",
    "message_author",
    "message_content",
    "unresolved_spawn_thread_id",
)


def _edge(
    edge_id: str,
    kind: str,
    source: dict[str, Any],
    target: dict[str, Any],
    started_at_unix_ms: int,
    ended_at_unix_ms: int | None,
    carried_item_ids: list[str],
    carried_raw_payload_ids: list[str],
) -> dict[str, Any]:
    """An InteractionEdge in the official field order."""
    return {
        "edge_id": edge_id,
        "kind": kind,
        "source": source,
        "target": target,
        "started_at_unix_ms": started_at_unix_ms,
        "ended_at_unix_ms": ended_at_unix_ms,
        "carried_item_ids": list(carried_item_ids),
        "carried_raw_payload_ids": list(carried_raw_payload_ids),
    }


def _tool_anchor(tool_call_id: str) -> dict[str, Any]:
    return {"type": "tool_call", "tool_call_id": tool_call_id}


def _is_tool_anchor(anchor: dict[str, Any], tool_call_id: str) -> bool:
    return anchor["type"] == "tool_call" and anchor["tool_call_id"] == tool_call_id


def _later_end(first: int | None, second: int | None) -> int | None:
    """Merge two end times: the later one, or whichever is known."""
    if first is None:
        return second
    if second is None:
        return first
    return max(first, second)


def _push_unique(items: list[str], item: str) -> None:
    if item not in items:
        items.append(item)
