"""Rebuild the input of every model call from a rollout file alone, step by step.

The rules (../shared/FORMAT-ROLLOUT.md §7, checked against what the model received in every
request of the corpus and of recordings of 0.164.0, 0.169.0 and 0.171.0):

- One model history per file. Each ``response_item`` appends its payload (minus Codex's internal
  ``internal_chat_message_metadata_passthrough``); ``compacted`` replaces the whole history by its
  ``replacement_history`` (sequence numbers from ``replacement_history_metadata``).
- A call starts at the first model-output item (assistant message, reasoning, tool call) whose
  ``sampled_through_sequence`` S differs from the open call's, and ends at the next
  ``token_usage_record`` (its ``response_id`` and ``usage``). A call that never gets one was
  interrupted, or its stream failed.
- Its input is the base developer message (``session_meta.base_instructions`` without the
  plan-tool passages) followed by the history items with ``history_sequence <= S`` in list order
  (items without a sequence always), with an ``"aborted"`` output inserted after every tool call
  that has none.
- A remote compaction is a ``token_usage_record`` with no output items, confirmed by the next
  ``compacted`` naming that response: input = base + whole history + ``compaction_trigger``.
  A local compaction is the assistant item marked ``compaction_output``: input = base + whole
  history + Codex's built-in compaction prompt (a constant, not in the file).
- A turn that ended in error after new input and without an open call made one failed request
  over the whole history.
- 0.164.0 writes no sequence numbers: a call's input is then the whole history at its first
  output item, and an ``event_msg.token_count`` while a call is open ends it (its stream failed).

What cannot be rebuilt is said in ``ModelCall.notes``, never made up: the base message's id, the
ids of synthesised ``aborted`` outputs, retried HTTP attempts (no trace at all), tool schemas.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from trace_viewer.rollout.records import JsonObject, RolloutLine, SessionMeta

PASSTHROUGH_KEY = "internal_chat_message_metadata_passthrough"

# Codex's built-in prompt for a local compaction request (the same text in 0.164.0, 0.169.0 and
# 0.171.0). It is sent as an id-less user message after the history and is not in the rollout.
LOCAL_COMPACTION_PROMPT = (
    "You are performing a CONTEXT CHECKPOINT COMPACTION. Create a handoff summary for another LLM that will "
    "resume the task.\n\nInclude:\n- Current progress and key decisions made\n- Important context, constraints, "
    "or user preferences\n- What remains to be done (clear next steps)\n- Any critical data, examples, or "
    "references needed to continue\n\nBe concise, structured, and focused on helping the next LLM seamlessly "
    "continue the work.\n"
)
COMPACTION_TRIGGER: JsonObject = {"type": "compaction_trigger"}

# Sections and a bullet about the plan tool that Codex leaves out of the base instructions when
# no `update_plan` tool is offered (empirical: gpt-5 and gpt-5.5 texts of 0.164.0–0.171.0).
_PLAN_SECTIONS = ("## Planning\n", "## `update_plan`\n")
_PLAN_BULLET = (
    "- If you create a checklist or task list, you update item statuses incrementally as each item is "
    "completed rather than marking every item done only at the end.\n"
)

CALL_TYPES = frozenset({"function_call", "custom_tool_call", "local_shell_call"})
OUTPUT_TYPES = frozenset({"function_call_output", "custom_tool_call_output"})
MODEL_OUTPUT_TYPES = frozenset(
    {
        "reasoning",
        "function_call",
        "custom_tool_call",
        "local_shell_call",
        "web_search_call",
        "image_generation_call",
        "tool_search_call",
    }
)

# Why part of a call is not straight from the file (shown by `calls` and the viewer).
NOTE_BASE_ID = "the base instructions message's id is not recorded in the rollout (left out)"
NOTE_BASE_MISSING = "session_meta has no base_instructions: the base developer message is missing"
NOTE_ABORTED = "Codex added an 'aborted' output for a tool call that had none (its id is not recorded)"
NOTE_COMPACTION_PROMPT = "the compaction prompt is Codex's built-in text (not recorded in the rollout)"
NOTE_NO_SEQUENCE = "no sequence numbers in this rollout: the input is the whole history when the output began"
NOTE_FAILED = "the request failed before any output: rebuilt as the whole history at the turn's end"


def strip_plan_tool_passages(text: str) -> str:
    """The base instructions as sent when no plan tool is offered."""
    for heading in _PLAN_SECTIONS:
        start = text.find("\n" + heading)
        if start < 0:
            continue
        start += 1
        end = text.find("\n## ", start)
        end = len(text) if end < 0 else end + 1
        text = text[:start] + text[end:]
    return text.replace(_PLAN_BULLET, "")


def base_message(instructions: str) -> JsonObject:
    return {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": instructions}]}


def without_passthrough(item: JsonObject) -> JsonObject:
    if PASSTHROUGH_KEY not in item:
        return item
    return {key: value for key, value in item.items() if key != PASSTHROUGH_KEY}


def is_model_output(item: JsonObject) -> bool:
    kind = item.get("type")
    if kind == "message":
        return item.get("role") == "assistant"
    return kind in MODEL_OUTPUT_TYPES


def aborted_output(call: JsonObject) -> JsonObject:
    """The output Codex sends for a tool call that has none in the input (its id is not recorded)."""
    output_type = "custom_tool_call_output" if call.get("type") == "custom_tool_call" else "function_call_output"
    return {"type": output_type, "call_id": call.get("call_id"), "output": "aborted"}


def unanswered_calls(items: list[JsonObject]) -> list[bool]:
    """Per item: is it a tool call with no output of its call_id in ``items``?"""
    answered = {_call_id(item) for item in items if item.get("type") in OUTPUT_TYPES}
    return [item.get("type") in CALL_TYPES and _call_id(item) not in answered for item in items]


def with_aborted_outputs(items: list[JsonObject]) -> tuple[list[JsonObject], int]:
    """Insert ``{"type": …_output, "call_id": X, "output": "aborted"}`` after each unanswered call."""
    unanswered = unanswered_calls(items)
    if not any(unanswered):
        return items, 0
    filled: list[JsonObject] = []
    for item, missing in zip(items, unanswered, strict=True):
        filled.append(item)
        if missing:
            filled.append(aborted_output(item))
    return filled, sum(unanswered)


def _call_id(item: JsonObject) -> str | None:
    """A call id usable as a key (history from a hostile file may hold anything there)."""
    value = item.get("call_id")
    return value if isinstance(value, str) else None


@dataclass(slots=True)
class ModelCall:
    """One request to the model, as far as the rollout tells."""

    index: int  # 0-based, in file order
    thread_id: str
    kind: str  # "turn" | "compaction"
    # "remote" / "local" for a compaction.
    compaction: str | None
    turn_id: str | None
    model: str | None
    # "completed" (has a token_usage_record), "interrupted", "failed", "incomplete" (the stream
    # ended without usage and the turn went on: a retried stream), or "open" (still streaming).
    status: str
    input: list[JsonObject]
    # The output items the rollout recorded for this call (none for a remote compaction).
    output: list[JsonObject] = field(default_factory=list)
    response_id: str | None = None
    usage: JsonObject | None = None
    # Lines where the call became known and where it ended (1-based).
    line: int = 0
    end_line: int | None = None
    timestamp: str | None = None
    # The sampled_through_sequence of its output items (None in 0.164.0).
    sampled_through: int | None = None
    notes: list[str] = field(default_factory=list)
    # A stable key per input / output item, unique within the file (see ``CallRebuilder``): the
    # same history item has the same key in every call that saw it.
    input_keys: list[str] = field(default_factory=list)
    output_keys: list[str] = field(default_factory=list)


# Keys of the items a call's input holds that are not lines of the file.
BASE_KEY = "base"


ABORTED_PREFIX = "aborted:"


def aborted_key(call_key: str) -> str:
    return f"{ABORTED_PREFIX}{call_key}"


@dataclass(slots=True)
class _HistoryEntry:
    sequence: int | None
    item: JsonObject
    # "<line>" for a response_item, "<line>.<index>" for an item of a compacted line's replacement.
    key: str


class CallRebuilder:
    """The model history of one rollout file and the calls rebuilt from it, one line at a time."""

    def __init__(self, meta: SessionMeta) -> None:
        self.meta = meta
        self.thread_id = meta.thread_id
        self.base: JsonObject | None = (
            base_message(strip_plan_tool_passages(meta.base_instructions))
            if meta.base_instructions is not None
            else None
        )
        self.history: list[_HistoryEntry] = []
        self.calls: list[ModelCall] = []
        self.turn_id: str | None = None
        self.model: str | None = meta.model
        self._open: ModelCall | None = None
        # A token_usage_record with no output items: a remote compaction if `compacted` confirms it.
        self._unconfirmed: ModelCall | None = None
        self._turn_calls = 0
        # Input was added (a tool output, a message) since the turn's last call ended.
        self._new_input = False
        self._metas_seen = 0
        # Synthesised outputs by key, so every call that includes one shares the same object.
        self._synthetic: dict[str, JsonObject] = {}

    @property
    def unconfirmed_compaction(self) -> ModelCall | None:
        """A response with no output items, a remote compaction's if the next ``compacted`` names it."""
        return self._unconfirmed

    # ----- input building -------------------------------------------------------------------

    def _input(
        self, upto: int | None, extra: tuple[str, JsonObject] | None = None
    ) -> tuple[list[JsonObject], list[str], list[str]]:
        """(items, their keys, notes) of a request that saw history up to sequence ``upto`` (None: all)."""
        notes: list[str] = []
        if upto is None:
            entries = list(self.history)
        else:
            entries = [entry for entry in self.history if entry.sequence is None or entry.sequence <= upto]
        items: list[JsonObject] = []
        keys: list[str] = []
        if self.base is not None:
            items.append(self.base)
            keys.append(BASE_KEY)
            notes.append(NOTE_BASE_ID)
        else:
            notes.append(NOTE_BASE_MISSING)
        unanswered = unanswered_calls([entry.item for entry in entries])
        for entry, missing in zip(entries, unanswered, strict=True):
            items.append(entry.item)
            keys.append(entry.key)
            if missing:
                key = aborted_key(entry.key)
                synthetic = self._synthetic.get(key)
                if synthetic is None:
                    synthetic = self._synthetic[key] = aborted_output(entry.item)
                items.append(synthetic)
                keys.append(key)
        if any(unanswered):
            notes.append(NOTE_ABORTED)
        if extra is not None:
            keys.append(extra[0])
            items.append(extra[1])
        return items, keys, notes

    def _new_call(
        self, line: RolloutLine, kind: str, built: tuple[list[JsonObject], list[str], list[str]], **fields: Any
    ) -> ModelCall:
        items, keys, notes = built
        call = ModelCall(
            index=len(self.calls),
            thread_id=self.thread_id,
            kind=kind,
            compaction=fields.pop("compaction", None),
            turn_id=self.turn_id,
            model=self.model,
            status=fields.pop("status", "open"),
            input=items,
            input_keys=keys,
            line=line.line,
            timestamp=line.timestamp,
            notes=notes,
            **fields,
        )
        self.calls.append(call)
        self._turn_calls += 1
        return call

    # ----- lifecycle --------------------------------------------------------------------------

    def _end_open(self, status: str, line: RolloutLine) -> ModelCall | None:
        call = self._open
        if call is None:
            return None
        call.status = status
        call.end_line = line.line
        self._open = None
        self._new_input = False
        return call

    def _settle_unconfirmed(self) -> ModelCall | None:
        """No `compacted` followed: it was an ordinary response without output items."""
        call = self._unconfirmed
        if call is None:
            return None
        self._unconfirmed = None
        call.kind = "turn"
        call.compaction = None
        if call.input and call.input[-1] is COMPACTION_TRIGGER:
            call.input = call.input[:-1]
            call.input_keys = call.input_keys[:-1]
        return call

    def apply(self, line: RolloutLine) -> list[ModelCall]:
        """Apply one line; returns the calls it created or changed."""
        changed: list[ModelCall] = []
        if self._unconfirmed is not None and line.type in ("response_item", "token_usage_record"):
            settled = self._settle_unconfirmed()
            if settled is not None:
                changed.append(settled)
        if line.type == "session_meta":
            self._metas_seen += 1
        elif line.type == "response_item":
            changed += self._response_item(line)
        elif line.type == "token_usage_record":
            changed += self._usage(line)
        elif line.type == "compacted":
            changed += self._compacted(line)
        elif line.type == "turn_context":
            self.turn_id = line.payload.get("turn_id") or self.turn_id
            model = line.payload.get("model")
            self.model = model if isinstance(model, str) else self.model
        elif line.type == "event_msg":
            changed += self._event(line)
        return changed

    def apply_all(self, lines: Iterable[RolloutLine]) -> list[ModelCall]:
        for line in lines:
            self.apply(line)
        return self.calls

    def is_inherited(self, line: RolloutLine) -> bool:
        """A line a forked child copied from its parent: history only, not calls of this thread."""
        start = self.meta.history_start_ordinal
        if start is not None and line.ordinal is not None:
            return line.ordinal < start
        return line.metadata is not None and line.metadata.inherited

    def _response_item(self, line: RolloutLine) -> list[ModelCall]:
        item = without_passthrough(line.payload)
        metadata = line.metadata
        sequence = metadata.history_sequence if metadata else None
        sampled = metadata.sampled_through_sequence if metadata else None
        changed: list[ModelCall] = []
        if self.is_inherited(line):
            self.history.append(_HistoryEntry(sequence, item, str(line.line)))
            return changed
        if metadata is not None and metadata.compaction_output:
            ended = self._end_open("incomplete", line)
            if ended is not None:
                changed.append(ended)
            built = self._input(None, (f"prompt:{line.line}", compaction_prompt_message()))
            built[2].append(NOTE_COMPACTION_PROMPT)
            call = self._new_call(line, "compaction", built, compaction="local", sampled_through=sampled)
            call.output.append(item)
            call.output_keys.append(str(line.line))
            self._open = call
            changed.append(call)
        elif is_model_output(item):
            current = self._open
            if current is None or current.compaction is not None or current.sampled_through != sampled:
                ended = self._end_open("incomplete", line)
                if ended is not None:
                    changed.append(ended)
                built = self._input(sampled)
                if sampled is None:
                    built[2].append(NOTE_NO_SEQUENCE)
                current = self._new_call(line, "turn", built, sampled_through=sampled)
                self._open = current
            current.output.append(item)
            current.output_keys.append(str(line.line))
            changed.append(current)
        elif self._open is None:
            self._new_input = True
        self.history.append(_HistoryEntry(sequence, item, str(line.line)))
        return changed

    def _usage(self, line: RolloutLine) -> list[ModelCall]:
        response_id = line.payload.get("response_id")
        usage = line.payload.get("usage")
        call = self._open
        if call is None:
            # No output items: a remote compaction's response (confirmed by the next `compacted`).
            built = self._input(None, (f"trigger:{line.line}", COMPACTION_TRIGGER))
            call = self._new_call(line, "compaction", built, compaction="remote", status="completed")
            call.end_line = line.line
            self._unconfirmed = call
        else:
            self._open = None
            call.status = "completed"
            call.end_line = line.line
        call.response_id = response_id
        call.usage = usage
        self._new_input = False
        return [call]

    def _compacted(self, line: RolloutLine) -> list[ModelCall]:
        changed: list[ModelCall] = []
        pending = self._unconfirmed
        if pending is not None:
            if pending.response_id is not None and line.payload.get("compaction_response_id") == pending.response_id:
                self._unconfirmed = None
            else:
                self._settle_unconfirmed()
            changed.append(pending)
        if self._open is not None and self._open.compaction != "local":
            ended = self._end_open("incomplete", line)
            if ended is not None:
                changed.append(ended)
        replacement = line.payload.get("replacement_history")
        if isinstance(replacement, list):
            metadata = line.payload.get("replacement_history_metadata")
            metadata = metadata if isinstance(metadata, list) else []
            history: list[_HistoryEntry] = []
            for index, item in enumerate(replacement):
                entry = metadata[index] if index < len(metadata) else None
                sequence = entry.get("history_sequence") if isinstance(entry, dict) else None
                history.append(_HistoryEntry(sequence, without_passthrough(item), f"{line.line}.{index}"))
            self.history = history
        return changed

    def _event(self, line: RolloutLine) -> list[ModelCall]:
        changed: list[ModelCall] = []
        subtype = line.subtype
        if subtype == "task_started":
            ended = self._end_open("incomplete", line)
            if ended is not None:
                changed.append(ended)
            turn_id = line.payload.get("turn_id")
            self.turn_id = turn_id if isinstance(turn_id, str) else self.turn_id
            self._turn_calls = 0
            self._new_input = False
        elif subtype == "token_count":
            # Without sequence numbers (0.164.0) this is the only sign that a stream ended without usage.
            if self._open is not None and self._open.sampled_through is None and self._open.compaction is None:
                ended = self._end_open("incomplete", line)
                if ended is not None:
                    changed.append(ended)
        elif subtype == "turn_aborted" and not self.is_inherited(line):
            ended = self._end_open("interrupted", line)
            if ended is not None:
                changed.append(ended)
        elif subtype == "task_complete":
            error = line.payload.get("error")
            ended = self._end_open("failed" if error else "incomplete", line)
            if ended is not None:
                changed.append(ended)
            elif error and (self._turn_calls == 0 or self._new_input):
                built = self._input(None)
                built[2].append(NOTE_FAILED)
                call = self._new_call(line, "turn", built, status="failed")
                call.end_line = line.line
                changed.append(call)
            self._new_input = False
        if self._unconfirmed is not None and subtype in ("task_started", "task_complete", "turn_aborted"):
            settled = self._settle_unconfirmed()
            if settled is not None:
                changed.append(settled)
        return changed


def compaction_prompt_message() -> JsonObject:
    """The id-less user message carrying the local compaction prompt."""
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": LOCAL_COMPACTION_PROMPT}]}


def rebuild_calls(meta: SessionMeta, lines: Iterable[RolloutLine]) -> list[ModelCall]:
    """Every model call of one rollout file, in file order."""
    return CallRebuilder(meta).apply_all(lines)
