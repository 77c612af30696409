"""The Textual application: opens a bundle (or a picker over a folder of bundles)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from pathlib import Path

from textual.app import App, SystemCommand
from textual.screen import Screen

from trace_viewer.app import gc_policy
from trace_viewer.app.commands import COMMANDS
from trace_viewer.app.follow import RootFollower
from trace_viewer.app.screens.picker import PickerScreen
from trace_viewer.app.screens.viewer import ViewerScreen
from trace_viewer.session import ReplaySession


class TraceViewerApp(App[int]):
    """``target`` is a bundle directory, or a folder holding bundles (then a picker opens first).

    ``auto_follow``: follow a bundle that is still being written even without ``follow``.
    """

    CSS_PATH = "viewer.tcss"
    TITLE = "trace-viewer"

    def __init__(self, target: Path, *, follow: bool = False, picker: bool = False, auto_follow: bool = True) -> None:
        super().__init__()
        self.target = target
        self.follow = follow
        self.auto_follow = auto_follow
        self.picker = picker
        self.root_follower: RootFollower | None = None  # --follow ROOT: picks up new bundles

    def on_mount(self) -> None:
        # Big traces make full GCs stall frames; see gc_policy for the why and the measurements.
        gc_policy.install()
        if self.picker:
            self.push_screen(PickerScreen(self.target, live=self.follow))
            if self.follow:
                self.root_follower = RootFollower(self, self.target)
                self.run_worker(self.root_follower.run(), group="root-follow")
        else:
            self.open_bundle(self.target)

    def on_unmount(self) -> None:
        gc_policy.restore()

    def open_bundle(self, path: Path) -> None:
        self.sub_title = str(path.name)
        session = ReplaySession(path, follow=self.follow)
        self.push_screen(ViewerScreen(session, follow=self.follow, auto_follow=self.auto_follow))

    def on_picker_screen_chosen(self, message: PickerScreen.Chosen) -> None:
        self.open_bundle(message.path)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        if isinstance(screen, ViewerScreen):
            for command in COMMANDS:
                yield SystemCommand(
                    command.title,
                    f"{command.keys} — {command.help}",
                    partial(self.run_action, command.action, screen),
                )
        yield from super().get_system_commands(screen)
