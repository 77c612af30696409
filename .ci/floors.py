"""Print the lowest versions pyproject.toml allows of the runtime dependencies, as pip pins.

For the running Python (environment markers are evaluated), one ``name==version`` per line, so
``pip install $(python .ci/floors.py)`` makes a venv with exactly the declared minimums. Every
dependency must have a ``>=`` floor; anything else is an error (a floor CI cannot test is a guess).
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def floors() -> list[str]:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    pins = []
    for line in project["dependencies"]:
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        lows = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        if len(lows) != 1:
            raise SystemExit(f"{PYPROJECT.name}: {line!r} has no single '>=' floor")
        pins.append(f"{requirement.name}=={lows[0]}")
    return pins


if __name__ == "__main__":
    print("\n".join(floors()))
    sys.exit(0)
