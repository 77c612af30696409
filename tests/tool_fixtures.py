"""Tool and terminal shorthands on top of the shared ``BundleBuilder``.

``ToolTrace`` starts with the root thread and one turn already open, and adds one method
per tool lifecycle event, so each test only spells out the events its scenario is about.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bundle_builder import ROOT_THREAD, BundleBuilder, Payload

THREAD = ROOT_THREAD
TURN = "turn-1"


class ToolTrace(BundleBuilder):
    """A bundle with ``thread-root`` and ``turn-1`` started."""

    def __init__(self, directory: Path, schema_version: int = 2) -> None:
        super().__init__(directory, schema_version=schema_version)
        self.thread()
        self.turn(TURN)

    def event(
        self,
        event_type: str,
        *,
        context: bool = False,
        envelope_thread: str | None = None,
        envelope_turn: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Append an event and return its envelope; ``context`` puts the root thread/turn in it."""
        self.add(
            {"type": event_type, **fields},
            thread=THREAD if context else envelope_thread,
            turn=TURN if context else envelope_turn,
        )
        return self.events[-1]

    def tool_started(
        self,
        tool_call_id: str,
        kind: dict[str, Any],
        *,
        model_visible_call_id: str | None = None,
        invocation: Any = None,
        label: str | None = None,
        requester: dict[str, Any] | None = None,
        code_mode_runtime_tool_id: str | None = None,
    ) -> dict[str, Any]:
        return self.event(
            "tool_call_started",
            context=True,
            tool_call_id=tool_call_id,
            model_visible_call_id=model_visible_call_id,
            code_mode_runtime_tool_id=code_mode_runtime_tool_id,
            requester=requester or {"type": "model"},
            kind=kind,
            summary={
                "type": "generic",
                "label": label or kind.get("name") or kind["type"],
                "input_preview": None,
                "output_preview": None,
            },
            invocation_payload=Payload("tool_invocation", invocation) if invocation is not None else None,
        )

    def runtime_started(self, tool_call_id: str, body: Any, kind: dict[str, Any] | None = None) -> dict[str, Any]:
        """Runtime begin; ``kind`` is written only in schema 2, where it is required."""
        fields: dict[str, Any] = {"tool_call_id": tool_call_id}
        if self.schema_version >= 2:
            fields["kind"] = kind
        fields["runtime_payload"] = Payload("tool_runtime_event", body)
        return self.event("tool_call_runtime_started", context=True, **fields)

    def runtime_ended(self, tool_call_id: str, body: Any, status: str = "completed") -> dict[str, Any]:
        return self.event(
            "tool_call_runtime_ended",
            context=True,
            tool_call_id=tool_call_id,
            status=status,
            runtime_payload=Payload("tool_runtime_event", body),
        )

    def tool_ended(self, tool_call_id: str, result: Any = None, status: str = "completed") -> dict[str, Any]:
        return self.event(
            "tool_call_ended",
            context=True,
            tool_call_id=tool_call_id,
            status=status,
            result_payload=Payload("tool_result", result) if result is not None else None,
        )


def function_call(call_id: str, name: str, arguments: Any) -> dict[str, Any]:
    return {"type": "function_call", "name": name, "arguments": json.dumps(arguments), "call_id": call_id}


def function_output(call_id: str, output: str) -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": output}


def direct_response(call_id: str, output: str) -> dict[str, Any]:
    return {"type": "direct_response", "response_item": function_output(call_id, output)}


def write_stdin_invocation(arguments: Any) -> dict[str, Any]:
    """A dispatch invocation; ``arguments`` is JSON-encoded unless it already is a string."""
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"tool_name": "write_stdin", "tool_namespace": None, "payload": {"type": "function", "arguments": text}}


def exec_begin(call_id: str, command: list[str], process_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"call_id": call_id, "turn_id": TURN, "command": command, "cwd": "/repo"}
    if process_id is not None:
        body["process_id"] = process_id
    return body


def exec_end(call_id: str, output: str, exit_code: Any = 0, process_id: str | None = None) -> dict[str, Any]:
    """An exec end payload; ``exit_code=...`` leaves the field out."""
    body: dict[str, Any] = {"call_id": call_id, "turn_id": TURN, "aggregated_output": output, "status": "completed"}
    if exit_code is not ...:
        body["exit_code"] = exit_code
    if process_id is not None:
        body["process_id"] = process_id
    return body
