"""The "remove a check" mutation operators, as a cosmic-ray operator provider.

cosmic-ray's core operators replace operators, keywords and numbers; none of them deletes a
``raise`` or forces a condition, which is what "delete this check" means for a verifier. These
three do, on cosmic-ray's parso trees:

* ``RemoveRaise``: a ``raise …`` statement (or a bare ``raise``) becomes ``pass``;
* ``ForceConditionTrue`` / ``ForceConditionFalse``: the condition of an ``if`` / ``elif`` and of
  a conditional expression (``a if cond else b``) becomes ``True`` / ``False``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cosmic_ray.operators.operator import Example, Operator
from parso.python.tree import IfStmt, Keyword

Position = tuple[tuple[int, int], tuple[int, int]]


def _is_raise(node: Any) -> bool:
    if node.type == "raise_stmt":
        return True
    # a bare ``raise`` is reduced to its keyword by parso
    return isinstance(node, Keyword) and node.value == "raise" and node.parent.type != "raise_stmt"


class RemoveRaise(Operator):
    """Replace a ``raise`` statement with ``pass``: the check still runs, but refuses nothing."""

    def mutation_positions(self, node: Any) -> Iterator[Position]:
        if _is_raise(node):
            yield (node.start_pos, node.end_pos)

    def mutate(self, node: Any, index: int) -> Any:
        assert index == 0 and _is_raise(node)
        return Keyword("pass", node.start_pos, prefix=node.get_first_leaf().prefix)

    @classmethod
    def examples(cls) -> tuple[Example, ...]:
        return (
            Example("if x:\n    raise E('no') from None\n", "if x:\n    pass\n"),
            Example("try:\n    f()\nexcept E:\n    raise\n", "try:\n    f()\nexcept E:\n    pass\n"),
        )


def _conditions(node: Any) -> list[Any]:
    """The condition nodes of an if/elif statement or a conditional expression."""
    if isinstance(node, IfStmt):
        children = node.children
        return [children[i + 1] for i, c in enumerate(children) if c.type == "keyword" and c.value in ("if", "elif")]
    if node.type == "test" and len(node.children) == 5 and node.children[1] == "if":
        return [node.children[2]]
    return []


class _ForceCondition(Operator):
    value = "True"

    def mutation_positions(self, node: Any) -> Iterator[Position]:
        for cond in _conditions(node):
            yield (cond.start_pos, cond.end_pos)

    def mutate(self, node: Any, index: int) -> Any:
        cond = _conditions(node)[index]
        forced = Keyword(self.value, cond.start_pos, prefix=cond.get_first_leaf().prefix)
        node.children[node.children.index(cond)] = forced
        forced.parent = node
        return node


class ForceConditionTrue(_ForceCondition):
    """Force an ``if``/``elif``/conditional-expression condition to ``True``."""

    value = "True"

    @classmethod
    def examples(cls) -> tuple[Example, ...]:
        return (
            Example(
                "if a and b:\n    pass\nelif c:\n    pass\n",
                "if a and b:\n    pass\nelif True:\n    pass\n",
                occurrence=1,
            ),
            Example("y = 1 if z else 2", "y = 1 if True else 2"),
        )


class ForceConditionFalse(_ForceCondition):
    """Force an ``if``/``elif``/conditional-expression condition to ``False``."""

    value = "False"

    @classmethod
    def examples(cls) -> tuple[Example, ...]:
        return (Example("if a and b:\n    pass\n", "if False:\n    pass\n"),)


_OPERATORS: dict[str, type[Operator]] = {
    op.__name__: op for op in (RemoveRaise, ForceConditionTrue, ForceConditionFalse)
}


class OperatorProvider:
    """cosmic-ray operator provider ``jux``."""

    def __iter__(self) -> Iterator[str]:
        return iter(_OPERATORS)

    def __getitem__(self, name: str) -> type[Operator]:
        return _OPERATORS[name]
