"""Conformance with Codex's own reducer, on every recorded case we have.

Cases come from ``../shared/corpus`` (schema 2, Codex 0.169.0), ``../shared/corpus-schema1``
(schema 1, Codex 0.164.0), ``../shared/corpus-schema3`` (schema 3, Codex 0.171.0, zstd shards) —
beside the repository when present, as in CI — and the project's own ``sample_traces/``. A case
holds either ``expected_state.json`` (the official output: ours must be equal as parsed JSON) or
``expected_error.txt`` (the official refusal: ours must refuse cleanly in strict mode and still
give the prefix with ``--partial``).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import pytest
from corpora import SHARED, cases_or_skip

from trace_viewer import cli
from trace_viewer.context import inference_context, items_for
from trace_viewer.model import to_builtins
from trace_viewer.reducer import Reducer
from trace_viewer.reducer.replay import reduce_bundle

if TYPE_CHECKING:
    from conftest import CutBundle

REPO = Path(__file__).resolve().parents[1]
SHARED_CORPORA = ("corpus", "corpus-schema1", "corpus-schema3")
ROOTS = [*(SHARED / name for name in SHARED_CORPORA), REPO / "sample_traces"]


def _cases() -> list[Path]:
    cases: list[Path] = []
    for root in ROOTS:
        if root.is_dir():
            cases.extend(sorted(path for path in root.iterdir() if (path / "manifest.json").is_file()))
    return cases


CASES = _cases()
STATE_CASES = [case for case in CASES if (case / "expected_state.json").is_file()]
ERROR_CASES = [case for case in CASES if (case / "expected_error.txt").is_file()]


def case_id(case: Path) -> str:
    return f"{case.parent.name}/{case.name}"


def first_difference(got: Any, want: Any, path: str = "$") -> str | None:
    """The first JSON path where two parsed documents differ, with both values abbreviated."""
    if type(got) is not type(want):
        return f"{path}: got {str(got)[:200]!r}, want {str(want)[:200]!r}"
    if isinstance(got, dict):
        for key in sorted(set(got) | set(want)):
            if key not in got:
                return f"{path}.{key}: missing (want {str(want[key])[:200]!r})"
            if key not in want:
                return f"{path}.{key}: unexpected {str(got[key])[:200]!r}"
            difference = first_difference(got[key], want[key], f"{path}.{key}")
            if difference:
                return difference
        return None
    if isinstance(got, list):
        for index, (left, right) in enumerate(zip(got, want, strict=False)):
            difference = first_difference(left, right, f"{path}[{index}]")
            if difference:
                return difference
        if len(got) != len(want):
            return f"{path}: {len(got)} entries, want {len(want)}"
        return None
    return None if got == want else f"{path}: got {str(got)[:200]!r}, want {str(want)[:200]!r}"


@cache
def expected_state(case: Path) -> Any:
    return json.loads((case / "expected_state.json").read_text(encoding="utf-8"))


@lru_cache(maxsize=4)
def reduced_with_reducer(case: Path) -> tuple[Any, Any, Reducer]:
    """(state as the CLI writes it, re-parsed; fault; the reducer) for one case, reduced once."""
    reducer = reduce_bundle(case)
    return json.loads(cli.dump_reducer_state(reducer)), reducer.fault, reducer


def reduced(case: Path) -> tuple[Any, Any]:
    state, fault, _ = reduced_with_reducer(case)
    return state, fault


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("TRACE_VIEWER_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "trace_viewer", *args], check=False, capture_output=True, text=True, env=env, timeout=300
    )


def test_cases_are_present() -> None:
    samples = [case for case in CASES if case.parent.name == "sample_traces"]
    assert len(samples) >= 17
    assert len([case for case in samples if case.name.startswith("schema3_")]) >= 6
    if os.environ.get("CI"):
        for corpus in ("corpus", "corpus-schema1", "corpus-schema3"):
            if not (SHARED / corpus).is_dir():
                pytest.fail(f"CI must have ../shared/{corpus} beside the repository")


# ----- reduced cases -----------------------------------------------------------------------------


@pytest.mark.parametrize("case", cases_or_skip(STATE_CASES, *SHARED_CORPORA, ids=case_id))
def test_reduced_state_equals_official(case: Path) -> None:
    state, fault = reduced(case)
    assert fault is None, f"unexpected fault: {fault}"
    difference = first_difference(state, expected_state(case))
    assert difference is None, f"first difference at {difference}"


@pytest.mark.parametrize("case", cases_or_skip(CASES, *SHARED_CORPORA, ids=case_id))
def test_the_state_written_in_pieces_is_the_whole_state_formatted(case: Path) -> None:
    """`reduce` writes the state one map entry at a time; byte for byte, that is the compact state
    indented by 2 as a whole (refused cases too: their partial state)."""
    _, _, reducer = reduced_with_reducer(case)
    assert cli.dump_reducer_state(reducer) == msgspec.json.format(reducer.state_json(), indent=2)


@pytest.mark.parametrize("case", cases_or_skip(STATE_CASES, *SHARED_CORPORA, ids=case_id))
def test_context_of_every_inference_is_its_request(case: Path) -> None:
    """``context --inference`` = the official ``request_item_ids``, for every call (in-process, one reduce)."""
    want = expected_state(case)
    state, _, reducer = reduced_with_reducer(case)
    assert want["inference_calls"] or not state["inference_calls"]
    for call_id, call in want["inference_calls"].items():
        thread_id, item_ids = inference_context(reducer.rollout, call_id)
        assert thread_id == call["thread_id"]
        assert item_ids == call["request_item_ids"], call_id
        items = [to_builtins(item) for item in items_for(reducer.rollout, item_ids)]
        assert items == [want["conversation_items"][item_id] for item_id in item_ids], call_id

    # And once through the command itself (json format), for the last call of the case.
    if want["inference_calls"]:
        call_id = max(want["inference_calls"])
        out = io.StringIO()
        with redirect_stdout(out), redirect_stderr(io.StringIO()):
            code = cli.main(["context", str(case), "--inference", call_id, "--format", "json"])
        assert code == 0
        got = [item["item_id"] for item in json.loads(out.getvalue())["items"]]
        assert got == want["inference_calls"][call_id]["request_item_ids"]


# ----- refused cases -----------------------------------------------------------------------------


def official_location(case: Path) -> tuple[int | None, str | None, str | None]:
    """The line number, payload id and shard the official refusal names."""
    text = (case / "expected_error.txt").read_text()
    line = re.search(r"parse trace event line (\d+)", text)
    payload = re.search(r"payload (raw_payload:\d+)", text)
    shard = re.search(r"in shard (\d+)|payloads/(\d{6})\.zst", text)
    shard_name = None
    if shard:
        shard_name = f"{int(shard.group(1) or shard.group(2)):06d}.zst"
    return (int(line.group(1)) if line else None), (payload.group(1) if payload else None), shard_name


@pytest.mark.parametrize("case", cases_or_skip(ERROR_CASES, *SHARED_CORPORA, ids=case_id))
def test_refused_case_is_refused_cleanly_in_strict_mode(case: Path) -> None:
    result = run_cli("reduce", str(case))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    line, payload, shard = official_location(case)
    if line is not None:
        assert f"line {line}" in lines[0], lines[0]
    if payload is not None:
        assert payload in lines[0], lines[0]
    if shard is not None:
        assert shard in lines[0] or f"shard {int(shard[:6])}" in lines[0], lines[0]


@pytest.mark.parametrize("case", cases_or_skip(ERROR_CASES, *SHARED_CORPORA, ids=case_id))
def test_refused_case_reduces_with_partial_to_the_prefix(case: Path, cut_bundle: CutBundle) -> None:
    result = run_cli("reduce", str(case), "--partial")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
    partial = json.loads(result.stdout)
    state, fault = reduced(case)
    assert fault is not None and fault.line is not None
    if fault.after_log:
        # The end-of-log payload check failed: every line was applied, so the state is complete.
        assert partial == state
        return
    assert partial["threads"] or fault.line <= 2, "the prefix before the fault is kept"

    # The prefix is exactly the state of the same bundle cut just before the faulty line.
    copy, _ = cut_bundle(case, fault.line - 1)
    prefix = reduce_bundle(copy)
    assert prefix.fault is None, prefix.fault
    difference = first_difference(partial, json.loads(cli.dump_state(prefix.to_json())))
    assert difference is None, f"first difference at {difference}"


# ----- the official binary, live -----------------------------------------------------------------

SAMPLE_CASES = [case for case in CASES if case.parent.name == "sample_traces"]


@pytest.mark.skipif(shutil.which("codex") is None, reason="the official reducer (`codex` on PATH) is not installed")
@pytest.mark.parametrize("case", SAMPLE_CASES, ids=case_id)
def test_sample_matches_the_official_reducer_live(case: Path, tmp_path: Path) -> None:
    manifest = json.loads((case / "manifest.json").read_text())
    version = subprocess.run(["codex", "--version"], check=False, capture_output=True, text=True).stdout
    if manifest["schema_version"] == 1 and "0.164." not in version:
        pytest.skip(f"schema 1 needs Codex 0.164.0; installed: {version.strip()}")
    if manifest["schema_version"] == 2 and ("0.164." in version or "0.171." in version):
        pytest.skip(f"schema 2 needs Codex 0.165.0 to 0.170; installed: {version.strip()}")
    if manifest["schema_version"] == 3 and "0.171." not in version:
        pytest.skip(f"schema 3 needs Codex 0.171.0; installed: {version.strip()}")
    bundle = tmp_path / "bundle"
    shutil.copytree(case, bundle, ignore=shutil.ignore_patterns("expected_*"))
    out = tmp_path / "official.json"
    home = tmp_path / "codex-home"
    home.mkdir()
    env = {**os.environ, "CODEX_HOME": str(home), "RUST_BACKTRACE": "0"}
    official = subprocess.run(
        ["codex", "debug", "trace-reduce", str(bundle), "-o", str(out)],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    ours = reduce_bundle(bundle)
    if official.returncode != 0:
        assert ours.fault is not None, f"official refused ({official.stderr.strip()}), we did not"
        line = re.search(r"parse trace event line (\d+)", official.stderr)
        if line:
            assert ours.fault.line == int(line.group(1))
        return
    assert ours.fault is None, f"official reduced it, we faulted: {ours.fault}"
    difference = first_difference(json.loads(cli.dump_state(ours.to_json())), json.loads(out.read_text()))
    assert difference is None, f"first difference at {difference}"


@pytest.mark.skipif(shutil.which("codex") is None, reason="the official reducer (`codex` on PATH) is not installed")
def test_missing_payload_faults_match_the_official_reducer_live(tmp_path: Path) -> None:
    """Delete each payload of a small bundle in turn: same payload blamed, same verb (read during replay or after)."""
    version = subprocess.run(["codex", "--version"], check=False, capture_output=True, text=True).stdout
    if "0.164." in version or "0.171." in version:
        pytest.skip(f"the sample is schema 2, which needs Codex 0.165.0 to 0.170; installed: {version.strip()}")
    source = REPO / "sample_traces" / "exec_basic"
    home = tmp_path / "codex-home"
    home.mkdir()
    env = {**os.environ, "CODEX_HOME": str(home), "RUST_BACKTRACE": "0"}
    payload_files = sorted((source / "payloads").iterdir(), key=lambda path: int(path.stem))
    assert payload_files
    for payload in payload_files:
        bundle = tmp_path / f"without-{payload.stem}"
        shutil.copytree(source, bundle, ignore=shutil.ignore_patterns("expected_*"))
        (bundle / "payloads" / payload.name).unlink()
        official = subprocess.run(
            ["codex", "debug", "trace-reduce", str(bundle), "-o", str(tmp_path / "out.json")],
            check=False,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        blamed = re.search(r"Error: (\w+ payload raw_payload:\d+)", official.stderr)
        assert official.returncode == 1 and blamed, official.stderr
        fault = reduce_bundle(bundle).fault
        assert fault is not None and fault.message.startswith(blamed.group(1)), (payload.name, str(fault))
