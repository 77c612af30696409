"""The token rules on every model call of the shared corpora (schema 1, 2 and 3).

One replay per bundle; every call's ``tokens --format json`` object is checked
against the rules, and for each corpus's exec_basic also against the CLI's own output.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from corpora import SHARED, bundles, cases_or_skip
from state_view import json_state
from test_tokens import _check_rules, _windows_from_log

from trace_viewer import cli
from trace_viewer.bundle.manifest import KNOWN_SCHEMAS
from trace_viewer.session import ReplaySession
from trace_viewer.tokens.report import session_counter

CORPORA = ("corpus-schema1", "corpus", "corpus-schema3")
CASES = cases_or_skip(
    [bundle for corpus in CORPORA for bundle in bundles(SHARED / corpus)],
    *CORPORA,
    ids=lambda path: f"{path.parent.name}/{path.name}",
)


@pytest.mark.parametrize("bundle", CASES)
def test_every_model_call_meets_the_rules(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    session = ReplaySession(bundle)
    session.load_all()
    calls = json_state(session)["inference_calls"]
    schema = json.loads((bundle / "manifest.json").read_text())["schema_version"]
    if schema not in KNOWN_SCHEMAS:
        pytest.skip(f"the reducer does not read schema {schema} yet")
    if not calls:
        assert session.fault is not None, "a recorded trace that replays cleanly has model calls"
        return
    counter = session_counter(session)
    windows = _windows_from_log(bundle, session)
    for call_id, call in calls.items():
        composition = counter.call(call_id)
        _check_rules(composition, call, windows.get(call["codex_turn_id"]))
        if windows:  # a recorded trace names its window (schema1_minimal is hand-written, without)
            assert composition.context_window is not None, f"no window for {call_id}"
    if bundle.name in ("exec_basic", "schema1_exec_basic"):
        last = max(calls, key=lambda c: calls[c]["execution"]["started_seq"])
        assert cli.main(["tokens", str(bundle), "--inference", last, "--format", "json"]) == 0
        assert json.loads(capsys.readouterr().out) == counter.call(last).to_json()
