#!/usr/bin/env python3
"""Write screenshots of the viewer into screenshots/ (SVG always; PNG too when cairosvg is installed).

    python scripts/screenshots.py            # all shots
    python scripts/screenshots.py --list     # names and what they show

Each shot opens a bundled sample at a fixed terminal size and presses keys as
a person would, so the images are reproducible and match the README.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from trace_viewer.app.main import TraceViewerApp


@dataclass(frozen=True)
class Shot:
    name: str
    sample: str
    keys: tuple[str, ...]
    size: tuple[int, int]
    caption: str


SHOTS = (
    Shot("overview", "compaction_remote_midturn", (), (120, 36), "A finished trace, at its last event"),
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
        "Diff: what changed in the context since the thread's previous model call",
    ),
    Shot("inspector", "exec_basic", ("g", "right_square_bracket", "i"), (120, 36), "Inspector: raw event and payload"),
    Shot("usage", "compaction_remote_midturn", ("u",), (120, 36), "Usage: tokens, context size per call, composition"),
    Shot("multi_agent", "agents_minimal", ("t",), (120, 36), "A spawned child thread's context"),
    Shot("broken", "broken_last_line_cut", (), (100, 30), "A torn bundle: the fault where it happened"),
    Shot("small_terminal", "compaction_remote_midturn", (), (80, 24), "80×24"),
    Shot("help", "exec_basic", ("question_mark",), (110, 36), "Every key (also in the command palette, ctrl+p)"),
)


async def take(shot: Shot, out: Path) -> Path:
    app = TraceViewerApp(ROOT / "sample_traces" / shot.sample)
    async with app.run_test(size=shot.size) as pilot:
        await pilot.pause()
        for key in shot.keys:
            await pilot.press(key)
            await pilot.pause()
        svg = app.export_screenshot(title=f"trace-viewer — {shot.caption}")
    path = out / f"{shot.name}.svg"
    path.write_text(svg, encoding="utf-8")
    return path


def to_png(svg: Path) -> Path | None:
    try:
        import cairosvg  # type: ignore[import-not-found]
    except ImportError:
        return None
    png = svg.with_suffix(".png")
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
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for shot in SHOTS:
        if args.names and shot.name not in args.names:
            continue
        svg = asyncio.run(take(shot, out))
        png = to_png(svg)
        print(f"{svg.relative_to(ROOT) if svg.is_relative_to(ROOT) else svg}" + (f"  {png.name}" if png else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
