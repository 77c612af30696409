"""The reduced trace graph: what a finished (or partial) bundle *is*.

Every object is a JSON-shaped ``TypedDict`` so the state can be serialised to
exactly the official ``state.json`` without a translation layer, while still
being typed for readers. Field order follows the official serialiser so a dump
reads the same as Codex's own output. Keys marked ``NotRequired`` are omitted
(not ``null``) when unknown — the official reducer does the same.

The model knows nothing about how it is built (see ``trace_viewer.reducer``) or
shown (see ``trace_viewer.app``).
"""

from __future__ import annotations

from trace_viewer.model.conversation import (
    AgentMessageMetadata,
    ConversationBody,
    ConversationItem,
    InferenceCall,
    TokenUsage,
)
from trace_viewer.model.runtime import (
    CodeCell,
    Compaction,
    CompactionRequest,
    InteractionEdge,
    TerminalOperation,
    TerminalSession,
    ToolCall,
)
from trace_viewer.model.session import (
    AgentThread,
    CodexTurn,
    ExecutionWindow,
    RolloutTrace,
    new_execution,
    new_rollout,
)

__all__ = [
    "AgentMessageMetadata",
    "AgentThread",
    "CodeCell",
    "CodexTurn",
    "Compaction",
    "CompactionRequest",
    "ConversationBody",
    "ConversationItem",
    "ExecutionWindow",
    "InferenceCall",
    "InteractionEdge",
    "RolloutTrace",
    "TerminalOperation",
    "TerminalSession",
    "TokenUsage",
    "ToolCall",
    "new_execution",
    "new_rollout",
]
