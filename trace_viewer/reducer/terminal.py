"""Terminal sessions and operations (exec_command, write_stdin)."""

from __future__ import annotations

from trace_viewer.reducer.core import ReducerBase


class TerminalReducer(ReducerBase):
    """TODO: being written."""
