"""The pure view models and renderers behind the panes (no terminal needed)."""

from __future__ import annotations

import io

from conftest import sample
from rich.console import Console

from trace_viewer.app.render import Palette, composition_bar, fold_pieces, render_item, sparkline
from trace_viewer.app.views import ContextOptions, build_context, build_timeline, composition, current_row_key
from trace_viewer.model import ConversationBody, ConversationItem, TextPart
from trace_viewer.session import ReplaySession


def _session(name: str) -> ReplaySession:
    session = ReplaySession(sample(name))
    session.load_all()
    return session


def _plain(renderable, width: int = 80) -> str:
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    console.print(renderable)
    return console.export_text()


def test_timeline_tree_nests_children_under_parents() -> None:
    session = _session("agents_minimal")
    rows = build_timeline(session)
    by_key = {row.key: row for row in rows}
    root = session.rollout.root_thread_id
    assert rows[0].key == f"thread:{root}" and rows[0].depth == 0
    child = next(row for row in rows if row.kind == "thread" and row.object_id != root)
    assert child.parent_key == f"thread:{root}" and child.depth == 1
    for row in rows:
        if row.parent_key is not None:
            parent = by_key[row.parent_key]
            assert row.depth == parent.depth + 1
            assert rows.index(parent) < rows.index(row)
    spawn = next(row for row in rows if row.kind == "tool" and "spawn" in row.title)
    assert spawn.thread_id == root
    assert not child.visible_at(child.start_seq - 1) and child.visible_at(child.start_seq)
    assert child.status_at(child.start_seq) == "running"
    assert child.status_at(session.total) == child.final_status


def test_current_row_follows_the_event() -> None:
    session = _session("exec_basic")
    rows = build_timeline(session)
    lookup = {row.object_id: row.key for row in rows}
    first_call = session.seqs_of("inference_started")[0]
    assert current_row_key(session, lookup, first_call).startswith("inference:")


def test_context_blocks_equal_the_live_context_and_mark_the_current_event() -> None:
    session = _session("exec_basic")
    root = session.rollout.root_thread_id
    seq = session.seqs_of("inference_completed")[0]
    blocks = build_context(session, root, seq)
    assert [b.item_id for b in blocks if b.kind == "item"] == list(session.context_at(root, seq))
    change = session.change_at(seq)
    assert {b.item_id for b in blocks if b.current} == set(session.context_at(root, seq)) & {
        *change.created,
        *change.updated,
    }


def test_remote_compaction_rule_sits_before_the_replacement() -> None:
    session = _session("compaction_remote_midturn")
    root = session.rollout.root_thread_id
    after = session.seqs_of("compaction_installed")[0] + 1
    blocks = build_context(session, root, after)
    rule = next(i for i, b in enumerate(blocks) if b.kind == "rule")
    compaction = next(iter(session.rollout.compactions.values()))
    assert blocks[rule + 1].kind == "group" and len(blocks[rule + 1].members) == len(compaction.input_item_ids)
    following = next(b for b in blocks[rule + 1 :] if b.kind == "item")
    assert following.item_id in compaction.replacement_item_ids
    assert any(b.mark == "summary" for b in blocks)
    opened = build_context(session, root, after, ContextOptions(show_all_replaced=True))
    assert sum(1 for b in opened if b.mark == "replaced") > 0


def test_diff_counts_add_up() -> None:
    session = _session("tools_multiturn_appserver")
    root = session.rollout.root_thread_id
    seq = session.seqs_of("inference_started")[2]
    blocks = build_context(session, root, seq, ContextOptions(diff=True))
    items = [b for b in blocks if b.kind == "item"]
    kept = sum(1 for b in items if b.mark == "kept") + sum(len(b.members) for b in blocks if b.kind == "group")
    added = sum(1 for b in items if b.mark == "added")
    assert kept + added == len(session.context_at(root, seq))
    assert f"+{added} added" in blocks[0].text


def test_fold_pieces() -> None:
    short = [("text", "one\ntwo\n")]
    assert fold_pieces(short, 80, expanded=False) == (short, 0, 0)
    long = [("text", "\n".join(f"line {i}" for i in range(100)) + "\n")]
    shown, hidden_lines, hidden_chars = fold_pieces(long, 80, expanded=False)
    assert shown[0][1].count("\n") <= 6 and hidden_lines >= 90 and hidden_chars > 0
    wide = [("text", "x" * 20_000 + "\n")]
    shown, _, hidden_chars = fold_pieces(wide, 40, expanded=False)
    assert len(shown[0][1]) <= 81 and hidden_chars > 19_000
    assert fold_pieces(long, 80, expanded=True)[1:] == (0, 0)


def test_render_item_keeps_markup_literal_and_escapes_controls() -> None:
    item = ConversationItem(
        item_id="conversation_item:1",
        thread_id="thread-1",
        codex_turn_id=None,
        first_seen_at_unix_ms=0,
        role="user",
        channel=None,
        kind="message",
        body=ConversationBody([TextPart("[bold]x[/bold] \x1b[31mred \u202etxt")]),
        call_id=None,
        produced_by=[],
    )
    text = _plain(
        render_item(item, Palette(), width=80, expanded=False, provenance=True, mark="", index=1, first_seq=3)
    )
    assert "[bold]x[/bold]" in text and "\\x1b[31mred" in text and "\\u202etxt" in text
    assert "\x1b" not in text and "\u202e" not in text
    assert "produced by" in text and "item 1" in text


def test_sparkline_and_composition_fit_their_width() -> None:
    line = sparkline([1, 5, 3, 10, 2], Palette(), current=3, marks={2}, width=40)
    assert line.plain == "▂▅▃█▂"  # scaled from zero: the drop after a compaction keeps its true size
    squeezed = sparkline(list(range(100)), Palette(), current=None, marks=set(), width=10)
    assert len(squeezed.plain) == 10
    session = _session("exec_basic")
    shares = composition(session, session.rollout.root_thread_id, session.total)
    assert shares["instructions"] > 0 and shares["user"] > 0
    assert len(composition_bar(shares, Palette(), 37).plain) == 37
