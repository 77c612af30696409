"""Hostile-input suite: seeded, bounded hypothesis settings and the session counts of mutations tried."""

from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

# The suite shares tests/bundle_builder.py with the rest of the tests.
_TESTS = str(Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from hostile_helpers import STATS

# Derandomized (the same examples on every run and machine), no example database (nothing written
# next to the repository), no per-example deadline (the tests time each run themselves).
settings.register_profile(
    "hostile",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    if not STATS:
        return
    terminalreporter.write_sep("=", "hostile bundles")
    terminalreporter.write_line(
        f"mutations tried: {STATS['mutations']} in-process, {STATS['cli_runs']} CLI runs, "
        f"{STATS['app_runs']} app runs; crashes: {STATS['crashes']}, hangs: {STATS['hangs']}"
    )
