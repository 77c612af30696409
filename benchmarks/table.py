"""The result table: one row per measurement, printed as Markdown (pasteable into the README)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from dataclasses import dataclass


@dataclass(slots=True)
class Row:
    benchmark: str
    ours: str
    official: str = "—"
    ratio: str = "—"
    target: str = ""
    verdict: str = ""


def verdict(value: float | None, limit: float | None) -> str:
    """``met`` / ``MISSED`` against an upper bound; empty when there is no bound or no value."""
    if value is None or limit is None:
        return ""
    return "met" if value <= limit else "MISSED"


def fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    if seconds < 1.0:
        return f"{seconds * 1000:.0f} ms" if seconds >= 0.01 else f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s"


def fmt_mb(mb: float | None) -> str:
    return "n/a" if mb is None else f"{mb:.0f} MB"


def render(rows: list[Row]) -> str:
    headers = ["benchmark", "ours", "official", "ratio", "target", "verdict"]
    cells = [headers] + [[r.benchmark, r.ours, r.official, r.ratio, r.target, r.verdict] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(values: list[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths)) + " |"

    out = [line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out.extend(line(row) for row in cells[1:])
    return "\n".join(out)


def machine() -> str:
    """One line naming the machine the numbers come from."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for text in handle:
                if text.startswith("model name"):
                    cpu = text.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        mem = f", {pages / 2**30:.0f} GiB RAM"
    except (ValueError, OSError, AttributeError):
        pass
    try:
        import orjson

        orjson_version = f", orjson {orjson.__version__}"
    except ImportError:
        orjson_version = ""
    return (
        f"{cpu}, {os.cpu_count()} CPUs{mem}; {platform.system()} {platform.release()}; "
        f"Python {sys.version.split()[0]}{orjson_version}"
    )


def git_revision(repo: str) -> str:
    try:
        out = subprocess.run(
            ["git", "-C", repo, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False, timeout=10
        )
        dirty = subprocess.run(
            ["git", "-C", repo, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return out.stdout.strip() + (" (+ uncommitted changes)" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "?"
