"""Every model call of a trace bundle or a session rollout, with its exact input.

Shared by ``trace-viewer calls`` and the viewer. For a rollout the input is rebuilt from the file
(``trace_viewer.rollout.rebuild``); for a bundle it is read from each call's recorded request
payload. Both are given as the Responses input items the model received:

- a bundle's compaction request records the base instructions in a separate ``instructions``
  field and its items with Codex's internal passthrough metadata; on the wire the instructions
  are the leading developer message and the metadata is not sent, so they are shown that way;
- a bundle records no local compaction request (its input is known only from a rollout), and no
  response id for compaction requests.

What the source does not record is listed in each call's ``notes``, never filled in.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trace_viewer.errors import Fault, PayloadError
from trace_viewer.rollout.rebuild import base_message, without_passthrough
from trace_viewer.text import json_safe, one_line

JsonObject = dict[str, Any]

NOTE_BUNDLE_INSTRUCTIONS = (
    "the bundle records this request's base instructions as a separate field: shown as the leading "
    "developer message, as sent (its id is not recorded)"
)
NOTE_BUNDLE_COMPACTION_ID = "the bundle does not record a compaction response's id"
# Said once per rollout: what a session file cannot tell (the bundle of the same run can).
ROLLOUT_LIMITS = (
    "a rollout does not record tool schemas, retried or HTTP-failed request attempts, or the request bodies "
    "themselves; the inputs are rebuilt from the history it does record"
)


@dataclass(slots=True)
class CallInfo:
    """One model call as ``calls`` prints it."""

    thread_id: str | None
    response_id: str | None
    kind: str  # "turn" | "compaction"
    input: list[JsonObject]
    turn_id: str | None = None
    status: str | None = None
    model: str | None = None
    compaction: str | None = None  # "remote" | "local"
    # Where the call is in its source: a rollout line or a bundle seq.
    line: int | None = None
    seq: int | None = None
    usage: JsonObject | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> JsonObject:
        data: JsonObject = {
            "thread_id": self.thread_id,
            "response_id": self.response_id,
            "kind": self.kind,
            "input": self.input,
            "turn_id": self.turn_id,
            "status": self.status,
            "model": self.model,
        }
        if self.compaction is not None:
            data["compaction"] = self.compaction
        if self.line is not None:
            data["line"] = self.line
        if self.seq is not None:
            data["seq"] = self.seq
        data["usage"] = self.usage
        if self.notes:
            data["notes"] = self.notes
        return data


@dataclass(slots=True)
class CallList:
    """The calls of one source, and why the list may be incomplete."""

    source: Path
    calls: list[CallInfo]
    fault: Fault | None = None
    warnings: list[str] = field(default_factory=list)
    # What this kind of source cannot tell, said once.
    limits: str | None = None


# ----- rollouts ---------------------------------------------------------------------------------


def rollout_calls(path: str | os.PathLike[str]) -> CallList:
    from trace_viewer.rollout import read_rollout, rebuild_calls

    rollout = read_rollout(path)
    calls: list[CallInfo] = []
    if rollout.meta is not None:
        for call in rebuild_calls(rollout.meta, rollout.lines):
            calls.append(
                CallInfo(
                    thread_id=call.thread_id,
                    response_id=call.response_id,
                    kind=call.kind,
                    input=call.input,
                    turn_id=call.turn_id,
                    status=call.status,
                    model=call.model,
                    compaction=call.compaction,
                    line=call.line,
                    usage=call.usage,
                    notes=list(call.notes),
                )
            )
    return CallList(
        rollout.path, calls, rollout.fault, [str(warning) for warning in rollout.warnings], limits=ROLLOUT_LIMITS
    )


# ----- bundles ----------------------------------------------------------------------------------

_ENDS = {
    "inference_completed": "completed",
    "inference_failed": "failed",
    "inference_cancelled": "cancelled",
    "compaction_request_completed": "completed",
    "compaction_request_failed": "failed",
}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


class _NotARequest(Exception):
    """The request payload is JSON but has no input list."""


def _wire_input(body: Any, kind: str) -> tuple[list[JsonObject], list[str]]:
    """The request's ``input`` as sent; raises ``_NotARequest`` when the payload is not a request."""
    if not isinstance(body, dict) or not isinstance(body.get("input"), list):
        raise _NotARequest("request payload has no 'input' list")
    items = [without_passthrough(item) if isinstance(item, dict) else item for item in body["input"]]
    notes: list[str] = []
    instructions = body.get("instructions")
    if isinstance(instructions, str):
        items.insert(0, base_message(instructions))
        notes.append(NOTE_BUNDLE_INSTRUCTIONS)
    if kind == "compaction":
        notes.append(NOTE_BUNDLE_COMPACTION_ID)
    return items, notes


def bundle_calls(path: str | os.PathLike[str]) -> CallList:
    """The calls of a bundle in seq order, read from the event log and the request payloads."""
    from trace_viewer.bundle import Bundle, BundleError

    source = Path(path)
    try:
        bundle = Bundle(source)
        entries = bundle.entries()
    except BundleError as error:
        return CallList(source, [], Fault(error.reason, file=error.file))
    calls: list[CallInfo] = []
    by_id: dict[str, CallInfo] = {}
    for entry in entries:
        if entry.error is not None:
            return CallList(source, calls, Fault(entry.error, line=entry.line), list(bundle.warnings))
        event = entry.event
        if not isinstance(event, dict) or not isinstance(event.get("payload"), dict):
            continue
        payload: JsonObject = event["payload"]
        kind_name = payload.get("type")
        seq = event.get("seq") if isinstance(event.get("seq"), int) else None
        key = _text(payload.get("inference_call_id")) or _text(payload.get("compaction_request_id"))
        if kind_name in ("inference_started", "compaction_request_started"):
            kind = "turn" if kind_name == "inference_started" else "compaction"
            ref = payload.get("request_payload")
            try:
                if not isinstance(ref, dict):
                    raise _NotARequest(f"{kind_name} has no request_payload reference")
                items, notes = _wire_input(bundle.payloads.read(ref), kind)
            except PayloadError as error:
                fault = Fault(error.reason, line=entry.line, seq=seq, payload_id=error.raw_payload_id)
                return CallList(source, calls, fault, list(bundle.warnings))
            except _NotARequest as error:
                payload_id = _text(ref.get("raw_payload_id")) if isinstance(ref, dict) else None
                fault = Fault(str(error), line=entry.line, seq=seq, payload_id=payload_id)
                return CallList(source, calls, fault, list(bundle.warnings))
            call = CallInfo(
                thread_id=_text(event.get("thread_id")) or _text(payload.get("thread_id")),
                response_id=None,
                kind=kind,
                input=items,
                turn_id=_text(event.get("codex_turn_id")) or _text(payload.get("codex_turn_id")),
                status="open",
                model=_text(payload.get("model")),
                compaction="remote" if kind == "compaction" else None,
                seq=seq,
                notes=notes,
            )
            calls.append(call)
            if key is not None:
                by_id[key] = call
        elif kind_name in _ENDS and key is not None and key in by_id:
            call = by_id[key]
            call.status = _ENDS[kind_name]
            call.response_id = _text(payload.get("response_id"))
    return CallList(source, calls, None, list(bundle.warnings))


def calls_for(path: str | os.PathLike[str]) -> CallList:
    """A bundle directory or a rollout file."""
    return bundle_calls(path) if Path(path).is_dir() else rollout_calls(path)


# ----- rendering --------------------------------------------------------------------------------


def to_json(calls: list[CallInfo]) -> str:
    """The calls as indented JSON with bidi and other invisible characters escaped (the same JSON value)."""
    import orjson

    data = [call.to_json() for call in calls]
    try:
        text = orjson.dumps(data, option=orjson.OPT_INDENT_2).decode("utf-8")
    except TypeError:  # integers beyond 64 bits, lone surrogates: the standard library takes both
        text = json.dumps(data, indent=2, ensure_ascii=False)
    return json_safe(text)


def _item_text(item: JsonObject) -> str:
    content = item.get("content")
    if isinstance(content, list):
        texts = [str(part.get("text", "")) for part in content if isinstance(part, dict) and "text" in part]
        return " ".join(texts)
    if isinstance(content, str):
        return content
    for key in ("arguments", "input", "output", "encrypted_content"):
        value = item.get(key)
        if isinstance(value, str):
            return value
        if isinstance(value, list):
            return " ".join(str(part.get("text", "")) for part in value if isinstance(part, dict))
    summary = item.get("summary")
    if isinstance(summary, list):
        return " ".join(str(part.get("text", "")) for part in summary if isinstance(part, dict))
    return ""


def describe_item(item: Any, width: int = 90) -> str:
    """``type[/role] [name] [call_id]  text…`` on one line, every control character escaped."""
    if not isinstance(item, dict):
        return one_line(json.dumps(item)[:width])
    label = str(item.get("type"))
    if item.get("role"):
        label += f"/{item['role']}"
    for key in ("namespace", "name", "call_id"):
        if isinstance(item.get(key), str):
            label += f" {item[key]}"
    text = _item_text(item)
    preview = text[:width] + ("…" if len(text) > width else "")
    return one_line(f"{label}  {preview}" if preview else label)


def to_text(calls: list[CallInfo]) -> str:
    """A header line per call, one line per input item; each note is printed at its first call only."""
    blocks: list[str] = []
    said: set[str] = set()
    for number, call in enumerate(calls, start=1):
        where = f"line {call.line}" if call.line is not None else f"seq {call.seq}"
        kind = f"{call.kind} ({call.compaction})" if call.compaction else call.kind
        usage = ""
        if isinstance(call.usage, dict):
            usage = f"  tokens in {call.usage.get('input_tokens')} out {call.usage.get('output_tokens')}"
        header = (
            f"#{number} {kind}  {call.status}  {where}  thread {call.thread_id}  turn {call.turn_id}  "
            f"response {call.response_id or '-'}  model {call.model or '-'}  {len(call.input)} items{usage}"
        )
        lines = [one_line(header)]
        lines += [f"  {index:3} {describe_item(item)}" for index, item in enumerate(call.input)]
        lines += [f"  note: {one_line(note)}" for note in call.notes if note not in said]
        said.update(call.notes)
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n" if blocks else "(no model calls)\n"
