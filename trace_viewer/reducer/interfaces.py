"""What each reducer part offers the others: the only way parts call each other.

A part keeps its own indexes and owns the objects of its maps in the graph (threads and turns,
inference calls, conversation items, compactions, tool calls, terminals, code cells, edges). It
reaches another part only through that part's protocol below, so mypy follows every call
between concerns. ``Parts`` is handed to every part once they all exist (``connect``).

Objects returned by a lookup are the live records of the graph: a caller may read them, and
updates the few fields the owner documents as shared (a thread's transcript is kept by the
conversation part; a tool call's code-cell links by the code-cell part).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from trace_viewer.model import (
    AgentThread,
    CodexTurn,
    ConversationItem,
    ConversationItemKind,
    ExecutionStatus,
    InferenceCall,
    Producer,
    RawPayload,
    TerminalResult,
    ToolCall,
    ToolCallKind,
    ToolCallRequester,
)
from trace_viewer.reducer.fields import JsonObject


@dataclass(frozen=True, slots=True)
class CheckpointItems:
    """The items a compaction checkpoint installs."""

    input_item_ids: list[str]
    marker_item_id: str
    replacement_item_ids: list[str]


class Threads(Protocol):
    def thread(self, thread_id: str) -> AgentThread:
        """The thread, or a fault naming the unknown id."""
        ...

    def find_thread(self, thread_id: str) -> AgentThread | None: ...

    def turn(self, codex_turn_id: str) -> CodexTurn | None: ...


class Inference(Protocol):
    def call(self, inference_call_id: str) -> InferenceCall | None: ...

    def call_for_response_id(self, thread_id: str, response_id: str) -> InferenceCall | None:
        """The call a ``previous_response_id`` refers to (first in id order)."""
        ...

    def close_running_calls_for_turn_end(self, seq: int, wall_time_unix_ms: int, turn_id: str, status: str) -> None: ...


class Conversation(Protocol):
    def item(self, item_id: str) -> ConversationItem | None: ...

    def items(self) -> dict[str, ConversationItem]:
        """Every item, by id (read only)."""
        ...

    def last_item_ordinal(self) -> int:
        """N of the newest `conversation_item:N` (0 before the first)."""
        ...

    def add_producer(self, item_id: str, producer: Producer) -> None:
        """Name one more producer of an item (once); a fault if the item does not exist."""
        ...

    def thread_seen_item_ids(self, thread_id: str) -> list[str]:
        """Every item the thread saw, accepted or not, in order of first sighting (read only)."""
        ...

    def reduce_inference_request(
        self, wall_time_unix_ms: int, inference_call_id: str, thread_id: str, codex_turn_id: str, request: RawPayload
    ) -> list[str]: ...

    def reduce_inference_response(
        self, wall_time_unix_ms: int, call: InferenceCall, response: RawPayload
    ) -> list[str]: ...

    def reduce_compaction_checkpoint(
        self, wall_time_unix_ms: int, thread_id: str, codex_turn_id: str, compaction_id: str, checkpoint: RawPayload
    ) -> CheckpointItems: ...

    def replace_history_after_compaction(self, thread_id: str, item_ids: list[str]) -> None:
        """The next full request of the thread is matched against these items."""
        ...


class Tools(Protocol):
    def tool_call(self, tool_call_id: str) -> ToolCall | None: ...

    def tool_for_model_visible_call(self, model_visible_call_id: str) -> str | None: ...

    def attach_model_visible_item(self, item_id: str, call_id: str | None, kind: ConversationItemKind) -> None:
        """Link an item seen in a model payload to the tool call it shows (whichever came first)."""
        ...

    def payload_ids(self, tool_call_id: str) -> list[str]:
        """Every raw payload the tool has so far: invocation, runtime events, result."""
        ...


class Terminals(Protocol):
    def start_from_invocation(
        self,
        seq: int,
        wall_time_unix_ms: int,
        thread_id: str,
        tool_call_id: str,
        kind: ToolCallKind,
        invocation: RawPayload | None,
    ) -> str | None: ...

    def start_from_runtime(
        self,
        seq: int,
        wall_time_unix_ms: int,
        thread_id: str,
        tool_call_id: str,
        kind: ToolCallKind,
        runtime: RawPayload,
    ) -> str | None: ...

    def end_operation(
        self,
        seq: int,
        wall_time_unix_ms: int,
        thread_id: str,
        operation_id: str,
        status: ExecutionStatus,
        response: RawPayload | None,
    ) -> TerminalResult | None: ...

    def sync_model_observation(self, tool_call_id: str) -> None: ...


class CodeCells(Protocol):
    def attach_model_visible_item(self, item_id: str, call_id: str | None, kind: ConversationItemKind) -> None: ...

    def flush_pending_starts(self) -> None:
        """Start queued cells whose source item now exists (after each payload's items)."""
        ...

    def terminate_running_cells_for_turn_end(
        self, seq: int, wall_time_unix_ms: int, turn_id: str, status: str
    ) -> None: ...

    def requester(self, thread_id: str, raw: JsonObject) -> ToolCallRequester:
        """A tool call's requester: a code-mode runtime cell id becomes the cell's anchor."""
        ...

    def link_tool_call(self, tool_call: ToolCall) -> None:
        """Called for every new tool call: nested JS tools join their cell; `exec` calls name it."""
        ...

    def link_wait_from_invocation(self, thread_id: str, tool_call_id: str, invocation: RawPayload | None) -> None: ...


class Agents(Protocol):
    def resolve_pending_edges_for_item(self, item_id: str) -> None:
        """Is this newly seen item a delivery an edge waits for?"""
        ...

    def start_from_runtime(self, tool_call: ToolCall, runtime: RawPayload) -> None: ...

    def end_from_runtime(self, wall_time_unix_ms: int, tool_call: ToolCall, runtime: RawPayload) -> None: ...

    def attach_tool_result(self, tool_call_id: str, result: RawPayload | None) -> None: ...


@dataclass(frozen=True, slots=True)
class Parts:
    threads: Threads
    inference: Inference
    conversation: Conversation
    tools: Tools
    terminals: Terminals
    code_cells: CodeCells
    agents: Agents
