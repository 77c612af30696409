"""Tool call lifecycle: start, MCP correlation, runtime begin/end, end, and model-visible links.

A ``ToolCall`` is the common index for every runtime tool, whoever asked for it (the model
or a code cell). Richer objects hang off it: terminal operations (``terminal.py``), agent
edges (``agents.py``) and code-cell links (``code_cells.py``). Conversation items that show a
call or its output to the model are linked both ways, in whichever order they turn up.

Schema differences handled here:
- schema 2's ``tool_call_runtime_started.kind`` replaces the call's kind before the runtime
  payload is looked at;
- schema 1 has no such field: a runtime payload carrying an MCP ``invocation`` upgrades the
  kind to ``mcp`` instead.
"""

from __future__ import annotations

from typing import Any

from trace_viewer.model import new_execution
from trace_viewer.reducer.core import ReducerBase
from trace_viewer.reducer.errors import ReduceError

# Conversation item kinds that carry a tool call / its output to or from the model.
CALL_ITEM_KINDS = ("function_call", "custom_tool_call")
OUTPUT_ITEM_KINDS = ("function_call_output", "custom_tool_call_output")

# Tool kinds (tagged `type`) and the extra fields each one carries, in output order.
TOOL_KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "exec_command": (),
    "write_stdin": (),
    "apply_patch": (),
    "mcp": ("server", "tool"),
    "web": (),
    "image_generation": (),
    "spawn_agent": (),
    "assign_agent_task": (),
    "send_message": (),
    "wait_agent": (),
    "close_agent": (),
    "other": ("name",),
}

# Summary variants: field → whether it may be null.
SUMMARY_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "terminal": (("operation_id", "str"),),
    "agent": (("target_agent_path", "str"), ("task_name", "opt_str"), ("message_preview", "str")),
    "wait_agent": (("target_agent_path", "opt_str"), ("timeout_ms", "opt_u64")),
    "generic": (("label", "str"), ("input_preview", "opt_str"), ("output_preview", "opt_str")),
}


def serde_unexpected(value: Any) -> str:
    """How serde names a JSON value it did not expect (for error texts)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{'true' if value else 'false'}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{value}`"
    if isinstance(value, str):
        return f'string "{value}"'
    if isinstance(value, list):
        return "sequence"
    return "map"


def push_unique(items: list[str], value: str) -> bool:
    """Append unless present; True if the list changed."""
    if value in items:
        return False
    items.append(value)
    return True


def _tagged_variant(raw: Any, what: str, variants: dict[str, Any], expected: str = "") -> tuple[str, Any]:
    """The ``type`` tag of a tool call ``what`` and its field list; raise if it is not an object of a known variant."""
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise ReduceError(f"invalid tool call {what}: invalid type: {serde_unexpected(raw)}{expected}")
    variant = raw["type"]
    fields = variants.get(variant)
    if fields is None:
        raise ReduceError(f"invalid tool call {what}: unknown variant `{variant}`")
    return variant, fields


def canonical_tool_kind(raw: Any) -> dict[str, Any]:
    """A tool kind in the official field order (`type` first); raise if it is not a valid kind."""
    kind_type, fields = _tagged_variant(raw, "kind", TOOL_KIND_FIELDS, ", expected a tagged kind")
    kind: dict[str, Any] = {"type": kind_type}
    for name in fields:
        if name not in raw:
            raise ReduceError(f"invalid tool call kind: missing field `{name}`")
        if not isinstance(raw[name], str):
            raise ReduceError(f"invalid tool call kind: invalid type: {serde_unexpected(raw[name])}, expected a string")
        kind[name] = raw[name]
    return kind


def canonical_tool_summary(raw: Any) -> dict[str, Any]:
    """A tool summary in the official field order; absent optionals become null, as serde reads them."""
    summary_type, fields = _tagged_variant(raw, "summary", SUMMARY_FIELDS)
    summary: dict[str, Any] = {"type": summary_type}
    for name, field_kind in fields:
        value = raw.get(name)
        if value is None and field_kind.startswith("opt_"):
            summary[name] = None
            continue
        if name not in raw:
            raise ReduceError(f"invalid tool call summary: missing field `{name}`")
        ok = (
            isinstance(value, int) and not isinstance(value, bool) and value >= 0
            if field_kind == "opt_u64"
            else isinstance(value, str)
        )
        if not ok:
            raise ReduceError(f"invalid tool call summary: invalid type: {serde_unexpected(value)} for `{name}`")
        summary[name] = value
    return summary


class ToolReducer(ReducerBase):
    """Tool calls and their links to conversation items and inference responses."""

    def init_concerns(self) -> None:
        super().init_concerns()
        # model-visible call id → the one tool call that carries it (uniqueness is enforced at start).
        self.tool_call_ids_by_model_visible_call: dict[str, str] = {}
        # (thread id, call id) → call/output conversation item ids, built lazily from new items.
        self._tool_item_ids_by_call: dict[tuple[str, str], list[str]] = {}
        self._tool_items_indexed_through = 0

    # ----- event handlers ----------------------------------------------------
    def on_tool_call_started(self, event: dict[str, Any]) -> None:
        payload = event["payload"]
        requester = payload["requester"]
        if not isinstance(requester, dict) or requester.get("type") not in ("model", "code_cell"):
            raise ReduceError("invalid tool call requester: expected `model` or `code_cell`")
        if requester["type"] == "code_cell" and not isinstance(requester.get("runtime_cell_id"), str):
            raise ReduceError("invalid tool call requester: missing field `runtime_cell_id`")
        self.start_tool_call(
            event["seq"],
            event["wall_time_unix_ms"],
            event.get("thread_id"),
            event.get("codex_turn_id"),
            {
                "tool_call_id": payload["tool_call_id"],
                "model_visible_call_id": payload.get("model_visible_call_id"),
                "code_mode_runtime_tool_id": payload.get("code_mode_runtime_tool_id"),
                "requester": requester,
                "kind": canonical_tool_kind(payload["kind"]),
                "summary": canonical_tool_summary(payload["summary"]),
                "invocation_payload": payload.get("invocation_payload"),
            },
        )

    def on_mcp_tool_call_correlation_assigned(self, event: dict[str, Any]) -> None:
        payload = event["payload"]
        self.assign_mcp_tool_call_correlation(payload["tool_call_id"], payload["mcp_call_id"])

    def on_tool_call_runtime_started(self, event: dict[str, Any]) -> None:
        payload = event["payload"]
        # Schema 2 always names the runtime kind; schema 1 never does.
        kind = canonical_tool_kind(payload["kind"]) if self.schema_version >= 2 else None
        self.start_tool_runtime_observation(
            event["seq"], event["wall_time_unix_ms"], payload["tool_call_id"], payload["runtime_payload"], kind
        )

    def on_tool_call_runtime_ended(self, event: dict[str, Any]) -> None:
        payload = event["payload"]
        self.end_tool_runtime_observation(
            event["seq"],
            event["wall_time_unix_ms"],
            payload["tool_call_id"],
            payload["status"],
            payload["runtime_payload"],
        )

    def on_tool_call_ended(self, event: dict[str, Any]) -> None:
        payload = event["payload"]
        self.end_tool_call(
            event["seq"],
            event["wall_time_unix_ms"],
            payload["tool_call_id"],
            payload["status"],
            payload.get("result_payload"),
        )

    # ----- lifecycle ---------------------------------------------------------
    def start_tool_call(
        self,
        seq: int,
        wall_time_unix_ms: int,
        thread_id: str | None,
        codex_turn_id: str | None,
        started: dict[str, Any],
    ) -> None:
        """Create the tool call and link whatever already refers to it.

        Call/output items may have been reduced before the tool started (fast
        tools, replayed history), so both directions are linked here too.
        """
        tool_call_id: str = started["tool_call_id"]
        tool_calls = self.rollout["tool_calls"]
        if tool_call_id in tool_calls:
            raise ReduceError(f"duplicate tool call start for {tool_call_id}")
        model_visible_call_id: str | None = started["model_visible_call_id"]
        self.ensure_unique_model_visible_tool_call(model_visible_call_id, tool_call_id)

        thread_id = self.tool_thread_id(thread_id, codex_turn_id)
        self.validate_tool_turn(thread_id, codex_turn_id)

        requester = self.reduce_tool_call_requester(thread_id, started["requester"])
        call_item_ids: list[str] = []
        output_item_ids: list[str] = []
        if model_visible_call_id is not None:
            call_item_ids = self.model_visible_tool_item_ids(thread_id, model_visible_call_id, list(CALL_ITEM_KINDS))
            output_item_ids = self.model_visible_tool_item_ids(
                thread_id, model_visible_call_id, list(OUTPUT_ITEM_KINDS)
            )
        self.thread(thread_id)

        # write_stdin has no runtime begin event: its invocation is the only place
        # that names the terminal session, so the operation starts here.
        kind: dict[str, Any] = started["kind"]
        invocation_payload: dict[str, Any] | None = started["invocation_payload"]
        terminal_operation_id = self.start_terminal_operation_from_invocation(
            seq, wall_time_unix_ms, thread_id, tool_call_id, kind, invocation_payload
        )
        # A terminal-backed tool is summarised by its operation, not by the producer's label.
        summary = (
            {"type": "terminal", "operation_id": terminal_operation_id}
            if terminal_operation_id is not None
            else started["summary"]
        )
        self.link_wait_tool_call_from_request_payload(thread_id, tool_call_id, invocation_payload)

        tool_calls[tool_call_id] = {
            "tool_call_id": tool_call_id,
            "mcp_call_id": None,
            "model_visible_call_id": model_visible_call_id,
            "code_mode_runtime_tool_id": started["code_mode_runtime_tool_id"],
            "thread_id": thread_id,
            "started_by_codex_turn_id": codex_turn_id,
            "execution": new_execution(seq, wall_time_unix_ms),
            "requester": requester,
            "kind": kind,
            "model_visible_call_item_ids": call_item_ids,
            "model_visible_output_item_ids": [],
            "terminal_operation_id": terminal_operation_id,
            "summary": summary,
            "raw_invocation_payload_id": invocation_payload["raw_payload_id"] if invocation_payload else None,
            "raw_result_payload_id": None,
            "raw_runtime_payload_ids": [],
        }
        if model_visible_call_id is not None:
            self.tool_call_ids_by_model_visible_call[model_visible_call_id] = tool_call_id
        self.note_created(tool_call_id)

        self.link_tool_call_to_code_cell(tool_call_id, requester)
        self.link_tool_to_inference_response(tool_call_id)
        # Outputs also need the reverse producer link, hence the shared helper.
        for item_id in output_item_ids:
            self.add_tool_output_item(tool_call_id, item_id)
        self.sync_terminal_model_observation(tool_call_id)

    def assign_mcp_tool_call_correlation(self, tool_call_id: str, mcp_call_id: str) -> None:
        """Attach the MCP bridge's call UUID (assigned only once the call reaches a backend)."""
        tool_call = self.rollout["tool_calls"].get(tool_call_id)
        if tool_call is None:
            raise ReduceError(f"MCP correlation referenced unknown tool call {tool_call_id}")
        previous = tool_call["mcp_call_id"]
        tool_call["mcp_call_id"] = mcp_call_id
        if previous is not None:
            raise ReduceError(f"duplicate MCP correlation for tool call {tool_call_id}")
        self.note_updated(tool_call_id)

    def end_tool_call(
        self,
        seq: int,
        wall_time_unix_ms: int,
        tool_call_id: str,
        status: str,
        result_payload: dict[str, Any] | None,
    ) -> None:
        """Close the tool call; a terminal operation without runtime events ends from the result."""
        tool_call = self.rollout["tool_calls"].get(tool_call_id)
        if tool_call is None:
            raise ReduceError(f"tool call end referenced unknown call {tool_call_id}")
        execution = tool_call["execution"]
        execution["ended_at_unix_ms"] = wall_time_unix_ms
        execution["ended_seq"] = seq
        execution["status"] = status
        tool_call["raw_result_payload_id"] = result_payload["raw_payload_id"] if result_payload else None
        self.note_updated(tool_call_id)
        # Runtime-observed tools end their terminal operation from the runtime end
        # event; the dispatch result is caller-facing and may be reformatted.
        operation_id = tool_call["terminal_operation_id"]
        if operation_id is not None and not tool_call["raw_runtime_payload_ids"]:
            self.end_terminal_operation(
                seq, wall_time_unix_ms, tool_call["thread_id"], operation_id, status, result_payload
            )
        self.attach_agent_interaction_tool_result(tool_call_id, result_payload)

    def start_tool_runtime_observation(
        self,
        seq: int,
        wall_time_unix_ms: int,
        tool_call_id: str,
        runtime_payload: dict[str, Any],
        kind: dict[str, Any] | None = None,
    ) -> None:
        """Record a runtime begin: it may upgrade the kind and create a terminal operation or agent edge.

        ``kind`` is schema 2's runtime kind, which replaces the call's kind outright.
        """
        tool_call = self.rollout["tool_calls"].get(tool_call_id)
        if tool_call is None:
            raise ReduceError(f"tool runtime start referenced unknown call {tool_call_id}")
        if kind is not None:
            tool_call["kind"] = kind
        elif self.schema_version < 2:
            mcp_kind = self.mcp_kind_from_runtime_payload(runtime_payload)
            if mcp_kind is not None:
                tool_call["kind"] = mcp_kind
        push_unique(tool_call["raw_runtime_payload_ids"], runtime_payload["raw_payload_id"])
        self.note_updated(tool_call_id)
        kind = tool_call["kind"]
        if tool_call["terminal_operation_id"] is not None and kind["type"] in ("exec_command", "write_stdin"):
            raise ReduceError(f"tool runtime start would create a second terminal operation for {tool_call_id}")

        # The begin event carries runtime facts (process id, cwd) for a terminal row,
        # but the canonical invocation payload stays the call's own.
        operation_id = self.start_terminal_operation_from_runtime(
            seq, wall_time_unix_ms, tool_call["thread_id"], tool_call_id, kind, runtime_payload
        )
        if operation_id is not None:
            if tool_call["terminal_operation_id"] is None:
                tool_call["terminal_operation_id"] = operation_id
                tool_call["summary"] = {"type": "terminal", "operation_id": operation_id}
            self.sync_terminal_model_observation(tool_call_id)
        self.start_agent_interaction_from_runtime(tool_call_id, runtime_payload)

    def mcp_kind_from_runtime_payload(self, runtime_payload: dict[str, Any]) -> dict[str, Any] | None:
        """Schema 1: an MCP begin payload names its server and tool under `invocation`."""
        payload = self.read_payload(runtime_payload)
        if not isinstance(payload, dict) or "invocation" not in payload:
            return None
        invocation = payload["invocation"]
        prefix = f"parse MCP runtime invocation in {runtime_payload['raw_payload_id']}: "
        if not isinstance(invocation, dict):
            raise ReduceError(prefix + f"invalid type: {serde_unexpected(invocation)}, expected struct McpInvocation")
        kind: dict[str, Any] = {"type": "mcp"}
        for name in ("server", "tool"):
            if name not in invocation:
                raise ReduceError(prefix + f"missing field `{name}`")
            if not isinstance(invocation[name], str):
                raise ReduceError(prefix + f"invalid type: {serde_unexpected(invocation[name])}, expected a string")
            kind[name] = invocation[name]
        return kind

    def end_tool_runtime_observation(
        self,
        seq: int,
        wall_time_unix_ms: int,
        tool_call_id: str,
        status: str,
        runtime_payload: dict[str, Any],
    ) -> None:
        """Record a runtime end: it ends the call's terminal operation and may end an agent edge."""
        tool_call = self.rollout["tool_calls"].get(tool_call_id)
        if tool_call is None:
            raise ReduceError(f"tool runtime end referenced unknown call {tool_call_id}")
        push_unique(tool_call["raw_runtime_payload_ids"], runtime_payload["raw_payload_id"])
        self.note_updated(tool_call_id)
        operation_id = tool_call["terminal_operation_id"]
        if operation_id is not None:
            self.end_terminal_operation(
                seq, wall_time_unix_ms, tool_call["thread_id"], operation_id, status, runtime_payload
            )
        if self.schema_version >= 2 and tool_call["kind"]["type"] == "mcp":
            # Schema 2 never opens an MCP end payload while replaying (a missing one is
            # only reported by the end-of-log payload check); agent edges ignore MCP anyway.
            return
        self.end_agent_interaction_from_runtime(wall_time_unix_ms, tool_call_id, runtime_payload)

    # ----- model-visible links -------------------------------------------------
    def attach_model_visible_tool_item(self, item_id: str, call_id: str | None, kind: str) -> None:
        """Link a conversation item (seen in any model payload) to the tool call it shows.

        The transcript reducer calls this for every item sighting, so links form
        whether the item or the tool start comes first.
        """
        if call_id is None:
            return
        if kind in CALL_ITEM_KINDS:
            tool_call_id = self.single_tool_for_model_visible_call(call_id)
            if tool_call_id is not None:
                self.add_tool_call_item(tool_call_id, item_id)
                self.link_tool_to_inference_response(tool_call_id)
                self.sync_terminal_model_observation(tool_call_id)
        elif kind in OUTPUT_ITEM_KINDS:
            tool_call_id = self.single_tool_for_model_visible_call(call_id)
            if tool_call_id is not None:
                self.add_tool_output_item(tool_call_id, item_id)
                self.sync_terminal_model_observation(tool_call_id)

    def tool_thread_id(self, thread_id: str | None, codex_turn_id: str | None) -> str:
        """The envelope thread, or else the thread of the envelope's turn."""
        if thread_id is not None:
            return thread_id
        if codex_turn_id is None:
            raise ReduceError("tool call start did not include thread or Codex turn context")
        turn = self.rollout["codex_turns"].get(codex_turn_id)
        if turn is None:
            raise ReduceError(f"tool call start referenced unknown Codex turn {codex_turn_id}")
        return turn["thread_id"]

    def validate_tool_turn(self, thread_id: str, codex_turn_id: str | None) -> None:
        if thread_id not in self.rollout["threads"]:
            raise ReduceError(f"tool call start referenced unknown thread {thread_id}")
        if codex_turn_id is None:
            return
        turn = self.rollout["codex_turns"].get(codex_turn_id)
        if turn is None:
            raise ReduceError(f"tool call start referenced unknown Codex turn {codex_turn_id}")
        if turn["thread_id"] != thread_id:
            raise ReduceError(
                f"tool call start used thread {thread_id}, but Codex turn {codex_turn_id} "
                f"belongs to {turn['thread_id']}"
            )

    def ensure_unique_model_visible_tool_call(self, model_visible_call_id: str | None, tool_call_id: str) -> None:
        if model_visible_call_id is None:
            return
        existing = self.single_tool_for_model_visible_call(model_visible_call_id)
        if existing is not None and existing != tool_call_id:
            raise ReduceError(f"duplicate tool call for model-visible call id {model_visible_call_id}")

    def single_tool_for_model_visible_call(self, model_visible_call_id: str) -> str | None:
        """The tool call for a model-visible call id (at most one: starts enforce it)."""
        return self.tool_call_ids_by_model_visible_call.get(model_visible_call_id)

    def model_visible_tool_item_ids(self, thread_id: str, call_id: str, kinds: list[str]) -> list[str]:
        """This thread's items of the given kinds for a call id, in id-sorted map order (as official)."""
        self._index_new_tool_items()
        items = self.rollout["conversation_items"]
        matching = [
            item_id
            for item_id in self._tool_item_ids_by_call.get((thread_id, call_id), ())
            if items[item_id]["kind"] in kinds
        ]
        return sorted(matching)

    def _index_new_tool_items(self) -> None:
        """Index conversation items minted since the last look (ids are `conversation_item:N`)."""
        items = self.rollout["conversation_items"]
        last = self.next_conversation_item_ordinal - 1
        for ordinal in range(self._tool_items_indexed_through + 1, last + 1):
            item = items.get(f"conversation_item:{ordinal}")
            if item is None:
                continue
            call_id = item.get("call_id")
            if call_id is not None and item["kind"] in CALL_ITEM_KINDS + OUTPUT_ITEM_KINDS:
                self._tool_item_ids_by_call.setdefault((item["thread_id"], call_id), []).append(item["item_id"])
        self._tool_items_indexed_through = max(self._tool_items_indexed_through, last)

    def add_tool_call_item(self, tool_call_id: str, item_id: str) -> None:
        tool_call = self.rollout["tool_calls"].get(tool_call_id)
        if tool_call is None:
            raise ReduceError(f"tool call {tool_call_id} disappeared during conversation linking")
        if push_unique(tool_call["model_visible_call_item_ids"], item_id):
            self.note_updated(tool_call_id)

    def add_tool_output_item(self, tool_call_id: str, item_id: str) -> None:
        """Link an output item both ways: tool → item and item produced_by tool."""
        tool_call = self.rollout["tool_calls"].get(tool_call_id)
        if tool_call is None:
            raise ReduceError(f"tool call {tool_call_id} disappeared during output linking")
        if push_unique(tool_call["model_visible_output_item_ids"], item_id):
            self.note_updated(tool_call_id)
        item = self.rollout["conversation_items"].get(item_id)
        if item is None:
            raise ReduceError(f"conversation item {item_id} disappeared during output linking")
        producer = {"type": "tool", "tool_call_id": tool_call_id}
        if producer not in item["produced_by"]:
            item["produced_by"].append(producer)
            self.note_updated(item_id)

    def link_tool_to_inference_response(self, tool_call_id: str) -> None:
        """Record the tool on every inference whose response holds one of its call items.

        Only inferences already completed count (their response ids are set after the
        response items are reduced), exactly as the official reducer sees it.
        """
        tool_call = self.rollout["tool_calls"].get(tool_call_id)
        if tool_call is None or not tool_call["model_visible_call_item_ids"]:
            return
        call_item_ids = tool_call["model_visible_call_item_ids"]
        items = self.rollout["conversation_items"]
        inference_calls = self.rollout["inference_calls"]
        # Response items name their inference in `produced_by`: look there instead of
        # scanning every inference call.
        candidates: list[str] = []
        for item_id in call_item_ids:
            item = items.get(item_id)
            if item is None:
                continue
            for producer in item["produced_by"]:
                if producer.get("type") == "inference":
                    push_unique(candidates, producer["inference_call_id"])
        for inference_call_id in candidates:
            inference = inference_calls.get(inference_call_id)
            if inference is None:
                continue
            response_ids = inference["response_item_ids"]
            if any(item_id in response_ids for item_id in call_item_ids) and push_unique(
                inference["tool_call_ids_started_by_response"], tool_call_id
            ):
                self.note_updated(inference_call_id)
