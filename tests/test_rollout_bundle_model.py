"""A session rollout reduces to the same typed graph as the trace bundle of the same run.

Each case here has both: Codex wrote the rollout and the bundle in one run. The bundle is reduced
by our bundle reducer (itself checked against Codex's `trace-reduce`), the rollout by the rollout
reduction, and the two graphs are compared object by object: threads and their origins, turns,
every inference call (its input and output items in order, usage, the tools it started), tool
calls with their statuses, remote compactions with their requests and replacements, the
multi-agent edges, and the session status.

Object ids that name Codex-internal records (conversation items, compaction ids) differ between
the two sources, so items are compared by what they are (thread, role, channel, kind, Responses
id, call id, parts). The allowed differences are what a rollout cannot hold or holds in addition:

- the base instructions message's id and the ids Codex gives synthesised ``aborted`` outputs;
- local compactions: a bundle records none (no request, no compaction); a rollout has both,
  with the summary;
- thread start times and positions (a bundle starts with its own bookkeeping events).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec
import pytest
from corpora import cases_or_skip
from rollout_helpers import SAMPLES, SHARED_CORPUS, case_dirs, rollout_files, unpacked

from trace_viewer.model import (
    UNSET,
    CompactionProducer,
    ConversationItemAnchor,
    RolloutTrace,
    SpawnedOrigin,
    TextPart,
    ThreadAnchor,
    ToolCallAnchor,
    ToolProducer,
    TraceAnchor,
    tag_of,
)
from trace_viewer.reducer.replay import replay_bundle
from trace_viewer.rollout_session import RolloutSession

TEMP_HOME = re.compile(r"/tmp/tg-home-[A-Za-z0-9_]+")
TEMP_WORK = re.compile(r"/tmp/tg-work-[A-Za-z0-9_]+")
RECORDED = ("agents_v1", "tools_fail_http500", "tools_fail_stream", "tools_interrupt_KILL", "tools_tool_errors")


def rewrite(text: str) -> str:
    """The recording's temporary paths as scripts/import_rollouts.py rewrites them in rollout files."""
    return TEMP_HOME.sub("/home/dev/.codex", TEMP_WORK.sub("/home/dev/project", text))


def _bundles(case: Path) -> list[Path]:
    return sorted(path for path in case.iterdir() if path.is_dir() and path.name.startswith("bundle"))


def _item(
    rollout: RolloutTrace, item_id: str, *, first: bool = False, local: frozenset[str] = frozenset()
) -> tuple[Any, ...]:
    item = rollout.conversation_items[item_id]
    responses_id = None if item.responses_item_id is UNSET else item.responses_item_id
    parts = item.body.parts
    aborted = item.kind.endswith("_output") and len(parts) == 1 and isinstance(parts[0], TextPart)
    if first or (aborted and parts[0].text == "aborted"):  # type: ignore[union-attr]
        responses_id = None  # ids a rollout does not record
    metadata = None if item.agent_message is UNSET else item.agent_message
    # A part read from a payload names it (the payload ids of the two sources differ); our own
    # recordings keep their temporary paths inside the bundle's compressed shards.
    parts = [msgspec.structs.replace(p, raw_payload_id="") if hasattr(p, "raw_payload_id") else p for p in parts]
    producers = [
        rollout.tool_calls[p.tool_call_id].model_visible_call_id if isinstance(p, ToolProducer) else tag_of(p)
        for p in item.produced_by
        # A bundle knows no local compaction; code cells are not reduced from a rollout (docs/ROLLOUTS.md).
        if not (isinstance(p, CompactionProducer) and p.compaction_id in local) and tag_of(p) != "code_cell"
    ]
    accepted = item.accepted_seq is not UNSET
    return (item.thread_id, item.role, item.channel, item.kind, responses_id, item.call_id, rewrite(repr(parts)),
            metadata, producers, accepted)  # fmt: skip


def _anchor(rollout: RolloutTrace, anchor: TraceAnchor, local: frozenset[str]) -> tuple[Any, ...]:
    if isinstance(anchor, ConversationItemAnchor):
        return ("item", _item(rollout, anchor.item_id, local=local))
    if isinstance(anchor, ToolCallAnchor):
        return ("tool", rollout.tool_calls[anchor.tool_call_id].model_visible_call_id)
    assert isinstance(anchor, ThreadAnchor)
    return ("thread", anchor.thread_id)


def facts(rollout: RolloutTrace, local: frozenset[str] = frozenset()) -> dict[str, Any]:
    """What both sources must agree on, with the ids only one of them has left out.

    ``local``: the rollout's local compactions (a bundle records none), left out.
    """

    def item(item_id: str, first: bool = False) -> tuple[Any, ...]:
        return _item(rollout, item_id, first=first, local=local)

    threads = {}
    for thread in rollout.threads.values():
        origin = thread.origin
        spawned = (
            (origin.parent_thread_id, origin.spawn_edge_id, origin.task_name, origin.agent_role)
            if isinstance(origin, SpawnedOrigin)
            else None
        )
        threads[thread.thread_id] = (thread.agent_path, thread.nickname, spawned, thread.execution.status)
    calls: dict[str, list[tuple[Any, ...]]] = {}
    for call in sorted(rollout.inference_calls.values(), key=lambda call: call.execution.started_seq):
        # The tools one response started, in the order they ran (bundle) or were written (rollout).
        tools = sorted(
            str(rollout.tool_calls[tool].model_visible_call_id) for tool in call.tool_call_ids_started_by_response
        )
        running = call.execution.status == "running"
        calls.setdefault(call.thread_id, []).append(
            (
                call.codex_turn_id,
                call.execution.status,
                call.response_id,
                call.model,
                call.usage,
                [item(item_id, first=index == 0) for index, item_id in enumerate(call.request_item_ids)],
                # A call still streaming when Codex was killed: the bundle has no response yet,
                # the rollout has what was streamed (as both do for an interrupted call).
                [] if running else [item(item_id) for item_id in call.response_item_ids],
                tools,
            )
        )
    compactions = []
    for compaction in sorted(rollout.compactions.values(), key=lambda c: c.installed_at_unix_ms):
        if compaction.compaction_id in local:
            continue
        requests = [rollout.compaction_requests[request_id] for request_id in compaction.request_ids]
        compactions.append(
            (
                compaction.thread_id,
                compaction.codex_turn_id,
                [(request.codex_turn_id, request.execution.status, request.model) for request in requests],
                [item(item_id) for item_id in compaction.input_item_ids],
                [item(item_id) for item_id in compaction.replacement_item_ids],
            )
        )
    edges = sorted(
        (
            edge.edge_id,
            edge.kind,
            _anchor(rollout, edge.source, local),
            _anchor(rollout, edge.target, local),
            [item(item_id) for item_id in edge.carried_item_ids],
        )
        for edge in rollout.interaction_edges.values()
    )
    return {
        "threads": threads,
        "turns": {turn.codex_turn_id: (turn.thread_id, turn.execution.status) for turn in rollout.codex_turns.values()},
        "calls": calls,
        "tools": {
            tool.model_visible_call_id: (
                tool.thread_id,
                tool.kind,
                tool.execution.status,
                [item(item_id) for item_id in tool.model_visible_call_item_ids],
                [item(item_id) for item_id in tool.model_visible_output_item_ids],
            )
            for tool in rollout.tool_calls.values()
            if tool.model_visible_call_id is not None  # code-mode nested tools: see the module docstring
        },
        "compactions": compactions,
        "edges": edges,
        "status": rollout.status,
    }


def local_compaction_ids(session: RolloutSession) -> frozenset[str]:
    """Compactions asked for by a local compaction request (a bundle records none)."""
    out: set[str] = set()
    for thread in session.reducer.threads.values():
        for index, compaction_id in thread.compaction_of.items():
            if thread.rebuilder.calls[index].compaction == "local":
                out.add(compaction_id)
    return frozenset(out)


def compare(case: Path) -> dict[str, Any]:
    (bundle,) = _bundles(case)
    session = RolloutSession(rollout_files(case)[0])
    session.load_all()
    assert session.fault is None, session.fault
    replay = replay_bundle(bundle)
    assert replay.reducer.fault is None, replay.reducer.fault
    local = local_compaction_ids(session)
    ours, theirs = facts(session.rollout, local), facts(replay.reducer.rollout)
    if local:
        # A tool output that only a local compaction request carried is that tool's in the rollout;
        # a bundle records no such request, so it never binds the item to the tool.
        for key, (*rest, outputs) in theirs["tools"].items():
            mine = ours["tools"].get(key)
            if mine is not None and set(map(repr, outputs)) <= set(map(repr, mine[-1])):
                theirs["tools"][key] = (*rest, mine[-1])
    for key in theirs:
        assert ours[key] == theirs[key], f"{case.name}: {key} differ"
    return ours


def _single_bundle(cases: list[Path]) -> list[Path]:
    return [case for case in cases if len(_bundles(case)) == 1]


@pytest.mark.parametrize(
    "case", cases_or_skip(_single_bundle(case_dirs(SHARED_CORPUS)), "corpus-rollouts", ids=lambda c: c.name)
)
def test_same_graph_as_the_bundle_corpus(case: Path) -> None:
    compare(case)


@pytest.mark.parametrize("case", _single_bundle(case_dirs(SAMPLES)), ids=lambda c: c.name)
def test_same_graph_as_the_bundle_samples(case: Path) -> None:
    compare(case)


@pytest.mark.parametrize("name", RECORDED)
def test_same_graph_as_the_bundle_recorded(name: str) -> None:
    compare(unpacked("0.171.0") / name)


def test_the_comparison_sees_what_differs() -> None:
    """The compared facts are not trivially equal: a changed status, a dropped edge show."""
    recorded = compare(unpacked("0.171.0") / "tools_tool_errors")
    statuses = sorted(status for _, _, status, _, _ in recorded["tools"].values())
    assert statuses.count("failed") == 4 and statuses.count("completed") == 2
    killed = compare(unpacked("0.171.0") / "tools_interrupt_KILL")
    assert killed["status"] == "running" and [s for *_, s in killed["threads"].values()] == ["running"]
    agents = compare(unpacked("0.171.0") / "agents_v1")
    assert [edge[1] for edge in agents["edges"]] == ["spawn_agent", "close_agent"] or sorted(
        edge[1] for edge in agents["edges"]
    ) == ["close_agent", "spawn_agent"]


def test_multi_agent_edges_match_the_bundle_item_for_item() -> None:
    case = SHARED_CORPUS / "agents_full"
    if not case.is_dir():
        case = SAMPLES / "agents_full"
    session = RolloutSession(rollout_files(case)[0])
    session.load_all()
    kinds = sorted(edge.kind for edge in session.rollout.interaction_edges.values())
    assert (
        kinds
        == ["agent_result"] * 3 + ["assign_agent_task"] + ["close_agent"] * 2 + ["send_message"] + ["spawn_agent"] * 2
    )
    # Every delivery edge ends on the exact item that carried the message, in the other thread.
    for edge in session.rollout.interaction_edges.values():
        if edge.kind == "close_agent":
            assert isinstance(edge.target, ThreadAnchor)
            continue
        assert isinstance(edge.target, ConversationItemAnchor) and edge.carried_item_ids == [edge.target.item_id]
        item = session.rollout.conversation_items[edge.target.item_id]
        assert item.agent_message is not UNSET


def test_resumed_session_has_the_turns_of_every_bundle_part() -> None:
    """Resume appends to the rollout; each resumed process wrote a bundle of its own."""
    case = SHARED_CORPUS / "tools_multiturn_resume"
    if not case.is_dir():
        case = SAMPLES / "tools_multiturn_resume"
    session = RolloutSession(rollout_files(case)[0])
    session.load_all()
    ours = facts(session.rollout)
    parts = [facts(replay_bundle(bundle).reducer.rollout) for bundle in _bundles(case)]
    if not parts:
        pytest.skip("needs ../shared/corpus-rollouts (the sample copy keeps no bundle of this case)")
    assert len(parts) == 3
    assert ours["turns"] == {key: value for part in parts for key, value in part["turns"].items()}
    assert ours["tools"] == {key: value for part in parts for key, value in part["tools"].items()}
    (thread,) = ours["calls"]
    theirs = [call for part in parts for call in part["calls"][thread]]

    def unstamped(calls: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Without producers and acceptance: a resumed process's bundle never saw who produced or
        accepted the items of earlier processes."""
        return [
            (*call[:5], [item[:-2] for item in call[5]], [item[:-2] for item in call[6]], call[7]) for call in calls
        ]

    assert len(ours["calls"][thread]) == len(theirs) == 6
    assert unstamped(ours["calls"][thread]) == unstamped(theirs)
