"""The reducer: one core and one part per concern, fed one raw event at a time.

``apply`` checks a raw event the way the official reducer would (after-recording, envelope,
schema, the event's fields, seq, rollout id), registers its payload references, and hands the
typed event to the handler named after its type (``tool_call_started`` on the tools part, …).
Only the trace can cause a ``ReduceError`` (a fault); any other exception is a bug of ours and
propagates as it is, for the caller to report as an internal error.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import TypeVar

from trace_viewer.model import RolloutTrace, to_builtins, to_state_json
from trace_viewer.reducer.agents import AgentsReducer
from trace_viewer.reducer.code_cells import CodeCellsReducer
from trace_viewer.reducer.compaction import CompactionReducer
from trace_viewer.reducer.conversation import ConversationReducer
from trace_viewer.reducer.core import Change, PayloadSource, ReducerCore
from trace_viewer.reducer.errors import Fault, PayloadError, ReduceError
from trace_viewer.reducer.events import (
    AgentResultObserved,
    CodeCellEnded,
    CodeCellInitialResponse,
    CodeCellStarted,
    CodeCellWaitTargetResolved,
    CodexTurnEnded,
    CodexTurnStarted,
    CompactionInstalled,
    CompactionRequestCompleted,
    CompactionRequestFailed,
    CompactionRequestStarted,
    Envelope,
    HistoryItemAccepted,
    InferenceCancelled,
    InferenceCompleted,
    InferenceFailed,
    InferenceStarted,
    McpToolCallCorrelationAssigned,
    Other,
    Payload,
    ProtocolEventObserved,
    RecordingCompleted,
    RolloutEnded,
    RolloutStarted,
    Skipped,
    StdinTargetResolved,
    ThreadEnded,
    ThreadResumed,
    ThreadStarted,
    ToolCallEnded,
    ToolCallRuntimeEnded,
    ToolCallRuntimeStarted,
    ToolCallStarted,
    parse_envelope,
    parse_payload,
    payload_refs,
)
from trace_viewer.reducer.fields import JsonValue
from trace_viewer.reducer.inference import InferenceReducer
from trace_viewer.reducer.interfaces import Parts
from trace_viewer.reducer.terminal import TerminalsReducer
from trace_viewer.reducer.threads import ThreadsReducer
from trace_viewer.reducer.tools import ToolsReducer

P = TypeVar("P", bound=Payload)
Handler = Callable[[Envelope, Payload], None]


def _route(kind: type[P], handler: Callable[[Envelope, P], None]) -> Handler:
    """A handler for one payload type (``parse_payload`` built the payload from the same type name)."""

    def call(envelope: Envelope, payload: Payload) -> None:
        if not isinstance(payload, kind):
            raise TypeError(f"{envelope.type} event parsed as {type(payload).__name__}")
        handler(envelope, payload)

    return call


def _ignore_other(envelope: Envelope, payload: Other) -> None:
    """`other` events are evidence only (their payloads are registered)."""


class Reducer:
    """The whole reducer. ``apply(event)`` per event, ``finish()`` after the last one."""

    def __init__(self, manifest: Mapping[str, object], payloads: PayloadSource) -> None:
        self.core = ReducerCore(manifest, payloads)
        self.threads = ThreadsReducer(self.core)
        self.inference = InferenceReducer(self.core)
        self.conversation = ConversationReducer(self.core)
        self.compaction = CompactionReducer(self.core)
        self.tools = ToolsReducer(self.core)
        self.terminals = TerminalsReducer(self.core)
        self.code_cells = CodeCellsReducer(self.core)
        self.agents = AgentsReducer(self.core)
        self._connect()
        self.events_applied = 0
        self.fault: Fault | None = None
        # (seq, type) of events of a newer schema that this reducer does not know and skipped.
        self.skipped_events: list[tuple[int, str]] = []

    def _connect(self) -> None:
        parts = Parts(
            self.threads, self.inference, self.conversation, self.tools, self.terminals, self.code_cells, self.agents
        )
        for part in (
            self.threads,
            self.inference,
            self.conversation,
            self.compaction,
            self.tools,
            self.terminals,
            self.code_cells,
            self.agents,
        ):
            part.connect(parts)
        self._handlers = self._build_handlers()

    def _build_handlers(self) -> dict[str, Handler]:
        threads, inference, tools, cells = self.threads, self.inference, self.tools, self.code_cells
        return {
            "rollout_started": _route(RolloutStarted, threads.rollout_started),
            "rollout_ended": _route(RolloutEnded, threads.rollout_ended),
            "recording_completed": _route(RecordingCompleted, threads.recording_completed),
            "thread_started": _route(ThreadStarted, threads.thread_started),
            "thread_ended": _route(ThreadEnded, threads.thread_ended),
            "thread_resumed": _route(ThreadResumed, threads.thread_resumed),
            "codex_turn_started": _route(CodexTurnStarted, threads.codex_turn_started),
            "codex_turn_ended": _route(CodexTurnEnded, threads.codex_turn_ended),
            "protocol_event_observed": _route(ProtocolEventObserved, threads.protocol_event_observed),
            "history_item_accepted": _route(HistoryItemAccepted, self.conversation.history_item_accepted),
            "inference_started": _route(InferenceStarted, inference.inference_started),
            "inference_completed": _route(InferenceCompleted, inference.inference_completed),
            "inference_failed": _route(InferenceFailed, inference.inference_failed),
            "inference_cancelled": _route(InferenceCancelled, inference.inference_cancelled),
            "tool_call_started": _route(ToolCallStarted, tools.tool_call_started),
            "mcp_tool_call_correlation_assigned": _route(
                McpToolCallCorrelationAssigned, tools.mcp_tool_call_correlation_assigned
            ),
            "tool_call_runtime_started": _route(ToolCallRuntimeStarted, tools.tool_call_runtime_started),
            "tool_call_runtime_ended": _route(ToolCallRuntimeEnded, tools.tool_call_runtime_ended),
            "tool_call_ended": _route(ToolCallEnded, tools.tool_call_ended),
            "stdin_target_resolved": _route(StdinTargetResolved, self.terminals.stdin_target_resolved),
            "code_cell_started": _route(CodeCellStarted, cells.code_cell_started),
            "code_cell_initial_response": _route(CodeCellInitialResponse, cells.code_cell_initial_response),
            "code_cell_ended": _route(CodeCellEnded, cells.code_cell_ended),
            "code_cell_wait_target_resolved": _route(CodeCellWaitTargetResolved, cells.code_cell_wait_target_resolved),
            "compaction_request_started": _route(CompactionRequestStarted, self.compaction.compaction_request_started),
            "compaction_request_completed": _route(
                CompactionRequestCompleted, self.compaction.compaction_request_completed
            ),
            "compaction_request_failed": _route(CompactionRequestFailed, self.compaction.compaction_request_failed),
            "compaction_installed": _route(CompactionInstalled, self.compaction.compaction_installed),
            "agent_result_observed": _route(AgentResultObserved, self.agents.agent_result_observed),
            "other": _route(Other, _ignore_other),
        }

    def __deepcopy__(self, memo: dict[int, object]) -> Reducer:
        """An independent copy of the state; the payload source and manifest are shared."""
        memo[id(self.core.payloads)] = self.core.payloads
        memo[id(self.core.manifest)] = self.core.manifest
        twin = Reducer.__new__(Reducer)
        for name, value in self.__dict__.items():
            if name != "_handlers":
                setattr(twin, name, copy.deepcopy(value, memo))
        twin._handlers = twin._build_handlers()
        return twin

    # ----- what the parts share ----------------------------------------------------------------------
    @property
    def schema_version(self) -> int:
        return self.core.schema_version

    @property
    def manifest(self) -> Mapping[str, object]:
        return self.core.manifest

    @property
    def payloads(self) -> PayloadSource:
        return self.core.payloads

    @property
    def rollout(self) -> RolloutTrace:
        return self.core.rollout

    @property
    def change(self) -> Change:
        return self.core.change

    @change.setter
    def change(self, change: Change) -> None:
        self.core.change = change

    @property
    def recording_completed(self) -> bool:
        return self.threads.recording_closed

    @property
    def snapshots(self) -> dict[str, list[str]]:
        """Live model-visible history per thread (item ids), as the next request is matched against."""
        return self.conversation.snapshots

    @property
    def expected_seq(self) -> int:
        return self.events_applied + 1

    # ----- the pipeline ------------------------------------------------------------------------------
    def apply(self, event: JsonValue, line: int | None = None) -> Change:
        """Apply one raw event and return what it changed.

        A trace that breaks the rules raises ``ReduceError`` (a ``PayloadError`` for a payload)
        after recording the ``Fault``; from then on every event is refused, as the official
        reducer stops at the first problem. The faulty event may have changed part of the state
        before its handler found the problem (handlers are not transactional): ``Replay``
        rebuilds the state of the good prefix. Any other exception is a bug of ours: it is not a
        fault, and propagates unchanged.
        """
        if self.fault is not None:
            raise ReduceError(f"replay already stopped: {self.fault}")
        raw_seq = event.get("seq") if isinstance(event, dict) else None
        seq = raw_seq if isinstance(raw_seq, int) and not isinstance(raw_seq, bool) else None
        try:
            if self.recording_completed:
                raise ReduceError("trace event after recording completed")
            envelope, raw_payload = parse_envelope(event)
            if envelope.schema_version != self.schema_version:
                raise ReduceError(f"unsupported trace event schema {envelope.schema_version} at line {line}")
            payload = parse_payload(envelope, raw_payload, self.schema_version, self.rollout.raw_payloads)
            if envelope.seq != self.expected_seq:
                raise ReduceError(f"missing or reordered trace event {self.expected_seq}")
            if envelope.rollout_id != self.rollout.rollout_id:
                raise ReduceError("trace event belongs to another rollout")
            self.core.change = Change(envelope.seq, envelope.type)
            if isinstance(payload, Skipped):
                # A schema newer than ours may add event types: skipped (the viewer shows them raw).
                self.skipped_events.append((envelope.seq, envelope.type))
            else:
                self.core.register_payloads(payload_refs(envelope.type, payload))
                self._handlers[envelope.type](envelope, payload)
        except PayloadError as error:
            self.fault = Fault(
                error.reason if error.reason else str(error),
                line=line,
                seq=seq,
                payload_id=error.raw_payload_id,
                payload_path=error.path,
            )
            raise
        except ReduceError as error:
            self.fault = Fault(str(error), line=line, seq=seq)
            raise
        self.events_applied += 1
        return self.core.change

    def record_fault(self, fault: Fault) -> None:
        """A fault found outside ``apply`` (torn line, unreadable log): replay stops here."""
        if self.fault is None:
            self.fault = fault

    def finish(self) -> None:
        """End-of-log work the official reducer does after the last line."""
        # Only once the whole log is read do we know which spawns never met their task item.
        self.agents.finish()

    # ----- output ------------------------------------------------------------------------------------
    def state_json(self) -> bytes:
        """The state as the official ``state.json`` (compact; maps sorted by key, like BTreeMaps)."""
        return to_state_json(self.rollout)

    def to_json(self) -> dict[str, JsonValue]:
        """The state as plain JSON values (what ``state.json`` parses to)."""
        state = to_builtins(self.rollout)
        assert isinstance(state, dict)
        return state

    def live_context(self, thread_id: str | None = None) -> list[str]:
        """Item ids of the thread's live model-visible history right now."""
        return list(self.conversation.live_context(thread_id or self.rollout.root_thread_id))
