"""Headline numbers of a reduced trace (for ``trace-viewer summary`` and the app's overview).

Pure data: rows of (label, value) strings and one row per thread. Values are
raw trace text; whoever displays them escapes them (``trace_viewer.text``).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from trace_viewer.model import ExecutionWindow, RolloutTrace, is_set

if TYPE_CHECKING:
    from trace_viewer.reducer.replay import Replay

TOKEN_FIELDS = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens")


@dataclass(slots=True)
class Summary:
    rows: list[tuple[str, str]] = field(default_factory=list)
    # agent path, nickname, status, model, turns, inference calls, conversation items
    threads: list[tuple[str, str, str, str, int, int, int]] = field(default_factory=list)
    tokens: dict[str, int] = field(default_factory=dict)
    duration_ms: int | None = None


def _time(unix_ms: int | None) -> str:
    if not unix_ms:
        return "-"
    moment = dt.datetime.fromtimestamp(unix_ms / 1000, tz=dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def format_duration(ms: int | None) -> str:
    if ms is None:
        return "-"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


def _statuses(executions: Iterable[ExecutionWindow]) -> str:
    counts = Counter(execution.status for execution in executions)
    total = sum(counts.values())
    if not counts:
        return "0"
    detail = ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
    return f"{total} ({detail})"


def _executions(rollout: RolloutTrace) -> Iterable[ExecutionWindow]:
    yield from (thread.execution for thread in rollout.threads.values())
    yield from (turn.execution for turn in rollout.codex_turns.values())
    yield from (call.execution for call in rollout.inference_calls.values())
    yield from (call.execution for call in rollout.tool_calls.values())
    yield from (request.execution for request in rollout.compaction_requests.values())


def _last_wall_time(rollout: RolloutTrace) -> int | None:
    """The latest wall time any object records: how far a still-running trace got."""
    latest: int | None = None
    for execution in _executions(rollout):
        for value in (execution.started_at_unix_ms, execution.ended_at_unix_ms):
            if value is not None and (latest is None or value > latest):
                latest = value
    return latest


def summarize(replay: Replay) -> Summary:
    reducer = replay.reducer
    rollout = reducer.rollout
    summary = Summary()
    started = rollout.started_at_unix_ms
    ended = rollout.ended_at_unix_ms or _last_wall_time(rollout)
    if started and ended:
        summary.duration_ms = max(0, ended - started)

    tokens = dict.fromkeys(TOKEN_FIELDS, 0)
    calls_per_thread: Counter[str] = Counter()
    for call in rollout.inference_calls.values():
        calls_per_thread[call.thread_id] += 1
        if call.usage is not None:
            usage = call.usage
            tokens["input_tokens"] += usage.input_tokens
            tokens["cached_input_tokens"] += usage.cached_input_tokens
            tokens["output_tokens"] += usage.output_tokens
            tokens["reasoning_output_tokens"] += usage.reasoning_output_tokens
    summary.tokens = tokens
    turns_per_thread = Counter(turn.thread_id for turn in rollout.codex_turns.values())

    status: str = rollout.status
    if isinstance(rollout.recording_complete, bool):
        status += ", recording complete" if rollout.recording_complete else ", recording not complete"
    elif is_set(rollout.recording_status):
        status += ", recording complete" if rollout.recording_status == "complete" else ", recording not closed"
    fault = reducer.fault
    summary.rows = [
        ("trace id", rollout.trace_id),
        ("rollout id", rollout.rollout_id),
        ("schema", str(rollout.schema_version)),
        ("status", status),
        ("started", _time(started)),
        ("duration", format_duration(summary.duration_ms)),
        ("events", str(reducer.events_applied)),
        ("threads", str(len(rollout.threads))),
        ("turns", _statuses(turn.execution for turn in rollout.codex_turns.values())),
        ("inference calls", _statuses(call.execution for call in rollout.inference_calls.values())),
        ("tool calls", _statuses(call.execution for call in rollout.tool_calls.values())),
        ("compactions", f"{len(rollout.compactions)} installed, {len(rollout.compaction_requests)} requests"),
        ("conversation items", str(len(rollout.conversation_items))),
        (
            "tokens",
            (
                f"{tokens['input_tokens']:,} in ({tokens['cached_input_tokens']:,} cached), "
                f"{tokens['output_tokens']:,} out ({tokens['reasoning_output_tokens']:,} reasoning)"
            ),
        ),
        ("fault", str(fault) if fault is not None else "none"),
    ]
    if replay.bundle is not None:
        for warning in replay.bundle.warnings:
            summary.rows.append(("warning", warning))
    if reducer.skipped_events:
        first_seq, _ = reducer.skipped_events[0]
        kinds = ", ".join(sorted({kind for _, kind in reducer.skipped_events}))
        summary.rows.append(
            (
                "warning",
                f"skipped {len(reducer.skipped_events)} events of unknown types ({kinds}), first at seq {first_seq}",
            )
        )

    for thread_id, thread in rollout.threads.items():
        summary.threads.append(
            (
                thread.agent_path,
                thread.nickname or "",
                thread.execution.status,
                thread.default_model or "",
                turns_per_thread[thread_id],
                calls_per_thread[thread_id],
                len(thread.conversation_item_ids),
            )
        )
    summary.threads.sort(key=lambda row: row[0])
    return summary
