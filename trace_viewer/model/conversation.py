"""Model-visible conversation: items, their body parts and producers, and the inference calls."""

from __future__ import annotations

from typing import Literal, TypeAlias

from trace_viewer.model.base import UNSET, ExecutionWindow, Record, Tagged, Unset

ConversationRole = Literal["system", "developer", "user", "assistant", "tool"]
ConversationChannel = Literal["analysis", "commentary", "final", "summary"]
ConversationItemKind = Literal[
    "message",
    "reasoning",
    "function_call",
    "function_call_output",
    "custom_tool_call",
    "custom_tool_call_output",
    "compaction_marker",
]


# ----- body parts -----------------------------------------------------------------------------


class TextPart(Tagged, frozen=True, tag="text"):
    text: str


class SummaryPart(Tagged, frozen=True, tag="summary"):
    text: str


class EncodedPart(Tagged, frozen=True, tag="encoded"):
    label: str
    value: str


class JsonPart(Tagged, frozen=True, tag="json"):
    """A JSON value shown by its summary; the payload it was read from has the whole."""

    summary: str
    raw_payload_id: str


class CodePart(Tagged, frozen=True, tag="code"):
    language: str
    source: str


class PayloadRefPart(Tagged, frozen=True, tag="payload_ref"):
    """Content kept only in the payload (an image, a non-text part)."""

    label: str
    raw_payload_id: str


ConversationPart: TypeAlias = TextPart | SummaryPart | EncodedPart | JsonPart | CodePart | PayloadRefPart


class ConversationBody(Record):
    parts: list[ConversationPart]


# ----- producers ---------------------------------------------------------------------------------


class UserInputProducer(Tagged, frozen=True, tag="user_input"):
    pass


class InferenceProducer(Tagged, frozen=True, tag="inference"):
    inference_call_id: str


class ToolProducer(Tagged, frozen=True, tag="tool"):
    tool_call_id: str


class CodeCellProducer(Tagged, frozen=True, tag="code_cell"):
    code_cell_id: str


class InteractionEdgeProducer(Tagged, frozen=True, tag="interaction_edge"):
    edge_id: str


class CompactionProducer(Tagged, frozen=True, tag="compaction"):
    compaction_id: str


class HarnessProducer(Tagged, frozen=True, tag="harness"):
    pass


Producer: TypeAlias = (
    UserInputProducer
    | InferenceProducer
    | ToolProducer
    | CodeCellProducer
    | InteractionEdgeProducer
    | CompactionProducer
    | HarnessProducer
)


def producer_source_id(producer: Producer) -> str | None:
    """The id of the object that produced an item (call, tool, cell, edge, compaction), if any."""
    if isinstance(producer, InferenceProducer):
        return producer.inference_call_id
    if isinstance(producer, ToolProducer):
        return producer.tool_call_id
    if isinstance(producer, CodeCellProducer):
        return producer.code_cell_id
    if isinstance(producer, InteractionEdgeProducer):
        return producer.edge_id
    if isinstance(producer, CompactionProducer):
        return producer.compaction_id
    return None  # user input, harness


# ----- items ---------------------------------------------------------------------------------------


class AgentMessageMetadata(Record):
    author: str
    recipient: str


class ConversationItem(Record, kw_only=True):
    """One logical transcript item; identity survives re-sends in later requests."""

    item_id: str
    responses_item_id: str | Unset = UNSET  # schema 2 on: the Responses `id`, when a sighting had one
    accepted_at_unix_ms: int | Unset = UNSET  # schema 2 on: first history_item_accepted for that id
    accepted_seq: int | Unset = UNSET
    thread_id: str
    codex_turn_id: str | None
    first_seen_at_unix_ms: int
    role: ConversationRole
    channel: ConversationChannel | None
    kind: ConversationItemKind
    agent_message: AgentMessageMetadata | Unset = UNSET
    body: ConversationBody
    call_id: str | None
    produced_by: list[Producer]


# ----- inference calls ---------------------------------------------------------------------------------


class TokenUsage(Record):
    input_tokens: int
    cached_input_tokens: int
    cache_write_input_tokens: int
    output_tokens: int
    reasoning_output_tokens: int


class InferenceCall(Record, kw_only=True):
    """One request to the model. ``request_item_ids`` is exactly what it saw."""

    inference_call_id: str
    thread_id: str
    codex_turn_id: str
    execution: ExecutionWindow
    model: str
    provider_name: str
    response_id: str | None
    upstream_request_id: str | None
    request_item_ids: list[str]
    response_item_ids: list[str]
    tool_call_ids_started_by_response: list[str]
    usage: TokenUsage | None
    raw_request_payload_id: str
    prepared_prompt_payload_id: str | Unset = UNSET  # schema 3
    raw_response_payload_id: str | None
