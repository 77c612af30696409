"""``python -m trace_viewer.app [PATH] [--follow]``: always the interactive viewer, never the summary.

This is the serving path: ``trace-viewer serve`` runs it for each browser tab,
where stdout is not a terminal (the CLI's ``trace-viewer PATH`` would print the
summary there instead).
"""

from __future__ import annotations

import argparse
import sys

from trace_viewer.app import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trace_viewer.app")
    parser.add_argument("path", nargs="?")
    parser.add_argument("--follow", action="store_true")
    args = parser.parse_args(argv)
    return run(args.path, args.follow)


if __name__ == "__main__":
    sys.exit(main())
