"""The package's import structure: no circles, no upward imports, no private names across modules.

Every module of ``lmle_core`` is parsed with ``ast`` (imports at any depth, inside functions and
``if TYPE_CHECKING`` blocks too, since an import hidden in a function is still a dependency).

The layers, lowest first. A unit (a top-level module or package of ``lmle_core``) may import units
of its own layer or a lower one, never a higher one; circles are checked separately (between
units and between modules). A new top-level module must be placed here.
"""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lmle_core"

LAYERS = [
    # L0 foundations: argument checks, data readers and caches, neighbour search, samplers, nets, metrics
    {"checks", "distributed", "data", "runcache", "search", "sampling", "nets", "imageset", "metrics"},
    # L1 clusters, kNN and mining (quintuplet tables, CRL hard mining)
    {"clustering", "knn", "mining"},
    # L2 losses, decision rules as estimators, collapse diagnostics of an embedding
    {"losses", "classifiers", "diagnostics"},
    # L3 methods: registry, objectives, budget
    {"methods"},
    # L4 the one training loop
    {"training"},
    # L5 task families and prepared tasks
    {"tasks", "attributes", "edges"},
    # L6 running a method on a task
    {"experiments"},
    # L7 the batch study: runner, reports, notebook helpers
    {"study"},
]
LAYER_OF = {unit: i for i, units in enumerate(LAYERS) for unit in units}


def _modules() -> dict[str, tuple[Path, bool]]:
    """Dotted name -> (file, is_package) for every module of lmle_core."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        out[".".join(parts)] = (path, is_package)
    return out


MODULES = _modules()


def _from_target(name: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` statement of module ``name`` reads from."""
    if not node.level:
        return node.module or ""
    base = name.split(".") if is_package else name.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _from_edge(target: str, alias: ast.alias, line: int):
    # ``from pkg import submodule`` depends on the submodule, not only on the package
    sub = f"{target}.{alias.name}"
    return (sub, None, line) if sub in MODULES else (target, alias.name, line)


def _imports(name: str, path: Path, is_package: bool):
    """(target module, imported name or None, line) for every lmle_core import of one module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "lmle_core":
                    yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            target = _from_target(name, is_package, node)
            if target.split(".")[0] == "lmle_core":
                for alias in node.names:
                    yield _from_edge(target, alias, node.lineno)


EDGES = [(src, tgt, imported, line) for src, (path, pkg) in MODULES.items()
         for tgt, imported, line in _imports(src, path, pkg)]


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in list(graph):
        if v not in index:
            visit(v)
    return found


def test_the_parser_sees_known_imports():
    # the checks below are only as good as the edge list: a few imports known to exist
    pairs = {(s, t) for s, t, _, _ in EDGES}
    assert ("lmle_core.training.loop", "lmle_core.methods") in pairs or any(
        s == "lmle_core.training.loop" and t.startswith("lmle_core.methods") for s, t in pairs)
    assert any(s.startswith("lmle_core.losses") and t.startswith("lmle_core.mining") for s, t in pairs)
    assert len(MODULES) > 50 and len(EDGES) > 200


def test_every_unit_has_a_layer():
    units = {_unit(m) for m in MODULES} - {""}
    assert units - set(LAYER_OF) == set(), "place the new top-level module in LAYERS"
    assert set(LAYER_OF) - units == set(), "LAYERS names a unit that no longer exists"


def test_no_upward_import():
    upward = sorted(f"{s}:{line} imports {t} (layer {LAYER_OF[_unit(s)]} -> {LAYER_OF[_unit(t)]})"
                    for s, t, _, line in EDGES
                    if _unit(s) and _unit(t) and LAYER_OF[_unit(t)] > LAYER_OF[_unit(s)])
    assert upward == []


def test_no_import_circle_between_units():
    graph = defaultdict(set)
    for s, t, _, _ in EDGES:
        if _unit(s) and _unit(t) and _unit(s) != _unit(t):
            graph[_unit(s)].add(_unit(t))
    assert _cycles(graph) == []


def test_no_import_circle_between_modules():
    graph = defaultdict(set)
    for s, t, _, _ in EDGES:
        if s != t:
            graph[s].add(t)
    assert _cycles(graph) == []


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_no_private_name_crosses_modules():
    crossing = [f"{s}:{line} imports {t}.{name}" for s, t, name, line in EDGES
                if name is not None and _is_private(name) and t != s]
    assert crossing == []


def test_private_modules_stay_in_their_package():
    # lmle_core.data._fileio may be imported by lmle_core.data.*, not by lmle_core.runcache
    crossing = []
    for s, t, _, line in EDGES:
        parts = t.split(".")
        for i, part in enumerate(parts):
            if _is_private(part) and not s.startswith(".".join(parts[:i]) + "."):
                crossing.append(f"{s}:{line} imports {t}")
    assert crossing == []


def test_no_private_attribute_of_another_module():
    # ``from lmle_core import training; training._autocast(...)`` crosses modules as well
    crossing = []
    for src, (path, is_package) in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        bound = {}   # local name -> the lmle_core module it is bound to
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                target = _from_target(src, is_package, node)
                for alias in node.names:
                    module, imported, _ = _from_edge(target, alias, node.lineno)
                    if imported is None and target.split(".")[0] == "lmle_core":
                        bound[alias.asname or alias.name] = module
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "lmle_core" and alias.asname:
                        bound[alias.asname] = alias.name
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in bound and _is_private(node.attr) and bound[node.value.id] != src):
                crossing.append(f"{src}:{node.lineno} uses {bound[node.value.id]}.{node.attr}")
    assert crossing == []


@pytest.mark.parametrize("source, expected", [
    # the checker itself, on hand-made graphs: it must find what is there
    ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
    ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
])
def test_cycle_finder_on_hand_made_graphs(source, expected):
    assert _cycles(source) == expected
