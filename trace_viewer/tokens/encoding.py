"""The o200k_base tokenizer, offline: exact token counts of text.

GPT-5-family models use the ``o200k_base`` encoding. ``tiktoken`` downloads its
vocabulary on first use, which fails without a network, so the counts come from
``bpe-openai``: GitHub's Rust BPE (``rust-gems``) with the official o200k
vocabulary compiled in, and the official ``o200k_base.tiktoken`` file shipped
byte for byte beside it. Nothing here touches the network.

The package's Python wrapper parses all three vocabularies it ships when it is
imported (about a second, and ~100 MB); only the Rust binding is needed to
count, so the binding is loaded on its own, and the wrapper is the fallback if
that ever stops working. The tokenizer is loaded once, on first use.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import re
import threading
from typing import Any, Protocol

ENCODING = "o200k_base"
# The published sha256 of the official o200k_base.tiktoken file (tiktoken checks the same hash).
O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
_PACKAGE = "bpe_openai"
_SURROGATE = re.compile("[\ud800-\udfff]")


class TokenizerUnavailable(Exception):
    """The offline tokenizer cannot be loaded (package missing or broken); the message says why."""


class _Backend(Protocol):
    def count(self, text: str) -> int: ...

    def encode(self, text: str) -> list[int]: ...


_lock = threading.Lock()
_backend: _Backend | None = None


def _load_binding() -> Any:
    """The package's Rust extension module, without running the package's ``__init__``."""
    spec = importlib.util.find_spec(_PACKAGE)  # locating a package does not import it
    if spec is None or not spec.submodule_search_locations:
        raise TokenizerUnavailable("the o200k tokenizer package bpe-openai is not installed (pip install bpe-openai)")
    for directory in spec.submodule_search_locations:
        for name in sorted(os.listdir(directory)):
            if name.startswith("_bindings") and name.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
                loader = importlib.machinery.ExtensionFileLoader(f"{_PACKAGE}._bindings", os.path.join(directory, name))
                module_spec = importlib.util.spec_from_loader(loader.name, loader)
                assert module_spec is not None
                module = importlib.util.module_from_spec(module_spec)
                loader.exec_module(module)
                return module
    raise TokenizerUnavailable("bpe-openai is installed but its Rust extension is missing")


class _WrapperBackend:
    """The package's public, tiktoken-compatible API (slow to import; used only as a fallback)."""

    def __init__(self) -> None:
        import bpe_openai  # type: ignore[import-untyped]

        self._encoding = bpe_openai.get_encoding(ENCODING)

    def count(self, text: str) -> int:
        return len(self._encoding.encode_ordinary(text))

    def encode(self, text: str) -> list[int]:
        return list(self._encoding.encode_ordinary(text))


def _backend_now() -> _Backend:
    global _backend
    if _backend is not None:
        return _backend
    with _lock:
        if _backend is None:
            try:
                _backend = _load_binding().tokenizer_for_encoding(ENCODING)
            except TokenizerUnavailable:
                raise
            except Exception:  # noqa: BLE001 - an incompatible binding: the public API still works
                try:
                    _backend = _WrapperBackend()
                except Exception as error:  # noqa: BLE001
                    raise TokenizerUnavailable(f"cannot load the o200k tokenizer: {error}") from None
    return _backend


def _utf8_safe(text: str) -> str:
    """Lone surrogates (possible in JSON text) become U+FFFD, as any UTF-8 encoder would send them."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)


def count_tokens(text: str) -> int:
    """Exact o200k_base token count of ``text`` as ordinary text (special-token names are just text)."""
    if not text:
        return 0
    return int(_backend_now().count(_utf8_safe(text)))


def encode(text: str) -> list[int]:
    """The o200k_base token ids of ``text`` (for tests and inspection)."""
    if not text:
        return []
    return list(_backend_now().encode(_utf8_safe(text)))


def vocabulary_file() -> str | None:
    """Path of the official ``o200k_base.tiktoken.gz`` shipped with the package (None if absent)."""
    spec = importlib.util.find_spec(_PACKAGE)
    for directory in (spec.submodule_search_locations or []) if spec else []:
        path = os.path.join(directory, "data", f"{ENCODING}.tiktoken.gz")
        if os.path.isfile(path):
            return path
    return None
