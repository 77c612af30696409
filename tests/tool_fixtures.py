"""Tiny hand-written bundles for the tool and terminal reducer tests.

``ToolTrace`` writes a bundle the way Codex does (payload files first, then the event
that references them) with a root thread and one turn already started, so each test
only spells out the events its scenario is about.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trace_viewer.reducer import Reducer
from trace_viewer.reducer.replay import reduce_bundle

THREAD = "thread-root"
TURN = "turn-1"


class ToolTrace:
    """Builder for a bundle in ``directory``; ``reduce()`` replays it with the real reducer."""

    def __init__(self, directory: Path, schema_version: int = 2) -> None:
        self.dir = directory
        self.schema_version = schema_version
        self.events: list[dict[str, Any]] = []
        self.next_payload = 1
        (directory / "payloads").mkdir(parents=True, exist_ok=True)
        manifest = {
            "schema_version": schema_version,
            "trace_id": "trace-1",
            "rollout_id": "rollout-1",
            "root_thread_id": THREAD,
            "started_at_unix_ms": 1000,
            "raw_event_log": "trace.jsonl",
            "payloads_dir": "payloads",
        }
        (directory / "manifest.json").write_text(json.dumps(manifest))
        self.event("thread_started", thread_id=THREAD, agent_path="/root", metadata_payload=None)
        self.event("codex_turn_started", codex_turn_id=TURN, thread_id=THREAD)

    # ----- raw writing --------------------------------------------------------
    def payload(self, kind: str, body: Any) -> dict[str, Any]:
        number = self.next_payload
        self.next_payload += 1
        (self.dir / "payloads" / f"{number}.json").write_text(json.dumps(body, indent=2))
        return {"raw_payload_id": f"raw_payload:{number}", "kind": {"type": kind}, "path": f"payloads/{number}.json"}

    def event(
        self,
        event_type: str,
        *,
        context: bool = False,
        envelope_thread: str | None = None,
        envelope_turn: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Append an event; ``context`` puts the root thread/turn in the envelope (else the given ones)."""
        seq = len(self.events) + 1
        envelope = {
            "schema_version": self.schema_version,
            "seq": seq,
            "wall_time_unix_ms": 1000 + seq * 10,
            "rollout_id": "rollout-1",
            "thread_id": THREAD if context else envelope_thread,
            "codex_turn_id": TURN if context else envelope_turn,
            "payload": {"type": event_type, **fields},
        }
        self.events.append(envelope)
        return envelope

    def reduce(self) -> Reducer:
        with open(self.dir / "trace.jsonl", "w") as log:
            for envelope in self.events:
                log.write(json.dumps(envelope) + "\n")
        return reduce_bundle(self.dir)

    # ----- model traffic -------------------------------------------------------
    def inference(self, inference_id: str, input_items: list[Any], output_items: list[Any] | None = None) -> None:
        """A full-snapshot request, and a completed response when ``output_items`` is given."""
        request = self.payload("inference_request", {"input": input_items})
        self.event(
            "inference_started",
            inference_call_id=inference_id,
            thread_id=THREAD,
            codex_turn_id=TURN,
            model="gpt-test",
            provider_name="test-provider",
            request_payload=request,
        )
        if output_items is None:
            return
        response = self.payload("inference_response", {"response_id": f"resp-{inference_id}", "output_items": output_items})
        self.event(
            "inference_completed",
            context=True,
            inference_call_id=inference_id,
            response_id=f"resp-{inference_id}",
            upstream_request_id=None,
            response_payload=response,
        )

    # ----- tools ----------------------------------------------------------------
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
        invocation_payload = self.payload("tool_invocation", invocation) if invocation is not None else None
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
            invocation_payload=invocation_payload,
        )

    def runtime_started(self, tool_call_id: str, body: Any, kind: dict[str, Any] | None = None) -> dict[str, Any]:
        fields: dict[str, Any] = {"tool_call_id": tool_call_id}
        if self.schema_version >= 2:
            fields["kind"] = kind
        fields["runtime_payload"] = self.payload("tool_runtime_event", body)
        return self.event("tool_call_runtime_started", context=True, **fields)

    def runtime_ended(self, tool_call_id: str, body: Any, status: str = "completed") -> dict[str, Any]:
        return self.event(
            "tool_call_runtime_ended",
            context=True,
            tool_call_id=tool_call_id,
            status=status,
            runtime_payload=self.payload("tool_runtime_event", body),
        )

    def tool_ended(self, tool_call_id: str, result: Any = None, status: str = "completed") -> dict[str, Any]:
        result_payload = self.payload("tool_result", result) if result is not None else None
        return self.event(
            "tool_call_ended", context=True, tool_call_id=tool_call_id, status=status, result_payload=result_payload
        )


def user_message(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


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
    body: dict[str, Any] = {"call_id": call_id, "turn_id": TURN, "aggregated_output": output, "status": "completed"}
    if exit_code is not ...:
        body["exit_code"] = exit_code
    if process_id is not None:
        body["process_id"] = process_id
    return body
