"""``trace-viewer serve``: the same viewer in a browser, through textual-serve.

Each browser tab gets its own viewer process, started with an explicit command
(``python -m trace_viewer.app PATH``) so it never falls back to the summary.
The page's only outside reference is textual-serve's web font, and its CSS
falls back to local monospace fonts, so it works offline. It binds to
127.0.0.1 unless told otherwise: a trace holds prompts, code and outputs.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def serve_command(path: Path | None, *, follow: bool = False) -> str:
    """The command textual-serve runs per browser tab."""
    parts = [sys.executable, "-m", "trace_viewer.app"]
    if path is not None:
        parts.append(str(path.resolve()))
    if follow:
        parts.append("--follow")
    return shlex.join(parts)


def make_server(path: Path | None, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, follow: bool = False):  # type: ignore[no-untyped-def]
    """A textual-serve ``Server`` for the viewer on ``path`` (not started)."""
    from textual_serve.server import Server

    title = f"trace-viewer {path.name}" if path is not None else "trace-viewer"
    return Server(serve_command(path, follow=follow), host=host, port=port, title=title)


def serve(path: Path | None, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, follow: bool = False) -> int:
    server = make_server(path, host=host, port=port, follow=follow)
    print(f"trace-viewer: serving {path or 'the sample bundle'} on http://{host}:{port} (Ctrl+C stops)", flush=True)
    server.serve()
    return 0
