"""The reduced state as tests read it: plain JSON values, the shape of the official ``state.json``.

Tests assert on what ``trace-viewer reduce`` writes, so they read the state through this view
(``json_state(reducer)`` or ``json_state(session)``), not through the typed structures.
"""

from __future__ import annotations

from typing import Any


def json_state(source: Any) -> dict[str, Any]:
    """The state of a ``Reducer`` (or of a ``ReplaySession``'s head) as parsed ``state.json``."""
    reducer = getattr(source, "reducer", source)
    state: dict[str, Any] = reducer.to_json()
    return state
