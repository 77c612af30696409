"""Issue 11 item 13: a CLI people can script (id prefixes, JSON summary, a folder's summary)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from trace_viewer.cli import main
from trace_viewer.reducer.replay import reduce_bundle

SAMPLES = Path(__file__).resolve().parent.parent / "sample_traces"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_inference_accepts_a_unique_prefix_and_lists_candidates_otherwise(capsys) -> None:
    bundle = SAMPLES / "exec_basic"
    calls = list(reduce_bundle(bundle).to_json()["inference_calls"])
    code, full, _ = run(capsys, "context", str(bundle), "--inference", calls[0], "--format", "json")
    assert code == 0
    code, short, _ = run(capsys, "context", str(bundle), "--inference", calls[0][:6], "--format", "json")
    assert code == 0 and short == full
    code, _, err = run(capsys, "context", str(bundle), "--inference", "zzz")
    assert code == 1 and "no inference call 'zzz'" in err and all(call in err for call in calls)
    common = "0123456789abcdef"
    shared = next((c for c in common if sum(call.startswith(c) for call in calls) > 1), None)
    if shared is not None:
        code, _, err = run(capsys, "context", str(bundle), "--inference", shared)
        assert code == 1 and "ambiguous" in err


def test_thread_and_turn_ids_accept_prefixes(capsys) -> None:
    bundle = SAMPLES / "tools_multiturn_appserver"
    state = reduce_bundle(bundle).to_json()
    root = state["root_thread_id"]
    turns = list(state["codex_turns"])
    code, by_id, _ = run(capsys, "context", str(bundle), "--seq", "30", "--thread", root, "--format", "json")
    code2, by_prefix, _ = run(capsys, "context", str(bundle), "--seq", "30", "--thread", root[:13], "--format", "json")
    assert code == code2 == 0 and by_id == by_prefix
    # All turns share a UUIDv7 prefix: a short one is ambiguous, a long one is not.
    code, _, err = run(capsys, "context", str(bundle), "--turn", turns[0][:8])
    assert code == 1 and "ambiguous" in err and turns[0] in err
    code, out, _ = run(capsys, "context", str(bundle), "--turn", turns[1], "--format", "json")
    assert code == 0 and "Second: say turn 2." in out and "Third" not in out


def test_summary_json_is_an_object_with_the_threads(capsys) -> None:
    code, out, _ = run(capsys, "summary", str(SAMPLES / "agents_minimal"), "--format", "json")
    assert code == 0
    document = json.loads(out)
    assert isinstance(document, dict) and document["status"] == "completed" and document["fault"] is None
    assert document["threads"][0]["agent_path"] == "/root" and len(document["threads"]) == 2


def test_summary_of_a_folder_lists_every_bundle_with_its_status_and_first_fault(tmp_path: Path, capsys) -> None:
    for name in ("exec_basic", "broken_last_line_cut"):
        shutil.copytree(SAMPLES / name, tmp_path / name)
    code, out, _ = run(capsys, "summary", str(tmp_path), "--format", "json")
    assert code == 0
    rows = {row["bundle"]: row for row in json.loads(out)["bundles"]}
    assert rows["exec_basic"]["status"] == "completed" and rows["exec_basic"]["fault"] is None
    assert rows["broken_last_line_cut"]["status"] == "faulty" and "line 63" in rows["broken_last_line_cut"]["fault"]
    code, text, _ = run(capsys, "summary", str(tmp_path))
    assert code == 0 and "exec_basic" in text and "faulty" in text and "cut off" in text
    assert "running" not in text
