"""The app's own messages: how workers and widgets tell the screens what happened.

Workers (loading, following) and widgets never call into a screen; they post
one of these and the screen (or the app) decides what it means for the view.
"""

from __future__ import annotations

from pathlib import Path

from textual.message import Message


class SessionGrew(Message):
    """The progressive load applied another slice of the bundle (``done``: everything on disk is in)."""

    def __init__(self, done: bool) -> None:
        super().__init__()
        self.done = done


class BundleChanged(Message):
    """Something was written to the watched bundle: read what is new.

    ``ready``: the first one, sent once the watch is in place (read what came before it).
    """

    def __init__(self, ready: bool = False) -> None:
        super().__init__()
        self.ready = ready


class WatchFailed(Message):
    """The bundle cannot be watched (it is gone, or the platform refused)."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class RootChanged(Message):
    """Something changed under the followed trace root: bundles may have appeared or grown."""

    def __init__(self, paths: frozenset[str]) -> None:
        super().__init__()
        self.paths = paths


class JumpTo(Message):
    """A widget asks to move the position (a timeline row was chosen)."""

    def __init__(self, position: int, thread_id: str | None, *, remember: bool = True) -> None:
        super().__init__()
        self.position = position
        self.thread_id = thread_id
        self.remember = remember


class ShowToolCall(Message):
    """Open the detail view of a tool call."""

    def __init__(self, tool_call_id: str) -> None:
        super().__init__()
        self.tool_call_id = tool_call_id


class OpenBundle(Message):
    """Open this bundle (from the picker, or a bundle that appeared under the followed root)."""

    def __init__(
        self,
        path: Path,
        *,
        follow: bool = False,
        observed: bool = False,
        replace: bool = False,
        note: str | None = None,
    ) -> None:
        super().__init__()
        self.path = path
        self.follow = follow
        self.observed = observed  # following because writes were seen on a bundle opened offline
        self.replace = replace  # instead of the viewer that asked (a reload, a switch)
        self.note = note
