"""Configuration problems: what is wrong, at which key, from which file, and one error for all.

:func:`structure_problems` flattens a ``cattrs`` structuring error with ``cattrs.transform_error``
into :class:`Problem` values (dotted key path, the file or variable the value came from, a
one-line message that never shows a secret, a hint); :func:`config_error` turns any number of
problems into one :class:`~juxsdk.errors.ConfigError`.
"""

from __future__ import annotations

import ast
import enum
import os
import re
import types
import typing
from collections.abc import Iterable, Mapping, MutableMapping, MutableSequence, Sequence
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any, Final, Literal

import attrs

from ..errors import ConfigError
from .secret import MASK, Secret, is_secret_ref

__all__ = [
    "OMIT",
    "SOURCE_ARGUMENT",
    "SOURCE_DEFAULT",
    "Problem",
    "config_error",
    "structure_problems",
    "without_duplicates",
]


SOURCE_DEFAULT: Final = "default"


SOURCE_ARGUMENT: Final = "argument"


#: Field metadata: the field is not read from configuration (``JuxConfig.sources``, ``files``).
OMIT: Final = "juxsdk.config.omit"


class _Invalid(ValueError):
    """A value failed a strict check. The message never contains the value (except enums)."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


def _kind(value: Any) -> str:
    """Describe a value's TOML type without showing the value."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Secret) or is_secret_ref(value):
        return "a secret reference"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple | set | frozenset):
        return "an array"
    return f"a {type(value).__name__}"


def _describe(tp: Any) -> str:
    """Describe what a type expects, in TOML words."""
    inner, _ = _strip_optional(tp)
    origin = typing.get_origin(inner)
    if inner is str:
        return "a string"
    if inner is bool:
        return "a boolean (true or false)"
    if inner is int:
        return "an integer"
    if inner is float:
        return "a number"
    if isinstance(inner, type) and issubclass(inner, Path):
        return "a path (string)"
    if inner is Secret:
        return 'a secret ({env = "VAR"}, {file = "path"} or a string)'
    if isinstance(inner, type) and issubclass(inner, enum.Enum):
        return "one of " + ", ".join(str(m.value) for m in inner)
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in typing.get_args(inner))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(inner) if a is not type(None))
    if _is_sequence_type(inner):
        args = typing.get_args(inner)
        if args and args[-1] is not Ellipsis and origin is tuple and len(args) > 1:
            return f"an array of {len(args)} items"
        elem = _strip_optional(args[0])[0] if args else Any
        plural = {str: "strings", int: "integers", float: "numbers", bool: "booleans", Path: "paths"}
        return f"an array of {plural.get(elem, 'values')}"
    if _is_mapping_type(inner) or (isinstance(inner, type) and attrs.has(inner)):
        return "a table"
    if inner is Any:
        return "any value"
    return getattr(inner, "__name__", repr(inner))


def _strip_optional(tp: Any) -> tuple[Any, bool]:
    """Split ``X | None`` into ``(X, True)``; other types into ``(tp, False)``."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        rest = tuple(a for a in args if a is not type(None))
        if len(rest) != len(args):
            if len(rest) == 1:
                return rest[0], True
            return typing.Union[rest], True  # noqa: UP007 - built from a tuple at runtime
    return tp, False


def _is_sequence_type(tp: Any) -> bool:
    origin = typing.get_origin(tp) or tp
    return origin in (tuple, list, set, frozenset, Sequence, MutableSequence, AbstractSet)


def _is_mapping_type(tp: Any) -> bool:
    origin = typing.get_origin(tp) or tp
    return origin in (dict, Mapping, MutableMapping)


@attrs.frozen
class Problem:
    """One configuration problem.

    Attributes:
        key: Dotted key path (``"outbox.max_attempts"``, ``"stores[1]"``,
            ``"backends.http.timeout_read"``).
        source: Where the value came from: a file's absolute path, ``"env JUX_…"``,
            ``"argument"``…, or ``None`` (a default, a missing key).
        message: What is wrong, never showing a secret (and, except enum values, no value).
        hint: What to do about it, or ``None``.
    """

    key: str
    source: str | None
    message: str
    hint: str | None = None

    def line(self) -> str:
        """``<file>: <key>: <message>`` (``tool.jux.`` before the key in a pyproject.toml).

        A problem with no key (a whole file: unreadable, invalid TOML) is its message alone.
        """
        return f"{_where(self.key, self.source)}: {self.message}" if self.key else self.message


def config_error(problems: Sequence[Problem], secrets: Iterable[str] = ()) -> ConfigError:
    """One :class:`ConfigError` for every problem found.

    One problem: ``message`` is its line, ``hint`` its hint. Several: ``message`` is
    ``"N configuration problems"`` followed by one indented line per problem (each followed by
    an indented ``hint:`` line when it has one), and ``hint`` says where to look.

    Args:
        problems: At least one problem.
        secrets: Plain-text secret values to scrub from the text (values shorter than 4
            characters are not scrubbed).
    """
    shown = [s for s in secrets if len(s) >= 4]
    if len(problems) == 1:
        only = problems[0]
        return ConfigError(_scrub(only.line(), shown), hint=_scrub(only.hint, shown) if only.hint else None)
    lines = [f"{len(problems)} configuration problems"]
    for p in problems:
        lines.append(f"  {p.line()}")
        if p.hint:
            lines.append(f"    hint: {p.hint}")
    return ConfigError(_scrub("\n".join(lines), shown),
                       hint="fix each problem listed; `jux config show` tells where every value comes from")


def without_duplicates(found: Iterable[Problem], known: Sequence[Problem]) -> list[Problem]:
    """``found`` without the problems about a key that ``known`` already reports."""
    keys = {p.key for p in known}
    return [p for p in found if p.key not in keys]


_STEP = re.compile(r"""\.(?P<name>\w+)|\[(?P<index>-?\d+|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")\]""")


def _parse_path(text: str) -> tuple[str | int, ...]:
    """``$.a.b[0]['k']`` (a ``cattrs.transform_error`` path) -> ``("a", "b", 0, "k")``."""
    parts: list[str | int] = []
    pos = 1  # after "$"
    while pos < len(text):
        m = _STEP.match(text, pos)
        if m is None:  # pragma: no cover - transform_error writes only these steps
            parts.append(text[pos:])
            break
        parts.append(m["name"] if m["name"] is not None else ast.literal_eval(m["index"]))
        pos = m.end()
    return tuple(parts)


def _dotted(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + part
    return out


_MISSING: Final = object()


def _lookup(tree: Any, path: Sequence[str | int]) -> Any:
    for part in path:
        if isinstance(part, int) and isinstance(tree, list | tuple) and -len(tree) <= part < len(tree):
            tree = tree[part]
        elif isinstance(tree, Mapping) and part in tree:
            tree = tree[part]
        else:
            return _MISSING
    return tree


def structure_problems(exc: BaseException, tree: Any, prefix: tuple[str, ...],
                       sources: Mapping[str, str]) -> list[Problem]:
    """Every problem in a cattrs structuring error, with key paths, sources and the raw values.

    Args:
        exc: What the converter raised (a ``ClassValidationError`` tree, or a leaf error).
        tree: The prepared tree that was structured (to describe the offending values).
        prefix: Key path of ``tree`` (``("backends", "http")`` for an options table).
        sources: Where each dotted key's value came from.
    """
    from cattrs import transform_error
    from cattrs.errors import ForbiddenExtraKeysError

    leaves: list[tuple[BaseException, Any]] = []

    def record(leaf: BaseException, tp: Any) -> str:
        leaves.append((leaf, tp))
        return str(len(leaves) - 1)

    problems: list[Problem] = []
    for line in transform_error(exc, "$", record):
        index, _, where = line.partition(" @ ")
        leaf, tp = leaves[int(index)]
        path = _parse_path(where)
        if isinstance(leaf, ForbiddenExtraKeysError):
            cls = leaf.cl
            allowed = sorted(f.name for f in attrs.fields(cls) if not f.metadata.get(OMIT)) if attrs.has(cls) else []
            for key in sorted(leaf.extra_fields):
                dotted = _dotted((*prefix, *path, key))
                problems.append(Problem(dotted, _source_for(dotted, sources), "unknown key",
                                        f"allowed keys here: {', '.join(allowed) or 'none'}"))
            continue
        dotted = _dotted((*prefix, *path))
        message, hint = _problem(leaf, tp, _lookup(tree, path), dotted)
        problems.append(Problem(dotted, _source_for(dotted, sources), message, hint))
    return problems


def _source_for(dotted: str, sources: Mapping[str, str]) -> str | None:
    """Where the value at ``dotted`` came from: itself, else a child, else its nearest parent."""
    parts = re.sub(r"\[\d+\]", "", dotted).split(".")
    for i in range(len(parts), 0, -1):  # itself, else a sibling's or an ancestor's source
        base = ".".join(parts[:i])
        if base in sources:
            return sources[base]
        children = sorted(k for k in sources if k.startswith(base + "."))
        if children and (i == len(parts) or i > 1):
            return sources[children[0]]
    return None


def _is_file_label(label: str | None) -> bool:
    return bool(label) and label not in (SOURCE_DEFAULT, SOURCE_ARGUMENT) and os.path.isabs(str(label))


def _where(dotted: str, label: str | None) -> str:
    """``file: tool.jux.key`` / ``key (env JUX_KEY)`` / ``key (argument)`` / ``key``."""
    if label and _is_file_label(label):
        shown = f"tool.jux.{dotted}" if Path(label).name == "pyproject.toml" else dotted
        return f"{label}: {shown}"
    if label and label != SOURCE_DEFAULT:
        return f"{dotted} ({label})"
    return dotted


def _problem(exc: BaseException, tp: Any, value: Any, dotted: str) -> tuple[str, str | None]:
    """One-line description and hint of a leaf error, never showing the offending value."""
    from cattrs.errors import StructureHandlerNotFoundError

    inner, _ = _strip_optional(tp)
    if isinstance(exc, _Invalid):
        return str(exc), exc.hint
    if isinstance(exc, ConfigError):
        return exc.message, exc.hint
    if isinstance(exc, KeyError) and value is _MISSING:
        return "required key is missing", f"set {dotted} ({_describe(tp)})"
    if (isinstance(inner, type) and issubclass(inner, enum.Enum)) or typing.get_origin(inner) is Literal:
        members: Iterable[Any] = ([m.value for m in typing.cast(type[enum.Enum], inner)] if isinstance(inner, type)
                                  else typing.get_args(inner))
        allowed = [str(m) for m in members]
        shown = f" {value!r}" if isinstance(value, str) and len(value) <= 40 else ""
        return (f"invalid value{shown}; expected one of: {', '.join(allowed)}",
                "allowed values: " + ", ".join(allowed))
    if isinstance(exc, StructureHandlerNotFoundError):
        return f"unsupported option type {_describe(tp)}", "this is a bug in the backend's Options class"
    if tp is not None and value is not _MISSING:
        return f"expected {_describe(tp)}, got {_kind(value)}", None
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"invalid value: {detail}", None


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for s in secrets:
        if s:
            text = text.replace(s, MASK)
    return text
