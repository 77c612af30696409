"""What the detail view of one tool call shows, at a position — no Textual, no Rich here.

Arguments, output, exit code, the terminal session with its stdin writes and
polls, the MCP server, the code cell, and the timings. Like every pane, only
what is known at the position: a call still running there has no output yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trace_viewer.app.render import pretty_json
from trace_viewer.app.views import duration_text, tool_title
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


def _ended(execution: dict[str, Any], position: int) -> bool:
    ended = execution.get("ended_seq")
    return isinstance(ended, int) and ended <= position


def _timing(execution: dict[str, Any], position: int, wall_ms: int | None) -> list[tuple[str, str]]:
    rows = [("started", f"seq {execution.get('started_seq')}")]
    start_ms = execution.get("started_at_unix_ms")
    if _ended(execution, position):
        rows.append(("ended", f"seq {execution.get('ended_seq')} · {execution.get('status')}"))
        end_ms = execution.get("ended_at_unix_ms")
        if isinstance(start_ms, int) and isinstance(end_ms, int):
            rows.append(("duration", duration_text(end_ms - start_ms)))
    else:
        rows.append(("status", "running at the cursor"))
        if isinstance(start_ms, int) and wall_ms is not None:
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
    item = session.rollout["conversation_items"].get(item_id)
    if item is None:
        return None
    for tool_id, tool in session.rollout["tool_calls"].items():
        if item_id in (tool.get("model_visible_call_item_ids") or []) or item_id in (
            tool.get("model_visible_output_item_ids") or []
        ):
            return tool_id
    call_id = item.get("call_id")
    if call_id:
        for tool_id, tool in session.rollout["tool_calls"].items():
            if tool.get("model_visible_call_id") == call_id:
                return tool_id
    return None


def _terminal_sections(rollout: dict[str, Any], operation: dict[str, Any], position: int) -> list[Section]:
    request = operation.get("request") or {}
    execution = operation.get("execution") or {}
    command = Section("Terminal operation", [("kind", str(operation.get("kind") or request.get("type")))])
    if request.get("display_command"):
        command.rows.append(("command", str(request["display_command"])))
    if request.get("cwd"):
        command.rows.append(("cwd", str(request["cwd"])))
    stdin = request.get("stdin", request.get("chars"))
    if isinstance(stdin, str):
        command.rows.append(("stdin", repr(stdin) if stdin else "(empty: a poll)"))
    if request.get("yield_time_ms") is not None:
        command.rows.append(("yield", f"{request['yield_time_ms']} ms"))
    sections = [command]
    result = operation.get("result") or {}
    if _ended(execution, position) and result:
        exit_code = result.get("exit_code")
        out = Section("Result", [("exit code", "– (still running)" if exit_code is None else str(exit_code))])
        out.text = str(result.get("formatted_output") or result.get("stdout") or "")
        if result.get("stderr"):
            out.text += "\n--- stderr ---\n" + str(result["stderr"])
        sections.append(out)
    terminal = rollout["terminal_sessions"].get(operation.get("terminal_id") or "")
    if terminal is not None:
        session = Section("Terminal session", [("terminal", str(terminal.get("terminal_id")))])
        for operation_id in terminal.get("operation_ids") or []:
            other = rollout["terminal_operations"].get(operation_id) or {}
            started = (other.get("execution") or {}).get("started_seq") or 0
            if started > position:
                continue
            other_request = other.get("request") or {}
            mark = "▶" if operation_id == operation.get("operation_id") else " "
            if other_request.get("type") == "write_stdin":
                chars = other_request.get("stdin", other_request.get("chars")) or ""
                what = f"stdin {chars!r}" if chars else "poll"
            else:
                what = str(other_request.get("display_command") or other.get("kind"))
            session.rows.append((f"{mark} seq {started}", what))
        sections.append(session)
    return sections


def tool_detail(session: ReplaySession, tool_call_id: str, position: int) -> ToolDetail | None:
    """The detail of a tool call as known at ``position`` (None: no such call)."""
    rollout = session.rollout
    tool = rollout["tool_calls"].get(tool_call_id)
    if tool is None:
        return None
    label, summary = tool_title(rollout, tool)
    execution = tool.get("execution") or {}
    wall = session.wall_ms_at(position)
    sections = [Section("Tool call", [("id", tool_call_id), ("kind", label)])]
    if summary:
        sections[0].rows.append(("summary", summary))
    requester = tool.get("requester") or {}
    sections[0].rows.append(("requested by", str(requester.get("type") or "?")))
    if tool.get("started_by_codex_turn_id"):
        sections[0].rows.append(("turn", str(tool["started_by_codex_turn_id"])))
    if (execution.get("started_seq") or 0) > position:
        sections.append(Section("Not started yet", text=f"This call starts at seq {execution.get('started_seq')}."))
        return ToolDetail(tool_call_id, label, sections)
    sections.append(Section("Timings", _timing(execution, position, wall)))
    arguments = _items_text(session, list(tool.get("model_visible_call_item_ids") or []), position)
    kind = tool.get("kind") or {}
    generic = tool.get("summary") or {}
    if not arguments and generic.get("type") == "generic":
        arguments = str(generic.get("input_preview") or "")
    sections.append(Section("Arguments", text=pretty_json(arguments) if arguments else "(none recorded)"))
    if kind.get("type") == "mcp":
        rows = [("server", str(kind.get("server"))), ("tool", str(kind.get("tool")))]
        if tool.get("mcp_call_id"):
            rows.append(("mcp call", str(tool["mcp_call_id"])))
        sections.append(Section("MCP", rows))
    if requester.get("type") == "code_cell":
        cell = rollout["code_cells"].get(requester.get("code_cell_id") or "") or {}
        rows = [("cell", str(requester.get("code_cell_id")))]
        if tool.get("code_mode_runtime_tool_id"):
            rows.append(("runtime tool", str(tool["code_mode_runtime_tool_id"])))
        sections.append(Section("Called from a code cell", rows, str(cell.get("source_js") or "")))
    cell = next((c for c in rollout["code_cells"].values() if c.get("model_visible_call_id") == tool_call_id), None)
    if cell is None and tool.get("model_visible_call_id"):
        cell = next(
            (
                c
                for c in rollout["code_cells"].values()
                if c.get("model_visible_call_id") == tool["model_visible_call_id"]
            ),
            None,
        )
    if cell is not None:
        cell_execution = cell.get("execution") or {}
        rows = [("cell", str(cell.get("code_cell_id"))), ("runtime cell", str(cell.get("runtime_cell_id")))]
        if _ended(cell_execution, position):
            rows.append(("runtime status", str(cell.get("runtime_status"))))
        inner = [
            str(t.get("tool_call_id"))
            for t in rollout["tool_calls"].values()
            if (t.get("requester") or {}).get("code_cell_id") == cell.get("code_cell_id")
            and ((t.get("execution") or {}).get("started_seq") or 0) <= position
        ]
        if inner:
            rows.append(("tools called", ", ".join(inner)))
        sections.append(Section("Code cell", rows, str(cell.get("source_js") or "")))
    operation = rollout["terminal_operations"].get(tool.get("terminal_operation_id") or "")
    if operation is None and generic.get("type") == "terminal":
        operation = rollout["terminal_operations"].get(generic.get("operation_id") or "")
    if operation is not None:
        sections.extend(_terminal_sections(rollout, operation, position))
    if _ended(execution, position):
        output = _items_text(session, list(tool.get("model_visible_output_item_ids") or []), position)
        sections.append(Section("Output (as the model saw it)", text=output or "(no model-visible output)"))
    else:
        sections.append(Section("Output", text="(not known yet at the cursor: the call is still running)"))
    payloads = [tool.get("raw_invocation_payload_id"), *(tool.get("raw_runtime_payload_ids") or [])]
    if _ended(execution, position):
        payloads.append(tool.get("raw_result_payload_id"))
    shown = [str(p) for p in payloads if p]
    if shown:
        sections.append(Section("Raw payloads", [("ids", ", ".join(shown))], "The inspector (i) shows them as JSON."))
    return ToolDetail(tool_call_id, label, sections)
