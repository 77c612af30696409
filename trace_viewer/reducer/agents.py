"""Multi-agent interaction edges: spawn, send, assign, close, agent results."""

from __future__ import annotations

from trace_viewer.reducer.core import ReducerBase


class AgentReducer(ReducerBase):
    """TODO: being written."""
