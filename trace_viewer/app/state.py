"""What the viewer shows, as one immutable value: the screen holds it reactively, widgets render from it.

A move (a key, a click, a follow update) replaces the value; every pane bound
to it redraws from the new value and the session. Nothing here imports Textual,
so the rules (where a jump lands, what clears the search badge) are testable alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from trace_viewer.app.views import ContextOptions

# The timeline's widths, narrowest first; "hidden" takes it off the screen.
TIMELINE_WIDTHS = ("hidden", "narrow", "normal", "wide")
# Drawers under the context pane.
DRAWERS = ("inspector", "usage")

_FILTER = re.compile(r"\b(role|kind|thread):(\S+)")


@dataclass(frozen=True, slots=True)
class Search:
    """A search: the query as typed, its parts, its hits, and which hit the cursor is on."""

    query: str
    pattern: str = ""
    roles: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    hits: tuple[tuple[int, str, str], ...] = ()  # (seq, thread id, item id)
    index: int = -1
    # The `[hit n/m]` badge shows while the position is the hit's; moving on clears it.
    badge: bool = False

    @classmethod
    def parse(cls, query: str) -> Search:
        matches = list(_FILTER.finditer(query))
        return cls(
            query=query,
            pattern=_FILTER.sub("", query).strip(),
            roles=tuple(m.group(2) for m in matches if m.group(1) == "role"),
            kinds=tuple(m.group(2) for m in matches if m.group(1) == "kind"),
        )

    @property
    def filtered(self) -> bool:
        """``role:``/``kind:`` narrow the context pane to the matching items."""
        return bool(self.roles or self.kinds)


@dataclass(frozen=True, slots=True)
class Live:
    """Following the bundle as it is written."""

    following: bool = False
    # Following started by itself: writes were observed on an unfinished bundle opened offline.
    observed: bool = False
    new_events: int = 0  # arrived while the position was held back
    offered: Path | None = None  # a newer bundle under the followed root (`o` opens it)
    reload_reason: str | None = None  # the log was truncated/replaced (`r` reopens)
    # A torn last line is waited for, but nothing has been written for a while: shown as cut off.
    quiet: bool = False


@dataclass(frozen=True, slots=True)
class ViewState:
    """Position, thread, panes and modes: everything a pane needs besides the session."""

    position: int = 0
    thread_id: str | None = None
    revision: int = -1  # the session's revision this view was computed for
    drawer: str | None = None
    diff: bool = False
    show_replaced: bool = False
    provenance: bool = False
    expanded_groups: frozenset[str] = frozenset()
    timeline: str = "normal"
    search: Search | None = None
    # The item a jump landed on: selected, scrolled into view and highlighted.
    focus_item: str | None = None
    note: str | None = None  # a one-off message for the event bar
    live: Live = field(default_factory=Live)

    def moved(self, position: int, *, thread_id: str | None = None, focus_item: str | None = None) -> ViewState:
        """A new position: the note and the search badge belong to the old one."""
        search = self.search
        if search is not None and search.badge:
            search = replace(search, badge=False)
        return replace(
            self,
            position=position,
            thread_id=thread_id if thread_id is not None else self.thread_id,
            focus_item=focus_item,
            note=None,
            search=search,
        )

    def context_options(self) -> ContextOptions:
        search = self.search
        return ContextOptions(
            diff=self.diff,
            expanded_groups=set(self.expanded_groups),
            show_all_replaced=self.show_replaced,
            roles=search.roles if search else (),
            kinds=search.kinds if search else (),
        )

    @property
    def highlight(self) -> str | None:
        """The search pattern to highlight inside item text."""
        return self.search.pattern if self.search and self.search.pattern else None

    def flags(self, *, at_end: bool) -> list[str]:
        """The bracketed modes in the header."""
        out = []
        if self.diff:
            out.append("diff")
        if self.show_replaced:
            out.append("before/after")
        if self.provenance:
            out.append("provenance")
        if self.search is not None and self.search.filtered:
            out.append("filter " + " ".join([*(f"role:{r}" for r in self.search.roles),
                                             *(f"kind:{k}" for k in self.search.kinds)]))  # fmt: skip
        live = self.live
        if live.following and not at_end:
            more = f": {live.new_events} new events, End: live" if live.new_events else ""
            out.append("follow paused" + more)
        elif live.following:
            out.append("follow (writes observed)" if live.observed else "follow")
        if live.reload_reason:
            out.append("log changed: r reloads")
        if live.offered is not None:
            out.append("new bundle: o opens it")
        if self.search is not None and self.search.badge and self.search.hits:
            out.append(f"hit {self.search.index + 1}/{len(self.search.hits)}")
        return out


def next_width(current: str, direction: int) -> str:
    """The timeline width one step wider (+1) or narrower (-1); narrower than narrow hides it."""
    index = TIMELINE_WIDTHS.index(current) if current in TIMELINE_WIDTHS else 2
    return TIMELINE_WIDTHS[max(0, min(len(TIMELINE_WIDTHS) - 1, index + direction))]
