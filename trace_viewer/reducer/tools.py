"""Tool call lifecycle, kinds, summaries, MCP correlation."""

from __future__ import annotations

from trace_viewer.reducer.core import ReducerBase


class ToolReducer(ReducerBase):
    """TODO: being written."""
