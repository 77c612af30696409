"""Reading untrusted JSON the way the official reducer does, with its wording.

The official reducer deserialises events and payloads into Rust types with serde and stops at the
first mismatch. Every reducer part reads JSON through this module, so a mismatch is reported
once, in serde's words, naming the field: "missing field `x`", "invalid type: integer `5`,
expected a string", "unknown variant `x`, expected one of ...".

- ``JsonValue``/``JsonObject``: what a JSON parser returns, as a type (not ``Any``).
- ``describe``: serde's words for a value it did not expect.
- ``Struct``: a declared struct of typed fields, read with serde's order of complaints (the
  first bad value in document order, then the first missing field in declaration order).
- Field kinds for the official types: strings, integers of a width, thread ids (UUIDs), agent
  paths, externally tagged enums.
- ``loads_struct`` and ``loads_with_raw_numbers``: the JSON parsers behind serde's struct and
  arbitrary-precision readings (repeated keys, NaN, number text).

``FieldError`` is what these raise; a reducer part adds where it was reading and raises a
``ReduceError`` (a fault of the trace).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeAlias, TypeGuard

from trace_viewer.errors import ReduceError

JsonValue: TypeAlias = "None | bool | int | float | str | list[JsonValue] | dict[str, JsonValue]"
JsonObject: TypeAlias = "dict[str, JsonValue]"

I32 = (-(2**31), 2**31 - 1)
I64 = (-(2**63), 2**63 - 1)
U64 = (0, 2**64 - 1)


class FieldError(Exception):
    """A JSON value that does not fit the type it is read as; the message is serde's."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def fault(self, context: str | None = None) -> ReduceError:
        """The fault of the trace, optionally prefixed with where it was read."""
        return ReduceError(f"{context}: {self.message}" if context else self.message)


class RawNumber(str):
    """A JSON number literal kept as its source text (``loads_with_raw_numbers``)."""


def is_object(value: object) -> TypeGuard[JsonObject]:
    return isinstance(value, dict)


def is_int(value: object) -> TypeGuard[int]:
    """A JSON integer (booleans are not)."""
    return isinstance(value, int) and not isinstance(value, bool)


def opt_str(value: object) -> str | None:
    """The value if it is a string, else None (lenient reads of optional metadata)."""
    return value if isinstance(value, str) and not isinstance(value, RawNumber) else None


def push_unique(items: list[str], value: str) -> bool:
    """Append unless present; True if the list changed."""
    if value in items:
        return False
    items.append(value)
    return True


# ----- serde's wording ---------------------------------------------------------------------------


def rust_debug_str(text: str) -> str:
    """A string as Rust's ``{:?}`` prints it (serde quotes unexpected strings this way)."""
    out = ['"']
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0:
            out.append(f"\\u{{{ord(char):x}}}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def describe(value: object, *, exact_numbers: bool = True) -> str:
    """serde's words for an unexpected JSON value.

    ``exact_numbers=False`` is for values parsed with arbitrary precision, where serde only
    knows "a number" (the agent payloads).
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{'true' if value else 'false'}`"
    if isinstance(value, RawNumber):
        value = raw_number_value(value)
    if isinstance(value, int | float):
        if not exact_numbers:
            return "number"
        return f"integer `{value}`" if isinstance(value, int) else f"floating point `{value}`"
    if isinstance(value, str):
        return f"string {rust_debug_str(value)}"
    if isinstance(value, list):
        return "sequence"
    return "map"


def invalid_type(value: object, expected: str, *, exact_numbers: bool = True) -> FieldError:
    return FieldError(f"invalid type: {describe(value, exact_numbers=exact_numbers)}, expected {expected}")


def event_u64(value: object) -> int:
    """A ``u64`` field of a trace line, in serde's words when it is not one.

    The official reducer reads trace lines with arbitrary-precision numbers: a number that is
    not an integer (a float, or past 64 bits) reaches the ``u64`` as serde_json's private
    number map, so serde calls it a map.
    """
    if is_int(value) and U64[0] <= value <= U64[1]:
        return value
    if is_int(value) and value < 0:
        raise FieldError(f"invalid value: integer `{value}`, expected u64")
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise FieldError("invalid type: map, expected u64")
    raise invalid_type(value, "u64")


def debug_variant(tag: str, fields: Iterable[tuple[str, str]] = ()) -> str:
    """An enum value as Rust's ``{:?}`` prints it: `SpawnAgent`, `Other { name: "x" }`."""
    name = "".join(word.capitalize() for word in tag.split("_"))
    shown = [f"{key}: {rust_debug_str(value)}" for key, value in fields]
    return f"{name} {{ {', '.join(shown)} }}" if shown else name


# ----- numbers -------------------------------------------------------------------------------------


def raw_number_value(literal: RawNumber) -> int | float:
    try:
        return int(literal)
    except ValueError:
        return float(literal)


def raw_integer(value: object) -> int | None:
    """An integer, whether parsed as such or kept as an integer literal."""
    if is_int(value):
        return value
    if isinstance(value, RawNumber) and value.lstrip("-").isdigit():
        return int(value)
    return None


def literal_text(literal: RawNumber) -> str:
    """A number literal as the official build re-prints an arbitrary-precision number: the digits as
    written, a lower-case exponent with an explicit sign, ``-0`` as ``0``."""
    lowered = literal.replace("E", "e")
    if "e" in lowered:
        mantissa, exponent = lowered.split("e", 1)
        if not exponent.startswith(("+", "-")):
            exponent = "+" + exponent
        return f"{mantissa}e{exponent}"
    return "0" if lowered == "-0" else lowered


# ----- parsers -------------------------------------------------------------------------------------


def reject_constant(name: str) -> JsonValue:
    """serde_json refuses NaN and Infinity, which Python's parser accepts."""
    raise ValueError(f"invalid number {name}")


class _Object(dict[str, JsonValue]):
    """A parsed JSON object that remembers which keys appeared more than once."""

    repeated: frozenset[str] = frozenset()


def _object_with_repeats(pairs: list[tuple[str, JsonValue]]) -> _Object:
    out = _Object(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        repeated: set[str] = set()
        for key, _ in pairs:
            (repeated if key in seen else seen).add(key)
        out.repeated = frozenset(repeated)
    return out


def loads_json(
    text: str,
    *,
    object_pairs_hook: Callable[[list[tuple[str, JsonValue]]], JsonObject] | None = None,
    parse_int: Callable[[str], JsonValue] | None = None,
    parse_float: Callable[[str], JsonValue] | None = None,
) -> JsonValue:
    """``json.loads`` as serde_json parses: NaN and Infinity are not JSON, and absurd nesting is a
    parse error (``ValueError``), not a ``RecursionError`` of ours."""
    try:
        value: JsonValue = json.loads(
            text,
            object_pairs_hook=object_pairs_hook,
            parse_int=parse_int,
            parse_float=parse_float,
            parse_constant=reject_constant,
        )
    except RecursionError:
        raise ValueError("recursion limit exceeded") from None
    return value


def parse_json_preserving(text: str) -> JsonValue:
    """Parse JSON keeping number literals as ``RawNumber`` (raises ``ValueError``)."""
    return loads_json(text, parse_int=RawNumber, parse_float=RawNumber)


def loads_struct(text: str, fields: frozenset[str]) -> JsonValue:
    """Parse JSON as serde would for a struct: a repeated known field is an error, NaN is not JSON.

    Raises ``ValueError``.
    """
    value = loads_json(text, object_pairs_hook=_object_with_repeats)
    if isinstance(value, _Object) and value.repeated & fields:
        raise ValueError(f"duplicate field `{min(value.repeated & fields)}`")
    return value


def _no_duplicate_keys(pairs: list[tuple[str, JsonValue]]) -> JsonObject:
    seen: JsonObject = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate field `{key}`")
        seen[key] = value
    return seen


def loads_with_raw_numbers(text: str) -> JsonValue:
    """Parse JSON keeping number literals as ``RawNumber`` and refusing repeated keys (any level).

    Raises ``ValueError``.
    """
    return loads_json(text, object_pairs_hook=_no_duplicate_keys, parse_int=RawNumber, parse_float=RawNumber)


# ----- field kinds --------------------------------------------------------------------------------

FieldValue: TypeAlias = "str | int | list[str] | dict[str, JsonValue] | None"
Reader: TypeAlias = "Callable[[JsonValue], FieldValue]"


def read_str(value: JsonValue) -> str:
    if isinstance(value, str) and not isinstance(value, RawNumber):
        return value
    raise invalid_type(value, "a string")


def read_str_opaque_numbers(value: JsonValue) -> str:
    """``read_str`` for values parsed with arbitrary precision (a number is just "number")."""
    if isinstance(value, str) and not isinstance(value, RawNumber):
        return value
    raise invalid_type(value, "a string", exact_numbers=False)


def read_map(value: JsonValue) -> JsonObject:
    """A nested object read as a ``serde_json::Value`` map."""
    if not isinstance(value, dict):
        raise invalid_type(value, "a map")
    return value


def read_str_list(value: JsonValue) -> list[str]:
    if not isinstance(value, list):
        raise invalid_type(value, "a sequence")
    return [read_str(entry) for entry in value]


def integer_reader(name: str, bounds: tuple[int, int], *, exact_numbers: bool = True) -> Reader:
    """An integer of a Rust width (``i32``, ``u64``, ...)."""

    def read(value: JsonValue) -> int:
        number = raw_integer(value)
        if number is None:
            if not exact_numbers and isinstance(value, float | RawNumber):
                raise FieldError("invalid number")
            raise invalid_type(value, name, exact_numbers=exact_numbers)
        if not bounds[0] <= number <= bounds[1]:
            if not exact_numbers:
                raise FieldError("invalid number")
            raise FieldError(f"invalid value: integer `{number}`, expected {name}")
        return number

    return read


def optional(reader: Reader) -> Reader:
    """``Option<T>``: null is None, anything else is read as T."""

    def read(value: JsonValue) -> FieldValue:
        return None if value is None else reader(value)

    return read


def enum_reader(variants: Mapping[str, Reader | None], *, exact_numbers: bool = True) -> Reader:
    """An externally tagged enum: `"variant"`, or `{"variant": content}`; gives the variant name.

    ``variants`` maps each name to the reader of its content, or None for a unit variant.
    """
    expected = ", ".join(f"`{variant}`" for variant in variants)

    def read(value: JsonValue) -> str:
        content: JsonValue = None
        if isinstance(value, str) and not isinstance(value, RawNumber):
            name, has_content = value, False
        elif isinstance(value, dict):
            if len(value) != 1:
                raise FieldError("invalid value: map, expected map with a single key")
            ((name, content),) = value.items()
            has_content = True
        else:
            raise invalid_type(value, "string or map", exact_numbers=exact_numbers)
        if name not in variants:
            raise FieldError(f"unknown variant `{name}`, expected one of {expected}")
        content_reader = variants[name]
        if content_reader is None:
            if has_content and content is not None:
                raise invalid_type(content, "unit", exact_numbers=exact_numbers)
        elif not has_content:
            raise FieldError("invalid type: unit variant, expected newtype variant")
        else:
            content_reader(content)
        return name

    return read


@dataclass(frozen=True, slots=True)
class Field:
    """One struct field: its reader, and the value used when it is absent (``REQUIRED``: an error)."""

    name: str
    read: Reader
    default: FieldValue | _Required = None

    @property
    def required(self) -> bool:
        return isinstance(self.default, _Required)


class _Required:
    """Marks a field without a default."""


REQUIRED = _Required()


class Values:
    """A struct read by ``Struct.read``: each field's value, typed by the accessor used."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, FieldValue]) -> None:
        self._values = values

    def text(self, name: str) -> str:
        value = self._values[name]
        assert isinstance(value, str)
        return value

    def opt_text(self, name: str) -> str | None:
        value = self._values[name]
        assert value is None or isinstance(value, str)
        return value

    def number(self, name: str) -> int:
        value = self._values[name]
        assert isinstance(value, int)
        return value

    def opt_number(self, name: str) -> int | None:
        value = self._values[name]
        assert value is None or isinstance(value, int)
        return value

    def texts(self, name: str) -> list[str]:
        value = self._values[name]
        assert isinstance(value, list)
        return value

    def map(self, name: str) -> JsonObject:
        value = self._values[name]
        assert isinstance(value, dict)
        return value


@dataclass(frozen=True, slots=True)
class Struct:
    """A serde struct: named, with typed fields (unknown keys are ignored, as serde does)."""

    name: str
    fields: tuple[Field, ...]
    # What a non-object is reported as expecting ("struct Name" for a typed struct, "a map" for a Value).
    expecting: str = ""
    exact_numbers: bool = True

    def read(self, value: JsonValue) -> Values:
        """The fields, or ``FieldError``: a non-object, then the first bad value in document order,
        then the first missing field in declaration order."""
        if not isinstance(value, dict):
            raise invalid_type(value, self.expecting or f"struct {self.name}", exact_numbers=self.exact_numbers)
        by_name = {spec.name: spec for spec in self.fields}
        out: dict[str, FieldValue] = {}
        for key, raw in value.items():
            spec = by_name.get(key)
            if spec is not None:
                out[key] = spec.read(raw)
        for spec in self.fields:
            if spec.name not in out:
                if isinstance(spec.default, _Required):
                    raise FieldError(f"missing field `{spec.name}`")
                out[spec.name] = spec.default
        return Values(out)

    def without(self, name: str) -> Struct:
        """The same struct minus one field (order kept: it decides which missing field is reported)."""
        return Struct(
            self.name, tuple(spec for spec in self.fields if spec.name != name), self.expecting, self.exact_numbers
        )


def field(name: str, read: Reader, default: FieldValue | _Required = REQUIRED) -> Field:
    return Field(name, read, default)


def as_object(value: JsonValue, expecting: str = "a map") -> JsonObject:
    if not isinstance(value, dict):
        raise invalid_type(value, expecting)
    return value


# ----- official identifiers -------------------------------------------------------------------------

_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_AGENT_NAME = re.compile(r"[a-z0-9_]+")


def thread_id_text(raw: str) -> str:
    """A thread id as the protocol parses it (a UUID), in canonical lower-case hyphenated form."""
    if len(raw) == 32:
        digits: str | None = raw
    elif len(raw) == 36:
        digits = _hyphenated_digits(raw)
    elif len(raw) == 38 and raw.startswith("{") and raw.endswith("}"):
        digits = _hyphenated_digits(raw[1:-1])
    elif len(raw) == 45 and raw.startswith("urn:uuid:"):
        digits = _hyphenated_digits(raw[9:])
    else:
        digits = None
    if digits is None or any(char not in _HEX_DIGITS for char in digits):
        raise FieldError(_uuid_problem(raw))
    digits = digits.lower()
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def _hyphenated_digits(text: str) -> str | None:
    if len(text) != 36 or any(text[index] != "-" for index in (8, 13, 18, 23)):
        return None
    return text.replace("-", "", 4) if text.count("-") == 4 else None


def _uuid_problem(raw: str) -> str:
    """Why a text is not a UUID, in the uuid crate's words (first bad character, else shape)."""
    offset, body, simple = 0, raw, True
    if len(raw) >= 2 and raw.startswith("{") and raw.endswith("}"):
        offset, body, simple = 1, raw[1:-1], False
    elif raw.startswith("urn:uuid:"):
        offset, body, simple = 9, raw[9:], False
    hyphens: list[int] = []
    position = 0  # byte position, as the message counts bytes
    for char in body:
        if char == "-":
            hyphens.append(position)
        elif char not in _HEX_DIGITS:
            return (
                "invalid character: expected an optional prefix of `urn:uuid:` followed by [0-9a-fA-F-], "
                f"found `{char}` at {position + offset + 1}"
            )
        position += len(char.encode("utf-8"))
    size = len(body.encode("utf-8"))
    if not hyphens and simple:
        return f"invalid length: expected length 32 for simple format, found {size}"
    if len(hyphens) != 4:
        return f"invalid group count: expected 5, found {len(hyphens) + 1}"
    starts = (0, 9, 14, 19, 24)
    for group in range(4):
        if hyphens[group] != starts[group + 1] - 1:
            found = hyphens[group] - starts[group]
            return f"invalid group length in group {group}: expected {(8, 4, 4, 4, 12)[group]}, found {found}"
    return f"invalid group length in group 4: expected 12, found {size - starts[4]}"


def agent_path_problem(path: str) -> str | None:
    """Why a text is not an absolute agent path (`/root/...` in lowercase names, or `/morpheus`)."""
    if path == "/morpheus":
        return None
    if not path.startswith("/") or path[1:].split("/")[0] != "root":
        return "absolute agent paths must start with `/root` or be `/morpheus`"
    if path.endswith("/"):
        return "absolute agent path must not end with `/`"
    for name in path[1:].split("/")[1:]:
        if not name:
            return "agent_name must not be empty"
        if name in ("root", ".", ".."):
            return f"agent_name `{name}` is reserved"
        if _AGENT_NAME.fullmatch(name) is None:
            return "agent_name must use only lowercase letters, digits, and underscores"
    return None


def is_agent_path(value: object) -> bool:
    return isinstance(value, str) and agent_path_problem(value) is None


def read_thread_id(value: JsonValue) -> str:
    return thread_id_text(read_str_opaque_numbers(value))


def read_agent_path(value: JsonValue) -> str:
    path = read_str_opaque_numbers(value)
    problem = agent_path_problem(path)
    if problem is not None:
        raise FieldError(problem)
    return path
