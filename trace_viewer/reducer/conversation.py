"""Conversation items: reconciliation of request/response items with the live snapshot, acceptance stamps."""

from __future__ import annotations

from trace_viewer.reducer.core import ReducerBase


class ConversationReducer(ReducerBase):
    """TODO: being written."""
