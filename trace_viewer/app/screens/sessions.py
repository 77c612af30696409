"""Choosing a session from a sessions tree (``$CODEX_HOME/sessions``): newest first, sub-agents under their parent.

Each row: start date, first user prompt, working directory, model, turns, status, and whether a
trace bundle of the same run was found. The listing is ``trace_viewer.rollout.sessions``'; this
screen only renders it. ``/`` filters by text (prompt, cwd, model, status, ``status:NAME``).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from trace_viewer.app.messages import OpenBundle
from trace_viewer.app.render import safe_line
from trace_viewer.app.widgets.lines import COMPONENT_CLASSES
from trace_viewer.rollout.sessions import SessionInfo, list_sessions, walk_sessions

_STATUS_STYLE = {
    "completed": "status-ok",
    "failed": "status-failed",
    "broken": "status-failed",
    "interrupted": "status-cancelled",
    "running": "status-running",
    "incomplete": "status-running",
    "empty": "status-cancelled",
}


def session_matches(info: SessionInfo, query: str) -> bool:
    haystack = " ".join(
        str(value or "") for value in (info.first_prompt, info.cwd, info.model, info.status, info.label, info.error)
    ).lower()
    for word in query.lower().split():
        if word.startswith("status:"):
            if info.status != word[len("status:") :]:
                return False
        elif word not in haystack:
            return False
    return True


_CWD_WIDTH = 32


def _clip_left(text: str, width: int) -> str:
    """The end of a long path (the project's own folder is what tells sessions apart)."""
    return text if len(text) <= width else "…" + text[-(width - 1) :]


def shown_root(root: Path) -> str:
    """The tree's path as a person writes it: ``~/.codex/sessions`` rather than the full home path."""
    try:
        home = Path.home()
    except RuntimeError:  # no home directory known
        return str(root)
    if root == home:
        return "~"
    return f"~/{root.relative_to(home)}" if root.is_relative_to(home) else str(root)


def _started(info: SessionInfo) -> str:
    started = info.started or "?"
    return started.replace("T", " ")[:19]


class SessionsPickerScreen(Screen[None]):
    """A table of the sessions under a sessions tree; Enter opens one, `/` filters."""

    COMPONENT_CLASSES: ClassVar[set[str]] = set(COMPONENT_CLASSES)

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open", show=True),
        Binding("slash", "filter", "Filter", show=True),
        Binding("r", "reload", "Refresh", show=True),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("q", "app.quit", "Quit", show=True),
    ]

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root
        self.rows: list[tuple[int, SessionInfo]] = []
        self.shown: list[tuple[int, SessionInfo]] = []
        self.query_text = ""

    def compose(self) -> ComposeResult:
        title = Text.assemble(("Sessions under ", "bold"), safe_line(shown_root(self.root)))
        title.append("  (sub-agent threads under their parent; ◆ a trace bundle of the run exists)", "dim")
        yield Static(title, id="picker-title")
        yield Input(placeholder="filter: prompt, cwd, model, status:completed …  (/ to focus)", id="picker-filter")
        yield DataTable(id="picker-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        # The prompt last: it is the one long column, so the others never scroll out of view.
        table.add_columns("started", "status", "turns", "model", "", "cwd", "first prompt")
        self.action_reload()
        table.focus()

    def action_reload(self) -> None:
        self.rows = walk_sessions(list_sessions(self.root))
        self._show()
        if not self.rows:
            self.notify("No sessions found here.", severity="warning")

    def _show(self) -> None:
        self.shown = [(depth, info) for depth, info in self.rows if session_matches(info, self.query_text)]
        table = self.query_one(DataTable)
        table.clear()
        styles = {
            name: self.get_component_rich_style(f"tv--{name}", partial=True) for name in set(_STATUS_STYLE.values())
        }
        for index, (depth, info) in enumerate(self.shown):
            prompt = info.first_prompt or ("(" + (info.error or "no prompt") + ")")
            if depth:
                prompt = "  " * depth + "└ " + (info.agent_path or info.label) + ": " + prompt
            table.add_row(
                Text(_started(info)),
                Text(info.status, style=styles.get(_STATUS_STYLE.get(info.status, ""), "")),
                Text(str(info.turns), justify="right"),
                Text(safe_line(info.model or "-")),
                Text("◆" if info.bundles else ""),
                Text(_clip_left(safe_line(info.cwd or "-"), _CWD_WIDTH)),
                Text(safe_line(prompt)),
                key=str(index),
            )

    def action_filter(self) -> None:
        self.query_one(Input).focus()

    def action_clear_filter(self) -> None:
        self.query_one(Input).value = ""
        self.query_one(DataTable).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.query_text = event.value
        self._show()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one(DataTable).focus()

    def action_open(self) -> None:
        table = self.query_one(DataTable)
        row = table.cursor_row
        if not self.shown or row is None or not (0 <= row < len(self.shown)):
            return
        self.post_message(OpenBundle(self.shown[row][1].path))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()
