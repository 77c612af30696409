"""Choosing a session from a sessions tree (``$CODEX_HOME/sessions``): newest first, sub-agents under their parent.

Each row: start date, first user prompt, working directory, model, turns, status, and whether a
trace bundle of the same run was found. The listing is ``trace_viewer.rollout.sessions``'; this
screen only renders it. ``/`` filters by text (prompt, cwd, model, status, ``status:NAME``).
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.notifications import SeverityLevel

from trace_viewer.app.render import safe_line
from trace_viewer.app.screens.base_picker import BasePickerScreen, Cells, Column, styled_by
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


class SessionsPickerScreen(BasePickerScreen[tuple[int, SessionInfo]]):
    """A table of the sessions under a sessions tree; Enter opens one, `/` filters."""

    # The prompt last: it is the one long column, so the others never scroll out of view.
    COLUMNS = (
        Column("started"),
        Column("status", style=styled_by(_STATUS_STYLE)),
        Column("turns", justify="right"),
        Column("model"),
        Column(""),  # ◆: a trace bundle of the same run exists
        Column("cwd"),
        Column("first prompt"),
    )
    FILTER_PLACEHOLDER = "filter: prompt, cwd, model, status:completed …  (/ to focus)"

    def heading(self) -> Text:
        title = Text.assemble(("Sessions under ", "bold"), safe_line(shown_root(self.root)))
        title.append("  (sub-agent threads under their parent; ◆ a trace bundle of the run exists)", "dim")
        return title

    def load_rows(self) -> list[tuple[int, SessionInfo]]:
        return walk_sessions(list_sessions(self.root))

    def empty_notice(self) -> tuple[str, SeverityLevel]:
        return "No sessions found here.", "warning"

    def matches(self, row: tuple[int, SessionInfo], query: str) -> bool:
        return session_matches(row[1], query)

    def row_path(self, row: tuple[int, SessionInfo]) -> Path:
        return row[1].path

    def row_cells(self, row: tuple[int, SessionInfo]) -> Cells:
        depth, info = row
        prompt = info.first_prompt or ("(" + (info.error or "no prompt") + ")")
        if depth:
            prompt = "  " * depth + "└ " + (info.agent_path or info.label) + ": " + prompt
        return (
            _started(info),
            info.status,
            str(info.turns),
            safe_line(info.model or "-"),
            "◆" if info.bundles else "",
            _clip_left(safe_line(info.cwd or "-"), _CWD_WIDTH),
            safe_line(prompt),
        )
