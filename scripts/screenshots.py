#!/usr/bin/env python3
"""Write screenshots of the viewer into screenshots/ (SVG always; PNG too, through cairosvg or chromium).

    python scripts/screenshots.py            # all shots
    python scripts/screenshots.py --list     # names and what they show

Each shot opens a bundled sample at a fixed terminal size and presses keys as
a person would (after the bundle has fully loaded), so the images are
reproducible and match the README. ``browser`` serves the viewer with
``trace-viewer serve`` and photographs it in headless Chromium (needs the
``playwright`` package and Debian's ``chromium``; skipped otherwise).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from trace_viewer.app.main import TraceViewerApp
from trace_viewer.app.messages import ShowToolCall
from trace_viewer.app.screens.viewer import ViewerScreen

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


async def light_theme(pilot: Any) -> None:
    pilot.app.theme = "catppuccin-latte"


async def first_tool_detail(pilot: Any) -> None:
    screen = pilot.app.screen
    screen.post_message(ShowToolCall(next(iter(screen.session.rollout["tool_calls"]))))


async def search_hello(pilot: Any) -> None:
    pilot.app.screen.run_search("hello")


@dataclass(frozen=True)
class Shot:
    name: str
    sample: str
    keys: tuple[str, ...]
    size: tuple[int, int]
    caption: str
    before: Callable[[Any], Awaitable[None]] | None = None
    picker: bool = False
    sessions: bool = False  # a sessions tree (the session rollouts of some sample runs)


def rollout_file(case: str) -> str:
    """A sample session rollout file, as a path relative to sample_traces/."""
    (found,) = sorted((ROOT / "sample_traces" / "rollouts" / case / "sessions").rglob("rollout-*.jsonl"))
    return str(found.relative_to(ROOT / "sample_traces"))


SHOTS = (
    Shot("overview", "compaction_remote_midturn", (), (120, 36), "A finished trace, at its last event"),
    Shot(
        "timeline_at_start",
        "tools_multiturn_appserver",
        ("g", "right_square_bracket"),
        (120, 36),
        "The whole timeline at a running model call: later rows dimmed, nothing from after the cursor",
    ),
    Shot(
        "remote_compaction",
        "compaction_remote_midturn",
        ("g", "c", "right_square_bracket"),
        (120, 36),
        "The first model call after a remote compaction: the boundary rule and the replacement items",
    ),
    Shot(
        "local_compaction",
        "compaction_local_manual",
        ("g", "c"),
        (120, 36),
        "A local compaction, detected from a request snapshot that dropped earlier history",
    ),
    Shot(
        "diff",
        "tools_multiturn_appserver",
        ("g", "right_square_bracket", "right_square_bracket", "d"),
        (120, 36),
        "Diff: what changed in the context since the thread's previous model call (header and token delta)",
    ),
    Shot("inspector", "exec_basic", ("g", "right_square_bracket", "i"), (120, 36), "Inspector: raw event and payload"),
    Shot(
        "usage",
        "compaction_remote_midturn",
        ("u",),
        (120, 36),
        "Usage in tokens: against the window, per call, composition with free space, trace total",
    ),
    Shot(
        "tool_detail",
        "tools_terminal",
        (),
        (120, 36),
        "Enter on a tool call: arguments, output, exit code, terminal session, timings",
        before=first_tool_detail,
    ),
    Shot("search", "exec_basic", (), (120, 36), "Search: the match highlighted inside the text", before=search_hello),
    Shot("multi_agent", "agents_minimal", ("t",), (120, 36), "A spawned child thread's context"),
    Shot("broken", "broken_last_line_cut", (), (100, 30), "A torn bundle: the fault where it happened"),
    Shot("picker", "", (), (120, 24), "The bundle list: broken bundles marked with their first fault", picker=True),
    Shot(
        "light_theme",
        "tools_multiturn_appserver",
        (),
        (120, 36),
        "A light theme (catppuccin-latte)",
        before=light_theme,
    ),
    Shot(
        "rollout_compaction",
        rollout_file("compaction_local_midturn"),
        ("g", "c", "right_square_bracket"),
        (120, 36),
        "A session rollout alone: the model call after a mid-turn local compaction, its input rebuilt with the summary",
    ),
    Shot(
        "sessions",
        "",
        (),
        (150, 24),
        "A sessions tree: newest first, sub-agent threads under their parent",
        sessions=True,
    ),
    Shot("small_terminal", "compaction_remote_midturn", (), (80, 24), "80×24"),
    Shot("help", "exec_basic", ("question_mark",), (110, 36), "Every key and the status glyphs (also ctrl+p)"),
)


async def _loaded(pilot: Any) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        screen = pilot.app.screen
        if not isinstance(screen, ViewerScreen) or screen.loaded:
            break
        await pilot.pause(0.02)
    await pilot.pause(0.1)


async def take(shot: Shot, out: Path) -> Path:
    saved_home = os.environ.get("HOME")
    try:
        return await _take(shot, out)
    finally:  # the sessions shot points HOME at a fresh folder
        if saved_home is not None:
            os.environ["HOME"] = saved_home


async def _take(shot: Shot, out: Path) -> Path:
    if shot.picker:
        # A folder with a healthy and a torn bundle (and one whose manifest is not JSON).
        root = Path(tempfile.mkdtemp(prefix="trace-viewer-shot-")) / "traces"
        for name in ("exec_basic", "tools_terminal", "broken_last_line_cut"):
            shutil.copytree(ROOT / "sample_traces" / name, root / name)
        shutil.copytree(ROOT / "sample_traces" / "agents_minimal", root / "half_copied")
        (root / "half_copied" / "manifest.json").write_text('{"schema_version": 2, "trace_id"')
        app = TraceViewerApp(root, picker=True)
    elif shot.sessions:
        # ~/.codex/sessions of a few sample runs, merged: a multi-agent run, a resumed one, plain ones.
        # HOME is a fresh folder for this shot, so the title reads ~/.codex/sessions on every machine.
        os.environ["HOME"] = tempfile.mkdtemp(prefix="trace-viewer-shot-")
        home = Path(os.environ["HOME"]) / ".codex"
        for case in ("agents_full", "compaction_remote_manual", "exec_basic", "tools_multiturn_resume"):
            shutil.copytree(
                ROOT / "sample_traces" / "rollouts" / case / "sessions", home / "sessions", dirs_exist_ok=True
            )
        # A trace bundle of one run, where a copied run keeps it (the picker marks that session ◆).
        shutil.copytree(ROOT / "sample_traces" / "rollouts" / "exec_basic" / "bundle", home / "exec_basic")
        app = TraceViewerApp(home / "sessions", sessions=True)
    else:
        app = TraceViewerApp(ROOT / "sample_traces" / shot.sample)
    async with app.run_test(size=shot.size) as pilot:
        await _loaded(pilot)
        if shot.before is not None:
            await shot.before(pilot)
            await pilot.pause(0.2)
        for key in shot.keys:
            await pilot.press(key)
            await pilot.pause()
        await pilot.pause(0.1)
        svg = app.export_screenshot(title=f"trace-viewer — {shot.caption}")
    path = out / f"{shot.name}.svg"
    path.write_text(svg, encoding="utf-8")
    return path


def browser_shot(out: Path) -> Path | None:
    """The viewer served by ``trace-viewer serve``, in headless Chromium."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("browser: skipped (needs the playwright package)")
        return None
    if chromium is None:
        print("browser: skipped (no chromium: apt-get install -y chromium)")
        return None
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-c", "import sys; from trace_viewer.cli import main; sys.exit(main())", "serve",
               str(ROOT / "sample_traces" / "compaction_remote_midturn"), "--port", str(port)]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        path = out / "browser.png"
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_selector("body.-first-byte", state="attached", timeout=30_000)
            page.wait_for_timeout(2500)
            page.screenshot(path=str(path))
            browser.close()
        return path
    finally:
        server.terminate()
        server.wait(timeout=10)


def to_png(svg: Path) -> Path | None:
    png = svg.with_suffix(".png")
    try:
        import cairosvg  # type: ignore[import-not-found]
    except ImportError:
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if chromium is None:
            return None
        with tempfile.TemporaryDirectory() as profile:
            subprocess.run(
                [chromium, "--headless", *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--window-size=1460,940",
                 "--hide-scrollbars", f"--screenshot={png}", svg.resolve().as_uri()],
                capture_output=True, timeout=120, check=False,
            )  # fmt: skip
        return png if png.exists() else None
    cairosvg.svg2png(url=str(svg), write_to=str(png), output_width=1600)
    return png


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="only these shots")
    parser.add_argument("--out", default=str(ROOT / "screenshots"))
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args()
    if args.list:
        for shot in SHOTS:
            print(f"{shot.name:18} {shot.caption}")
        print(f"{'browser':18} The viewer in a browser (trace-viewer serve, headless Chromium)")
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for shot in SHOTS:
        if args.names and shot.name not in args.names:
            continue
        svg = asyncio.run(take(shot, out))
        png = to_png(svg)
        print(f"{svg.relative_to(ROOT) if svg.is_relative_to(ROOT) else svg}" + (f"  {png.name}" if png else ""))
    if not args.names or "browser" in args.names:
        shot = browser_shot(out)
        if shot is not None:
            print(shot.relative_to(ROOT) if shot.is_relative_to(ROOT) else shot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
