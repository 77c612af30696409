"""Multi-agent interaction edges: spawn, send, assign, close, agent results.

An edge says "information flowed from here to there". Its source is the tool call that sent it
(or the child's final message for an agent result); its target is, whenever possible, the exact
model-visible conversation item that delivered the message on the recipient side — not merely
the recipient thread.

That target usually does not exist yet when the sending tool is recorded: the recipient's
mailbox item only becomes a conversation item when a later request (or, in schema 2, an
agent-message receipt) shows it. So delivery edges wait in ``pending`` until an item with the
same author, recipient and content appears in the recipient thread. Pending edges that never
find their item are dropped at the end of the log, except spawn edges, which fall back to the
child thread: the child is real even if it failed before its task became model-visible.

Close edges always target the thread, and are created as soon as the tool runs. All schemas
behave the same here; the tool kind (upgraded by ``tool_call_runtime_started.kind`` from schema 2
on) decides which payload shapes apply.
"""

from __future__ import annotations

from dataclasses import dataclass

from trace_viewer.model import (
    AgentMessageMetadata,
    AssignAgentTaskKind,
    CloseAgentKind,
    ConversationItem,
    ConversationItemAnchor,
    EncodedPart,
    InteractionEdge,
    InteractionEdgeKind,
    McpKind,
    RawPayload,
    SendMessageKind,
    SpawnAgentKind,
    TextPart,
    ThreadAnchor,
    ToolCall,
    ToolCallAnchor,
    ToolCallKind,
    TraceAnchor,
    tag_of,
)
from trace_viewer.reducer.core import ReducerCore
from trace_viewer.reducer.errors import ReduceError
from trace_viewer.reducer.events import AgentResultObserved, Envelope
from trace_viewer.reducer.fields import (
    I64,
    FieldError,
    Struct,
    Values,
    debug_variant,
    enum_reader,
    field,
    integer_reader,
    is_agent_path,
    loads_struct,
    optional,
    push_unique,
    read_agent_path,
    read_str_opaque_numbers,
    read_thread_id,
)
from trace_viewer.reducer.interfaces import Parts
from trace_viewer.reducer.threads import spawn_edge_id

__all__ = ["AgentsReducer", "PendingAgentInteractionEdge", "spawn_edge_id", "tool_edge_id"]


def tool_edge_id(tool_call_id: str) -> str:
    """Send, assign and close edges are named after the tool call that made them."""
    return f"edge:tool:{tool_call_id}"


@dataclass(slots=True)
class PendingAgentInteractionEdge:
    """A delivery edge waiting for its recipient-side conversation item."""

    edge_id: str
    kind: InteractionEdgeKind
    source: TraceAnchor
    target_thread_id: str
    message_author: str
    message_content: str
    # Spawn only: the child thread to target if the task message never shows up.
    unresolved_spawn_thread_id: str | None
    started_at_unix_ms: int
    ended_at_unix_ms: int | None
    carried_raw_payload_ids: list[str]

    def same_delivery(self, other: PendingAgentInteractionEdge) -> bool:
        return (
            self.kind == other.kind
            and self.source == other.source
            and self.target_thread_id == other.target_thread_id
            and self.message_author == other.message_author
            and self.message_content == other.message_content
            and self.unresolved_spawn_thread_id == other.unresolved_spawn_thread_id
        )


# ----- typed runtime payloads ---------------------------------------------------------------------
# The official reducer deserialises runtime payloads into protocol structs and stops on the first
# mismatch, with serde's wording. Its JSON numbers keep their text (arbitrary precision), so a
# number in the wrong place is just "number", and a non-integer where i64 is due is "invalid number".

_I64 = integer_reader("i64", I64, exact_numbers=False)
_STR = read_str_opaque_numbers
_OPT_STR = optional(_STR)
_STATUS = enum_reader(
    {
        "pending_init": None,
        "running": None,
        "interrupted": None,
        "completed": _OPT_STR,
        "errored": _STR,
        "shutdown": None,
        "not_found": None,
    },
    exact_numbers=False,
)
# Schema 1's protocol had no `completed` activity yet.
_ACTIVITY_SCHEMA1 = enum_reader({"started": None, "interacted": None, "interrupted": None}, exact_numbers=False)
_ACTIVITY = enum_reader(
    {"started": None, "interacted": None, "interrupted": None, "completed": None}, exact_numbers=False
)


_BEGIN = Struct(
    "CollabAgentInteractionBeginEvent",
    (
        field("call_id", _STR),
        field("started_at_ms", _I64, 0),
        field("sender_thread_id", read_thread_id),
        field("receiver_thread_id", read_thread_id),
        field("prompt", _STR),
    ),
    exact_numbers=False,
)
_INTERACTION_END = Struct(
    "CollabAgentInteractionEndEvent",
    (
        field("call_id", _STR),
        field("completed_at_ms", _I64, 0),
        field("sender_thread_id", read_thread_id),
        field("receiver_thread_id", read_thread_id),
        field("receiver_agent_nickname", _OPT_STR, None),
        field("receiver_agent_role", _OPT_STR, None),
        field("prompt", _STR),
        field("status", _STATUS),
    ),
    exact_numbers=False,
)
# Close events carry the same fields as interaction events, minus the prompt.
_CLOSE_BEGIN = Struct("CollabCloseBeginEvent", _BEGIN.without("prompt").fields, exact_numbers=False)
_CLOSE_END = Struct("CollabCloseEndEvent", _INTERACTION_END.without("prompt").fields, exact_numbers=False)
_SPAWN_END = Struct(
    "CollabAgentSpawnEndEvent",
    (
        field("call_id", _STR),
        field("completed_at_ms", _I64, 0),
        field("sender_thread_id", read_thread_id),
        field("new_thread_id", optional(read_thread_id), None),
        field("new_agent_nickname", _OPT_STR, None),
        field("new_agent_role", _OPT_STR, None),
        field("prompt", _STR),
        field("model", _STR),
        field("reasoning_effort", _STR),
        field("status", _STATUS),
    ),
    exact_numbers=False,
)
_ACTIVITY_EVENT = Struct(
    "SubAgentActivityEvent",
    (
        field("event_id", _STR),
        field("occurred_at_ms", _I64, 0),
        field("agent_thread_id", read_thread_id),
        field("agent_path", read_agent_path),
        field("kind", _ACTIVITY),
    ),
    exact_numbers=False,
)
_ACTIVITY_EVENT_SCHEMA1 = Struct(
    "SubAgentActivityEvent",
    (*_ACTIVITY_EVENT.without("kind").fields, field("kind", _ACTIVITY_SCHEMA1)),
    exact_numbers=False,
)
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


def _debug_tool_kind(kind: ToolCallKind) -> str:
    """A tool kind as the official error message prints it (`SpawnAgent`, `Other { name: "x" }`)."""
    return debug_variant(tag_of(kind), [(name, str(getattr(kind, name))) for name in kind.__struct_fields__])


def _tool_anchor(tool_call_id: str) -> ToolCallAnchor:
    return ToolCallAnchor(tool_call_id)


def _later_end(first: int | None, second: int | None) -> int | None:
    """Merge two end times: the later one, or whichever is known."""
    if first is None:
        return second
    if second is None:
        return first
    return max(first, second)


class AgentsReducer:
    def __init__(self, core: ReducerCore) -> None:
        self.core = core
        self.schema_version = core.schema_version
        self.edges = core.rollout.interaction_edges
        # Deliveries still looking for their recipient item, in arrival order.
        self.pending: list[PendingAgentInteractionEdge] = []
        # Items already claimed as some edge's target: an item carries at most one delivery.
        self._target_items: set[str] = set()
        # Edge ids by source tool call, so a tool's result payload finds its edge without a scan.
        self._edges_by_tool: dict[str, list[str]] = {}

    def connect(self, parts: Parts) -> None:
        self.parts = parts

    def _read(self, spec: Struct, runtime: RawPayload) -> Values:
        try:
            return spec.read(self.core.read_payload(runtime))
        except FieldError as error:
            raise error.fault() from None

    # ----- events ------------------------------------------------------------------------------------
    def agent_result_observed(self, envelope: Envelope, event: AgentResultObserved) -> None:
        """A child's completion, delivered as a notification into the parent's mailbox."""
        child_thread_id = event.child_thread_id
        message_author = self._agent_path(child_thread_id)
        source_item_id = self._latest_assistant_message(child_thread_id, event.child_codex_turn_id)
        # Failed or cancelled children notify the parent without a final message: anchor on the
        # child thread rather than invent an item.
        source: TraceAnchor = (
            ConversationItemAnchor(source_item_id) if source_item_id is not None else ThreadAnchor(child_thread_id)
        )
        wall = envelope.wall_time_unix_ms
        carried = event.carried_payload
        self._queue_or_resolve(
            PendingAgentInteractionEdge(
                event.edge_id,
                "agent_result",
                source,
                event.parent_thread_id,
                message_author,
                event.message,
                None,
                wall,
                wall,
                [carried.raw_payload_id] if carried is not None else [],
            )
        )

    def finish(self) -> None:
        """End of log: spawns that never met their task item target the child thread instead."""
        pending_edges, self.pending = self.pending, []
        for pending in pending_edges:
            child_thread_id = pending.unresolved_spawn_thread_id
            if child_thread_id is None:
                continue  # undelivered sends/assigns/results have no honest target: dropped
            if pending.kind != "spawn_agent":
                raise ReduceError(f"non-spawn interaction edge {pending.edge_id} carried a spawn fallback target")
            if self.parts.threads.find_thread(child_thread_id) is None:
                continue
            self._upsert(
                InteractionEdge(
                    pending.edge_id,
                    pending.kind,
                    pending.source,
                    ThreadAnchor(child_thread_id),
                    pending.started_at_unix_ms,
                    pending.ended_at_unix_ms,
                    [],
                    list(pending.carried_raw_payload_ids),
                )
            )

    # ----- runtime observations (the Agents interface, called by the tools part) -----------------------
    def start_from_runtime(self, tool_call: ToolCall, runtime: RawPayload) -> None:
        """A runtime begin: send/assign queue their delivery, close links the thread at once."""
        kind = tool_call.kind
        if isinstance(kind, AssignAgentTaskKind | SendMessageKind):
            begin = self._read(_BEGIN, runtime)
            edge_kind: InteractionEdgeKind = (
                "assign_agent_task" if isinstance(kind, AssignAgentTaskKind) else "send_message"
            )
            self._queue_message(tool_call, edge_kind, begin.text("receiver_thread_id"), begin.text("prompt"), None)
        elif isinstance(kind, CloseAgentKind):
            begin = self._read(_CLOSE_BEGIN, runtime)
            self._upsert_close(tool_call, begin.text("receiver_thread_id"), None)

    def end_from_runtime(self, wall_time_unix_ms: int, tool_call: ToolCall, runtime: RawPayload) -> None:
        """A runtime end: v2 activity events or the v1 collab end events, by tool kind."""
        kind = tool_call.kind
        if isinstance(kind, McpKind) and self.schema_version >= 2:
            # Schema 2 on keeps MCP runtime ends out of agent reduction entirely (checked against 0.169).
            return
        value = self.core.read_payload(runtime)
        if isinstance(value, dict) and "agent_thread_id" in value:
            spec = _ACTIVITY_EVENT if self.schema_version >= 2 else _ACTIVITY_EVENT_SCHEMA1
            try:
                activity = spec.read(value)
            except FieldError as error:
                raise error.fault() from None
            self._end_sub_agent_activity(wall_time_unix_ms, tool_call, activity)
            return
        try:
            if isinstance(kind, SpawnAgentKind):
                self._end_spawn(wall_time_unix_ms, tool_call, _SPAWN_END.read(value))
            elif isinstance(kind, AssignAgentTaskKind | SendMessageKind):
                end = _INTERACTION_END.read(value)
                edge_kind: InteractionEdgeKind = (
                    "assign_agent_task" if isinstance(kind, AssignAgentTaskKind) else "send_message"
                )
                self._queue_message(
                    tool_call, edge_kind, end.text("receiver_thread_id"), end.text("prompt"), wall_time_unix_ms
                )
            elif isinstance(kind, CloseAgentKind):
                end = _CLOSE_END.read(value)
                self._upsert_close(tool_call, end.text("receiver_thread_id"), wall_time_unix_ms)
        except FieldError as error:
            raise error.fault() from None

    def _end_sub_agent_activity(self, wall_time_unix_ms: int, tool_call: ToolCall, activity: Values) -> None:
        """Multi-agent v2 reports one activity per tool; it must fit the tool that caused it."""
        target_thread_id = activity.text("agent_thread_id")
        activity_kind = activity.text("kind")
        kind = tool_call.kind
        tool_call_id = tool_call.tool_call_id
        if isinstance(kind, SpawnAgentKind) and activity_kind == "started":
            self._queue_activity_message(
                wall_time_unix_ms,
                tool_call,
                spawn_edge_id(tool_call.thread_id, target_thread_id),
                "spawn_agent",
                target_thread_id,
                target_thread_id,
            )
        elif isinstance(kind, AssignAgentTaskKind | SendMessageKind) and activity_kind == "interacted":
            edge_kind: InteractionEdgeKind = (
                "assign_agent_task" if isinstance(kind, AssignAgentTaskKind) else "send_message"
            )
            self._queue_activity_message(
                wall_time_unix_ms, tool_call, tool_edge_id(tool_call_id), edge_kind, target_thread_id, None
            )
        elif isinstance(kind, CloseAgentKind) and activity_kind == "interrupted":
            self._upsert_close(tool_call, target_thread_id, wall_time_unix_ms)
        elif activity_kind == "completed":
            return  # schema 2 on: a finished sub-agent says nothing about delivery, whatever the tool
        else:
            raise ReduceError(
                f"sub-agent activity {activity_kind.capitalize()} does not match tool call kind {_debug_tool_kind(kind)}"
            )

    def _queue_activity_message(
        self,
        wall_time_unix_ms: int,
        tool_call: ToolCall,
        edge_id: str,
        edge_kind: InteractionEdgeKind,
        target_thread_id: str,
        unresolved_spawn_thread_id: str | None,
    ) -> None:
        self._queue_or_resolve(
            PendingAgentInteractionEdge(
                edge_id,
                edge_kind,
                _tool_anchor(tool_call.tool_call_id),
                target_thread_id,
                self._agent_path(tool_call.thread_id),
                # Activity events carry no text: the message is what the model asked to send.
                self._message_from_invocation(tool_call),
                unresolved_spawn_thread_id,
                tool_call.execution.started_at_unix_ms,
                wall_time_unix_ms,
                self.parts.tools.payload_ids(tool_call.tool_call_id),
            )
        )

    def _message_from_invocation(self, tool_call: ToolCall) -> str:
        """The `message` argument of the agent tool's function call."""
        tool_call_id = tool_call.tool_call_id
        payload_id = tool_call.raw_invocation_payload_id
        if payload_id is None:
            raise ReduceError(f"agent activity tool call {tool_call_id} missing invocation payload")
        ref = self.core.rollout.raw_payloads.get(payload_id)
        if ref is None:
            raise ReduceError(
                f"agent activity tool call {tool_call_id} referenced missing invocation payload {payload_id}"
            )
        invocation = self.core.read_payload(ref)
        inner = invocation.get("payload") if isinstance(invocation, dict) else None
        arguments = inner.get("arguments") if isinstance(inner, dict) else None
        if not isinstance(arguments, str):
            raise ReduceError(f"agent activity tool call {tool_call_id} missing function arguments")
        try:
            args = loads_struct(arguments, frozenset({"message"}))
        except ValueError as error:
            raise ReduceError(f"parse agent activity tool call {tool_call_id} arguments") from error
        # serde also accepts a struct written as a sequence of its fields: here, `["text"]`.
        if isinstance(args, dict):
            message = args.get("message")
        elif isinstance(args, list) and len(args) == 1:
            message = args[0]
        else:
            message = None
        if not isinstance(message, str):
            raise ReduceError(f"parse agent activity tool call {tool_call_id} arguments")
        return message

    def attach_tool_result(self, tool_call_id: str, result: RawPayload | None) -> None:
        """Keep the tool's result payload as evidence on its edge, reduced or still pending."""
        if result is None:
            return
        payload_id = result.raw_payload_id
        edge_ids = self._edges_by_tool.get(tool_call_id)
        if edge_ids:
            # Several edges from one tool are possible in theory; the first by id wins, as in a sorted map.
            edge = self.edges[min(edge_ids)]
            if push_unique(edge.carried_raw_payload_ids, payload_id):
                self.core.note_updated(edge.edge_id)
            return
        # The tool can end before its delivery is model-visible; the pending edge keeps the evidence.
        anchor = _tool_anchor(tool_call_id)
        for pending in self.pending:
            if pending.source == anchor:
                push_unique(pending.carried_raw_payload_ids, payload_id)
                return

    def _end_spawn(self, wall_time_unix_ms: int, tool_call: ToolCall, end: Values) -> None:
        """Multi-agent v1 spawn end: names the new child (if one was created) and the task prompt."""
        child_thread_id = end.opt_text("new_thread_id")
        if child_thread_id is None:
            return
        self._queue_or_resolve(
            PendingAgentInteractionEdge(
                spawn_edge_id(end.text("sender_thread_id"), child_thread_id),
                "spawn_agent",
                _tool_anchor(tool_call.tool_call_id),
                child_thread_id,
                self._agent_path(tool_call.thread_id),
                end.text("prompt"),
                child_thread_id,
                tool_call.execution.started_at_unix_ms,
                wall_time_unix_ms,
                self.parts.tools.payload_ids(tool_call.tool_call_id),
            )
        )

    def _queue_message(
        self,
        tool_call: ToolCall,
        kind: InteractionEdgeKind,
        target_thread_id: str,
        message_content: str,
        ended_at_unix_ms: int | None,
    ) -> None:
        self._queue_or_resolve(
            PendingAgentInteractionEdge(
                tool_edge_id(tool_call.tool_call_id),
                kind,
                _tool_anchor(tool_call.tool_call_id),
                target_thread_id,
                self._agent_path(tool_call.thread_id),
                message_content,
                None,
                tool_call.execution.started_at_unix_ms,
                ended_at_unix_ms,
                self.parts.tools.payload_ids(tool_call.tool_call_id),
            )
        )

    def _upsert_close(self, tool_call: ToolCall, target_thread_id: str, ended_at_unix_ms: int | None) -> None:
        if self.parts.threads.find_thread(target_thread_id) is None:
            # A failed close may name a thread this trace never saw; the tool's payloads keep that evidence.
            return
        self._upsert(
            InteractionEdge(
                tool_edge_id(tool_call.tool_call_id),
                "close_agent",
                _tool_anchor(tool_call.tool_call_id),
                ThreadAnchor(target_thread_id),
                tool_call.execution.started_at_unix_ms,
                ended_at_unix_ms,
                [],
                self.parts.tools.payload_ids(tool_call.tool_call_id),
            )
        )

    # ----- resolution ----------------------------------------------------------------------------------
    def resolve_pending_edges_for_item(self, item_id: str) -> None:
        """Called for every item a model-facing payload (or receipt) shows: is it a delivery we wait for?"""
        if not self.pending or item_id in self._target_items:
            return
        message = self._delivery(item_id)
        if message is None:
            return
        thread_id, author, content = message
        for index, pending in enumerate(self.pending):
            if (
                pending.target_thread_id == thread_id
                and pending.message_author == author
                and pending.message_content == content
            ):
                del self.pending[index]
                self._upsert_for_item(pending, item_id)
                return

    def _queue_or_resolve(self, pending: PendingAgentInteractionEdge) -> None:
        """Link to an already visible delivery item, else wait (merging with a same-id wait)."""
        item_id = self._find_unlinked_delivery(
            pending.target_thread_id, pending.message_author, pending.message_content
        )
        if item_id is not None:
            self._upsert_for_item(pending, item_id)
            return
        for existing in self.pending:
            if existing.edge_id != pending.edge_id:
                continue
            if not existing.same_delivery(pending):
                raise ReduceError(
                    f"pending interaction edge {pending.edge_id} was observed with conflicting delivery data"
                )
            existing.started_at_unix_ms = min(existing.started_at_unix_ms, pending.started_at_unix_ms)
            existing.ended_at_unix_ms = _later_end(existing.ended_at_unix_ms, pending.ended_at_unix_ms)
            for payload_id in pending.carried_raw_payload_ids:
                push_unique(existing.carried_raw_payload_ids, payload_id)
            return
        self.pending.append(pending)

    def _upsert_for_item(self, pending: PendingAgentInteractionEdge, target_item_id: str) -> None:
        self._upsert(
            InteractionEdge(
                pending.edge_id,
                pending.kind,
                pending.source,
                ConversationItemAnchor(target_item_id),
                pending.started_at_unix_ms,
                pending.ended_at_unix_ms,
                [target_item_id],
                list(pending.carried_raw_payload_ids),
            )
        )

    def _upsert(self, edge: InteractionEdge) -> None:
        """Insert, or widen an existing edge with the same id and endpoints."""
        existing = self.edges.get(edge.edge_id)
        if existing is None:
            self.edges[edge.edge_id] = edge
            if isinstance(edge.target, ConversationItemAnchor):
                self._target_items.add(edge.target.item_id)
            if isinstance(edge.source, ToolCallAnchor):
                self._edges_by_tool.setdefault(edge.source.tool_call_id, []).append(edge.edge_id)
            self.core.note_created(edge.edge_id)
            return
        if existing.kind != edge.kind or existing.source != edge.source or existing.target != edge.target:
            raise ReduceError(f"interaction edge {edge.edge_id} was observed with conflicting endpoints")
        existing.started_at_unix_ms = min(existing.started_at_unix_ms, edge.started_at_unix_ms)
        existing.ended_at_unix_ms = _later_end(existing.ended_at_unix_ms, edge.ended_at_unix_ms)
        for item_id in edge.carried_item_ids:
            push_unique(existing.carried_item_ids, item_id)
        for payload_id in edge.carried_raw_payload_ids:
            push_unique(existing.carried_raw_payload_ids, payload_id)
        self.core.note_updated(edge.edge_id)

    # ----- lookups -------------------------------------------------------------------------------------
    def _find_unlinked_delivery(self, thread_id: str, message_author: str, message_content: str) -> str | None:
        """First delivery item in the thread with this author and content that no edge claimed yet."""
        if self.parts.threads.find_thread(thread_id) is None:
            return None
        # Not the transcript: from schema 2 on, unaccepted response output is still searched.
        for item_id in self.parts.conversation.thread_seen_item_ids(thread_id):
            if item_id in self._target_items:
                continue
            message = self._delivery(item_id)
            if message is not None and message[1] == message_author and message[2] == message_content:
                return item_id
        return None

    def _delivery(self, item_id: str) -> tuple[str, str, str] | None:
        """(thread, author, content) if the item is a message delivered to its own thread's agent."""
        item = self.parts.conversation.item(item_id)
        if item is None:
            return None
        fields = inter_agent_message_fields(item)
        if fields is None:
            return None
        author, recipient, content = fields
        thread = self.parts.threads.find_thread(item.thread_id)
        if thread is None or recipient != thread.agent_path:
            return None
        return item.thread_id, author, content

    def _agent_path(self, thread_id: str) -> str:
        thread = self.parts.threads.find_thread(thread_id)
        if thread is None:
            raise ReduceError(f"agent edge referenced unknown thread {thread_id}")
        return thread.agent_path

    def _latest_assistant_message(self, thread_id: str, codex_turn_id: str) -> str | None:
        """The child's last plain assistant message in that turn: what its result reports."""
        best: tuple[int, str] | None = None
        for item in self.parts.conversation.items().values():
            if (
                item.thread_id == thread_id
                and item.codex_turn_id == codex_turn_id
                and item.role == "assistant"
                and item.kind == "message"
                and not isinstance(item.agent_message, AgentMessageMetadata)
            ):
                # Ties on time go to the greatest id in byte order, as a max over a sorted map would.
                key = (item.first_seen_at_unix_ms, item.item_id)
                if best is None or key >= best:
                    best = key
        return best[1] if best is not None else None


# ----- delivery items -----------------------------------------------------------------------------------


def _encrypted_value(part: object) -> str | None:
    return part.value if isinstance(part, EncodedPart) and part.label == "encrypted_content" else None


def inter_agent_message_fields(item: ConversationItem) -> tuple[str, str, str] | None:
    """(author, recipient, content) of an assistant message that carries an agent-to-agent delivery."""
    if item.role != "assistant" or item.kind != "message":
        return None
    parts = item.body.parts
    metadata = item.agent_message
    if isinstance(metadata, AgentMessageMetadata):
        # Encrypted deliveries are compared on their encrypted payload, after the readable header.
        content: str | None = None
        if len(parts) == 1 and isinstance(parts[0], TextPart):
            content = parts[0].text
        elif len(parts) == 1:
            content = _encrypted_value(parts[0])
        elif len(parts) == 2 and isinstance(parts[0], TextPart):
            content = _encrypted_value(parts[1])
        if content is None:
            return None
        return metadata.author, metadata.recipient, content
    # Older traces deliver v2 messages as assistant text holding a serialised communication. Only
    # that exact shape counts; other assistant JSON is not a delivery.
    if len(parts) != 1 or not isinstance(parts[0], TextPart):
        return None
    return _parse_inter_agent_communication(parts[0].text)


def _parse_inter_agent_communication(text: str) -> tuple[str, str, str] | None:
    if not text.lstrip(" \t\n\r").startswith("{"):
        return None  # cheap exit: most assistant text is not JSON at all
    try:
        value = loads_struct(text, _COMMUNICATION_FIELDS)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    author, recipient = value.get("author"), value.get("recipient")
    content, encrypted = value.get("content"), value.get("encrypted_content")
    if not (is_agent_path(author) and is_agent_path(recipient) and isinstance(content, str)):
        return None
    assert isinstance(author, str) and isinstance(recipient, str)
    if not isinstance(value.get("trigger_turn"), bool):
        return None
    if encrypted is not None and not isinstance(encrypted, str):
        return None
    message_id = value.get("id")
    if message_id is not None and not isinstance(message_id, str):
        return None
    others = value.get("other_recipients", [])
    if not isinstance(others, list) or not all(is_agent_path(path) for path in others):
        return None
    return author, recipient, encrypted if encrypted is not None else content
