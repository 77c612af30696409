"""Token counting benchmark: every item of a trace, cold and cached, and the usage pane's scrub step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.app_bench import SCRUB_TARGET_S, _dist
from benchmarks.procs import run_probe
from benchmarks.table import Row, fmt_mb, fmt_s, verdict

# Counting everything once may cost at most what replaying the trace costs (measured in the same run).
COLD_RATIO_TARGET = 1.0
# A cached re-count is a lookup per item.
CACHED_RATIO_TARGET = 0.01


def run(bundle: Path, name: str) -> tuple[list[Row], dict[str, Any], list[str]]:
    probe = run_probe("benchmarks.tokens_probe", [str(bundle)])
    if "error" in probe:
        return [Row(f"tokens on {name}", probe["error"])], probe, []
    replay, cold, cached = probe["replay_s"], probe["cold_s"], probe["cached_s"]
    cold_ratio = cold / replay if replay else None
    cached_ratio = cached / cold if cold else None
    what = f"{probe['items']} items, {probe['calls']} calls"
    rows = [
        Row("tokens: load the o200k tokenizer", fmt_s(probe["tokenizer_load_s"])),
        Row(
            f"tokens: count every item of {name}, cold ({what})",
            fmt_s(cold),
            f"replay {fmt_s(replay)}",
            "—" if cold_ratio is None else f"{cold_ratio:.2f}×",
            f"≤ {COLD_RATIO_TARGET:g}× replay",
            verdict(cold_ratio, COLD_RATIO_TARGET),
        ),
        Row(
            f"tokens: count every item of {name}, cached",
            fmt_s(cached),
            f"cold {fmt_s(cold)}",
            "—" if cached_ratio is None else f"{cached_ratio:.3f}×",
            f"≤ {CACHED_RATIO_TARGET:g}× cold",
            verdict(cached_ratio, CACHED_RATIO_TARGET),
        ),
        Row(
            "tokens: usage pane at a random position (counts cached)",
            _dist(probe["scrub_step"]),
            target="≤ 50 ms",
            verdict=verdict(probe["scrub_step"]["p95"], SCRUB_TARGET_S),
        ),
        Row(
            "tokens: memory (tokenizer, then every count cached)",
            f"+{fmt_mb(probe['rss_after_tokenizer_mb'] - probe['rss_after_replay_mb'])}, "
            f"+{fmt_mb(probe['rss_after_count_mb'] - probe['rss_after_tokenizer_mb'])}",
        ),
    ]
    notes = [
        (
            "tokens: cold = every request payload read once and each distinct item tokenized once "
            "(o200k_base via bpe-openai); the baseline is the replay of the same trace in the same process"
        )
    ]
    return rows, probe, notes
