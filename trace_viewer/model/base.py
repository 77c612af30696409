"""Shared pieces of the reduced graph: the struct base, absent-field marker, execution windows.

Every object of the graph is a ``msgspec.Struct``: typed, checked by mypy, with slots, cheap to
create, and serialised by msgspec in declaration order, which is the official field order. A
field the official output omits when unknown has the type ``T | Unset`` and the value ``UNSET``
(msgspec leaves it out); ``None`` is written as ``null``. Structs of the graph never form cycles,
so they are not tracked by the garbage collector (``gc=False``): a large trace holds a few
hundred thousand of them.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import msgspec
from msgspec import UNSET, UnsetType

Unset: TypeAlias = UnsetType
RolloutStatus = Literal["running", "completed", "failed", "aborted"]
ExecutionStatus = Literal["running", "completed", "failed", "cancelled", "aborted"]


class Record(msgspec.Struct, gc=False):
    """Base of every mutable object of the graph."""


class Tagged(msgspec.Struct, frozen=True, gc=False, tag_field="type"):
    """Base of the immutable tagged values (`{"type": ..., ...}`): parts, anchors, kinds."""


class ExecutionWindow(Record):
    """When an object lived. ``seq`` orders events; wall time is for display only."""

    started_at_unix_ms: int
    started_seq: int
    ended_at_unix_ms: int | None = None
    ended_seq: int | None = None
    status: ExecutionStatus = "running"

    def close(self, seq: int, wall_time_unix_ms: int, status: ExecutionStatus) -> None:
        self.ended_at_unix_ms = wall_time_unix_ms
        self.ended_seq = seq
        self.status = status

    @property
    def running(self) -> bool:
        return self.status == "running"


def tag_of(value: msgspec.Struct) -> str:
    """The `type` a tagged value is written with (`exec_command`, `text`, ...)."""
    tag = type(value).__struct_config__.tag
    return tag if isinstance(tag, str) else type(value).__name__


def is_set(value: object) -> bool:
    """Whether an optional-field value is there (not ``UNSET``)."""
    return value is not UNSET


def new_execution(seq: int, wall_time_unix_ms: int) -> ExecutionWindow:
    """A window that opened at this event and has not closed."""
    return ExecutionWindow(wall_time_unix_ms, seq)


__all__ = [
    "UNSET",
    "ExecutionStatus",
    "ExecutionWindow",
    "Record",
    "RolloutStatus",
    "Tagged",
    "Unset",
    "is_set",
    "new_execution",
    "tag_of",
]
