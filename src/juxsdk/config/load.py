"""Loading the layered configuration: files, environment, overrides (:func:`load_config`).

Every problem found on the way — unreadable or invalid TOML files, environment values that do not
convert, unknown keys, wrong types, bad enum values, out-of-range numbers, inconsistent values —
is collected, and one :class:`~juxsdk.errors.ConfigError` lists them all.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any, Final

import attrs

from .. import _toml
from ..errors import ConfigError
from .convert import _converter, _deep_copy, _env_backend_key, _prepare, _secret_strings
from .model import JuxConfig, OutboxConfig
from .numbers import Range
from .paths import SYSTEM_CONFIG_FILE, USER_CONFIG_NAME
from .paths import user_config_dir as _user_config_dir
from .problems import (
    SOURCE_ARGUMENT,
    SOURCE_DEFAULT,
    Problem,
    _kind,
    _source_for,
    config_error,
    structure_problems,
    without_duplicates,
)
from .secret import Secret, is_secret_ref

__all__ = ["ENV_PREFIX", "RESERVED_ENV", "find_project_file", "load_config"]

#: Prefix of every configuration environment variable.
ENV_PREFIX: Final = "JUX_"


#: ``JUX_*`` variables that are never configuration keys.
RESERVED_ENV: Final = frozenset({"JUX_CONFIG", "JUX_CONFIG_DIR", "JUX_DATA_DIR"})


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
            if not isinstance(child, dict) or is_secret_ref(child):
                child = {}
                node[key] = child
                self._drop(".".join(path[: i + 1]))
            node = child
        for i in range(1, len(path)):
            self.sources.pop(".".join(path[:i]), None)
        key = path[-1]
        dotted = ".".join(path)
        if isinstance(value, Mapping) and not is_secret_ref(value) and not isinstance(value, Secret):
            existing = node.get(key)
            if not isinstance(existing, dict) or is_secret_ref(existing):
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
        return _toml.loads(text)
    except _toml.TOMLError as exc:
        where = f"{path}:{exc.line}:{exc.column}" if exc.line is not None else str(path)
        raise ConfigError(f"{where}: invalid TOML: {exc.reason}",
                          hint="fix the syntax (TOML 1.0, https://toml.io/en/v1.0.0)") from None


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
        if isinstance(value, Mapping) and not is_secret_ref(value) and isinstance(node.get(last), dict):
            node[last].update(value)
        else:
            node[last] = value.value if isinstance(value, enum.Enum) else value
    return tree


def _secret_env_names(tree: Any) -> Iterator[str]:
    if is_secret_ref(tree):
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


_CORE_KEYS: Final = ("project", "signer", "sign", "stores", "publishers", "storage_mode")


_SECTIONS: Final = ("metadata", "outbox", "index", "trust", "signing_log", "circuit_breaker")


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
    ``JUX_STORAGE_MODE``, ``JUX_METADATA__<KEY>``, ``JUX_OUTBOX__<KEY>``, ``JUX_INDEX__<KEY>``,
    ``JUX_SIGNING_LOG__<KEY>``, ``JUX_CIRCUIT_BREAKER__<KEY>``, and backend options
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
    problems: list[Problem] = []

    def read(path: Path, *, explicit: bool = False) -> dict[str, Any] | None:
        try:
            return _file_layer(path, explicit=explicit)
        except ConfigError as exc:  # reported with every other problem
            problems.append(Problem("", None, exc.message, exc.hint))
            return None

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
    add_file(system, read(system))
    user_dir = _user_config_dir(env) if user_config_dir is None else Path(user_config_dir).expanduser()
    user_file = user_dir / USER_CONFIG_NAME
    add_file(user_file, read(user_file))
    explicit = Path(config_file) if config_file is not None else None
    if explicit is None and env.get("JUX_CONFIG"):
        explicit = Path(env["JUX_CONFIG"])
    if explicit is not None:
        explicit = explicit.expanduser()
        add_file(explicit, read(explicit, explicit=True))
    else:
        try:
            found = _find_project_layer(project_dir)
        except ConfigError as exc:
            problems.append(Problem("", None, exc.message, exc.hint))
            found = None
        if found is not None:
            add_file(*found)

    override_tree = _split_overrides(overrides or {})
    skip = set(_secret_env_names(raw_layers)) | set(_secret_env_names(override_tree))
    for path, text, label in _env_entries(env, skip=skip, known_backends=_known_backends(
            merger.data, override_tree, env)):
        merger.set(path, text, label)
    merger.merge(override_tree, override_source)

    sources = dict(merger.sources)
    tree = _prepare(merger.data, JuxConfig, (), sources, problems)
    backends = tree.get("backends")
    plain = [v for opts in (backends.values() if isinstance(backends, Mapping) else ())
             for v in _secret_strings(opts)]
    config: JuxConfig | None = None
    try:
        config = _converter().structure(tree, JuxConfig)
    except Exception as exc:  # noqa: BLE001 - every problem is listed below
        problems += without_duplicates(structure_problems(exc, tree, (), sources), problems)
    problems += without_duplicates(_semantic_problems(tree, sources), problems)
    if problems or config is None:
        raise config_error(problems, plain)
    if config.signer == "":
        config = attrs.evolve(config, signer=None)
    return attrs.evolve(config, sources=dict(sorted(sources.items())), files=tuple(files))


def _semantic_problems(tree: Mapping[str, Any], sources: Mapping[str, str]) -> list[Problem]:
    """Problems between values that are each valid (checked on the prepared tree, by type)."""
    problems: list[Problem] = []

    def add(dotted: str, message: str, hint: str) -> None:
        problems.append(Problem(dotted, _source_for(dotted, sources), message, hint))

    outbox = tree.get("outbox")
    if isinstance(outbox, Mapping):
        fields = attrs.fields(OutboxConfig)
        base, top = outbox.get("backoff_base"), outbox.get("backoff_max")
        valid = all(v is not None and isinstance(f.validator, Range) and f.validator.contains(v)
                    for v, f in ((base, fields.backoff_base), (top, fields.backoff_max)))
        if valid and top < base:  # type: ignore[operator]
            add("outbox.backoff_max", "must not be smaller than outbox.backoff_base",
                f"set outbox.backoff_max to at least {base:g} seconds")
    for key in ("stores", "publishers"):
        names = tree.get(key)
        if not isinstance(names, list | tuple):
            continue
        for i, name in enumerate(names):
            if not isinstance(name, str):
                continue
            if not name:
                add(f"{key}[{i}]", "empty backend name", f'list backend names in {key}, e.g. ["filesystem"]')
            elif name in names[:i]:
                add(f"{key}[{i}]", f"backend {name!r} is listed twice", "list each backend once")
    return problems
