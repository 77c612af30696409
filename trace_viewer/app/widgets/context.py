"""The context pane: the selected thread's model-visible history at the current position."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import replace
from typing import ClassVar

from rich.console import RenderableType
from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip

from trace_viewer.app.messages import ShowToolCall
from trace_viewer.app.render import item_rows_estimate, render_item, safe, safe_line
from trace_viewer.app.state import ViewState
from trace_viewer.app.tool_detail import tool_call_of_item
from trace_viewer.app.views import Block, build_context, previous_call, tool_title
from trace_viewer.app.widgets.lines import BlockList, with_gutter
from trace_viewer.model import ConversationItem
from trace_viewer.session import ReplaySession
from trace_viewer.tokens.view import SessionTokens

_TOOL_ITEM_KINDS = ("function_call", "custom_tool_call", "function_call_output", "custom_tool_call_output")

_GROUP_NOUN = {
    "replaced": "replaced items",
    "dropped": "dropped items",
    "kept": "unchanged items",
    "replacement": "replacement items",
}


class ContextPane(BlockList[Block]):
    """Items rendered by kind, long ones folded; compaction boundaries as rules."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *BlockList.BINDINGS,
        Binding("enter", "open", "Open", show=False),
        Binding("space", "activate", "Fold/unfold", show=False),
    ]

    view: reactive[ViewState] = reactive(ViewState, init=False, always_update=False, repaint=False)

    GUTTER = 2

    class Toggled(Message):
        """A group (replaced/dropped/kept items) was opened or closed: the screen rebuilds blocks."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    def __init__(self, session: ReplaySession, tokens: SessionTokens | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session = session
        self.tokens = tokens
        self.position = 0
        self.provenance = False
        self.highlight: str | None = None
        self.focus_item: str | None = None
        self.expanded: set[str] = set()
        self._tool_labels: dict[str, str] = {}
        self._labels_revision = -1

    # ----- model ------------------------------------------------------------------
    def watch_view(self, old: ViewState, view: ViewState) -> None:
        session = self.session
        if view.thread_id is None:
            blocks: list[Block] = []
        else:
            blocks = build_context(session, view.thread_id, view.position, view.context_options())
            if view.diff and blocks and blocks[0].key == "diff":
                blocks[0] = self._with_token_delta(blocks[0], view.thread_id, view.position)
        style_changed = (old.provenance, old.highlight) != (view.provenance, view.highlight)
        self.provenance = view.provenance
        self.highlight = view.highlight
        if style_changed:
            self.clear_cache()
        follow_end = view.position >= session.total and not any(block.current for block in blocks)
        self.focus_item = view.focus_item
        self.update_view(session, view.position, blocks, follow_end=follow_end, top=view.diff and not old.diff)
        if view.focus_item is not None:
            self.select_item(view.focus_item)

    def _with_token_delta(self, header: Block, thread_id: str, position: int) -> Block:
        """The diff's header with the token delta since the baseline call (tokens' view-model)."""
        call = previous_call(self.session, thread_id, position)
        if self.tokens is None or call is None:
            return header
        try:
            now = self.tokens.usage_at(thread_id, position, count_all=False).composition
            delta = self.tokens.delta(call.inference_call_id, now)
        except Exception:  # noqa: BLE001 - no tokenizer (or an unreadable payload): the diff stands without it
            return header
        return replace(header, text=f"{header.text} · {delta.text}")

    def update_view(
        self, session: ReplaySession, position: int, blocks: list[Block], *, follow_end: bool, top: bool = False
    ) -> None:
        """Show new blocks, keeping in view what the current event touched (or the end); ``top``: from the start."""
        previous_key = self.blocks[self.cursor].key if self.cursor is not None and self.blocks else None
        old_scroll = self.scroll_offset.y
        self.position = position
        if self._labels_revision != session.revision:
            self._tool_labels = {}
            rollout = session.rollout
            for tool in rollout.tool_calls.values():
                call_id = tool.model_visible_call_id
                if call_id:
                    self._tool_labels[call_id] = tool_title(rollout, tool)[0]
            self._labels_revision = session.revision
        self.set_blocks(blocks, repaint=False)
        keys = [block.key for block in blocks]
        self.cursor = keys.index(previous_key) if previous_key in keys else None
        current = next((i for i, block in enumerate(blocks) if block.current), None)
        if top:
            self.scroll_intent("y", 0)
        elif follow_end:
            self.scroll_intent("end")
        elif current is not None:
            self.scroll_intent("block", current, True)
        else:
            self.scroll_intent("y", old_scroll)
        self.repaint()

    def select_item(self, item_id: str) -> bool:
        """Put the cursor on an item and scroll it to the top. False if it is not shown."""
        for index, block in enumerate(self.blocks):
            if block.kind == "item" and block.item_id == item_id:
                self.move_cursor(index, scroll=False)
                self.scroll_intent("block", index, True)
                return True
        return False

    def selected_block(self) -> Block | None:
        if self.cursor is None or not (0 <= self.cursor < len(self.blocks)):
            return None
        return self.blocks[self.cursor]

    def _item(self, block: Block) -> ConversationItem | None:
        if block.item_id is None:
            return None
        item = self.session.item_at(block.item_id, self.position)
        if item is None:
            # Dropped/replaced items may have been created after... never; but be safe with the head state.
            item = self.session.rollout.conversation_items.get(block.item_id)
        return item

    # ----- rendering --------------------------------------------------------------
    def block_key(self, block: Block) -> Hashable:
        if block.kind == "item":
            item = self._item(block)
            return (
                "item",
                block.key,
                block.mark,
                block.index,
                block.key in self.expanded,
                self.provenance,
                self.highlight,
                id(item),
            )
        return (block.kind, block.key, block.text, block.expanded, len(block.members))

    def selectable(self, block: Block) -> bool:
        return block.kind in ("item", "group")

    def estimate_height(self, block: Block, width: int) -> int | None:
        # Items are what is costly to render; rules, groups and notices are one or two rows: render them.
        if block.kind != "item":
            return None
        item = self._item(block)
        if item is None:
            return None
        return item_rows_estimate(
            item,
            width=width,
            expanded=block.key in self.expanded,
            provenance=self.provenance,
            tool_label=self._tool_labels.get(str(item.call_id)),
        )

    def render_block(self, block: Block, width: int) -> RenderableType:
        palette = self.palette()
        if block.kind == "item":
            item = self._item(block)
            if item is None:
                return Text(f"{block.item_id}: not known at this position", style=palette["meta"])
            first = self.session.first_seq(block.item_id) if block.item_id else None
            return render_item(
                item,
                palette,
                width=width,
                expanded=block.key in self.expanded,
                provenance=self.provenance,
                mark=block.mark,
                index=block.index,
                first_seq=first,
                tool_label=self._tool_labels.get(str(item.call_id)),
                highlight=self.highlight,
            )
        if block.kind == "rule":
            label = Text(no_wrap=True, overflow="ellipsis")
            label.append("━━ ⇊ ", palette["rule"])
            label.append(safe_line(block.text), palette["rule"])
            label.append(" ", palette["rule"])
            fill = max(0, width - label.cell_len)
            label.append("━" * fill, palette["rule"])
            return label
        if block.kind == "group":
            noun = _GROUP_NOUN.get(block.text, "items")
            arrow = "▾" if block.expanded else "▸"
            verb = "hide" if block.expanded else "show"
            return Text(f"{arrow} {len(block.members)} {noun} · Space to {verb}", style=palette["fold"])
        if block.kind == "fault":
            text = Text()
            text.append("✗ replay stopped here: ", palette["fault"])
            text.append(safe(block.text), palette["fault"])
            text.append("\nEverything above is the state before the fault.", palette["meta"])
            return text
        return Text(safe(block.text), style=palette["meta"])

    def decoration_key(self, block: Block, index: int, line: int) -> Hashable:
        focused = block.kind == "item" and block.item_id is not None and block.item_id == self.focus_item
        return (block.kind, block.current, block.mark, focused, index == self.cursor)

    def decorate(self, block: Block, index: int, strip: Strip, line: int, width: int) -> Strip:
        palette = self.palette()
        mark, style = "  ", Style.null()
        if block.current:
            mark, style = "▌ ", palette["gutter-current"]
        elif block.mark == "added":
            mark, style = "▌ ", palette["gutter-added"]
        elif block.mark in ("dropped", "replaced"):
            mark, style = "┊ ", palette["gutter-dropped"]
        elif block.mark == "summary":
            mark, style = "▌ ", palette["gutter-summary"]
        if block.kind == "item" and block.item_id is not None and block.item_id == self.focus_item:
            mark, style = "▶ ", palette["gutter-current"]
            strip = strip.apply_style(palette["current"])
        if block.kind == "item" and line == 0:
            strip = strip.apply_style(palette["item-head"])
        strip = with_gutter(strip, mark, style)
        if block.mark in ("dropped", "replaced"):
            strip = strip.apply_style(palette["dim"])
        if index == self.cursor:
            strip = strip.apply_style(palette["cursor"])
        return strip

    # ----- actions ----------------------------------------------------------------
    def action_activate(self) -> None:
        self.activate()

    def action_open(self) -> None:
        """Enter: a tool call (or its output) opens the call's details; anything else folds/unfolds."""
        block = self.selected_block()
        if block is not None and block.kind == "item" and block.item_id is not None:
            item = self._item(block)
            if item is not None and item.kind in _TOOL_ITEM_KINDS:
                tool_call_id = tool_call_of_item(self.session, block.item_id)
                if tool_call_id is not None:
                    self.post_message(ShowToolCall(tool_call_id))
                    return
        self.activate()

    def on_block_list_activated(self, message: BlockList.Activated) -> None:
        block = message.block
        if not isinstance(block, Block):
            return
        message.stop()
        if block.kind == "group":
            self.post_message(self.Toggled(block.key))
        elif block.kind == "item":
            self.expanded ^= {block.key}
            self._layout()
            if self.cursor is not None:
                self.scroll_to_block(self.cursor, top=True)
