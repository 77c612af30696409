"""Runtime objects: tools, terminals, code cells, compactions, interaction edges."""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

from trace_viewer.model.session import ExecutionWindow


class CodeCell(TypedDict):
    """A model-authored `exec` JavaScript cell (code mode)."""

    code_cell_id: str
    model_visible_call_id: str
    thread_id: str
    codex_turn_id: str
    source_item_id: str
    output_item_ids: list[str]
    runtime_cell_id: str | None
    execution: ExecutionWindow
    runtime_status: str  # starting|running|yielded|completed|failed|terminated
    initial_response_at_unix_ms: int | None
    initial_response_seq: int | None
    initial_response_status: NotRequired[str | None]  # schema 2 (always present there)
    raw_initial_response_payload_id: NotRequired[str | None]  # schema 2
    raw_result_payload_id: NotRequired[str | None]  # schema 2
    yielded_at_unix_ms: int | None
    yielded_seq: int | None
    source_js: str
    nested_tool_call_ids: list[str]
    wait_tool_call_ids: list[str]


class Compaction(TypedDict):
    """An installed history checkpoint: input items replaced by replacement items."""

    compaction_id: str
    thread_id: str
    codex_turn_id: str
    installed_at_unix_ms: int
    marker_item_id: str
    request_ids: list[str]
    input_item_ids: list[str]
    replacement_item_ids: list[str]


class CompactionRequest(TypedDict):
    compaction_request_id: str
    compaction_id: str
    thread_id: str
    codex_turn_id: str
    execution: ExecutionWindow
    model: str
    provider_name: str
    raw_request_payload_id: str
    raw_response_payload_id: str | None


class ToolCall(TypedDict):
    tool_call_id: str
    mcp_call_id: str | None
    model_visible_call_id: str | None
    code_mode_runtime_tool_id: str | None
    started_code_cell_id: NotRequired[str]  # schema 2, omitted when absent
    thread_id: str
    started_by_codex_turn_id: str | None
    execution: ExecutionWindow
    requester: dict[str, Any]  # {"type": "model"} | {"type": "code_cell", code_cell_id}
    kind: dict[str, Any]  # {"type": "exec_command"} | {"type": "mcp", server, tool} | ...
    model_visible_call_item_ids: list[str]
    model_visible_output_item_ids: list[str]
    terminal_operation_id: str | None
    summary: dict[str, Any]  # terminal | agent | wait_agent | generic
    raw_invocation_payload_id: str | None
    raw_result_payload_id: str | None
    raw_runtime_payload_ids: list[str]


class TerminalSession(TypedDict):
    terminal_id: str
    thread_id: str
    created_by_operation_id: str
    operation_ids: list[str]
    execution: ExecutionWindow


class TerminalOperation(TypedDict):
    operation_id: str
    terminal_id: str | None
    tool_call_id: str
    kind: str  # exec_command | write_stdin
    execution: ExecutionWindow
    request: dict[str, Any]
    result: dict[str, Any] | None
    model_observations: list[dict[str, Any]]
    raw_payload_ids: list[str]


class InteractionEdge(TypedDict):
    edge_id: str
    kind: str  # spawn_agent|assign_agent_task|send_message|agent_result|close_agent
    source: dict[str, Any]  # anchor: conversation_item | tool_call | thread
    target: dict[str, Any]
    started_at_unix_ms: int
    ended_at_unix_ms: int | None
    carried_item_ids: list[str]
    carried_raw_payload_ids: list[str]
