"""The model-visible context at a point of a trace, and how to print it for people.

Shared by ``trace-viewer context`` and the app (copy/export). All trace text
goes through ``trace_viewer.text.visible`` before it is returned.
"""

from __future__ import annotations

import json
import re

from trace_viewer.model import (
    AgentMessageMetadata,
    CodePart,
    ConversationItem,
    ConversationPart,
    EncodedPart,
    JsonPart,
    PayloadRefPart,
    RolloutTrace,
    SummaryPart,
    TextPart,
    to_builtins,
)
from trace_viewer.text import json_safe, one_line, visible


class ContextError(Exception):
    """The requested context does not exist (unknown call, thread, …); the message says why."""


def resolve_thread(rollout: RolloutTrace, wanted: str | None) -> str:
    """A thread id from a thread id, an agent path (``/root/worker``) or a nickname; root by default."""
    threads = rollout.threads
    if wanted is None:
        return rollout.root_thread_id
    if wanted in threads:
        return wanted
    for key, names in (
        ("agent_path", {tid: thread.agent_path for tid, thread in threads.items()}),
        ("nickname", {tid: thread.nickname for tid, thread in threads.items()}),
    ):
        matches = [tid for tid, name in names.items() if name == wanted]
        if not matches and key == "agent_path" and not wanted.startswith("/"):
            matches = [tid for tid, thread in threads.items() if thread.agent_path == "/root/" + wanted]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise ContextError(f"{key} {one_line(wanted)!r} matches {len(matches)} threads; give a thread id")
    known = ", ".join(sorted(one_line(thread.agent_path) for thread in threads.values())) or "none"
    raise ContextError(f"no thread {one_line(wanted)!r} (agent paths: {known})")


def inference_context(rollout: RolloutTrace, inference_call_id: str) -> tuple[str, list[str]]:
    """(thread id, request item ids) of one inference call: exactly what the model saw."""
    call = rollout.inference_calls.get(inference_call_id)
    if call is None:
        raise ContextError(
            f"no inference call {one_line(inference_call_id)!r} ({len(rollout.inference_calls)} calls in this trace)"
        )
    return call.thread_id, list(call.request_item_ids)


def items_for(rollout: RolloutTrace, item_ids: list[str]) -> list[ConversationItem | str]:
    """The items, in order; an id the state does not hold stays a bare id (shown as missing)."""
    items = rollout.conversation_items
    return [items.get(item_id, item_id) for item_id in item_ids]


# ----- rendering --------------------------------------------------------------------------------


def to_json(items: list[ConversationItem | str]) -> str:
    """``{"items": [...]}`` with bidi and other invisible characters escaped (still the same JSON value)."""
    shown = [{"item_id": item, "missing": True} if isinstance(item, str) else to_builtins(item) for item in items]
    return json_safe(json.dumps({"items": shown}, indent=2, ensure_ascii=False))


def _part_text(part: ConversationPart, markdown: bool) -> str:
    if isinstance(part, TextPart):
        return part.text
    if isinstance(part, SummaryPart):
        return f"(summary) {part.text}"
    if isinstance(part, EncodedPart):
        return f"[encoded {part.label}: {len(part.value)} chars]"
    if isinstance(part, JsonPart):
        return f"{part.summary}  [payload {part.raw_payload_id}]"
    if isinstance(part, CodePart):
        return f"[code: {part.language}]\n{part.source}"
    if isinstance(part, PayloadRefPart):
        return f"[{part.label}: payload {part.raw_payload_id}]"
    return json.dumps(to_builtins(part), ensure_ascii=False)


def body_text(item: ConversationItem | str, markdown: bool = False) -> str:
    """The item's body as plain text (unescaped: callers pass it through ``visible``)."""
    if isinstance(item, str):
        return ""
    return "\n".join(_part_text(part, markdown) for part in item.body.parts)


def _header_fields(item: ConversationItem | str) -> list[str]:
    if isinstance(item, str):
        return ["missing"]
    fields = [f"{item.role} · {item.kind}"]
    if item.channel:
        fields.append(f"channel {item.channel}")
    if item.call_id:
        fields.append(f"call {item.call_id}")
    if isinstance(item.agent_message, AgentMessageMetadata):
        fields.append(f"{item.agent_message.author} → {item.agent_message.recipient}")
    return [one_line(str(field)) for field in fields]


def _item_id(item: ConversationItem | str) -> str:
    return item if isinstance(item, str) else item.item_id


def to_text(items: list[ConversationItem | str]) -> str:
    """One block per item: a header line (number, id, role · kind, channel, call) and the indented body."""
    blocks: list[str] = []
    for number, item in enumerate(items, start=1):
        header = f"[{number}] {one_line(_item_id(item))}  " + "  ".join(_header_fields(item))
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


def to_markdown(items: list[ConversationItem | str]) -> str:
    """A heading per item, its metadata as code spans, and the body in a fence no body text can close."""
    blocks: list[str] = []
    for number, item in enumerate(items, start=1):
        meta = " · ".join(_code_span(field) for field in _header_fields(item))
        body = visible(body_text(item, markdown=True))
        fence = _fence(body)
        blocks.append(f"### {number}. {_code_span(one_line(_item_id(item)))}\n\n{meta}\n\n{fence}text\n{body}\n{fence}")
    return "\n\n".join(blocks) + "\n" if blocks else "_(no items)_\n"
