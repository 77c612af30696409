"""The rebuilt input of every model call equals what the model received, item for item.

Ground truth is each case's ``requests.jsonl`` (the mock model's log of every request, with the
thread that sent it). The only differences allowed are the two ids a rollout cannot hold: the base
instructions message's and those Codex synthesises for ``aborted`` outputs. A request is left
unmatched only when it is a scripted HTTP failure retried with the same input: retried attempts
leave no trace in a rollout.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from corpora import cases_or_skip
from rollout_helpers import (
    NEEDS_CORPUS,
    OLD_VERSIONS,
    SAMPLES,
    SHARED_CORPUS,
    case_dirs,
    comparable,
    first_item_difference,
    load_requests,
    match_case,
    requests_by_thread,
    unpacked,
)

from trace_viewer.calls import bundle_calls

CORPUS_CASES = case_dirs(SHARED_CORPUS)
SAMPLE_CASES = case_dirs(SAMPLES)


def _check(case: Path) -> list[str]:
    problems = []
    for match in match_case(case):
        if not match.ok:
            problems.append(f"{match.name}: {match.matched}/{match.requests} matched; " + "; ".join(match.problems))
    return problems


@pytest.mark.parametrize("case", cases_or_skip(CORPUS_CASES, "corpus-rollouts", ids=lambda case: case.name))
def test_corpus_rebuild_equals_requests(case: Path) -> None:
    problems = _check(case)
    assert not problems, "\n".join(problems)
    # The corpus has no retried attempts: every request is one rebuilt call.
    assert sum(match.matched for match in match_case(case)) == len(load_requests(case))


@pytest.mark.skipif(not CORPUS_CASES, reason=NEEDS_CORPUS)
def test_corpus_has_every_case_and_request() -> None:
    """The 15 cases of FORMAT-ROLLOUT.md, 80 requests: a shrinking corpus would hide regressions."""
    assert len(CORPUS_CASES) == 15
    assert sum(len(load_requests(case)) for case in CORPUS_CASES) == 80


@pytest.mark.parametrize("case", SAMPLE_CASES, ids=lambda case: case.name)
def test_sample_rebuild_equals_requests(case: Path) -> None:
    problems = _check(case)
    assert not problems, "\n".join(problems)


def test_samples_are_present() -> None:
    assert {case.name for case in SAMPLE_CASES} >= {"exec_basic", "agents_full", "compaction_local_midturn"}


def _old_cases() -> list[tuple[str, str]]:
    # Listed statically so test ids are stable; the archives are unpacked lazily.
    names = {
        "0.164.0": ["agents_full", "compaction_local_midturn", "compaction_remote_manual", "exec_basic"],
        "0.169.0": ["agents_full", "compaction_local_midturn", "compaction_remote_manual", "exec_basic"],
        "0.171.0": ["agents_v1", "tools_interrupt_KILL", "tools_tool_errors"],
    }
    common = ["tools_fail_http500", "tools_fail_http500_retry", "tools_fail_stream"]
    extra = ["tools_interrupt_INT", "tools_multiturn_resume"]
    cases = []
    for version in OLD_VERSIONS:
        for name in names[version] + common + (extra if version != "0.171.0" else []):
            cases.append((version, name))
    return cases


@pytest.mark.parametrize(("version", "name"), _old_cases(), ids=lambda value: value)
def test_recorded_versions_rebuild_equals_requests(version: str, name: str) -> None:
    case = unpacked(version) / name
    assert case.is_dir(), f"{name} missing from tests/data/rollouts/{version}.tar.zst"
    problems = _check(case)
    assert not problems, "\n".join(problems)


def test_retried_attempt_is_the_only_unmatched_request() -> None:
    """An HTTP 500 retried with the same input: 3 requests, 2 calls, and the gap is the failed attempt."""
    case = unpacked("0.171.0") / "tools_fail_http500_retry"
    (match,) = match_case(case)
    assert (match.requests, match.matched, match.retried) == (3, 2, 1)
    assert [call.status for call in match.calls] == ["completed", "completed"]


def test_failed_turn_is_one_failed_call_over_the_whole_history() -> None:
    for version in OLD_VERSIONS:
        (match,) = match_case(unpacked(version) / "tools_fail_http500")
        assert match.ok, match.problems
        assert [(call.status, call.response_id) for call in match.calls][-1] == ("failed", None)


def test_stream_failure_then_retry_are_two_calls() -> None:
    """The failed stream's items stay in history; the retry's input includes them (0.164.0: no sequences)."""
    for version in OLD_VERSIONS:
        (match,) = match_case(unpacked(version) / "tools_fail_stream")
        assert match.ok, match.problems
        assert [call.status for call in match.calls] == ["completed", "incomplete", "completed"]


# ----- bundles: `calls` reads the recorded requests ---------------------------------------------


@pytest.mark.parametrize("case", cases_or_skip(CORPUS_CASES, "corpus-rollouts", ids=lambda case: case.name))
def test_bundle_calls_equal_requests(case: Path) -> None:
    """Every request a bundle records, as sent; a bundle holds no local compaction request."""
    by_thread = requests_by_thread(case)
    recorded: dict[str | None, list[list[object]]] = {}
    for bundle in sorted(case.glob("bundle*")):
        listing = bundle_calls(bundle)
        assert listing.fault is None, listing.fault
        for call in listing.calls:
            recorded.setdefault(call.thread_id, []).append(comparable(call.input, drop_first_id=False))
    for thread, requests in by_thread.items():
        wanted = [
            comparable(request["body"]["input"], drop_first_id=_compaction(request))
            for request in requests
            if not _local_compaction(request)
        ]
        got = recorded.get(thread, [])
        assert len(got) == len(wanted), f"thread {thread}: {len(got)} calls, {len(wanted)} requests"
        for index, (a, b) in enumerate(zip(got, wanted, strict=True)):
            assert a == b, f"thread {thread} call {index}: " + first_item_difference(a, b)


def _compaction(request: dict[str, object]) -> bool:
    return '"request_kind":"compaction"' in str((request.get("headers") or {}).get("x-codex-turn-metadata", ""))  # type: ignore[union-attr]


def _local_compaction(request: dict[str, object]) -> bool:
    items = request["body"]["input"]  # type: ignore[index]
    last = items[-1] if items else {}
    return _compaction(request) and last.get("type") == "message" and "id" not in last
