"""Every viewer action in one table: key bindings, the `?` help and the command palette all read it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Command:
    action: str  # Textual action string on the viewer screen
    bind: str  # Textual key names, comma separated
    keys: str  # as shown to people
    title: str  # short, for the footer and the palette
    help: str
    footer: bool = False


COMMANDS: tuple[Command, ...] = (
    Command("step(1)", "right,l", "→ l", "Next event", "Step one event forward", True),
    Command("step(-1)", "left,h", "← h", "Previous event", "Step one event back", True),
    Command("jump('inference', 1)", "right_square_bracket", "]", "Next model call", "Jump to the next inference start"),
    Command(
        "jump('inference', -1)",
        "left_square_bracket",
        "[",
        "Previous model call",
        "Jump to the previous inference start",
    ),
    Command("jump('turn', 1)", "right_curly_bracket", "}", "Next turn", "Jump to the next codex turn start"),
    Command("jump('turn', -1)", "left_curly_bracket", "{", "Previous turn", "Jump to the previous codex turn start"),
    Command(
        "jump('compaction', 1)",
        "c",
        "c",
        "Next compaction",
        "Jump to the next compaction (remote or detected local)",
        True,
    ),
    Command("jump('compaction', -1)", "C", "C", "Previous compaction", "Jump to the previous compaction"),
    Command("first", "home,g", "Home g", "First event", "Go to the first event"),
    Command("last", "end,G", "End G", "Last event", "Go to the last event (the newest context)"),
    Command("goto", "colon", ":", "Go to seq", "Go to an event by its seq number"),
    Command(
        "search",
        "slash",
        "/",
        "Search",
        "Regex over item text; add role:user / kind:reasoning to filter",
        True,
    ),
    Command("search_step(1)", "n", "n", "Next hit", "Next search hit"),
    Command("search_step(-1)", "N", "N", "Previous hit", "Previous search hit"),
    Command("toggle_diff", "d", "d", "Diff", "Show what changed since this thread's previous model call", True),
    Command("toggle_drawer('inspector')", "i", "i", "Inspector", "Raw event and payload JSON at this position", True),
    Command("toggle_drawer('usage')", "u", "u", "Usage", "Tokens, context size per call, context composition", True),
    Command("cycle_thread(1)", "t", "t", "Next thread", "Show the next thread's context", True),
    Command("cycle_thread(-1)", "T", "T", "Previous thread", "Show the previous thread's context"),
    Command("toggle_replaced", "b", "b", "Before/after", "Show or hide items replaced by compactions (before/after)"),
    Command("toggle_provenance", "p", "p", "Provenance", "Show who produced each item and when it was first seen"),
    Command(
        "edge",
        "e",
        "e",
        "Follow edge",
        "From a spawn/send tool call to the item it delivered; from an agent result to the parent's notification",
    ),
    Command("back", "E", "E", "Back", "Return to where the last jump came from"),
    Command("toggle_follow", "f", "f", "Follow", "Follow the trace as it is written (End: back to live)"),
    Command(
        "reload",
        "r",
        "r",
        "Reload",
        "Reopen the bundle from the start (after its log was truncated or replaced)",
    ),
    Command("open_offered", "o", "o", "Open new bundle", "Open the new bundle that appeared under the followed root"),
    Command("to_list", "escape", "Esc", "Bundle list", "Back to the list of bundles (when opened from one)"),
    Command("help", "question_mark", "?", "Help", "Show all keys", True),
    Command("quit", "q", "q", "Quit", "Quit trace-viewer", True),
)

# Keys handled by the focused pane or by Textual itself, listed in the help only.
PANE_KEYS: tuple[tuple[str, str], ...] = (
    ("Tab / shift+Tab", "Move focus between timeline, context and inspector"),
    ("↑ ↓ j k, PgUp PgDn", "Move the cursor / scroll in the focused pane"),
    ("Enter (timeline)", "Jump to the row's event and thread"),
    ("Space (timeline)", "Fold or unfold the row's children"),
    ("Enter / Space (context)", "Expand or fold an item; open or close a group of replaced items"),
    ("shift+← →  (inspector)", "Scroll long JSON lines sideways"),
    ("ctrl+p", "Command palette: every action by name"),
    ("mouse", "Click a timeline row to jump; click an item twice to expand it"),
)
