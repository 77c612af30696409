"""Rollout test data and the comparison of rebuilt inputs with what the model received.

Cases (each a directory with ``sessions/**/rollout-*.jsonl`` and ``requests.jsonl[.zst]``):
- ``../shared/corpus-rollouts`` (Codex 0.171.0, 15 cases), beside the repository as in CI;
- ``sample_traces/rollouts`` (a few of those, so the project's tests stand alone);
- ``tests/data/rollouts/<version>.tar.zst``: our recordings of 0.164.0, 0.169.0 and 0.171.0
  (scripts/record_rollouts.sh + scripts/import_rollouts.py), unpacked once per session.
"""

from __future__ import annotations

import atexit
import io
import json
import shutil
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import zstandard
from corpora import REPO, needs, shared

from trace_viewer.rollout import ModelCall, read_rollout, rebuild_calls

SHARED_CORPUS = shared("corpus-rollouts")
SAMPLES = REPO / "sample_traces" / "rollouts"
ARCHIVES = REPO / "tests" / "data" / "rollouts"
OLD_VERSIONS = ("0.164.0", "0.169.0", "0.171.0")
NEEDS_CORPUS = needs("corpus-rollouts")


def case_dirs(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(path for path in root.iterdir() if (path / "sessions").is_dir())


@cache
def unpacked(version: str) -> Path:
    """The recordings of one Codex version, unpacked into a temporary directory (once per test
    process), removed when the process exits."""
    archive = ARCHIVES / f"{version}.tar.zst"
    target = Path(tempfile.mkdtemp(prefix=f"rollouts-{version}-"))
    atexit.register(shutil.rmtree, target, True)
    data = zstandard.ZstdDecompressor(max_window_size=1 << 27).decompressobj().decompress(archive.read_bytes())
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        if sys.version_info >= (3, 12):
            tar.extractall(target, filter="data")
        else:  # our own archive; 3.11 has no extraction filters
            tar.extractall(target)
    return target / version


def rollout_files(case: Path) -> list[Path]:
    return sorted((case / "sessions").rglob("rollout-*.jsonl"))


def load_requests(case: Path) -> list[dict[str, Any]]:
    plain = case / "requests.jsonl"
    if plain.is_file():
        data = plain.read_bytes()
    else:
        data = zstandard.ZstdDecompressor().decompressobj().decompress((case / "requests.jsonl.zst").read_bytes())
    return [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]


def requests_by_thread(case: Path) -> dict[str | None, list[dict[str, Any]]]:
    threads: dict[str | None, list[dict[str, Any]]] = {}
    for request in load_requests(case):
        threads.setdefault(request["headers"].get("thread-id"), []).append(request)
    return threads


def is_compaction_request(request: dict[str, Any]) -> bool:
    """A compaction request, by its input (every version): the remote trigger or the local prompt last."""
    items = request["body"]["input"]
    last = items[-1] if items else {}
    if last.get("type") == "compaction_trigger":
        return True
    content = last.get("content") if last.get("type") == "message" and "id" not in last else None
    text = content[0].get("text", "") if isinstance(content, list) and content else ""
    return isinstance(text, str) and text.startswith("You are performing a CONTEXT CHECKPOINT COMPACTION")


def comparable(items: list[Any], *, drop_first_id: bool) -> list[Any]:
    """The input with the two ids a rollout cannot hold removed: the base message's and synthesised outputs'."""
    out = []
    for index, item in enumerate(items):
        if isinstance(item, dict):
            item = dict(item)
            if index == 0 and drop_first_id:
                item.pop("id", None)
            if (
                item.get("type") in ("function_call_output", "custom_tool_call_output")
                and item.get("output") == "aborted"
            ):
                item.pop("id", None)
        out.append(item)
    return out


def first_item_difference(got: list[Any], want: list[Any]) -> str:
    for index, (a, b) in enumerate(zip(got, want, strict=False)):
        if a != b:
            return (
                f"item {index} differs:\n  got  {json.dumps(a, ensure_ascii=False)[:400]}\n"
                f"  want {json.dumps(b, ensure_ascii=False)[:400]}"
            )
    if len(got) != len(want):
        extra = got[len(want) :] or want[len(got) :]
        side = "got" if len(got) > len(want) else "want"
        return f"{len(got)} items, want {len(want)}; first extra ({side}): {json.dumps(extra[0])[:400]}"
    return "equal"


@dataclass
class ThreadMatch:
    """How the rebuilt calls of one rollout file line up with the requests of its thread."""

    name: str
    requests: int
    matched: int = 0
    # Requests that were HTTP-failed attempts retried with the same input (a rollout has no trace of them).
    retried: int = 0
    problems: list[str] = field(default_factory=list)
    calls: list[ModelCall] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and self.matched + self.retried == self.requests


def match_thread(name: str, calls: list[ModelCall], requests: list[dict[str, Any]]) -> ThreadMatch:
    """Calls and requests in order; a request is skipped only as a scripted failure retried with equal input."""
    result = ThreadMatch(name, len(requests), calls=calls)
    position = 0
    for call in calls:
        got = comparable(call.input, drop_first_id=False)
        while position < len(requests):
            request = requests[position]
            want = comparable(request["body"]["input"], drop_first_id=True)
            if got == want:
                following = requests[position + 1] if position + 1 < len(requests) else None
                failed = bool((request.get("mock_plan") or {}).get("fail"))
                if failed and following is not None and following["body"]["input"] == request["body"]["input"]:
                    result.retried += 1  # this attempt failed; the call is its retry
                    position += 1
                    continue
                result.matched += 1
                position += 1
                break
            result.problems.append(
                f"call {call.index} ({call.kind}, line {call.line}) vs request n={request['n']}: "
                + first_item_difference(got, want)
            )
            return result
        else:
            result.problems.append(f"call {call.index} ({call.kind}, line {call.line}) has no request left")
            return result
    if position < len(requests):
        result.problems.append(f"{len(requests) - position} requests have no call, first n={requests[position]['n']}")
    return result


def match_case(case: Path) -> Iterator[ThreadMatch]:
    by_thread = requests_by_thread(case)
    for file in rollout_files(case):
        rollout = read_rollout(file)
        assert rollout.fault is None, rollout.fault
        assert rollout.meta is not None
        calls = rebuild_calls(rollout.meta, rollout.lines)
        name = f"{case.name}/{rollout.meta.thread_id[-6:]}"
        yield match_thread(name, calls, by_thread.get(rollout.meta.thread_id, []))
