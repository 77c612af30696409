"""`context`, `tokens`, `summary` and the viewer's no-terminal mode accept session rollouts too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rollout_helpers import SAMPLES, comparable, is_compaction_request, load_requests, rollout_files

from trace_viewer import cli

REPO = Path(__file__).resolve().parents[1]
AGENTS_ROOT = next(f for f in rollout_files(SAMPLES / "agents_full") if "a35615aafbc4" in f.name)
LOCAL = rollout_files(SAMPLES / "compaction_local_midturn")[0]


def call(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_context_of_an_inference_call_is_exactly_what_the_model_received(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = call(capsys, "summary", str(LOCAL), "--format", "json")
    assert code == 0, err
    requests = load_requests(SAMPLES / "compaction_local_midturn")
    thread = requests[0]["headers"]["thread-id"]
    # Inference calls are numbered as `calls` numbers them; the compaction request (#2) is not one.
    for index, request in enumerate(requests, start=1):
        if is_compaction_request(request):
            code, _, err = call(capsys, "context", str(LOCAL), "--inference", f"{thread}:call:{index}")
            assert code != 0 and "call:2" in err
            continue
        code, out, err = call(
            capsys, "context", str(LOCAL), "--inference", f"{thread}:call:{index}", "--format", "json"
        )
        assert code == 0, err
        items = json.loads(out)["items"]
        wanted = comparable(request["body"]["input"], drop_first_id=True)
        assert [item.get("responses_item_id") for item in items] == [item.get("id") for item in wanted]
        assert items[0]["role"] == "developer"
    assert "does not record tool schemas" in err


def test_context_at_a_position_and_of_a_sub_agent(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = call(
        capsys, "context", str(AGENTS_ROOT), "--seq", "150", "--thread", "worker_a", "--format", "json"
    )
    assert code == 0, err
    items = json.loads(out)["items"]
    assert items and all(item["thread_id"] == "01a23347-3451-7ce0-895f-b5b249d054be" for item in items)
    code, early, _ = call(capsys, "context", str(AGENTS_ROOT), "--seq", "5", "--format", "json")
    assert code == 0 and len(json.loads(early)["items"]) < len(json.loads(out)["items"]) + 30


def test_summary_names_the_rollout_as_its_source(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = call(capsys, "summary", str(AGENTS_ROOT), "--format", "json")
    assert code == 0
    document = json.loads(out)
    overview = document["overview"]
    assert overview["source"] == "session rollout, Codex 0.171.0, 3 thread file(s)"
    assert "schema" not in overview and document["status"] == "completed"
    assert [row["agent_path"] for row in document["threads"]] == ["/root", "/root/worker_a", "/root/worker_b"]
    assert [row["inference_calls"] for row in document["threads"]] == [9, 4, 2]


def test_tokens_counts_a_rollout_call(capsys: pytest.CaptureFixture[str]) -> None:
    thread = load_requests(SAMPLES / "compaction_local_midturn")[0]["headers"]["thread-id"]
    code, out, err = call(capsys, "tokens", str(LOCAL), "--inference", f"{thread}:call:3", "--format", "json")
    assert code == 0, err
    counted = json.loads(out)
    assert counted["total"] > 1000  # base instructions, then the summary replacing the history


def test_a_torn_rollout_is_one_line_naming_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torn = tmp_path / LOCAL.name
    torn.write_bytes(LOCAL.read_bytes()[:-20])
    code, _, err = call(capsys, "context", str(torn), "--seq", "100")
    assert code == 0  # the context before the fault is still given, with a note
    assert f"{torn} line 40: last line is cut off" in err
    code, _, err = call(capsys, "reduce", str(torn))
    assert code == 1 and "not a bundle directory" in err


def test_without_a_terminal_a_rollout_or_a_sessions_tree_prints_what_it_holds(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "CODEX_HOME": str(tmp_path / "no-home")}
    env.pop("CODEX_ROLLOUT_TRACE_ROOT", None)
    run = [sys.executable, "-m", "trace_viewer"]

    def run_viewer(target: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*run, str(target)], capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, check=False
        )

    single = run_viewer(LOCAL)
    assert single.returncode == 0 and "session rollout, Codex 0.171.0" in single.stdout
    tree = run_viewer(SAMPLES / "agents_full" / "sessions")
    assert tree.returncode == 0 and "└ /root/worker_a" in tree.stdout and "sessions under" in tree.stderr
