"""Token counts: exact against an independent o200k tokenization, categories, framing, the window, the CLI."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bundle_builder import BundleBuilder, message
from state_view import json_state

from trace_viewer import cli
from trace_viewer.errors import PayloadError
from trace_viewer.session import ReplaySession
from trace_viewer.tokens import CATEGORIES, FRAMING_TOKENS, TokenCounter, count_tokens, rules
from trace_viewer.tokens import view as token_view
from trace_viewer.tokens.encoding import O200K_SHA256, encode, vocabulary_file
from trace_viewer.tokens.inputs import InputCounter
from trace_viewer.tokens.report import session_counter

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "sample_traces"
SAMPLE_BUNDLES = sorted(p.parent for p in SAMPLES.glob("*/manifest.json"))
JSON_KEYS = ["encoding", "context_window", "total", "free", "reported_input_tokens", "categories", "items"]


# ----- the independent tokenizer ----------------------------------------------------------------


@pytest.fixture(scope="module")
def reference() -> Any:
    """tiktoken (the reference implementation) reading the official o200k file shipped with bpe-openai.

    tiktoken would download the vocabulary; here its own o200k_base definition (pattern, special
    tokens) is built from the local file instead, so the test never touches the network.
    """
    tiktoken = pytest.importorskip("tiktoken", reason="needs tiktoken (the [test] extra) as independent tokenizer")
    public = pytest.importorskip("tiktoken_ext.openai_public", reason="needs tiktoken's o200k_base definition")
    path = vocabulary_file()
    if path is None:
        pytest.skip("bpe-openai ships no o200k_base.tiktoken.gz to check against")
    data = gzip.decompress(Path(path).read_bytes())
    assert hashlib.sha256(data).hexdigest() == O200K_SHA256, "the shipped vocabulary is not the official file"
    ranks = {base64.b64decode(token): int(rank) for token, rank in (line.split() for line in data.splitlines() if line)}
    original = public.load_tiktoken_bpe
    public.load_tiktoken_bpe = lambda *_args, **_kwargs: ranks
    try:
        spec = public.o200k_base()
    finally:
        public.load_tiktoken_bpe = original
    return tiktoken.Encoding(**spec)


def _ref_count(reference: Any, text: str) -> int:
    return len(reference.encode_ordinary(text))


def _trace_texts() -> Iterator[str]:
    """Every text the sample traces send to the model: message parts, arguments, outputs, tool definitions."""
    for bundle in SAMPLE_BUNDLES:
        for path in sorted((bundle / "payloads").glob("*.json")):
            try:
                body = json.loads(path.read_text(encoding="utf-8"))
            except ValueError:
                continue
            if not isinstance(body, dict):
                continue
            for item in [*(body.get("input") or []), *(body.get("output_items") or [])]:
                yield from _raw_texts(item) if isinstance(item, dict) else ()
            for tool in body.get("tools") or []:
                yield json.dumps(tool, ensure_ascii=False, separators=(",", ":"))


def _raw_texts(item: dict[str, Any]) -> list[str]:
    """The texts of a raw Responses item, extracted independently of trace_viewer.tokens.rules."""
    kind = item.get("type")
    if kind in ("message", "agent_message"):
        return [c["text"] for c in item.get("content") or [] if isinstance(c, dict) and isinstance(c.get("text"), str)]
    if kind in ("function_call", "custom_tool_call"):
        name = item["name"] if not item.get("namespace") else f"{item['namespace']}.{item['name']}"
        return [name, item["arguments"] if kind == "function_call" else item["input"]]
    if kind in ("function_call_output", "custom_tool_call_output"):
        output = item.get("output")
        return (
            [output] if isinstance(output, str) else [c["text"] for c in output if isinstance(c, dict) and "text" in c]
        )
    return []


TRICKY = [
    "héllo wörld — naïve café",
    "日本語のテキストと中文混合 한국어",
    "emoji 🎉🚀👩‍💻 mix",
    "   \n\n\t  spaces  \r\n",
    "1234567890 3.14159 -0.0 1e+3",
    "<|endoftext|> is ordinary text here <|endofprompt|>",
    "don't I'LL we've THEY'RE",
    "\u202edir\u202c zero\u200bwidth \x1b[31m",
    "a" * 5000,
    " " * 3000,
    "ab" * 4000,
]


def test_counts_match_an_independent_tokenization(reference: Any) -> None:
    texts = list(dict.fromkeys([*_trace_texts(), *TRICKY]))
    assert len(texts) > 50
    mismatched = [text[:60] for text in texts if count_tokens(text) != _ref_count(reference, text)]
    assert mismatched == []
    assert all(encode(text) == reference.encode_ordinary(text) for text in TRICKY)
    assert count_tokens("") == 0


def test_lone_surrogates_count_as_replacement_characters(reference: Any) -> None:
    assert count_tokens("bad \ud800 here") == _ref_count(reference, "bad \ufffd here")


def test_counting_never_touches_the_network() -> None:
    """A fresh interpreter whose sockets all fail still loads the tokenizer and counts."""
    code = (
        "import socket\n"
        "def refuse(*a, **k):\n"
        "    raise OSError('network used')\n"
        "socket.socket = refuse\n"
        "socket.create_connection = refuse\n"
        "socket.getaddrinfo = refuse\n"
        "from trace_viewer.tokens import count_tokens\n"
        "print(count_tokens('hello world, offline'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO, check=False
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) == 4


# ----- items, categories, framing ---------------------------------------------------------------


def _session(bundle: Path) -> tuple[ReplaySession, TokenCounter]:
    session = ReplaySession(bundle)
    session.load_all()
    return session, session_counter(session)


def _request(bundle: Path, session: ReplaySession, call_id: str) -> dict[str, Any]:
    call = json_state(session)["inference_calls"][call_id]
    ref = json_state(session)["raw_payloads"][call["raw_request_payload_id"]]
    return json.loads((bundle / ref["path"]).read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", ["exec_basic", "tools_mcp", "schema1_exec_basic", "agents_minimal"])
def test_item_counts_are_text_plus_framing_of_what_was_sent(reference: Any, name: str) -> None:
    bundle = SAMPLES / name
    session, counter = _session(bundle)
    checked = 0
    for call_id in json_state(session)["inference_calls"]:
        request = _request(bundle, session, call_id)
        composition = counter.call(call_id)
        inputs = [x for x in request["input"] if x.get("type") != "additional_tools"]
        for raw, item in zip(inputs, composition.items, strict=True):
            texts = _raw_texts(raw)
            if raw.get("type") == "reasoning" or any(
                isinstance(c, dict) and "encrypted_content" in c for c in raw.get("content") or []
            ):
                continue
            assert item.tokens == FRAMING_TOKENS + sum(_ref_count(reference, t) for t in texts), item
            assert item.tokens >= _ref_count(reference, "".join(texts)), "never less than the text alone"
            checked += 1
        definitions = {p.name: p.tokens for p in composition.request_parts}
        for tool in request.get("tools") or []:
            text = json.dumps(tool, ensure_ascii=False, separators=(",", ":"))
            assert definitions[tool.get("name") or tool["type"]] == _ref_count(reference, text)
    assert checked > 3


def _check_rules(composition: Any, call: dict[str, Any] | None, window: int | None) -> None:
    data = composition.to_json()
    assert list(data) == JSON_KEYS
    assert data["encoding"] == "o200k_base"
    assert list(data["categories"]) == list(CATEGORIES)
    assert sum(data["categories"].values()) == data["total"]
    assert sum(i["tokens"] for i in data["items"]) + sum(p.tokens for p in composition.request_parts) == data["total"]
    assert data["context_window"] == window
    assert data["free"] == (None if window is None else window - data["total"])
    for entry in data["items"]:
        assert list(entry) == ["item_id", "category", "tokens"]
        assert entry["category"] in CATEGORIES and entry["tokens"] >= 0
    if call is not None:
        assert [i["item_id"] for i in data["items"]] == call["request_item_ids"]
        usage = call.get("usage") or {}
        assert data["reported_input_tokens"] == usage.get("input_tokens")


def _windows_from_log(bundle: Path, session: ReplaySession) -> dict[str, int]:
    """turn id -> model_context_window, read straight from the trace's turn_started protocol events."""
    windows: dict[str, int] = {}
    for line in (bundle / "trace.jsonl").read_text(encoding="utf-8").splitlines():
        try:
            payload = json.loads(line)["payload"]
        except (ValueError, KeyError, TypeError):
            continue
        if payload.get("type") == "protocol_event_observed" and payload.get("event_type") == "turn_started":
            try:
                body = session.payloads.read(payload["event_payload"])
            except PayloadError:  # a broken trace: its window is unknown
                continue
            windows[body["turn_id"]] = body["model_context_window"]
    return windows


@pytest.mark.parametrize("bundle", SAMPLE_BUNDLES, ids=lambda p: p.name)
def test_every_call_of_the_samples_meets_the_rules(bundle: Path) -> None:
    session, counter = _session(bundle)
    windows = _windows_from_log(bundle, session)
    for call_id, call in json_state(session)["inference_calls"].items():
        _check_rules(counter.call(call_id), call, windows.get(call["codex_turn_id"]))


def test_the_context_window_is_read_from_the_trace(tmp_path: Path) -> None:
    bundle = tmp_path / "exec_basic"
    shutil.copytree(SAMPLES / "exec_basic", bundle)
    session, counter = _session(bundle)
    first = next(iter(json_state(session)["inference_calls"]))
    assert counter.call(first).context_window == 258400
    # The same trace, with another window in its turn_started event.
    for path in (bundle / "payloads").glob("*.json"):
        body = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(body, dict) and "model_context_window" in body:
            body["model_context_window"] = 123_456
            path.write_text(json.dumps(body), encoding="utf-8")
    session, counter = _session(bundle)
    composition = counter.call(first)
    assert composition.context_window == 123_456
    assert composition.free == 123_456 - composition.total
    assert composition.percent == pytest.approx(100 * composition.total / 123_456)


def test_categories_of_a_real_trace() -> None:
    session, counter = _session(SAMPLES / "tools_mcp")
    last = max(json_state(session)["inference_calls"].values(), key=lambda c: c["execution"]["started_seq"])
    composition = counter.call(last["inference_call_id"])
    cats = composition.categories
    for name in ("base_instructions", "developer_instructions", "builtin_tools", "mcp_tools", "skills"):
        assert cats[name] > 0, name
    for name in ("user_messages", "tool_calls", "tool_outputs"):
        assert cats[name] > 0, name
    assert {p.name for p in composition.request_parts if p.category == rules.MCP_TOOLS} == {"mcp__calc"}
    assert set(composition.tool_outputs_by_tool()) == {"mcp__calc.add", "mcp__calc.echo", "mcp__calc.fail"}
    first = composition.items[0]
    assert first.category == rules.BASE_INSTRUCTIONS and first.item_id == last["request_item_ids"][0]
    # The skills list and the permissions travel in one developer message: split, skills being most of it.
    mixed = composition.items[1]
    assert mixed.category == rules.SKILLS
    assert dict(mixed.split).keys() == {rules.SKILLS, rules.DEVELOPER_INSTRUCTIONS}


def test_compaction_summaries() -> None:
    session, counter = _session(SAMPLES / "compaction_local_manual")
    last = max(
        json_state(session)["inference_calls"],
        key=lambda c: json_state(session)["inference_calls"][c]["execution"]["started_seq"],
    )
    local = counter.call(last)
    assert local.categories[rules.COMPACTION_SUMMARIES] > FRAMING_TOKENS  # the summary text is a user message
    session, counter = _session(SAMPLES / "compaction_remote_midturn")
    remote = [counter.call(call_id) for call_id in json_state(session)["inference_calls"]]
    summaries = [i for c in remote for i in c.items if i.category == rules.COMPACTION_SUMMARIES]
    assert summaries, "the remote summary is in the later requests"
    # An encrypted summary cannot be tokenized: flagged, and only its framing is counted.
    assert all(i.unknown and i.tokens == FRAMING_TOKENS for i in summaries)


def _reasoning_bundle(tmp_path: Path, reasoning_tokens: int | None) -> Path:
    bundle = BundleBuilder(tmp_path)
    bundle.thread()
    bundle.turn("turn-1")
    reasoning = {
        "type": "reasoning",
        "id": "rs_1",
        "summary": [{"type": "summary_text", "text": "Think."}],
        "encrypted_content": "ENCRYPTED-BLOB",
    }
    answer = {
        "type": "message",
        "role": "assistant",
        "id": "msg_a",
        "content": [{"type": "output_text", "text": "Done."}],
    }
    usage = None
    if reasoning_tokens is not None:
        usage = {
            "input_tokens": 50,
            "cached_input_tokens": 0,
            "output_tokens": 20,
            "reasoning_output_tokens": reasoning_tokens,
        }
    bundle.inference("call-1", "turn-1", [message("user", "Hello there")], [reasoning, answer], token_usage=usage)
    bundle.inference("call-2", "turn-1", [message("user", "Hello there"), reasoning, answer, message("user", "Again")])
    bundle.reduce()
    return tmp_path


def test_encrypted_reasoning_is_an_estimate_from_reported_reasoning_tokens(tmp_path: Path) -> None:
    _, counter = _session(_reasoning_bundle(tmp_path / "known", 321))
    composition = counter.call("call-2")
    reasoning = next(i for i in composition.items if i.category == rules.REASONING)
    assert reasoning.estimated and not reasoning.exact
    assert reasoning.tokens == 321 + FRAMING_TOKENS
    assert composition.estimated_tokens == 321
    assert composition.context_window is None and composition.free is None  # this trace records no window
    _, counter = _session(_reasoning_bundle(tmp_path / "unknown", None))
    reasoning = next(i for i in counter.call("call-2").items if i.category == rules.REASONING)
    assert reasoning.unknown and not reasoning.estimated and reasoning.tokens == FRAMING_TOKENS


def test_items_are_counted_once_per_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    from trace_viewer.tokens import counter as counter_module

    calls: list[str] = []
    real = counter_module.count_tokens
    monkeypatch.setattr(counter_module, "count_tokens", lambda text: calls.append(text) or real(text))
    session, counter = _session(SAMPLES / "exec_basic")
    counter.warm()
    first = len(calls)
    assert first > 0
    counter.warm()
    for call_id in json_state(session)["inference_calls"]:
        counter.call(call_id)
        counter.items(json_state(session)["inference_calls"][call_id]["request_item_ids"])
    assert len(calls) == first
    sent = {i for c in json_state(session)["inference_calls"].values() for i in c["request_item_ids"]}
    assert counter.cache_info()["items"] == len(sent)


# ----- live context, view-model -----------------------------------------------------------------


def test_live_context_lists_the_context_commands_items(capsys: pytest.CaptureFixture[str]) -> None:
    bundle = SAMPLES / "tools_terminal"
    session, counter = _session(bundle)
    root = json_state(session)["root_thread_id"]
    for seq in range(0, session.total + 1, 7):
        assert cli.main(["context", str(bundle), "--seq", str(seq), "--format", "json"]) == 0
        expected = [item["item_id"] for item in json.loads(capsys.readouterr().out)["items"]]
        composition = counter.context(root, session.context_at(root, seq), seq)
        assert [i.item_id for i in composition.items] == expected
        _check_rules(composition, None, composition.context_window)


def test_usage_view_for_the_app() -> None:
    session, counter = _session(SAMPLES / "compaction_remote_midturn")
    root = json_state(session)["root_thread_id"]
    usage = token_view.usage_at(counter, session, root, session.total)
    comp = usage.composition
    assert sum(s.tokens for s in usage.segments) == comp.context_window
    assert usage.segments[-1].category == token_view.FREE and usage.segments[-1].tokens == comp.free
    assert sum(s.fraction for s in usage.segments) == pytest.approx(1.0)
    assert sum(row.tokens for row in usage.legend) == comp.total
    assert set(usage.item_tokens) == set(session.context_at(root, session.total))
    points = usage.series.points
    calls = [c for c in json_state(session)["inference_calls"].values() if c["thread_id"] == root]
    assert [p.call_id for p in points] == [
        c["inference_call_id"] for c in sorted(calls, key=lambda c: c["execution"]["started_seq"])
    ]
    assert usage.series.current == len(points) - 1
    drops = usage.series.compaction_indexes
    assert drops, "a remote compaction shows as a drop"
    assert all(points[i].total == counter.call(points[i].call_id).total for i in range(len(points)))
    total = usage.trace_total
    assert total.calls == total.counted_calls == len(json_state(session)["inference_calls"])
    assert total.input_tokens == sum(counter.call(c).total for c in json_state(session)["inference_calls"])
    assert "free" in usage.headline
    # Earlier positions see only the calls started by then.
    early = token_view.usage_at(counter, session, root, points[0].seq)
    assert len(early.series.points) == 1 and early.series.current == 0
    # The diff's token delta across the compaction.
    before, after = counter.call(points[drops[0] - 1].call_id), counter.call(points[drops[0]].call_id)
    delta = token_view.token_delta(before, after)
    assert delta.total == after.total - before.total
    assert sum(delta.categories.values()) == delta.total
    assert delta.dropped and delta.added


def test_usage_view_without_counting_shows_only_what_is_counted() -> None:
    session, counter = _session(SAMPLES / "exec_basic")
    root = json_state(session)["root_thread_id"]
    calls = sorted(
        json_state(session)["inference_calls"],
        key=lambda c: json_state(session)["inference_calls"][c]["execution"]["started_seq"],
    )
    usage = token_view.usage_for_call(counter, calls[0], count_all=False)
    assert [p.total is not None for p in usage.series.points] == [True, False, False]
    assert usage.trace_total.counted_calls == 1
    counter.warm()
    usage = token_view.usage_at(counter, session, root, session.total, count_all=False)
    assert all(p.total is not None for p in usage.series.points)


# ----- CLI --------------------------------------------------------------------------------------


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_json_for_a_call(capsys: pytest.CaptureFixture[str]) -> None:
    bundle = SAMPLES / "tools_mcp"
    session, counter = _session(bundle)
    for call_id, call in json_state(session)["inference_calls"].items():
        code, out, err = _cli(capsys, "tokens", str(bundle), "--inference", call_id, "--format", "json")
        assert code == 0 and err == ""
        data = json.loads(out)
        assert data == counter.call(call_id).to_json()
        _check_rules(counter.call(call_id), call, 258400)


def test_cli_takes_a_call_by_a_unique_prefix_and_lists_candidates_otherwise(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bundle = SAMPLES / "tools_mcp"
    call_ids = list(json_state(_session(bundle)[0])["inference_calls"])
    _, whole, _ = _cli(capsys, "tokens", str(bundle), "--inference", call_ids[1], "--format", "json")
    code, by_prefix, err = _cli(capsys, "tokens", str(bundle), "--inference", call_ids[1][:8], "--format", "json")
    assert code == 0 and err == "" and json.loads(by_prefix) == json.loads(whole)
    code, text, _ = _cli(capsys, "tokens", str(bundle), "--inference", call_ids[1][:8])
    assert code == 0 and f"inference call {call_ids[1]} on" in text  # the title names the whole id
    for value, said in (("nope", "no inference call 'nope'"), ("", "is ambiguous")):
        code, out, err = _cli(capsys, "tokens", str(bundle), "--inference", value)
        assert code == 1 and out == "" and len(err.splitlines()) == 1 and said in err
        assert all(call_id in err for call_id in call_ids)  # the candidates


def test_cli_text(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "tokens", str(SAMPLES / "tools_mcp"), "--seq", "1000")
    assert code == 0
    assert "of 258,400" in out and "tool definitions: MCP" in out and "mcp__calc.add" in out
    assert f"{FRAMING_TOKENS} framing tokens" in out


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["tokens", str(SAMPLES / "exec_basic")], 2),
        (["tokens", str(SAMPLES / "exec_basic"), "--seq", "-1"], 2),
        (["tokens", str(SAMPLES / "exec_basic"), "--inference", "nope"], 1),
        (["tokens", str(SAMPLES / "exec_basic"), "--seq", "5", "--thread", "/root/nobody"], 1),
        (["tokens", str(SAMPLES / "no_such_bundle"), "--seq", "5"], 1),
    ],
)
def test_cli_errors_are_one_line(capsys: pytest.CaptureFixture[str], args: list[str], code: int) -> None:
    result, out, err = _cli(capsys, *args)
    assert result == code
    assert out == "" and len(err.splitlines()) == 1 and err.startswith("trace-viewer: ")


def test_cli_on_a_broken_trace_counts_up_to_the_fault(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(capsys, "tokens", str(SAMPLES / "broken_last_line_cut"), "--seq", "1000", "--format", "json")
    assert code == 0
    assert "fault" in err
    assert json.loads(out)["total"] > 0


def test_cli_escapes_trace_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = BundleBuilder(tmp_path)
    bundle.thread()
    bundle.turn("turn-1")
    hostile = "evil\x1b]0;pwned\x07\u202ename"
    call = {"type": "function_call", "id": "fc_1", "name": hostile, "arguments": "{}", "call_id": "c1"}
    output = {"type": "function_call_output", "call_id": "c1", "output": "ok"}
    bundle.inference(
        "call-1",
        "turn-1",
        {"input": [message("user", "hi"), call, output], "tools": [{"type": "function", "name": hostile}]},
    )
    bundle.reduce()
    code, out, _ = _cli(capsys, "tokens", str(tmp_path), "--inference", "call-1")
    assert code == 0
    assert "\x1b" not in out and "\u202e" not in out and "\x07" not in out
    assert "\\x1b" in out
    code, out, _ = _cli(capsys, "tokens", str(tmp_path), "--inference", "call-1", "--format", "json")
    assert "\u202e" not in out and json.loads(out)["total"] > 0


def test_cli_does_not_import_the_app() -> None:
    code = (
        "import sys, io, contextlib\n"
        "from trace_viewer.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert main(['tokens', {str(SAMPLES / 'exec_basic')!r}, '--seq', '10']) == 0\n"
        "assert 'textual' not in sys.modules and 'rich' not in sys.modules\n"
        "assert 'bpe_openai' not in sys.modules, 'the slow wrapper package was imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr


def test_request_parts_of_a_request_without_tools(tmp_path: Path) -> None:
    bundle = BundleBuilder(tmp_path)
    bundle.thread()
    bundle.turn("turn-1")
    bundle.inference("call-1", "turn-1", {"instructions": "Be brief.", "input": [message("user", "hi")]})
    bundle.reduce()
    _, counter = _session(tmp_path)
    composition = counter.call("call-1")
    assert [(p.category, p.tokens) for p in composition.request_parts] == [
        (rules.BASE_INSTRUCTIONS, count_tokens("Be brief."))
    ]
    assert composition.categories[rules.USER_MESSAGES] == count_tokens("hi") + FRAMING_TOKENS
    assert composition.categories[rules.BUILTIN_TOOLS] == 0


def test_session_tokens_follow_a_growing_session(tmp_path: Path) -> None:
    """The app's wrapper picks up events as the session loads them (the window arrives with a later event)."""
    bundle = tmp_path / "exec_basic"
    shutil.copytree(SAMPLES / "exec_basic", bundle)
    session = ReplaySession(bundle)
    session.load(max_events=3)
    tokens = token_view.SessionTokens(session)
    root = json_state(session)["root_thread_id"]
    early = tokens.usage_at(root, session.total)
    assert early.composition.total == 0 and early.series.points == ()
    session.load_all()
    late = tokens.usage_at(root, session.total)
    assert late.composition.context_window == 258400
    assert late.composition.total > 0 and len(late.series.points) == len(json_state(session)["inference_calls"])
    first = late.series.points[0].call_id
    assert tokens.delta(first, late.composition).total == late.composition.total - tokens.call(first).total
    assert tokens.item(session.context_at(root, session.total)[0]).category == rules.BASE_INSTRUCTIONS


def test_schema3_prepared_prompt_records_the_same_tools() -> None:
    """Schema 3: the prepared prompt (fragments around model items) holds the tools the wire request sent."""
    bundle = SAMPLES / "schema3_exec_basic"
    session, counter = _session(bundle)
    checked = 0
    for call_id in session.rollout.inference_calls:
        facts = counter.source.call(call_id)
        assert facts is not None and facts.prepared_prompt_ref is not None
        prepared = counter._prepared_prompt(facts)
        request = counter.source.read_payload(facts.request_ref)
        assert prepared is not None and prepared["tools"] == request["tools"]
        assert prepared["base_instructions"]["text"]
        composition = counter.call(call_id)
        assert composition.items[0].category == rules.BASE_INSTRUCTIONS
        assert composition.categories[rules.BUILTIN_TOOLS] > 0
        checked += 1
    assert checked


# ----- raw inputs (session rollouts) ------------------------------------------------------------


@pytest.mark.parametrize("name", ["exec_basic", "tools_mcp", "agents_minimal", "compaction_remote_midturn"])
def test_raw_input_counts_equal_the_trace_counts(name: str) -> None:
    """Counting a request's raw input and tools (no reduced state) gives the trace's own counts."""
    bundle = SAMPLES / name
    session, counter = _session(bundle)
    inputs = InputCounter()
    for call_id in session.rollout.inference_calls:
        request = _request(bundle, session, call_id)
        raw = inputs.count(
            [x for x in request["input"] if x.get("type") != "additional_tools"], tools=request.get("tools")
        )
        traced = counter.call(call_id)
        assert [i.category for i in raw.items] == [i.category for i in traced.items]
        for mine, theirs in zip(raw.items, traced.items, strict=True):
            if theirs.category != rules.REASONING:  # a rollout knows no producing call: reasoning stays unknown
                assert mine.tokens == theirs.tokens
        assert raw.request_parts == traced.request_parts


def test_rollout_calls_count_like_the_bundle_of_the_same_run() -> None:
    from trace_viewer import calls

    runs = sorted(p for p in (SAMPLES / "rollouts").glob("*") if (p / "bundle" / "manifest.json").is_file())
    if not runs:
        pytest.skip("needs sample_traces/rollouts with a bundle of the same run")
    inputs = InputCounter()
    compared = 0
    for run in runs:
        root_files = sorted(run.glob("sessions/**/rollout-*.jsonl"))
        bundle = calls.calls_for(run / "bundle")
        if bundle.fault is not None or not root_files:
            continue
        rollout = [call for path in root_files for call in calls.calls_for(path).calls]
        by_response = {call.response_id: call for call in bundle.calls if call.response_id}
        for call in rollout:
            twin = by_response.get(call.response_id)
            if twin is None:
                continue
            ours, theirs = inputs.count(call.input), inputs.count(twin.input)
            assert ours.total == theirs.total, (run.name, call.response_id)
            assert ours.categories == theirs.categories
            compared += 1
    assert compared > 0
