"""Schema 3 prepared prompts: the exact model input, stored as fragments around model items.

A ``prepared_prompt`` payload is a JSON array of strings; its reference lists ``parts``
(``model_item`` payloads, each stored once and reused by later calls). Putting part N's
body between fragment N and N+1 gives the request Codex prepared: input items, tools,
base instructions. The official reducer (0.171.0) never reads one while replaying; after
the last line it checks each, in payload-id order with the other payloads: the fragments
must be strings, one more than the parts, and joined around placeholders they must be
one JSON document.
"""

from __future__ import annotations

from trace_viewer.bundle.event_log import parse_json_bytes
from trace_viewer.reducer.fields import JsonValue, describe

# What the official check puts where a part goes (its positions count four characters per part).
_PART_PLACEHOLDER = "null"


def prepared_prompt_problem(value: JsonValue, part_count: int) -> str | None:
    """Why a parsed prepared-prompt body would fail the official end-of-log check, or None."""
    if not isinstance(value, list):
        return f"invalid type: {describe(value)}, expected a sequence"
    fragments: list[str] = []
    for fragment in value:
        if not isinstance(fragment, str):
            return f"invalid type: {describe(fragment)}, expected a string"
        fragments.append(fragment)
    if len(fragments) != part_count + 1:
        return "invalid payload fragment count"
    try:
        parse_json_bytes(_PART_PLACEHOLDER.join(fragments).encode("utf-8", errors="surrogatepass"))
    except ValueError as error:
        return f"prepared prompt is not JSON once assembled ({error})"
    return None


def assemble(fragments: list[str], part_texts: list[str]) -> str:
    """The prepared request's JSON text: fragments with each part's body in between."""
    out: list[str] = []
    for index, fragment in enumerate(fragments):
        out.append(fragment)
        if index < len(part_texts):
            out.append(part_texts[index])
    return "".join(out)
