"""Code-mode JavaScript cells."""

from __future__ import annotations

from trace_viewer.reducer.core import ReducerBase


class CodeCellReducer(ReducerBase):
    """TODO: being written."""
