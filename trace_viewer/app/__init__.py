"""The terminal viewer (Textual). ``run`` is what the CLI calls.

Textual is imported only inside ``run`` so that importing this package (for
``views`` or ``locate``) stays cheap for the CLI's non-UI commands.
"""

from __future__ import annotations

import sys

from trace_viewer.app.locate import resolve_target


def run(path: str | None, follow: bool = False) -> int:
    """Open the viewer on PATH (a bundle, a rollout, a folder of either); no PATH: the newest trace or session, or a sample."""
    target = resolve_target(path, follow=follow)
    if target.error is not None:
        print(f"trace-viewer: {target.error}", file=sys.stderr)
        return 2
    from trace_viewer.app.main import TraceViewerApp

    app = TraceViewerApp(target.path, follow=follow, picker=target.picker, sessions=target.sessions, note=target.note)
    result = app.run()
    return int(result or app.return_code or 0)


__all__ = ["resolve_target", "run"]
