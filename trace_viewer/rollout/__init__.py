"""Reading Codex session rollouts (``$CODEX_HOME/sessions/**/rollout-*.jsonl``). Nothing here writes.

- ``records``: one line checked into a typed record (``RolloutLine``, ``SessionMeta``).
- ``log``: a rollout file read incrementally (offset kept, torn last line pending while live).
- ``rebuild``: the exact input of every model call, rebuilt from the file alone.
- ``sessions``: sessions trees: discovery, listing, threads linked across files, matching bundles.

This package depends only on ``trace_viewer.errors`` and the bundle layer's readers.
"""

from __future__ import annotations

from trace_viewer.rollout.log import MAX_ROLLOUT_LINE_BYTES, Rollout, RolloutReader, RolloutWarning, read_rollout
from trace_viewer.rollout.rebuild import CallRebuilder, ModelCall, rebuild_calls
from trace_viewer.rollout.records import JsonObject, RecordError, RolloutLine, SessionMeta

__all__ = [
    "MAX_ROLLOUT_LINE_BYTES",
    "CallRebuilder",
    "JsonObject",
    "ModelCall",
    "RecordError",
    "Rollout",
    "RolloutLine",
    "RolloutReader",
    "RolloutWarning",
    "SessionMeta",
    "read_rollout",
    "rebuild_calls",
]
