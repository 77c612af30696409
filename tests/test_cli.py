"""The command line: exit codes, one-line errors, output placement, escaping, and no Textual import."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
from bundle_builder import BundleBuilder, Payload, message
from state_view import json_state

from trace_viewer import cli
from trace_viewer.model import ConversationItem
from trace_viewer.reducer.replay import reduce_bundle
from trace_viewer.text import BIDI_CONTROLS, visible

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "sample_traces"
# Raw characters that must never reach a terminal from trace text.
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029" + "".join(sorted(BIDI_CONTROLS)) + "]")


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("TRACE_VIEWER_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "trace_viewer", *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("trace-viewer: ")
    return lines[0]


def call(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ----- reduce ------------------------------------------------------------------------------------


def test_reduce_writes_the_official_format(tmp_path: Path) -> None:
    out = tmp_path / "state.json"
    result = run("reduce", str(SAMPLES / "exec_basic"), "-o", str(out))
    assert result.returncode == 0 and result.stderr == ""
    data = out.read_text(encoding="utf-8")
    state = json.loads(data)
    assert data == json.dumps(state, indent=2, ensure_ascii=False)  # 2-space indent, raw UTF-8, no final newline
    assert state == json.loads((SAMPLES / "exec_basic" / "expected_state.json").read_text())


def test_strict_reduce_of_a_broken_bundle_is_one_line_and_exit_1(tmp_path: Path) -> None:
    out = tmp_path / "state.json"
    result = run("reduce", str(SAMPLES / "broken_last_line_cut"), "-o", str(out))
    error = assert_one_line_error(result, 1)
    assert "broken_last_line_cut/trace.jsonl line 63" in error
    assert not out.exists()  # like the official reducer: nothing written on refusal


def test_partial_reduce_writes_the_prefix_and_reports_the_fault() -> None:
    result = run("reduce", str(SAMPLES / "broken_last_line_cut"), "--partial")
    assert result.returncode == 0
    assert "line 63" in result.stderr and len(result.stderr.splitlines()) == 1
    state = json.loads(result.stdout)
    assert state["conversation_items"] and state["recording_complete"] is False


def test_missing_payload_fault_names_line_seq_and_payload(tmp_path: Path) -> None:
    bundle = tmp_path / "b"
    shutil.copytree(SAMPLES / "exec_basic", bundle)
    (bundle / "payloads" / "4.json").unlink()  # a protocol event: only the end-of-log check reads it
    error = assert_one_line_error(run("reduce", str(bundle)), 1)
    assert re.search(
        r"trace\.jsonl end-of-log check, payload raw_payload:4 \(payloads/4\.json\) referenced at line \d+, seq \d+",
        error,
    ), error
    (bundle / "payloads" / "4.json").write_text("{}")
    (bundle / "payloads" / "5.json").unlink()  # a request, read while replaying: replay stops at its line
    error = assert_one_line_error(run("reduce", str(bundle)), 1)
    assert re.search(r"trace\.jsonl line \d+, seq \d+, payload raw_payload:5 \(payloads/5\.json\)", error), error


def test_output_inside_the_bundle_is_refused(tmp_path: Path) -> None:
    bundle = tmp_path / "b"
    shutil.copytree(SAMPLES / "exec_basic", bundle)
    before = sorted(path.name for path in bundle.rglob("*"))
    for target in (bundle / "state.json", bundle / "payloads" / "x.json", bundle):
        error = assert_one_line_error(run("reduce", str(bundle), "-o", str(target)), 2)
        assert "inside the bundle" in error or "directory" in error
    link = tmp_path / "link"
    link.symlink_to(bundle, target_is_directory=True)
    assert_one_line_error(run("reduce", str(bundle), "-o", str(link / "state.json")), 2)
    assert sorted(path.name for path in bundle.rglob("*")) == before


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["reduce", "/nonexistent/bundle"], 1),
        (["reduce"], 2),
        (["reduce", "x", "--bogus"], 2),
        (["context", str(SAMPLES / "exec_basic")], 2),
        (["context", str(SAMPLES / "exec_basic"), "--seq", "abc"], 2),
        (["context", str(SAMPLES / "exec_basic"), "--seq", "-1"], 2),
        (["context", str(SAMPLES / "exec_basic"), "--inference", "nope"], 1),
        (["context", str(SAMPLES / "exec_basic"), "--seq", "5", "--thread", "/root/nobody"], 1),
        (["summary", str(SAMPLES / "exec_basic" / "manifest.json")], 1),
        (["/nonexistent/bundle"], 1),
    ],
)
def test_bad_input_is_one_line_and_non_zero(args: list[str], code: int) -> None:
    assert_one_line_error(run(*args), code)


def test_internal_errors_are_one_line(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRACE_VIEWER_DEBUG", raising=False)

    def boom(reducer: Any, out: Any) -> None:
        out.write(b"{")
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(cli, "write_reducer_state", boom)
    code, _, err = call(capsys, "reduce", str(SAMPLES / "exec_basic"))
    assert code == 3 and len(err.splitlines()) == 1 and "internal error: RuntimeError: boom" in err


def test_an_internal_error_while_writing_leaves_no_half_state(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def boom(reducer: Any, out: Any) -> None:
        out.write(b"{")
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "write_reducer_state", boom)
    target = tmp_path / "state.json"
    code, _, err = call(capsys, "reduce", str(SAMPLES / "exec_basic"), "-o", str(target))
    assert code == 3 and "internal error: RuntimeError: boom" in err
    assert not target.exists()


@pytest.mark.parametrize("content", [None, "{", "[]"])
def test_bad_manifest_is_refused_cleanly_and_partial_still_answers(tmp_path: Path, content: str | None) -> None:
    bundle = tmp_path / "b"
    shutil.copytree(SAMPLES / "exec_basic", bundle)
    if content is None:
        (bundle / "manifest.json").unlink()
    else:
        (bundle / "manifest.json").write_text(content)
    error = assert_one_line_error(run("reduce", str(bundle)), 1)
    assert "manifest.json" in error
    partial = run("reduce", str(bundle), "--partial")
    assert partial.returncode == 0 and json.loads(partial.stdout)["threads"] == {}


def test_subcommands_do_not_import_textual() -> None:
    probe = (
        "import sys, io, contextlib\n"
        "from trace_viewer.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    main(['reduce', {str(SAMPLES / 'exec_basic')!r}, '-o', '/dev/null'])\n"
        f"    main(['context', {str(SAMPLES / 'exec_basic')!r}, '--seq', '10'])\n"
        "    assert 'rich' not in sys.modules, 'reduce/context imported rich'\n"
        f"    main(['summary', {str(SAMPLES / 'exec_basic')!r}])\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'textual'], 'textual imported'\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_console_script_and_module_agree() -> None:
    result = run("--version")
    assert result.returncode == 0 and "trace-viewer" in result.stdout
    assert "reduce" in run("--help").stdout


# ----- context -----------------------------------------------------------------------------------

HOSTILE = (
    "red \x1b[31mALERT\x1b[0m \x1b]0;pwned\x07 back\x08\x08 cr\r "
    "bidi \u202eevil\u202c iso \u2066x\u2069 [bold]markup[/bold] \x9b"
)
ESCAPES = ("\\x1b[31mALERT", "\\x1b]0;pwned\\x07", "\\x08", "\\x0d", "\\u202eevil\\u202c", "\\u2066", "\\x9b")


def hostile_bundle(directory: Path) -> tuple[Path, str]:
    builder = BundleBuilder(directory)
    builder.add({"type": "rollout_started", "trace_id": "trace-1", "root_thread_id": "thread-root"})
    builder.thread()
    builder.turn("turn-1")
    builder.inference(
        "call-1",
        "turn-1",
        [message("developer", "be careful"), message("user", HOSTILE)],
        [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "ok " + HOSTILE}]}],
    )
    builder.end_turn("turn-1")
    reducer = builder.reduce()
    assert reducer.fault is None, reducer.fault
    return directory, "call-1"


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_context_escapes_control_and_bidi_characters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    bundle, call_id = hostile_bundle(tmp_path / "b")
    for args in (["--inference", call_id], ["--seq", "99"]):
        code, out, _ = call(capsys, "context", str(bundle), *args, "--format", fmt)
        assert code == 0
        assert not UNSAFE.search(out), repr(UNSAFE.search(out))
        for escape in ESCAPES:
            assert escape in out, escape
        assert "[bold]markup[/bold]" in out  # markup is not interpreted, just shown
        assert "be careful" in out


def test_context_json_is_safe_and_keeps_the_exact_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle, call_id = hostile_bundle(tmp_path / "b")
    code, out, _ = call(capsys, "context", str(bundle), "--inference", call_id, "--format", "json")
    assert code == 0 and not UNSAFE.search(out)
    items = json.loads(out)["items"]
    state = json_state(reduce_bundle(bundle))
    assert [item["item_id"] for item in items] == state["inference_calls"][call_id]["request_item_ids"]
    assert items[1]["body"]["parts"][0]["text"] == HOSTILE


def test_context_seq_follows_the_live_history(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle, _ = hostile_bundle(tmp_path / "b")
    sizes = []
    for seq in range(7):
        code, out, _ = call(capsys, "context", str(bundle), "--seq", str(seq), "--format", "json")
        assert code == 0
        sizes.append(len(json.loads(out)["items"]))
    assert sizes == [0, 0, 0, 0, 2, 3, 3]  # request snapshot at seq 4, response item at seq 5
    code, _, err = call(capsys, "context", str(bundle), "--seq", "100")
    assert code == 0 and "only 6 events" in err


def test_context_thread_by_agent_path_and_nickname(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    builder = BundleBuilder(tmp_path)
    builder.add({"type": "rollout_started", "trace_id": "trace-1", "root_thread_id": "thread-root"})
    builder.thread()
    builder.add(
        {
            "type": "thread_started",
            "thread_id": "thread-child",
            "agent_path": "/root/worker",
            "metadata_payload": Payload("session_metadata", {"nickname": "Ada", "agent_path": "/root/worker"}),
        }
    )
    builder.turn("turn-c", "thread-child")
    builder.inference("call-c", "turn-c", [message("user", "child task")], thread_id="thread-child")
    builder.reduce()
    for wanted in ("thread-child", "/root/worker", "worker", "Ada"):
        code, out, err = call(capsys, "context", str(tmp_path), "--seq", "5", "--thread", wanted)
        assert code == 0, err
        assert "child task" in out
    code, out, _ = call(capsys, "context", str(tmp_path), "--seq", "5")
    assert "child task" not in out  # the root thread by default


def test_markdown_fence_cannot_be_closed_by_the_body() -> None:
    from trace_viewer.context import to_markdown

    item = msgspec.convert(
        {
            "item_id": "conversation_item:1",
            "thread_id": "t",
            "codex_turn_id": None,
            "first_seen_at_unix_ms": 0,
            "role": "user",
            "kind": "message",
            "channel": None,
            "call_id": None,
            "body": {"parts": [{"type": "text", "text": "```\n# not a heading\n````"}]},
            "produced_by": [],
        },
        ConversationItem,
    )
    rendered = to_markdown([item])
    fence = re.search(r"^(`{3,})text$", rendered, re.MULTILINE)
    assert fence is not None and len(fence.group(1)) == 5


def test_visible_escapes_everything_dangerous_and_nothing_else() -> None:
    assert visible("plain text, ünïcødé ✓ 漢字\n\tok") == "plain text, ünïcødé ✓ 漢字\n\tok"
    assert visible("a\x1bb\u202ec\x00\x7f\x85\ud800") == "a\\x1bb\\u202ec\\x00\\x7f\\x85\\ud800"
    assert visible("a\nb", keep_newlines=False) == "a\\nb"


# ----- summary -----------------------------------------------------------------------------------


def test_summary_shows_threads_counts_and_literal_markup(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = call(capsys, "summary", str(SAMPLES / "agents_minimal"))
    assert code == 0
    for text in ("/root/worker_a", "Noether", "inference calls", "4 (4 completed)", "400 in", "fault", "none"):
        assert text in out, text

    builder = BundleBuilder(tmp_path)
    builder.add({"type": "rollout_started", "trace_id": "trace-1", "root_thread_id": "thread-root"})
    builder.add(
        {
            "type": "thread_started",
            "thread_id": "thread-root",
            "agent_path": "/root",
            "metadata_payload": Payload("session_metadata", {"nickname": "[bold red]x\x1b[2J[/bold red]"}),
        }
    )
    builder.reduce()
    code, out, _ = call(capsys, "summary", str(tmp_path))
    assert code == 0 and "[bold red]x\\x1b[2J[/bold red]" in out and "\x1b" not in out


def test_summary_reports_the_fault() -> None:
    result = run("summary", str(SAMPLES / "broken_last_line_cut"))
    assert result.returncode == 0 and "line 63" in result.stdout


# ----- packaging ---------------------------------------------------------------------------------


def test_ci_runs_the_readme_test_command() -> None:
    readme = (REPO / "README.md").read_text()
    script = (REPO / ".ci" / "run").read_text()
    command = "pip install -e '.[test]' && pytest"
    assert command in readme and command in script
    assert os.access(REPO / ".ci" / "run", os.X_OK)


def test_without_a_terminal_the_app_modes_print_a_summary(tmp_path: Path) -> None:
    from trace_viewer.samples import DEFAULT_SAMPLE

    result = run()  # stdin/stdout are pipes: a full-screen app would hang a script
    assert result.returncode == 0 and DEFAULT_SAMPLE in result.stderr
    assert "inference calls" in result.stdout
    result = run(str(SAMPLES))  # a folder of bundles: the one that started last
    newest = max(
        (json.loads((path / "manifest.json").read_text())["started_at_unix_ms"], path.name)
        for path in SAMPLES.iterdir()
        if (path / "manifest.json").is_file()
    )[1]
    assert result.returncode == 0 and f"trace {newest}" in result.stdout
    assert_one_line_error(run(str(tmp_path)), 1)  # no bundle in an empty folder


def test_no_argument_mode_finds_the_bundled_sample() -> None:
    from trace_viewer.samples import DEFAULT_SAMPLE, sample_names, sample_path

    path = sample_path()
    assert path is not None and path.name == DEFAULT_SAMPLE
    assert len(sample_names()) >= 10
