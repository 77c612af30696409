"""The package's structure: no import cycles, layers import only downward, handlers named after events.

The import graph is read from the source (every ``import`` statement, including those inside
functions and under ``TYPE_CHECKING``), so a cycle is found even when no run happens to trigger it.
"""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
from pathlib import Path

import pytest

from trace_viewer.model import RolloutTrace
from trace_viewer.reducer import Reducer
from trace_viewer.reducer.events import EVENT_TYPES

PACKAGE = Path(__file__).resolve().parent.parent / "trace_viewer"

# What each top-level part of the package may import (besides itself), from the bottom up.
# `cli` and `__main__` sit on top and may import anything.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "text": set(),
    "samples": set(),
    # Layer 1, reading: bundles, session rollouts, and what a path on the command line opens.
    "bundle": {"errors", "text"},
    "rollout": {"bundle", "errors", "text"},
    "sources": {"bundle", "errors", "rollout", "samples", "text"},
    # Layer 2: the typed state and its reduction (from bundles and from rollouts).
    "model": {"errors"},
    "reducer": {"bundle", "errors", "model", "rollout", "text"},
    # Layer 3: positions, context, summaries, token counts; no UI.
    "session": {"bundle", "errors", "model", "reducer", "rollout", "text"},
    "rollout_session": {"bundle", "errors", "model", "reducer", "rollout", "session", "sources", "text"},
    "context": {"bundle", "errors", "model", "reducer", "rollout", "text"},
    "summary": {"bundle", "errors", "model", "reducer", "rollout", "text"},
    "calls": {"bundle", "errors", "rollout", "text"},
    "tokens": {"bundle", "errors", "model", "reducer", "session", "context", "rollout", "text"},
}


def _modules() -> dict[str, tuple[Path, bool]]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        found[".".join(parts)] = (path, is_package)
    return found


def _owner(name: str, modules: dict[str, tuple[Path, bool]]) -> str:
    """The module of ours that an imported dotted name lives in (the longest known prefix)."""
    while name not in modules:
        name = name.rsplit(".", 1)[0]
    return name


@functools.cache
def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of the package it imports explicitly (a parent package only when named).

    Read once per test process; callers do not change it.
    """
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, (path, is_package) in modules.items():
        package = name if is_package else name.rsplit(".", 1)[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(_owner(a.name, modules) for a in node.names if a.name.startswith("trace_viewer"))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                if not source.startswith("trace_viewer"):
                    continue
                for alias in node.names:
                    submodule = f"{source}.{alias.name}"
                    targets.add(submodule if submodule in modules else _owner(source, modules))
        targets.discard(name)
        graph[name] = targets
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    return cycles


def _part(module: str) -> str:
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else ""


def test_the_import_graph_is_read_from_every_module() -> None:
    graph = import_graph()
    assert "trace_viewer.reducer.reducer" in graph and "trace_viewer.app.screens.viewer" in graph
    assert "trace_viewer.reducer.core" in graph["trace_viewer.reducer.reducer"]
    assert "trace_viewer.model" in graph["trace_viewer.reducer.reducer"]
    assert "trace_viewer.app" in graph["trace_viewer.cli"]  # a function-level import counts too


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e2"}, "e2": set()}
    assert import_cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycles_anywhere_in_the_package() -> None:
    assert import_cycles(import_graph()) == []


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_each_layer_imports_only_downward(part: str) -> None:
    graph = import_graph()
    upward = sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        if _part(module) == part
        for target in targets
        if _part(target) not in ALLOWED[part] | {part}
    )
    assert upward == []


# Run in a fresh interpreter: refuses every module of the package outside the allowed parts (and
# the UI libraries, which only the app needs), then imports each module of one part.
_IMPORT_ALONE = """
import importlib, sys
allowed, modules = set(sys.argv[1].split(",")), sys.argv[2].split(",")
class RefuseUpperLayers:
    def find_spec(self, name, path=None, target=None):
        top, _, rest = name.partition(".")
        part = rest.split(".")[0]
        if (top == "trace_viewer" and part and part not in allowed) or top in ("textual", "textual_serve"):
            raise ImportError(f"{name} is above this layer")
        return None
sys.meta_path.insert(0, RefuseUpperLayers())
for module in modules:
    importlib.import_module(module)
print(len(modules))
"""


def _below(part: str) -> set[str]:
    """The parts ``part`` may reach through others (what it may import, and what those may)."""
    seen: set[str] = set()
    todo = list(ALLOWED[part])
    while todo:
        other = todo.pop()
        if other not in seen:
            seen.add(other)
            todo.extend(ALLOWED.get(other, ()))
    return seen


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_each_layer_is_importable_without_the_ones_above(part: str) -> None:
    """Imported for real, with the layers above it (and textual) made unimportable."""
    modules = sorted(name for name in _modules() if _part(name) == part)
    assert modules, part
    allowed = ",".join(sorted(_below(part) | {part}))
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_ALONE, allowed, ",".join(modules)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == [str(len(modules))]


def test_importing_alone_refuses_an_upper_layer() -> None:
    """The check above can fail: the session layer is refused to a reducer-only interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_ALONE, "bundle,errors,model,reducer,text", "trace_viewer.session"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode != 0 and "trace_viewer.session is above this layer" in done.stderr


def test_only_cli_imports_the_app() -> None:
    graph = import_graph()
    importers = {_part(m) for m, targets in graph.items() for t in targets if _part(t) == "app"} - {"app"}
    assert importers == {"cli"}


def test_handlers_are_named_after_their_events() -> None:
    """Every event type has a handler, and the handler is the method of the same name on its part."""
    reducer = Reducer({"schema_version": 3}, _NoPayloads())
    handlers = reducer._handlers
    assert set(handlers) == set(EVENT_TYPES)
    for event_type, route in handlers.items():
        closure = route.__closure__ or ()
        (handler,) = [
            c.cell_contents for c in closure if callable(c.cell_contents) and not isinstance(c.cell_contents, type)
        ]
        target = getattr(handler, "__func__", handler)
        expected = "_ignore_other" if event_type == "other" else event_type
        assert target.__name__ == expected, (event_type, target.__qualname__)


class _NoPayloads:
    def read(self, ref: object) -> object:
        raise AssertionError("no payload is read")

    def read_text(self, ref: object) -> str:
        raise AssertionError("no payload is read")


def test_the_reduced_graph_is_typed() -> None:
    """No map of the state is declared as bare JSON: every value type is a struct of the model."""
    from typing import get_type_hints

    hints = get_type_hints(RolloutTrace)
    maps = {name: hint for name, hint in hints.items() if getattr(hint, "__origin__", None) is dict}
    assert len(maps) >= 10
    for name, hint in maps.items():
        key, value = hint.__args__
        assert key is str, name
        assert getattr(value, "__module__", "").startswith("trace_viewer.model"), (name, value)
