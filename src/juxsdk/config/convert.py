"""Strict conversion of raw configuration trees into attrs classes.

A private ``cattrs`` converter does the structural work with its own handling of attrs classes
(``forbid_extra_keys``, detailed validation), lists, tuples, dicts, optionals, ``Literal`` and
enums. This module adds only what cattrs does not do strictly:

* primitive hooks that never coerce (``"false"`` is not a boolean, ``"3"`` is not an integer, a
  float must be finite, an integer fits in 64 bits), the :class:`~juxsdk.config.secret.Secret`
  hook, and a guard that an array is an array (cattrs would iterate a string);
* the :class:`~juxsdk.config.numbers.Range` of each numeric field, checked while structuring;
* field metadata :data:`~juxsdk.config.problems.OMIT` (not read from configuration) and
  :data:`STRUCTURE` (a field's own hook);
* conversion of ``JUX_*`` environment strings by the target field's type, and resolution of
  relative paths against the file that set them (:func:`_prepare`).

Problems are reported by :mod:`juxsdk.config.problems`. ``cattrs`` itself is imported on first
use (it costs ~50 ms).
"""

from __future__ import annotations

import functools
import math
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

import attrs

from ..errors import PluginError
from .numbers import Range, range_of
from .problems import (
    OMIT,
    Problem,
    _describe,
    _Invalid,
    _is_file_label,
    _is_mapping_type,
    _is_sequence_type,
    _kind,
    _source_for,
    _strip_optional,
    config_error,
    structure_problems,
    without_duplicates,
)
from .secret import Secret, is_secret_ref, looks_secret

if TYPE_CHECKING:
    import cattrs

__all__ = ["STRUCTURE", "structure_backend_tables", "structure_options"]

T = TypeVar("T")


#: Field metadata: the field's own structure hook ``(value, type) -> value``.
STRUCTURE: Final = "juxsdk.config.structure"


# =========================================================================================
# Strict hooks
# =========================================================================================


def _s_str(value: Any, _: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"expected a string, got {_kind(value)}",
                       hint="quote the value" if isinstance(value, int | float) else None)
    return value


def _s_bool(value: Any, _: Any) -> bool:
    if type(value) is not bool:
        hint = None
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            hint = "TOML booleans are written without quotes: true or false"
        raise _Invalid(f"expected a boolean (true or false), got {_kind(value)}", hint=hint)
    return value


#: TOML 1.0 integers are signed 64-bit (https://toml.io/en/v1.0.0#integer).
_INT_MIN: Final = -(2**63)


_INT_MAX: Final = 2**63 - 1


def _s_int(value: Any, _: Any) -> int:
    if type(value) is not int:
        hint = "write the number without quotes" if isinstance(value, str) else None
        raise _Invalid(f"expected an integer, got {_kind(value)}", hint=hint)
    if not _INT_MIN <= value <= _INT_MAX:
        raise _Invalid("integer out of range: integers are signed 64-bit, as in TOML 1.0")
    return value


def _s_float(value: Any, _: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        hint = "write the number without quotes" if isinstance(value, str) else None
        raise _Invalid(f"expected a number, got {_kind(value)}", hint=hint)
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise _Invalid("not a finite number (nan, infinity, or too large for a float)")
    return number


def _ranged(conv: cattrs.Converter, tp: Any, rng: Range) -> Callable[[Any, Any], Any]:
    """Structure hook of a field with a Range: the strict hook of its type, then the range."""

    hint = f"expected a number {rng.describe()} (see docs/reference/configuration.md#numbers)"

    def hook(value: Any, _: Any) -> Any:
        try:
            out = conv.structure(value, tp)
        except _Invalid as exc:
            raise _Invalid(str(exc), hint=exc.hint or hint) from None
        problem = rng.problem(out)
        if problem is not None:
            raise _Invalid(problem, hint=hint)
        return out

    return hook


def _s_path(value: Any, tp: Any) -> Path:
    if isinstance(value, Path):
        return value.expanduser()
    if not isinstance(value, str) or not value:
        raise _Invalid(f"expected a path (a non-empty string), got {_kind(value)}")
    cls = tp if isinstance(tp, type) and issubclass(tp, Path) else Path
    return cls(value).expanduser()


def _s_secret(value: Any, _: Any) -> Secret:
    if isinstance(value, Secret):
        return value
    if isinstance(value, str):
        return Secret(value=value)
    if isinstance(value, Mapping):
        keys = sorted(str(k) for k in value)
        if len(keys) == 1 and keys[0] in ("env", "file"):
            ref = value[keys[0]]
            if not isinstance(ref, str) or not ref:
                raise _Invalid(f"secret reference {keys[0]!r} must be a non-empty string, got {_kind(ref)}")
            return Secret(env=ref) if keys[0] == "env" else Secret(file=ref)
        raise _Invalid("a secret table must have exactly one key, env or file",
                       hint='write {env = "VAR"} or {file = "path"}')
    raise _Invalid(f"expected a secret, got {_kind(value)}", hint='write {env = "VAR"} or {file = "path"}')


def _primitive(exact: type[Any], hook: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """The strict hook of ``exact``; a subclass (a StrEnum…) is then built from the checked value."""

    def dispatch(value: Any, tp: Any) -> Any:
        if isinstance(tp, type) and isinstance(value, tp) and tp is not exact:
            return value
        out = hook(value, exact)
        return out if tp is exact or tp is None else tp(out)

    return dispatch

def _is_array_type(tp: Any) -> bool:
    from cattrs.cols import is_any_set, is_sequence

    return bool(is_sequence(tp) or is_any_set(tp))


def _array_hook(conv: cattrs.Converter, tp: Any) -> Callable[[Any, Any], Any]:
    """cattrs' own sequence/set hook, behind a guard that the value is an array.

    cattrs turns any iterable into a list, so ``"abc"`` would become ``["a", "b", "c"]`` and a
    table its keys; TOML arrays arrive as lists.
    """
    from cattrs.cols import homogenous_tuple_structure_factory, is_any_set, is_mutable_sequence, list_structure_factory

    args = typing.get_args(tp)
    container: Callable[[Any], Any] | None = None
    if is_any_set(tp):
        origin = typing.get_origin(tp) or tp
        container = set if origin is set else frozenset
        elem: Any = args[0] if args else Any
        native = list_structure_factory(list[elem], conv)
    elif is_mutable_sequence(tp):
        native = list_structure_factory(tp, conv)
    else:
        native = homogenous_tuple_structure_factory(tp, conv)

    def hook(value: Any, _: Any) -> Any:
        if isinstance(value, str | bytes | Mapping) or not isinstance(value, list | tuple | set | frozenset):
            raise _Invalid(f"expected {_describe(tp)}, got {_kind(value)}",
                           hint='write an array: ["a", "b"]' if isinstance(value, str) else None)
        out = native(value, tp)
        return container(out) if container is not None else out

    return hook


def _field_overrides(conv: cattrs.Converter, cls: type[Any]) -> dict[str, Any]:
    """cattrs ``override``s from field metadata (:data:`OMIT`, :data:`STRUCTURE`) and Ranges."""
    from cattrs.gen import override

    out: dict[str, Any] = {}
    for f in _resolved_fields(cls):
        rng = range_of(f.validator)
        if f.metadata.get(OMIT):
            out[f.name] = override(omit=True)
        elif STRUCTURE in f.metadata:
            out[f.name] = override(struct_hook=f.metadata[STRUCTURE])
        elif rng is not None:
            out[f.name] = override(struct_hook=_ranged(conv, f.type, rng))
    return out


def _attrs_hook(conv: cattrs.Converter, cls: type[Any]) -> Callable[[Any, Any], Any]:
    """cattrs' own attrs structuring (unknown keys forbidden, every field checked), with overrides."""
    from cattrs.gen import make_dict_structure_fn

    return make_dict_structure_fn(cls, conv, _cattrs_forbid_extra_keys=True, _cattrs_detailed_validation=True,
                                  **_field_overrides(conv, cls))


def structure_backend_tables(value: Any, _: Any) -> dict[str, dict[str, Any]]:
    """Structure hook of ``JuxConfig.backends``: a table of option tables, kept raw.

    Each table is structured later by its backend's ``Options`` class (see
    :func:`structure_options`), because only the installed backend knows its options.

    Raises:
        cattrs.errors.IterableValidationError: some entries are not tables (one note each).
    """
    from cattrs.errors import IterableValidationError, IterableValidationNote

    if not isinstance(value, Mapping):
        raise _Invalid(f"expected a table of backend option tables, got {_kind(value)}")
    errors: list[Exception] = []
    for name, opts in value.items():
        if not isinstance(opts, Mapping) or is_secret_ref(opts):
            exc = _Invalid(f"expected a table of options for backend {name!r}, got {_kind(opts)}",
                           hint=f"write [backends.{name}] followed by option = value lines")
            exc.add_note(IterableValidationNote(f"backend {name}", str(name), Mapping))
            errors.append(exc)
    if errors:
        raise IterableValidationError("While structuring backends", errors, dict)
    return {str(name): _deep_copy(opts) for name, opts in value.items()}


def _deep_copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_deep_copy(v) for v in value]
    return value


@functools.cache
def _converter() -> cattrs.Converter:
    """The private strict converter (built on first use: importing cattrs costs ~50 ms)."""
    import cattrs
    from cattrs.strategies import configure_union_passthrough

    conv = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    # Unions of primitives (`int | str`) are checked by exact type (so True is not an int);
    # float and bool are left out so that they still go through their strict hooks.
    configure_union_passthrough(typing.Union[str, int, None], conv)  # noqa: UP007
    conv.register_structure_hook_factory(lambda t: isinstance(t, type) and attrs.has(t),
                                         lambda t: _attrs_hook(conv, t))
    conv.register_structure_hook_factory(_is_array_type, lambda t: _array_hook(conv, t))
    # Primitives dispatch by class, so these hooks also receive subclasses (StrEnum, IntEnum…).
    for exact, hook in ((str, _s_str), (bool, _s_bool), (int, _s_int), (float, _s_float)):
        conv.register_structure_hook(exact, _primitive(exact, hook))
    conv.register_structure_hook(Path, _s_path)
    conv.register_structure_hook(Secret, _s_secret)
    return conv


def _secret_strings(table: Any, secret_fields: AbstractSet[str] = frozenset()) -> Iterator[str]:
    """Plain-text values of secret options in an option table (to scrub them from messages)."""
    if not isinstance(table, Mapping):
        return
    for key, value in table.items():
        if isinstance(value, str) and (key in secret_fields or looks_secret(str(key))):
            yield value
        elif isinstance(value, Mapping):
            yield from _secret_strings(value)


def _secret_fields(options_cls: type[Any] | None) -> set[str]:
    if options_cls is None or not attrs.has(options_cls):
        return set()
    out = set()
    for f in _resolved_fields(options_cls):
        inner, _ = _strip_optional(f.type)
        if inner is Secret or (typing.get_origin(inner) in (typing.Union, types.UnionType)
                               and Secret in typing.get_args(inner)):
            out.add(f.name)
    return out


# =========================================================================================
# Environment values, relative paths, backend options
# =========================================================================================


_TRUE: Final = frozenset({"true", "1", "yes", "on"})


_FALSE: Final = frozenset({"false", "0", "no", "off"})


def _from_env(text: str, tp: Any) -> Any:
    """Convert an environment string to a value of type ``tp``.

    Raises:
        _Invalid: the text is not a valid value of that type (the message does not show it).
    """
    inner, optional = _strip_optional(tp)
    if optional and not text.strip():
        return None
    origin = typing.get_origin(inner)
    if inner is bool:
        low = text.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise _Invalid("expected a boolean (true/false, 1/0, yes/no, on/off)")
    if inner is int:
        try:
            return int(text.strip())
        except ValueError:
            raise _Invalid("expected an integer") from None
    if inner is float:
        try:
            return float(text.strip())
        except ValueError:
            raise _Invalid("expected a number") from None
    if _is_sequence_type(inner):
        args = typing.get_args(inner)
        elem = args[0] if args else str
        return [_from_env(p.strip(), elem) for p in text.split(",") if p.strip()]
    if _is_mapping_type(inner):
        args = typing.get_args(inner)
        vt = args[1] if len(args) == 2 else str
        out: dict[str, Any] = {}
        for item in filter(None, (p.strip() for p in text.split(","))):
            k, sep, v = item.partition("=")
            if not sep or not k.strip():
                raise _Invalid("expected comma-separated name=value pairs")
            out[k.strip()] = _from_env(v.strip(), vt)
        return out
    if origin in (typing.Union, types.UnionType):
        return text
    return text  # str, Path, Secret, enums, literals: checked when structured

def _prepare(tree: Mapping[str, Any], cls: type[Any], prefix: tuple[str, ...], sources: Mapping[str, str],
             problems: list[Problem]) -> dict[str, Any]:
    """Convert environment strings by field type, resolve relative paths, drop unknown env keys.

    An environment value that does not convert is left out (so it is reported once) and added
    to ``problems``.
    """
    fields = {f.name: f for f in _resolved_fields(cls)}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        path = (*prefix, key)
        dotted = ".".join(path)
        label = sources.get(dotted)
        field = fields.get(key)
        if field is None:
            if label is not None and label.startswith("env "):
                continue  # unknown JUX_* names are ignored: the environment is shared
            out[key] = value
            continue
        tp = field.type
        inner, _ = _strip_optional(tp)
        nested = isinstance(inner, type) and attrs.has(inner) and inner is not Secret
        if nested and isinstance(value, Mapping):
            out[key] = _prepare(value, inner, path, sources, problems)
        elif label is not None and label.startswith("env ") and isinstance(value, str):
            try:
                out[key] = _from_env(value, tp)
            except _Invalid as exc:
                problems.append(Problem(dotted, label, str(exc), f"set {label[4:]} to {_describe(tp)}"))
        elif _is_file_label(label):
            out[key] = _resolve_relative(value, tp, Path(str(label)).parent)
        else:
            out[key] = value
    return out


def _resolved_fields(cls: type[Any]) -> tuple[attrs.Attribute[Any], ...]:
    """The attrs fields of ``cls`` with string annotations resolved to types.

    Raises:
        PluginError: an annotation cannot be resolved (a bug in the backend's Options class).
    """
    try:
        attrs.resolve_types(cls)
    except Exception as exc:
        raise PluginError(f"cannot resolve the field types of {cls.__module__}.{cls.__qualname__}: "
                          f"{type(exc).__name__}: {exc}",
                          hint="define Options at module level with importable annotations") from exc
    return tuple(attrs.fields(cls))


def _resolve_relative(value: Any, tp: Any, base: Path) -> Any:
    """Paths (and ``{file = …}`` secrets) written in a config file are relative to its directory."""
    inner, _ = _strip_optional(tp)
    if isinstance(inner, type) and issubclass(inner, Path) and isinstance(value, str) and value:
        p = Path(value).expanduser()
        return str(p if p.is_absolute() else base / p)
    if inner is Secret and is_secret_ref(value) and "file" in value and isinstance(value["file"], str):
        p = Path(value["file"]).expanduser()
        return {"file": str(p if p.is_absolute() else base / p)}
    if _is_sequence_type(inner) and isinstance(value, list):
        args = typing.get_args(inner)
        if args:
            return [_resolve_relative(v, args[0], base) for v in value]
    return value


def _env_backend_key(name: str) -> str:
    """How a backend name is spelled in environment variable names (lower-case form)."""
    return name.lower().replace("-", "_")


def _rename_backend(dotted: str, old: str, new: str) -> str:
    head = f"backends.{old}"
    if dotted == head or dotted.startswith(head + "."):
        return f"backends.{new}" + dotted[len(head):]
    return dotted


def structure_options(options_cls: type[T], raw: Mapping[str, Any] | None, *, backend: str,
                      sources: Mapping[str, str] | None = None) -> T:
    """Structure a backend's raw option table strictly into its attrs ``Options`` class.

    Rules:

    * unknown options, wrong types and bad enum/``Literal`` values are errors (strings are
      never coerced: ``"false"`` is not a boolean, ``"3"`` is not an integer);
    * :class:`Secret` fields accept ``{env = "VAR"}``, ``{file = "path"}`` or a plain string
      (masked everywhere);
    * :class:`~pathlib.Path` fields expand ``~``; a relative path written in a config file is
      resolved against that file's directory (so are ``{file = …}`` secrets);
    * values that came from the environment (source ``"env JUX_…"``) are strings and are
      converted by the field's type first (see :func:`load_config`); unknown options from the
      environment are ignored;
    * a required field (no default) that is not set is an error.

    Args:
        options_cls: The backend's attrs ``Options`` class.
        raw: The raw option table (``JuxConfig.backends[backend]``); ``None`` means empty.
        backend: Backend name, used in key paths ``backends.<backend>.<option>``.
        sources: Where values came from, keyed by full dotted path
            (``"backends.http.url"``), as in :attr:`JuxConfig.sources`.

    Returns:
        An ``options_cls`` instance.

    Raises:
        TypeError: ``options_cls`` is not an attrs class.
        ConfigError: any of the problems above; the message names ``backends.<backend>.<key>``
            and the file or variable it came from, and never contains a secret value.
    """
    if not (isinstance(options_cls, type) and attrs.has(options_cls)):
        raise TypeError(f"{options_cls!r} is not an attrs class")
    srcs = dict(sources or {})
    prefix = ("backends", backend)
    problems: list[Problem] = []
    data = _prepare(dict(raw or {}), options_cls, prefix, srcs, problems)
    plain = list(_secret_strings(dict(raw or {}), _secret_fields(options_cls)))
    try:
        options = _converter().structure(data, options_cls)
    except Exception as exc:
        from cattrs.errors import BaseValidationError

        if not isinstance(exc, BaseValidationError | _Invalid) and not problems:
            # The Options class itself refused the values (an attrs validator): keep its words,
            # minus any plain-text value.
            problems.append(Problem(".".join(prefix), _source_for(".".join(prefix), srcs),
                                    f"invalid options: {type(exc).__name__}: {exc}".splitlines()[0],
                                    f"check the [backends.{backend}] table"))
        elif isinstance(exc, BaseValidationError | _Invalid):
            problems += without_duplicates(structure_problems(exc, data, prefix, srcs), problems)
        raise config_error(problems, plain) from exc
    if problems:
        raise config_error(problems, plain)
    return typing.cast(T, options)
