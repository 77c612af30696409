"""Model-visible conversation: items and the inference calls that saw them."""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

from trace_viewer.model.session import ExecutionWindow

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


class AgentMessageMetadata(TypedDict):
    author: str
    recipient: str


class ConversationBody(TypedDict):
    # Tagged parts: text, summary, encoded{label,value}, json{summary,raw_payload_id},
    # code{language,source}, payload_ref{label,raw_payload_id}.
    parts: list[dict[str, Any]]


class ConversationItem(TypedDict):
    """One logical transcript item; identity survives re-sends in later requests."""

    item_id: str
    responses_item_id: NotRequired[str]  # schema 2: the Responses `id`, when any sighting had one
    accepted_at_unix_ms: NotRequired[int]  # schema 2: first history_item_accepted for that id
    accepted_seq: NotRequired[int]
    thread_id: str
    codex_turn_id: str | None
    first_seen_at_unix_ms: int
    role: ConversationRole
    channel: ConversationChannel | None
    kind: ConversationItemKind
    agent_message: NotRequired[AgentMessageMetadata]
    body: ConversationBody
    call_id: str | None
    # Tagged producers: user_input, inference, tool, code_cell, interaction_edge, compaction, harness.
    produced_by: list[dict[str, Any]]


class TokenUsage(TypedDict):
    input_tokens: int
    cached_input_tokens: int
    cache_write_input_tokens: int
    output_tokens: int
    reasoning_output_tokens: int


class InferenceCall(TypedDict):
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
    raw_response_payload_id: str | None
