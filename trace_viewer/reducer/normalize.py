"""Responses-shaped JSON items → conversation item fields (pure functions).

Identity (which ``conversation_item:N`` an item becomes) is decided later by the conversation
part; this module only says what an item *is*: role, channel, kind, body parts, call id and, in
schema 2 on, its Responses ``id``. It also computes the content key the conversation part
indexes by, so that "does this stored item match that incoming one" is a dict lookup.

``json`` body parts need the official serialisation byte for byte: object keys in source order,
number literals as written, compact separators, and a 240-byte cap cut on a UTF-8 character
boundary. Python's ``json`` loses number text, so arguments strings are parsed with raw-number
hooks and re-serialised here.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from json.encoder import encode_basestring
from typing import TypeAlias

from trace_viewer.model import (
    AgentMessageMetadata,
    CodePart,
    ConversationChannel,
    ConversationItem,
    ConversationItemKind,
    ConversationPart,
    ConversationRole,
    EncodedPart,
    JsonPart,
    PayloadRefPart,
    SummaryPart,
    TextPart,
    TokenUsage,
)
from trace_viewer.reducer.errors import ReduceError
from trace_viewer.reducer.fields import I64, JsonObject, JsonValue, RawNumber, is_int, opt_str, parse_json_preserving

JSON_SUMMARY_MAX_BYTES = 240
# serde_json refuses documents nested deeper than this many containers.
JSON_MAX_DEPTH = 127

_ROLES: dict[str, ConversationRole] = {
    "system": "system",
    "developer": "developer",
    "user": "user",
    "assistant": "assistant",
    "tool": "tool",
}
_PHASE_CHANNELS: dict[str, ConversationChannel] = {
    "commentary": "commentary",
    "final_answer": "final",
    "summary": "summary",
}
_TEXT_CONTENT_TYPES = frozenset({"input_text", "output_text", "text"})
_GENERIC_CALL_TYPES = frozenset({"tool_search_call", "web_search_call", "image_generation_call", "local_shell_call"})
_GENERIC_OUTPUT_TYPES = frozenset({"tool_search_output", "mcp_tool_call_output"})
_COMPACTION_TYPES = frozenset({"compaction", "compaction_summary", "context_compaction"})
OUTPUT_KINDS: frozenset[ConversationItemKind] = frozenset({"function_call_output", "custom_tool_call_output"})

# A thunk producing the number-text-preserving twin of a payload value (see ``json_body``).
RawValue: TypeAlias = Callable[[], JsonValue]
ContentKey: TypeAlias = tuple[object, ...]


class NormalizedItem:
    """One model item before identity is assigned."""

    __slots__ = ("_bound", "agent_message", "call_id", "channel", "key", "kind", "parts", "responses_item_id", "role")

    def __init__(
        self,
        role: ConversationRole,
        channel: ConversationChannel | None,
        kind: ConversationItemKind,
        agent_message: AgentMessageMetadata | None,
        parts: list[ConversationPart],
        call_id: str | None,
        responses_item_id: str | None = None,
        key: ContentKey | None = None,
    ) -> None:
        self.role = role
        self.channel = channel
        self.kind = kind
        self.agent_message = agent_message
        self.parts = parts
        self.call_id = call_id
        self.responses_item_id = responses_item_id
        self.key = key if key is not None else content_key(role, channel, kind, agent_message, parts, call_id)
        self._bound: bool | None = None

    def points_into_payload(self) -> bool:
        """Some part names the payload it was read from (a json or payload_ref part).

        Asked of a memoised item every time it is re-sent: worked out once (parts do not change
        after normalisation; a merge builds a new list)."""
        bound = self._bound
        if bound is None:
            bound = self._bound = any(isinstance(part, JsonPart | PayloadRefPart) for part in self.parts)
        return bound

    def read_from(self, raw_payload_id: str) -> NormalizedItem:
        """This item as normalising the same raw item from another payload gives it.

        Only parts that point into the payload change. The content key ignores where a json
        part points, so it is kept unless a payload_ref part moved.
        """
        parts: list[ConversationPart] = [
            JsonPart(part.summary, raw_payload_id)
            if isinstance(part, JsonPart)
            else PayloadRefPart(part.label, raw_payload_id)
            if isinstance(part, PayloadRefPart)
            else part
            for part in self.parts
        ]
        moved_ref = any(isinstance(part, PayloadRefPart) for part in parts)
        return NormalizedItem(
            self.role,
            self.channel,
            self.kind,
            self.agent_message,
            parts,
            self.call_id,
            self.responses_item_id,
            None if moved_ref else self.key,
        )


# ----- content keys --------------------------------------------------------------------------------


def _part_key(part: ConversationPart) -> object:
    # A json part is identified by its summary: the raw payload it points at is observation-local
    # and changes every time the same item is re-sent.
    return ("json", part.summary) if isinstance(part, JsonPart) else part


def content_key(
    role: ConversationRole,
    channel: ConversationChannel | None,
    kind: ConversationItemKind,
    agent_message: AgentMessageMetadata | None,
    parts: list[ConversationPart],
    call_id: str | None,
) -> ContentKey:
    """Hashable identity of an item's content: equal keys ⇔ the official content match.

    Reasoning is special: the encrypted blob is its stable identity (readable text/summary come
    and go between sightings), so a reasoning item that has one is keyed by it alone. Without a
    blob only an equal body matches.
    """
    body: object = None
    if kind == "reasoning":
        body = next((part for part in parts if isinstance(part, EncodedPart)), None)
    if body is None:
        body = tuple(_part_key(part) for part in parts)
    agent = (agent_message.author, agent_message.recipient) if agent_message is not None else None
    return (role, channel, kind, agent, body, call_id)


def item_content_key(item: ConversationItem) -> ContentKey:
    """The content key of a stored conversation item."""
    agent = item.agent_message if isinstance(item.agent_message, AgentMessageMetadata) else None
    return content_key(item.role, item.channel, item.kind, agent, item.body.parts, item.call_id)


# ----- JSON summaries (serde_json with preserve_order + arbitrary_precision) ------------------------------


class _Unrepresentable(Exception):
    """The value cannot take the exact path (a float whose text was lost, or too deep)."""


_U64_MAX = 2**64 - 1


def _number_text(literal: str) -> str:
    """How the official build re-prints a number literal.

    Integers that fit 64 bits are printed as integers (so ``-0`` becomes ``0``); bigger ones went
    through f64. Decimal literals keep their digits; only the exponent is canonicalised to ``e``
    with an explicit sign.
    """
    if "." not in literal and "e" not in literal and "E" not in literal:
        value = int(literal)
        if I64[0] <= value <= _U64_MAX:
            return str(value)
        return repr(float(value)).replace("e+", "e")
    for marker in ("e", "E"):
        if marker in literal:
            mantissa, exponent = literal.split(marker, 1)
            if exponent.startswith("-"):
                return f"{mantissa}e{exponent}"
            return f"{mantissa}e+{exponent.lstrip('+')}"
    return literal


def _serialise(value: JsonValue, out: list[str], depth: int) -> None:
    if isinstance(value, str):
        out.append(_number_text(value) if type(value) is RawNumber else encode_basestring(value))
    elif isinstance(value, dict):
        if depth >= JSON_MAX_DEPTH:
            raise _Unrepresentable
        out.append("{")
        first = True
        for key, item in value.items():
            if not first:
                out.append(",")
            first = False
            out.append(encode_basestring(key))
            out.append(":")
            _serialise(item, out, depth + 1)
        out.append("}")
    elif isinstance(value, list):
        if depth >= JSON_MAX_DEPTH:
            raise _Unrepresentable
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _serialise(item, out, depth + 1)
        out.append("]")
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(str(value))
    else:
        # A float from the fast payload parser: its literal text is gone.
        raise _Unrepresentable


def truncate_summary(text: str) -> str:
    """Cap at 240 bytes on a character boundary, marking the cut with ``...``."""
    if len(text) * 4 <= JSON_SUMMARY_MAX_BYTES:
        return text
    data = text.encode("utf-8")
    if len(data) <= JSON_SUMMARY_MAX_BYTES:
        return text
    return data[:JSON_SUMMARY_MAX_BYTES].decode("utf-8", errors="ignore") + "..."


def summarize_json(value: JsonValue, raw: RawValue | None = None) -> str:
    """Compact JSON summary of a payload value; ``raw`` supplies number text when floats are involved."""
    out: list[str] = []
    try:
        _serialise(value, out, 0)
    except _Unrepresentable:
        if raw is None:
            raise ReduceError("json value could not be summarised") from None
        out = []
        try:
            _serialise(raw(), out, 0)
        except _Unrepresentable:
            # serde_json refuses JSON nested this deep when parsing: a fault, not a crash.
            raise ReduceError(
                f"json value nests deeper than {JSON_MAX_DEPTH} levels (recursion limit exceeded)"
            ) from None
    return truncate_summary("".join(out))


@lru_cache(maxsize=16384)
def summarize_json_text(text: str) -> str | None:
    """Summary of a JSON document held in a string, or None if serde_json would not parse it.

    Memoised: the same arguments strings are re-sent in every later request.
    """
    try:
        value = parse_json_preserving(text)
        out: list[str] = []
        _serialise(value, out, 0)
        summary = "".join(out)
        summary.encode("utf-8")  # lone surrogates: serde_json rejects them while parsing
    except (ValueError, RecursionError, _Unrepresentable, UnicodeEncodeError):  # RecursionError: _serialise
        return None
    return truncate_summary(summary)


# ----- bodies ------------------------------------------------------------------------------------------


def json_body(value: JsonValue, raw_payload_id: str, raw: RawValue | None = None) -> list[ConversationPart]:
    return [JsonPart(summarize_json(value, raw), raw_payload_id)]


def content_parts(content: JsonValue, raw_payload_id: str) -> list[ConversationPart]:
    """Message content: text stays inline, anything else is a reference into the payload."""
    if not isinstance(content, list):
        return [PayloadRefPart("content", raw_payload_id)]
    parts: list[ConversationPart] = []
    for entry in content:
        part_type = entry.get("type") if isinstance(entry, dict) else None
        if not isinstance(part_type, str) or not isinstance(entry, dict):
            parts.append(PayloadRefPart("content", raw_payload_id))
        elif part_type in _TEXT_CONTENT_TYPES:
            text = entry.get("text")
            if isinstance(text, str):
                parts.append(TextPart(text))
        else:
            parts.append(PayloadRefPart(part_type, raw_payload_id))
    if not parts:
        parts.append(PayloadRefPart("empty_content", raw_payload_id))
    return parts


def _sub(raw: RawValue | None, key: str) -> RawValue | None:
    if raw is None:
        return None

    def inner() -> JsonValue:
        value = raw()
        return value[key] if isinstance(value, dict) else None

    return inner


def raw_text_or_json_body(
    item: JsonObject, key: str, raw_payload_id: str, raw: RawValue | None
) -> list[ConversationPart]:
    """Function-call arguments: a JSON string becomes a json part, other text stays text."""
    if key not in item:
        return [PayloadRefPart("payload", raw_payload_id)]
    value = item[key]
    if isinstance(value, str):
        summary = summarize_json_text(value)
        if summary is None:
            return [TextPart(value)]
        return [JsonPart(summary, raw_payload_id)]
    return json_body(value, raw_payload_id, _sub(raw, key))


def tool_output_body(item: JsonObject, raw_payload_id: str, raw: RawValue | None) -> list[ConversationPart]:
    if "output" not in item:
        return [PayloadRefPart("tool_output", raw_payload_id)]
    output = item["output"]
    if isinstance(output, str):
        return [TextPart(output)]
    if isinstance(output, list):
        return content_parts(output, raw_payload_id)
    return json_body(output, raw_payload_id, _sub(raw, "output"))


def custom_tool_call_body(item: JsonObject, raw_payload_id: str, raw: RawValue | None) -> list[ConversationPart]:
    source = item.get("input")
    if not isinstance(source, str):
        return json_body(item, raw_payload_id, raw)
    if item.get("name") == "exec":
        return [CodePart("javascript", source)]
    return [TextPart(source)]


# ----- items ------------------------------------------------------------------------------------------


def normalize_model_items(
    items: list[JsonValue], raw_payload_id: str, raw_items: Callable[[], list[JsonValue]] | None = None
) -> list[NormalizedItem]:
    """Normalise a payload array; ``additional_tools`` entries are tool lists, not conversation.

    ``raw_items`` returns the same array parsed with number text preserved; it is only called in
    the rare case a json body holds a float.
    """
    normalized: list[NormalizedItem] = []
    for index, item in enumerate(items):
        if isinstance(item, dict) and item.get("type") == "additional_tools":
            continue
        raw = _element(raw_items, index) if raw_items is not None else None
        normalized.append(normalize_model_item(item, raw_payload_id, raw))
    return normalized


def _element(raw_items: Callable[[], list[JsonValue]], index: int) -> RawValue:
    return lambda: raw_items()[index]


def normalize_model_item(item: JsonValue, raw_payload_id: str, raw: RawValue | None = None) -> NormalizedItem:
    item_type = item.get("type") if isinstance(item, dict) else None
    if not isinstance(item_type, str) or not isinstance(item, dict):
        raise ReduceError(f"model item in payload {raw_payload_id} did not contain a string type")
    call_id = opt_str(item.get("call_id"))
    normalized: NormalizedItem
    if item_type == "message":
        normalized = _message_item(item, raw_payload_id)
    elif item_type == "agent_message":
        normalized = normalize_agent_message_item(item, raw_payload_id)
    elif item_type == "reasoning":
        normalized = _reasoning_item(item, raw_payload_id)
    elif item_type == "function_call":
        body = raw_text_or_json_body(item, "arguments", raw_payload_id, raw)
        normalized = NormalizedItem("assistant", "commentary", "function_call", None, body, call_id)
    elif item_type == "function_call_output":
        body = tool_output_body(item, raw_payload_id, raw)
        normalized = NormalizedItem("tool", "commentary", "function_call_output", None, body, call_id)
    elif item_type == "custom_tool_call":
        body = custom_tool_call_body(item, raw_payload_id, raw)
        normalized = NormalizedItem("assistant", "commentary", "custom_tool_call", None, body, call_id)
    elif item_type == "custom_tool_call_output":
        body = tool_output_body(item, raw_payload_id, raw)
        normalized = NormalizedItem("tool", "commentary", "custom_tool_call_output", None, body, call_id)
    elif item_type in _GENERIC_CALL_TYPES:
        body = json_body(item, raw_payload_id, raw)
        normalized = NormalizedItem("assistant", "commentary", "function_call", None, body, call_id)
    elif item_type in _GENERIC_OUTPUT_TYPES:
        body = json_body(item, raw_payload_id, raw)
        normalized = NormalizedItem("tool", "commentary", "function_call_output", None, body, call_id)
    elif item_type in _COMPACTION_TYPES:
        blob = item.get("encrypted_content")
        if not isinstance(blob, str):
            raise ReduceError(f"compaction item in payload {raw_payload_id} did not contain string encrypted_content")
        # The remote summary re-enters later prompts; its encoded blob is its identity.
        normalized = NormalizedItem("assistant", "summary", "message", None, [_encrypted(blob)], None)
    else:
        raise ReduceError(f"unsupported model item type {item_type} in payload {raw_payload_id}")
    normalized.responses_item_id = opt_str(item.get("id"))
    return normalized


def _encrypted(value: str) -> EncodedPart:
    return EncodedPart("encrypted_content", value)


def _message_item(item: JsonObject, raw_payload_id: str) -> NormalizedItem:
    role_text = item.get("role")
    if not isinstance(role_text, str):
        raise ReduceError(f"message item in payload {raw_payload_id} did not contain a string role")
    role = _ROLES.get(role_text)
    if role is None:
        raise ReduceError(f"unsupported message role {role_text} in payload {raw_payload_id}")
    phase = item.get("phase")
    channel = _PHASE_CHANNELS.get(phase) if isinstance(phase, str) else None
    return NormalizedItem(role, channel, "message", None, content_parts(item.get("content"), raw_payload_id), None)


def normalize_agent_message_item(item: JsonObject, raw_payload_id: str) -> NormalizedItem:
    """An inter-agent message: routing metadata plus plain or encrypted content."""
    author = item.get("author")
    recipient = item.get("recipient")
    content = item.get("content")
    item_id = item.get("id")
    if not (
        isinstance(author, str)
        and isinstance(recipient, str)
        and isinstance(content, list)
        and (item_id is None or isinstance(item_id, str))
    ):
        raise ReduceError(f"failed to parse agent_message item in payload {raw_payload_id}")
    parts: list[ConversationPart] = []
    for entry in content:
        entry_type = entry.get("type") if isinstance(entry, dict) else None
        text = entry.get("text") if isinstance(entry, dict) else None
        blob = entry.get("encrypted_content") if isinstance(entry, dict) else None
        if entry_type == "input_text" and isinstance(text, str):
            parts.append(TextPart(text))
        elif entry_type == "encrypted_content" and isinstance(blob, str):
            parts.append(_encrypted(blob))
        else:
            raise ReduceError(f"failed to parse agent_message item in payload {raw_payload_id}")
    if not parts:
        raise ReduceError(f"agent_message item in payload {raw_payload_id} contained no content")
    metadata = AgentMessageMetadata(author, recipient)
    return NormalizedItem("assistant", "analysis", "message", metadata, parts, None)


def _reasoning_item(item: JsonObject, raw_payload_id: str) -> NormalizedItem:
    parts: list[ConversationPart] = []
    _append_reasoning_parts(item, "content", raw_payload_id, parts)
    _append_reasoning_parts(item, "summary", raw_payload_id, parts)
    if "encrypted_content" in item:
        blob = item["encrypted_content"]
        if isinstance(blob, str):
            parts.append(_encrypted(blob))
        elif blob is not None:
            raise ReduceError(f"reasoning item in payload {raw_payload_id} had non-string encrypted_content")
    if not parts:
        raise ReduceError(
            f"reasoning item in payload {raw_payload_id} contained no content, summary, or encrypted_content"
        )
    return NormalizedItem("assistant", "analysis", "reasoning", None, parts, None)


def _append_reasoning_parts(item: JsonObject, key: str, raw_payload_id: str, parts: list[ConversationPart]) -> None:
    if key not in item:
        return
    entries = item[key]
    is_content = key == "content"
    if is_content and entries is None:
        return
    if not isinstance(entries, list):
        raise ReduceError(f"reasoning item in payload {raw_payload_id} had non-array {key}")
    for entry in entries:
        entry_type = entry.get("type") if isinstance(entry, dict) else None
        if not isinstance(entry_type, str) or not isinstance(entry, dict):
            raise ReduceError(f"reasoning item in payload {raw_payload_id} had {key} entry without string type")
        if is_content and entry_type not in ("reasoning_text", "text"):
            raise ReduceError(f"reasoning item in payload {raw_payload_id} had unsupported content type {entry_type}")
        if not is_content and entry_type != "summary_text":
            raise ReduceError(f"reasoning item in payload {raw_payload_id} had unsupported summary type {entry_type}")
        text = entry.get("text")
        if not isinstance(text, str):
            raise ReduceError(f"reasoning item in payload {raw_payload_id} had {key} entry without string text")
        parts.append(TextPart(text) if is_content else SummaryPart(text))


# ----- reasoning merge ---------------------------------------------------------------------------------


def _bodies_equal(left: list[ConversationPart], right: list[ConversationPart]) -> bool:
    return len(left) == len(right) and all(_part_key(a) == _part_key(b) for a, b in zip(left, right, strict=True))


def _first_encoded(parts: list[ConversationPart]) -> EncodedPart | None:
    return next((part for part in parts if isinstance(part, EncodedPart)), None)


def merge_reasoning_parts(
    existing: list[ConversationPart], incoming: list[ConversationPart]
) -> list[ConversationPart] | None:
    """Readable evidence from a later sighting of the same encrypted reasoning, or None if nothing changes.

    A readable kind (text or summary) already present is kept: a conflicting later text is not a
    safe upgrade, only a missing kind is filled in.
    """
    if _bodies_equal(existing, incoming):
        return None
    blob = _first_encoded(existing)
    if blob is None or blob != _first_encoded(incoming):
        raise ReduceError("reasoning item merge attempted with different encrypted_content identity")
    texts: list[ConversationPart] = [p for p in existing if isinstance(p, TextPart)]
    summaries: list[ConversationPart] = [p for p in existing if isinstance(p, SummaryPart)]
    if texts and summaries:
        return None
    if not texts:
        texts = [p for p in incoming if isinstance(p, TextPart)]
    if not summaries:
        summaries = [p for p in incoming if isinstance(p, SummaryPart)]
    return texts + summaries + [p for p in existing if isinstance(p, EncodedPart)]


# ----- token usage ---------------------------------------------------------------------------------------


def _i64_field(value: JsonObject, name: str) -> int | None:
    number = value.get(name)
    if not is_int(number) or not I64[0] <= number <= I64[1]:
        return None
    return max(number, 0)


def token_usage_from_value(value: JsonValue) -> TokenUsage | None:
    """Usage block of a response payload; None unless every required counter is an integer."""
    if not isinstance(value, dict):
        return None
    input_tokens = _i64_field(value, "input_tokens")
    cached = _i64_field(value, "cached_input_tokens")
    output_tokens = _i64_field(value, "output_tokens")
    reasoning = _i64_field(value, "reasoning_output_tokens")
    if input_tokens is None or cached is None or output_tokens is None or reasoning is None:
        return None
    cache_write = _i64_field(value, "cache_write_input_tokens")
    return TokenUsage(input_tokens, cached, cache_write if cache_write is not None else 0, output_tokens, reasoning)
