"""Viewer benchmarks: the session model (always) and the Textual app headless (when it exists).

Each probe runs in a fresh process so its start-up and memory are its own; it
prints one JSON object on its last stdout line.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from benchmarks.procs import last_line, run_probe, run_python
from benchmarks.table import Row, fmt_mb, fmt_s, verdict

FIRST_SCREEN_TARGET_S = 1.0
SCRUB_TARGET_S = 0.050


def _dist(stats: dict[str, float] | None) -> str:
    if not stats:
        return "n/a"
    return f"median {fmt_s(stats['median'])}, p95 {fmt_s(stats['p95'])}, max {fmt_s(stats['max'])}"


def app_available() -> str | None:
    """None when the Textual app can be imported, else why not."""
    probe = run_python(["-c", "import benchmarks.app_probe as p; p.find_app_class()"], timeout_s=120)
    if probe.returncode == 0:
        return None
    return f"n/a (app not ready: {last_line(probe.stderr)[:120]})"


def follow_command() -> list[str] | None:
    """Follower command for the follow benchmark driving the real app, or None if it is not there."""
    if app_available() is not None:
        return None
    return [sys.executable, "-m", "benchmarks.app_probe", "--follow"]


def run(bundle: Path, name: str, workdir: Path) -> tuple[list[Row], dict[str, Any], list[str]]:
    rows: list[Row] = []
    notes: list[str] = []
    raw: dict[str, Any] = {}

    session = run_probe("benchmarks.session_probe", [str(bundle)])
    raw["session"] = session
    if "error" in session:
        rows.append(Row(f"session on {name}", session["error"]))
    else:
        rows.append(
            Row(
                f"session: open + replay all of {name} (in-process)",
                fmt_s(session["load_all_s"]),
                verdict=f"{session['events']} events" + ("; FAULT (see notes)" if session.get("fault") else ""),
            )
        )
        if session.get("fault"):
            notes.append(f"session fault on {name}: {session['fault']}")
        if "scrub_random_jump" in session:
            rows.append(
                Row(
                    "session: context at a random position (ids + item versions)",
                    _dist(session["scrub_random_jump"]),
                    target="≤ 50 ms",
                    verdict=verdict(session["scrub_random_jump"]["p95"], SCRUB_TARGET_S),
                )
            )
            rows.append(
                Row(
                    "session: step backward one event",
                    _dist(session["scrub_step_back"]),
                    target="≤ 50 ms",
                    verdict=verdict(session["scrub_step_back"]["p95"], SCRUB_TARGET_S),
                )
            )
        if "views_timeline_s" in session:
            rows.append(
                Row(
                    "views: build the timeline rows (once per load)",
                    fmt_s(session["views_timeline_s"]),
                    verdict=f"{session['views_timeline_rows']} rows",
                )
            )
        if "views_step" in session:
            rows.append(
                Row(
                    "views: pane models for one position (no widgets)",
                    _dist(session["views_step"]),
                    target="≤ 50 ms",
                    verdict=verdict(session["views_step"]["p95"], SCRUB_TARGET_S),
                )
            )
            notes.append(
                "views step = "
                + " + ".join(session["views_step_functions"])
                + " at random positions and one before each"
            )
        if "reducer_at" in session:
            rows.append(
                Row(
                    "session: reducer_at(seq), full reducer from checkpoints (not on the UI path)",
                    _dist(session["reducer_at"]),
                    verdict=f"first {fmt_s(session['reducer_at_first_s'])}; RSS after "
                    f"{fmt_mb(session['rss_after_reducer_at_mb'])}",
                )
            )
        rows.append(
            Row(
                "session: memory after full replay (RSS / peak)",
                f"{fmt_mb(session['rss_after_load_mb'])} / {fmt_mb(session['peak_after_load_mb'])}",
            )
        )

    why = app_available()
    if why is not None:
        for label in (
            "app: launch → first usable screen",
            "app: scrub step (← / →) at random positions",
            "app: End",
            "app: memory while browsing",
        ):
            rows.append(Row(f"{label} ({name})", "n/a (app not ready)"))
        notes.append(f"app rows: {why}")
        return rows, raw, notes
    app = run_probe("benchmarks.app_probe", [str(bundle)])
    raw["app"] = app
    if "error" in app:
        rows.append(Row(f"app on {name}", app["error"]))
        return rows, raw, notes
    rows.append(
        Row(
            f"app: launch → first usable screen ({name})",
            fmt_s(app.get("first_screen_s")),
            target="≤ 1 s",
            verdict=verdict(app.get("first_screen_s"), FIRST_SCREEN_TARGET_S),
        )
    )
    if app.get("fully_loaded_s") is not None:
        rows.append(Row(f"app: launch → fully loaded ({name})", fmt_s(app["fully_loaded_s"])))
    for key, label in (
        ("step_forward", "app: scrub step → at random positions"),
        ("step_backward", "app: scrub step ← at random positions"),
    ):
        if app.get(key):
            rows.append(Row(label, _dist(app[key]), target="≤ 50 ms", verdict=verdict(app[key]["p95"], SCRUB_TARGET_S)))
    if app.get("jump_next_call"):
        rows.append(
            Row(
                "app: jump ] to the next model call (new context)",
                _dist(app["jump_next_call"]),
                target="≤ 50 ms",
                verdict=verdict(app["jump_next_call"]["p95"], SCRUB_TARGET_S),
            )
        )
    if app.get("end_s") is not None:
        rows.append(
            Row(
                f"app: End on {name}",
                fmt_s(app["end_s"]),
                target="≤ 50 ms",
                verdict=verdict(app["end_s"], SCRUB_TARGET_S),
            )
        )
    pauses = app.get("gc_gen2_pauses")
    rows.append(
        Row(
            "app: full GC (gen 2) pauses while browsing",
            "none" if not pauses else f"{pauses['n']}×, median {fmt_s(pauses['median'])}, max {fmt_s(pauses['max'])}",
            verdict=f"{app.get('gc_tracked_objects', 0):,} objects tracked",
        )
    )
    if app.get("rss_browsing_mb") is not None:
        rows.append(
            Row(
                "app: memory while browsing (RSS / peak)",
                f"{fmt_mb(app['rss_browsing_mb'])} / {fmt_mb(app.get('peak_rss_mb'))}",
            )
        )
    notes.extend(app.get("notes", []))
    return rows, raw, notes
