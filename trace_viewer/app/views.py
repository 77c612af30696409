"""What the panes show, computed from a ``ReplaySession`` — no Textual, no Rich here.

The timeline is built once from the head state (every object carries its
execution window, so visibility and status at any position are simple seq
comparisons); the context is built per position from the session's recorded
history. Widgets only lay these out, which keeps the logic testable without a
terminal.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

import msgspec

from trace_viewer.model import (
    AgentSummary,
    CodeCellRequester,
    Compaction,
    ConversationItem,
    EncodedPart,
    ExecCommandRequest,
    ExecutionWindow,
    GenericSummary,
    InferenceCall,
    McpKind,
    OtherKind,
    RolloutTrace,
    SpawnedOrigin,
    TerminalSummary,
    ToolCall,
    WaitAgentSummary,
    WriteStdinRequest,
    tag_of,
)
from trace_viewer.session import ReplaySession, item_text

TIMELINE_KINDS = (
    "thread",
    "turn",
    "inference",
    "tool",
    "code_cell",
    "compaction_request",
    "compaction",
    "local_compaction",
    "fault",
)


def short_id(value: str, keep: int = 8) -> str:
    """A readable prefix of a long id (uuid-like ids differ early enough)."""
    if ":" in value and not value.startswith("call"):
        return value
    return value if len(value) <= keep + 1 else value[:keep] + "…"


def duration_text(ms: int | None) -> str:
    if ms is None or ms < 0:
        return ""
    if ms < 1000:
        return f"{ms}ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def tokens_text(count: int | None) -> str:
    if count is None:
        return "–"
    if count < 1000:
        return str(count)
    if count < 1_000_000:
        return f"{count / 1000:.1f}k"
    return f"{count / 1_000_000:.2f}M"


def size_text(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    if count < 1 << 20:
        return f"{count / 1024:.1f} KB"
    return f"{count / (1 << 20):.1f} MB"


# ----- timeline ---------------------------------------------------------------


@dataclass(slots=True)
class TimelineRow:
    """One line of the timeline tree. Text fields hold raw (untrusted) strings."""

    key: str
    kind: str
    object_id: str
    depth: int
    thread_id: str | None
    start_seq: int
    end_seq: int | None
    final_status: str
    start_ms: int | None = None
    end_ms: int | None = None
    title: str = ""
    detail: str = ""
    parent_key: str | None = None
    has_children: bool = False
    # Known only once the object has ended (output tokens of a model call): never shown before.
    outcome: str = ""

    def visible_at(self, position: int) -> bool:
        """Started at or before the position (later rows are still listed, dimmed: "not yet")."""
        return self.start_seq <= position

    def ended_at(self, position: int) -> bool:
        return self.end_seq is not None and self.end_seq <= position

    def status_at(self, position: int) -> str:
        if not self.visible_at(position):
            return "future"
        if self.ended_at(position):
            return self.final_status
        return "running"

    def detail_at(self, position: int) -> str:
        """What the row says at a position: the outcome only once it is known there."""
        if self.outcome and self.ended_at(position):
            return f"{self.detail} {self.outcome}" if self.detail else self.outcome
        return self.detail

    def duration_at(self, position: int, wall_ms: int | None) -> int | None:
        """Elapsed time: the final duration once ended, else up to the position's wall clock."""
        if self.start_ms is None or not self.visible_at(position):
            return None
        if self.end_seq is not None and self.end_seq <= position and self.end_ms is not None:
            return self.end_ms - self.start_ms
        if wall_ms is None:
            return None
        return max(0, wall_ms - self.start_ms)


def _window_row(
    kind: str,
    object_id: str,
    execution: ExecutionWindow,
    *,
    title: str,
    detail: str = "",
    parent_key: str | None,
    thread_id: str | None,
) -> TimelineRow:
    """A timeline row keyed ``kind:object_id`` spanning an execution window."""
    return TimelineRow(
        key=f"{kind}:{object_id}",
        kind=kind,
        object_id=object_id,
        depth=0,
        thread_id=thread_id,
        start_seq=execution.started_seq,
        end_seq=execution.ended_seq,
        final_status=execution.status,
        start_ms=execution.started_at_unix_ms,
        end_ms=execution.ended_at_unix_ms,
        title=title,
        detail=detail,
        parent_key=parent_key,
    )


def tool_title(rollout: RolloutTrace, tool: ToolCall) -> tuple[str, str]:
    """(kind label, short summary) of a tool call."""
    kind = tool.kind
    summary = tool.summary
    detail = ""
    if isinstance(kind, McpKind):
        label = f"mcp {kind.server}.{kind.tool}"
    elif isinstance(kind, OtherKind):
        label = kind.name or "tool"
    else:
        label = tag_of(kind)
    if isinstance(summary, TerminalSummary):
        operation = rollout.terminal_operations.get(summary.operation_id)
        request = operation.request if operation is not None else None
        if isinstance(request, ExecCommandRequest):
            detail = request.display_command
        elif isinstance(request, WriteStdinRequest):
            detail = "(poll)"
    elif isinstance(summary, AgentSummary):
        detail = f"→ {summary.target_agent_path}"
        if summary.message_preview:
            detail += f": {summary.message_preview}"
    elif isinstance(summary, WaitAgentSummary):
        detail = f"→ {summary.target_agent_path}" if summary.target_agent_path else "any child"
    elif isinstance(summary, GenericSummary):
        if summary.label and summary.label != label:
            label = summary.label
        detail = summary.input_preview or ""
    return label, detail


# Prompts longer than this are cut in a turn's label (the context pane shows the whole prompt).
PROMPT_PREVIEW = 60


def _user_prompt(item: ConversationItem) -> str:
    """A user message's text, unless it is context Codex injects (``<environment_context>``, ``<skills…>``)."""
    if item.role != "user" or item.kind != "message":
        return ""
    text = item_text(item).strip()
    return "" if text.startswith("<") else text


def turn_titles(rollout: RolloutTrace) -> dict[str, str]:
    """``turn N · <start of the user's prompt>`` per turn: N counts the thread's turns in start order."""
    prompts: dict[str, str] = {}
    for item in rollout.conversation_items.values():
        turn_id = item.codex_turn_id
        if turn_id is not None and turn_id not in prompts:
            prompt = _user_prompt(item)
            if prompt:
                prompts[turn_id] = prompt
    by_thread: dict[str, list[tuple[int, str]]] = {}
    for turn_id, turn in rollout.codex_turns.items():
        by_thread.setdefault(turn.thread_id, []).append((turn.execution.started_seq, turn_id))
    titles: dict[str, str] = {}
    for turns in by_thread.values():
        for ordinal, (_, turn_id) in enumerate(sorted(turns), start=1):
            prompt = " ".join(prompts.get(turn_id, "").split())
            if len(prompt) > PROMPT_PREVIEW:
                prompt = prompt[: PROMPT_PREVIEW - 1] + "…"
            titles[turn_id] = f"turn {ordinal} · {prompt}" if prompt else f"turn {ordinal}"
    return titles


def build_timeline(session: ReplaySession) -> list[TimelineRow]:
    """Every object of the head state as a tree, in start order under each parent."""
    rollout = session.rollout
    threads = rollout.threads
    turns = rollout.codex_turns
    children: dict[str | None, list[TimelineRow]] = {}
    rows_by_key: dict[str, TimelineRow] = {}

    def add(row: TimelineRow) -> None:
        rows_by_key[row.key] = row
        children.setdefault(row.parent_key, []).append(row)

    turn_labels = turn_titles(rollout)
    order = session.thread_order()
    for thread_id in order:
        thread = threads[thread_id]
        origin = thread.origin
        parent = origin.parent_thread_id if isinstance(origin, SpawnedOrigin) else None
        nickname = thread.nickname
        add(
            _window_row(
                "thread",
                thread_id,
                thread.execution,
                thread_id=thread_id,
                title=thread.agent_path or short_id(thread_id),
                detail=nickname or "",
                parent_key=f"thread:{parent}" if parent in threads else None,
            )
        )
    for turn_id, turn in turns.items():
        add(
            _window_row(
                "turn",
                turn_id,
                turn.execution,
                title=turn_labels.get(turn_id, "turn"),
                parent_key=f"thread:{turn.thread_id}",
                thread_id=turn.thread_id,
            )
        )

    def turn_parent(turn_id: str | None, thread_id: str | None) -> str | None:
        if turn_id is not None and f"turn:{turn_id}" in rows_by_key:
            return f"turn:{turn_id}"
        if f"thread:{thread_id}" in rows_by_key:
            return f"thread:{thread_id}"
        return None

    for call_id, call in rollout.inference_calls.items():
        usage = call.usage
        outcome = ""
        if usage is not None:
            outcome = f"in {tokens_text(usage.input_tokens)} out {tokens_text(usage.output_tokens)}"
        row = _window_row(
            "inference",
            call_id,
            call.execution,
            title=f"model {call.model or '?'}",
            parent_key=turn_parent(call.codex_turn_id, call.thread_id),
            thread_id=call.thread_id,
        )
        row.outcome = outcome
        add(row)
    for cell_id, cell in rollout.code_cells.items():
        source = cell.source_js.strip().splitlines()
        add(
            _window_row(
                "code_cell",
                cell_id,
                cell.execution,
                title="code cell",
                detail=source[0] if source else "",
                parent_key=turn_parent(cell.codex_turn_id, cell.thread_id),
                thread_id=cell.thread_id,
            )
        )
    for tool_id, tool in rollout.tool_calls.items():
        label, detail = tool_title(rollout, tool)
        requester = tool.requester
        parent_key = None
        if isinstance(requester, CodeCellRequester) and f"code_cell:{requester.code_cell_id}" in rows_by_key:
            parent_key = f"code_cell:{requester.code_cell_id}"
        else:
            parent_key = turn_parent(tool.started_by_codex_turn_id, tool.thread_id)
        add(
            _window_row(
                "tool",
                tool_id,
                tool.execution,
                title=label,
                detail=detail,
                parent_key=parent_key,
                thread_id=tool.thread_id,
            )
        )
    for request_id, request in rollout.compaction_requests.items():
        add(
            _window_row(
                "compaction_request",
                request_id,
                request.execution,
                title="compact request",
                detail=request.model,
                parent_key=turn_parent(request.codex_turn_id, request.thread_id),
                thread_id=request.thread_id,
            )
        )
    for compaction_id, compaction in rollout.compactions.items():
        seq = session.first_seq(compaction_id) or session.total
        replaced = len(compaction.input_item_ids)
        replacement = len(compaction.replacement_item_ids)
        add(
            TimelineRow(
                key=f"compaction:{compaction_id}",
                kind="compaction",
                object_id=compaction_id,
                depth=0,
                thread_id=compaction.thread_id,
                start_seq=seq,
                end_seq=seq,
                final_status="completed",
                start_ms=compaction.installed_at_unix_ms,
                end_ms=compaction.installed_at_unix_ms,
                title="compaction",
                detail=f"{replaced} → {replacement} items",
                parent_key=turn_parent(compaction.codex_turn_id, compaction.thread_id),
            )
        )
    calls = rollout.inference_calls
    for local in session.local_compactions:
        local_call = calls.get(local.inference_call_id or "")
        wall = session.wall_ms_at(local.seq)
        add(
            TimelineRow(
                key=f"local_compaction:{local.id}",
                kind="local_compaction",
                object_id=local.id,
                depth=0,
                thread_id=local.thread_id,
                start_seq=local.seq,
                end_seq=local.seq,
                final_status="completed",
                start_ms=wall,
                end_ms=wall,
                title="local compaction",
                detail=f"−{len(local.dropped_item_ids)} items (detected)",
                parent_key=turn_parent(local_call.codex_turn_id if local_call else None, local.thread_id),
            )
        )

    out: list[TimelineRow] = []

    def walk(parent_key: str | None, depth: int) -> None:
        rows = children.get(parent_key, [])
        rows.sort(key=lambda row: (row.start_seq, TIMELINE_KINDS.index(row.kind), row.object_id))
        for row in rows:
            row.depth = depth
            row.has_children = bool(children.get(row.key))
            out.append(row)
            walk(row.key, depth + 1)

    walk(None, 0)
    fault = session.fault
    if fault is not None:
        out.append(
            TimelineRow(
                key="fault",
                kind="fault",
                object_id="fault",
                depth=0,
                thread_id=None,
                start_seq=session.total,
                end_seq=session.total,
                final_status="failed",
                title="replay stopped",
                detail=str(fault),
            )
        )
    return out


def current_row_key(session: ReplaySession, rows_by_object: dict[str, str], position: int) -> str | None:
    """The timeline row of the event at ``position``: what it created/updated, else its turn/thread."""
    record = session.record(position)
    if record is None:
        return None
    change = record.change
    for object_id in (*change.created, *change.updated):
        key = rows_by_object.get(object_id)
        if key is not None:
            return key
    payload = record.payload
    for name in ("inference_call_id", "tool_call_id", "compaction_id"):
        key = rows_by_object.get(str(payload.get(name)))
        if key is not None:
            return key
    for local in session.local_compactions:
        if local.seq == position:
            return f"local_compaction:{local.id}"
    if record.turn_id and record.turn_id in rows_by_object:
        return rows_by_object[record.turn_id]
    if record.thread_id and record.thread_id in rows_by_object:
        return rows_by_object[record.thread_id]
    return None


# ----- context ----------------------------------------------------------------


@dataclass(slots=True)
class Block:
    """One unit of the context pane.

    kind: ``item`` (a conversation item), ``rule`` (a compaction boundary),
    ``group`` (collapsed items: replaced by a compaction, dropped, kept in a diff),
    ``notice`` (explanatory line), ``fault`` (where replay stopped).
    mark: ``current`` (touched by the event at this position), ``summary``,
    ``added`` / ``dropped`` / ``kept`` (diff), ``replaced`` (shown inside an
    expanded group, dimmed).
    """

    kind: str
    key: str
    item_id: str | None = None
    mark: str = ""
    text: str = ""
    members: tuple[str, ...] = ()
    expanded: bool = False
    seq: int | None = None
    index: int | None = None
    current: bool = False


@dataclass(slots=True)
class ContextOptions:
    diff: bool = False
    expanded_groups: set[str] = field(default_factory=set)
    show_all_replaced: bool = False
    # A search's `role:`/`kind:` filters: only matching items are shown.
    roles: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()


def item_matches(item: ConversationItem | None, roles: tuple[str, ...], kinds: tuple[str, ...]) -> bool:
    """The filter of a search (``role:`` matches the role or the channel)."""
    if item is None:
        return False
    if roles and item.role not in roles and item.channel not in roles:
        return False
    return not kinds or item.kind in kinds


def _compactions_for(session: ReplaySession, thread_id: str, position: int) -> list[Compaction]:
    found = []
    for compaction_id, compaction in session.rollout.compactions.items():
        if compaction.thread_id != thread_id:
            continue
        seq = session.first_seq(compaction_id)
        if seq is None or seq > position:
            continue
        found.append(compaction)
    return found


def previous_call(session: ReplaySession, thread_id: str, position: int) -> InferenceCall | None:
    """The thread's latest model call that started strictly before ``position``."""
    best: InferenceCall | None = None
    for call in session.rollout.inference_calls.values():
        if call.thread_id != thread_id:
            continue
        started = call.execution.started_seq
        if started < position and (best is None or started > best.execution.started_seq):
            best = call
    return best


def build_context(
    session: ReplaySession, thread_id: str, position: int, options: ContextOptions | None = None
) -> list[Block]:
    """The blocks of the context pane for a thread at a position."""
    options = options or ContextOptions()
    ids = session.context_at(thread_id, position)
    change = session.change_at(position)
    touched = set(change.created) | set(change.updated) if change else set()
    blocks: list[Block] = []
    if options.diff:
        blocks.extend(_diff_blocks(session, thread_id, position, ids, touched, options))
    else:
        blocks.extend(_plain_blocks(session, thread_id, position, ids, touched, options))
    if options.roles or options.kinds:
        blocks = _filtered(session, position, blocks, options)
    fault = session.fault
    if fault is not None and position >= session.total:
        blocks.append(Block("fault", "fault", text=str(fault), seq=fault.seq))
    return blocks


def _filtered(session: ReplaySession, position: int, blocks: list[Block], options: ContextOptions) -> list[Block]:
    """Only the items the filter matches (rules and notices stay: they say where things are)."""
    kept: list[Block] = []
    hidden = 0
    for block in blocks:
        if block.kind == "item" and block.item_id is not None:
            item = session.item_at(block.item_id, position) or session.rollout.conversation_items.get(block.item_id)
            if not item_matches(item, options.roles, options.kinds):
                hidden += 1
                continue
        elif block.kind == "group":
            continue
        kept.append(block)
    what = " ".join([*(f"role:{r}" for r in options.roles), *(f"kind:{k}" for k in options.kinds)])
    kept.insert(0, Block("notice", "filter", text=f"Filter {what}: {hidden} other items hidden (/ to change)."))
    return kept


def _plain_blocks(
    session: ReplaySession,
    thread_id: str,
    position: int,
    ids: tuple[str, ...],
    touched: set[str],
    options: ContextOptions,
) -> list[Block]:
    blocks: list[Block] = []
    if not ids:
        blocks.append(Block("notice", "empty", text=f"No model-visible context for this thread at seq {position} yet."))
        return blocks
    # Where each compaction boundary goes: before the first of its marker/replacement items still live.
    rule_before: dict[str, list[Block]] = {}
    # Installed but not yet seen by a request: the live context changes at the next model call.
    pending: list[Compaction] = []
    summary_ids: set[str] = set()
    present = set(ids)
    for compaction in _compactions_for(session, thread_id, position):
        compaction_id = compaction.compaction_id
        replacement = list(compaction.replacement_item_ids)
        anchors = {compaction.marker_item_id, *replacement}
        anchor = next((item for item in ids if item in anchors), None)
        if anchor is None:
            installed = session.first_seq(compaction_id) or 0
            if session.last_context_change(thread_id, position) <= installed:
                pending.append(compaction)
            continue
        for item_id in replacement:
            item = session.item_at(item_id, position)
            if item and item.channel == "summary":
                summary_ids.add(item_id)
        replaced = tuple(compaction.input_item_ids)
        group_key = f"replaced:{compaction_id}"
        text = f"compaction {short_id(compaction_id)}: {len(replaced)} items replaced by {len(replacement)}" + (
            " (summary)" if any(x in summary_ids for x in replacement) else ""
        )
        rule_before.setdefault(anchor, []).extend(
            [
                Block(
                    "rule",
                    f"rule:{compaction_id}",
                    text=text,
                    seq=session.first_seq(compaction_id),
                    current=session.first_seq(compaction_id) == position,
                ),
                Block(
                    "group",
                    group_key,
                    text="replaced",
                    members=replaced,
                    expanded=options.show_all_replaced or group_key in options.expanded_groups,
                ),
            ]
        )
    for local in session.local_compactions:
        if local.thread_id != thread_id or local.seq > position:
            continue
        added = set(local.added_item_ids)
        anchor = next((item for item in ids if item in added), None)
        if anchor is None:
            continue
        group_key = f"dropped:{local.id}"
        text = (
            f"local compaction at seq {local.seq} (detected): {len(local.dropped_item_ids)} items dropped, "
            f"{len(local.kept_item_ids)} kept"
        )
        rule_before.setdefault(anchor, []).extend(
            [
                Block("rule", f"rule:{local.id}", text=text, seq=local.seq, current=local.seq == position),
                Block(
                    "group",
                    group_key,
                    text="dropped",
                    members=tuple(local.dropped_item_ids),
                    expanded=options.show_all_replaced or group_key in options.expanded_groups,
                ),
            ]
        )
    for index, item_id in enumerate(ids):
        for block in rule_before.get(item_id, []):
            blocks.append(block)
            if block.kind == "group" and block.expanded:
                for member in block.members:
                    if member in present:
                        continue
                    blocks.append(Block("item", f"{block.key}/{member}", item_id=member, mark="replaced"))
        blocks.append(
            Block(
                "item",
                f"item:{item_id}",
                item_id=item_id,
                mark="summary" if item_id in summary_ids else "",
                index=index + 1,
                current=item_id in touched,
            )
        )
    for compaction in pending:
        compaction_id = compaction.compaction_id
        replaced_count = len(compaction.input_item_ids)
        installed_ids = tuple(compaction.replacement_item_ids)
        group_key = f"replacement:{compaction_id}"
        blocks.append(
            Block(
                "rule",
                f"rule:{compaction_id}",
                text=(
                    f"compaction {short_id(compaction_id)} installed: {replaced_count} items will be replaced by "
                    f"{len(installed_ids)} at the thread's next model call"
                ),
                seq=session.first_seq(compaction_id),
                current=session.first_seq(compaction_id) == position,
            )
        )
        expanded = options.show_all_replaced or group_key in options.expanded_groups
        blocks.append(Block("group", group_key, text="replacement", members=installed_ids, expanded=expanded))
        if expanded:
            for member in installed_ids:
                blocks.append(Block("item", f"{group_key}/{member}", item_id=member, mark="summary"))
    return blocks


def _head_item(session: ReplaySession, item_id: str) -> ConversationItem | None:
    return session.rollout.conversation_items.get(item_id)


_KEY_ENCODER = msgspec.json.Encoder(order="deterministic")


def content_key(item: ConversationItem | None) -> bytes:
    """What an item says to the model (role, kind, channel, call id, body), for matching by content."""
    if item is None:
        return b""
    return _KEY_ENCODER.encode((item.role, item.kind, item.channel, item.call_id, item.body))


def _diff_blocks(
    session: ReplaySession,
    thread_id: str,
    position: int,
    ids: tuple[str, ...],
    touched: set[str],
    options: ContextOptions,
) -> list[Block]:
    call = previous_call(session, thread_id, position)
    blocks: list[Block] = []
    if call is None:
        blocks.append(Block("notice", "diff", text="Diff: no earlier model call on this thread; everything is new."))
        baseline: list[str] = []
    else:
        baseline = list(call.request_item_ids)
    # Items are matched by what the model reads, not by id: a byte-identical item sent again is kept.
    started = call.execution.started_seq if call is not None else 0
    before = [content_key(session.item_at(item_id, started) or _head_item(session, item_id)) for item_id in baseline]
    after = [content_key(session.item_at(item_id, position) or _head_item(session, item_id)) for item_id in ids]
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    added = dropped = kept = 0
    body: list[Block] = []
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if tag == "equal":
            kept += b1 - b0
            run = ids[b0:b1]
            # Long runs of unchanged items fold into one line: the diff is about what moved.
            if len(run) > 4:
                group_key = f"kept:{b0}"
                expanded = group_key in options.expanded_groups
                body.append(Block("item", f"item:{run[0]}", item_id=run[0], mark="kept", index=b0 + 1))
                body.append(Block("group", group_key, text="kept", members=tuple(run[1:-1]), expanded=expanded))
                if expanded:
                    for offset, item_id in enumerate(run[1:-1], start=b0 + 2):
                        body.append(Block("item", f"item:{item_id}", item_id=item_id, mark="kept", index=offset))
                body.append(Block("item", f"item:{run[-1]}", item_id=run[-1], mark="kept", index=b1))
            else:
                for offset, item_id in enumerate(run, start=b0 + 1):
                    body.append(Block("item", f"item:{item_id}", item_id=item_id, mark="kept", index=offset))
            continue
        for item_id in baseline[a0:a1]:
            dropped += 1
            body.append(Block("item", f"dropped:{item_id}", item_id=item_id, mark="dropped"))
        for offset, item_id in enumerate(ids[b0:b1], start=b0 + 1):
            added += 1
            body.append(
                Block(
                    "item", f"item:{item_id}", item_id=item_id, mark="added", index=offset, current=item_id in touched
                )
            )
    if call is not None:
        started = call.execution.started_seq
        blocks.append(
            Block(
                "notice",
                "diff",
                text=(
                    f"Diff since model call {short_id(call.inference_call_id)} (seq {started}): "
                    f"+{added} added, −{dropped} dropped, {kept} kept"
                ),
            )
        )
    blocks.extend(body)
    return blocks


# ----- usage ------------------------------------------------------------------

COMPOSITION_ORDER = ("instructions", "user", "assistant", "reasoning", "tool calls", "tool outputs", "summaries")


def item_category(item: ConversationItem) -> str:
    """Which share of the context an item counts towards."""
    kind = item.kind
    role = item.role
    if item.channel == "summary" or kind == "compaction_marker":
        return "summaries"
    if kind == "reasoning":
        return "reasoning"
    if kind in ("function_call", "custom_tool_call"):
        return "tool calls"
    if kind in ("function_call_output", "custom_tool_call_output") or role == "tool":
        return "tool outputs"
    if role in ("system", "developer"):
        return "instructions"
    if role == "user":
        return "user"
    return "assistant"


def item_size(item: ConversationItem) -> int:
    """Characters an item contributes (encrypted blobs count by their encoded length)."""
    size = len(item_text(item))
    for part in item.body.parts:
        if isinstance(part, EncodedPart):
            size += len(part.value)
    return size


def composition(session: ReplaySession, thread_id: str, position: int) -> dict[str, int]:
    """Characters per category of the thread's context at a position."""
    shares = dict.fromkeys(COMPOSITION_ORDER, 0)
    for item_id in session.context_at(thread_id, position):
        item = session.item_at(item_id, position)
        if item is None:
            continue
        shares[item_category(item)] += item_size(item)
    return shares


@dataclass(slots=True)
class ContextPoint:
    """Context size at one model call of a thread."""

    seq: int
    inference_call_id: str
    items: int
    input_tokens: int | None
    compaction_before: bool = False


def context_series(session: ReplaySession, thread_id: str, position: int) -> list[ContextPoint]:
    """Context size at each of the thread's model calls up to ``position``, marking calls right after a compaction.

    Token counts are only known once a call has completed (at or before ``position``).
    """
    calls = [
        c
        for c in session.rollout.inference_calls.values()
        if c.thread_id == thread_id and c.execution.started_seq <= position
    ]
    calls.sort(key=lambda c: c.execution.started_seq)
    compaction_seqs = sorted(
        [session.first_seq(cid) or 0 for cid, c in session.rollout.compactions.items() if c.thread_id == thread_id]
        + [local.seq for local in session.local_compactions if local.thread_id == thread_id]
    )
    points: list[ContextPoint] = []
    previous_seq = 0
    for call in calls:
        seq = call.execution.started_seq
        ended = call.execution.ended_seq
        usage = call.usage if ended is not None and ended <= position else None
        compacted = any(previous_seq < s <= seq for s in compaction_seqs)
        points.append(
            ContextPoint(
                seq=seq,
                inference_call_id=call.inference_call_id,
                items=len(call.request_item_ids),
                input_tokens=usage.input_tokens if usage is not None else None,
                compaction_before=compacted,
            )
        )
        previous_seq = seq
    return points


def usage_unit(session: ReplaySession, thread_id: str) -> str:
    """``tok`` when every finished call of the thread reports input tokens (in the whole trace), else ``items``.

    Decided on the head state, not the position, so the unit never switches while scrubbing.
    """
    ended = [
        c
        for c in session.rollout.inference_calls.values()
        if c.thread_id == thread_id and c.execution.ended_seq is not None
    ]
    if ended and all(c.usage is not None for c in ended):
        return "tok"
    return "items"


def selected_call(session: ReplaySession, thread_id: str, position: int) -> InferenceCall | None:
    """The model call the usage pane talks about: the event's own call, else the thread's latest started."""
    record = session.record(position)
    if record is not None:
        call_id = record.payload.get("inference_call_id")
        call = session.rollout.inference_calls.get(call_id) if isinstance(call_id, str) else None
        if call is not None and call.thread_id == thread_id:
            return call
    best: InferenceCall | None = None
    for call in session.rollout.inference_calls.values():
        if call.thread_id != thread_id:
            continue
        started = call.execution.started_seq
        if started <= position and (best is None or started > best.execution.started_seq):
            best = call
    return best
