"""What every reducer part shares: the schema, the graph being built, payload reads, change notes.

The reducer is one ``ReducerCore`` plus one part per concern (threads, inference, conversation,
compaction, tools, terminals, code cells, agents), as in the official crate. Parts keep their own
indexes and reach each other only through the interfaces of ``reducer.interfaces``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from trace_viewer.model import RawPayload, RolloutTrace, new_rollout
from trace_viewer.reducer.errors import ReduceError
from trace_viewer.reducer.fields import JsonValue, is_int


class PayloadSource(Protocol):
    """Where payload bodies come from (``trace_viewer.bundle.PayloadStore`` in practice)."""

    def read(self, ref: dict[str, object]) -> JsonValue:
        """Parsed JSON of a payload; raises ``PayloadError`` if missing/invalid/outside."""
        ...

    def read_text(self, ref: dict[str, object]) -> str:
        """The payload's text, for the few places where number text must survive."""
        ...


@dataclass(slots=True)
class Change:
    """What one event did, so a viewer can highlight it."""

    seq: int
    event_type: str
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    # Threads whose live model-visible context (snapshot) moved.
    context_threads: list[str] = field(default_factory=list)


def _manifest_int(manifest: Mapping[str, object], name: str, default: int) -> int:
    value = manifest.get(name)
    return value if is_int(value) else default


def _manifest_str(manifest: Mapping[str, object], name: str) -> str:
    value = manifest.get(name)
    return value if isinstance(value, str) else ""


class ReducerCore:
    """The state every part shares. The manifest was validated by the bundle reader."""

    def __init__(self, manifest: Mapping[str, object], payloads: PayloadSource) -> None:
        self.schema_version = _manifest_int(manifest, "schema_version", 2)
        self.manifest = manifest
        self.payloads = payloads
        self.rollout: RolloutTrace = new_rollout(
            self.schema_version,
            _manifest_str(manifest, "trace_id"),
            _manifest_str(manifest, "rollout_id"),
            _manifest_str(manifest, "root_thread_id"),
            _manifest_int(manifest, "started_at_unix_ms", 0),
        )
        self.change = Change(0, "")

    # ----- change reporting ----------------------------------------------------------------------
    def note_created(self, object_id: str) -> None:
        self.change.created.append(object_id)

    def note_updated(self, object_id: str) -> None:
        self.change.updated.append(object_id)

    def note_context(self, thread_id: str) -> None:
        if thread_id not in self.change.context_threads:
            self.change.context_threads.append(thread_id)

    # ----- payloads ------------------------------------------------------------------------------
    def read_payload(self, ref: RawPayload) -> JsonValue:
        """A payload's parsed JSON (``PayloadError`` is a fault naming it)."""
        return self.payloads.read(ref.location())

    def read_payload_text(self, ref: RawPayload) -> str:
        return self.payloads.read_text(ref.location())

    def register_payloads(self, refs: list[RawPayload]) -> None:
        """Record an event's payload references in ``raw_payloads`` (before its handler runs).

        Schemas 1 and 2: the last reference to an id wins. Schema 3 refuses a reference that
        differs from an earlier one to the same id, a prepared prompt's parts included.
        """
        raw_payloads = self.rollout.raw_payloads
        if self.schema_version < 3:
            for ref in refs:
                raw_payloads[ref.raw_payload_id] = ref
            return
        for ref in refs:
            if isinstance(ref.parts, tuple):
                self._register_parts(ref.parts, raw_payloads)
            self._register_record(ref, raw_payloads)

    def _register_parts(self, parts: tuple[RawPayload, ...], raw_payloads: dict[str, RawPayload]) -> None:
        """A prepared prompt's parts, depth first (most are the very records already registered)."""
        for part in parts:
            self._register_record(part, raw_payloads)
            if isinstance(part.parts, tuple):
                self._register_parts(part.parts, raw_payloads)

    @staticmethod
    def _register_record(record: RawPayload, raw_payloads: dict[str, RawPayload]) -> None:
        existing = raw_payloads.get(record.raw_payload_id)
        if existing is None:
            raw_payloads[record.raw_payload_id] = record
        elif existing is not record and existing != record:
            raise ReduceError(f"conflicting references for payload {record.raw_payload_id}")
