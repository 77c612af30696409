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
- Schema 3 (``schema_version=3``): payloads are records in zstd shards (``payloads/000001.zst``),
  written the way Codex 0.171.0 writes them: one flushed block per record, the frame finished when
  the shard closes, a new shard past ``shard_limit`` bytes. Refs carry ``shard`` instead of
  ``path``. ``inference()`` also writes the call's ``prepared_prompt_payload``: one ``model_item``
  record per input item, stored once per distinct item and reused by later calls, as Codex does.
  ``write()`` takes ``drop=`` (record ids left out), ``corrupt=`` (id -> body bytes written instead)
  and ``unfinished=True`` (the last shard's frame left open, as after a kill).
- The helpers ``thread``, ``turn``, ``inference`` (start + optional completion) only save typing;
  ``message(role, text)`` builds a Responses message item.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zstandard

from trace_viewer.reducer import Reducer
from trace_viewer.reducer.replay import reduce_bundle

ROOT_THREAD = "thread-root"
ROLLOUT = "rollout-1"
# Codex 0.171.0 starts a new shard when a record would take the current one past this many bytes.
SHARD_LIMIT = 8 << 20


def shard_record(record_id: str, body: bytes) -> bytes:
    """One shard record: u16 LE id length, u64 LE body length, id, body."""
    encoded = record_id.encode("utf-8")
    return struct.pack("<HQ", len(encoded), len(body)) + encoded + body


def write_shard(path: Path, records: list[bytes], *, finished: bool = True) -> None:
    """A zstd frame holding ``records``, each flushed as its own block; finished or left open."""
    compressor = zstandard.ZstdCompressor(write_checksum=True).compressobj()
    out = bytearray()
    for record in records:
        out += compressor.compress(record)
        out += compressor.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
    if finished:
        out += compressor.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH)
    path.write_bytes(bytes(out))


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
        self.shard_limit = SHARD_LIMIT
        # Schema 3: (shard number, record id, body) in write order, and model items stored once.
        self.records: list[tuple[int, str, bytes]] = []
        self._shard = 1
        self._shard_size = 0
        self._model_items: dict[str, dict[str, Any]] = {}
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
    def payload(self, kind: str, body: Any, *, parts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        number = self._next_payload
        self._next_payload += 1
        payload_id = f"raw_payload:{number}"
        if self.schema_version < 3:
            path = f"payloads/{number}.json"
            (self.dir / path).write_text(json.dumps(body, indent=2, ensure_ascii=False))
            return {"raw_payload_id": payload_id, "kind": {"type": kind}, "path": path}
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        size = len(shard_record(payload_id, data))
        if self._shard_size and self._shard_size + size > self.shard_limit:
            self._shard += 1
            self._shard_size = 0
        self._shard_size += size
        self.records.append((self._shard, payload_id, data))
        ref: dict[str, Any] = {"raw_payload_id": payload_id, "kind": {"type": kind}, "shard": self._shard}
        if parts is not None:
            ref["parts"] = parts
        return ref

    def model_item(self, item: Any) -> dict[str, Any]:
        """Schema 3: the ``model_item`` record of an input item, written once per distinct item."""
        key = json.dumps(item, sort_keys=True)
        ref = self._model_items.get(key)
        if ref is None:
            ref = self._model_items[key] = self.payload("model_item", item)
        return json.loads(json.dumps(ref))  # a copy: a test may edit one event's refs

    def prepared_prompt(self, request: dict[str, Any]) -> dict[str, Any]:
        """Schema 3: a ``prepared_prompt`` for a request body: fragments around its ``input`` items' records."""
        items = list(request.get("input", []))
        parts = [self.model_item(item) for item in items]
        rest = json.dumps({key: value for key, value in request.items() if key != "input"}, separators=(",", ":"))
        tail = "]" + ("," + rest[1:] if rest != "{}" else "}")
        fragments = ['{"input":[', *[","] * max(len(items) - 1, 0), tail]
        return self.payload("prepared_prompt", fragments, parts=parts)

    def write(
        self, *, drop: frozenset[str] = frozenset(), corrupt: dict[str, bytes] | None = None, unfinished: bool = False
    ) -> None:
        """Write ``trace.jsonl`` (and, in schema 3, the shards) as they are now."""
        with open(self.dir / "trace.jsonl", "w", encoding="utf-8") as log:
            log.writelines(json.dumps(event, ensure_ascii=False) + "\n" for event in self.events)
        if self.schema_version < 3:
            return
        corrupt = corrupt or {}
        shards: dict[int, list[bytes]] = {}
        for shard, record_id, body in self.records:
            records = shards.setdefault(shard, [])
            if record_id not in drop:
                records.append(shard_record(record_id, corrupt.get(record_id, body)))
        last = max(shards, default=0)
        for shard, records in shards.items():
            write_shard(
                self.dir / "payloads" / f"{shard:06d}.zst", records, finished=not (unfinished and shard == last)
            )

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

    def reduce(self, **write_options: Any) -> Reducer:
        self.write(**write_options)
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
        started: dict[str, Any] = {
            "type": "inference_started",
            "inference_call_id": inference_id,
            "thread_id": thread_id,
            "codex_turn_id": turn_id,
            "model": "gpt-test",
            "provider_name": "test-provider",
            "request_payload": Payload("inference_request", body),
        }
        if self.schema_version >= 3:
            # The wire request, then the prepared prompt's model items and the prepared prompt, as Codex orders them.
            started["request_payload"] = self.payload("inference_request", body)
            started["prepared_prompt_payload"] = self.prepared_prompt(body)
        seq = self.add(started, thread=thread_id, turn=turn_id)
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
