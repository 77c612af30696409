"""Command line: ``trace-viewer [PATH] [--follow]`` opens the app; ``reduce``, ``context``,
``summary``, ``calls`` and ``tokens`` work without it.

The subcommands never import Textual (and only ``summary`` imports Rich), so they
start fast. Whatever the input, the outcome is one clear line on stderr and a
non-zero exit — never a traceback (set ``TRACE_VIEWER_DEBUG=1`` to see one).

Exit codes: 0 ok, 1 the bundle is faulty or the request cannot be answered,
2 bad command line, 3 internal error.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NoReturn

from trace_viewer.text import one_line

if TYPE_CHECKING:
    from trace_viewer.errors import Fault
    from trace_viewer.model import RolloutTrace
    from trace_viewer.reducer import Reducer
    from trace_viewer.reducer.replay import Replay

PROG = "trace-viewer"
SUBCOMMANDS = ("reduce", "context", "summary", "calls", "tokens", "serve")
EXIT_FAULT = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3


class CliError(Exception):
    """A problem to report as one line with an exit code."""

    def __init__(self, message: str, code: int = EXIT_FAULT) -> None:
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise CliError(f"{message} (see {self.prog} --help)", EXIT_USAGE)


def _say(message: str) -> None:
    print(f"{PROG}: {one_line(message)}", file=sys.stderr, flush=True)


def fault_line(bundle: Path, fault: Fault) -> str:
    """The fault as one line naming the file (with its bundle path), line/seq and payload."""
    if bundle.is_file():  # a session rollout: the fault names its own file (maybe a sub-agent's)
        return str(fault)
    file = fault.file if fault.file == str(bundle) else str(bundle / fault.file)
    location = fault.location()
    rest = location[len(fault.file) :]
    return f"{file}{rest}: {fault.message}"


# ----- bundles ---------------------------------------------------------------------------------


def _bundle_dir(value: str) -> Path:
    path = Path(value)
    if not path.exists():
        raise CliError(f"no such bundle: {value}")
    if not path.is_dir():
        raise CliError(f"not a bundle directory: {value}")
    return path


def _source(value: str) -> Path:
    """A bundle directory or a session rollout file (``rollout-*.jsonl``)."""
    path = Path(value)
    if not path.exists():
        raise CliError(f"no such bundle or rollout file: {value}")
    if path.is_file() and path.name in ("manifest.json", "trace.jsonl"):
        raise CliError(f"{value}: a trace bundle's file, not a session rollout (give the bundle directory)")
    return path


def _replay(path: Path, max_events: int | None = None) -> Replay:
    """The bundle replayed, or for a rollout file the replay of its session (the same surface)."""
    if path.is_file():
        from trace_viewer.rollout_session import RolloutSession

        session = RolloutSession(path)
        if max_events is None:
            session.load_all()
        else:
            session.load(max_events=max_events)
        rollout_replay: Any = session.replay
        _raise_internal_error(rollout_replay)
        return rollout_replay  # type: ignore[no-any-return]
    from trace_viewer.reducer.replay import replay_bundle

    replay = replay_bundle(path, max_events)
    _raise_internal_error(replay)
    return replay


def _raise_internal_error(replay: Replay) -> None:
    """A bug of ours hit while replaying is not a fault of the trace: report it as ours (exit 3)."""
    error = replay.internal_error
    if error is None:
        return
    if os.environ.get("TRACE_VIEWER_DEBUG"):
        raise error
    fault = replay.fault
    where = f" while applying {fault.location()}" if fault is not None else ""
    raise CliError(
        f"internal error: {type(error).__name__}: {error}{where} (set TRACE_VIEWER_DEBUG=1 for details)", EXIT_INTERNAL
    )


def dump_reducer_state(reducer: Reducer) -> bytes:
    """A reducer's state as the official reducer writes it: 2-space indent, raw UTF-8, no trailing newline."""
    from trace_viewer.model import state_json_pieces

    return b"".join(state_json_pieces(reducer.rollout))


def write_reducer_state(reducer: Reducer, out: BinaryIO) -> None:
    """``dump_reducer_state`` written piece by piece (a large state is never held twice as text)."""
    from trace_viewer.model import state_json_pieces

    out.writelines(state_json_pieces(reducer.rollout))


def dump_state(state: dict[str, Any]) -> bytes:
    """JSON-shaped state as the official reducer writes it: 2-space indent, raw UTF-8, no trailing newline."""
    import orjson

    try:
        return orjson.dumps(state, option=orjson.OPT_INDENT_2)
    except TypeError:  # e.g. integers beyond 64 bits; the standard library has no limit
        import json

        return json.dumps(state, indent=2, ensure_ascii=False).encode("utf-8", errors="backslashreplace")


# ----- reduce ----------------------------------------------------------------------------------


def _check_output(out: str, bundle: Path) -> Path:
    target = Path(out)
    resolved = Path(os.path.realpath(target))
    root = Path(os.path.realpath(bundle))
    if resolved == root or resolved.is_relative_to(root):
        raise CliError(f"refusing to write {out} inside the bundle {bundle} (bundles are never modified)", EXIT_USAGE)
    if target.is_dir():
        raise CliError(f"output {out} is a directory", EXIT_USAGE)
    return target


def cmd_reduce(args: argparse.Namespace) -> int:
    bundle = _bundle_dir(args.bundle)
    target = _check_output(args.output, bundle) if args.output else None
    replay = _replay(bundle)
    fault = replay.fault
    if fault is not None and not args.partial:
        raise CliError(fault_line(bundle, fault))
    if target is None:
        write_reducer_state(replay.reducer, sys.stdout.buffer)
        sys.stdout.buffer.write(b"\n")
        sys.stdout.buffer.flush()
    else:
        try:
            with target.open("wb") as handle:
                try:
                    write_reducer_state(replay.reducer, handle)
                except BaseException:
                    target.unlink(missing_ok=True)  # (a bug of ours mid-way leaves no half a state)
                    raise
        except OSError as error:
            raise CliError(f"cannot write {args.output}: {error.strerror or error}") from None
    if fault is not None:
        _say(f"partial state up to the fault: {fault_line(bundle, fault)}")
    _warn(replay)
    return 0


def _warn(replay: Replay) -> None:
    """Bundle warnings (a newer schema, skipped events) on stderr: the output is still usable."""
    warnings = replay.bundle.warnings if replay.bundle is not None else getattr(replay, "warnings", [])
    for warning in warnings:
        _say(f"warning: {warning}")
    limits = getattr(getattr(replay, "_session", None), "limits", None)
    if limits:
        _say(f"note: {limits}")
    skipped = replay.reducer.skipped_events
    if skipped:
        kinds = ", ".join(sorted({kind for _, kind in skipped}))
        _say(f"warning: skipped {len(skipped)} events of unknown types ({kinds}), first at seq {skipped[0][0]}")


# ----- ids by prefix ------------------------------------------------------------------------------

# An unknown or ambiguous id lists at most this many candidates.
MAX_CANDIDATES = 12


def unique_prefix(what: str, value: str, ids: list[str]) -> str:
    """The one id that is ``value`` or starts with it; otherwise a CliError listing the candidates."""
    if value in ids:
        return value
    matches = [candidate for candidate in ids if candidate.startswith(value)]
    if len(matches) == 1:
        return matches[0]
    shown = matches or ids
    listed = ", ".join(one_line(candidate) for candidate in shown[:MAX_CANDIDATES])
    more = f" and {len(shown) - MAX_CANDIDATES} more" if len(shown) > MAX_CANDIDATES else ""
    if matches:
        raise CliError(f"{what} {one_line(value)!r} is ambiguous: it starts {len(matches)} ids: {listed}{more}")
    raise CliError(f"no {what} {one_line(value)!r}; the trace has: {listed or '(none)'}{more}")


def _thread_arg(rollout: RolloutTrace, value: str | None) -> str | None:
    """A thread given by id, id prefix, agent path or nickname (None: the root)."""
    if value is None:
        return None
    threads = rollout.threads
    if value in threads or any(value in (t.agent_path, t.nickname) for t in threads.values()):
        return value
    if value.startswith("/") or not any(tid.startswith(value) for tid in threads):
        return value  # let the context module say what is wrong (it also tries /root/VALUE)
    return unique_prefix("thread", value, list(threads))


# ----- context ---------------------------------------------------------------------------------


def cmd_context(args: argparse.Namespace) -> int:
    from trace_viewer import context

    bundle = _source(args.bundle)
    if args.seq is not None and args.seq < 0:
        raise CliError("--seq must be 0 or more", EXIT_USAGE)
    replay = _replay(bundle, args.seq)
    reducer = replay.reducer
    rollout = reducer.rollout
    fault = replay.fault
    thread_arg = _thread_arg(rollout, args.thread)
    try:
        if args.inference is not None:
            call_id = unique_prefix("inference call", args.inference, list(rollout.inference_calls))
            thread_id, item_ids = context.inference_context(rollout, call_id)
            if thread_arg is not None and context.resolve_thread(rollout, thread_arg) != thread_id:
                raise context.ContextError(f"inference call {args.inference} is not on thread {args.thread}")
        elif args.turn is not None:
            turn_id = unique_prefix("turn", args.turn, list(rollout.codex_turns))
            thread_id, item_ids = _turn_context(bundle, rollout, turn_id)
        else:
            thread_id = context.resolve_thread(rollout, thread_arg)
            item_ids = reducer.live_context(thread_id)
    except context.ContextError as error:
        suffix = f" (replay stopped early: {fault_line(bundle, fault)})" if fault is not None else ""
        raise CliError(f"{error}{suffix}") from None
    if fault is not None:
        _say(
            f"note: replay stopped at a fault, context is as of seq {reducer.events_applied}: "
            f"{fault_line(bundle, fault)}"
        )
    elif args.seq is not None and reducer.events_applied < args.seq:
        _say(f"note: the trace has only {reducer.events_applied} events; showing the context after the last one")
    _warn(replay)
    items = context.items_for(rollout, item_ids)
    render = {"json": context.to_json, "text": context.to_text, "markdown": context.to_markdown}[args.format]
    output = render(items)
    sys.stdout.write(output if output.endswith("\n") else output + "\n")
    return 0


def _turn_context(bundle: Path, rollout: RolloutTrace, turn_id: str) -> tuple[str, list[str]]:
    """The turn's thread and its live history when the turn ended (now, if it has not)."""
    from trace_viewer.rollout_session import open_session

    turn = rollout.codex_turns[turn_id]
    session = open_session(bundle)
    session.load_all()
    end = turn.execution.ended_seq or session.total
    return turn.thread_id, list(session.context_at(turn.thread_id, end))


# ----- summary ---------------------------------------------------------------------------------


def cmd_summary(args: argparse.Namespace) -> int:
    from trace_viewer.bundle.discovery import find_bundle_dirs, is_bundle

    bundle = _source(args.bundle)
    if bundle.is_dir() and not is_bundle(bundle) and not (bundle / "trace.jsonl").exists():
        bundles = find_bundle_dirs(bundle)
        if not bundles:
            raise CliError(f"no trace bundle in {args.bundle} (no manifest.json, no bundles below)")
        return _summary_of_folder(bundle, bundles, args.format)
    replay = _replay(bundle)
    if args.format == "json":
        sys.stdout.write(_summary_json(bundle, replay) + "\n")
    else:
        print_summary(bundle, replay)
    _warn(replay)
    return 0


def _bundle_status(replay: Replay) -> tuple[str, str | None]:
    """(status, first fault) of a replayed bundle, from the bundle alone."""
    fault = replay.fault
    rollout = replay.reducer.rollout
    if fault is not None:
        return "faulty", str(fault)
    if replay.reducer.recording_completed or rollout.ended_at_unix_ms:
        return rollout.status, None
    return "unfinished", None


def _summary_rows(source: Path, replay: Replay) -> Any:
    """``summarize`` of a bundle, or of a rollout session (its source named instead of a schema)."""
    from trace_viewer.summary import summarize

    info = summarize(replay)
    if source.is_file():
        meta = next(iter(replay.reducer.threads.values()), None)
        version = meta.meta.cli_version if meta is not None else None
        files = len(getattr(replay, "files", []))
        source_row = ("source", f"session rollout, Codex {version or '?'}, {files} thread file(s)")
        info.rows = [source_row if label == "schema" else (label, value) for label, value in info.rows]
        info.rows = [row for row in info.rows if row[0] != "trace id"]
    return info


def _summary_json(bundle: Path, replay: Replay) -> str:
    import orjson

    info = _summary_rows(bundle, replay)
    status, fault = _bundle_status(replay)
    columns = ("agent_path", "nickname", "status", "model", "turns", "inference_calls", "conversation_items")
    document = {
        "bundle": str(bundle),
        "status": status,
        "fault": fault,
        "overview": {label: value for label, value in info.rows},
        "tokens": info.tokens,
        "duration_ms": info.duration_ms,
        "threads": [dict(zip(columns, row, strict=True)) for row in info.threads],
    }
    return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode()


def _summary_of_folder(root: Path, bundles: list[Path], output: str) -> int:
    """One row per bundle under a folder: status and first fault (each bundle is replayed)."""
    rows = []
    for path in bundles:
        replay = _replay(path)
        status, fault = _bundle_status(replay)
        rollout = replay.reducer.rollout
        rows.append(
            {
                "bundle": str(path.relative_to(root)) if path.is_relative_to(root) else str(path),
                "status": status,
                "events": replay.reducer.events_applied,
                "threads": len(rollout.threads),
                "started_at_unix_ms": rollout.started_at_unix_ms,
                "fault": fault,
            }
        )
    if output == "json":
        import orjson

        sys.stdout.write(orjson.dumps({"root": str(root), "bundles": rows}, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(highlight=False, emoji=False, width=None if sys.stdout.isatty() else 200)
    table = Table(title=Text(f"bundles under {one_line(str(root))}"))
    for column in ("bundle", "status", "events", "threads", "first fault"):
        table.add_column(column, justify="right" if column in ("events", "threads") else "left")
    for row in rows:
        table.add_row(
            Text(one_line(str(row["bundle"]))),
            Text(str(row["status"])),
            Text(str(row["events"])),
            Text(str(row["threads"])),
            Text(one_line(str(row["fault"] or ""))),
        )
    console.print(table)
    return 0


def print_summary(bundle: Path, replay: Replay, file: Any = None) -> None:
    """A Rich table of what the trace holds. Trace text is passed as ``Text``, never parsed as markup."""
    from rich.console import Console, Group
    from rich.table import Table
    from rich.text import Text

    info = _summary_rows(bundle, replay)
    stream = file or sys.stdout
    # Piped output has no terminal width; give tables room instead of Rich's 80-column default.
    width = None if stream.isatty() else 160
    console = Console(file=stream, highlight=False, emoji=False, width=width)

    overview = Table(title=Text(f"trace {one_line(bundle.name)}"), show_header=False, box=None, pad_edge=False)
    overview.add_column(style="bold")
    overview.add_column()
    for label, value in info.rows:
        overview.add_row(Text(label), Text(one_line(value)))

    threads = Table(title=Text("threads"))
    for column in ("agent path", "nickname", "status", "model", "turns", "inferences", "items"):
        threads.add_column(column, justify="right" if column in ("turns", "inferences", "items") else "left")
    for row in info.threads:
        threads.add_row(*(Text(one_line(str(cell))) for cell in row))
    console.print(Group(overview, Text(""), threads))


# ----- calls -----------------------------------------------------------------------------------


def cmd_calls(args: argparse.Namespace) -> int:
    """Every model call of a bundle or a rollout file, with the exact input the model received."""
    from trace_viewer import calls

    source = Path(args.source)
    if not source.exists():
        raise CliError(f"no such bundle or rollout file: {args.source}")
    listing = calls.calls_for(source)
    output = calls.to_json(listing.calls) if args.format == "json" else calls.to_text(listing.calls)
    sys.stdout.write(output if output.endswith("\n") else output + "\n")
    sys.stdout.flush()
    for warning in listing.warnings:
        _say(f"warning: {warning}")
    if listing.limits is not None:
        _say(f"note: {listing.limits}")
    if listing.fault is not None:
        where = fault_line(source, listing.fault) if source.is_dir() else str(listing.fault)
        raise CliError(f"{where} (the {len(listing.calls)} calls before it are listed)")
    return 0


# ----- tokens ----------------------------------------------------------------------------------


def cmd_tokens(args: argparse.Namespace) -> int:
    """What fills one call's context (or a live context), in o200k tokens, against the window."""
    from trace_viewer.context import ContextError
    from trace_viewer.rollout_session import open_session
    from trace_viewer.tokens import TokenizerUnavailable
    from trace_viewer.tokens.report import composition_for, session_counter, to_json, to_text

    bundle = _source(args.bundle)
    if args.seq is not None and args.seq < 0:
        raise CliError("--seq must be 0 or more", EXIT_USAGE)
    session = open_session(bundle)
    session.load_all()
    _raise_internal_error(session.replay)
    fault = session.fault
    suffix = f" (replay stopped early: {fault_line(bundle, fault)})" if fault is not None else ""
    try:
        # A call given by a unique prefix of its id, as everywhere else; unknown or ambiguous lists the candidates.
        inference = None
        if args.inference is not None:
            inference = unique_prefix("inference call", args.inference, list(session.rollout.inference_calls))
        counter = session_counter(session)
        composition = composition_for(session, counter, inference=inference, seq=args.seq, thread=args.thread)
    except (ContextError, CliError) as error:
        raise CliError(f"{error}{suffix}") from None
    except TokenizerUnavailable as error:
        raise CliError(str(error)) from None
    if fault is not None:
        _say(f"note: replay stopped at a fault, counts are as of seq {session.total}: {fault_line(bundle, fault)}")
    elif args.seq is not None and session.total < args.seq:
        _say(f"note: the trace has only {session.total} events; counting the context after the last one")
    _warn(session.replay)
    if args.format == "json":
        output = to_json(composition)
    else:
        where = f"inference call {inference}" if inference is not None else f"live context at seq {args.seq}"
        known = session.rollout.threads.get(composition.thread_id)
        thread = known.agent_path if known is not None else composition.thread_id
        output = to_text(composition, title=f"{where} on {thread}")
    sys.stdout.write(output if output.endswith("\n") else output + "\n")
    return 0


# ----- open (the app) --------------------------------------------------------------------------


def cmd_open(args: argparse.Namespace) -> int:
    path: str | None = args.path
    follow: bool = args.follow
    if path is None and follow:
        path = os.environ.get("CODEX_ROLLOUT_TRACE_ROOT") or None
        if path is None:
            raise CliError("--follow needs a bundle or trace root (or CODEX_ROLLOUT_TRACE_ROOT set)", EXIT_USAGE)
    if path is not None and not Path(path).exists():
        raise CliError(f"no such bundle, rollout file or folder: {path}")
    if not (sys.stdin.isatty() and sys.stdout.isatty()) and not os.environ.get("TEXTUAL_DRIVER"):
        # A full-screen app needs a terminal; in a pipe or a script, answer with the summary instead of hanging.
        return _open_without_app(path, "not a terminal")
    try:
        from trace_viewer.app import run  # type: ignore[attr-defined]
    except ImportError as error:
        missing = getattr(error, "name", None) or ""
        if not missing.startswith(("textual", "trace_viewer.app")):
            raise
        return _open_without_app(path, "the interactive viewer is not available")
    return int(run(path, follow) or 0)


def _open_without_app(path: str | None, reason: str) -> int:
    """Without the UI (no terminal, or no Textual): print the summary of what the viewer would open
    (a bundle, a session rollout, the newest bundle of a folder), or the list of a sessions tree."""
    from trace_viewer.bundle.discovery import newest_bundle
    from trace_viewer.sources import SourceError, resolve_source

    try:
        source = resolve_source(path)
    except SourceError as error:
        raise CliError(str(error)) from None
    target = source.path
    if source.kind == "bundles":
        newest = newest_bundle(target)
        if newest is None:
            raise CliError(f"no trace bundle in {path}")
        target = newest
    elif source.kind == "sessions":
        _say(f"{reason}; sessions under {target}")
        _print_sessions(target)
        return 0
    _say(f"{reason}; summary of {target}" + (f" ({source.note})" if source.note else ""))
    replay = _replay(target)
    print_summary(target, replay)
    _warn(replay)
    return 0


def _print_sessions(root: Path) -> None:
    """The sessions picker's listing as a table: newest first, sub-agent threads under their parent."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from trace_viewer.rollout.sessions import list_sessions, walk_sessions

    table = Table(title=Text(f"sessions under {one_line(str(root))}"))
    for column in ("started", "status", "turns", "model", "first prompt", "cwd", "bundle", "file"):
        table.add_column(column, justify="right" if column == "turns" else "left")
    for depth, info in walk_sessions(list_sessions(root)):
        prompt = info.first_prompt or f"({info.error or 'no prompt'})"
        if depth:
            prompt = "  " * depth + f"└ {info.label}: {prompt}"
        cells = (info.started or "?", info.status, str(info.turns), info.model or "-", prompt, info.cwd or "-",
                 "yes" if info.bundles else "", info.path.name)  # fmt: skip
        table.add_row(*(Text(one_line(cell)) for cell in cells))
    width = None if sys.stdout.isatty() else 200
    Console(highlight=False, emoji=False, width=width).print(table)


# ----- serve (the app in a browser) --------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    if args.path is not None and not Path(args.path).exists():
        raise CliError(f"no such bundle or trace root: {args.path}")
    if not 0 < args.port < 65536:
        raise CliError(f"--port must be 1-65535, not {args.port}", EXIT_USAGE)
    try:
        from trace_viewer.app.serve import serve
    except ImportError as error:
        raise CliError(f"serve needs textual-serve ({error.name or error})") from None
    return serve(Path(args.path) if args.path else None, host=args.host, port=args.port, follow=args.follow)


# ----- argument parsing ------------------------------------------------------------------------


def _add_context_position(parser: argparse.ArgumentParser, seq_help: str) -> argparse._MutuallyExclusiveGroup:
    """BUNDLE (--inference ID | --seq N) [--thread T]: which context a command is about (returns the group)."""
    parser.add_argument("bundle", metavar="BUNDLE")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--inference", metavar="ID", help="exactly what this inference call's request contained")
    where.add_argument("--seq", metavar="N", type=int, help=seq_help)
    parser.add_argument(
        "--thread", metavar="ID_OR_AGENT_PATH", help="thread id, agent path or nickname (default: root)"
    )
    return where


def _subcommand_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Replay and inspect Codex rollout trace bundles.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    reduce = commands.add_parser("reduce", help="write the reduced state JSON (like `codex debug trace-reduce`)")
    reduce.add_argument("bundle", metavar="BUNDLE")
    reduce.add_argument("-o", "--output", metavar="OUT", help="write here instead of stdout (never inside the bundle)")
    reduce.add_argument("--partial", action="store_true", help="on a fault, write the state up to it and exit 0")
    reduce.set_defaults(handler=cmd_reduce)

    context = commands.add_parser("context", help="print the model-visible context at a point of the trace")
    where = _add_context_position(context, "the thread's live history after events 1..N")
    where.add_argument("--turn", metavar="ID", help="the turn's thread's live history when the turn ended")
    context.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    context.set_defaults(handler=cmd_context)

    tokens = commands.add_parser("tokens", help="what fills a model call's context, in tokens, against the window")
    _add_context_position(tokens, "the thread's live context after events 1..N")
    tokens.add_argument("--format", choices=("text", "json"), default="text")
    tokens.set_defaults(handler=cmd_tokens)

    summary = commands.add_parser(
        "summary", help="print a table of threads, counts, tokens, duration and fault (a folder: one row per bundle)"
    )
    summary.add_argument("bundle", metavar="BUNDLE_OR_FOLDER")
    summary.add_argument("--format", choices=("text", "json"), default="text")
    summary.set_defaults(handler=cmd_summary)

    calls = commands.add_parser("calls", help="list every model call with the exact input it received")
    calls.add_argument("source", metavar="SOURCE", help="a trace bundle or a session rollout file (rollout-*.jsonl)")
    calls.add_argument("--format", choices=("text", "json"), default="text")
    calls.set_defaults(handler=cmd_calls)

    serve = commands.add_parser("serve", help="serve the viewer to a browser (textual-serve), on 127.0.0.1 by default")
    serve.add_argument("path", nargs="?", metavar="PATH", help="bundle or trace root (default: a bundled sample)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--follow", action="store_true", help="follow the bundle or trace root while it is written")
    serve.set_defaults(handler=cmd_serve)
    return parser


def _open_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Open a trace bundle (or a trace root) in the interactive viewer. "
        f"Other commands: {', '.join(SUBCOMMANDS)} (see `{PROG} COMMAND --help`).",
    )
    parser.add_argument("path", nargs="?", metavar="PATH", help="bundle or trace root (default: a bundled sample)")
    parser.add_argument("--follow", action="store_true", help="follow a bundle or trace root while Codex writes it")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.set_defaults(handler=cmd_open)
    return parser


def _version() -> str:
    from trace_viewer import __version__

    return __version__


def parse_args(argv: list[str]) -> argparse.Namespace:
    # `trace-viewer PATH` and `trace-viewer reduce BUNDLE` share one command name, so
    # the first word decides which parser applies (use ./reduce for a bundle named so).
    if argv and argv[0] in SUBCOMMANDS:
        return _subcommand_parser().parse_args(argv)
    return _open_parser().parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``trace-viewer`` console script."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    try:
        args = parse_args(list(sys.argv[1:] if argv is None else argv))
        return int(args.handler(args))
    except CliError as error:
        _say(str(error))
        return error.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`); say nothing and do not let Python complain at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAULT
    except Exception as error:
        if os.environ.get("TRACE_VIEWER_DEBUG"):
            raise
        _say(f"internal error: {type(error).__name__}: {error} (set TRACE_VIEWER_DEBUG=1 for details)")
        return EXIT_INTERNAL
