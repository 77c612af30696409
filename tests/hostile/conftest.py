"""Hostile-input suite: makes tests/bundle_builder.py importable.

Hypothesis settings come from the suite-wide profile and the session counts of mutations are
reported by tests/conftest.py; each test's example budget goes through ``hostile_helpers.budget``.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The suite shares tests/bundle_builder.py with the rest of the tests.
_TESTS = str(Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)
