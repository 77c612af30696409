"""Token counts of what fills the model's context: per item, per category, against the window.

Layer 3 (no UI). ``TokenCounter`` counts (``o200k_base``, offline, cached per
item); ``trace_viewer.tokens.view`` turns counts into what the usage pane shows;
``InputCounter`` counts raw model inputs with no reduced state (session rollouts).
The framing rule and the categories are in ``trace_viewer.tokens.rules``.
"""

from trace_viewer.tokens.counter import Composition, ItemTokens, RequestPart, TokenCounter
from trace_viewer.tokens.encoding import ENCODING, TokenizerUnavailable, count_tokens
from trace_viewer.tokens.inputs import InputCounter
from trace_viewer.tokens.rules import CATEGORIES, FRAMING_TOKENS, LABELS
from trace_viewer.tokens.source import CallFacts, ItemFacts, StateSource

__all__ = [
    "CATEGORIES",
    "ENCODING",
    "FRAMING_TOKENS",
    "LABELS",
    "CallFacts",
    "Composition",
    "InputCounter",
    "ItemFacts",
    "ItemTokens",
    "RequestPart",
    "StateSource",
    "TokenCounter",
    "TokenizerUnavailable",
    "count_tokens",
]
