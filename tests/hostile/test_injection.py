"""Trace text is untrusted: markup stays literal, control and bidi characters are shown as escapes, never emitted.

The hostile bundles are the sample bundles with a hostile string appended to (nearly) every text they
carry — message and reasoning text, tool arguments (inside their JSON), tool output, model names,
nicknames, code, error messages — and a 20 000-character line in every ``text`` field. Ids and type
tags are left alone so the traces still reduce without a fault, which the first test checks: the
hostile text really is in the reduced state, and everything shown is derived from it.
"""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from fcntl import ioctl
from pathlib import Path
from typing import Any

import pytest
from hostile_helpers import (
    CLEAN_SAMPLES,
    REPO,
    SAMPLES,
    STATS,
    Screen,
    capture,
    copy_bundle,
    read_lines,
    run_app,
    time_limit,
    write_lines,
)
from state_view import json_state

from trace_viewer import cli
from trace_viewer.app.main import TraceViewerApp
from trace_viewer.reducer.replay import reduce_bundle
from trace_viewer.text import BIDI_CONTROLS

MARKUP = ["[bold]B[/bold]", "[link=https://evil.example]L[/link]", "[@click=app.quit]Q[/]", "[red on white]R"]
HOSTILE = (
    " ".join(MARKUP) + " \x1b[31mRED\x1b[0m \x1b[2J\x1b[H \x1b]0;PWNED\x07 \x1b]2;PWNED\x1b\\ "
    "\x1b]8;;https://evil.example\x07LINK\x1b]8;;\x07 back\x08\x08\x08 cr\r nul\x00 del\x7f csi\x9b31m "
    "\u202eRLO\u202c \u2066LRI\u2069 \u200fRLM ls\u2028ps\u2029 tab\t end"
)
# The escapes a person must see instead of the raw characters.
VISIBLE = [
    "\\x1b[31mRED",
    "\\x1b]0;PWNED\\x07",
    "\\x1b\\ ",  # ESC \\ (string terminator): the backslash stays, the ESC is escaped
    "\\x08",
    "\\x0d",
    "\\x00",
    "\\x7f",
    "\\x9b",
    "\\u202eRLO\\u202c",
    "\\u2066",
    "\\u200f",
    "\\u2028",
]
LONG_LINE = "".join(f"{n:05d}|" for n in range(3334))[:20_000]
# Raw characters that must never reach a terminal (newline and tab are fine).
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029" + "".join(sorted(BIDI_CONTROLS)) + "]")

# Strings that link a trace together or select behaviour; everything else is text.
_STRUCTURAL_KEYS = {
    "type", "role", "id", "call_id", "name", "status", "kind", "item_id", "response_id", "previous_response_id",
    "agent_path", "thread_id", "session_id", "process_id", "encrypted_content", "phase", "channel", "author",
    "recipient", "tool_name", "namespace", "server", "tool",
}  # fmt: skip
_ID_LIKE = re.compile(r"[0-9a-fA-F-]{32,36}|/root.*")


def _inject(value: Any, key: str | None = None) -> Any:
    """``value`` with the hostile text appended to every free-text string (JSON inside strings included)."""
    if isinstance(value, dict):
        return {k: _inject(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_inject(v, key) for v in value]
    if not isinstance(value, str) or key in _STRUCTURAL_KEYS or _ID_LIKE.fullmatch(value):
        return value
    try:
        inner = json.loads(value)
    except ValueError:
        return f"{value} {HOSTILE}" + (f"\n{LONG_LINE}" if key == "text" else "")
    return json.dumps(_inject(inner), ensure_ascii=False) if isinstance(inner, (dict, list)) else value


def make_hostile(source: Path, target: Path) -> Path:
    bundle = copy_bundle(source, target)
    for payload in (bundle / "payloads").iterdir():
        payload.write_text(json.dumps(_inject(json.loads(payload.read_text())), ensure_ascii=False))
    events = [json.loads(line) for line in read_lines(bundle)]
    for event in events:
        event["payload"] = {
            key: value if key.endswith(("_id", "_payload")) or key in _STRUCTURAL_KEYS or key == "payloads"
            else _inject(value, key)
            for key, value in event["payload"].items()
        }  # fmt: skip
    write_lines(bundle, [json.dumps(event, ensure_ascii=False).encode() + b"\n" for event in events])
    return bundle


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hostile")
    return {name: make_hostile(SAMPLES / name, root / name) for name in CLEAN_SAMPLES}


def _assert_safe(text: str, where: str) -> None:
    found = UNSAFE.search(text)
    assert found is None, (
        f"{where}: raw {found.group()!r} at {found.start()}: {text[max(0, found.start() - 60) : found.end() + 20]!r}"
    )


def call(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ----- the reduced state carries the hostile text -------------------------------------------------------


@pytest.mark.parametrize("name", CLEAN_SAMPLES)
def test_hostile_text_reaches_the_state(hostile: dict[str, Path], name: str) -> None:
    reducer = reduce_bundle(hostile[name])
    assert reducer.fault is None, reducer.fault
    strings: list[str] = []

    def collect(value: Any) -> None:
        if isinstance(value, str):
            strings.append(value)
        elif isinstance(value, dict):
            for child in value.values():
                collect(child)
        elif isinstance(value, list):
            for child in value:
                collect(child)

    collect(reducer.to_json())
    assert sum(text.count(HOSTILE) for text in strings) >= 3
    assert any(LONG_LINE in text for text in strings)


# ----- CLI output ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["text", "markdown"])
@pytest.mark.parametrize("name", CLEAN_SAMPLES)
def test_context_output_is_literal_and_safe(
    hostile: dict[str, Path], name: str, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = hostile[name]
    rollout = json_state(reduce_bundle(bundle))
    requests: list[list[str]] = [["--inference", call_id] for call_id in rollout["inference_calls"]]
    requests += [["--seq", "100000", "--thread", thread_id] for thread_id in rollout["threads"]]
    assert requests
    shown = ""
    for request in requests:
        code, out, err = call(capsys, "context", str(bundle), *request, "--format", fmt)
        assert code == 0, err
        _assert_safe(out, f"context {' '.join(request)} --format {fmt}")
        _assert_safe(err, "stderr")
        shown += out
    for markup in MARKUP:
        assert markup in shown, markup
    for escape in VISIBLE:
        assert escape in shown, escape
    assert LONG_LINE in shown  # a 20 000-character line is printed whole, on one line


@pytest.mark.parametrize("name", ["tools_code_mode", "agents_minimal", "tools_terminal"])
def test_context_json_is_safe_and_exact(
    hostile: dict[str, Path], name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = hostile[name]
    rollout = json_state(reduce_bundle(bundle))
    for call_id, inference in rollout["inference_calls"].items():
        code, out, _ = call(capsys, "context", str(bundle), "--inference", call_id, "--format", "json")
        assert code == 0
        _assert_safe(out.replace("\n", "").replace("\t", ""), "json")
        items = json.loads(out)["items"]
        assert items == [rollout["conversation_items"][item_id] for item_id in inference["request_item_ids"]]


@pytest.mark.parametrize("name", CLEAN_SAMPLES)
def test_summary_is_literal_and_safe(hostile: dict[str, Path], name: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = call(capsys, "summary", str(hostile[name]))
    assert code == 0, err
    _assert_safe(out, "summary")
    assert "[bold]B[/bold]" in out  # the model name carries the hostile text; Rich did not interpret it


def test_command_line_processes_emit_nothing_raw(hostile: dict[str, Path], tmp_path: Path) -> None:
    """The same through real processes (what a terminal would receive), including a hostile bundle path."""
    evil_dir = tmp_path / "evil \x1b]0;PWNED\x07 \u202edir\n[bold]x"
    bundle = copy_bundle(hostile["tools_terminal"], evil_dir)
    lines = read_lines(bundle)
    write_lines(bundle, [*lines[:-1], lines[-1][:30]])  # and a torn last line: the fault names the path
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("TRACE_VIEWER_DEBUG", None)
    for args in (
        ["reduce", str(bundle)],
        ["reduce", "--partial", str(bundle), "-o", str(tmp_path / "out.json")],
        ["summary", str(bundle)],
        ["context", str(bundle), "--seq", "40", "--format", "text"],
        ["context", str(bundle), "--seq", "40", "--format", "markdown"],
    ):
        result = subprocess.run([sys.executable, "-m", "trace_viewer", *args], capture_output=True, env=env,
                                timeout=60, check=False)  # fmt: skip
        assert result.returncode in (0, 1), result.stderr
        out, err = result.stdout.decode(), result.stderr.decode()
        _assert_safe(out, f"{args[0]} stdout")
        _assert_safe(err, f"{args[0]} stderr")
        assert "Traceback" not in err
        if result.returncode == 1:
            assert len(err.splitlines()) == 1 and "\\x1b]0;PWNED\\x07" in err


@pytest.mark.parametrize(
    "where",
    ["thread id", "event type", "tool name"],
)
def test_fault_messages_quoting_trace_text_are_one_safe_line(
    hostile: dict[str, Path], tmp_path: Path, where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = copy_bundle(SAMPLES / "tools_terminal", tmp_path / "b")
    lines = read_lines(bundle)
    event = json.loads(lines[5])
    if where == "thread id":
        event["payload"]["thread_id"] = event["thread_id"] = "ghost " + HOSTILE
        event["payload"]["type"] = "codex_turn_started"
        event["payload"]["codex_turn_id"] = "turn-x"
    elif where == "event type":
        event["payload"]["type"] = HOSTILE
    else:
        bundle = copy_bundle(hostile["tools_terminal"], tmp_path / "c")
        lines = read_lines(bundle)
        ref = next(json.loads(line)["payload"]["invocation_payload"] for line in lines
                   if b'"invocation_payload": {' in line and b"write_stdin" in line)  # fmt: skip
        invocation = json.loads((bundle / ref["path"]).read_text())
        invocation["tool_name"] = HOSTILE
        (bundle / ref["path"]).write_text(json.dumps(invocation))
    if where != "tool name":
        lines[5] = json.dumps(event).encode() + b"\n"
        write_lines(bundle, lines)
    reducer = reduce_bundle(bundle)
    assert reducer.fault is not None and "PWNED" in reducer.fault.message  # the message quotes the trace
    code, out, err = call(capsys, "reduce", str(bundle))
    assert code == 1 and out == ""
    assert len(err.splitlines()) == 1
    _assert_safe(err, "fault line")
    assert "\\x1b]0;PWNED\\x07" in err and "[bold]B[/bold]" in err


# ----- the app -------------------------------------------------------------------------------------------

APP_SAMPLES = ["tools_code_mode", "agents_minimal", "compaction_remote_midturn", "tools_mcp"]
# Through every pane: steps, model calls, threads, inspector, usage, diff, provenance, replaced items, search.
APP_KEYS = ["home", "right_square_bracket", "right_square_bracket", "l", "i", "right_square_bracket", "d", "p",
            "end", "b", "u", "t", "left_square_bracket", "i", "T", "G"]  # fmt: skip


def _assert_screens_safe(screens: list[Screen], label: str) -> str:
    for number, screen in enumerate(screens):
        for text, style in screen.segments:
            _assert_safe(text, f"{label} frame {number}")
            if style is not None:
                assert "evil.example" not in (style.link or ""), f"{label}: trace markup became a link"
                assert "@click" not in json.dumps(style.meta, default=str), f"{label}: trace markup became an action"
    return "\n".join(screen.text for screen in screens)


@pytest.mark.parametrize("name", APP_SAMPLES)
def test_app_shows_hostile_text_literally(hostile: dict[str, Path], name: str) -> None:
    app, screens = run_app(hostile[name], name, APP_KEYS, size=(150, 50))
    shown = _assert_screens_safe(screens, name)
    assert "[bold]B[/bold]" in shown or "[bold]B[/bol" in shown  # literal, not bold text
    assert "\\x1b" in shown  # the escape is shown, visibly
    assert app.title == "trace-viewer"


def test_app_search_and_fault_with_hostile_text(hostile: dict[str, Path], tmp_path: Path) -> None:
    """A fault message that quotes hostile text, and a search that matches it, are shown safely too."""
    bundle = copy_bundle(hostile["tools_terminal"], tmp_path / "b")
    lines = read_lines(bundle)
    event = json.loads(lines[10])
    event["payload"]["type"] = HOSTILE
    write_lines(bundle, [*lines[:10], json.dumps(event).encode() + b"\n", *lines[11:]])
    keys = ["slash", *"PWNED", "enter", "n", "n", "end", "i"]
    _, screens = run_app(bundle, "fault + search", keys, size=(150, 50))
    shown = _assert_screens_safe(screens, "fault + search")
    assert "line 11" in screens[0].text
    assert "\\x1b]0;PWNED" in shown


def test_app_with_a_hostile_bundle_path(hostile: dict[str, Path], tmp_path: Path) -> None:
    """The bundle's own directory name is untrusted too (the picker lists it, messages quote it)."""
    bundle = copy_bundle(hostile["exec_basic"], tmp_path / "root" / "evil \x1b]0;PWNED\x07 \u202edir [bold]x")
    (bundle / "trace.jsonl").unlink()  # a fault message quoting the path
    _, screens = run_app(bundle, "hostile path", ["end", "i"], size=(150, 40))
    _assert_screens_safe(screens, "hostile path")
    assert "\\x1b]0;PWNED\\x07" in screens[0].text


def test_picker_with_hostile_bundle_names(hostile: dict[str, Path], tmp_path: Path) -> None:
    root = tmp_path / "root"
    copy_bundle(hostile["exec_basic"], root / "evil \x1b]0;PWNED\x07 \u202edir [bold]x")
    copy_bundle(hostile["tools_mcp"], root / "ok")

    async def drive() -> Screen:
        app = TraceViewerApp(root, picker=True)
        async with app.run_test(size=(150, 30)) as pilot:
            await pilot.pause(0.5)
            screen = capture(app)
            await pilot.press("q")
        return screen

    STATS["app_runs"] += 1
    with time_limit(60):
        screen = asyncio.run(drive())
    _assert_screens_safe([screen], "picker")
    assert "\\x1b]0;PWNED\\x07" in screen.text and "[bold]x" in screen.text


def test_terminal_title_is_unchanged_in_a_real_terminal(hostile: dict[str, Path]) -> None:
    """The viewer in a pseudo-terminal: nothing it writes sets the title, opens a link or reorders text."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "TERM": "xterm-256color", "COLUMNS": "140", "LINES": "45"}
    env.pop("TEXTUAL", None)
    pid, fd = pty.fork()
    finished = 0
    if pid == 0:  # pragma: no cover - the child
        os.execve(sys.executable, [sys.executable, "-m", "trace_viewer", str(hostile["tools_code_mode"])], env)
    ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 45, 140, 0, 0))
    output = bytearray()

    def read_for(seconds: float) -> int:
        """Collect output for ``seconds``; how many bytes arrived."""
        arrived = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                output.extend(chunk)
                arrived += len(chunk)
        return arrived

    try:
        # Until the first screen is drawn and the viewer is idle.
        started = time.monotonic()
        while time.monotonic() - started < 20:
            if read_for(0.5) == 0 and len(output) > 20000:
                break
        for key in (b"G", b"]", b"i", b"t", b"g", b"u"):
            os.write(fd, key)
            read_for(0.4)
        os.write(fd, b"q")
        finished = 0
        deadline = time.monotonic() + 15.0
        while finished == 0 and time.monotonic() < deadline:
            read_for(0.1)
            finished, _ = os.waitpid(pid, os.WNOHANG)
    finally:
        if finished == 0:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    assert finished == pid, f"the viewer did not quit on q: {bytes(output[-400:])!r}"
    assert len(output) > 5000, output[:500]  # it did draw
    for forbidden in (b"\x1b]0;", b"\x1b]2;", b"PWNED\x07", b"\x1b]8;;https://evil.example", b"\xe2\x80\xae"):
        assert forbidden not in output, forbidden
    assert b"PWNED" in output  # the text itself was on screen, harmlessly
