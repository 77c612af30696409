"""The main screen: header, timeline | context (+ inspector/usage drawer), event bar, footer.

The screen holds one reactive ``ViewState`` (position, thread, panes, modes,
follow status); every pane is bound to it and renders from it and the session.
Actions only compute the next state. Loading and watching run in workers that
post messages (``messages.py``); nothing here mutates the session's state: the
session replays, the screen only reads.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer
from textual.worker import Worker

from trace_viewer.app import gc_policy
from trace_viewer.app.commands import COMMANDS
from trace_viewer.app.follow import watch_bundle_worker
from trace_viewer.app.messages import BundleChanged, JumpTo, OpenBundle, SessionGrew, ShowToolCall, WatchFailed
from trace_viewer.app.navigation import JUMP_NAMES, edge_landing, event_anchors, event_thread, jump_target, root_thread
from trace_viewer.app.render import safe_line
from trace_viewer.app.screens.base_picker import BasePickerScreen
from trace_viewer.app.screens.help import HelpScreen
from trace_viewer.app.screens.prompt import PromptScreen
from trace_viewer.app.screens.tool_detail import ToolDetailScreen
from trace_viewer.app.state import Live, Search, ViewState, next_width
from trace_viewer.app.widgets.context import ContextPane
from trace_viewer.app.widgets.eventbar import EventBar
from trace_viewer.app.widgets.header import TraceHeader
from trace_viewer.app.widgets.inspector import InspectorPane
from trace_viewer.app.widgets.lines import COMPONENT_CLASSES
from trace_viewer.app.widgets.timeline import TimelinePane
from trace_viewer.app.widgets.usage import UsagePane
from trace_viewer.bundle.event_log import EVENT_LOG_FILE
from trace_viewer.rollout_session import is_rollout_session
from trace_viewer.session import ReplaySession
from trace_viewer.tokens.view import SessionTokens

# How long one slice of progressive loading may hold the UI before it redraws.
LOAD_SLICE_SECONDS = 0.05
# Loading goes on this long after the first slice, once the first frame is drawn.
FIRST_FRAME_S = 0.05
# The first slice is longer: small bundles load completely before the first frame.
FIRST_SLICE_SECONDS = 0.1
# While loading, the panes follow the growing trace after this long, then twice as long each time (each
# redraw rebuilds the timeline and context, and costs more as the trace grows: at a fixed rate a slow
# machine spent half the load redrawing); the header's progress figure moves after every slice.
REDRAW_SECONDS = 1.0

# Following: how much of the UI loop one read may take before the screen gets a chance to draw.
POLL_BUDGET_S = 0.05
# An event waiting for its payload file is looked at again this soon (even if nothing seems to change).
PAYLOAD_RETRY_S = 0.05
# A torn last line is "pending" while writes arrive; after this long without one it is shown as cut off.
QUIET_S = 5.0


class RedrawSchedule:
    """When the panes follow a loading trace: ``REDRAW_SECONDS`` after the start, then after twice as
    long as the previous wait each time (the redraws' share of the load stays small however long it is)."""

    def __init__(self, start: float, first_s: float = REDRAW_SECONDS) -> None:
        self.last = start
        self.interval = first_s

    def due(self, now: float) -> bool:
        if now - self.last < self.interval:
            return False
        self.last = now
        self.interval *= 2
        return True


def _disk_stamp(path: Path) -> tuple[object, ...]:
    """What changes when Codex writes to a bundle: the log's size and time, the directories' times."""
    stamp: list[object] = []
    for candidate in (path / EVENT_LOG_FILE, path, path / "payloads"):
        try:
            status = os.stat(candidate)
            stamp.append((status.st_ino, status.st_size, status.st_mtime_ns))
        except OSError:
            stamp.append(None)
    return tuple(stamp)


class ViewerScreen(Screen[None]):
    """One bundle, scrubbable event by event."""

    COMPONENT_CLASSES: ClassVar[set[str]] = set(COMPONENT_CLASSES)

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(command.bind, command.action, command.title, show=command.footer, priority=command.priority)
        for command in COMMANDS
    ]

    view: reactive[ViewState] = reactive(ViewState, init=False, always_update=False, repaint=False)
    # Progress of the initial load (None once loaded): only the header shows it, so it is apart from the view.
    progress: reactive[float | None] = reactive(None, init=False, repaint=False)

    def __init__(self, session: ReplaySession, *, follow: bool = False, observed: bool = False) -> None:
        super().__init__()
        self.tv_palette = None
        self.session = session
        self.loaded = False
        self.history: list[tuple[int, str | None]] = []  # where jumps came from, for `E`
        self._initial = ViewState(live=Live(following=follow, observed=observed and follow))
        self.set_reactive(ViewerScreen.view, self._initial)  # readable before the screen mounts
        self._watch_worker: Worker[None] | None = None
        self.watch_ready = False  # the bundle watch is in place: every later write is noticed
        self._poll_pending = False
        self._quiet_timer: Timer | None = None
        # When a write was last seen: opened because writes were observed counts as one.
        self._last_write = time.monotonic() if self._initial.live.observed else 0.0
        self._stamp: tuple[object, ...] | None = None  # the bundle on disk when opened offline
        # Token counts for the usage pane and the diff (tokens' view-model); counted on first use.
        self.tokens: SessionTokens | None = SessionTokens(session)

    # ----- layout -----------------------------------------------------------------
    def compose(self) -> ComposeResult:
        session = self.session
        yield TraceHeader(session, id="header").data_bind(ViewerScreen.view, ViewerScreen.progress)
        with Horizontal(id="body"):
            yield TimelinePane(session, id="timeline").data_bind(ViewerScreen.view)
            with Vertical(id="right"):
                yield ContextPane(session, self.tokens, id="context").data_bind(ViewerScreen.view)
                yield InspectorPane(session, id="inspector").data_bind(ViewerScreen.view)
                yield UsagePane(session, self.tokens, id="usage").data_bind(ViewerScreen.view)
        yield EventBar(session, id="eventbar").data_bind(ViewerScreen.view)
        yield Footer()

    @property
    def timeline(self) -> TimelinePane:
        return self.query_one(TimelinePane)

    @property
    def context(self) -> ContextPane:
        return self.query_one(ContextPane)

    # Read-only views of the state, for the app, tests and benchmarks.
    @property
    def position(self) -> int:
        return self.view.position

    @property
    def thread_id(self) -> str | None:
        return self.view.thread_id

    @property
    def following(self) -> bool:
        return self.view.live.following

    @property
    def new_events(self) -> int:
        return self.view.live.new_events

    def on_mount(self) -> None:
        self.timeline.border_title = "Timeline"
        self.context.border_title = "Context"
        self.query_one(InspectorPane).border_title = "Inspector"
        self.query_one(UsagePane).border_title = "Usage"
        session = self.session
        session.follow = self._initial.live.following or session.follow
        if not session.follow:
            self._stamp = _disk_stamp(session.path)
        session.load(budget_s=FIRST_SLICE_SECONDS)
        gc_policy.freeze_loaded_state()
        self.progress = None if session.done else session.progress()
        self.view = self._at_end(self._initial)
        if session.done:
            self._loaded()
        else:
            # After the first frame is on the terminal: the loading slices would otherwise delay it.
            self.call_after_refresh(self.run_worker, self._load_rest(), exclusive=True, group="load")
        self.watch(self.app, "theme", self._theme_changed, init=False)
        for warning in session.warnings:
            self.notify(safe_line(warning), severity="warning", timeout=10, markup=False)
        if is_rollout_session(session):
            self._rollout_notes(session)
        self.context.focus()

    def watch_view(self, old: ViewState, view: ViewState) -> None:
        """Layout follows the state: which drawer is open, how wide the timeline is."""
        if old.drawer != view.drawer:
            self.query_one(InspectorPane).display = view.drawer == "inspector"
            self.query_one(UsagePane).display = view.drawer == "usage"
        if old.timeline != view.timeline:
            timeline = self.timeline
            for width in ("hidden", "narrow", "wide"):
                timeline.set_class(view.timeline == width, f"-{width}")
            if view.timeline == "hidden" and timeline.has_focus:
                self.context.focus()

    def _theme_changed(self) -> None:
        # The stylesheet is re-applied after the theme changes; restyle once it has been.
        self.call_after_refresh(self._restyle)

    def _restyle(self) -> None:
        """Named styles come from the theme: drop everything rendered with the old one."""
        self.refresh()  # also drops the screen's cache of component styles
        self.tv_palette = None
        for pane in (self.timeline, self.context, self.query_one(InspectorPane)):
            pane.clear_cache()
        view = self.view
        # Re-render every bound pane with the new palette.
        self.view = replace(view, revision=-2)
        self.view = view

    # ----- loading ------------------------------------------------------------------
    def _at_end(self, view: ViewState) -> ViewState:
        """The view after the session grew: pinned to the newest event if it was at the end."""
        session = self.session
        at_end = view.revision < 0 or view.position >= self._shown_total
        self._shown_total = session.total
        position = session.total if at_end else view.position
        if at_end and view.live.new_events:
            view = replace(view, live=replace(view.live, new_events=0))
        return replace(
            view,
            position=position,
            thread_id=root_thread(session, view.thread_id),
            revision=session.revision,
        )

    _shown_total = 0

    async def _load_rest(self) -> None:
        """Progressive loading: a usable screen first, the rest in slices between frames."""
        # Let the bound panes take their first view and the first frame reach the terminal.
        await asyncio.sleep(FIRST_FRAME_S)
        loop = asyncio.get_running_loop()
        redraws = RedrawSchedule(loop.time())
        while not self.session.done:
            self.session.load(budget_s=LOAD_SLICE_SECONDS)
            gc_policy.freeze_loaded_state()  # what is loaded so far (see gc_policy)
            self.progress = None if self.session.done else self.session.progress()
            if redraws.due(loop.time()):
                self.post_message(SessionGrew(done=False))
            await asyncio.sleep(0)
        self.post_message(SessionGrew(done=True))

    def on_session_grew(self, message: SessionGrew) -> None:
        self.view = self._at_end(self.view)
        if message.done:
            self._loaded()

    def _loaded(self) -> None:
        self.loaded = True
        self.progress = None
        # Loaded: take the state out of the collector's sight (see gc_policy for why).
        gc_policy.freeze_loaded_state()
        session = self.session
        if self.following:
            self._start_watching()
        elif not session.closed and (session.replay.bundle is not None or is_rollout_session(session)):
            # Unfinished (no recording_completed / rollout_ended; a rollout can always be resumed):
            # if writes arrive, follow them.
            self._start_watching()

    # ----- following ------------------------------------------------------------------
    def _start_watching(self) -> None:
        if self._watch_worker is None or self._watch_worker.is_finished:
            # A rollout is a file: watch its folder (where sub-agents' files appear too).
            watched = self.session.path.parent if is_rollout_session(self.session) else self.session.path
            self._watch_worker = self.run_worker(watch_bundle_worker(watched, self), group="watch", exclusive=True)

    def _stop_watching(self) -> None:
        if self._watch_worker is not None:
            self._watch_worker.cancel()
            self._watch_worker = None
        self.watch_ready = False
        if self._quiet_timer is not None:
            self._quiet_timer.stop()
            self._quiet_timer = None

    def on_unmount(self) -> None:
        self._stop_watching()

    def on_bundle_changed(self, message: BundleChanged) -> None:
        if self._watch_worker is None:
            # From a watch stopped since (its last messages can still be queued): e.g. a second write
            # seen on a bundle opened offline must not ask for a second live viewer.
            return
        if message.ready:
            self.watch_ready = True
        if not self.following:
            # Opened offline, unfinished: follow only once a write is actually seen.
            if self._stamp is None or _disk_stamp(self.session.path) == self._stamp:
                return
            self._stop_watching()
            self.post_message(OpenBundle(self.session.path, follow=True, observed=True, replace=True))
            return
        if not message.ready:  # (the first message only says the watch is in place: not a write)
            self._last_write = time.monotonic()
            if self.view.live.quiet:
                self.view = replace(self.view, live=replace(self.view.live, quiet=False))
        if self._quiet_timer is None:
            self._quiet_timer = self.set_timer(QUIET_S, self._check_quiet)
        else:
            self._quiet_timer.reset()
        self._schedule_poll()

    def on_watch_failed(self, message: WatchFailed) -> None:
        if self.following:
            self.notify(safe_line(f"Cannot watch the bundle: {message.reason}"), severity="warning", markup=False)

    def _schedule_poll(self, delay: float = 0.0) -> None:
        if self._poll_pending:
            return
        self._poll_pending = True
        if delay:
            self.set_timer(delay, self._poll)
        else:
            self.call_after_refresh(self._poll)

    def _poll(self) -> None:
        """Apply what is new; keep the position pinned to the newest event unless the user looked back."""
        self._poll_pending = False
        session = self.session
        if not self.following or not self.is_attached:
            return
        revision = session.revision
        added = session.poll(budget_s=POLL_BUDGET_S)
        if session.reset_reason:
            self._log_reset(session.reset_reason)
            return
        if added or session.revision != revision:
            view = self.view
            if view.position < self._shown_total:
                view = replace(view, live=replace(view.live, new_events=view.live.new_events + added))
            self.view = self._at_end(view)
        if session.finished or session.stopped:
            self._stop_watching()
        elif not session.done:
            self._schedule_poll()  # more on disk than one read's budget: after this frame
        elif session.awaiting_payload:
            self._schedule_poll(PAYLOAD_RETRY_S)

    def _check_quiet(self) -> None:
        """No write for QUIET_S: a torn last line still waiting is shown as cut off (a write clears it)."""
        self._quiet_timer = None
        if self.following and self.session.waiting and time.monotonic() - self._last_write >= QUIET_S - 0.01:
            self.view = replace(self.view, live=replace(self.view.live, quiet=True))

    def _log_reset(self, reason: str) -> None:
        """The log shrank or was swapped: incremental reading cannot go on. Say so and offer a reload."""
        self._stop_watching()
        note = f"{reason}. Press r to reload the bundle from the start."
        self.view = replace(
            self.view,
            note=note,
            live=replace(self.view.live, following=False, observed=False, reload_reason=reason),
        )
        self.notify(safe_line(note), title="The trace log changed under the viewer", severity="error", timeout=30,
                    markup=False)  # fmt: skip

    def bundle_live(self) -> bool:
        """The open bundle is still being written: following, unfinished, and a write was seen lately."""
        session = self.session
        if not self.following or session.closed or session.stopped:
            return False
        return time.monotonic() - self._last_write < QUIET_S

    def offer_bundle(self, path: Path) -> None:
        """A newer bundle appeared under the followed root; the one open is still live, so only offer it."""
        self.view = replace(self.view, live=replace(self.view.live, offered=path))
        self.notify(safe_line(f"{path.name} started. Press o to open it."), title="New bundle", timeout=20,
                    markup=False)  # fmt: skip

    # ----- moving -------------------------------------------------------------------
    def goto(
        self,
        position: int,
        *,
        thread_id: str | None = None,
        remember: bool = False,
        focus_item: str | None = None,
        note: str | None = None,
    ) -> None:
        if remember:
            self.history.append((self.position, self.thread_id))
        session = self.session
        low = 1 if session.total else 0
        position = max(low, min(position, session.total))
        if thread_id is not None and thread_id not in session.rollout.threads:
            thread_id = None
        view = self.view.moved(position, thread_id=thread_id, focus_item=focus_item)
        if position >= session.total and view.live.new_events:
            view = replace(view, live=replace(view.live, new_events=0))
        self.view = replace(view, note=note)

    def say(self, note: str) -> None:
        self.view = replace(self.view, note=note)

    def action_step(self, delta: int) -> None:
        self.goto(self.position + delta)

    def action_first(self) -> None:
        self.goto(1, remember=True)

    def action_last(self) -> None:
        self.goto(self.session.total, remember=True)

    def action_jump(self, kind: str, direction: int) -> None:
        target = jump_target(self.session, kind, direction, self.position)
        if target is None:
            self.say(f"No {'next' if direction > 0 else 'previous'} {JUMP_NAMES.get(kind, kind)}.")
            return
        self.goto(target, thread_id=event_thread(self.session, target))

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

        prompt = PromptScreen("Go to seq", f"1 … {self.session.total}", hint="An event number (seq).")
        self.app.push_screen(prompt, done)

    def action_cycle_thread(self, direction: int) -> None:
        session = self.session
        order = session.thread_order()
        threads = session.rollout.threads
        visible = [t for t in order if threads[t].execution.started_seq <= self.position] or order
        if not visible:
            return
        index = visible.index(self.thread_id) if self.thread_id in visible else -1
        self.view = replace(self.view, thread_id=visible[(index + direction) % len(visible)], note=None)

    # ----- search ---------------------------------------------------------------------
    def action_search(self) -> None:
        def done(value: str | None) -> None:
            if value is not None:
                self.run_search(value)

        current = self.view.search.query if self.view.search else ""
        prompt = PromptScreen(
            "Search items",
            "regex  role:user  kind:function_call",
            value=current,
            hint="Regex over item text (case-insensitive); role:/kind: narrow the view. n/N: next/previous hit.",
        )
        self.app.push_screen(prompt, done)

    def run_search(self, query: str) -> None:
        search = Search.parse(query)
        if not query.strip():
            self.view = replace(self.view, search=None, note="Search cleared.")
            return
        try:
            hits = self.session.search(search.pattern, roles=search.roles, kinds=search.kinds)
        except re.error as error:
            self.notify(safe_line(f"Invalid regex: {error}"), severity="error", markup=False)
            return
        search = replace(search, hits=tuple((hit.seq, hit.thread_id, hit.item_id) for hit in hits))
        if not hits:
            self.view = replace(self.view, search=search, note=f"No items match {query!r}.")
            return
        index = next((i for i, hit in enumerate(hits) if hit.seq >= self.position), 0) - 1
        self.view = replace(self.view, search=replace(search, index=index))
        self.action_search_step(1)

    def action_search_step(self, direction: int) -> None:
        search = self.view.search
        if search is None or not search.hits:
            self.say("No search hits (/ to search).")
            return
        index = (search.index + direction) % len(search.hits)
        seq, thread_id, item_id = search.hits[index]
        position = max(self.session.first_in_context(item_id) or seq, 1)
        self.goto(position, thread_id=thread_id, focus_item=item_id)
        self.view = replace(self.view, search=replace(search, index=index, badge=True))

    # ----- views ---------------------------------------------------------------------
    def action_toggle_diff(self) -> None:
        self.view = replace(self.view, diff=not self.view.diff, note=None)

    def action_toggle_replaced(self) -> None:
        self.view = replace(self.view, show_replaced=not self.view.show_replaced, note=None)

    def action_toggle_provenance(self) -> None:
        self.view = replace(self.view, provenance=not self.view.provenance, note=None)

    def action_toggle_drawer(self, name: str) -> None:
        self.view = replace(self.view, drawer=None if self.view.drawer == name else name, note=None)
        if self.view.drawer == "usage":
            self.query_one(UsagePane).opened(loaded=self.loaded, growing=self.following)

    def action_timeline_width(self, direction: int) -> None:
        self.view = replace(self.view, timeline=next_width(self.view.timeline, direction))

    def action_maximize_pane(self) -> None:
        if self.maximized is not None:
            self.minimize()
            return
        focused = self.focused
        if focused is not None and not self.maximize(focused, container=False):
            self.say("This pane cannot be maximised.")

    def action_show_path(self) -> None:
        path = str(self.session.path.resolve())
        self.app.copy_to_clipboard(path)
        self.notify(safe_line(path), title="Bundle (copied to the clipboard)", timeout=15, markup=False)

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen())

    def action_quit(self) -> None:
        self.app.exit(0)

    def on_context_pane_toggled(self, message: ContextPane.Toggled) -> None:
        self.view = replace(self.view, expanded_groups=self.view.expanded_groups ^ {message.key})

    def on_jump_to(self, message: JumpTo) -> None:
        self.goto(message.position, thread_id=message.thread_id, remember=message.remember)

    def on_show_tool_call(self, message: ShowToolCall) -> None:
        self.app.push_screen(ToolDetailScreen(self.session, message.tool_call_id, self.position))

    # ----- edges ----------------------------------------------------------------------
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
        return anchors + event_anchors(self.session, self.position)

    def action_edge(self) -> None:
        landing = edge_landing(self.session, self._anchors(), self.position)
        if landing is None:
            self.say("No interaction edge from here (select a spawn/send tool call or an agent message).")
            return
        self.goto(landing.position, thread_id=landing.thread_id, remember=True, focus_item=landing.focus_item,
                  note=landing.note)  # fmt: skip

    def action_back(self) -> None:
        if not self.history:
            self.say("Nothing to go back to.")
            return
        position, thread_id = self.history.pop()
        self.goto(position, thread_id=thread_id)

    # ----- follow / bundles -----------------------------------------------------------
    def action_toggle_follow(self) -> None:
        session = self.session
        if not self.following:
            if session.finished and not session.closed:
                # The end-of-log checks already ran on this unfinished bundle: reopen it live.
                self.post_message(OpenBundle(session.path, follow=True, replace=True))
                return
            session.follow = True
            self.view = replace(self.view, live=replace(self.view.live, following=True))
            self.goto(session.total)
            self._start_watching()
            self._schedule_poll()
        else:
            self._stop_watching()
            self.view = replace(self.view, live=replace(self.view.live, following=False, observed=False, quiet=False))

    def action_reload(self) -> None:
        follow = self.following or self.view.live.reload_reason is not None
        self.post_message(OpenBundle(self.session.path, follow=follow, replace=True))

    def action_to_list(self) -> None:
        if not any(isinstance(screen, BasePickerScreen) for screen in self.app.screen_stack[:-1]):
            self.say("Not opened from a bundle list.")
            return
        self._stop_watching()
        self.app.pop_screen()

    def _rollout_notes(self, session: ReplaySession) -> None:
        """Say plainly what a rollout does not record, and offer the bundle of the same run when there is one."""
        limits = getattr(session, "limits", None)
        if limits:
            self.notify(safe_line(limits[0].upper() + limits[1:] + "."), title="Session rollout", timeout=12,
                        markup=False)  # fmt: skip
        bundles = getattr(session, "bundles", ())
        if bundles:
            note = f"A trace bundle of this run exists ({bundles[0].name}): press B to open it for the richer view."
            self.notify(safe_line(note), title="Richer view available", timeout=20, markup=False)

    def action_open_run_bundle(self) -> None:
        bundles = getattr(self.session, "bundles", ())
        if not bundles:
            self.say("No trace bundle of this run was found (set CODEX_ROLLOUT_TRACE_ROOT when running Codex).")
            return
        self.post_message(OpenBundle(bundles[0]))

    def action_open_offered(self) -> None:
        offered = self.view.live.offered
        if offered is None:
            self.say("No new bundle to open (new bundles are offered when following a trace root).")
            return
        self.post_message(OpenBundle(offered, follow=True, observed=True, replace=True))
