"""`trace-viewer calls SOURCE`: every model call of a rollout or a bundle with its exact input."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rollout_helpers import SAMPLES, comparable, load_requests, rollout_files

from trace_viewer import cli
from trace_viewer.text import BIDI_CONTROLS

REPO = Path(__file__).resolve().parents[1]
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029" + "".join(sorted(BIDI_CONTROLS)) + "]")
LOCAL = rollout_files(SAMPLES / "compaction_local_midturn")[0]


def call(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_json_lists_calls_in_order_with_the_exact_input(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = call(capsys, "calls", str(LOCAL), "--format", "json")
    assert code == 0, err
    calls = json.loads(out)
    assert [(c["kind"], c.get("compaction"), c["response_id"]) for c in calls] == [
        ("turn", None, "resp_1"),
        ("compaction", "local", "resp_2"),
        ("turn", None, "resp_3"),
        ("turn", None, "resp_4"),
    ]
    assert list(calls[0])[:4] == ["thread_id", "response_id", "kind", "input"]
    requests = load_requests(SAMPLES / "compaction_local_midturn")
    for got, request in zip(calls, requests, strict=True):
        assert got["input"] == comparable(request["body"]["input"], drop_first_id=True)
        assert got["thread_id"] == request["headers"]["thread-id"]
    assert "does not record tool schemas" in err  # said plainly, once, on stderr


def test_text_lists_every_item_on_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = call(capsys, "calls", str(LOCAL))
    assert code == 0
    headers = [line for line in out.splitlines() if line.startswith("#")]
    assert len(headers) == 4 and headers[1].startswith("#2 compaction (local)  completed  line 18")
    assert "message/user  You are performing a CONTEXT CHECKPOINT COMPACTION" in out
    assert out.count("note: the base instructions message's id is not recorded") == 1


def test_bundle_calls_come_from_the_recorded_requests(capsys: pytest.CaptureFixture[str]) -> None:
    case = SAMPLES / "compaction_remote_manual"
    code, out, err = call(capsys, "calls", str(case / "bundle"), "--format", "json")
    assert code == 0, err
    calls = json.loads(out)
    requests = load_requests(case)
    assert [c["kind"] for c in calls] == ["turn", "turn", "compaction", "turn", "turn"]
    for got, request in zip(calls, requests, strict=True):
        want = request["body"]["input"]
        if got["kind"] == "compaction":  # instructions shown as the leading developer message, id unknown
            want = comparable(want, drop_first_id=True)
            assert got["response_id"] is None and any("instructions" in note for note in got["notes"])
        assert got["input"] == want
    assert [c["seq"] for c in calls] == sorted(c["seq"] for c in calls)


def test_rollout_and_bundle_of_the_same_run_agree(capsys: pytest.CaptureFixture[str]) -> None:
    case = SAMPLES / "exec_basic"
    _, from_rollout, _ = call(capsys, "calls", str(rollout_files(case)[0]), "--format", "json")
    _, from_bundle, _ = call(capsys, "calls", str(case / "bundle"), "--format", "json")
    rollout_calls, bundle_calls = json.loads(from_rollout), json.loads(from_bundle)
    assert [c["response_id"] for c in rollout_calls] == [c["response_id"] for c in bundle_calls]
    for a, b in zip(rollout_calls, bundle_calls, strict=True):
        assert a["input"] == comparable(b["input"], drop_first_id=True)


def test_torn_rollout_lists_the_prefix_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torn = tmp_path / LOCAL.name
    torn.write_bytes(LOCAL.read_bytes()[:-25])
    code, out, err = call(capsys, "calls", str(torn), "--format", "json")
    assert code == 1
    assert len(json.loads(out)) == 4  # the last line (task_complete) is cut, every call before it is intact
    last = err.strip().splitlines()[-1]
    lines = LOCAL.read_bytes().count(b"\n")
    assert last.startswith(f"trace-viewer: {torn} line {lines}: last line is cut off")
    assert "(the 4 calls before it are listed)" in last


def test_bundle_with_a_missing_payload_names_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    bundle = tmp_path / "bundle"
    shutil.copytree(REPO / "sample_traces" / "exec_basic", bundle)  # a schema 2 bundle: one file per payload
    (bundle / "payloads" / "11.json").unlink()  # the second inference request
    code, out, err = call(capsys, "calls", str(bundle), "--format", "json")
    assert code == 1
    assert len(json.loads(out)) == 1
    assert re.search(r"trace.jsonl line \d+, seq \d+, payload raw_payload:11", err), err


def test_missing_source_and_bad_format_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = call(capsys, "calls", "/nonexistent/rollout.jsonl")
    assert code == 1 and err.strip() == "trace-viewer: no such bundle or rollout file: /nonexistent/rollout.jsonl"
    code, _, err = call(capsys, "calls", str(LOCAL), "--format", "yaml")
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_not_a_rollout_is_a_clean_fault(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "notes.jsonl"
    other.write_text('{"hello": "world"}\n')
    code, out, err = call(capsys, "calls", str(other))
    assert code == 1 and out == "(no model calls)\n"
    assert f"{other} line 1: line has no string 'type'" in err


def test_hostile_text_is_escaped_in_text_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = LOCAL.read_text(encoding="utf-8").splitlines(keepends=True)
    evil = "Please \x1b[31mred\x1b[0m \u202eevil\u202c [bold]x[/bold] do the task."
    hostile = tmp_path / LOCAL.name
    escaped = json.dumps(evil)[1:-1]  # as Codex writes it: control characters JSON-escaped
    hostile.write_text("".join(line.replace("Please do the task.", escaped) for line in lines), encoding="utf-8")
    code, out, _ = call(capsys, "calls", str(hostile))
    assert code == 0 and not UNSAFE.search(out)
    assert "\\x1b[31mred" in out and "[bold]x[/bold]" in out
    code, out, _ = call(capsys, "calls", str(hostile), "--format", "json")
    assert code == 0 and not UNSAFE.search(out)
    assert json.loads(out)[0]["input"][3]["content"][0]["text"] == evil  # the same value once parsed


def test_calls_does_not_import_textual() -> None:
    probe = (
        "import sys; from trace_viewer import cli; "
        f"cli.main(['calls', {str(LOCAL)!r}, '--format', 'json']); "
        "print('textual' in sys.modules, file=sys.stderr)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False, cwd=REPO)
    assert result.stderr.strip().splitlines()[-1] == "False"
