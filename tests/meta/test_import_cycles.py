"""The shape of ``src/`` (issue 11, item 8): no import cycle, no module over 800 lines.

The import graph is built from the source with :mod:`ast`. Every ``import`` / ``from … import``
statement **anywhere** in a module counts — at module level, inside functions and methods,
inside ``try`` blocks — because an import inside a function hides a cycle from Python, not from
a reader. How a statement becomes edges between the modules of ``juxsdk`` and
``juxsdk_backends``:

* ``import a.b.c`` and ``from a.b.c import n`` are edges to ``a.b.c`` and to each package
  ``a`` / ``a.b`` whose ``__init__`` Python runs first — except the importing module's own
  ancestors (Python has already started importing them);
* ``from a.b import n`` is also an edge to ``a.b.n`` when that is a module; relative imports are
  resolved against the importing module's package;
* a module that re-exports names lazily (a module-level ``__getattr__`` over a ``_LAZY`` map:
  ``juxsdk``, ``juxsdk.config``, ``juxsdk.plugin``, ``juxsdk.testing``) runs the import of the
  defining module when the name is taken: ``from juxsdk.plugin import decide_put`` is an edge
  to ``juxsdk.plugin`` *and* to ``juxsdk.store_rules``;
* ``importlib.import_module("<literal>")`` is an edge too;
* statements under ``if TYPE_CHECKING:`` never run and give no edge.

A cycle is reported with a path through it (``a -> b -> a``).
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

import juxsdk

SRC = Path(juxsdk.__file__).resolve().parent.parent
ROOTS = ("juxsdk", "juxsdk_backends")
MAX_LINES = 800


def _module_files() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for root in ROOTS:
        for path in sorted((SRC / root).rglob("*.py")):
            parts = list(path.relative_to(SRC).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


MODULES = _module_files()


def _package_of(module: str, modules: dict[str, Path]) -> str:
    path = modules.get(module)
    return module if path is not None and path.name == "__init__.py" else module.rpartition(".")[0]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node of ``tree`` except the bodies of ``if TYPE_CHECKING:`` blocks."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                stack.extend(child.orelse)
            else:
                stack.append(child)


def _lazy_map(module: str) -> dict[str, str]:
    """Name -> defining module, for a module that re-exports lazily (``__getattr__`` + ``_LAZY``)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    if not any(isinstance(n, ast.FunctionDef) and n.name == "__getattr__" for n in tree.body):
        return {}
    lazy = getattr(importlib.import_module(module), "_LAZY", {})
    package = _package_of(module, MODULES)
    return {name: target if target.startswith(ROOTS) else f"{package}.{target}" for name, target in lazy.items()}


LAZY = {module: found for module in MODULES if (found := _lazy_map(module))}


def edges(module: str, source: str, modules: dict[str, Path] = MODULES,
          lazy: dict[str, dict[str, str]] = LAZY) -> set[str]:
    """The internal modules that running ``source`` (the text of ``module``) imports."""
    found: set[str] = set()

    def add(imported: str) -> None:
        parts = imported.split(".")
        for i in range(1, len(parts) + 1):
            name = ".".join(parts[:i])
            if name in modules and name != module and not module.startswith(name + "."):
                found.add(name)

    for node in _runtime_nodes(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = _package_of(module, modules).split(".")
                base = ".".join([*package[: len(package) - node.level + 1], *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            add(base)
            for alias in node.names:
                if f"{base}.{alias.name}" in modules:
                    add(f"{base}.{alias.name}")
                elif alias.name in lazy.get(base, {}):
                    add(lazy[base][alias.name])
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            add(node.args[0].value)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the internal modules its execution imports (see the module docstring)."""
    return {module: edges(module, path.read_text(encoding="utf-8")) for module, path in MODULES.items()}


def components(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, targets = work[-1]
            for nxt in targets:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(frozenset(component))
    return found


def cycle_path(graph: dict[str, set[str]], component: frozenset[str]) -> list[str]:
    """A shortest cycle through the first module of ``component``: ``[a, b, …, a]``."""
    start = min(component)
    previous: dict[str, str] = {}
    queue = [start]
    while queue:
        nxt = []
        for v in queue:
            for w in sorted(graph[v] & component):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if w not in previous:
                    previous[w] = v
                    nxt.append(w)
        queue = nxt
    raise AssertionError(f"no cycle through {start}")  # pragma: no cover - a component has one


def test_the_graph_sees_function_level_relative_lazy_and_dynamic_imports() -> None:
    fake = {name: Path(f"{name.replace('.', '/')}.py") for name in ("p.a", "p.b", "p.c", "p.d", "p.e")}
    fake["p"] = Path("p/__init__.py")
    source = (
        "from typing import TYPE_CHECKING\n"
        "import importlib\n"
        "if TYPE_CHECKING:\n    from p import e\n"
        "def f():\n    from . import b\n    from .c import x\n"
        "def g():\n    from p import lazy_name\n    importlib.import_module('p.e')\n"
    )
    assert edges("p.a", source, fake, {"p": {"lazy_name": "p.d"}}) == {"p.b", "p.c", "p.d", "p.e"}
    assert edges("p.a", "import p.b\n", fake, {}) == {"p.b"}  # not its own package
    assert edges("q", "import p.b\n", {**fake, "q": Path("q.py")}, {}) == {"p", "p.b"}

    graph = import_graph()
    assert "juxsdk.outbox" in graph["juxsdk.client"]  # a function-level import (Jux.outbox)
    assert "juxsdk.storage_mode" in graph["juxsdk.config.model"]  # a relative one, two levels up
    assert "juxsdk.outbox.db" in graph["juxsdk.outbox.drain"]  # `from . import db`
    assert "juxsdk.outbox" not in graph["juxsdk.storage_mode"]  # under TYPE_CHECKING only
    assert {"juxsdk.plugin", "juxsdk.store_rules"} <= graph["juxsdk_backends.filesystem"]  # lazy re-export


def test_cycles_are_found_and_shown_with_a_path() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": {"d2"}, "d2": {"d"}, "e": {"a"}}
    found = components(graph)
    assert sorted(found, key=min) == [frozenset("abc"), frozenset({"d", "d2"})]
    assert cycle_path(graph, frozenset("abc")) == ["a", "b", "c", "a"]
    assert components({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_src() -> None:
    graph = import_graph()
    cycles = [" -> ".join(cycle_path(graph, c)) for c in components(graph)]
    assert not cycles, "import cycles in src/ (imports inside functions count):\n" + "\n".join(cycles)


def test_the_publish_path_does_not_import_the_facade() -> None:
    """Nothing below :class:`juxsdk.Jux` (storage modes, the outbox) imports ``juxsdk.client``."""
    graph = import_graph()
    below = {m for m in graph if m == "juxsdk.storage_mode" or m == "juxsdk.outbox" or m.startswith("juxsdk.outbox.")}
    assert below and not any("juxsdk.client" in graph[m] for m in below)


def test_no_module_over_800_lines() -> None:
    sizes = {path.relative_to(SRC).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
             for path in MODULES.values()}
    too_long = {rel: n for rel, n in sizes.items() if n > MAX_LINES}
    assert not too_long, f"modules over {MAX_LINES} lines (split them by idea): {too_long}"


if __name__ == "__main__":  # pragma: no cover - a map for people: python tests/meta/test_import_cycles.py
    g = import_graph()
    for c in components(g):
        print(" -> ".join(cycle_path(g, c)))
