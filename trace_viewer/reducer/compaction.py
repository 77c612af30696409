"""Remote compaction requests and installed checkpoints."""

from __future__ import annotations

from trace_viewer.reducer.core import ReducerBase


class CompactionReducer(ReducerBase):
    """TODO: being written."""
