"""Runtime objects: tools, terminals, code cells, compactions, interaction edges."""

from __future__ import annotations

from typing import Literal, TypeAlias

import msgspec

from trace_viewer.model.base import UNSET, ExecutionWindow, Record, Tagged, Unset

CodeCellRuntimeStatus = Literal["starting", "running", "yielded", "completed", "failed", "terminated"]


# ----- tool calls ---------------------------------------------------------------------------------


class ModelRequester(Tagged, frozen=True, tag="model"):
    pass


class CodeCellRequester(Tagged, frozen=True, tag="code_cell"):
    code_cell_id: str


ToolCallRequester: TypeAlias = ModelRequester | CodeCellRequester


class ExecCommandKind(Tagged, frozen=True, tag="exec_command"):
    pass


class WriteStdinKind(Tagged, frozen=True, tag="write_stdin"):
    pass


class ApplyPatchKind(Tagged, frozen=True, tag="apply_patch"):
    pass


class McpKind(Tagged, frozen=True, tag="mcp"):
    server: str
    tool: str


class WebKind(Tagged, frozen=True, tag="web"):
    pass


class ImageGenerationKind(Tagged, frozen=True, tag="image_generation"):
    pass


class SpawnAgentKind(Tagged, frozen=True, tag="spawn_agent"):
    pass


class AssignAgentTaskKind(Tagged, frozen=True, tag="assign_agent_task"):
    pass


class SendMessageKind(Tagged, frozen=True, tag="send_message"):
    pass


class WaitAgentKind(Tagged, frozen=True, tag="wait_agent"):
    pass


class CloseAgentKind(Tagged, frozen=True, tag="close_agent"):
    pass


class OtherKind(Tagged, frozen=True, tag="other"):
    name: str


ToolCallKind: TypeAlias = (
    ExecCommandKind
    | WriteStdinKind
    | ApplyPatchKind
    | McpKind
    | WebKind
    | ImageGenerationKind
    | SpawnAgentKind
    | AssignAgentTaskKind
    | SendMessageKind
    | WaitAgentKind
    | CloseAgentKind
    | OtherKind
)


class TerminalSummary(Tagged, frozen=True, tag="terminal"):
    operation_id: str


class AgentSummary(Tagged, frozen=True, tag="agent"):
    target_agent_path: str
    task_name: str | None
    message_preview: str


class WaitAgentSummary(Tagged, frozen=True, tag="wait_agent"):
    target_agent_path: str | None
    timeout_ms: int | None


class GenericSummary(Tagged, frozen=True, tag="generic"):
    label: str
    input_preview: str | None
    output_preview: str | None


ToolCallSummary: TypeAlias = TerminalSummary | AgentSummary | WaitAgentSummary | GenericSummary


class ToolCall(Record, kw_only=True):
    tool_call_id: str
    mcp_call_id: str | None
    model_visible_call_id: str | None
    code_mode_runtime_tool_id: str | None
    started_code_cell_id: str | Unset = UNSET  # schema 2 on, omitted when absent
    resolved_wait_runtime_cell_id: str | Unset = UNSET  # schema 3, omitted when absent
    thread_id: str
    started_by_codex_turn_id: str | None
    execution: ExecutionWindow
    requester: ToolCallRequester
    kind: ToolCallKind
    model_visible_call_item_ids: list[str]
    model_visible_output_item_ids: list[str]
    terminal_operation_id: str | None
    summary: ToolCallSummary
    raw_invocation_payload_id: str | None
    raw_result_payload_id: str | None
    raw_runtime_payload_ids: list[str]


# ----- terminals -------------------------------------------------------------------------------------


class TerminalSession(Record):
    terminal_id: str
    thread_id: str
    created_by_operation_id: str
    operation_ids: list[str]
    execution: ExecutionWindow


class ExecCommandRequest(Tagged, frozen=True, tag="exec_command"):
    command: tuple[str, ...]
    display_command: str
    cwd: str
    yield_time_ms: int | None
    max_output_tokens: int | None


class WriteStdinRequest(Tagged, frozen=True, tag="write_stdin"):
    stdin: str
    yield_time_ms: int | None
    max_output_tokens: int | None


TerminalRequest: TypeAlias = ExecCommandRequest | WriteStdinRequest


class TerminalResult(msgspec.Struct, frozen=True, gc=False):
    exit_code: int | None
    stdout: str
    stderr: str
    formatted_output: str | None
    original_token_count: int | None = None
    chunk_id: str | None = None


class TerminalModelObservation(Record):
    """What the model was shown of a terminal operation (kept apart from what it produced)."""

    call_item_ids: list[str]
    output_item_ids: list[str]
    source: Literal["direct_tool_call", "code_cell_output"] = "direct_tool_call"


class TerminalOperation(Record):
    operation_id: str
    terminal_id: str | None
    tool_call_id: str
    kind: Literal["exec_command", "write_stdin"]
    execution: ExecutionWindow
    request: TerminalRequest
    result: TerminalResult | None = None
    model_observations: list[TerminalModelObservation] = msgspec.field(default_factory=list)
    raw_payload_ids: list[str] = msgspec.field(default_factory=list)


# ----- code cells --------------------------------------------------------------------------------------


class CodeCell(Record, kw_only=True):
    """A model-authored `exec` JavaScript cell (code mode)."""

    code_cell_id: str
    model_visible_call_id: str
    thread_id: str
    codex_turn_id: str
    source_item_id: str
    output_item_ids: list[str]
    runtime_cell_id: str | None
    execution: ExecutionWindow
    runtime_status: CodeCellRuntimeStatus
    initial_response_at_unix_ms: int | None
    initial_response_seq: int | None
    initial_response_status: CodeCellRuntimeStatus | None | Unset = UNSET  # schema 2 on (always present there)
    raw_initial_response_payload_id: str | None | Unset = UNSET  # schema 2 on
    raw_result_payload_id: str | None | Unset = UNSET  # schema 2 on
    yielded_at_unix_ms: int | None
    yielded_seq: int | None
    source_js: str
    nested_tool_call_ids: list[str]
    wait_tool_call_ids: list[str]


# ----- compaction ------------------------------------------------------------------------------------


class Compaction(Record):
    """An installed history checkpoint: input items replaced by replacement items."""

    compaction_id: str
    thread_id: str
    codex_turn_id: str
    installed_at_unix_ms: int
    marker_item_id: str
    request_ids: list[str]
    input_item_ids: list[str]
    replacement_item_ids: list[str]


class CompactionRequest(Record):
    compaction_request_id: str
    compaction_id: str
    thread_id: str
    codex_turn_id: str
    execution: ExecutionWindow
    model: str
    provider_name: str
    raw_request_payload_id: str
    raw_response_payload_id: str | None = None


# ----- interaction edges ---------------------------------------------------------------------------------


class ConversationItemAnchor(Tagged, frozen=True, tag="conversation_item"):
    item_id: str


class ToolCallAnchor(Tagged, frozen=True, tag="tool_call"):
    tool_call_id: str


class ThreadAnchor(Tagged, frozen=True, tag="thread"):
    thread_id: str


TraceAnchor: TypeAlias = ConversationItemAnchor | ToolCallAnchor | ThreadAnchor
InteractionEdgeKind = Literal["spawn_agent", "assign_agent_task", "send_message", "agent_result", "close_agent"]


class InteractionEdge(Record):
    edge_id: str
    kind: InteractionEdgeKind
    source: TraceAnchor
    target: TraceAnchor
    started_at_unix_ms: int
    ended_at_unix_ms: int | None
    carried_item_ids: list[str]
    carried_raw_payload_ids: list[str]
