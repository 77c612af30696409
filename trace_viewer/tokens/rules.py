"""What an item contributes to the context, and under which category (pure functions).

**The framing rule.** Every model-visible item counts the tokens of its content
plus ``FRAMING_TOKENS`` (4) for the message framing the model's chat format puts
around each message: ``<|start|>``, the role/author header, ``<|message|>``
and ``<|end|>`` (or ``<|call|>``). So an item never counts less than its text
alone. Content is, per item type:

* message / agent message: the text of each text part (one count per part);
* tool call: the tool's name (``namespace.name`` when namespaced) and its
  arguments (``function_call``) or input (``custom_tool_call``);
* tool output: the output text (or the text parts of a content list);
* reasoning: its readable text when it has no encrypted blob; an encrypted blob
  cannot be tokenized, so it is *estimated* from the provider's reported
  ``reasoning_output_tokens`` of the call that produced it (shared among that
  response's reasoning items), and unknown when the provider reported none;
* other encrypted content (a remote compaction summary, an encrypted agent
  message payload) is unknown: it counts 0 and is flagged, never guessed;
* anything else (web search calls, …): its compact JSON without the ``id``.

A compaction marker is bookkeeping of the reducer, never sent: 0 tokens.
Request-level parts (tool definitions, a request's ``instructions``) are
counted as their compact JSON / text with no framing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from trace_viewer.model import CodePart, ConversationPart, EncodedPart, JsonPart, SummaryPart, TextPart

FRAMING_TOKENS = 4

# Categories in display order; the keys of every `categories` mapping, always all present.
BASE_INSTRUCTIONS = "base_instructions"
DEVELOPER_INSTRUCTIONS = "developer_instructions"
BUILTIN_TOOLS = "builtin_tools"
MCP_TOOLS = "mcp_tools"
SKILLS = "skills"
USER_MESSAGES = "user_messages"
ASSISTANT_MESSAGES = "assistant_messages"
REASONING = "reasoning"
TOOL_CALLS = "tool_calls"
TOOL_OUTPUTS = "tool_outputs"
COMPACTION_SUMMARIES = "compaction_summaries"
AGENT_MESSAGES = "agent_messages"

CATEGORIES: tuple[str, ...] = (
    BASE_INSTRUCTIONS,
    DEVELOPER_INSTRUCTIONS,
    BUILTIN_TOOLS,
    MCP_TOOLS,
    SKILLS,
    USER_MESSAGES,
    ASSISTANT_MESSAGES,
    REASONING,
    TOOL_CALLS,
    TOOL_OUTPUTS,
    COMPACTION_SUMMARIES,
    AGENT_MESSAGES,
)

LABELS: dict[str, str] = {
    BASE_INSTRUCTIONS: "instructions: base",
    DEVELOPER_INSTRUCTIONS: "instructions: developer",
    BUILTIN_TOOLS: "tool definitions: built-in",
    MCP_TOOLS: "tool definitions: MCP",
    SKILLS: "skills",
    USER_MESSAGES: "user messages",
    ASSISTANT_MESSAGES: "assistant messages",
    REASONING: "reasoning",
    TOOL_CALLS: "tool calls",
    TOOL_OUTPUTS: "tool outputs",
    COMPACTION_SUMMARIES: "compaction summaries",
    AGENT_MESSAGES: "agent messages",
}

# Codex's prefix for a local compaction's summary (a user message in the next request).
LOCAL_SUMMARY_PREFIX = "Another language model started to solve this problem and produced a summary"
# Harness-written context that travels as user (or developer) messages: instructions, not the user's words.
_CONTEXT_PREFIXES = (
    "<environment_context>",
    "<user_instructions>",
    "# AGENTS.md instructions",
    "<INSTRUCTIONS>",
    "<turn_aborted>",
    "<permissions instructions>",
    "<collaboration_mode>",
)
_SKILLS_PREFIX = "<skills_instructions>"
# Schema 3 / rollouts: `content_item_kinds` say what each message part is.
_KIND_CATEGORIES = {
    "host_skills.instructions": SKILLS,
    "compaction.summary": COMPACTION_SUMMARIES,
    "user.text": USER_MESSAGES,
}
_TEXT_TYPES = frozenset({"input_text", "output_text", "text", "summary_text", "reasoning_text", "refusal"})
_COMPACTION_TYPES = frozenset({"compaction", "compaction_summary", "context_compaction"})
_CALL_TYPES = frozenset({"function_call", "custom_tool_call"})
_OUTPUT_TYPES = frozenset({"function_call_output", "custom_tool_call_output"})


@dataclass(frozen=True, slots=True)
class Piece:
    """One countable part of an item: text to tokenize, or content that cannot be (``text`` None)."""

    text: str | None
    content_kind: str | None = None  # schema 3 `content_item_kinds` entry
    encrypted: bool = False


@dataclass(frozen=True, slots=True)
class Content:
    """An item's countable content, from its raw Responses item or its reduced body."""

    pieces: tuple[Piece, ...]
    tool_name: str | None = None  # a tool call's name
    exact: bool = True  # False when read from a lossy reduced body (a cut JSON summary)


def compact_json(value: Any) -> str:
    """Compact JSON text (no spaces, non-ASCII kept) of a payload value."""
    try:
        return orjson.dumps(value).decode("utf-8")
    except (TypeError, orjson.JSONEncodeError):  # e.g. integers beyond 64 bits
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _content_list(entries: Any, kinds: Sequence[Any] = ()) -> list[Piece]:
    pieces: list[Piece] = []
    if isinstance(entries, str):
        return [Piece(entries)]
    if not isinstance(entries, list):
        return [Piece(compact_json(entries))] if entries is not None else []
    for index, entry in enumerate(entries):
        kind = kinds[index] if index < len(kinds) and isinstance(kinds[index], str) else None
        if isinstance(entry, dict):
            text = entry.get("text")
            if entry.get("type") in _TEXT_TYPES and isinstance(text, str):
                pieces.append(Piece(text, kind))
            elif entry.get("type") == "encrypted_content" or "encrypted_content" in entry:
                pieces.append(Piece(None, kind, encrypted=True))
            else:  # images, files: not text; the provider counts them its own way
                pieces.append(Piece(None, kind))
        elif isinstance(entry, str):
            pieces.append(Piece(entry, kind))
    return pieces


def content_from_raw(raw: Mapping[str, Any]) -> Content:
    """Countable content of a raw Responses item (a request ``input`` or response ``output_items`` entry)."""
    item_type = raw.get("type")
    if item_type in ("message", "agent_message"):
        meta = raw.get("internal_chat_message_metadata_passthrough")
        kinds = meta.get("content_item_kinds") if isinstance(meta, dict) else None
        return Content(tuple(_content_list(raw.get("content"), kinds if isinstance(kinds, list) else ())))
    if item_type == "reasoning":
        pieces = _content_list(raw.get("summary")) + _content_list(raw.get("content"))
        if isinstance(raw.get("encrypted_content"), str):
            pieces.append(Piece(None, encrypted=True))
        return Content(tuple(pieces))
    if item_type in _CALL_TYPES:
        name = raw.get("name") if isinstance(raw.get("name"), str) else None
        namespace = raw.get("namespace")
        full = f"{namespace}.{name}" if isinstance(namespace, str) and namespace and name else name
        body = raw.get("arguments") if item_type == "function_call" else raw.get("input")
        pieces = [Piece(full)] if full else []
        pieces.append(Piece(body if isinstance(body, str) else compact_json(body)))
        return Content(tuple(pieces), tool_name=full)
    if item_type in _OUTPUT_TYPES:
        return Content(tuple(_content_list(raw.get("output"))))
    if item_type in _COMPACTION_TYPES:
        return Content((Piece(None, encrypted=True),))
    rest = {key: value for key, value in raw.items() if key != "id"}
    return Content((Piece(compact_json(rest)),))


def content_from_parts(parts: Sequence[ConversationPart]) -> Content:
    """Countable content of a reduced body, when no raw item is available.

    Text parts are the item's text as sent. A ``json`` part is a summary cut at
    240 bytes and a call's name is not kept, so such counts are not exact.
    """
    pieces: list[Piece] = []
    exact = True
    for part in parts:
        if isinstance(part, (TextPart, SummaryPart)):
            pieces.append(Piece(part.text))
        elif isinstance(part, CodePart):
            pieces.append(Piece(part.source))
        elif isinstance(part, JsonPart):
            pieces.append(Piece(part.summary))
            exact = False
        elif isinstance(part, EncodedPart):
            pieces.append(Piece(None, encrypted=True))
        else:  # a payload_ref part: content only the payload has
            pieces.append(Piece(None))
            exact = False
    return Content(tuple(pieces), exact=exact)


def _message_piece_category(role: str, piece: Piece, base: bool) -> str:
    if base:
        return BASE_INSTRUCTIONS
    if piece.content_kind in _KIND_CATEGORIES:
        return _KIND_CATEGORIES[piece.content_kind]
    text = piece.text or ""
    if text.startswith(_SKILLS_PREFIX):
        return SKILLS
    if role == "user":
        if text.startswith(LOCAL_SUMMARY_PREFIX):
            return COMPACTION_SUMMARIES
        known_kind = piece.content_kind not in (None, "unknown")
        if known_kind or text.startswith(_CONTEXT_PREFIXES):
            return DEVELOPER_INSTRUCTIONS
        return USER_MESSAGES
    return DEVELOPER_INSTRUCTIONS


def piece_categories(
    *, role: str, channel: str | None, kind: str, is_agent_message: bool, content: Content, base: bool
) -> list[str]:
    """The category of each piece of an item (an item's category is that of most of its tokens)."""
    count = max(1, len(content.pieces))
    if kind == "compaction_marker" or channel == "summary":
        return [COMPACTION_SUMMARIES] * count
    if kind == "reasoning":
        return [REASONING] * count
    if kind in _CALL_TYPES:
        return [TOOL_CALLS] * count
    if kind in _OUTPUT_TYPES or role == "tool":
        return [TOOL_OUTPUTS] * count
    if is_agent_message:
        return [AGENT_MESSAGES] * count
    if role in ("developer", "system", "user"):
        if not content.pieces:
            return [BASE_INSTRUCTIONS if base else (USER_MESSAGES if role == "user" else DEVELOPER_INSTRUCTIONS)]
        return [_message_piece_category(role, piece, base) for piece in content.pieces]
    return [ASSISTANT_MESSAGES] * count


def is_mcp_tool(definition: Mapping[str, Any]) -> bool:
    """MCP tools are named ``mcp__<server>__<tool>``, or grouped in an ``mcp__<server>`` namespace."""
    name = definition.get("name")
    return isinstance(name, str) and name.startswith("mcp__")


def tool_label(definition: Mapping[str, Any]) -> str:
    name = definition.get("name")
    kind = definition.get("type")
    return name if isinstance(name, str) and name else str(kind or "tool")


def looks_like_base_instructions(text: str) -> bool:
    """The base-instructions message is plain prose, never a harness ``<tag>`` block."""
    return not text.lstrip().startswith(("<", "# AGENTS.md"))
