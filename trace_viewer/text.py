"""Making untrusted trace text safe to put on a terminal.

Trace text was written by a model, a tool or a user. Shown raw, an ESC byte can
recolour or clear the screen, OSC sequences can retitle the terminal, a
backspace or carriage return can hide what precedes it, and bidi overrides can
make text read differently from what it is. ``visible`` turns every such
character into a visible escape (``\\x1b``, ``\\u202e``) so what is shown is what
is there. It does not deal with Rich/Textual markup: render trace text as
``rich.text.Text``, never as a markup string.
"""

from __future__ import annotations

import re

# Bidi embedding/override/isolate controls plus the implicit marks that can reorder text.
BIDI_CONTROLS = frozenset(
    [chr(c) for c in range(0x202A, 0x202F)] + [chr(c) for c in range(0x2066, 0x206A)] + ["\u200e", "\u200f", "\u061c"]
)


def _escape(code: int) -> str:
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def _build_table(keep_newlines: bool) -> dict[int, str]:
    table: dict[int, str] = {}
    # C0 controls, DEL and C1 controls (C1 includes CSI U+009B, which some terminals obey).
    for code in [*range(0x20), 0x7F, *range(0x80, 0xA0)]:
        table[code] = _escape(code)
    for char in BIDI_CONTROLS:
        table[ord(char)] = _escape(ord(char))
    # Line/paragraph separators break lines invisibly; lone surrogates cannot even be encoded.
    table[0x2028] = _escape(0x2028)
    table[0x2029] = _escape(0x2029)
    for code in range(0xD800, 0xE000):
        table[code] = _escape(code)
    table[ord("\t")] = "\t" if keep_newlines else "\\t"
    table[ord("\n")] = "\n" if keep_newlines else "\\n"
    return table


_MULTILINE = _build_table(keep_newlines=True)
_SINGLE_LINE = _build_table(keep_newlines=False)


def visible(s: str, *, keep_newlines: bool = True) -> str:
    """``s`` with every control, bidi and line-separator character shown as an escape.

    Newlines and tabs are kept by default so multi-line bodies stay readable;
    ``keep_newlines=False`` escapes them too, for one-line contexts (table
    cells, error messages).
    """
    return s.translate(_MULTILINE if keep_newlines else _SINGLE_LINE)


def one_line(s: str) -> str:
    """``visible`` for a single-line context: newlines and tabs escaped as well."""
    return s.translate(_SINGLE_LINE)


def json_safe(dumped: str) -> str:
    """Escape unsafe characters inside already-serialised JSON as ``\\uXXXX``.

    JSON strings may carry bidi controls and C1 characters raw; replacing them
    with ``\\u`` escapes keeps the document valid and its parsed value identical.
    """
    # Most documents hold none of them: one C-speed scan instead of a per-character translate.
    if _JSON_UNSAFE.search(dumped) is None:
        return dumped
    return _JSON_UNSAFE.sub(lambda match: _JSON_TABLE[ord(match.group())], dumped)


_JSON_TABLE: dict[int, str] = {
    code: f"\\u{code:04x}"
    for code in [0x7F, *range(0x80, 0xA0), 0x2028, 0x2029, *(ord(c) for c in BIDI_CONTROLS), *range(0xD800, 0xE000)]
}
_JSON_UNSAFE = re.compile("[" + "".join(re.escape(chr(code)) for code in sorted(_JSON_TABLE)) + "]")
