"""A virtualised list of multi-line blocks (Textual's Line API).

Mounting one widget per conversation item does not scale to long traces, so the
panes render only the rows on screen: each block is rendered to strips once per
(width, cache key), a prefix sum maps screen rows to blocks, and ``render_line``
slices. A cursor selects blocks for keyboard/mouse actions.

Rendering a block through Rich is what costs, so a layout does not render every
block to learn its height: blocks that can be estimated cheaply
(``estimate_height``) keep the estimate until they come into view, and only the
blocks on screen are rendered (and measured) before a frame is drawn. Measuring
block ``i`` only moves the blocks after it, so the top of the view stays put.

Moving through a trace changes a few rows at a time (the current row, a cursor,
a header line), so an update repaints only the screen rows whose content
changed: ``render_line`` notes what it drew on each row (the block's cache key,
the row in the block and ``decoration_key``), and ``repaint`` compares that
with what each row would show now. Everything else keeps Textual's cached lines.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Hashable, Sequence
from itertools import accumulate
from typing import Any, ClassVar, Generic, TypeVar

from rich.console import RenderableType
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.color import Color
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from trace_viewer.app.render import Palette

B = TypeVar("B")

# Style names the render functions use; each is a component class ``tv--<name>`` in viewer.tcss.
PALETTE_NAMES = (
    "role-system",
    "role-user",
    "role-assistant",
    "role-tool",
    "kind",
    "meta",
    "summary",
    "summary-text",
    "diff-added",
    "diff-dropped",
    "rule",
    "fold",
    "text",
    "code",
    "badge",
    "agent",
    "call",
    "status-running",
    "status-ok",
    "status-failed",
    "status-cancelled",
    "compaction",
    "thread",
    "duration",
    "spark",
    "spark-current",
    "share-instructions",
    "share-user",
    "share-assistant",
    "share-reasoning",
    "share-tool-calls",
    "share-tool-outputs",
    "share-summaries",
    "share-base-instructions",
    "share-developer-instructions",
    "share-builtin-tools",
    "share-mcp-tools",
    "share-skills",
    "share-user-messages",
    "share-assistant-messages",
    "share-compaction-summaries",
    "share-agent-messages",
    "share-free",
    "fault",
    "current",
    "cursor",
    "dim",
    "gutter-current",
    "gutter-added",
    "gutter-dropped",
    "gutter-summary",
    "item-head",
    "title",
    "id",
    "seq",
    "match",
)
COMPONENT_CLASSES = frozenset(f"tv--{name}" for name in PALETTE_NAMES)
"""Declared by the screens whose widgets use ``Themed``."""


class Themed:
    """Mixin: the screen's ``Palette`` of named styles, read from the stylesheet.

    The component classes live on the screen (``PaletteScreen``), not on each
    widget: Textual restyles every component class of a widget whenever its
    pseudo-classes change (focus, hover), and forty of them per pane made that
    noticeable.
    """

    def palette(self) -> Palette:
        screen = self.screen  # type: ignore[attr-defined]
        palette = getattr(screen, "tv_palette", None)
        if palette is None:
            base = Color.parse(screen.app.get_css_variables().get("surface", "#000000"))
            styles = {}
            for name in PALETTE_NAMES:
                component = screen.get_component_styles(f"tv--{name}")
                style = component.partial_rich_style
                if component.has_rule("color") and component.color.a < 1:
                    # A translucent theme colour: Rich has no alpha, so blend it over the pane's background.
                    style += Style(color=(base + component.color).rich_color)
                styles[name] = style
            palette = Palette(styles)
            screen.tv_palette = palette
        return palette


class BlockList(Themed, ScrollView, Generic[B], can_focus=True, inherit_bindings=False):
    """Blocks of text, virtualised. Subclasses say how a block renders and which are selectable."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("ctrl+d", "half_page(1)", "Half page down", show=False),
        Binding("ctrl+u", "half_page(-1)", "Half page up", show=False),
        Binding("ctrl+home", "cursor_edge(-1)", "Top", show=False),
        Binding("ctrl+end", "cursor_edge(1)", "Bottom", show=False),
    ]

    class CursorMoved(Message):
        def __init__(self, owner: BlockList[Any], index: int) -> None:
            super().__init__()
            self.owner = owner
            self.index = index

    class Activated(Message):
        """Enter or a click on the block under the cursor."""

        def __init__(self, owner: BlockList[Any], index: int, block: Any) -> None:
            super().__init__()
            self.owner = owner
            self.index = index
            self.block = block

    # Columns left of the rendered text for per-row marks (cursor, current event, diff).
    GUTTER = 0
    # Every block is this many rows (None: measure by rendering). Saves rendering off-screen rows.
    FIXED_HEIGHT: int | None = None
    # Lists of at most this many blocks are measured whole (an exact scrollbar); in longer ones,
    # off-screen blocks keep their estimated height until they are scrolled into view.
    MEASURE_ALL_UP_TO = 40

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.blocks: list[B] = []
        self.cursor: int | None = None
        self._heights: list[int] = []
        self._offsets: list[int] = [0]
        # Indexes of blocks whose height is an estimate (not rendered at this width yet).
        self._estimated: set[int] = set()
        self._offsets_stale = False
        self._strips: LRUCache[tuple[Hashable, int], list[Strip]] = LRUCache(4096)
        self._estimates: LRUCache[tuple[Hashable, int], int] = LRUCache(4096)
        self._width = 0
        self._line_style: Style | None = None
        # What the view should scroll to once its size is known: ("end",), ("block", i, top), ("y", y).
        self._scroll_intent: tuple[Any, ...] | None = None
        # What ``render_line`` drew on each screen row (see ``_row_signature``); cleared to repaint all.
        self._painted: dict[int, Hashable] = {}

    # ----- to implement -----------------------------------------------------------
    def render_block(self, block: B, width: int) -> RenderableType:
        raise NotImplementedError

    def block_key(self, block: B) -> Hashable:
        """Identity of a block's rendering; equal keys share cached strips."""
        raise NotImplementedError

    def selectable(self, block: B) -> bool:
        return True

    def estimate_height(self, block: B, width: int) -> int | None:
        """A cheap guess of the rows a block takes at ``width`` (no rendering); None: render to know."""
        return None

    def decorate(self, block: B, index: int, strip: Strip, line: int, width: int) -> Strip:
        """Per-row styling that changes often (cursor, current) without re-rendering."""
        return strip

    def decoration_key(self, block: B, index: int, line: int) -> Hashable:
        """Everything ``decorate`` reads for this row: a row is repainted when this or its block key changes."""
        return index == self.cursor

    # ----- model ------------------------------------------------------------------
    def set_blocks(self, blocks: Sequence[B], *, repaint: bool = True) -> None:
        """New blocks; ``repaint=False`` when the caller scrolls first and then calls ``repaint``."""
        self.blocks = list(blocks)
        if self.cursor is not None and self.cursor >= len(self.blocks):
            self.cursor = len(self.blocks) - 1 if self.blocks else None
        self._layout(repaint=repaint)

    def clear_cache(self) -> None:
        self._strips.clear()
        self._estimates.clear()
        self._painted.clear()
        self._layout()

    def _content_width(self) -> int:
        return max(10, self.scrollable_content_region.width or self.size.width or 80)

    def _block_strips(self, block: B, width: int, key: tuple[Hashable, int] | None = None) -> list[Strip]:
        if key is None:
            key = (self.block_key(block), width)
        strips = self._strips.get(key)
        if strips is None:
            text = self.render_block(block, width)
            console = self.app.console
            options = console.options.update_width(width)
            lines = console.render_lines(text, options, pad=False, new_lines=False)
            strips = [Strip(line) for line in lines] or [Strip.blank(0)]
            self._strips[key] = strips
        return strips

    def _layout(self, *, repaint: bool = True) -> None:
        if not self.size.width:
            return  # not laid out yet: on_resize lays out at the real width
        width = self._content_width()
        self._width = width
        inner = max(1, width - self.GUTTER)
        estimated: set[int] = set()
        if self.FIXED_HEIGHT is not None:
            heights = [self.FIXED_HEIGHT] * len(self.blocks)
        else:
            heights = []
            for index, block in enumerate(self.blocks):
                key = (self.block_key(block), inner)
                strips = self._strips.get(key)
                if strips is not None:
                    heights.append(len(strips))
                    continue
                guess = self._estimates.get(key)
                if guess is None:
                    guess = self.estimate_height(block, inner)
                    if guess is None:
                        heights.append(len(self._block_strips(block, inner, key)))
                        continue
                    self._estimates[key] = guess
                heights.append(guess)
                estimated.add(index)
        self._heights = heights
        self._estimated = estimated
        if len(heights) <= self.MEASURE_ALL_UP_TO:
            for index in sorted(estimated):
                self._exact_height(index)
        self._update_offsets()
        if repaint:
            self.repaint()

    def _update_offsets(self) -> None:
        self._offsets = [0, *accumulate(self._heights)]
        self._offsets_stale = False
        self._set_virtual_size(Size(self._width, self._offsets[-1]))

    def _set_virtual_size(self, size: Size) -> None:
        """A new content size; a screen layout only when it shows or hides the vertical scrollbar.

        ``virtual_size`` is a layout reactive: setting it lays out the whole screen and composites
        every pane again, which was most of a jump to another model call (the context's height
        changes with each one). While the content overflows before and after, only this widget's
        scrollbar and scroll range change, and those are updated in place.
        """
        old = self.virtual_size
        if size == old:
            return
        viewport = self.scrollable_content_region.height
        if not (viewport and size.width == old.width and min(size.height, old.height) > viewport):
            self.virtual_size = size
            return
        self.set_reactive(ScrollView.virtual_size, size)
        self._scroll_update(size)  # (the rows themselves are repainted by `repaint`)

    def _exact_height(self, index: int) -> int:
        """The height of block ``index``, rendering it first if it was only estimated.

        Call ``_settle`` afterwards: a corrected height leaves the offsets stale.
        """
        if index in self._estimated:
            self._estimated.discard(index)
            height = len(self._block_strips(self.blocks[index], max(1, self._width - self.GUTTER)))
            if height != self._heights[index]:
                self._heights[index] = height
                self._offsets_stale = True
        return self._heights[index]

    def _settle(self) -> None:
        if self._offsets_stale:
            self._update_offsets()

    def _measure_down(self, first: int, rows: int) -> None:
        """Exact heights for the blocks that fill ``rows`` screen rows from the top of block ``first``."""
        if self._estimated:
            index, filled = max(0, first), 0
            while index < len(self._heights) and filled < rows:
                filled += self._exact_height(index)
                index += 1
            self._settle()

    def _measure_up(self, last: int, rows: int) -> None:
        """Exact heights for the blocks that fill ``rows`` screen rows up from the bottom of block ``last``."""
        if self._estimated:
            index, filled = min(last, len(self._heights) - 1), 0
            while index >= 0 and filled < rows:
                filled += self._exact_height(index)
                index -= 1
            self._settle()

    def _measure_view(self) -> None:
        """Before drawing: the blocks in view get rendered, so their rows are exact."""
        if not self._estimated or len(self._heights) != len(self.blocks):
            return
        viewport = self.scrollable_content_region.height or self.size.height or 1
        top = int(self.scroll_offset.y)
        first = self.block_at_line(top)
        if first is None:
            self._measure_up(len(self.blocks) - 1, viewport)
        else:
            self._measure_down(first, viewport + top - self._offsets[first])

    def _view_estimated(self) -> bool:
        """Some block in view still has an estimated height."""
        viewport = self.scrollable_content_region.height or self.size.height or 1
        top = int(self.scroll_offset.y)
        first = self.block_at_line(top)
        if first is None:
            return bool(self._estimated)
        bottom = self.block_at_line(top + viewport - 1)
        last = len(self.blocks) - 1 if bottom is None else bottom
        return any(index in self._estimated for index in range(first, last + 1))

    def _scroll_end(self) -> None:
        viewport = self.scrollable_content_region.height or 0
        self._measure_up(len(self.blocks) - 1, viewport)
        self.scroll_to(y=max(0, self._offsets[-1] - viewport), animate=False, immediate=True)

    def on_resize(self, event: events.Resize) -> None:
        self._painted.clear()
        if self._content_width() != self._width or len(self._heights) != len(self.blocks):
            self._layout()
        self._apply_scroll_intent()
        # The new virtual size only bounds scrolling after the next refresh: apply the intent again then.
        self.call_after_refresh(self._apply_scroll_intent)

    def scroll_intent(self, *intent: Any) -> None:
        """Scroll now, and again after the next layout (sizes are unknown before the first one)."""
        self._scroll_intent = intent
        self._apply_scroll_intent()
        self.call_after_refresh(self._apply_scroll_intent)

    def _apply_scroll_intent(self) -> None:
        intent = self._scroll_intent
        if not intent:
            return
        if intent[0] == "end":
            self._scroll_end()
        elif intent[0] == "block":
            self.scroll_to_block(intent[1], top=intent[2])
        elif intent[0] == "y":
            self.scroll_to(y=intent[1], animate=False, immediate=True)

    def block_at_line(self, line: int) -> int | None:
        if not self.blocks or line < 0 or line >= self._offsets[-1] or len(self._heights) != len(self.blocks):
            return None
        return bisect_right(self._offsets, line) - 1

    def block_region(self, index: int) -> Region:
        if index >= len(self._heights):
            return Region(0, 0, self._width, 1)
        self._exact_height(index)
        self._settle()
        top = self._offsets[index]
        return Region(0, top, self._width, self._heights[index])

    # ----- drawing ----------------------------------------------------------------
    def render_lines(self, crop: Region) -> list[Strip]:
        if self._estimated and self._painted and self._view_estimated():
            # Rows drawn before are about to move under rows Textual keeps cached: draw them all again.
            # (``repaint`` measures the view first, so this is only a safety net.)
            self._painted.clear()
            self.refresh()
        self._measure_view()
        # The widget's style walks the DOM on every access: once per frame, not once per row.
        self._line_style = self.rich_style
        try:
            return super().render_lines(crop)
        finally:
            self._line_style = None

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        line = scroll_y + y
        width = self._width or self._content_width()
        base = self._line_style or self.rich_style
        index = self.block_at_line(line)
        if index is None:
            self._painted[y] = (scroll_x, width, base)
            return Strip.blank(width, base)
        block = self.blocks[index]
        inner = max(1, width - self.GUTTER)
        key = (self.block_key(block), inner)
        strips = self._block_strips(block, inner, key)
        row = line - self._offsets[index]
        self._painted[y] = (scroll_x, width, base, key, row, self.decoration_key(block, index, row))
        strip = strips[row] if row < len(strips) else Strip.blank(inner)
        strip = self.decorate(block, index, strip.extend_cell_length(inner), row, width)
        return strip.crop_extend(scroll_x, scroll_x + width, base).apply_style(base)

    def _row_signature(self, y: int, base: Style) -> Hashable:
        """What ``render_line(y)`` would note for screen row ``y`` now (without rendering anything)."""
        scroll_x, scroll_y = self.scroll_offset
        width = self._width or self._content_width()
        line = scroll_y + y
        index = self.block_at_line(line)
        if index is None:
            return (scroll_x, width, base)
        block = self.blocks[index]
        row = line - self._offsets[index]
        key = (self.block_key(block), max(1, width - self.GUTTER))
        return (scroll_x, width, base, key, row, self.decoration_key(block, index, row))

    def repaint(self) -> None:
        """Refresh the screen rows whose content changed since they were drawn (all of them if unknown)."""
        painted = self._painted
        viewport = self.scrollable_content_region.height
        if not painted or not viewport or len(self._heights) != len(self.blocks):
            self.refresh()
            return
        self._measure_view()
        base = self.rich_style
        width = max(self.virtual_size.width, self.size.width)
        start: int | None = None
        for y in range(viewport + 1):
            changed = y < viewport and (y not in painted or painted[y] != self._row_signature(y, base))
            if changed and start is None:
                start = y
            elif not changed and start is not None:
                self.refresh(Region(0, start, width, y - start))
                start = None

    # ----- navigation -------------------------------------------------------------
    def _selectable_indexes(self) -> list[int]:
        return [i for i, block in enumerate(self.blocks) if self.selectable(block)]

    def move_cursor(self, index: int | None, *, scroll: bool = True, notify: bool = True) -> None:
        if index is not None and not (0 <= index < len(self.blocks)):
            index = None
        changed = index != self.cursor
        self.cursor = index
        if index is not None and scroll:
            self.scroll_to_block(index)
        self.repaint()
        if changed and notify and index is not None:
            self.post_message(self.CursorMoved(self, index))

    def scroll_to_block(self, index: int, *, top: bool = False) -> None:
        if not (0 <= index < len(self.blocks)):
            return
        height = self.scrollable_content_region.height or 1
        self._measure_down(index, height)
        region = self.block_region(index)
        if top or region.height >= height:
            self.scroll_to(y=region.y, animate=False, immediate=True)
        else:
            self.scroll_to_region(region, animate=False, immediate=True)

    def action_cursor(self, delta: int) -> None:
        indexes = self._selectable_indexes()
        if not indexes:
            return
        if self.cursor is None:
            # Start from the first block on screen rather than the top of the list.
            first = self.block_at_line(int(self.scroll_offset.y)) or 0
            target = next((i for i in indexes if i >= first), indexes[0])
            self.move_cursor(target)
            return
        if delta > 0:
            target = next((i for i in indexes if i > self.cursor), None)
        else:
            target = next((i for i in reversed(indexes) if i < self.cursor), None)
        if target is None:
            # At the ends, keep scrolling long blocks.
            self.scroll_relative(y=delta * 3, animate=False)
            return
        region = self.block_region(self.cursor)
        viewport = self.scrollable_content_region.height or 1
        top = int(self.scroll_offset.y)
        # Scroll within a block taller than the screen before leaving it.
        if delta > 0 and region.bottom > top + viewport:
            self.scroll_relative(y=min(viewport - 1, region.bottom - top - viewport), animate=False)
            return
        if delta < 0 and region.y < top:
            self.scroll_relative(y=-min(viewport - 1, top - region.y), animate=False)
            return
        self.move_cursor(target)

    def action_page(self, delta: int) -> None:
        height = max(1, (self.scrollable_content_region.height or 1) - 1)
        self.scroll_relative(y=delta * height, animate=False)
        index = self.block_at_line(int(self.scroll_offset.y) + (0 if delta < 0 else height // 2))
        indexes = self._selectable_indexes()
        if index is not None and indexes:
            target = next((i for i in indexes if i >= index), indexes[-1])
            self.move_cursor(target, scroll=False)

    def action_half_page(self, delta: int) -> None:
        """ctrl+d / ctrl+u: scroll half a screen, the cursor moving to the first block in view."""
        height = max(1, (self.scrollable_content_region.height or 2) // 2)
        self.scroll_to(y=self.scroll_offset.y + delta * height, animate=False, immediate=True)
        index = self.block_at_line(int(self.scroll_offset.y))
        indexes = self._selectable_indexes()
        if index is not None and indexes:
            target = next((i for i in indexes if i >= index), indexes[-1])
            self.move_cursor(target, scroll=False)

    def action_cursor_edge(self, direction: int) -> None:
        indexes = self._selectable_indexes()
        if indexes:
            self.move_cursor(indexes[-1] if direction > 0 else indexes[0])
            if direction > 0:
                self._scroll_end()
            else:
                self.scroll_home(animate=False, immediate=True)

    def activate(self) -> None:
        if self.cursor is not None and 0 <= self.cursor < len(self.blocks):
            self.post_message(self.Activated(self, self.cursor, self.blocks[self.cursor]))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        index = self.block_at_line(offset.y + int(self.scroll_offset.y))
        if index is None or not self.selectable(self.blocks[index]):
            return
        already = index == self.cursor
        self.move_cursor(index, scroll=False)
        if already or self.activate_on_first_click:
            self.activate()

    # Timeline rows jump at once; context blocks toggle on a second click.
    activate_on_first_click = False


def with_gutter(strip: Strip, mark: str, style: Style) -> Strip:
    """Put a coloured mark (the gutter) left of a rendered row."""
    return Strip([Segment(mark, style), *strip], strip.cell_length + len(mark))
