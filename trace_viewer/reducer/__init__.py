"""Replay raw trace events into the reduced graph, one event at a time.

``Reducer`` is the composition of one mixin per concern, as in the official
crate. It is pure: payloads come through a ``PayloadSource``, nothing is
written, and no UI module is imported.
"""

from __future__ import annotations

from trace_viewer.reducer.agents import AgentReducer
from trace_viewer.reducer.code_cells import CodeCellReducer
from trace_viewer.reducer.compaction import CompactionReducer
from trace_viewer.reducer.conversation import ConversationReducer
from trace_viewer.reducer.core import Change, PayloadSource, ReducerBase
from trace_viewer.reducer.errors import Fault, PayloadError, ReduceError
from trace_viewer.reducer.inference import InferenceReducer
from trace_viewer.reducer.terminal import TerminalReducer
from trace_viewer.reducer.threads import ThreadReducer
from trace_viewer.reducer.tools import ToolReducer


class Reducer(
    ThreadReducer,
    InferenceReducer,
    ConversationReducer,
    CompactionReducer,
    ToolReducer,
    TerminalReducer,
    CodeCellReducer,
    AgentReducer,
):
    """The whole reducer. ``apply(event)`` per event, ``finish()`` after the last one."""


__all__ = ["Change", "Fault", "PayloadError", "PayloadSource", "ReduceError", "Reducer", "ReducerBase"]
