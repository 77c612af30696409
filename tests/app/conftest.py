"""Shared helpers for the viewer tests: sample bundles, a running app, waiting for it to load.

``async def`` tests run under pytest-asyncio (auto mode, one event loop per test).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent.parent
ROOT = TESTS.parent
SAMPLES = ROOT / "sample_traces"
CORPUS = ROOT.parent / "shared" / "corpus"
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))


def sample(name: str) -> Path:
    path = SAMPLES / name
    if not path.is_dir():
        pytest.skip(f"sample_traces/{name} is not present")
    return path


def sample_names() -> list[str]:
    return sorted(p.name for p in SAMPLES.iterdir() if (p / "manifest.json").is_file()) if SAMPLES.is_dir() else []


async def wait_loaded(pilot, timeout: float = 60.0) -> None:
    """Let the viewer finish its progressive load (sample bundles load in the first slice).

    The timeout only catches a hang: a loaded machine (CI beside other jobs) can take seconds."""
    import asyncio

    from trace_viewer.app.screens.viewer import ViewerScreen

    app = pilot.app
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        screen = app.screen
        if isinstance(screen, ViewerScreen) and screen.loaded:
            await pilot.pause()
            return
        await pilot.pause(0.02)
    raise AssertionError("the viewer did not finish loading")


def screen_text(app) -> str:
    """The whole screen as plain text (what a person would read)."""
    import io

    from rich.console import Console

    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True, force_terminal=True)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()
