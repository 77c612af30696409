"""The Textual application: opens a bundle (or a picker over a folder of bundles), and follows a trace root.

Screens never open each other: they post ``OpenBundle`` and the app decides
(push over the picker, or replace the viewer that asked). Following a root is
the app's ``watch_root_worker``, whose ``RootChanged`` messages land here.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from functools import partial
from pathlib import Path

from textual.app import App, SystemCommand
from textual.screen import Screen

from trace_viewer.app import gc_policy
from trace_viewer.app.commands import COMMANDS
from trace_viewer.app.follow import watch_root_worker
from trace_viewer.app.messages import OpenBundle, RootChanged
from trace_viewer.app.render import safe_line
from trace_viewer.app.screens.picker import PickerScreen
from trace_viewer.app.screens.sessions import SessionsPickerScreen
from trace_viewer.app.screens.viewer import ViewerScreen
from trace_viewer.bundle.watcher import BundleArrivals
from trace_viewer.rollout_session import open_session

# Where the palette's Screenshot command writes (default: the current directory).
SCREENSHOT_DIR_ENV = "TRACE_VIEWER_SCREENSHOTS"


class TraceViewerApp(App[int]):
    """``target`` is a bundle directory or a session rollout file, or a folder holding bundles
    (``picker``) or a sessions tree (``sessions``): then a picker opens first."""

    CSS_PATH = "viewer.tcss"
    TITLE = "trace-viewer"

    def __init__(
        self,
        target: Path,
        *,
        follow: bool = False,
        picker: bool = False,
        sessions: bool = False,
        note: str | None = None,
    ) -> None:
        super().__init__()
        self.target = target
        self.follow = follow
        self.picker = picker
        self.sessions = sessions
        self.note = note  # how a default target was chosen
        self.arrivals: BundleArrivals | None = None  # --follow ROOT: new bundles under the root

    def on_mount(self) -> None:
        # Big traces make full GCs stall frames; see gc_policy for the why and the measurements.
        gc_policy.install()
        if self.note:
            self.notify(safe_line(f"Opened the {self.note}."), markup=False)
        if self.sessions:
            self.push_screen(SessionsPickerScreen(self.target))
        elif self.picker:
            self.push_screen(PickerScreen(self.target, live=self.follow))
            if self.follow:
                self.arrivals = BundleArrivals(self.target)
                self.run_worker(watch_root_worker(self.target, self), group="root-follow")
        else:
            self.push_screen(self._viewer(self.target, follow=self.follow))

    def on_unmount(self) -> None:
        gc_policy.restore()

    def _viewer(self, path: Path, *, follow: bool, observed: bool = False) -> ViewerScreen:
        self.sub_title = path.name
        return ViewerScreen(open_session(path, follow=follow), follow=follow, observed=observed)

    # ----- opening --------------------------------------------------------------------
    def on_open_bundle(self, message: OpenBundle) -> None:
        viewer = self._viewer(message.path, follow=message.follow or self.follow, observed=message.observed)
        if message.replace and isinstance(self.screen, ViewerScreen):
            self.switch_screen(viewer)
        else:
            self.push_screen(viewer)
        if message.note:
            self.notify(safe_line(message.note), markup=False)

    # ----- following a root -------------------------------------------------------------
    def _picker(self) -> PickerScreen | None:
        return next((s for s in self.screen_stack if isinstance(s, PickerScreen)), None)

    def _viewer_screen(self) -> ViewerScreen | None:
        return next((s for s in reversed(self.screen_stack) if isinstance(s, ViewerScreen)), None)

    def on_root_changed(self, message: RootChanged) -> None:
        """Bundles may have appeared or grown: refresh the picker, open or offer what is new."""
        picker = self._picker()
        if picker is not None and self.screen is picker:
            picker.refresh_live()
        arrived = self.arrivals.check() if self.arrivals is not None else []
        if arrived:
            self.arrived(arrived[0])
        elif picker is not None and self.screen is picker:
            self._open_written(picker, message.paths)

    def _open_written(self, picker: PickerScreen, paths: frozenset[str]) -> None:
        """Writes seen inside an unfinished bundle of the list (Codex is writing it): open it."""
        for row in picker.rows:
            if row.info.finished:
                continue
            prefix = str(row.info.path) + os.sep
            if any(path.startswith(prefix) for path in paths):
                self.push_screen(self._viewer(row.info.path, follow=True, observed=True))
                self.notify(safe_line(f"Following {row.info.name} (writes observed)."), markup=False)
                return

    def arrived(self, path: Path) -> None:
        """Open a new bundle, switch to it, or only offer it, depending on what the user is looking at.

        A bundle that appeared while the root was followed was seen being written (``observed``).
        """
        viewer = self._viewer_screen()
        picker = self._picker()
        if viewer is None and self.screen is not picker:
            # A dialog is up over the picker: don't open a screen on top of it; the list shows the bundle.
            self.notify(safe_line(f"New bundle {path.name} (in the list)."), markup=False)
        elif viewer is None:
            self.push_screen(self._viewer(path, follow=True, observed=True))
            self.notify(safe_line(f"New bundle {path.name}: opened it."), markup=False)
        elif viewer.bundle_live() or self.screen is not viewer:
            # Watching something still moving (or a dialog is up): offer, don't yank the view away.
            viewer.offer_bundle(path)
        else:
            self.switch_screen(self._viewer(path, follow=True, observed=True))
            note = f"New bundle {path.name}: switched to it (the previous one had finished)."
            self.notify(safe_line(note), markup=False)

    # ----- palette ------------------------------------------------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        if isinstance(screen, ViewerScreen):
            for command in COMMANDS:
                yield SystemCommand(
                    command.title,
                    f"{command.keys} — {command.help}",
                    partial(self.run_action, command.action, screen),
                )
        yield from super().get_system_commands(screen)

    def action_screenshot(self, filename: str | None = None, path: str | None = None) -> None:
        """Save an SVG of the screen and say where (in a browser, the SVG is downloaded instead)."""
        if self.is_web:
            self.deliver_screenshot(filename, path)
            self.notify("Screenshot sent to the browser as a download.")
            return
        directory = path or os.environ.get(SCREENSHOT_DIR_ENV) or os.getcwd()
        try:
            written = self.save_screenshot(filename, directory)
        except OSError as error:
            self.notify(safe_line(f"Cannot write the screenshot to {directory}: {error}"), severity="error",
                        markup=False)  # fmt: skip
            return
        self.notify(safe_line(f"Screenshot written to {written}"), title="Screenshot", timeout=15, markup=False)
