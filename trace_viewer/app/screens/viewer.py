"""The main screen: header, timeline | context (+ inspector/usage drawer), event bar, footer.

The screen owns the position (a seq) and the selected thread; panes are told
what to show after every move. Nothing here mutates the session's state: the
session replays, the screen only reads.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer
from textual.worker import Worker

from trace_viewer.app import gc_policy
from trace_viewer.app.commands import COMMANDS
from trace_viewer.app.follow import (
    IDLE_TIMEOUT_S,
    MIN_FRAME_S,
    POLL_BUDGET_S,
    STALE_CHECK_S,
    WAITING_TIMEOUT_S,
    bundle_is_live,
    recently_modified,
)
from trace_viewer.app.render import Palette, safe_line
from trace_viewer.app.screens.help import HelpScreen
from trace_viewer.app.screens.prompt import PromptScreen
from trace_viewer.app.views import (
    ContextOptions,
    TimelineRow,
    build_context,
    build_timeline,
    current_row_key,
)
from trace_viewer.app.widgets.context import ContextPane
from trace_viewer.app.widgets.inspector import InspectorPane
from trace_viewer.app.widgets.lines import COMPONENT_CLASSES, BlockList
from trace_viewer.app.widgets.panels import EventBar, TraceHeader, UsagePane
from trace_viewer.app.widgets.timeline import TimelinePane
from trace_viewer.bundle.watcher import Watcher, watch_bundle
from trace_viewer.session import ReplaySession, SearchHit

# How long one slice of progressive loading may hold the UI before it redraws.
LOAD_SLICE_SECONDS = 0.05
# The first slice is longer: small bundles load completely before the first frame.
FIRST_SLICE_SECONDS = 0.2
REDRAW_SECONDS = 0.25

_FILTER = re.compile(r"\b(role|kind|thread):(\S+)")


@dataclass(slots=True)
class Place:
    """Where the user was: for `E` (back)."""

    position: int
    thread_id: str | None
    item_id: str | None = None


class ViewerScreen(Screen[None]):
    """One bundle, scrubbable event by event."""

    COMPONENT_CLASSES: ClassVar[set[str]] = set(COMPONENT_CLASSES)

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(command.bind, command.action, command.title, show=command.footer) for command in COMMANDS
    ]

    def __init__(self, session: ReplaySession, *, follow: bool = False, auto_follow: bool = True) -> None:
        super().__init__()
        self.tv_palette: Palette | None = None
        self.session = session
        self.position = 0
        self.thread_id: str | None = None
        self.options = ContextOptions()
        self.drawer: str | None = None
        self.following = follow
        self.loaded = False
        self.rows: list[TimelineRow] = []
        self.rows_by_object: dict[str, str] = {}
        self._rows_revision = -1
        self.hits: list[SearchHit] = []
        self.hit_index = -1
        self.query_text = ""
        self.history: list[Place] = []
        self.new_events = 0
        self.message: str | None = None
        # Follow mode: a worker waits on a watcher of the bundle directory (see _follow).
        self.auto_follow = auto_follow  # follow by itself when the bundle is still being written
        self.auto_followed = False
        self.offered: Path | None = None  # a newer bundle under the followed root (`o` opens it)
        self.reload_needed: str | None = None  # the log was truncated/replaced (`r` reopens)
        self._follow_worker: Worker[None] | None = None
        self._watcher: Watcher | None = None
        self._select_after: str | None = None

    # ----- layout -----------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield TraceHeader(id="header")
        with Horizontal(id="body"):
            yield TimelinePane(id="timeline")
            with Vertical(id="right"):
                yield ContextPane(id="context")
                yield InspectorPane(id="inspector")
                yield UsagePane(id="usage")
        yield EventBar(id="eventbar")
        yield Footer()

    @property
    def timeline(self) -> TimelinePane:
        return self.query_one(TimelinePane)

    @property
    def context(self) -> ContextPane:
        return self.query_one(ContextPane)

    def on_mount(self) -> None:
        self.timeline.border_title = "Timeline"
        self.context.border_title = "Context"
        self.query_one(InspectorPane).border_title = "Inspector"
        self.query_one(UsagePane).border_title = "Usage"
        if not self.following and self.auto_follow and bundle_is_live(self.session.path):
            # Unfinished and written to recently: Codex is (probably) still writing it.
            self.following = self.auto_followed = True
        self.session.follow = self.following or self.session.follow
        self.session.load(budget_s=FIRST_SLICE_SECONDS)
        self._after_load(initial=True)
        if not self.session.done:
            self.run_worker(self._load_rest(), exclusive=True, group="load")
        else:
            self.loaded = True
        if self.following:
            self._start_following()
        self.watch(self.app, "theme", self._theme_changed, init=False)
        for warning in self.session.warnings:
            self.notify(safe_line(warning), severity="warning", timeout=10, markup=False)
        self.context.focus()

    def _theme_changed(self) -> None:
        # The stylesheet is re-applied after the theme changes; restyle once it has been.
        self.call_after_refresh(self._restyle)

    def _restyle(self) -> None:
        """Named styles come from the theme: drop everything rendered with the old one."""
        self._rich_style_cache.clear()
        self.tv_palette = None
        self.timeline.clear_cache()
        self.context.clear_cache()
        self.query_one(InspectorPane).clear_cache()
        self.show()

    async def _load_rest(self) -> None:
        """Progressive loading: a usable screen first, the rest in slices between frames.

        Panes are redrawn at most every ``REDRAW_SECONDS`` while loading; the
        header's progress figure after every slice.
        """
        loop = asyncio.get_running_loop()
        last = loop.time()
        while not self.session.done:
            self.session.load(budget_s=LOAD_SLICE_SECONDS)
            if loop.time() - last >= REDRAW_SECONDS:
                self._after_load()
                last = loop.time()
            else:
                self._show_header()
            await asyncio.sleep(0)
        self.loaded = True
        self._after_load()

    def _ensure_thread(self) -> None:
        """Select the root thread (else the first) once there is one; keep a valid selection."""
        threads = self.session.rollout["threads"]
        if self.thread_id is None or self.thread_id not in threads:
            root = self.session.rollout.get("root_thread_id")
            self.thread_id = root if root in threads else next(iter(threads), None)

    def _after_load(self, *, initial: bool = False) -> None:
        session = self.session
        at_end = initial or self.position >= self._last_total
        self._last_total = session.total
        if at_end:
            self.position = session.total
        self.show()
        if session.done and self._frozen_session is not session:
            # Loaded: take the state out of the collector's sight (see gc_policy for why).
            self._frozen_session = session
            gc_policy.freeze_loaded_state()

    _last_total = 0
    _frozen_session: ReplaySession | None = None

    # ----- drawing ----------------------------------------------------------------
    def _rebuild_rows(self) -> None:
        if self._rows_revision == self.session.revision:
            return
        self.rows = build_timeline(self.session)
        self.rows_by_object = {row.object_id: row.key for row in self.rows}
        self._rows_revision = self.session.revision

    def flags(self) -> list[str]:
        out = []
        if self.options.diff:
            out.append("diff")
        if self.options.show_all_replaced:
            out.append("before/after")
        if self.context.provenance:
            out.append("provenance")
        if self.following and self.position < self.session.total:
            out.append("follow paused" + (f": {self.new_events} new events, End: live" if self.new_events else ""))
        elif self.following:
            out.append("follow (auto: still being written)" if self.auto_followed else "follow")
        if self.reload_needed:
            out.append("log changed: r reloads")
        if self.offered is not None:
            out.append("new bundle: o opens it")
        if self.hits:
            out.append(f"hit {self.hit_index + 1}/{len(self.hits)}")
        return out

    def _show_header(self) -> None:
        session = self.session
        loading = None if session.done else session.progress()
        self.query_one(TraceHeader).show(session, self.position, self.thread_id, flags=self.flags(), loading=loading)

    def show(self) -> None:
        """Bring every pane to the current position and thread."""
        session = self.session
        self._ensure_thread()
        self._rebuild_rows()
        position = self.position
        self._show_header()
        current = current_row_key(session, self.rows_by_object, position)
        self.timeline.update_view(self.rows, position, current, session.wall_ms_at(position))
        if self.thread_id is not None:
            blocks = build_context(session, self.thread_id, position, self.options)
        else:
            blocks = []
        follow_end = position >= session.total and not any(block.current for block in blocks)
        self.context.update_view(session, position, blocks, follow_end=follow_end)
        if self._select_after is not None:
            if not self.context.select_item(self._select_after):
                self.message = f"{self._select_after} is not in the live context here"
            self._select_after = None
        self.query_one(EventBar).show(session, position, self.message)
        self.message = None
        if self.drawer == "inspector":
            self.query_one(InspectorPane).show_event(session, session.record(position))
        elif self.drawer == "usage":
            self.query_one(UsagePane).show(session, self.thread_id, position)

    def goto(self, position: int, *, thread_id: str | None = None, remember: bool = False) -> None:
        if remember:
            self.history.append(Place(self.position, self.thread_id))
        low = 1 if self.session.total else 0
        self.position = max(low, min(position, self.session.total))
        if thread_id is not None and thread_id in self.session.rollout["threads"]:
            self.thread_id = thread_id
        if self.position >= self.session.total:
            self.new_events = 0
        self.show()

    def _event_thread(self, seq: int) -> str | None:
        record = self.session.record(seq)
        if record is None:
            return None
        for local in self.session.local_compactions:
            if local.seq == seq:
                return local.thread_id
        return record.thread_id

    # ----- actions: moving ----------------------------------------------------------
    def action_step(self, delta: int) -> None:
        self.goto(self.position + delta)

    def action_first(self) -> None:
        self.goto(1, remember=True)

    def action_last(self) -> None:
        self.goto(self.session.total, remember=True)

    def _targets(self, kind: str) -> list[int]:
        if kind == "inference":
            return self.session.seqs_of("inference_started")
        if kind == "turn":
            return self.session.seqs_of("codex_turn_started")
        return self.session.compaction_seqs()

    def action_jump(self, kind: str, direction: int) -> None:
        seqs = self._targets(kind)
        if direction > 0:
            target = next((s for s in seqs if s > self.position), None)
        else:
            target = next((s for s in reversed(seqs) if s < self.position), None)
        if target is None:
            names = {"inference": "model call", "turn": "turn", "compaction": "compaction"}
            self.message = f"No {'next' if direction > 0 else 'previous'} {names.get(kind, kind)}."
            self.show()
            return
        self.goto(target, thread_id=self._event_thread(target))

    def action_goto(self) -> None:
        def done(value: str | None) -> None:
            if value is None:
                return
            try:
                seq = int(value.strip().lstrip("#"))
            except ValueError:
                self.notify(safe_line(f"Not a seq number: {value!r}"), severity="warning", markup=False)
                return
            self.goto(seq, remember=True)

        self.app.push_screen(
            PromptScreen("Go to seq", f"1 … {self.session.total}", hint="An event number (seq)."), done
        )

    def action_cycle_thread(self, direction: int) -> None:
        order = self.session.thread_order()
        threads = self.session.rollout["threads"]
        visible = [t for t in order if threads[t]["execution"]["started_seq"] <= self.position] or order
        if not visible:
            return
        index = visible.index(self.thread_id) if self.thread_id in visible else -1
        self.thread_id = visible[(index + direction) % len(visible)]
        self.show()

    # ----- actions: search ---------------------------------------------------------
    def action_search(self) -> None:
        def done(value: str | None) -> None:
            if value is None:
                return
            self.run_search(value)

        self.app.push_screen(
            PromptScreen(
                "Search items",
                "regex  role:user  kind:function_call",
                value=self.query_text,
                hint="Regex over item text (case-insensitive); role:/kind: filter. n/N: next/previous hit.",
            ),
            done,
        )

    def run_search(self, query: str) -> None:
        self.query_text = query
        roles = [m.group(2) for m in _FILTER.finditer(query) if m.group(1) == "role"]
        kinds = [m.group(2) for m in _FILTER.finditer(query) if m.group(1) == "kind"]
        pattern = _FILTER.sub("", query).strip()
        try:
            self.hits = self.session.search(pattern, roles=roles, kinds=kinds)
        except re.error as error:
            self.hits = []
            self.notify(safe_line(f"Invalid regex: {error}"), severity="error", markup=False)
            return
        if not self.hits:
            self.hit_index = -1
            self.message = f"No items match {query!r}."
            self.show()
            return
        self.hit_index = next((i for i, hit in enumerate(self.hits) if hit.seq >= self.position), 0) - 1
        self.action_search_step(1)

    def action_search_step(self, direction: int) -> None:
        if not self.hits:
            self.message = "No search hits (/ to search)."
            self.show()
            return
        self.hit_index = (self.hit_index + direction) % len(self.hits)
        hit = self.hits[self.hit_index]
        self._select_after = hit.item_id
        seq = self.session.first_in_context(hit.item_id) or hit.seq
        self.goto(max(seq, 1), thread_id=hit.thread_id)

    # ----- actions: views ----------------------------------------------------------
    def action_toggle_diff(self) -> None:
        self.options.diff = not self.options.diff
        self.show()

    def action_toggle_replaced(self) -> None:
        self.options.show_all_replaced = not self.options.show_all_replaced
        self.show()

    def action_toggle_provenance(self) -> None:
        context = self.context
        context.provenance = not context.provenance
        context.clear_cache()
        self.show()

    def action_toggle_drawer(self, name: str) -> None:
        self.drawer = None if self.drawer == name else name
        self.query_one(InspectorPane).display = self.drawer == "inspector"
        self.query_one(UsagePane).display = self.drawer == "usage"
        self.show()

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen())

    def action_quit(self) -> None:
        self.app.exit(0)

    # ----- actions: edges ----------------------------------------------------------
    def _anchors(self) -> list[tuple[str, str]]:
        """Objects the user is pointing at: focused pane's selection first, then the current event's objects."""
        anchors: list[tuple[str, str]] = []
        focused = self.focused
        if isinstance(focused, ContextPane):
            block = focused.selected_block()
            if block is not None and block.item_id:
                anchors.append(("conversation_item", block.item_id))
        if isinstance(focused, TimelinePane) and focused.cursor is not None and focused.blocks:
            row = focused.blocks[focused.cursor]
            kind = {"tool": "tool_call", "thread": "thread"}.get(row.kind)
            if kind:
                anchors.append((kind, row.object_id))
        change = self.session.change_at(self.position)
        if change is not None:
            rollout = self.session.rollout
            for object_id in (*change.created, *change.updated):
                if object_id in rollout["tool_calls"]:
                    anchors.append(("tool_call", object_id))
                elif object_id in rollout["conversation_items"]:
                    anchors.append(("conversation_item", object_id))
        return anchors

    @staticmethod
    def _anchor_of(end: dict[str, Any]) -> tuple[str, str] | None:
        kind = end.get("type")
        for key in ("item_id", "tool_call_id", "thread_id"):
            if isinstance(end.get(key), str):
                return str(kind), end[key]
        return None

    def action_edge(self) -> None:
        edges = list(self.session.rollout["interaction_edges"].values())
        for anchor in self._anchors():
            for forward in (True, False):
                for edge in edges:
                    here = self._anchor_of(edge.get("source" if forward else "target") or {})
                    if here != anchor:
                        continue
                    there = self._anchor_of(edge.get("target" if forward else "source") or {})
                    if there is not None and self._go_to_anchor(there, edge):
                        return
        self.message = "No interaction edge from here (select a spawn/send tool call or an agent message)."
        self.show()

    def _go_to_anchor(self, anchor: tuple[str, str], edge: dict[str, Any]) -> bool:
        kind, object_id = anchor
        rollout = self.session.rollout
        self.history.append(Place(self.position, self.thread_id))
        if kind == "conversation_item":
            item = rollout["conversation_items"].get(object_id)
            if item is None:
                return False
            seq = self.session.first_in_context(object_id) or self.session.first_seq(object_id) or self.position
            self._select_after = object_id
            self.message = f"{edge.get('kind')}: → {object_id}"
            self.goto(seq, thread_id=item.get("thread_id"))
            return True
        if kind == "tool_call":
            tool = rollout["tool_calls"].get(object_id)
            if tool is None:
                return False
            self.message = f"{edge.get('kind')}: → tool call {object_id}"
            self.goto(tool["execution"]["started_seq"], thread_id=tool.get("thread_id"))
            return True
        if kind == "thread":
            thread = rollout["threads"].get(object_id)
            if thread is None:
                return False
            self.message = f"{edge.get('kind')}: → thread {thread.get('agent_path')}"
            self.goto(max(self.position, thread["execution"]["started_seq"]), thread_id=object_id)
            return True
        return False

    def action_back(self) -> None:
        if not self.history:
            self.message = "Nothing to go back to."
            self.show()
            return
        place = self.history.pop()
        self.goto(place.position, thread_id=place.thread_id)

    # ----- follow --------------------------------------------------------------------
    def action_toggle_follow(self) -> None:
        self.following = not self.following
        self.auto_followed = False
        if self.following:
            if self.session.finished and not self.session.closed:
                # The end-of-log checks already ran on this unfinished bundle: reload it live.
                old = self.session
                self.session = ReplaySession(old.path, follow=True)
                self.session.load_all()
                self._rows_revision = -1
            self.session.follow = True
            self.goto(self.session.total)
            self._start_following()
        else:
            self._stop_following()
            self.show()

    def _start_following(self) -> None:
        if self._follow_worker is None or self._follow_worker.is_finished:
            self._follow_worker = self.run_worker(self._follow(), group="follow", exclusive=True)

    def _stop_following(self) -> None:
        if self._watcher is not None:
            self._watcher.wake()
        if self._follow_worker is not None:
            self._follow_worker.cancel()
            self._follow_worker = None

    def on_unmount(self) -> None:
        self._stop_following()

    def _leaving(self) -> bool:
        """The screen is being taken down (app exit, screen switch): its panes may be gone already."""
        return not self.is_attached or bool(getattr(self, "_pruning", False))

    def _open_watcher(self) -> Watcher | None:
        try:
            return watch_bundle(self.session.path)
        except OSError:
            return None  # the directory is not there (any more): look again on a short timer

    async def _follow(self) -> None:
        """Apply new events whenever the bundle changes; redraw at most every ``MIN_FRAME_S``.

        The watcher is (re)made before each poll, so a write landing between the
        poll and the wait still ends the wait. Idle, this blocks in the watcher
        (a safety-net poll every ``IDLE_TIMEOUT_S``); while an event waits for
        its payload it looks again after a short timeout. An auto-followed bundle
        left untouched for ``RECENT_SECONDS`` is then shown as it is (offline).
        """
        loop = asyncio.get_running_loop()
        watcher: Watcher | None = None
        last_draw = 0.0
        last_stale_check = loop.time()
        dirty = False
        try:
            while self.following and not self._leaving():
                if not self.loaded:
                    await asyncio.sleep(WAITING_TIMEOUT_S)  # the progressive load catches up first
                    continue
                if watcher is None:
                    watcher = self._watcher = self._open_watcher()
                session = self.session
                dirty |= self._follow_poll(session)
                if session.reset_reason:
                    self._log_reset(session.reset_reason)
                    return
                if dirty:
                    pause = last_draw + MIN_FRAME_S - loop.time()
                    if pause > 0:
                        await asyncio.sleep(pause)  # whatever arrives meanwhile joins this frame
                        continue
                    if self._leaving():
                        return
                    self.show()
                    last_draw = loop.time()
                    dirty = False
                if session.finished or session.stopped:
                    return  # nothing more will be applied
                if not session.done:
                    await asyncio.sleep(0)  # more on disk than one poll's budget: let a frame through
                    continue
                # A torn line's end shows as a change of the log; a payload file may not (poll backend).
                timeout = WAITING_TIMEOUT_S if session.awaiting_payload or watcher is None else IDLE_TIMEOUT_S
                if watcher is not None:
                    changed = await watcher.wait_async(timeout)
                else:
                    changed = False
                    await asyncio.sleep(timeout)
                if not changed and self.auto_followed and loop.time() - last_stale_check >= STALE_CHECK_S:
                    last_stale_check = loop.time()
                    if not recently_modified(session.path):
                        self._writer_gone()
                        return
        finally:
            if watcher is not None:
                watcher.close()
            if self._watcher is watcher:
                self._watcher = None

    def _follow_poll(self, session: ReplaySession) -> bool:
        """Apply what is new; keep the position pinned to the newest event unless the user looked back."""
        pinned = self.position >= session.total
        revision = session.revision
        added = session.poll(budget_s=POLL_BUDGET_S)
        if added:
            if pinned:
                self.position = session.total
            else:
                self.new_events += added
        return added > 0 or session.revision != revision

    def _writer_gone(self) -> None:
        """Auto-follow found the bundle untouched for a while: show it as it is, like an offline open."""
        session = self.session
        pinned = self.position >= session.total
        self.following = self.auto_followed = False
        session.follow = False
        session.poll()  # not following: reads what is left and runs the end-of-log checks
        if pinned:
            self.position = session.total
        self.message = "Nothing was written for a while: showing the bundle as it is (f follows it again)."
        self.show()

    def _log_reset(self, reason: str) -> None:
        """The log shrank or was swapped: incremental reading cannot go on. Say so and offer a reload."""
        self.following = False
        self.auto_followed = False
        self.reload_needed = reason
        self.message = f"{reason}. Press r to reload the bundle from the start."
        self.notify(
            safe_line(f"{reason}. Press r to reload the bundle from the start."),
            title="The trace log changed under the viewer",
            severity="error",
            timeout=30,
            markup=False,
        )
        self.show()

    def bundle_live(self) -> bool:
        """The open bundle may still grow (for the root follower: switch to a new bundle or only offer it)."""
        session = self.session
        if session.closed or session.stopped:
            return False
        return bundle_is_live(session.path)

    def offer_bundle(self, path: Path) -> None:
        """A newer bundle appeared under the followed root; the one open is still live, so only offer it."""
        self.offered = path
        self.notify(
            safe_line(f"{path.name} started. Press o to open it."),
            title="New bundle",
            timeout=20,
            markup=False,
        )
        self._show_header()

    def open_other(self, path: Path, *, follow: bool | None = None) -> None:
        """Replace this screen by a viewer of ``path`` (the same path: a reload from scratch)."""
        self._stop_following()
        follow = self.following if follow is None else follow
        self.app.sub_title = path.name
        viewer = ViewerScreen(ReplaySession(path, follow=follow), follow=follow, auto_follow=self.auto_follow)
        self.app.switch_screen(viewer)

    def action_reload(self) -> None:
        self.open_other(self.session.path, follow=self.following or self.reload_needed is not None)

    def action_to_list(self) -> None:
        from trace_viewer.app.screens.picker import PickerScreen

        if not any(isinstance(screen, PickerScreen) for screen in self.app.screen_stack[:-1]):
            self.message = "Not opened from a bundle list."
            self.show()
            return
        self._stop_following()
        self.app.pop_screen()

    def action_open_offered(self) -> None:
        if self.offered is None:
            self.message = "No new bundle to open (new bundles are offered when following a trace root)."
            self.show()
            return
        self.open_other(self.offered, follow=True)

    # ----- messages from panes -------------------------------------------------------
    def on_block_list_activated(self, message: BlockList.Activated) -> None:
        if message.owner is self.timeline:
            row: TimelineRow = message.block
            if row.kind == "fault":
                self.goto(self.session.total, remember=True)
            else:
                self.goto(row.start_seq, thread_id=row.thread_id, remember=True)

    def on_context_pane_toggled(self, message: ContextPane.Toggled) -> None:
        self.options.expanded_groups ^= {message.key}
        self.show()
