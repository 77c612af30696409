"""Replay raw trace events into the reduced graph, one event at a time.

``Reducer`` composes one part per concern, as in the official crate (threads and turns,
inference, conversation, compaction, tools, terminals, code cells, agents); parts call each other
only through ``reducer.interfaces``. It is pure: payloads come through a ``PayloadSource``,
nothing is written, and no UI module is imported.
"""

from __future__ import annotations

from trace_viewer.reducer.core import Change, PayloadSource, ReducerCore
from trace_viewer.reducer.errors import Fault, PayloadError, ReduceError
from trace_viewer.reducer.reducer import Reducer

__all__ = ["Change", "Fault", "PayloadError", "PayloadSource", "ReduceError", "Reducer", "ReducerCore"]
