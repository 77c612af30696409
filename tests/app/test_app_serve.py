"""``trace-viewer serve``: the viewer in a browser through textual-serve (issue 11 item 14).

The server runs as a real subprocess (``trace-viewer serve``) on a free port of
127.0.0.1. One test drives it through the websocket the page uses; one opens it
in a real headless Chromium (Debian's ``chromium``) and takes a screenshot.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from trace_viewer.cli import parse_args

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "sample_traces" / "exec_basic"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
START_S = 30.0
SERVE = [sys.executable, "-c", "import sys; from trace_viewer.cli import main; sys.exit(main())", "serve"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    pytest.importorskip("textual_serve", reason="serve needs textual-serve installed")
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [*SERVE, str(BUNDLE), "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=ROOT,
        start_new_session=True,  # its app processes get their own group: stopping them never reaches pytest
    )
    deadline = time.monotonic() + START_S
    try:
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = (tmp_path / "serve.log").read_text(errors="replace")
                    pytest.fail(f"trace-viewer serve did not start: {output[-800:]}")
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def test_serve_binds_to_loopback_unless_told_otherwise() -> None:
    args = parse_args(["serve", str(BUNDLE)])
    assert args.host == "127.0.0.1" and args.port == 8000
    assert parse_args(["serve", "--host", "0.0.0.0", "--port", "9000"]).host == "0.0.0.0"
    from trace_viewer.app.serve import serve_command

    command = serve_command(BUNDLE)
    assert "-m trace_viewer.app" in command and str(BUNDLE.resolve()) in command  # explicit: never the summary


def test_the_page_is_offline_but_for_a_web_font_with_a_fallback(server: str) -> None:
    aiohttp = pytest.importorskip("aiohttp")

    async def fetch() -> str:
        async with aiohttp.ClientSession() as client, client.get(f"http://{server}/") as response:
            assert response.status == 200
            return await response.text()

    page = asyncio.run(fetch())
    outside = {
        url
        for url in re.findall(r"""(?:src|href)\s*=\s*["'](https?://[^"']+)""", page)
        if not url.startswith(f"http://{server}")
    }
    assert all(url.startswith("https://fonts.googleapis.com/") for url in outside), outside
    assert re.search(r"font-family:[^;]*monospace", page), "the web font falls back to a local monospace font"


def test_the_app_runs_through_the_websocket(server: str) -> None:
    aiohttp = pytest.importorskip("aiohttp")

    async def session() -> str:
        seen = b""
        async with aiohttp.ClientSession() as client, client.ws_connect(f"ws://{server}/ws?width=110&height=30") as ws:
            await ws.send_json(["resize", {"width": 110, "height": 30}])
            deadline = asyncio.get_running_loop().time() + START_S
            while b"Quit" not in seen or b"exec_basic" not in seen:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                try:
                    message = await ws.receive(timeout=remaining)
                except TimeoutError:
                    break
                if message.type == aiohttp.WSMsgType.BINARY:
                    seen += message.data
                elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    break
            # A key press travels the same way: q quits the viewer.
            await ws.send_json(["stdin", "q"])
        return seen.decode("utf-8", errors="replace")

    shown = asyncio.run(asyncio.wait_for(session(), START_S + 15))
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown)
    assert "exec_basic" in plain, plain[-500:]
    assert "Timeline" in plain and "Context" in plain


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium installed (Debian: apt-get install -y chromium)")
def test_a_real_headless_chromium_shows_the_viewer(server: str, tmp_path: Path) -> None:
    playwright_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package (drives chromium)")
    shot = Path(os.environ.get("TRACE_VIEWER_SERVE_SHOT") or tmp_path / "serve.png")
    flags = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync"]  # fmt: skip
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=flags)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 760})
            page.goto(f"http://{server}/")
            # The page marks its body once the app's first bytes arrive; xterm.js then draws on a canvas.
            page.wait_for_selector("body.-first-byte", state="attached", timeout=START_S * 1000)
            page.wait_for_timeout(2500)
            page.screenshot(path=str(shot))
        finally:
            browser.close()
    # A drawn viewer (many glyphs and colours) compresses far worse than the plain intro page (~12 KB).
    assert shot.stat().st_size > 40_000, shot.stat().st_size
