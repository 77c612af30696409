"""The model-visible context at a point of a trace, and how to print it for people.

Shared by ``trace-viewer context`` and the app (copy/export). All trace text
goes through ``trace_viewer.text.visible`` before it is returned.
"""

from __future__ import annotations

import json
import re
from typing import Any

from trace_viewer.text import json_safe, one_line, visible


class ContextError(Exception):
    """The requested context does not exist (unknown call, thread, …); the message says why."""


def resolve_thread(rollout: dict[str, Any], wanted: str | None) -> str:
    """A thread id from a thread id, an agent path (``/root/worker``) or a nickname; root by default."""
    threads: dict[str, Any] = rollout["threads"]
    if wanted is None:
        return rollout["root_thread_id"]
    if wanted in threads:
        return wanted
    for key in ("agent_path", "nickname"):
        matches = [tid for tid, thread in threads.items() if thread.get(key) == wanted]
        if not matches and key == "agent_path" and not wanted.startswith("/"):
            matches = [tid for tid, thread in threads.items() if thread.get(key) == "/root/" + wanted]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise ContextError(f"{key} {one_line(wanted)!r} matches {len(matches)} threads; give a thread id")
    known = ", ".join(sorted(one_line(str(t.get("agent_path"))) for t in threads.values())) or "none"
    raise ContextError(f"no thread {one_line(wanted)!r} (agent paths: {known})")


def inference_context(rollout: dict[str, Any], inference_call_id: str) -> tuple[str, list[str]]:
    """(thread id, request item ids) of one inference call: exactly what the model saw."""
    call = rollout["inference_calls"].get(inference_call_id)
    if call is None:
        raise ContextError(
            f"no inference call {one_line(inference_call_id)!r} ({len(rollout['inference_calls'])} calls in this trace)"
        )
    return call["thread_id"], list(call["request_item_ids"])


def items_for(rollout: dict[str, Any], item_ids: list[str]) -> list[dict[str, Any]]:
    items = rollout["conversation_items"]
    return [items.get(item_id, {"item_id": item_id, "missing": True}) for item_id in item_ids]


# ----- rendering --------------------------------------------------------------------------------


def to_json(items: list[dict[str, Any]]) -> str:
    """``{"items": [...]}`` with bidi and other invisible characters escaped (still the same JSON value)."""
    return json_safe(json.dumps({"items": items}, indent=2, ensure_ascii=False))


def _part_text(part: dict[str, Any], markdown: bool) -> str:
    kind = part.get("type")
    if kind in ("text", "summary"):
        text = str(part.get("text", ""))
        return text if kind == "text" else f"(summary) {text}"
    if kind == "encoded":
        value = str(part.get("value", ""))
        return f"[encoded {part.get('label')}: {len(value)} chars]"
    if kind == "json":
        return f"{part.get('summary', '')}  [payload {part.get('raw_payload_id')}]"
    if kind == "code":
        return f"[code: {part.get('language')}]\n{part.get('source', '')}"
    if kind == "payload_ref":
        return f"[{part.get('label')}: payload {part.get('raw_payload_id')}]"
    return json.dumps(part, ensure_ascii=False)


def body_text(item: dict[str, Any], markdown: bool = False) -> str:
    """The item's body as plain text (unescaped: callers pass it through ``visible``)."""
    parts = (item.get("body") or {}).get("parts") or []
    return "\n".join(_part_text(part, markdown) for part in parts if isinstance(part, dict))


def _header_fields(item: dict[str, Any]) -> list[str]:
    fields = [f"{item.get('role')} · {item.get('kind')}"]
    if item.get("channel"):
        fields.append(f"channel {item['channel']}")
    if item.get("call_id"):
        fields.append(f"call {item['call_id']}")
    message = item.get("agent_message")
    if isinstance(message, dict):
        fields.append(f"{message.get('author')} → {message.get('recipient')}")
    return [one_line(str(field)) for field in fields]


def to_text(items: list[dict[str, Any]]) -> str:
    """One block per item: a header line (number, id, role · kind, channel, call) and the indented body."""
    blocks: list[str] = []
    for number, item in enumerate(items, start=1):
        header = f"[{number}] {one_line(str(item.get('item_id')))}  " + "  ".join(_header_fields(item))
        body = visible(body_text(item))
        indented = "\n".join("    " + line for line in body.split("\n")) if body else "    (empty)"
        blocks.append(header + "\n" + indented)
    return "\n\n".join(blocks) + ("\n" if blocks else "(no items)\n")


def _fence(body: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    return "`" * max(3, longest + 1)


def _code_span(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    return f"{ticks} {text} {ticks}" if text.startswith("`") or text.endswith("`") else f"{ticks}{text}{ticks}"


def to_markdown(items: list[dict[str, Any]]) -> str:
    """A heading per item, its metadata as code spans, and the body in a fence no body text can close."""
    blocks: list[str] = []
    for number, item in enumerate(items, start=1):
        meta = " · ".join(_code_span(field) for field in _header_fields(item))
        body = visible(body_text(item, markdown=True))
        fence = _fence(body)
        blocks.append(
            f"### {number}. {_code_span(one_line(str(item.get('item_id'))))}\n\n{meta}\n\n{fence}text\n{body}\n{fence}"
        )
    return "\n\n".join(blocks) + "\n" if blocks else "_(no items)_\n"
