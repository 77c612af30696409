"""A tiny trace-bundle writer for reducer tests.

Usage::

    bundle = BundleBuilder(tmp_path)                 # manifest for schema 2, root thread "thread-root"
    bundle.thread()                                  # thread_started for the root thread
    bundle.turn("turn-1")                            # codex_turn_started on the root thread
    bundle.add({"type": "inference_started", ..., "request_payload": Payload("inference_request", {...})},
               thread="thread-root", turn="turn-1")  # any event; Payload(...) values become payload files
    reducer = bundle.reduce()                        # writes trace.jsonl and replays it with the real reducer

Rules:
- ``add(payload_dict, thread=None, turn=None, wall=None)`` appends one event with the next seq.
  ``thread``/``turn`` fill the envelope (``thread_id``/``codex_turn_id``); wall time defaults to
  ``1000 + 10 * seq``. It returns the seq.
- Any ``Payload(kind, body)`` found in the payload dict (also inside lists) is written to
  ``payloads/N.json`` (numbered in order of appearance) and replaced by its payload ref, exactly as
  Codex writes payloads before the event that references them.
- ``payload(kind, body)`` writes one payload file now and returns its ref, for refs reused by hand.
- ``reduce()`` (re)writes ``trace.jsonl`` and returns ``replay.reduce_bundle(dir)``: check
  ``reducer.fault`` for the refusal, ``reducer.rollout`` / ``reducer.to_json()`` for the state.
- The helpers ``thread``, ``turn``, ``inference`` (start + optional completion) only save typing;
  ``message(role, text)`` builds a Responses message item.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trace_viewer.reducer import Reducer
from trace_viewer.reducer.replay import reduce_bundle

ROOT_THREAD = "thread-root"
ROLLOUT = "rollout-1"


@dataclass(frozen=True)
class Payload:
    """A payload body to be written as a file; ``kind`` is the ref's ``kind.type``."""

    kind: str
    body: Any


def message(role: str, text: str, *, item_id: str | None = None) -> dict[str, Any]:
    """A Responses `message` item with one input_text part (and an `id` when given)."""
    item: dict[str, Any] = {"type": "message", "role": role, "content": [{"type": "input_text", "text": text}]}
    if item_id is not None:
        item["id"] = item_id
    return item


class BundleBuilder:
    """Writes one bundle into ``directory`` (created if needed)."""

    def __init__(
        self,
        directory: Path,
        *,
        schema_version: int = 2,
        root_thread_id: str = ROOT_THREAD,
        rollout_id: str = ROLLOUT,
    ) -> None:
        self.dir = Path(directory)
        self.schema_version = schema_version
        self.root_thread_id = root_thread_id
        self.rollout_id = rollout_id
        self.events: list[dict[str, Any]] = []
        self._next_payload = 1
        (self.dir / "payloads").mkdir(parents=True, exist_ok=True)
        manifest = {
            "schema_version": schema_version,
            "trace_id": "trace-1",
            "rollout_id": rollout_id,
            "root_thread_id": root_thread_id,
            "started_at_unix_ms": 1000,
            "raw_event_log": "trace.jsonl",
            "payloads_dir": "payloads",
        }
        (self.dir / "manifest.json").write_text(json.dumps(manifest, indent=2))

    # ----- raw writing ---------------------------------------------------------
    def payload(self, kind: str, body: Any) -> dict[str, Any]:
        number = self._next_payload
        self._next_payload += 1
        path = f"payloads/{number}.json"
        (self.dir / path).write_text(json.dumps(body, indent=2, ensure_ascii=False))
        return {"raw_payload_id": f"raw_payload:{number}", "kind": {"type": kind}, "path": path}

    def _materialise(self, value: Any) -> Any:
        if isinstance(value, Payload):
            return self.payload(value.kind, value.body)
        if isinstance(value, list):
            return [self._materialise(entry) for entry in value]
        return value

    def add(
        self, payload: dict[str, Any], *, thread: str | None = None, turn: str | None = None, wall: int | None = None
    ) -> int:
        seq = len(self.events) + 1
        self.events.append(
            {
                "schema_version": self.schema_version,
                "seq": seq,
                "wall_time_unix_ms": wall if wall is not None else 1000 + 10 * seq,
                "rollout_id": self.rollout_id,
                "thread_id": thread,
                "codex_turn_id": turn,
                "payload": {key: self._materialise(value) for key, value in payload.items()},
            }
        )
        return seq

    def reduce(self) -> Reducer:
        with open(self.dir / "trace.jsonl", "w", encoding="utf-8") as log:
            log.writelines(json.dumps(event, ensure_ascii=False) + "\n" for event in self.events)
        return reduce_bundle(self.dir)

    # ----- shorthands ------------------------------------------------------------
    def thread(self, thread_id: str | None = None, agent_path: str = "/root") -> int:
        thread_id = thread_id or self.root_thread_id
        return self.add({"type": "thread_started", "thread_id": thread_id, "agent_path": agent_path})

    def turn(self, turn_id: str, thread_id: str | None = None) -> int:
        thread_id = thread_id or self.root_thread_id
        return self.add(
            {"type": "codex_turn_started", "codex_turn_id": turn_id, "thread_id": thread_id},
            thread=thread_id,
            turn=turn_id,
        )

    def end_turn(self, turn_id: str, status: str = "completed", thread_id: str | None = None) -> int:
        thread_id = thread_id or self.root_thread_id
        return self.add(
            {"type": "codex_turn_ended", "codex_turn_id": turn_id, "status": status}, thread=thread_id, turn=turn_id
        )

    def inference(
        self,
        inference_id: str,
        turn_id: str,
        request: dict[str, Any] | list[Any],
        output_items: list[Any] | None = None,
        *,
        thread_id: str | None = None,
        response_id: str | None = None,
        token_usage: dict[str, Any] | None = None,
    ) -> int:
        """Start a call (``request`` is the whole body, or just the ``input`` list) and, if
        ``output_items`` is given, complete it. Returns the seq of the last event written."""
        thread_id = thread_id or self.root_thread_id
        body = request if isinstance(request, dict) else {"input": request}
        seq = self.add(
            {
                "type": "inference_started",
                "inference_call_id": inference_id,
                "thread_id": thread_id,
                "codex_turn_id": turn_id,
                "model": "gpt-test",
                "provider_name": "test-provider",
                "request_payload": Payload("inference_request", body),
            },
            thread=thread_id,
            turn=turn_id,
        )
        if output_items is None:
            return seq
        response_id = response_id or f"resp-{inference_id}"
        return self.add(
            {
                "type": "inference_completed",
                "inference_call_id": inference_id,
                "response_id": response_id,
                "upstream_request_id": None,
                "response_payload": Payload(
                    "inference_response",
                    {"response_id": response_id, "token_usage": token_usage, "output_items": output_items},
                ),
            },
            thread=thread_id,
            turn=turn_id,
        )
