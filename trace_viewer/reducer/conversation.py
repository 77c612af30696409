"""Conversation items: what the model saw, reconciled across requests, responses and compactions.

Every model-facing payload (request ``input``, response ``output_items``, compaction
``input_history``/``replacement_history``) is normalised and matched against the thread's
previous snapshot, so an item re-sent in a later request keeps its ``conversation_item:N`` while
genuinely new content gets a new one.

Matching rule (identical to the official reducer, but indexed): an incoming item reuses the
previous snapshot's item at the same position if the content matches; in a full request it may
otherwise reuse the first not-yet-used matching item anywhere in the previous snapshot; else a
new item is minted. Content match is equality of ``normalize.content_key``, so the "anywhere"
search is a dict lookup. Schema 2 on also requires the Responses ids to agree when both sides
have one.

Thread transcripts (``thread.conversation_item_ids``, kept by this part) differ by schema.
Schema 1 lists every item the thread ever saw. Schema 2 on lists the thread's accepted history:
request and compaction items, receipt items, and response output only once it is accepted (or
re-sent, which makes it a request item). The list stays in creation order however late an item
qualifies (see docs/REDUCER-NOTES.md).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable
from typing import Literal

from trace_viewer.model import (
    UNSET,
    AgentMessageMetadata,
    CompactionProducer,
    ConversationBody,
    ConversationItem,
    InferenceCall,
    InferenceProducer,
    Producer,
    RawPayload,
    ToolProducer,
)
from trace_viewer.reducer.core import ReducerCore
from trace_viewer.reducer.errors import PayloadError, ReduceError
from trace_viewer.reducer.events import Envelope, HistoryItemAccepted
from trace_viewer.reducer.fields import JsonValue, parse_json_preserving
from trace_viewer.reducer.interfaces import CheckpointItems, Parts
from trace_viewer.reducer.normalize import (
    OUTPUT_KINDS,
    ContentKey,
    NormalizedItem,
    item_content_key,
    merge_reasoning_parts,
    normalize_agent_message_item,
    normalize_model_item,
    normalize_model_items,
    token_usage_from_value,
)

Mode = Literal["full_snapshot", "append_only"]
FULL_SNAPSHOT: Mode = "full_snapshot"
APPEND_ONLY: Mode = "append_only"

# A normalised item and the payload it was read from (see NormalizedItem.read_from).
_Known = tuple[NormalizedItem, str]


class _RequestInputMemo:
    """Normalised request items, to normalise each raw item once.

    Per thread: the last request's ``input`` array and its normalised items, index for index.
    Every request re-sends the thread's whole history, so most of its ``input`` equals the
    previous request's (``==`` on the parsed values runs in C) and need not be normalised again.
    Per Responses id: the last raw item normalised, for an item stored once (a schema 3 model
    item) that comes back at another position, e.g. after a compaction. Normalising is a
    function of the raw item alone, except for parts that point into the payload, which are
    re-pointed, and json summaries that needed the payload's number text, which are never
    reused. Being a pure memo, it is shared by reducer clones.
    """

    __slots__ = ("by_id", "by_thread")

    def __init__(self) -> None:
        self.by_thread: dict[str, tuple[list[JsonValue], list[_Known | None]]] = {}
        self.by_id: dict[str, tuple[JsonValue, _Known]] = {}

    def __deepcopy__(self, memo: dict[int, object]) -> _RequestInputMemo:
        return self


class _RawProbe:
    """The raw-number twin of one request item, noting whether normalisation needed it."""

    __slots__ = ("index", "raw_items", "used")

    def __init__(self, raw_items: Callable[[], list[JsonValue]], index: int) -> None:
        self.raw_items = raw_items
        self.index = index
        self.used = False

    def __call__(self) -> JsonValue:
        self.used = True
        return self.raw_items()[self.index]


def _array(payload: JsonValue, key: str) -> list[JsonValue] | None:
    value = payload.get(key) if isinstance(payload, dict) else None
    return value if isinstance(value, list) else None


class ConversationReducer:
    """Reconciliation of model-visible items with each thread's live snapshot."""

    def __init__(self, core: ReducerCore) -> None:
        self.core = core
        self.schema_version = core.schema_version
        self._items = core.rollout.conversation_items
        self.next_item_ordinal = 1
        # Live model-visible history per thread: the last request snapshot plus response items
        # and installed compaction replacements (thread_conversation_snapshots).
        self.snapshots: dict[str, list[str]] = {}
        # Replacement history installed by a compaction and not yet seen in a full request:
        # that request is reconciled against it instead of the pre-compaction snapshot.
        self.pending_compaction_replacement_item_ids: dict[str, list[str]] = {}
        # Content key of every stored item (kept in step with body changes).
        self._item_keys: dict[str, ContentKey] = {}
        # (thread, call_id, kind) -> {item id: content key}, for the call-id reuse check.
        self._call_id_keys: dict[tuple[str, str, str], dict[str, ContentKey]] = {}
        # Membership mirror of each thread's conversation_item_ids.
        self._thread_item_sets: dict[str, set[str]] = {}
        # Schema 2 on: every item the thread ever saw, accepted or not, in sighting order (the
        # schema 1 transcript). Agent-edge delivery lookups search this, not the transcript.
        self._thread_seen_item_ids: dict[str, list[str]] = {}
        self._thread_seen_sets: dict[str, set[str]] = {}
        # Schema 2 on: (thread, responses id) -> items carrying it, first acceptance (wall, seq),
        # and items created from a receipt (agent message, tool output) awaiting their first sighting.
        self._items_by_responses_id: dict[tuple[str, str], list[str]] = {}
        self._acceptances: dict[tuple[str, str], tuple[int, int]] = {}
        self._receipt_items: dict[tuple[str, str], str] = {}
        self._request_inputs = _RequestInputMemo()
        # Schema 3: items created from an accepted tool output, and those of them bound by the
        # payload being reconciled (see append_thread_conversation_items).
        self._tool_output_receipts: set[str] = set()
        self._bound_receipts: set[str] = set()

    def connect(self, parts: Parts) -> None:
        self.parts = parts

    # ----- the Conversation interface --------------------------------------------------------------
    def item(self, item_id: str) -> ConversationItem | None:
        return self._items.get(item_id)

    def items(self) -> dict[str, ConversationItem]:
        return self._items

    def last_item_ordinal(self) -> int:
        return self.next_item_ordinal - 1

    def add_producer(self, item_id: str, producer: Producer) -> None:
        item = self._items.get(item_id)
        if item is None:
            raise ReduceError(f"conversation item {item_id} disappeared during output linking")
        if producer not in item.produced_by:
            item.produced_by.append(producer)
            self.core.note_updated(item_id)

    def thread_seen_item_ids(self, thread_id: str) -> list[str]:
        """Every item the thread saw, accepted or not, in order of first sighting (do not mutate).

        Equal to the transcript in schema 1. From schema 2 on it also holds response output that
        was never accepted: the official reducer still finds agent deliveries among those.
        """
        if self.schema_version < 2:
            thread = self.parts.threads.find_thread(thread_id)
            return thread.conversation_item_ids if thread is not None else []
        return self._thread_seen_item_ids.get(thread_id, [])

    def replace_history_after_compaction(self, thread_id: str, item_ids: list[str]) -> None:
        self.pending_compaction_replacement_item_ids[thread_id] = list(item_ids)

    def live_context(self, thread_id: str) -> list[str]:
        return self.snapshots.get(thread_id, [])

    # ----- payload entry points ----------------------------------------------------------------------

    def _load_items(self, ref: RawPayload, key: str, items: list[JsonValue]) -> list[NormalizedItem]:
        """Normalise one payload array, with number text recovered from the payload only if needed."""
        return normalize_model_items(items, ref.raw_payload_id, self._raw_array(ref, key))

    def _raw_array(self, ref: RawPayload, key: str) -> Callable[[], list[JsonValue]]:
        """The array at ``key`` of a payload, parsed with number text kept (read on first call)."""
        cache: list[list[JsonValue]] = []

        def raw_items() -> list[JsonValue]:
            if not cache:
                cache.append(_array(self._parse_number_text(ref), key) or [])
            return cache[0]

        return raw_items

    def _parse_number_text(self, ref: RawPayload) -> JsonValue:
        """A payload parsed again with its number literals kept as written (it parsed once already)."""
        try:
            return parse_json_preserving(self.core.read_payload_text(ref))
        except ValueError as error:  # nesting our exact parser refuses though the payload store accepted it
            where = ref.path if isinstance(ref.path, str) else f"shard {ref.shard}"
            raise PayloadError(ref.raw_payload_id, where, f"invalid JSON: {error}") from None

    def _load_request_items(self, ref: RawPayload, thread_id: str, items: list[JsonValue]) -> list[NormalizedItem]:
        """``_load_items`` for a request's ``input``, normalising each raw item once (see the memo)."""
        memo = self._request_inputs
        previous = memo.by_thread.get(thread_id)
        # Index for index: a reusable normalised item, or None (not known, skipped, or not reusable).
        aligned: list[_Known | None] = [None] * len(items)
        if previous is not None:
            previous_items, previous_normalized = previous
            limit = min(len(items), len(previous_items))
            same = 0
            while same < limit and items[same] == previous_items[same]:
                same += 1
            aligned[:same] = previous_normalized[:same]
        raw_items = self._raw_array(ref, "input")
        payload_id = ref.raw_payload_id
        out: list[NormalizedItem] = []
        for index, item in enumerate(items):
            known = aligned[index]
            if known is None:
                if isinstance(item, dict) and item.get("type") == "additional_tools":
                    continue  # a tool list, not conversation (as in normalize_model_items)
                responses_id = item.get("id") if isinstance(item, dict) else None
                seen = memo.by_id.get(responses_id) if isinstance(responses_id, str) else None
                if seen is not None and seen[0] == item:
                    known = seen[1]  # the same raw item, stored once and sent again elsewhere
                else:
                    probe = _RawProbe(raw_items, index)
                    normalized = normalize_model_item(item, payload_id, probe)
                    if probe.used:
                        out.append(normalized)  # number text from this payload: not reusable
                        continue
                    known = (normalized, payload_id)
                    if isinstance(responses_id, str):
                        memo.by_id[responses_id] = (item, known)
                aligned[index] = known
            normalized, read_from = known
            if read_from != payload_id and normalized.points_into_payload():
                normalized = normalized.read_from(payload_id)
            out.append(normalized)
        memo.by_thread[thread_id] = (items, aligned)
        return out

    def reduce_inference_request(
        self, wall_time_unix_ms: int, inference_call_id: str, thread_id: str, codex_turn_id: str, request: RawPayload
    ) -> list[str]:
        """Reconcile a request's input snapshot; returns the request item ids (the model's full context)."""
        payload_id = request.raw_payload_id
        payload = self.core.read_payload(request)
        if not isinstance(payload, dict) or "input" not in payload:
            raise ReduceError(f"inference request payload {payload_id} did not contain input")
        request_input = payload["input"]
        if not isinstance(request_input, list):
            raise ReduceError(f"inference request payload {payload_id} had non-array input")
        items = self._load_request_items(request, thread_id, request_input)
        self._bound_receipts.clear()

        previous_response_id = payload.get("previous_response_id")
        post_compaction: list[str] | None = None
        if isinstance(previous_response_id, str):
            # An incremental request only carries the delta: the context is the earlier call's
            # request + response, extended by the new items.
            base = self.parts.inference.call_for_response_id(thread_id, previous_response_id)
            if base is None:
                raise ReduceError(
                    f"incremental inference request {inference_call_id} referenced unknown "
                    f"previous_response_id {previous_response_id}"
                )
            item_ids = base.request_item_ids + base.response_item_ids
            item_ids += self._reconcile(
                items, thread_id, codex_turn_id, wall_time_unix_ms, [], len(item_ids), APPEND_ONLY
            )
        else:
            post_compaction = self.pending_compaction_replacement_item_ids.get(thread_id)
            item_ids = self._reconcile(
                items, thread_id, codex_turn_id, wall_time_unix_ms, [], 0, FULL_SNAPSHOT, post_compaction
            )

        self.append_thread_conversation_items(thread_id, item_ids, frozenset(self._bound_receipts))
        if post_compaction is not None:
            del self.pending_compaction_replacement_item_ids[thread_id]
        self.snapshots[thread_id] = list(item_ids)
        self.core.note_context(thread_id)
        return item_ids

    def reduce_inference_response(self, wall_time_unix_ms: int, call: InferenceCall, response: RawPayload) -> list[str]:
        """Append a response's output items to the thread's live snapshot; returns their ids."""
        payload = self.core.read_payload(response)
        output_items = _array(payload, "output_items")
        if output_items is None:
            raise ReduceError(f"inference response payload {response.raw_payload_id} did not contain output_items")
        thread_id = call.thread_id
        items = self._load_items(response, "output_items", output_items)
        snapshot = self.snapshots.get(thread_id, [])
        # Model output joins the live snapshot at once (the next request is matched against it),
        # but from schema 2 on the transcript only takes it once accepted.
        producer = InferenceProducer(call.inference_call_id)
        item_ids = self._reconcile(
            items, thread_id, call.codex_turn_id, wall_time_unix_ms, [producer], len(snapshot), APPEND_ONLY
        )
        self._record_seen_items(thread_id, item_ids)
        self.append_thread_conversation_items(thread_id, [i for i in item_ids if self._in_accepted_history(i)])
        self.snapshots.setdefault(thread_id, []).extend(item_ids)
        self.core.note_context(thread_id)

        usage = token_usage_from_value(payload.get("token_usage") if isinstance(payload, dict) else None)
        if usage is not None:
            call.usage = usage
        return item_ids

    def reduce_compaction_checkpoint(
        self, wall_time_unix_ms: int, thread_id: str, codex_turn_id: str, compaction_id: str, checkpoint: RawPayload
    ) -> CheckpointItems:
        """Install a checkpoint: input items (reused where live), a marker, then always-new replacement items."""
        payload = self.core.read_payload(checkpoint)
        arrays: dict[str, list[JsonValue]] = {}
        for key in ("input_history", "replacement_history"):
            value = _array(payload, key)
            if value is None:
                raise ReduceError(
                    f"compaction checkpoint payload {checkpoint.raw_payload_id} did not contain array {key}"
                )
            arrays[key] = value
        input_items = self._load_items(checkpoint, "input_history", arrays["input_history"])
        self._bound_receipts.clear()
        replacement_items = self._load_items(checkpoint, "replacement_history", arrays["replacement_history"])

        input_item_ids = self._reconcile_detached(
            input_items, thread_id, codex_turn_id, wall_time_unix_ms, [], list(self.snapshots.get(thread_id, []))
        )
        producer = CompactionProducer(compaction_id)
        # The marker is a structural boundary with an empty body, so it can never be mistaken for
        # prompt content; the summary (if any) is a replacement item.
        marker_item_id = self.create_conversation_item(
            thread_id,
            codex_turn_id,
            wall_time_unix_ms,
            NormalizedItem("assistant", None, "compaction_marker", None, [], None),
            [producer],
        )
        # Replacement history starts a new era: never reuse pre-compaction items.
        replacement_item_ids = self._reconcile_detached(
            replacement_items, thread_id, codex_turn_id, wall_time_unix_ms, [producer], []
        )
        self.append_thread_conversation_items(thread_id, input_item_ids, frozenset(self._bound_receipts))
        self.append_thread_conversation_items(thread_id, [marker_item_id])
        self.append_thread_conversation_items(thread_id, replacement_item_ids)
        return CheckpointItems(input_item_ids, marker_item_id, replacement_item_ids)

    # ----- reconciliation ------------------------------------------------------------------------------

    def _reconcile(
        self,
        items: list[NormalizedItem],
        thread_id: str,
        codex_turn_id: str,
        wall_time_unix_ms: int,
        produced_by: list[Producer],
        start_index: int,
        mode: Mode,
        snapshot_override: list[str] | None = None,
    ) -> list[str]:
        """Give each incoming item an id: same position, else (full mode) first unused match, else new."""
        previous = snapshot_override if snapshot_override is not None else self.snapshots.get(thread_id, [])
        search = _SnapshotSearch(self, previous)
        item_ids: list[str] = []
        for offset, item in enumerate(items):
            index = start_index + offset
            self.ensure_call_id_consistency(thread_id, item)
            bound = self._take_receipt_item(thread_id, item)
            if bound is not None:
                self._note_bound_receipt(bound)
                item_id = bound
            elif index < len(previous) and self.item_matches(previous[index], item):
                item_id = previous[index]
            elif mode == FULL_SNAPSHOT:
                found = search.first_unused(item)
                if found is None:
                    found = self.create_conversation_item(
                        thread_id, codex_turn_id, wall_time_unix_ms, item, list(produced_by)
                    )
                item_id = found
            elif index < len(previous):
                raise ReduceError(
                    f"model conversation mismatch while reducing turn {codex_turn_id} for thread {thread_id} "
                    f"at item index {index}: existing item {previous[index]} does not match the current "
                    "model payload item"
                )
            else:
                item_id = self.create_conversation_item(
                    thread_id, codex_turn_id, wall_time_unix_ms, item, list(produced_by)
                )
            self._accept_sighting(search, item_ids, item_id, item, produced_by, receipt_binding=bound is not None)
        self.parts.code_cells.flush_pending_starts()
        return item_ids

    def _reconcile_detached(
        self,
        items: list[NormalizedItem],
        thread_id: str,
        codex_turn_id: str,
        wall_time_unix_ms: int,
        produced_by: list[Producer],
        candidates: list[str],
    ) -> list[str]:
        """Compaction histories: no positions, only "first unused match among the candidates"."""
        search = _SnapshotSearch(self, candidates)
        item_ids: list[str] = []
        for item in items:
            self.ensure_call_id_consistency(thread_id, item)
            bound = self._take_receipt_item(thread_id, item)
            if bound is not None:
                self._note_bound_receipt(bound)
            item_id = bound if bound is not None else search.first_unused(item)
            if item_id is None:
                item_id = self.create_conversation_item(
                    thread_id, codex_turn_id, wall_time_unix_ms, item, list(produced_by)
                )
            self._accept_sighting(search, item_ids, item_id, item, produced_by, receipt_binding=bound is not None)
        self.parts.code_cells.flush_pending_starts()
        return item_ids

    def _accept_sighting(
        self,
        search: _SnapshotSearch,
        item_ids: list[str],
        item_id: str,
        item: NormalizedItem,
        produced_by: list[Producer],
        receipt_binding: bool,
    ) -> None:
        """Settle one incoming item on ``item_id``: update and link it, mark it used, append it."""
        self.update_conversation_item_from_sighting(item_id, item, produced_by, receipt_binding)
        self.parts.tools.attach_model_visible_item(item_id, item.call_id, item.kind)
        self.parts.code_cells.attach_model_visible_item(item_id, item.call_id, item.kind)
        self.parts.agents.resolve_pending_edges_for_item(item_id)
        search.used.add(item_id)
        item_ids.append(item_id)

    def item_matches(self, item_id: str, normalized: NormalizedItem) -> bool:
        key = self._item_keys.get(item_id)
        if key is None or key != normalized.key:
            return False
        return self._responses_ids_agree(item_id, normalized)

    def _responses_ids_agree(self, item_id: str, normalized: NormalizedItem) -> bool:
        # Schema 2 on: an id on both sides must be the same id; a missing id never vetoes.
        if self.schema_version < 2 or normalized.responses_item_id is None:
            return True
        stored = self._items[item_id].responses_item_id
        return stored is UNSET or stored == normalized.responses_item_id

    def ensure_call_id_consistency(self, thread_id: str, normalized: NormalizedItem) -> None:
        """A model-visible call id names one call: the same id with other content is a broken trace.

        Schema 2 on checks calls only: an output may be re-sent with other content (0.169.0 and
        0.171.0 accept it; docs/REDUCER-NOTES.md).
        """
        if normalized.call_id is None or (self.schema_version >= 2 and normalized.kind in OUTPUT_KINDS):
            return
        keys = self._call_id_keys.get((thread_id, normalized.call_id, normalized.kind), {})
        if any(key != normalized.key for key in keys.values()):
            raise ReduceError(f"model-visible call id {normalized.call_id} was reused with different content")

    # ----- items -------------------------------------------------------------------------------------

    def next_conversation_item_id(self) -> str:
        ordinal = self.next_item_ordinal
        self.next_item_ordinal += 1
        return f"conversation_item:{ordinal}"

    def create_conversation_item(
        self,
        thread_id: str,
        codex_turn_id: str | None,
        first_seen_at_unix_ms: int,
        item: NormalizedItem,
        produced_by: list[Producer],
    ) -> str:
        item_id = self.next_conversation_item_id()
        record = ConversationItem(
            item_id=item_id,
            thread_id=thread_id,
            codex_turn_id=codex_turn_id,
            first_seen_at_unix_ms=first_seen_at_unix_ms,
            role=item.role,
            channel=item.channel,
            kind=item.kind,
            agent_message=AgentMessageMetadata(item.agent_message.author, item.agent_message.recipient)
            if item.agent_message is not None
            else UNSET,
            body=ConversationBody(list(item.parts)),
            call_id=item.call_id,
            produced_by=produced_by,
        )
        responses_id = item.responses_item_id if self.schema_version >= 2 else None
        if responses_id is not None:
            record.responses_item_id = responses_id
            accepted = self._acceptances.get((thread_id, responses_id))
            if accepted is not None:
                record.accepted_at_unix_ms, record.accepted_seq = accepted
            self._items_by_responses_id.setdefault((thread_id, responses_id), []).append(item_id)
        self._items[item_id] = record
        self._item_keys[item_id] = item.key
        if item.call_id is not None:
            self._call_id_keys.setdefault((thread_id, item.call_id, item.kind), {})[item_id] = item.key
        self.core.note_created(item_id)
        return item_id

    def update_conversation_item_from_sighting(
        self, item_id: str, normalized: NormalizedItem, produced_by: list[Producer], receipt_binding: bool = False
    ) -> None:
        """Fold a later sighting into a stored item: readable reasoning, ids, producers."""
        item = self._items.get(item_id)
        if item is None:
            raise ReduceError(f"conversation item {item_id} was referenced before it was created")
        changed = False
        body = item.body
        if receipt_binding:
            # An item created from a receipt takes the body the model actually saw.
            body.parts = list(normalized.parts)
            self._rekey(item)
            changed = True
        elif item.kind == "reasoning":
            merged = merge_reasoning_parts(body.parts, normalized.parts)
            if merged is not None and merged != body.parts:
                body.parts = merged
                self._rekey(item)
                changed = True
        if self.schema_version >= 2 and normalized.responses_item_id is not None and item.responses_item_id is UNSET:
            self._set_responses_id(item, normalized.responses_item_id)
            changed = True
        for producer in produced_by:
            if producer not in item.produced_by:
                item.produced_by.append(producer)
                changed = True
        if changed:
            self.core.note_updated(item_id)

    def _rekey(self, item: ConversationItem) -> None:
        key = item_content_key(item)
        self._item_keys[item.item_id] = key
        if item.call_id is not None:
            self._call_id_keys.setdefault((item.thread_id, item.call_id, item.kind), {})[item.item_id] = key

    def _set_responses_id(self, item: ConversationItem, responses_id: str) -> None:
        """A later sighting supplied the Responses id: record it, and its acceptance if known."""
        key = (item.thread_id, responses_id)
        self._items_by_responses_id.setdefault(key, []).append(item.item_id)
        item.responses_item_id = responses_id
        accepted = self._acceptances.get(key)
        if accepted is not None:
            item.accepted_at_unix_ms, item.accepted_seq = accepted

    def append_thread_conversation_items(
        self, thread_id: str, item_ids: list[str], bound_receipts: frozenset[str] = frozenset()
    ) -> None:
        """Add items to the thread's transcript once each.

        Schema 1 appends in order of first sighting. Schema 2 on admits items late (a response
        item when it is accepted), yet keeps the list in creation order, so an item is put at its
        ordinal's place; in practice that is almost always the end. One exception (schema 3): a
        new item that comes before an accepted tool output this same payload binds
        (``bound_receipts``) goes no later than that output (docs/REDUCER-NOTES.md).
        """
        thread = self.parts.threads.thread(thread_id)
        self._record_seen_items(thread_id, item_ids)
        members = self._thread_item_sets.get(thread_id)
        if members is None:
            members = self._thread_item_sets[thread_id] = set(thread.conversation_item_ids)
        transcript = thread.conversation_item_ids
        in_creation_order = self.schema_version >= 2
        next_receipt = _next_receipts(item_ids, bound_receipts) if bound_receipts and in_creation_order else None
        added = False
        for index, item_id in enumerate(item_ids):
            if item_id in members:
                continue
            members.add(item_id)
            receipt = next_receipt[index] if next_receipt is not None else None
            if receipt is not None and receipt in members:
                position = min(bisect_left(transcript, _ordinal(item_id), key=_ordinal), transcript.index(receipt))
                transcript.insert(position, item_id)
            elif in_creation_order and transcript and _ordinal(item_id) < _ordinal(transcript[-1]):
                insort(transcript, item_id, key=_ordinal)
            else:
                transcript.append(item_id)
            added = True
        if added:
            self.core.note_updated(thread_id)

    def _record_seen_items(self, thread_id: str, item_ids: list[str]) -> None:
        """Schema 2 on: keep the full sighting list that the transcript no longer is."""
        if self.schema_version < 2:
            return
        seen = self._thread_seen_item_ids.setdefault(thread_id, [])
        members = self._thread_seen_sets.setdefault(thread_id, set())
        for item_id in item_ids:
            if item_id not in members:
                members.add(item_id)
                seen.append(item_id)

    def _in_accepted_history(self, item_id: str) -> bool:
        """Whether response output belongs in the transcript yet: always in schema 1, once accepted later."""
        return self.schema_version < 2 or self._items[item_id].accepted_seq is not UNSET

    # ----- accepted history (schema 2 on) ----------------------------------------------------------------

    def history_item_accepted(self, envelope: Envelope, event: HistoryItemAccepted) -> None:
        """Stamp the first acceptance of a Responses id; a receipt may create the item.

        Receipts are an agent message (schema 2) or a tool output (schema 3) carried by the
        acceptance: the item exists from here on, before any request shows it, and the first
        later sighting of its id in the thread binds to it whatever its content.
        """
        thread_id = envelope.thread_id
        if thread_id is None:
            raise ReduceError("history acceptance has no thread")
        self.parts.threads.thread(thread_id)
        responses_id = event.item_id
        receipt: NormalizedItem | None = None
        producers: list[Producer] = []
        if event.agent_message_payload is not None:
            receipt = self._read_receipt(event.agent_message_payload, responses_id)
        tool_output = event.tool_output_payload if self.schema_version >= 3 else None
        if tool_output is not None:
            receipt = self._read_tool_output_receipt(tool_output, responses_id)
            tool_call_id = self.parts.tools.tool_for_model_visible_call(receipt.call_id) if receipt.call_id else None
            if tool_call_id is not None:
                producers.append(ToolProducer(tool_call_id))
        if responses_id == "":
            return
        key = (thread_id, responses_id)
        if key not in self._acceptances:
            stamp = (envelope.wall_time_unix_ms, envelope.seq)
            self._acceptances[key] = stamp
            stamped = self._items_by_responses_id.get(key, [])
            for item_id in stamped:
                item = self._items[item_id]
                item.accepted_at_unix_ms, item.accepted_seq = stamp
                self.core.note_updated(item_id)
            # Response output waiting outside the transcript joins it now, at its creation place.
            self.append_thread_conversation_items(thread_id, stamped)
        if receipt is not None and key not in self._items_by_responses_id:
            # The item is history before any request carries it: it gets its number now. It is not
            # part of the live snapshot yet: position matching of the next request ignores it.
            item_id = self.create_conversation_item(
                thread_id, envelope.codex_turn_id, envelope.wall_time_unix_ms, receipt, producers
            )
            self._receipt_items[key] = item_id
            if tool_output is not None:
                self._tool_output_receipts.add(item_id)
            self.append_thread_conversation_items(thread_id, [item_id])
            self.parts.agents.resolve_pending_edges_for_item(item_id)

    def _read_receipt(self, ref: RawPayload, responses_id: str) -> NormalizedItem:
        value = self.core.read_payload(ref)
        item_type = value.get("type") if isinstance(value, dict) else None
        if not isinstance(item_type, str) or not isinstance(value, dict):
            raise ReduceError(f"model item in payload {ref.raw_payload_id} did not contain a string type")
        if item_type != "agent_message" or value.get("id") != responses_id:
            raise ReduceError(f"accepted agent message does not match receipt {responses_id}")
        receipt = normalize_agent_message_item(value, ref.raw_payload_id)
        receipt.responses_item_id = responses_id
        return receipt

    def _read_tool_output_receipt(self, ref: RawPayload, responses_id: str) -> NormalizedItem:
        """Schema 3: the accepted tool output, which must be a tool output item with the accepted id."""
        value = self.core.read_payload(ref)
        item = normalize_model_item(value, ref.raw_payload_id, lambda: self._parse_number_text(ref))
        if item.kind not in OUTPUT_KINDS or item.responses_item_id != responses_id:
            raise ReduceError(f"accepted item payload does not match {responses_id}")
        return item

    def _note_bound_receipt(self, item_id: str) -> None:
        if item_id in self._tool_output_receipts:
            self._bound_receipts.add(item_id)

    def _take_receipt_item(self, thread_id: str, item: NormalizedItem) -> str | None:
        """The receipt-created item this sighting binds to, whatever its content (first sighting only)."""
        if not self._receipt_items or item.responses_item_id is None or self.schema_version < 2:
            return None
        return self._receipt_items.pop((thread_id, item.responses_item_id), None)


class _SnapshotSearch:
    """Lazily built index of a previous snapshot: content key -> positions, in snapshot order."""

    __slots__ = ("buckets", "owner", "snapshot", "used")

    def __init__(self, owner: ConversationReducer, snapshot: list[str]) -> None:
        self.owner = owner
        self.snapshot = snapshot
        self.buckets: dict[ContentKey, list[str]] | None = None
        self.used: set[str] = set()

    def first_unused(self, item: NormalizedItem) -> str | None:
        keys = self.owner._item_keys
        if self.buckets is None:
            buckets: dict[ContentKey, list[str]] = {}
            for item_id in self.snapshot:
                key = keys.get(item_id)
                if key is not None:
                    buckets.setdefault(key, []).append(item_id)
            self.buckets = buckets
        for candidate in self.buckets.get(item.key, ()):
            if (
                candidate not in self.used
                and keys[candidate] == item.key
                and self.owner._responses_ids_agree(candidate, item)
            ):
                return candidate
        return None


def _next_receipts(item_ids: list[str], receipts: frozenset[str]) -> list[str | None]:
    """For each position, the first bound receipt item after it in ``item_ids`` (or None)."""
    out: list[str | None] = [None] * len(item_ids)
    following: str | None = None
    for index in range(len(item_ids) - 1, -1, -1):
        out[index] = following
        if item_ids[index] in receipts:
            following = item_ids[index]
    return out


def _ordinal(item_id: str) -> int:
    """N of `conversation_item:N`: ids are minted in creation order."""
    return int(item_id[item_id.rindex(":") + 1 :])
