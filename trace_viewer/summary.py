"""Headline numbers of a reduced trace (for ``trace-viewer summary`` and the app's overview).

Pure data: rows of (label, value) strings and one row per thread. Values are
raw trace text; whoever displays them escapes them (``trace_viewer.text``).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

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


def _statuses(objects: dict[str, Any]) -> str:
    counts = Counter(obj.get("execution", {}).get("status", "?") for obj in objects.values())
    total = sum(counts.values())
    if not counts:
        return "0"
    detail = ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
    return f"{total} ({detail})"


def _last_wall_time(rollout: dict[str, Any]) -> int | None:
    """The latest wall time any object records: how far a still-running trace got."""
    latest: int | None = None
    for key in ("threads", "codex_turns", "inference_calls", "tool_calls", "compaction_requests"):
        for obj in rollout.get(key, {}).values():
            execution = obj.get("execution") or {}
            for name in ("started_at_unix_ms", "ended_at_unix_ms"):
                value = execution.get(name)
                if isinstance(value, int) and (latest is None or value > latest):
                    latest = value
    return latest


def summarize(replay: Replay) -> Summary:
    reducer = replay.reducer
    rollout: dict[str, Any] = reducer.rollout
    summary = Summary()
    started = rollout.get("started_at_unix_ms")
    ended = rollout.get("ended_at_unix_ms") or _last_wall_time(rollout)
    if started and ended:
        summary.duration_ms = max(0, ended - started)

    tokens = dict.fromkeys(TOKEN_FIELDS, 0)
    calls_per_thread: Counter[str] = Counter()
    for call in rollout["inference_calls"].values():
        calls_per_thread[call.get("thread_id")] += 1
        usage = call.get("usage") or {}
        for name in TOKEN_FIELDS:
            value = usage.get(name)
            if isinstance(value, int):
                tokens[name] += value
    summary.tokens = tokens
    turns_per_thread = Counter(turn.get("thread_id") for turn in rollout["codex_turns"].values())

    status = str(rollout.get("status"))
    if "recording_complete" in rollout:
        status += ", recording complete" if rollout["recording_complete"] else ", recording not complete"
    fault = reducer.fault
    summary.rows = [
        ("trace id", str(rollout.get("trace_id"))),
        ("rollout id", str(rollout.get("rollout_id"))),
        ("schema", str(rollout.get("schema_version"))),
        ("status", status),
        ("started", _time(started)),
        ("duration", format_duration(summary.duration_ms)),
        ("events", str(reducer.events_applied)),
        ("threads", str(len(rollout["threads"]))),
        ("turns", _statuses(rollout["codex_turns"])),
        ("inference calls", _statuses(rollout["inference_calls"])),
        ("tool calls", _statuses(rollout["tool_calls"])),
        ("compactions", f"{len(rollout['compactions'])} installed, {len(rollout['compaction_requests'])} requests"),
        ("conversation items", str(len(rollout["conversation_items"]))),
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

    for thread_id, thread in rollout["threads"].items():
        summary.threads.append(
            (
                str(thread.get("agent_path")),
                str(thread.get("nickname") or ""),
                str((thread.get("execution") or {}).get("status")),
                str(thread.get("default_model") or ""),
                turns_per_thread[thread_id],
                calls_per_thread[thread_id],
                len(thread.get("conversation_item_ids") or []),
            )
        )
    summary.threads.sort(key=lambda row: row[0])
    return summary
