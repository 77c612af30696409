"""What the detail view of one tool call shows, at a position — no Textual, no Rich here.

Arguments, output, exit code, the terminal session with its stdin writes and
polls, the MCP server, the code cell, and the timings. Like every pane, only
what is known at the position: a call still running there has no output yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trace_viewer.app.render import pretty_json
from trace_viewer.app.views import duration_text, tool_title
from trace_viewer.model import (
    CodeCellRequester,
    ExecCommandRequest,
    ExecutionWindow,
    GenericSummary,
    McpKind,
    RolloutTrace,
    TerminalOperation,
    TerminalSummary,
    WriteStdinRequest,
    tag_of,
)
from trace_viewer.session import ReplaySession, item_text


@dataclass(slots=True)
class Section:
    """A titled part of the detail view: ``(label, value)`` rows, then free text (untrusted, shown literally)."""

    title: str
    rows: list[tuple[str, str]] = field(default_factory=list)
    text: str = ""


@dataclass(slots=True)
class ToolDetail:
    tool_call_id: str
    title: str
    sections: list[Section]


def _ended(execution: ExecutionWindow, position: int) -> bool:
    ended = execution.ended_seq
    return ended is not None and ended <= position


def _timing(execution: ExecutionWindow, position: int, wall_ms: int | None) -> list[tuple[str, str]]:
    rows = [("started", f"seq {execution.started_seq}")]
    start_ms = execution.started_at_unix_ms
    if _ended(execution, position):
        rows.append(("ended", f"seq {execution.ended_seq} · {execution.status}"))
        end_ms = execution.ended_at_unix_ms
        if end_ms is not None:
            rows.append(("duration", duration_text(end_ms - start_ms)))
    else:
        rows.append(("status", "running at the cursor"))
        if wall_ms is not None:
            rows.append(("elapsed", duration_text(max(0, wall_ms - start_ms)) + " (up to the cursor)"))
    return rows


def _items_text(session: ReplaySession, item_ids: list[str], position: int) -> str:
    texts = []
    for item_id in item_ids:
        item = session.item_at(item_id, position)
        if item is not None:
            texts.append(item_text(item))
    return "\n".join(text for text in texts if text)


def tool_call_of_item(session: ReplaySession, item_id: str) -> str | None:
    """The tool call a function call/output item belongs to (by its call id)."""
    item = session.rollout.conversation_items.get(item_id)
    if item is None:
        return None
    for tool_id, tool in session.rollout.tool_calls.items():
        if item_id in tool.model_visible_call_item_ids or item_id in tool.model_visible_output_item_ids:
            return tool_id
    if item.call_id:
        for tool_id, tool in session.rollout.tool_calls.items():
            if tool.model_visible_call_id == item.call_id:
                return tool_id
    return None


def _terminal_sections(rollout: RolloutTrace, operation: TerminalOperation, position: int) -> list[Section]:
    request = operation.request
    execution = operation.execution
    command = Section("Terminal operation", [("kind", operation.kind or tag_of(request))])
    if isinstance(request, ExecCommandRequest):
        if request.display_command:
            command.rows.append(("command", request.display_command))
        if request.cwd:
            command.rows.append(("cwd", request.cwd))
    if isinstance(request, WriteStdinRequest):
        command.rows.append(("stdin", repr(request.stdin) if request.stdin else "(empty: a poll)"))
    if request.yield_time_ms is not None:
        command.rows.append(("yield", f"{request.yield_time_ms} ms"))
    sections = [command]
    result = operation.result
    if _ended(execution, position) and result is not None:
        exit_code = result.exit_code
        out = Section("Result", [("exit code", "– (still running)" if exit_code is None else str(exit_code))])
        out.text = result.formatted_output or result.stdout or ""
        if result.stderr:
            out.text += "\n--- stderr ---\n" + result.stderr
        sections.append(out)
    terminal = rollout.terminal_sessions.get(operation.terminal_id or "")
    if terminal is not None:
        session = Section("Terminal session", [("terminal", terminal.terminal_id)])
        for operation_id in terminal.operation_ids:
            other = rollout.terminal_operations.get(operation_id)
            started = other.execution.started_seq if other is not None else 0
            if started > position:
                continue
            other_request = other.request if other is not None else None
            mark = "▶" if operation_id == operation.operation_id else " "
            if isinstance(other_request, WriteStdinRequest):
                chars = other_request.stdin
                what = f"stdin {chars!r}" if chars else "poll"
            elif isinstance(other_request, ExecCommandRequest):
                what = other_request.display_command or (other.kind if other is not None else "")
            else:
                what = other.kind if other is not None else "?"
            session.rows.append((f"{mark} seq {started}", what))
        sections.append(session)
    return sections


def tool_detail(session: ReplaySession, tool_call_id: str, position: int) -> ToolDetail | None:
    """The detail of a tool call as known at ``position`` (None: no such call)."""
    rollout = session.rollout
    tool = rollout.tool_calls.get(tool_call_id)
    if tool is None:
        return None
    label, summary = tool_title(rollout, tool)
    execution = tool.execution
    wall = session.wall_ms_at(position)
    sections = [Section("Tool call", [("id", tool_call_id), ("kind", label)])]
    if summary:
        sections[0].rows.append(("summary", summary))
    requester = tool.requester
    sections[0].rows.append(("requested by", tag_of(requester)))
    if tool.started_by_codex_turn_id:
        sections[0].rows.append(("turn", tool.started_by_codex_turn_id))
    if execution.started_seq > position:
        sections.append(Section("Not started yet", text=f"This call starts at seq {execution.started_seq}."))
        return ToolDetail(tool_call_id, label, sections)
    sections.append(Section("Timings", _timing(execution, position, wall)))
    arguments = _items_text(session, list(tool.model_visible_call_item_ids), position)
    kind = tool.kind
    generic = tool.summary
    if not arguments and isinstance(generic, GenericSummary):
        arguments = generic.input_preview or ""
    sections.append(Section("Arguments", text=pretty_json(arguments) if arguments else "(none recorded)"))
    if isinstance(kind, McpKind):
        rows = [("server", kind.server), ("tool", kind.tool)]
        if tool.mcp_call_id:
            rows.append(("mcp call", tool.mcp_call_id))
        sections.append(Section("MCP", rows))
    if isinstance(requester, CodeCellRequester):
        calling = rollout.code_cells.get(requester.code_cell_id)
        rows = [("cell", requester.code_cell_id)]
        if tool.code_mode_runtime_tool_id:
            rows.append(("runtime tool", tool.code_mode_runtime_tool_id))
        sections.append(Section("Called from a code cell", rows, calling.source_js if calling is not None else ""))
    cell = next((c for c in rollout.code_cells.values() if c.model_visible_call_id == tool_call_id), None)
    if cell is None and tool.model_visible_call_id:
        cell = next(
            (c for c in rollout.code_cells.values() if c.model_visible_call_id == tool.model_visible_call_id), None
        )
    if cell is not None:
        rows = [("cell", cell.code_cell_id), ("runtime cell", str(cell.runtime_cell_id))]
        if _ended(cell.execution, position):
            rows.append(("runtime status", cell.runtime_status))
        inner = [
            t.tool_call_id
            for t in rollout.tool_calls.values()
            if isinstance(t.requester, CodeCellRequester)
            and t.requester.code_cell_id == cell.code_cell_id
            and t.execution.started_seq <= position
        ]
        if inner:
            rows.append(("tools called", ", ".join(inner)))
        sections.append(Section("Code cell", rows, cell.source_js))
    operation = rollout.terminal_operations.get(tool.terminal_operation_id or "")
    if operation is None and isinstance(generic, TerminalSummary):
        operation = rollout.terminal_operations.get(generic.operation_id)
    if operation is not None:
        sections.extend(_terminal_sections(rollout, operation, position))
    if _ended(execution, position):
        output = _items_text(session, list(tool.model_visible_output_item_ids), position)
        sections.append(Section("Output (as the model saw it)", text=output or "(no model-visible output)"))
    else:
        sections.append(Section("Output", text="(not known yet at the cursor: the call is still running)"))
    payloads = [tool.raw_invocation_payload_id, *tool.raw_runtime_payload_ids]
    if _ended(execution, position):
        payloads.append(tool.raw_result_payload_id)
    shown = [p for p in payloads if p]
    if shown:
        sections.append(Section("Raw payloads", [("ids", ", ".join(shown))], "The inspector (i) shows them as JSON."))
    return ToolDetail(tool_call_id, label, sections)
