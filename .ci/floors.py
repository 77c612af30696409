"""Print the lowest versions pyproject.toml allows of the runtime dependencies, as pip pins.

For the running Python (environment markers are evaluated), one ``name==version`` per line, so
``pip install $(python .ci/floors.py)`` makes a venv with exactly the declared minimums. Every
dependency must have a ``>=`` floor; anything else is an error (a floor CI cannot test is a guess).
``--test-tools`` prints the test extra instead, less its exact pins (those are for the snapshot tests,
which the floors run leaves out).
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


def test_tools() -> list[str]:
    """The test extra without its exact pins (the versions the snapshot tests were rendered with)."""
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    tools = []
    for line in project["optional-dependencies"]["test"]:
        requirement = Requirement(line)
        if not any(spec.operator == "==" for spec in requirement.specifier):
            tools.append(str(requirement))
    return tools


if __name__ == "__main__":
    print("\n".join(test_tools() if "--test-tools" in sys.argv[1:] else floors()))
    sys.exit(0)
