"""Inference calls: request snapshots in, response items out (owner: inference helper)."""

from __future__ import annotations

from trace_viewer.reducer.core import ReducerBase


class InferenceReducer(ReducerBase):
    """TODO: being written."""
