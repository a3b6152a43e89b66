"""Layered, strict configuration for juxsdk.

Sources, lowest precedence first (each one overrides the ones before it, key by key):

1. built-in defaults;
2. the system file ``/etc/jux/config.toml``;
3. the user file ``<user config dir>/config.toml`` (``platformdirs.user_config_path("jux")``, e.g.
   ``~/.config/jux/config.toml``; ``$JUX_CONFIG_DIR`` replaces the directory);
4. the project file: ``jux.toml`` (top level), else ``[tool.jux]`` of ``pyproject.toml``, searched
   from the project directory upward to the first directory holding ``.git`` (or the filesystem
   root); ``jux.toml`` wins when both are in the same directory. ``$JUX_CONFIG`` or the
   ``config_file`` argument names an explicit file instead of the search;
5. environment variables ``JUX_*`` (see :func:`load_config`);
6. explicit overrides: an API argument, a CLI flag or a pytest option.

Tables merge deeply: a backend option set in the user file and another set in the project file
both apply. Arrays are replaced, never concatenated.

Every value is checked strictly by a private ``cattrs`` converter: unknown keys, wrong types
(``"false"`` is *not* a boolean) and bad enum values raise :class:`~juxsdk.errors.ConfigError`
naming the dotted key path and the file (or environment variable) it came from. The file format
is TOML 1.0 (https://toml.io/en/v1.0.0), read with :mod:`tomllib`.

Secrets (tokens, PINs, passphrases) are written as ``{env = "VAR"}`` or ``{file = "path"}`` and
become :class:`Secret` values, which are masked in every ``repr``, dump and error message.
"""

from __future__ import annotations

import enum
import functools
import json
import os
import re
import tomllib
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, MutableSequence, Sequence
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar

import attrs

from .errors import ConfigError, PluginError

if TYPE_CHECKING:
    import cattrs

__all__ = [
    "ENV_PREFIX",
    "SYSTEM_CONFIG_FILE",
    "IndexConfig",
    "JuxConfig",
    "MetadataConfig",
    "OutboxConfig",
    "Secret",
    "StorageMode",
    "dump_config",
    "find_project_file",
    "init_config_text",
    "load_config",
    "render_toml",
    "structure_options",
    "user_config_dir",
    "user_data_dir",
]

T = TypeVar("T")

#: Prefix of every configuration environment variable.
ENV_PREFIX: Final = "JUX_"
#: The system-wide configuration file (lowest-precedence file).
SYSTEM_CONFIG_FILE: Final = Path("/etc/jux/config.toml")
#: File name of the user configuration file inside :func:`user_config_dir`.
USER_CONFIG_NAME: Final = "config.toml"
#: ``JUX_*`` variables that are never configuration keys.
RESERVED_ENV: Final = frozenset({"JUX_CONFIG", "JUX_CONFIG_DIR", "JUX_DATA_DIR"})

SOURCE_DEFAULT: Final = "default"
SOURCE_ARGUMENT: Final = "argument"

_MASK: Final = "****"
# Option-name parts that mark a value as secret when the option's type is not known.
_SECRETISH: Final = frozenset(
    {"token", "password", "passwd", "passphrase", "secret", "pin", "credential", "credentials",
     "apikey", "auth", "authorization", "cookie"}
)


# =========================================================================================
# Paths
# =========================================================================================


def user_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Return the per-user data directory (reports, outbox).

    ``$JUX_DATA_DIR`` wins when set and non-empty (tests and CI use it to isolate state);
    otherwise ``platformdirs.user_data_path("jux")`` (``~/.local/share/jux`` on Linux,
    ``~/Library/Application Support/jux`` on macOS, ``%LOCALAPPDATA%\\jux`` on Windows).

    Args:
        environ: Environment to read (default :data:`os.environ`).

    Returns:
        An absolute path, ``~`` expanded. The directory may not exist yet.
    """
    env = os.environ if environ is None else environ
    override = env.get("JUX_DATA_DIR")
    if override:
        return Path(override).expanduser().absolute()
    import platformdirs

    return platformdirs.user_data_path("jux", appauthor=False)


def user_config_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Return the per-user configuration directory (holding ``config.toml``).

    ``$JUX_CONFIG_DIR`` wins when set and non-empty; otherwise
    ``platformdirs.user_config_path("jux")`` (``~/.config/jux`` on Linux).

    Args:
        environ: Environment to read (default :data:`os.environ`).

    Returns:
        An absolute path, ``~`` expanded. The directory may not exist.
    """
    env = os.environ if environ is None else environ
    override = env.get("JUX_CONFIG_DIR")
    if override:
        return Path(override).expanduser().absolute()
    import platformdirs

    return platformdirs.user_config_path("jux", appauthor=False)


_user_config_dir = user_config_dir  # load_config has a parameter of the same name


# =========================================================================================
# Values
# =========================================================================================


@attrs.frozen(repr=False)
class Secret:
    """A secret reference: ``{env = "VAR"}``, ``{file = "path"}`` or a plain value (masked).

    In TOML a secret option is written ``token = { env = "JUX_API_TOKEN" }`` (read the variable
    when the secret is used), ``token = { file = "~/.jux/token" }`` (read the file, surrounding
    whitespace stripped; a relative path in a config file is relative to that file's directory)
    or a plain string (accepted, but it then lives in the file: prefer a reference).

    ``str()``/``repr()`` never show the value: ``Secret(env='VAR')``, ``Secret(file='p')`` or
    ``Secret('****')``.

    Attributes:
        env: Name of the environment variable holding the value.
        file: Path of the file holding the value.
        value: The value itself (plain secret).
    """

    env: str | None = None
    file: str | None = None
    value: str | None = attrs.field(default=None, eq=False)

    def get(self, environ: Mapping[str, str] | None = None) -> str:
        """Resolve the secret.

        Args:
            environ: Environment to read ``env`` references from (default :data:`os.environ`).

        Returns:
            The secret value (for a file: its text with surrounding whitespace stripped).

        Raises:
            ConfigError: the variable is unset, or the file is unreadable. The message names the
                variable or the file, never the value.
        """
        if self.value is not None:
            return self.value
        if self.env is not None:
            env = os.environ if environ is None else environ
            v = env.get(self.env)
            if v is None:
                raise ConfigError(f"secret environment variable {self.env} is not set",
                                  hint=f"export {self.env}=…")
            return v
        if self.file is not None:
            try:
                return Path(self.file).expanduser().read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"cannot read secret file {self.file}: {exc.strerror}",
                                  hint="check the path and its permissions") from exc
            except UnicodeDecodeError as exc:
                raise ConfigError(f"secret file {self.file} is not UTF-8 text",
                                  hint="store the secret as text") from exc
        raise ConfigError("empty secret reference", hint="use {env = \"VAR\"} or {file = \"path\"}")

    def masked(self) -> str:
        """Return the secret as TOML with the value masked.

        Returns:
            ``{env = "VAR"}``, ``{file = "path"}`` or ``****``.
        """
        if self.env is not None:
            return f"{{env = {_toml_str(self.env)}}}"
        if self.file is not None:
            return f"{{file = {_toml_str(self.file)}}}"
        return _MASK

    def __repr__(self) -> str:
        if self.env is not None:
            return f"Secret(env={self.env!r})"
        if self.file is not None:
            return f"Secret(file={self.file!r})"
        return "Secret('****')"

    __str__ = __repr__


class StorageMode(enum.StrEnum):
    """What ``submit`` does with a signed report (``storage_mode``).

    * ``local`` — store only;
    * ``api`` — publish only; a publish failure is an error;
    * ``both`` — store and publish; failures are reported;
    * ``cache`` — store and publish; on a transient publish failure, queue it in the outbox.
    """

    LOCAL = "local"
    API = "api"
    BOTH = "both"
    CACHE = "cache"


@attrs.frozen
class MetadataConfig:
    """``[metadata]``: which provenance properties are added to reports.

    Attributes:
        env_allowlist: Environment variable names copied as ``env:<NAME>`` properties (nothing
            else from the environment is ever copied).
        include_username: Add the local user name.
        properties: Extra user properties ``name = "value"`` added to every report.
        git: Add ``git:*`` properties (commit, branch, dirty state, remote).
    """

    env_allowlist: tuple[str, ...] = ()
    include_username: bool = False
    properties: dict[str, str] = attrs.field(factory=dict)
    git: bool = True


@attrs.frozen
class OutboxConfig:
    """``[outbox]``: the durable publish queue used by ``storage_mode = "cache"``.

    Attributes:
        path: Outbox directory; ``None`` means ``<user data dir>/outbox``.
        max_attempts: Publish attempts before an entry becomes a dead letter (≥ 1).
        backoff_base: Delay before the first retry, in seconds; doubles each attempt (> 0).
        backoff_max: Upper bound of the retry delay, in seconds (≥ ``backoff_base``).
    """

    path: Path | None = None
    max_attempts: int = 8
    backoff_base: float = 2.0
    backoff_max: float = 3600.0

    def resolved_path(self, environ: Mapping[str, str] | None = None) -> Path:
        """Return ``path``, or ``<user data dir>/outbox`` when it is not set.

        Args:
            environ: Environment for :func:`user_data_dir` (default :data:`os.environ`).
        """
        return self.path if self.path is not None else user_data_dir(environ) / "outbox"


@attrs.frozen
class IndexConfig:
    """``[index]``: the evidence index (``jux audit``, ``jux query``, ``jux report``…).

    Attributes:
        path: The SQLite file; ``None`` means ``<user data dir>/index.sqlite3``.
        on_submit: Record each report ``submit`` signs (verified against the signer's own key)
            in the index.
    """

    path: Path | None = None
    on_submit: bool = True

    def resolved_path(self, environ: Mapping[str, str] | None = None) -> Path:
        """Return ``path``, or ``<user data dir>/index.sqlite3`` when it is not set."""
        return self.path if self.path is not None else user_data_dir(environ) / "index.sqlite3"


def _repr_backends(backends: Mapping[str, Mapping[str, Any]]) -> str:
    # repr() never shows option strings: a plain-text secret may be among them.
    return repr({name: {k: _masked_python(v) for k, v in opts.items()} for name, opts in backends.items()})


def _masked_python(value: Any) -> Any:
    if isinstance(value, Secret):
        return value
    if _is_secret_ref(value):
        return Secret(**{str(k): str(v) for k, v in value.items()})
    if isinstance(value, str):
        return _MASK
    if isinstance(value, Mapping):
        return {k: _masked_python(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked_python(v) for v in value]
    return value


@attrs.frozen
class JuxConfig:
    """The effective configuration (see :func:`load_config`).

    Attributes:
        project: Project name recorded in reports and sent to the Jux API.
        signer: Signer backend name; ``None`` (or ``sign = false``) means reports are not signed.
        sign: Sign reports at all.
        stores: Store backend names, in order.
        publishers: Publisher backend names, in order.
        storage_mode: What ``submit`` does: store, publish, both, or cache (see
            :class:`StorageMode`).
        metadata: Provenance properties (:class:`MetadataConfig`).
        outbox: The publish queue (:class:`OutboxConfig`).
        index: The evidence index (:class:`IndexConfig`).
        backends: Raw option tables keyed by backend name, as merged from all layers (treat as
            read-only); turn one into the backend's ``Options`` with :meth:`backend_options`.
            String values are masked in ``repr``.
        sources: For each dotted key path (``"storage_mode"``, ``"backends.http.url"``), where
            its value came from: ``"default"``, a config file's absolute path, ``"env JUX_…"``
            or ``"argument"``.
        files: The configuration files that were read, lowest precedence first.
    """

    project: str | None = None
    signer: str | None = "file"
    sign: bool = True
    stores: tuple[str, ...] = ("filesystem",)
    publishers: tuple[str, ...] = ()
    storage_mode: StorageMode = StorageMode.LOCAL
    metadata: MetadataConfig = attrs.field(factory=MetadataConfig)
    outbox: OutboxConfig = attrs.field(factory=OutboxConfig)
    index: IndexConfig = attrs.field(factory=IndexConfig)
    backends: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict, repr=_repr_backends)
    sources: Mapping[str, str] = attrs.field(factory=dict, eq=False)
    files: tuple[Path, ...] = attrs.field(default=(), eq=False)

    @property
    def active_signer(self) -> str | None:
        """The signer backend to use: ``signer`` when ``sign`` is true, else ``None``."""
        return self.signer if self.sign and self.signer else None

    def backend_options(self, name: str, options_cls: type[T]) -> T:
        """Structure ``backends[name]`` strictly into the backend's attrs ``Options`` class.

        See :func:`structure_options` for the rules (secrets, paths, environment values).

        Args:
            name: Backend name (the key of its ``[backends.<name>]`` table).
            options_cls: The backend's attrs ``Options`` class.

        Returns:
            An instance of ``options_cls``.

        Raises:
            ConfigError: unknown option, wrong type, bad value or missing required option; the
                message names ``backends.<name>.<option>`` and where the value came from.
        """
        key = name if name in self.backends else _env_backend_key(name)
        raw = self.backends.get(key, {})
        sources = self.sources
        if key != name:
            sources = {_rename_backend(k, key, name): v for k, v in sources.items()}
        return structure_options(options_cls, raw, backend=name, sources=sources)


# =========================================================================================
# Strict converter
# =========================================================================================


class _Invalid(ValueError):
    """A value failed a strict check. The message never contains the value (except enums)."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class _Unknown(ValueError):
    """An unknown key; ``allowed`` are the valid names at that level."""

    def __init__(self, allowed: Sequence[str]) -> None:
        super().__init__("unknown key")
        self.allowed = list(allowed)


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
    if isinstance(value, Secret) or _is_secret_ref(value):
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


def _is_union_type(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _is_literal_type(tp: Any) -> bool:
    return typing.get_origin(tp) is Literal


def _is_secret_ref(value: Any) -> bool:
    """``{env = "X"}`` / ``{file = "p"}``: a table that is a single value, not a sub-table."""
    if not isinstance(value, Mapping) or len(value) != 1:
        return False
    key, ref = next(iter(value.items()))
    return key in ("env", "file") and isinstance(ref, str)


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


def _s_int(value: Any, _: Any) -> int:
    if type(value) is not int:
        hint = "write the number without quotes" if isinstance(value, str) else None
        raise _Invalid(f"expected an integer, got {_kind(value)}", hint=hint)
    return value


def _s_float(value: Any, _: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        hint = "write the number without quotes" if isinstance(value, str) else None
        raise _Invalid(f"expected a number, got {_kind(value)}", hint=hint)
    return float(value)


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


def _u_secret(value: Secret) -> Any:
    """Unstructure a Secret for display: a reference table, or the mask."""
    if value.env is not None:
        return {"env": value.env}
    if value.file is not None:
        return {"file": value.file}
    return _MASK


def _primitive(exact: type[Any], hook: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def dispatch(value: Any, tp: Any) -> Any:
        if tp is exact or tp is None:
            return hook(value, tp)
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return _enum_hook(tp)(value, tp)
        return tp(hook(value, exact))

    return dispatch


def _enum_hook(tp: type[enum.Enum]) -> Callable[[Any, Any], Any]:
    allowed = [m.value for m in tp]

    def hook(value: Any, _: Any) -> Any:
        if isinstance(value, tp):
            return value
        for member in tp:
            if type(value) is type(member.value) and value == member.value:
                return member
        shown = f" {value!r}" if isinstance(value, str) and len(value) <= 40 else ""
        raise _Invalid(f"invalid value{shown}; expected one of: {', '.join(map(str, allowed))}",
                       hint="allowed values: " + ", ".join(map(str, allowed)))

    return hook


def _literal_hook(tp: Any) -> Callable[[Any, Any], Any]:
    allowed = typing.get_args(tp)

    def hook(value: Any, _: Any) -> Any:
        for a in allowed:
            if type(value) is type(a) and value == a:
                return a
        shown = f" {value!r}" if isinstance(value, str) and len(value) <= 40 else ""
        raise _Invalid(f"invalid value{shown}; expected one of: {', '.join(map(str, allowed))}",
                       hint="allowed values: " + ", ".join(map(str, allowed)))

    return hook


def _seq_hook(conv: cattrs.Converter, tp: Any) -> Callable[[Any, Any], Any]:
    from cattrs.errors import IterableValidationError, IterableValidationNote

    origin = typing.get_origin(tp) or tp
    args = typing.get_args(tp)
    fixed: tuple[Any, ...] | None = None
    if origin is tuple and args and args[-1] is not Ellipsis:
        fixed = args
    elem = args[0] if args else Any
    container: Callable[[list[Any]], Any]
    if origin in (list, MutableSequence):
        container = list
    elif origin is set or origin is AbstractSet:
        container = set
    elif origin is frozenset:
        container = frozenset
    else:
        container = tuple

    def hook(value: Any, _: Any) -> Any:
        if isinstance(value, str | bytes | Mapping) or not isinstance(value, list | tuple | set | frozenset):
            raise _Invalid(f"expected {_describe(tp)}, got {_kind(value)}",
                           hint='write an array: ["a", "b"]' if isinstance(value, str) else None)
        items = list(value)
        if fixed is not None and len(items) != len(fixed):
            raise _Invalid(f"expected an array of {len(fixed)} items, got {len(items)}")
        out: list[Any] = []
        errors: list[Exception] = []
        for i, item in enumerate(items):
            t = fixed[i] if fixed is not None else elem
            try:
                out.append(conv.structure(item, t))
            except Exception as exc:  # noqa: BLE001 - collected and re-raised as a group
                exc.add_note(IterableValidationNote(f"Structuring {tp!r} @ index {i}", i, t))
                errors.append(exc)
        if errors:
            raise IterableValidationError(f"While structuring {tp!r}", errors, tp)
        return container(out)

    return hook


def _map_hook(conv: cattrs.Converter, tp: Any) -> Callable[[Any, Any], Any]:
    from cattrs.errors import IterableValidationError, IterableValidationNote

    args = typing.get_args(tp)
    kt, vt = (args[0], args[1]) if len(args) == 2 else (Any, Any)

    def hook(value: Any, _: Any) -> dict[Any, Any]:
        if not isinstance(value, Mapping) or isinstance(value, Secret):
            raise _Invalid(f"expected a table, got {_kind(value)}")
        out: dict[Any, Any] = {}
        errors: list[Exception] = []
        for k, v in value.items():
            try:
                out[conv.structure(k, kt)] = conv.structure(v, vt)
            except Exception as exc:  # noqa: BLE001 - collected and re-raised as a group
                exc.add_note(IterableValidationNote(f"Structuring {tp!r} @ key {k!r}", str(k), vt))
                errors.append(exc)
        if errors:
            raise IterableValidationError(f"While structuring {tp!r}", errors, tp)
        return out

    return hook


def _union_hook(conv: cattrs.Converter, tp: Any) -> Callable[[Any, Any], Any]:
    args = typing.get_args(tp)
    optional = type(None) in args
    members = [a for a in args if a is not type(None)]

    def hook(value: Any, _: Any) -> Any:
        if value is None and optional:
            return None
        if len(members) == 1:
            return conv.structure(value, members[0])
        for member in members:
            try:
                return conv.structure(value, member)
            except Exception:  # noqa: BLE001, S112 - try the next member of the union
                continue
        raise _Invalid(f"expected {_describe(tp)}, got {_kind(value)}")

    return hook


def _attrs_hook(conv: cattrs.Converter, tp: type[Any]) -> Callable[[Any, Any], Any]:
    from cattrs.gen import make_dict_structure_fn

    fn = make_dict_structure_fn(tp, conv, _cattrs_forbid_extra_keys=True, _cattrs_detailed_validation=True)

    def hook(value: Any, _: Any) -> Any:
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping) or _is_secret_ref(value):
            raise _Invalid(f"expected a table, got {_kind(value)}")
        return fn(value, tp)

    return hook


def _s_backends(value: Any, _: Any) -> dict[str, dict[str, Any]]:
    from cattrs.errors import IterableValidationError
    from cattrs.errors import IterableValidationNote as Note

    if not isinstance(value, Mapping):
        raise _Invalid(f"expected a table of backend option tables, got {_kind(value)}")
    errors: list[Exception] = []
    out: dict[str, dict[str, Any]] = {}
    for name, opts in value.items():
        if not isinstance(opts, Mapping) or _is_secret_ref(opts):
            exc = _Invalid(f"expected a table of options for backend {name!r}, got {_kind(opts)}",
                           hint=f"write [backends.{name}] followed by option = value lines")
            exc.add_note(Note(f"backend {name}", str(name), Mapping))
            errors.append(exc)
            continue
        out[str(name)] = _deep_copy(opts)
    if errors:
        raise IterableValidationError("While structuring backends", errors, dict)
    return out


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
    from cattrs.gen import make_dict_structure_fn, override

    conv = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    conv.register_structure_hook_factory(
        lambda t: isinstance(t, type) and attrs.has(t), lambda t: _attrs_hook(conv, t)
    )
    conv.register_structure_hook_factory(_is_sequence_type, lambda t: _seq_hook(conv, t))
    conv.register_structure_hook_factory(_is_mapping_type, lambda t: _map_hook(conv, t))
    conv.register_structure_hook_factory(_is_union_type, lambda t: _union_hook(conv, t))
    conv.register_structure_hook_factory(_is_literal_type, _literal_hook)
    conv.register_structure_hook_factory(
        lambda t: isinstance(t, type) and issubclass(t, enum.Enum), _enum_hook
    )
    conv.register_structure_hook(Path, _s_path)
    conv.register_structure_hook_factory(lambda t: t is Secret, lambda t: _s_secret)
    # cattrs dispatches primitives by class (singledispatch), so these hooks also receive
    # subclasses such as StrEnum / IntEnum: _primitive sends those to the enum hook.
    for exact, hook in ((str, _s_str), (bool, _s_bool), (int, _s_int), (float, _s_float)):
        conv.register_structure_hook(exact, _primitive(exact, hook))
    conv.register_unstructure_hook(Secret, _u_secret)
    conv.register_unstructure_hook(Path, str)
    juxfn = make_dict_structure_fn(
        JuxConfig,
        conv,
        backends=override(struct_hook=_s_backends),
        sources=override(omit=True),
        files=override(omit=True),
        _cattrs_forbid_extra_keys=True,
        _cattrs_detailed_validation=True,
    )

    def jux_hook(value: Any, _: Any) -> JuxConfig:
        if not isinstance(value, Mapping):
            raise _Invalid(f"expected a table, got {_kind(value)}")
        return juxfn(value, JuxConfig)

    conv.register_structure_hook_factory(lambda t: t is JuxConfig, lambda t: jux_hook)
    return conv


# =========================================================================================
# Error reporting
# =========================================================================================


_PathPart = str | int


def _walk_errors(exc: BaseException, path: tuple[_PathPart, ...], tp: Any) -> Iterator[
        tuple[tuple[_PathPart, ...], BaseException, Any]]:
    """Flatten a cattrs validation error tree into ``(path, leaf exception, expected type)``."""
    from cattrs.errors import (
        AttributeValidationNote,
        ClassValidationError,
        ForbiddenExtraKeysError,
        IterableValidationError,
    )

    if isinstance(exc, ClassValidationError | IterableValidationError):
        with_notes, without = exc.group_exceptions()
        for sub, note in with_notes:
            part: _PathPart = note.name if isinstance(note, AttributeValidationNote) else note.index
            yield from _walk_errors(sub, (*path, part), note.type)
        for sub in without:
            yield from _walk_errors(sub, path, tp)
    elif isinstance(exc, ForbiddenExtraKeysError):
        allowed = sorted(a.name for a in attrs.fields(exc.cl)) if attrs.has(exc.cl) else []
        if exc.cl is JuxConfig:
            allowed = [a for a in allowed if a not in ("sources", "files")]
        for key in sorted(exc.extra_fields):
            yield (*path, key), _Unknown(allowed), tp
    else:
        yield path, exc, tp


def _dotted(path: Sequence[_PathPart]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


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


def _problem(exc: BaseException, tp: Any, dotted: str) -> tuple[str, str | None]:
    """One-line description and hint of a leaf error, never showing the offending value."""
    if isinstance(exc, _Unknown):
        listed = ", ".join(exc.allowed) or "none"
        return "unknown key", f"allowed keys here: {listed}"
    if isinstance(exc, _Invalid):
        return str(exc), exc.hint
    if isinstance(exc, KeyError):
        return "required key is missing", f"set {dotted} ({_describe(tp)})"
    if isinstance(exc, ConfigError):
        return exc.message, exc.hint
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    expected = f"; expected {_describe(tp)}" if tp is not None else ""
    return f"invalid value: {detail}{expected}", None


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for s in secrets:
        if s:
            text = text.replace(s, _MASK)
    return text


def _secret_strings(table: Any, secret_fields: AbstractSet[str] = frozenset()) -> Iterator[str]:
    """Plain-text values of secret options in an option table (to scrub them from messages)."""
    if not isinstance(table, Mapping):
        return
    for key, value in table.items():
        if isinstance(value, str) and (key in secret_fields or _looks_secret(str(key))):
            yield value
        elif isinstance(value, Mapping):
            yield from _secret_strings(value)


def _structure_error(exc: BaseException, prefix: tuple[str, ...], sources: Mapping[str, str],
                     secrets: Iterable[str] = ()) -> ConfigError:
    leaves = list(_walk_errors(exc, prefix, None))
    if not leaves:  # pragma: no cover - defensive
        leaves = [(prefix, exc, None)]
    path, leaf, tp = leaves[0]
    dotted = _dotted(path)
    problem, hint = _problem(leaf, tp, dotted)
    message = f"{_where(dotted, _source_for(dotted, sources))}: {problem}"
    if len(leaves) > 1:
        message += f" (and {len(leaves) - 1} more problem{'s' if len(leaves) > 2 else ''})"
    secrets = [s for s in secrets if len(s) >= 4]
    return ConfigError(_scrub(message, secrets), hint=_scrub(hint, secrets) if hint else None)


# =========================================================================================
# Loading
# =========================================================================================


class _Merger:
    """Deep-merges layers into one tree, recording the source of every leaf."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.sources: dict[str, str] = {}

    def _drop(self, dotted: str) -> None:
        for key in [k for k in self.sources if k == dotted or k.startswith(dotted + ".")]:
            del self.sources[key]

    def merge(self, tree: Mapping[str, Any], label: str) -> None:
        for key, value in tree.items():
            self.set((str(key),), value, label)

    def set(self, path: tuple[str, ...], value: Any, label: str) -> None:
        node = self.data
        for i, key in enumerate(path[:-1]):
            child = node.get(key)
            if not isinstance(child, dict) or _is_secret_ref(child):
                child = {}
                node[key] = child
                self._drop(".".join(path[: i + 1]))
            node = child
        for i in range(1, len(path)):
            self.sources.pop(".".join(path[:i]), None)
        key = path[-1]
        dotted = ".".join(path)
        if isinstance(value, Mapping) and not _is_secret_ref(value) and not isinstance(value, Secret):
            existing = node.get(key)
            if not isinstance(existing, dict) or _is_secret_ref(existing):
                node[key] = {}
                self._drop(dotted)
            for k, v in value.items():
                self.set((*path, str(k)), v, label)
            if not node[key]:
                self.sources[dotted] = label
        else:
            node[key] = _deep_copy(value)
            self._drop(dotted)
            self.sources[dotted] = label


def _defaults_tree() -> dict[str, Any]:
    def tree(obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in attrs.fields(type(obj)):
            if f.name in ("sources", "files"):
                continue
            v = getattr(obj, f.name)
            if attrs.has(type(v)):
                out[f.name] = tree(v)
            elif isinstance(v, enum.Enum):
                out[f.name] = v.value
            elif isinstance(v, tuple):
                out[f.name] = list(v)
            else:
                out[f.name] = v
        return out

    return tree(JuxConfig())


def _toml_position(exc: tomllib.TOMLDecodeError, text: str) -> tuple[str, int, int]:
    msg = str(exc)
    m = re.search(r"\s*\(at line (\d+), column (\d+)\)$", msg)
    if m:
        return msg[: m.start()], int(m.group(1)), int(m.group(2))
    m = re.search(r"\s*\(at end of document\)$", msg)
    lines = text.split("\n")
    base = msg[: m.start()] if m else msg
    return base, len(lines), len(lines[-1]) + 1


def _read_toml(path: Path) -> dict[str, Any]:
    """Read and parse a TOML file.

    Raises:
        FileNotFoundError: the file does not exist (callers decide whether that is an error).
        ConfigError: unreadable, not UTF-8, or a TOML syntax error (``file:line:column``).
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}",
                          hint="check the file's permissions") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: configuration file is not UTF-8 text",
                          hint="save the file as UTF-8") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        what, line, col = _toml_position(exc, text)
        raise ConfigError(f"{path}:{line}:{col}: invalid TOML: {what}",
                          hint="fix the syntax (TOML 1.0, https://toml.io/en/v1.0.0)") from exc


def _file_layer(path: Path, *, explicit: bool = False) -> dict[str, Any] | None:
    """The configuration table of a file: top level, or ``[tool.jux]`` of a pyproject.toml.

    Returns ``None`` when the file does not exist (or is a pyproject.toml without
    ``[tool.jux]`` and ``explicit`` is false).
    """
    try:
        data = _read_toml(path)
    except FileNotFoundError:
        if explicit:
            raise ConfigError(f"configuration file {path} does not exist",
                              hint="check the path given with --config / JUX_CONFIG / config_file") from None
        return None
    if path.name != "pyproject.toml":
        return data
    tool = data.get("tool", {})
    jux = tool.get("jux") if isinstance(tool, Mapping) else None
    if jux is None:
        return {} if explicit else None
    if not isinstance(jux, Mapping):
        raise ConfigError(f"{path}: tool.jux: expected a table, got {_kind(jux)}",
                          hint="write a [tool.jux] table")
    return dict(jux)


def find_project_file(start: Path | None = None) -> Path | None:
    """Find the project configuration file.

    Looks in ``start`` (default: the current directory) and each parent in turn, stopping after
    the first directory that contains ``.git`` (the repository root) or at the filesystem root.
    In each directory ``jux.toml`` wins; otherwise a ``pyproject.toml`` counts only if it has a
    ``[tool.jux]`` table.

    Args:
        start: Directory to start from.

    Returns:
        The absolute path of the file, or ``None`` when there is none.

    Raises:
        ConfigError: a ``pyproject.toml`` on the way is unreadable or not valid TOML.
    """
    found = _find_project_layer(start)
    return found[0] if found else None


def _find_project_layer(start: Path | None) -> tuple[Path, dict[str, Any]] | None:
    directory = (start or Path.cwd()).expanduser().resolve()
    for d in (directory, *directory.parents):
        candidate = d / "jux.toml"
        if candidate.is_file():
            layer = _file_layer(candidate, explicit=True)
            return candidate, layer or {}
        pyproject = d / "pyproject.toml"
        if pyproject.is_file():
            layer = _file_layer(pyproject)
            if layer is not None:
                return pyproject, layer
        if (d / ".git").exists():
            return None
    return None


def _split_overrides(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Turn ``{"backends.file.key": v, "outbox": {...}}`` into a nested tree."""
    tree: dict[str, Any] = {}
    for key, value in overrides.items():
        parts = [p for p in str(key).split(".") if p]
        if not parts:
            raise ConfigError(f"invalid override key {key!r}", hint="use a dotted key path like outbox.path")
        node = tree
        for p in parts[:-1]:
            child = node.get(p)
            if not isinstance(child, dict):
                child = {}
                node[p] = child
            node = child
        last = parts[-1]
        if isinstance(value, Mapping) and not _is_secret_ref(value) and isinstance(node.get(last), dict):
            node[last].update(value)
        else:
            node[last] = value.value if isinstance(value, enum.Enum) else value
    return tree


def _secret_env_names(tree: Any) -> Iterator[str]:
    if _is_secret_ref(tree):
        ref = next(iter(tree.items()))
        if ref[0] == "env" and isinstance(ref[1], str):
            yield ref[1]
    elif isinstance(tree, Secret):
        if tree.env:
            yield tree.env
    elif isinstance(tree, Mapping):
        for v in tree.values():
            yield from _secret_env_names(v)
    elif isinstance(tree, list | tuple):
        for v in tree:
            yield from _secret_env_names(v)


def _known_backends(data: Mapping[str, Any], overrides: Mapping[str, Any],
                    env: Mapping[str, str]) -> list[str]:
    """Backend names mentioned anywhere (tables, selections), to map env spellings back."""
    known: list[str] = []
    for layer in (data, overrides):
        tables = layer.get("backends")
        if isinstance(tables, Mapping):
            known += [str(n) for n in tables]
    for key in ("signer", "stores", "publishers"):
        for layer in (data, overrides):
            v = layer.get(key)
            if isinstance(v, str):
                known.append(v)
            elif isinstance(v, list | tuple):
                known.extend(x for x in v if isinstance(x, str))
        known.extend(p.strip() for p in env.get(f"{ENV_PREFIX}{key.upper()}", "").split(",") if p.strip())
    return known


def _env_backend_key(name: str) -> str:
    """How a backend name is spelled in environment variable names (lower-case form)."""
    return name.lower().replace("-", "_")


def _rename_backend(dotted: str, old: str, new: str) -> str:
    head = f"backends.{old}"
    if dotted == head or dotted.startswith(head + "."):
        return f"backends.{new}" + dotted[len(head):]
    return dotted


_CORE_KEYS: Final = ("project", "signer", "sign", "stores", "publishers", "storage_mode")
_SECTIONS: Final = ("metadata", "outbox", "index")


def _env_entries(env: Mapping[str, str], *, skip: AbstractSet[str],
                 known_backends: Iterable[str]) -> Iterator[tuple[tuple[str, ...], str, str]]:
    """``(key path, raw string, label)`` for each configuration variable in ``env``."""
    by_env_name: dict[str, str] = {}
    for name in known_backends:
        by_env_name.setdefault(_env_backend_key(name), name)
    for var in sorted(env):
        if not var.startswith(ENV_PREFIX) or var in RESERVED_ENV or var in skip:
            continue
        rest = var[len(ENV_PREFIX):]
        label = f"env {var}"
        if "__" in rest:
            head, _, tail = rest.partition("__")
            if not head or not tail or "__" in tail:
                continue
            section, option = head.lower(), tail.lower()
            if section in _SECTIONS:
                yield (section, option), env[var], label
            else:
                yield ("backends", by_env_name.get(section, section), option), env[var], label
        elif rest.lower() in _CORE_KEYS:
            yield (rest.lower(),), env[var], label


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


def _prepare(tree: Mapping[str, Any], cls: type[Any], prefix: tuple[str, ...],
             sources: Mapping[str, str]) -> dict[str, Any]:
    """Convert environment strings by field type, resolve relative paths, drop unknown env keys."""
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
            out[key] = _prepare(value, inner, path, sources)
        elif label is not None and label.startswith("env ") and isinstance(value, str):
            try:
                out[key] = _from_env(value, tp)
            except _Invalid as exc:
                raise ConfigError(f"{_where(dotted, label)}: {exc}",
                                  hint=f"set {label[4:]} to {_describe(tp)}") from None
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
    if inner is Secret and _is_secret_ref(value) and "file" in value and isinstance(value["file"], str):
        p = Path(value["file"]).expanduser()
        return {"file": str(p if p.is_absolute() else base / p)}
    if _is_sequence_type(inner) and isinstance(value, list):
        args = typing.get_args(inner)
        if args:
            return [_resolve_relative(v, args[0], base) for v in value]
    return value


def load_config(
    *,
    overrides: Mapping[str, Any] | None = None,
    project_dir: Path | None = None,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    user_config_dir: Path | None = None,
    system_config_file: Path | None = None,
    override_source: str = SOURCE_ARGUMENT,
) -> JuxConfig:
    """Load the layered configuration.

    Layers, lowest precedence first: defaults < system file < user file < project file <
    environment < ``overrides`` (see the module docstring and ``docs/reference/configuration.md``).

    Environment variables (strings, converted by the target field's type: booleans from
    ``true/false/1/0/yes/no/on/off``, integers, numbers, comma-separated lists, paths; an empty
    value of an optional key means "not set", so ``JUX_SIGNER=`` disables signing):
    ``JUX_PROJECT``, ``JUX_SIGNER``, ``JUX_SIGN``, ``JUX_STORES``, ``JUX_PUBLISHERS``,
    ``JUX_STORAGE_MODE``, ``JUX_METADATA__<KEY>``, ``JUX_OUTBOX__<KEY>``, and backend options
    ``JUX_<BACKEND>__<OPTION>`` (backend name upper-cased, ``-`` written ``_``), converted by the
    backend's ``Options`` field types in :meth:`JuxConfig.backend_options`. ``JUX_CONFIG`` names
    an explicit config file; ``JUX_CONFIG_DIR`` / ``JUX_DATA_DIR`` move the user directories.
    Other ``JUX_*`` names, and variables referenced by ``{env = …}`` secrets, are ignored (the
    environment is shared with other tools).

    Args:
        overrides: Highest-precedence values, as dotted keys (``{"backends.file.key": "k.pem"}``)
            or nested tables (``{"outbox": {"max_attempts": 3}}``), already typed (no string
            conversion). ``None`` values are kept (``{"signer": None}`` disables signing).
        project_dir: Directory to start the project-file search from (default: current dir).
        config_file: An explicit project file (a ``pyproject.toml`` contributes its
            ``[tool.jux]``); replaces the search and ``JUX_CONFIG``. Must exist.
        environ: Environment to read (default :data:`os.environ`).
        user_config_dir: Directory of the user ``config.toml`` (default :func:`user_config_dir`).
        system_config_file: The system file (default ``$JUX_SYSTEM_CONFIG``, else
            ``/etc/jux/config.toml``).
        override_source: Label recorded in ``sources`` for ``overrides`` (e.g. ``"argument"``,
            ``"command line"``, ``"pytest option"``).

    Returns:
        The validated :class:`JuxConfig`, with ``sources`` and ``files`` filled in.

    Raises:
        ConfigError: a file is unreadable or not valid TOML (message ``file:line:column``), an
            explicit file is missing, a key is unknown, a value has the wrong type or is not
            an allowed value. The message names the dotted key path and the file or variable
            it came from; the hint lists allowed keys or values. Secret values never appear.
    """
    env = os.environ if environ is None else environ
    merger = _Merger()
    merger.merge(_defaults_tree(), SOURCE_DEFAULT)
    files: list[Path] = []
    raw_layers: list[Mapping[str, Any]] = []

    def add_file(path: Path, layer: Mapping[str, Any] | None) -> None:
        if layer is None:
            return
        path = path.resolve()
        files.append(path)
        raw_layers.append(layer)
        merger.merge(layer, str(path))

    if system_config_file is None:
        system = Path(env["JUX_SYSTEM_CONFIG"]) if env.get("JUX_SYSTEM_CONFIG") else SYSTEM_CONFIG_FILE
    else:
        system = Path(system_config_file)
    add_file(system, _file_layer(system))
    user_dir = _user_config_dir(env) if user_config_dir is None else Path(user_config_dir).expanduser()
    user_file = user_dir / USER_CONFIG_NAME
    add_file(user_file, _file_layer(user_file))
    explicit = Path(config_file) if config_file is not None else None
    if explicit is None and env.get("JUX_CONFIG"):
        explicit = Path(env["JUX_CONFIG"])
    if explicit is not None:
        explicit = explicit.expanduser()
        add_file(explicit, _file_layer(explicit, explicit=True))
    else:
        found = _find_project_layer(project_dir)
        if found is not None:
            add_file(*found)

    override_tree = _split_overrides(overrides or {})
    skip = set(_secret_env_names(raw_layers)) | set(_secret_env_names(override_tree))
    for path, text, label in _env_entries(env, skip=skip, known_backends=_known_backends(
            merger.data, override_tree, env)):
        merger.set(path, text, label)
    merger.merge(override_tree, override_source)

    sources = dict(merger.sources)
    tree = _prepare(merger.data, JuxConfig, (), sources)
    backends = tree.get("backends")
    plain = [v for opts in (backends.values() if isinstance(backends, Mapping) else ())
             for v in _secret_strings(opts)]
    try:
        config = _converter().structure(tree, JuxConfig)
    except Exception as exc:
        raise _structure_error(exc, (), sources, plain) from exc
    if config.signer == "":
        config = attrs.evolve(config, signer=None)
    _check_semantics(config, sources)
    return attrs.evolve(config, sources=dict(sorted(sources.items())), files=tuple(files))


def _check_semantics(config: JuxConfig, sources: Mapping[str, str]) -> None:
    def fail(dotted: str, problem: str, hint: str) -> None:
        raise ConfigError(f"{_where(dotted, _source_for(dotted, sources))}: {problem}", hint=hint)

    ob = config.outbox
    if ob.max_attempts < 1:
        fail("outbox.max_attempts", "must be at least 1", "set outbox.max_attempts to 1 or more")
    if ob.backoff_base <= 0:
        fail("outbox.backoff_base", "must be greater than 0 seconds", "for example backoff_base = 2.0")
    if ob.backoff_max < ob.backoff_base:
        fail("outbox.backoff_max", "must not be smaller than outbox.backoff_base",
             f"set outbox.backoff_max to at least {ob.backoff_base:g} seconds")
    for key in ("stores", "publishers"):
        names: tuple[str, ...] = getattr(config, key)
        for i, name in enumerate(names):
            if not name:
                fail(f"{key}[{i}]", "empty backend name", f'list backend names in {key}, e.g. ["filesystem"]')
            if name in names[:i]:
                fail(f"{key}[{i}]", f"backend {name!r} is listed twice", "list each backend once")


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
    data = _prepare(dict(raw or {}), options_cls, prefix, srcs)
    plain = list(_secret_strings(dict(raw or {}), _secret_fields(options_cls)))
    try:
        return typing.cast(T, _converter().structure(data, options_cls))
    except ConfigError:
        raise
    except Exception as exc:
        from cattrs.errors import BaseValidationError

        if not isinstance(exc, BaseValidationError | _Invalid):
            # The Options class itself refused the values (an attrs validator): keep its words,
            # minus any plain-text value.
            message = _scrub(f"{_where('.'.join(prefix), _source_for('.'.join(prefix), srcs))}: "
                             f"invalid options: {type(exc).__name__}: {exc}".splitlines()[0],
                             [s for s in plain if len(s) >= 4])
            raise ConfigError(message, hint=f"check the [backends.{backend}] table") from exc
        raise _structure_error(exc, prefix, srcs, plain) from exc


# =========================================================================================
# Dumping and rendering
# =========================================================================================


def _toml_str(text: str) -> str:
    # JSON string escapes are a subset of TOML basic-string escapes.
    return json.dumps(text, ensure_ascii=False)


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _toml_str(key)


def _looks_secret(option: str) -> bool:
    low = option.lower()
    parts = set(re.split(r"[^a-z0-9]+", low))
    return bool(parts & _SECRETISH) or low.endswith(("token", "password", "secret", "api_key", "access_key",
                                                         "secret_key", "private_key", "apikey"))


def _render(value: Any, *, secret: bool = False) -> str:
    """Render a value as an inline TOML value, masking secrets."""
    if isinstance(value, Secret):
        return value.masked()
    if _is_secret_ref(value):
        k, v = next(iter(value.items()))
        return f"{{{k} = {_toml_str(str(v))}}}"
    if secret and value is not None:
        return _MASK
    if value is None:
        return "(not set)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return _toml_str(str(value.value))
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return _toml_str(str(value))
    if isinstance(value, Mapping):
        inner = ", ".join(f"{_toml_key(str(k))} = {_render(v, secret=_looks_secret(str(k)))}"
                          for k, v in value.items())
        return "{" + inner + "}"
    if isinstance(value, list | tuple | set | frozenset):
        return "[" + ", ".join(_render(v) for v in value) + "]"
    return _toml_str(str(value))


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


def _core_rows(obj: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    for f in attrs.fields(type(obj)):
        if f.name in ("backends", "sources", "files"):
            continue
        v = getattr(obj, f.name)
        key = f"{prefix}{f.name}"
        if attrs.has(type(v)):
            yield from _core_rows(v, key + ".")
        elif isinstance(v, Mapping) and v:
            for k, item in v.items():
                yield f"{key}.{k}", item
        else:
            yield key, v


def dump_config(config: JuxConfig, *, show_sources: bool = True,
                options_classes: Mapping[str, type[Any]] | None = None) -> list[tuple[str, str, str]]:
    """List every effective value with its source, secrets masked (for ``jux config show``).

    A backend option is masked when its ``Options`` field is a :class:`Secret` (pass
    ``options_classes`` to know), when it is a ``{env=…}``/``{file=…}`` reference (shown as
    such), or when its name looks secret (``token``, ``password``, ``passphrase``, ``pin``,
    ``secret``, ``credential``, ``auth``…). Plain-text values are shown as ``****``.

    Args:
        config: The configuration.
        show_sources: Fill in the third column; when false it is ``""``.
        options_classes: Backend name → ``Options`` class, e.g. from the registry.

    Returns:
        ``(dotted key path, rendered TOML value, source)`` rows: the core keys in definition
        order, then ``backends.<name>.<option>`` sorted by backend name.
    """
    rows: list[tuple[str, str, str]] = []

    def src(key: str) -> str:
        if not show_sources:
            return ""
        return _source_for(key, config.sources) or SOURCE_DEFAULT

    for key, value in _core_rows(config, ""):
        rows.append((key, _render(value), src(key)))
    classes = options_classes or {}
    for name in sorted(config.backends):
        cls = classes.get(name)
        secret_fields = _secret_fields(cls)
        opts = config.backends[name]
        if not opts:
            rows.append((f"backends.{name}", "{}", src(f"backends.{name}")))
        fields = {f.name: f for f in _resolved_fields(cls)} if cls is not None and attrs.has(cls) else {}
        for option, value in opts.items():
            secret = option in secret_fields or _looks_secret(option)
            key = f"backends.{name}.{option}"
            label = config.sources.get(key, "")
            if option in fields and isinstance(value, str) and label.startswith("env "):
                try:  # show an environment string as the typed value it becomes
                    value = _from_env(value, fields[option].type)
                except _Invalid:
                    pass
            rows.append((key, _render(value, secret=secret), src(key)))
    return rows


_CORE_DOCS: Final[Mapping[str, str]] = {
    "project": "project name recorded in every report and sent to the Jux API",
    "signer": 'signer backend ("file", "pkcs11"…); remove it or set sign = false to not sign',
    "sign": "sign reports at all",
    "stores": 'store backends, in order ("filesystem", "s3"…)',
    "publishers": 'publisher backends ("http"…)',
    "storage_mode": "local | api | both | cache",
    "metadata.env_allowlist": "environment variables copied into reports as env:<NAME> properties",
    "metadata.include_username": "record the local user name",
    "metadata.git": "record git commit, branch, dirty state and remote",
    "metadata.properties": "extra properties added to every report",
    "outbox.path": "publish queue directory (default: <user data dir>/outbox)",
    "outbox.max_attempts": "publish attempts before an entry becomes a dead letter",
    "outbox.backoff_base": "seconds before the first retry (doubles each attempt)",
    "outbox.backoff_max": "upper bound of the retry delay, in seconds",
    "index.path": "evidence index file (default: <user data dir>/index.sqlite3)",
    "index.on_submit": "record reports signed by `jux submit` in the evidence index",
}


def render_toml(config: JuxConfig, *, options_classes: Mapping[str, type[Any]] | None = None,
                show_sources: bool = True, pyproject: bool = False) -> str:
    """Render the effective configuration as a TOML document, secrets masked.

    Plain-text secrets are written as comments (``# token = ****``) so the output never carries
    them and stays loadable; unset optional keys are commented out too.

    Args:
        config: The configuration.
        options_classes: Backend name → ``Options`` class (see :func:`dump_config`).
        show_sources: Append ``# <source>`` to each line.
        pyproject: Write ``[tool.jux…]`` tables for a ``pyproject.toml``.

    Returns:
        TOML text (ending in a newline) that :func:`load_config` accepts.
    """
    rows = dump_config(config, show_sources=True, options_classes=options_classes)
    root = "tool.jux" if pyproject else ""
    tables: dict[str, list[str]] = {}
    for key, value, source in rows:
        parts = key.split(".")
        if parts[0] == "backends" and len(parts) == 2:
            table, leaf = key, None
        elif parts[0] == "backends":
            table, leaf = ".".join(parts[:2]), ".".join(parts[2:])
        elif parts[0] == "metadata" and len(parts) > 2 and parts[1] == "properties":
            table, leaf = "metadata.properties", ".".join(parts[2:])
        else:
            table, leaf = ".".join(parts[:-1]), parts[-1]
        lines = tables.setdefault(table, [])
        if leaf is None:
            continue
        comment = f"  # {source}" if show_sources else ""
        if value == "(not set)" or value == _MASK:
            shown = "(not set)" if value == "(not set)" else "**** (plain-text secret, masked)"
            lines.append(f"# {_toml_key(leaf)} = {shown}{comment}")
        elif key == "metadata.properties" and value == "{}":
            continue
        else:
            lines.append(f"{_toml_key(leaf)} = {value}{comment}")
    out: list[str] = []
    for table, lines in tables.items():
        if table == "metadata" and not lines:
            continue
        full = ".".join(p for p in (root, table) if p)
        if full:
            if out:
                out.append("")
            out.append(f"[{full}]")
        out.extend(lines)
    return "\n".join(out) + "\n"


def _field_default(f: attrs.Attribute[Any]) -> tuple[bool, Any]:
    """``(has_default, value)`` of an attrs field."""
    default = f.default
    if default is attrs.NOTHING:
        return False, None
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        fac: Any = default
        return True, None if fac.takes_self else fac.factory()
    return True, default


def init_config_text(
    *,
    project: str | None = None,
    signer: str | None = "file",
    stores: Sequence[str] = ("filesystem",),
    publishers: Sequence[str] = (),
    storage_mode: StorageMode | str = StorageMode.LOCAL,
    options_classes: Mapping[str, type[Any]] | None = None,
    values: Mapping[str, Mapping[str, Any]] | None = None,
    pyproject: bool = False,
) -> str:
    """Produce a commented starter configuration (for ``jux config init``).

    Every selected backend whose ``Options`` class is known gets a ``[backends.<name>]`` table:
    options given in ``values`` are written, the others are commented out with their default
    (required ones are marked ``REQUIRED``). Secret options are suggested as
    ``{ env = "JUX_<BACKEND>_<OPTION>" }``. A field's ``metadata["help"]`` becomes its comment.

    Args:
        project: Project name (commented out when ``None``).
        signer: Signer backend name, or ``None`` for ``sign = false``.
        stores: Store backend names.
        publishers: Publisher backend names.
        storage_mode: One of :class:`StorageMode`.
        options_classes: Backend name → ``Options`` class (e.g. from the registry).
        values: Backend name → option values to write (plain values; secrets must be
            :class:`Secret` references, plain-text secrets are refused).
        pyproject: Write ``[tool.jux]`` tables to paste into ``pyproject.toml``.

    Returns:
        TOML text that :func:`load_config` accepts.

    Raises:
        ValueError: ``storage_mode`` is not a storage mode, or a plain-text secret is in ``values``.
    """
    mode = StorageMode(storage_mode)
    root = "tool.jux" if pyproject else ""
    defaults = JuxConfig()
    out: list[str] = [
        "# juxsdk configuration (TOML). Precedence, lowest first: defaults < /etc/jux/config.toml",
        "# < user config.toml < this file < JUX_* environment < command-line flags / API arguments.",
        "# Reference: docs/reference/configuration.md",
    ]
    if root:
        out.append(f"[{root}]")
    out.append(f"# {_CORE_DOCS['project']}")
    out.append(f"project = {_toml_str(project)}" if project else '# project = "my-project"')
    out.append(f"# {_CORE_DOCS['signer']}")
    if signer:
        out.append(f"signer = {_toml_str(signer)}")
    else:
        out.append("sign = false")
    out.append(f"# {_CORE_DOCS['stores']}")
    out.append(f"stores = {_render(list(stores))}")
    out.append(f"# {_CORE_DOCS['publishers']}")
    out.append(f"publishers = {_render(list(publishers))}")
    out.append(f"# {_CORE_DOCS['storage_mode']}")
    out.append(f"storage_mode = {_toml_str(mode.value)}")
    for section in ("metadata", "outbox", "index"):
        out += ["", f"[{'.'.join(p for p in (root, section) if p)}]"]
        obj = getattr(defaults, section)
        for f in attrs.fields(type(obj)):
            key = f"{section}.{f.name}"
            shown = _render(getattr(obj, f.name))
            out.append(f"# {f.name} = {shown}    # {_CORE_DOCS.get(key, '')}".rstrip())
    classes = options_classes or {}
    given = values or {}
    selected = [n for n in (signer, *stores, *publishers) if n]
    for name in dict.fromkeys([*selected, *given]):
        cls = classes.get(name)
        opts = dict(given.get(name, {}))
        if cls is None and not opts:
            continue
        out += ["", f"[{'.'.join(p for p in (root, 'backends', _toml_key(name)) if p)}]"]
        secret_fields = _secret_fields(cls)
        fields = list(_resolved_fields(cls)) if cls is not None else []
        names = [f.name for f in fields]
        for key in [*names, *(k for k in opts if k not in names)]:
            f = next((x for x in fields if x.name == key), None)
            help_text = f.metadata.get("help") if f is not None else None
            if help_text:
                out.append(f"# {help_text}")
            if key in opts:
                value = opts[key]
                if (key in secret_fields or isinstance(value, Secret)) and not (
                        isinstance(value, Secret) and value.value is None) and not _is_secret_ref(value):
                    raise ValueError(f"option {key!r} of backend {name!r} is a secret: pass a "
                                     "Secret(env=…) or Secret(file=…) reference, not its value")
                out.append(f"{_toml_key(key)} = {_render(value)}")
                continue
            if f is None:
                continue
            has_default, default = _field_default(f)
            if key in secret_fields:
                var = f"JUX_{_env_backend_key(name).upper()}_{key.upper()}"
                out.append(f"# {_toml_key(key)} = {{ env = {_toml_str(var)} }}")
            elif has_default:
                shown = _render(default) if default is not None else "(not set)"
                out.append(f"# {_toml_key(key)} = {shown}")
            else:
                out.append(f"# {_toml_key(key)} = …    # REQUIRED ({_describe(f.type)})")
    return "\n".join(out) + "\n"
