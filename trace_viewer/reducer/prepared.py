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

from collections import OrderedDict

import orjson

from trace_viewer.bundle.event_log import parse_json_bytes
from trace_viewer.reducer.fields import JsonValue, describe

# What the official check puts where a part goes (its positions count four characters per part).
_PART_PLACEHOLDER = "null"
# Prompt shapes remembered as passing by a PreparedPromptChecker (a thread or two use one each).
_SHAPES_KEPT = 16
# A bare-comma fragment and the comma after it, as an array of fragments is written.
_COMMA_FRAGMENT = b'",",'


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


class PreparedPromptChecker:
    """``prepared_prompt_problem`` that skips assembling prompts of a shape already seen to pass.

    Codex cuts every prompt of a thread the same way: the same first and last fragments (the
    request around its input, tools and instructions included) with a bare ``,`` between parts.
    Whether such a prompt parses does not depend on how many parts it has once it has two:
    each further ``,null`` leaves the parser where the one before left it (after an array
    element, inside a string), or fails where the first one fails. So a pass is remembered by
    (first fragment, last fragment, one part or more); a problem is always recomputed, since its
    message gives a position.

    ``problem_of`` starts from the payload's bytes: a body written exactly as such a shape's
    array would be (its first and last fragments' bytes around ``",",`` repeated) is that array,
    so a shape known to pass answers without parsing the fragments again.
    """

    __slots__ = ("_passing", "_written")

    def __init__(self) -> None:
        self._passing: OrderedDict[tuple[str, str, int], None] = OrderedDict()
        # The bytes that start and end a passing shape's body, with its first and last fragments.
        self._written: OrderedDict[tuple[bytes, bytes], tuple[str, str]] = OrderedDict()

    def problem_of(self, payload_id: str, data: bytes, part_count: int) -> str | None:
        """Why a prepared prompt's body fails the end-of-log check, or None."""
        if part_count >= 1:
            inner = len(_COMMA_FRAGMENT) * (part_count - 1)
            for (head, tail), (first, last) in self._written.items():
                if (
                    len(data) == len(head) + inner + len(tail)
                    and data.startswith(head)
                    and data.endswith(tail)
                    and data[len(head) : len(head) + inner] == _COMMA_FRAGMENT * (part_count - 1)
                    and (first, last, min(part_count, 2)) in self._passing
                ):
                    return None
        try:
            value = parse_json_bytes(data)
        except ValueError as error:
            return f"invalid payload {payload_id}: {error}"
        shape = _shape(value, part_count)
        problem = self._problem(value, part_count, shape)
        if problem is None and shape is not None:
            first, last, _ = shape
            head, tail = orjson.dumps([first])[:-1] + b",", orjson.dumps([last])[1:]
            if data == head + _COMMA_FRAGMENT * (part_count - 1) + tail:  # written as orjson writes it
                self._written[(head, tail)] = (first, last)
                if len(self._written) > _SHAPES_KEPT:
                    self._written.popitem(last=False)
        return problem

    def problem(self, value: JsonValue, part_count: int) -> str | None:
        """Why a parsed prepared prompt's body fails the end-of-log check, or None."""
        return self._problem(value, part_count, _shape(value, part_count))

    def _problem(self, value: JsonValue, part_count: int, shape: tuple[str, str, int] | None) -> str | None:
        if shape is not None and shape in self._passing:
            self._passing.move_to_end(shape)
            return None
        problem = prepared_prompt_problem(value, part_count)
        if problem is None and shape is not None:
            self._passing[shape] = None
            if len(self._passing) > _SHAPES_KEPT:
                self._passing.popitem(last=False)
        return problem


def _shape(value: JsonValue, part_count: int) -> tuple[str, str, int] | None:
    """(first fragment, last fragment, parts capped at 2) when every inner fragment is a bare comma."""
    if not isinstance(value, list) or len(value) != part_count + 1 or part_count < 1:
        return None
    first, last = value[0], value[-1]
    if not isinstance(first, str) or not isinstance(last, str):
        return None
    for index in range(1, part_count):
        if value[index] != ",":
            return None
    return (first, last, min(part_count, 2))
