"""Conformance at a glance: `python3 tests/conf_tool.py [CASE_SUBSTRING] [SECTION,SECTION...]`.

Reduces every corpus case (../shared/corpus and ../shared/corpus-schema1) that has an
expected_state.json and prints ok/FAIL with the first differing JSON path — optionally comparing
only some top-level sections, which is handy while one concern is being worked on.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from test_conformance import first_difference

from trace_viewer.reducer import ReduceError
from trace_viewer.reducer.replay import reduce_bundle

SHARED = Path(__file__).resolve().parents[2] / "shared"


def main(argv: list[str]) -> int:
    wanted = argv[0] if argv else ""
    sections = argv[1].split(",") if len(argv) > 1 else None
    passed = total = 0
    for root in (SHARED / "corpus", SHARED / "corpus-schema1", SHARED / "corpus-schema3"):
        for case in sorted(root.iterdir()) if root.is_dir() else []:
            expected_path = case / "expected_state.json"
            if wanted not in case.name or not expected_path.is_file():
                continue
            total += 1
            try:
                reducer = reduce_bundle(case)
            except (ReduceError, OSError, ValueError) as error:
                print(f"FAIL {case.name}: crash {type(error).__name__}: {error}")
                continue
            got = reducer.to_json()
            want = json.loads(expected_path.read_text())
            if sections:
                got = {key: got.get(key) for key in sections}
                want = {key: want.get(key) for key in sections}
            difference = first_difference(got, want)
            if difference is None and reducer.fault is None:
                passed += 1
                print(f"ok   {case.name}")
            else:
                fault = f"fault: {reducer.fault} | " if reducer.fault else ""
                print(f"FAIL {case.name}: {fault}{difference}")
    print(f"{passed}/{total}")
    return 0 if passed == total else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
