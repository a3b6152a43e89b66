"""No import cycle in ``src/`` (imports inside functions count), no module over 800 lines.

The graph is built from the source with :mod:`ast`: every ``import`` / ``from … import``
statement anywhere in a module — at module level or inside a function — is an edge to the
``juxsdk``/``juxsdk_backends`` module it names (``from pkg import sub`` names ``pkg.sub`` when
that is a module). Two kinds of statements are left out because they never run an import at
run time: those under ``if TYPE_CHECKING:``, and a submodule's imports of its own parent
packages (Python has already started importing them).
"""

from __future__ import annotations

import ast
from pathlib import Path

import juxsdk

SRC = Path(juxsdk.__file__).resolve().parent.parent
ROOTS = (SRC / "juxsdk", SRC / "juxsdk_backends")

#: Cycles that predate this test, each to be broken by the work that owns those modules. A new
#: cycle fails the test; so does one of these once it is gone (remove it from here then).
KNOWN_CYCLES: set[frozenset[str]] = {
    # models.VerifiedReport.signed_content -> canonical -> junit (parse_xml) -> models
    frozenset({"juxsdk.models", "juxsdk.canonical", "juxsdk.junit"}),
    # cli._batch <-> cli.sign_cmd
    frozenset({"juxsdk.cli._batch", "juxsdk.cli.sign_cmd"}),
}

#: Modules over the limit that predate this test (owned by other work).
KNOWN_LARGE = {"juxsdk_backends/s3.py", "juxsdk_backends/filesystem.py"}


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for root in ROOTS:
        for path in root.rglob("*.py"):
            parts = list(path.relative_to(SRC).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _edges(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()

    def add(target: str) -> None:
        parts = target.split(".")
        for i in range(1, len(parts) + 1):
            candidate = ".".join(parts[:i])
            # importing a.b.c runs a and a.b first: edges to them, except to our own ancestors
            if candidate in modules and candidate != name and not name.startswith(candidate + "."):
                out.add(candidate)

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    add(alias.name)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    module = ".".join([*base, *([child.module] if child.module else [])])
                else:
                    module = child.module or ""
                add(module)
                for alias in child.names:
                    if f"{module}.{alias.name}" in modules:
                        add(f"{module}.{alias.name}")
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return out


def _cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
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


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _edges(name, path, modules) for name, path in modules.items()}


def test_the_graph_sees_function_level_and_relative_imports() -> None:
    graph = _graph()
    assert "juxsdk.outbox" in graph["juxsdk.client"]  # a function-level import (Jux.outbox)
    assert "juxsdk.storage_mode" in graph["juxsdk.config.model"]  # a relative one, two levels up
    assert "juxsdk.outbox.db" in graph["juxsdk.outbox.drain"]  # `from . import db`
    assert "juxsdk.outbox" not in graph["juxsdk.storage_mode"]  # under TYPE_CHECKING only
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset("abc")]


def test_no_import_cycle_in_src() -> None:
    cycles = set(_cycles(_graph()))
    new = sorted(sorted(c) for c in cycles - KNOWN_CYCLES)
    assert not new, f"import cycles: {new}"
    gone = sorted(sorted(c) for c in KNOWN_CYCLES - cycles)
    assert not gone, f"these cycles are gone: remove them from KNOWN_CYCLES: {gone}"


def test_the_publish_path_is_acyclic() -> None:
    """The facade, the storage modes and the outbox are in no cycle; nothing below imports the facade.

    (``juxsdk.models``, which holds the outcome values, is in the known models/canonical/junit
    cycle through ``VerifiedReport.signed_content``, which the publish path never touches.)
    """
    graph = _graph()
    publish = {m for m in graph if m in ("juxsdk.client", "juxsdk.storage_mode") or m.startswith("juxsdk.outbox")}
    for cycle in _cycles(graph):
        assert not cycle & publish, sorted(cycle)
    assert "juxsdk.client" not in {dep for m in publish - {"juxsdk.client"} for dep in graph[m]}


def test_no_module_over_800_lines() -> None:
    large = {str(p.relative_to(SRC)) for root in ROOTS for p in root.rglob("*.py")
             if len(p.read_text(encoding="utf-8").splitlines()) > 800}
    assert large <= KNOWN_LARGE, sorted(large - KNOWN_LARGE)
