"""Multi-agent interaction edges (reducer/agents.py), replayed from tiny hand-written bundles.

The scenarios follow the official crate's agent tests: where a delivery edge
lands (the recipient's exact conversation item, or a thread when there is
none), which raw payloads it carries, and when it is given up. Schema 2 adds
agent-message receipts that create the recipient item at acceptance time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from bundle_builder import BundleBuilder, Payload, message
from corpora import require

from trace_viewer.model import ConversationItem
from trace_viewer.reducer.agents import inter_agent_message_fields
from trace_viewer.reducer.replay import reduce_bundle

ROOT = "019d0000-0000-7000-8000-000000000001"
CHILD = "019d0000-0000-7000-8000-000000000002"
SPAWN_EDGE = f"edge:spawn:{ROOT}:{CHILD}"


class AgentBundle(BundleBuilder):
    """``BundleBuilder`` plus the agent-tool steps these scenarios repeat."""

    def event(self, payload_type: str, thread: str | None = None, turn: str | None = None, **fields: Any) -> int:
        return self.add({"type": payload_type, **fields}, thread=thread, turn=turn)

    def thread(
        self, thread_id: str | None = None, agent_path: str = "/root", metadata: dict[str, Any] | None = None
    ) -> int:
        """A thread start, optionally with session metadata (spawned children carry their origin there)."""
        ref = Payload("session_metadata", metadata) if metadata is not None else None
        return self.event(
            "thread_started", thread_id=thread_id or self.root_thread_id, agent_path=agent_path, metadata_payload=ref
        )

    def tool_start(
        self, call_id: str, kind: str | dict[str, Any], arguments: dict[str, Any], turn: str = "turn-1"
    ) -> dict[str, Any]:
        """A model tool call; `kind` is a unit kind name or a whole tagged kind."""
        kind = kind if isinstance(kind, dict) else {"type": kind}
        invocation = self.payload(
            "tool_invocation",
            {"tool_name": kind["type"], "payload": {"type": "function", "arguments": json.dumps(arguments)}},
        )
        self.event(
            "tool_call_started",
            ROOT,
            turn,
            tool_call_id=call_id,
            model_visible_call_id=call_id,
            code_mode_runtime_tool_id=None,
            requester={"type": "model"},
            kind=kind,
            summary={"type": "generic", "label": kind["type"], "input_preview": None, "output_preview": None},
            invocation_payload=invocation,
        )
        return invocation

    def runtime(
        self, phase: str, call_id: str, kind: str | dict[str, Any], body: dict[str, Any], turn: str = "turn-1"
    ) -> dict[str, Any]:
        """A runtime begin/end; schema 2 begins carry the (possibly upgraded) tool kind."""
        ref = self.payload("tool_runtime_event", body)
        fields: dict[str, Any] = {"tool_call_id": call_id, "runtime_payload": ref}
        if phase == "started" and self.schema_version >= 2:
            fields["kind"] = kind if isinstance(kind, dict) else {"type": kind}
        if phase == "ended":
            fields["status"] = "completed"
        self.event(f"tool_call_runtime_{phase}", ROOT, turn, **fields)
        return ref

    def tool_end(self, call_id: str, result: Any, turn: str = "turn-1") -> dict[str, Any]:
        ref = self.payload("tool_result", result)
        self.event("tool_call_ended", ROOT, turn, tool_call_id=call_id, status="completed", result_payload=ref)
        return ref


def legacy_delivery(author: str, recipient: str, content: str, trigger_turn: bool = False) -> dict[str, Any]:
    """An inter-agent delivery as older traces show it: assistant text holding the serialised message."""
    body = {"author": author, "recipient": recipient, "other_recipients": [], "content": content}
    return message("assistant", json.dumps({**body, "trigger_turn": trigger_turn}))


def agent_message(author: str, recipient: str, payload: str, message_id: str | None = None) -> dict[str, Any]:
    """A multi-agent v2 mailbox item: readable header plus the message as encrypted content."""
    item: dict[str, Any] = {
        "type": "agent_message",
        "author": author,
        "recipient": recipient,
        "content": [
            {"type": "input_text", "text": f"Message Type: NEW_TASK\nTask name: {recipient}\nSender: {author}\n"},
            {"type": "encrypted_content", "encrypted_content": payload},
        ],
    }
    if message_id is not None:
        item["id"] = message_id
    return item


def item_target(edge: dict[str, Any]) -> str:
    assert edge["target"]["type"] == "conversation_item", edge["target"]
    return edge["target"]["item_id"]


def replayed(bundle: AgentBundle) -> dict[str, Any]:
    reducer = bundle.reduce()
    assert reducer.fault is None, str(reducer.fault)
    return reducer.to_json()


def v1_spawn(bundle: AgentBundle) -> list[str]:
    """The parent-side v1 spawn lifecycle (invocation, begin, end naming the child, result)."""
    refs = [bundle.tool_start("call-spawn", "spawn_agent", {"task_name": "counter", "message": "count"})]
    refs.append(
        bundle.runtime(
            "started",
            "call-spawn",
            "spawn_agent",
            {
                "call_id": "call-spawn",
                "sender_thread_id": ROOT,
                "prompt": "count",
                "model": "",
                "reasoning_effort": "medium",
            },
        )
    )
    refs.append(
        bundle.runtime(
            "ended",
            "call-spawn",
            "spawn_agent",
            {
                "call_id": "call-spawn",
                "sender_thread_id": ROOT,
                "new_thread_id": CHILD,
                "prompt": "count",
                "model": "gpt-test",
                "reasoning_effort": "medium",
                "status": "pending_init",
            },
        )
    )
    refs.append(bundle.tool_end("call-spawn", {"task_name": "/root/counter"}))
    return [ref["raw_payload_id"] for ref in refs]


@pytest.fixture
def schema1(tmp_path: Path) -> AgentBundle:
    bundle = AgentBundle(tmp_path / "bundle", schema_version=1, root_thread_id=ROOT)
    bundle.thread(ROOT, "/root")
    return bundle


@pytest.fixture
def schema2(tmp_path: Path) -> AgentBundle:
    bundle = AgentBundle(tmp_path / "bundle", schema_version=2, root_thread_id=ROOT)
    bundle.thread(ROOT, "/root")
    return bundle


# ----- spawn ----------------------------------------------------------------------


def test_child_metadata_names_spawn_edge_but_creates_no_delivery_edge(schema1: AgentBundle) -> None:
    schema1.thread(
        CHILD,
        "/root/counter",
        {
            "nickname": "James",
            "model": "gpt-test",
            "session_source": {
                "subagent": {
                    "thread_spawn": {"parent_thread_id": ROOT, "agent_path": "/root/counter", "agent_role": "explorer"}
                }
            },
        },
    )
    state = replayed(schema1)
    assert state["threads"][CHILD]["origin"]["spawn_edge_id"] == SPAWN_EDGE
    assert state["interaction_edges"] == {}


def test_v1_spawn_targets_the_delivered_child_task_message(schema1: AgentBundle) -> None:
    schema1.turn("turn-1", ROOT)
    payload_ids = v1_spawn(schema1)
    schema1.thread(CHILD, "/root/counter")
    schema1.turn("turn-child", CHILD)
    schema1.inference(
        "inf-child", "turn-child", thread_id=CHILD, request=[legacy_delivery("/root", "/root/counter", "count", True)]
    )
    state = replayed(schema1)
    edge = state["interaction_edges"][SPAWN_EDGE]
    target = item_target(edge)
    assert edge["kind"] == "spawn_agent"
    assert edge["source"] == {"type": "tool_call", "tool_call_id": "call-spawn"}
    assert edge["carried_item_ids"] == [target]
    assert state["conversation_items"][target]["thread_id"] == CHILD
    assert edge["carried_raw_payload_ids"] == payload_ids
    tool = state["tool_calls"]["call-spawn"]
    assert (edge["started_at_unix_ms"], edge["ended_at_unix_ms"]) == (
        tool["execution"]["started_at_unix_ms"],
        1000 + 10 * 5,  # the runtime end event
    )


def test_v1_spawn_falls_back_to_child_thread_without_delivery_item(schema1: AgentBundle) -> None:
    schema1.turn("turn-1", ROOT)
    payload_ids = v1_spawn(schema1)
    schema1.thread(CHILD, "/root/counter")  # the child fails before its task is model-visible
    edge = replayed(schema1)["interaction_edges"][SPAWN_EDGE]
    assert edge["target"] == {"type": "thread", "thread_id": CHILD}
    assert edge["carried_item_ids"] == []
    assert edge["carried_raw_payload_ids"] == payload_ids


def test_spawn_of_a_child_never_started_leaves_no_edge(schema1: AgentBundle) -> None:
    schema1.turn("turn-1", ROOT)
    v1_spawn(schema1)
    assert replayed(schema1)["interaction_edges"] == {}


def test_v2_started_activity_targets_agent_message_item(schema2: AgentBundle) -> None:
    schema2.turn("turn-1", ROOT)
    invocation = schema2.tool_start("call-spawn-v2", "spawn_agent", {"message": "review this", "task_name": "reviewer"})
    activity = schema2.runtime(
        "ended",
        "call-spawn-v2",
        "spawn_agent",
        {
            "event_id": "call-spawn-v2",
            "occurred_at_ms": 1234,
            "agent_thread_id": CHILD,
            "agent_path": "/root/reviewer",
            "kind": "started",
        },
    )
    schema2.thread(CHILD, "/root/reviewer")
    schema2.turn("turn-child", CHILD)
    schema2.inference(
        "inf-child", "turn-child", thread_id=CHILD, request=[agent_message("/root", "/root/reviewer", "review this")]
    )
    state = replayed(schema2)
    edge = state["interaction_edges"][SPAWN_EDGE]
    target = item_target(edge)
    assert state["conversation_items"][target]["thread_id"] == CHILD
    assert edge["carried_raw_payload_ids"] == [invocation["raw_payload_id"], activity["raw_payload_id"]]


# ----- schema 2 receipts ------------------------------------------------------------


def spawn_with_receipt(bundle: AgentBundle, receipt_recipient: str) -> None:
    bundle.turn("turn-1", ROOT)
    bundle.tool_start("call-spawn", "spawn_agent", {"message": "count", "task_name": "counter"})
    bundle.runtime(
        "ended",
        "call-spawn",
        "spawn_agent",
        {
            "event_id": "call-spawn",
            "agent_thread_id": CHILD,
            "agent_path": "/root/counter",
            "kind": "started",
        },
    )
    bundle.thread(CHILD, "/root/counter")
    bundle.turn("turn-child", CHILD)
    receipt = bundle.payload("protocol_event", agent_message("/root", receipt_recipient, "count", "amsg_1"))
    bundle.event("history_item_accepted", CHILD, "turn-child", item_id="amsg_1", agent_message_payload=receipt)


def test_receipt_creates_the_task_item_and_resolves_spawn_at_acceptance(schema2: AgentBundle) -> None:
    spawn_with_receipt(schema2, "/root/counter")
    accepted_seq = len(schema2.events)
    state = replayed(schema2)  # no request ever shows the item: the receipt alone is enough
    edge = state["interaction_edges"][SPAWN_EDGE]
    item = state["conversation_items"][item_target(edge)]
    assert item["accepted_seq"] == accepted_seq
    assert item["agent_message"] == {"author": "/root", "recipient": "/root/counter"}


def test_receipt_for_another_recipient_leaves_spawn_on_thread_fallback(schema2: AgentBundle) -> None:
    spawn_with_receipt(schema2, "/root/other")
    # The later sighting keeps the receipt's author/recipient, so it never matches either.
    schema2.inference(
        "inf-child", "turn-child", thread_id=CHILD, request=[agent_message("/root", "/root/counter", "count", "amsg_1")]
    )
    edge = replayed(schema2)["interaction_edges"][SPAWN_EDGE]
    assert edge["target"] == {"type": "thread", "thread_id": CHILD}


# ----- send / assign ---------------------------------------------------------------


def test_v1_send_message_targets_delivered_item_and_ends_at_runtime_end(schema1: AgentBundle) -> None:
    schema1.turn("turn-1", ROOT)
    schema1.tool_start("call-send", "send_message", {"target": "/root/child", "message": "hello"})
    begin = {"call_id": "call-send", "sender_thread_id": ROOT, "receiver_thread_id": CHILD, "prompt": "hello"}
    schema1.runtime("started", "call-send", "send_message", begin)
    ended_at = 1000 + 10 * (len(schema1.events) + 1)
    schema1.runtime("ended", "call-send", "send_message", {**begin, "status": "running"})
    schema1.thread(CHILD, "/root/child")
    schema1.turn("turn-child", CHILD)
    schema1.inference(
        "inf-child", "turn-child", thread_id=CHILD, request=[legacy_delivery("/root", "/root/child", "hello")]
    )
    state = replayed(schema1)
    edge = state["interaction_edges"]["edge:tool:call-send"]
    assert edge["kind"] == "send_message"
    assert state["conversation_items"][item_target(edge)]["thread_id"] == CHILD
    assert edge["ended_at_unix_ms"] == ended_at


def test_v2_followup_activity_becomes_assign_edge(schema2: AgentBundle) -> None:
    schema2.turn("turn-1", ROOT)
    invocation = schema2.tool_start("call-followup", "assign_agent_task", {"target": "child", "message": "continue"})
    activity = schema2.runtime(
        "ended",
        "call-followup",
        "assign_agent_task",
        {
            "event_id": "call-followup",
            "agent_thread_id": CHILD,
            "agent_path": "/root/child",
            "kind": "interacted",
        },
    )
    schema2.thread(CHILD, "/root/child")
    schema2.turn("turn-child", CHILD)
    schema2.inference(
        "inf-child", "turn-child", thread_id=CHILD, request=[agent_message("/root", "/root/child", "continue")]
    )
    state = replayed(schema2)
    edge = state["interaction_edges"]["edge:tool:call-followup"]
    assert edge["kind"] == "assign_agent_task"
    assert state["conversation_items"][item_target(edge)]["thread_id"] == CHILD
    assert edge["carried_raw_payload_ids"] == [invocation["raw_payload_id"], activity["raw_payload_id"]]


def test_undelivered_send_is_dropped_at_end_of_log(schema2: AgentBundle) -> None:
    schema2.thread(CHILD, "/root/child")
    schema2.turn("turn-1", ROOT)
    schema2.tool_start("call-send", "send_message", {"target": "child", "message": "hello"})
    schema2.runtime(
        "ended",
        "call-send",
        "send_message",
        {
            "event_id": "call-send",
            "agent_thread_id": CHILD,
            "agent_path": "/root/child",
            "kind": "interacted",
        },
    )
    schema2.tool_end("call-send", {"ok": True})
    reducer = schema2.reduce()
    assert reducer.agents.pending == []  # finish() gave it up
    assert reducer.to_json()["interaction_edges"] == {}


def test_activity_that_does_not_fit_the_tool_kind_is_a_fault(schema2: AgentBundle) -> None:
    schema2.thread(CHILD, "/root/child")
    schema2.turn("turn-1", ROOT)
    schema2.tool_start("call-send", "send_message", {"target": "child", "message": "hello"})
    schema2.runtime(
        "ended",
        "call-send",
        "send_message",
        {
            "event_id": "call-send",
            "agent_thread_id": CHILD,
            "agent_path": "/root/child",
            "kind": "started",
        },
    )
    reducer = schema2.reduce()
    assert reducer.fault is not None
    assert reducer.fault.message == "sub-agent activity Started does not match tool call kind SendMessage"


def test_runtime_payload_missing_a_field_is_a_fault(schema1: AgentBundle) -> None:
    schema1.thread(CHILD, "/root/child")
    schema1.turn("turn-1", ROOT)
    schema1.tool_start("call-close", "close_agent", {"target": "/root/child"})
    schema1.runtime("started", "call-close", "close_agent", {"sender_thread_id": ROOT, "receiver_thread_id": CHILD})
    reducer = schema1.reduce()
    assert reducer.fault is not None and reducer.fault.message == "missing field `call_id`"


def test_completed_activity_creates_no_edge_for_any_tool(schema2: AgentBundle) -> None:
    schema2.thread(CHILD, "/root/child")
    schema2.turn("turn-1", ROOT)
    schema2.tool_start("call-send", "send_message", {"target": "child", "message": "hello"})
    schema2.runtime(
        "ended",
        "call-send",
        "send_message",
        {"event_id": "call-send", "agent_thread_id": CHILD, "agent_path": "/root/child", "kind": {"completed": None}},
    )
    schema2.turn("turn-child", CHILD)
    schema2.inference(
        "inf-child", "turn-child", thread_id=CHILD, request=[agent_message("/root", "/root/child", "hello")]
    )
    reducer = schema2.reduce()
    assert reducer.fault is None
    assert reducer.to_json()["interaction_edges"] == {}
    assert reducer.agents.pending == []


def test_schema2_mcp_runtime_end_is_not_read_as_agent_activity(schema2: AgentBundle) -> None:
    schema2.thread(CHILD, "/root/child")
    schema2.turn("turn-1", ROOT)
    schema2.tool_start("call-mcp", {"type": "other", "name": "s__t"}, {"a": 1})
    schema2.runtime(
        "started",
        "call-mcp",
        {"type": "mcp", "server": "s", "tool": "t"},
        {"call_id": "call-mcp", "invocation": {"server": "s", "tool": "t", "arguments": {"a": 1}}},
    )
    # An activity-shaped body with a kind no agent tool accepts: 0.169 does not even parse it.
    schema2.runtime("ended", "call-mcp", "mcp", {"agent_thread_id": "not-a-uuid", "kind": "bogus"})
    assert schema2.reduce().fault is None


# ----- close ------------------------------------------------------------------------


def test_close_targets_the_thread_and_carries_every_tool_payload(schema1: AgentBundle) -> None:
    schema1.thread(CHILD, "/root/child")
    schema1.turn("turn-1", ROOT)
    refs = [schema1.tool_start("call-close", "close_agent", {"target": "/root/child"})]
    begin = {"call_id": "call-close", "sender_thread_id": ROOT, "receiver_thread_id": CHILD}
    refs.append(schema1.runtime("started", "call-close", "close_agent", begin))
    refs.append(schema1.runtime("ended", "call-close", "close_agent", {**begin, "status": "running"}))
    refs.append(schema1.tool_end("call-close", {"previous_status": "running"}))
    edge = replayed(schema1)["interaction_edges"]["edge:tool:call-close"]
    assert edge["kind"] == "close_agent"
    assert edge["target"] == {"type": "thread", "thread_id": CHILD}
    assert edge["carried_item_ids"] == []
    assert edge["carried_raw_payload_ids"] == [ref["raw_payload_id"] for ref in refs]


def test_thread_ids_in_runtime_payloads_are_compared_in_canonical_form(schema1: AgentBundle) -> None:
    schema1.thread(CHILD, "/root/child")
    schema1.turn("turn-1", ROOT)
    schema1.tool_start("call-close", "close_agent", {"target": "/root/child"})
    shouted = "{" + CHILD.upper() + "}"  # braced and upper-case: still the same UUID
    begin = {"call_id": "call-close", "sender_thread_id": ROOT, "receiver_thread_id": shouted}
    schema1.runtime("started", "call-close", "close_agent", begin)
    edge = replayed(schema1)["interaction_edges"]["edge:tool:call-close"]
    assert edge["target"] == {"type": "thread", "thread_id": CHILD}


def test_malformed_thread_id_is_a_fault_with_the_uuid_reason(schema1: AgentBundle) -> None:
    schema1.thread(CHILD, "/root/child")
    schema1.turn("turn-1", ROOT)
    schema1.tool_start("call-close", "close_agent", {"target": "/root/child"})
    begin = {"call_id": "call-close", "sender_thread_id": ROOT, "receiver_thread_id": CHILD[:-1] + "x"}
    schema1.runtime("started", "call-close", "close_agent", begin)
    fault = schema1.reduce().fault
    assert fault is not None
    assert fault.message.startswith("invalid character: expected an optional prefix of `urn:uuid:`")
    assert fault.message.endswith("found `x` at 36")


def test_close_of_a_thread_unknown_to_the_trace_makes_no_edge(schema1: AgentBundle) -> None:
    schema1.turn("turn-1", ROOT)
    schema1.tool_start("call-close", "close_agent", {"target": "/root/ghost"})
    begin = {"call_id": "call-close", "sender_thread_id": ROOT, "receiver_thread_id": CHILD}
    schema1.runtime("started", "call-close", "close_agent", begin)
    assert replayed(schema1)["interaction_edges"] == {}


# ----- agent results ----------------------------------------------------------------

NOTIFICATION = (
    '<subagent_notification>{"agent_path":"/root/child","status":{"completed":"done"}}</subagent_notification>'
)


def observe_result(bundle: AgentBundle) -> str:
    carried = bundle.payload("agent_result", {"child_agent_path": "/root/child", "message": NOTIFICATION})
    bundle.event(
        "agent_result_observed",
        CHILD,
        "turn-child",
        edge_id="edge:agent_result:child:turn-child:root",
        child_thread_id=CHILD,
        child_codex_turn_id="turn-child",
        parent_thread_id=ROOT,
        message=NOTIFICATION,
        carried_payload=carried,
    )
    bundle.turn("turn-root", ROOT)
    bundle.inference(
        "inf-root", "turn-root", thread_id=ROOT, request=[legacy_delivery("/root/child", "/root", NOTIFICATION)]
    )
    return carried["raw_payload_id"]


def test_agent_result_links_child_final_message_to_parent_notification(schema1: AgentBundle) -> None:
    schema1.thread(CHILD, "/root/child")
    schema1.turn("turn-child", CHILD)
    schema1.inference(
        "inf-child",
        "turn-child",
        [message("assistant", "task")],
        [message("assistant", "done")],
        thread_id=CHILD,
    )
    carried = observe_result(schema1)
    state = replayed(schema1)
    edge = state["interaction_edges"]["edge:agent_result:child:turn-child:root"]
    assert edge["kind"] == "agent_result"
    assert edge["source"]["type"] == "conversation_item"
    assert state["conversation_items"][edge["source"]["item_id"]]["body"]["parts"] == [{"type": "text", "text": "done"}]
    assert state["conversation_items"][item_target(edge)]["thread_id"] == ROOT
    assert edge["carried_raw_payload_ids"] == [carried]


def test_agent_result_without_child_message_is_sourced_from_child_thread(schema1: AgentBundle) -> None:
    schema1.thread(CHILD, "/root/child")
    schema1.turn("turn-child", CHILD)
    # The child only received its task; an inbound agent message is not its result.
    task = {
        "type": "agent_message",
        "author": "/root",
        "recipient": "/root/child",
        "content": [{"type": "input_text", "text": "do the task"}],
    }
    schema1.inference("inf-child", "turn-child", thread_id=CHILD, request=[task])
    observe_result(schema1)
    state = replayed(schema1)
    edge = state["interaction_edges"]["edge:agent_result:child:turn-child:root"]
    assert edge["source"] == {"type": "thread", "thread_id": CHILD}
    assert state["conversation_items"][item_target(edge)]["thread_id"] == ROOT


# ----- delivery recognition -----------------------------------------------------------


def _item(parts: list[dict[str, Any]], agent: dict[str, str] | None = None) -> ConversationItem:
    fields: dict[str, Any] = {
        "item_id": "conversation_item:1",
        "thread_id": ROOT,
        "codex_turn_id": None,
        "first_seen_at_unix_ms": 0,
        "role": "assistant",
        "channel": None,
        "kind": "message",
        "body": {"parts": parts},
        "call_id": None,
        "produced_by": [],
    }
    if agent is not None:
        fields["agent_message"] = agent
    return msgspec.convert(fields, ConversationItem)


def test_delivery_recognition_accepts_only_the_transport_shapes() -> None:
    text = json.dumps({"author": "/root", "recipient": "/root/a", "content": "hi", "trigger_turn": False})
    assert inter_agent_message_fields(_item([{"type": "text", "text": text}])) == ("/root", "/root/a", "hi")
    encrypted = json.dumps(
        {"author": "/root", "recipient": "/root/a", "content": "", "encrypted_content": "e", "trigger_turn": True}
    )
    assert inter_agent_message_fields(_item([{"type": "text", "text": encrypted}])) == ("/root", "/root/a", "e")
    # Ordinary assistant JSON (no trigger_turn, or a path that is not an agent path) is not a delivery.
    plain = json.dumps({"author": "/root", "recipient": "/root/a", "content": "hi"})
    assert inter_agent_message_fields(_item([{"type": "text", "text": plain}])) is None
    bad_path = json.dumps({"author": "root", "recipient": "/root/a", "content": "hi", "trigger_turn": False})
    assert inter_agent_message_fields(_item([{"type": "text", "text": bad_path}])) is None
    header = {"type": "text", "text": "Message Type: MESSAGE"}
    payload = {"type": "encoded", "label": "encrypted_content", "value": "secret"}
    metadata = {"author": "/root", "recipient": "/root/a"}
    assert inter_agent_message_fields(_item([header, payload], metadata)) == ("/root", "/root/a", "secret")
    assert inter_agent_message_fields(_item([payload, header], metadata)) is None


# ----- corpus ---------------------------------------------------------------------------

AGENT_CASES = [
    "corpus/agents_minimal",
    "corpus/agents_full",
    "corpus/agents_child_notools",
    "corpus/agents_v1",
    "corpus-schema1/schema1_agents_minimal",
    "corpus-schema1/schema1_agents_full",
]


@pytest.mark.parametrize("case", AGENT_CASES)
def test_corpus_agent_edges_match_official_output(case: str) -> None:
    bundle = require(case)
    reducer = reduce_bundle(bundle)
    assert reducer.fault is None, str(reducer.fault)
    expected = json.loads((bundle / "expected_state.json").read_text())
    assert reducer.to_json()["interaction_edges"] == expected["interaction_edges"]
