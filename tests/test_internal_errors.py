"""A bug of ours is an internal error, never a fault of the trace (issue 12, item 3).

A bug is injected into the handler of ``tool_call_started`` (the one issue 12 found reported as "a
fault of ``tools_terminal`` line 14"). The reducer lets it through unchanged, replay stops there and
says the error is ours, the CLI exits 3 with ``internal error …`` (a traceback only with
``TRACE_VIEWER_DEBUG=1``), and the viewer's session shows it as ours. A real fault of the trace
stays a fault: exit 1, named by line and seq.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trace_viewer import cli
from trace_viewer.bundle import Bundle
from trace_viewer.errors import ReduceError
from trace_viewer.reducer import Reducer
from trace_viewer.reducer.events import Envelope, ToolCallStarted
from trace_viewer.reducer.replay import replay_bundle
from trace_viewer.reducer.tools import ToolsReducer
from trace_viewer.session import ReplaySession

SAMPLE = Path(__file__).resolve().parent.parent / "sample_traces" / "tools_terminal"
BUG = "'NoneType' object has no attribute 'thread_id' (injected)"


def _buggy_tool_call_started(self: ToolsReducer, envelope: Envelope, event: ToolCallStarted) -> None:
    raise AttributeError(BUG)


@pytest.fixture
def buggy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ToolsReducer, "tool_call_started", _buggy_tool_call_started)
    monkeypatch.delenv("TRACE_VIEWER_DEBUG", raising=False)


def _first_tool_call_started() -> tuple[int, int]:
    """(line, seq) of the first ``tool_call_started`` of the sample."""
    lines = SAMPLE.joinpath("trace.jsonl").read_text().splitlines()
    for number, text in enumerate(lines, start=1):
        event = json.loads(text)
        if event["payload"]["type"] == "tool_call_started":
            return number, event["seq"]
    raise AssertionError("the sample has no tool_call_started")


def test_the_reducer_lets_a_bug_through_unchanged_and_records_no_fault(buggy: None) -> None:
    events = [json.loads(line) for line in SAMPLE.joinpath("trace.jsonl").read_text().splitlines()]
    bundle = Bundle(SAMPLE)
    reducer = Reducer(bundle.manifest, bundle.payloads)
    line, seq = _first_tool_call_started()
    for number, event in enumerate(events[: line - 1], start=1):
        reducer.apply(event, line=number)
    with pytest.raises(AttributeError, match="injected"):
        reducer.apply(events[line - 1], line=line)
    assert reducer.fault is None  # apply's docstring: a bug is not a fault
    assert reducer.events_applied == seq - 1


def test_replay_stops_at_the_bug_and_says_it_is_ours(buggy: None) -> None:
    line, seq = _first_tool_call_started()
    replay = replay_bundle(SAMPLE)
    assert isinstance(replay.internal_error, AttributeError)
    fault = replay.fault
    assert fault is not None and fault.internal
    assert (fault.line, fault.seq) == (line, seq)
    assert str(fault).startswith("internal error in trace_viewer (a bug of ours, not of the trace) at trace.jsonl")
    assert BUG in str(fault)
    assert fault.detail == ""  # the traceback only with TRACE_VIEWER_DEBUG=1
    # Everything before the event is kept, nothing of it.
    assert replay.reducer.events_applied == seq - 1
    assert "tool_call:1" not in replay.reducer.rollout.tool_calls


def test_a_fault_of_the_trace_is_not_internal(tmp_path: Path) -> None:
    import shutil

    bundle = tmp_path / "gap"
    shutil.copytree(SAMPLE, bundle)
    log = bundle / "trace.jsonl"
    lines = log.read_text().splitlines()
    log.write_text("\n".join([*lines[:2], *lines[3:]]) + "\n")
    replay = replay_bundle(bundle)
    assert replay.internal_error is None
    assert replay.fault is not None and not replay.fault.internal and replay.fault.line == 3
    assert not str(replay.fault).startswith("internal error")


@pytest.mark.parametrize("command", [["reduce"], ["reduce", "--partial"], ["summary"], ["context", "--seq", "100"]])
def test_the_cli_exits_3_with_one_internal_error_line(
    buggy: None, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    line, seq = _first_tool_call_started()
    code = cli.main([command[0], str(SAMPLE), *command[1:]])
    out, err = capsys.readouterr()
    assert code == cli.EXIT_INTERNAL == 3
    assert out == ""
    where = f"trace.jsonl line {line}, seq {seq}"
    assert err.splitlines() == [
        f"trace-viewer: internal error: AttributeError: {BUG} while applying {where} (set TRACE_VIEWER_DEBUG=1 for details)"
    ]


def test_trace_viewer_debug_gives_the_traceback(buggy: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACE_VIEWER_DEBUG", "1")
    with pytest.raises(AttributeError, match="injected") as raised:
        cli.main(["reduce", str(SAMPLE)])
    frames = [frame.name for frame in raised.traceback]
    assert "_buggy_tool_call_started" in frames
    # The viewer's session keeps the traceback for the inspector.
    session = ReplaySession(SAMPLE)
    session.load_all()
    assert session.fault is not None and session.fault.internal
    assert "Traceback" in session.fault.detail and "_buggy_tool_call_started" in session.fault.detail


def test_the_viewer_session_shows_the_bug_as_ours(buggy: None) -> None:
    line, seq = _first_tool_call_started()
    session = ReplaySession(SAMPLE)
    session.load_all()
    fault = session.fault
    assert fault is not None and fault.internal and (fault.line, fault.seq) == (line, seq)
    assert session.total == seq - 1
    assert session.replay.internal_error is not None


def test_only_what_the_input_can_cause_is_a_fault() -> None:
    """A payload the reducer cannot use is a ``ReduceError`` raised where it is parsed, with its name."""
    bundle = Bundle(SAMPLE)
    reducer = Reducer(bundle.manifest, bundle.payloads)
    events: list[Any] = [json.loads(line) for line in SAMPLE.joinpath("trace.jsonl").read_text().splitlines()]
    reducer.apply(events[0], line=1)
    broken = json.loads(json.dumps(events[1]))
    broken["payload"]["thread_id"] = 7  # a number where the format has a string
    with pytest.raises(ReduceError):
        reducer.apply(broken, line=2)
    assert reducer.fault is not None and not reducer.fault.internal and reducer.fault.line == 2
