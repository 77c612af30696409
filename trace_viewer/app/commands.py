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
    priority: bool = False


# The footer shows its keys in this order and cuts what does not fit: help and quit come first
# so that they survive at 80 columns.
COMMANDS: tuple[Command, ...] = (
    Command("help", "question_mark", "?", "Help", "Show all keys and the legend of the status glyphs", True),
    Command("quit", "q", "q", "Quit", "Quit trace-viewer", True),
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
        "Regex over item text, matches highlighted; role:user / kind:reasoning narrow the view",
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
    Command("timeline_width(1)", "greater_than_sign", ">", "Wider timeline", "Widen the timeline (shows it if hidden)"),
    Command(
        "timeline_width(-1)", "less_than_sign", "<", "Narrower timeline", "Narrow the timeline; once more hides it"
    ),
    Command("maximize_pane", "z", "z", "Maximise pane", "Maximise the focused pane, or restore the layout"),
    Command("show_path", "w", "w", "Bundle path", "Show the open bundle's full path (and copy it)"),
    Command("toggle_follow", "f", "f", "Follow", "Follow the trace as it is written (End: back to live)"),
    Command(
        "reload",
        "r",
        "r",
        "Reload",
        "Reopen the bundle from the start (after its log was truncated or replaced)",
    ),
    Command("open_offered", "o", "o", "Open new bundle", "Open the new bundle that appeared under the followed root"),
    Command(
        "open_run_bundle",
        "B",
        "B",
        "Open run's bundle",
        "Session rollout: open the trace bundle of the same run (tool schemas, retries, request bodies)",
    ),
    Command("to_list", "escape", "Esc", "Bundle list", "Back to the list of bundles (when opened from one)"),
)

# Keys handled by the focused pane or by Textual itself, listed in the help only.
PANE_KEYS: tuple[tuple[str, str], ...] = (
    ("Tab / shift+Tab", "Move focus between timeline, context and inspector"),
    ("↑ ↓ j k, PgUp PgDn", "Move the cursor / scroll in the focused pane"),
    ("ctrl+d / ctrl+u", "Scroll the focused pane half a page down / up"),
    ("Enter (timeline)", "Jump to the row's event and thread (a tool call the cursor reached: its details)"),
    ("Space (timeline)", "Fold or unfold the row's children"),
    ("Enter (context)", "On a tool call or its output: the call's details; else expand or fold"),
    ("Space (context)", "Expand or fold an item; open or close a group of replaced items"),
    ("shift+← →  (inspector)", "Scroll long JSON lines sideways"),
    ("ctrl+p", "Command palette: every action by name (Screenshot saves an SVG and says where)"),
    ("mouse", "Click a timeline row to jump (also to a dimmed row not reached yet); click an item twice to expand"),
)
