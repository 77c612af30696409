"""Garbage-collector tuning: only the app does it, and it restores what it changed."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import pytest

from trace_viewer import cli
from trace_viewer.app import gc_policy

SAMPLE = Path(__file__).resolve().parents[1] / "sample_traces" / "exec_basic"


def test_cli_replay_leaves_the_collector_alone(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only the app tunes the collector (app/gc_policy.py); the CLI's replay runs with the defaults."""
    from trace_viewer.reducer import replay

    before = gc.get_threshold()
    during: list[tuple[int, int, int]] = []
    original = replay.replay_bundle

    def spy(*args: object, **kwargs: object) -> object:
        during.append(gc.get_threshold())
        return original(*args, **kwargs)

    monkeypatch.setattr(replay, "replay_bundle", spy)
    assert cli.main(["reduce", str(SAMPLE)]) == 0
    capsys.readouterr()
    assert during == [before]
    assert gc.get_threshold() == before


def test_app_policy_installs_freezes_and_restores() -> None:
    before = gc.get_threshold()
    gc_policy.install()
    try:
        assert gc.get_threshold() == (gc_policy.GEN0_THRESHOLD, gc_policy.GEN1_THRESHOLD, gc_policy.GEN2_THRESHOLD)
        state = [{"loaded": index} for index in range(1000)]
        gc_policy.freeze_loaded_state()
        assert gc.get_freeze_count() >= len(state)
    finally:
        gc_policy.restore()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_a_garbage_cycle_of_the_moment_is_freed_not_frozen() -> None:
    """The viewer freezes after every loading slice: young garbage must not be kept for good."""

    class Node:
        other: Node | None = None

    first, second = Node(), Node()
    first.other, second.other = second, first  # a cycle only the collector can free
    gone = weakref.ref(first)
    del first, second
    try:
        gc_policy.freeze_loaded_state()
        assert gone() is None
    finally:
        gc.unfreeze()
