"""Showing a configuration: ``dump_config`` (rows), ``render_toml`` and the starter file.

Secrets are masked everywhere: a :class:`~juxsdk.config.secret.Secret` option shows its reference
(``{env = "VAR"}``) or ``****``; an option whose name looks secret is masked too.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import attrs

from .convert import _env_backend_key, _from_env, _resolved_fields, _secret_fields
from .model import JuxConfig, StorageMode
from .problems import SOURCE_DEFAULT, _describe, _Invalid, _source_for
from .secret import MASK, Secret, is_secret_ref, looks_secret, toml_str

__all__ = ["dump_config", "init_config_text", "render_toml"]

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else toml_str(key)


def _render(value: Any, *, secret: bool = False) -> str:
    """Render a value as an inline TOML value, masking secrets."""
    if isinstance(value, Secret):
        return value.masked()
    if is_secret_ref(value):
        k, v = next(iter(value.items()))
        return f"{{{k} = {toml_str(str(v))}}}"
    if secret and value is not None:
        return MASK
    if value is None:
        return "(not set)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return toml_str(str(value.value))
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return toml_str(str(value))
    if isinstance(value, Mapping):
        inner = ", ".join(f"{_toml_key(str(k))} = {_render(v, secret=looks_secret(str(k)))}"
                          for k, v in value.items())
        return "{" + inner + "}"
    if isinstance(value, list | tuple | set | frozenset):
        return "[" + ", ".join(_render(v) for v in value) + "]"
    return toml_str(str(value))


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
            secret = option in secret_fields or looks_secret(option)
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
    "signing_log.enabled": "append every sign, store, publish, delete and verification to the signing log",
    "signing_log.path": "signing log file (default: <user data dir>/signing-log.jsonl)",
    "signing_log.include_user": "record the local user name in every signing-log line",
    "signing_log.max_bytes": "rotate the signing log at this size, in bytes (the hash chain continues)",
    "signing_log.fsync": "fsync every signing-log line (survives a power cut, costs a disk flush)",
    "circuit_breaker.enabled": "stop waiting on a publisher endpoint that keeps failing",
    "circuit_breaker.failure_threshold": "consecutive transient failures that open the circuit",
    "circuit_breaker.cooldown": "seconds reports are queued at once before one probe is let through",
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
        if value == "(not set)" or value == MASK:
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
    out.append(f"project = {toml_str(project)}" if project else '# project = "my-project"')
    out.append(f"# {_CORE_DOCS['signer']}")
    if signer:
        out.append(f"signer = {toml_str(signer)}")
    else:
        out.append("sign = false")
    out.append(f"# {_CORE_DOCS['stores']}")
    out.append(f"stores = {_render(list(stores))}")
    out.append(f"# {_CORE_DOCS['publishers']}")
    out.append(f"publishers = {_render(list(publishers))}")
    out.append(f"# {_CORE_DOCS['storage_mode']}")
    out.append(f"storage_mode = {toml_str(mode.value)}")
    for section in ("metadata", "outbox", "index", "signing_log", "circuit_breaker"):
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
                        isinstance(value, Secret) and value.value is None) and not is_secret_ref(value):
                    raise ValueError(f"option {key!r} of backend {name!r} is a secret: pass a "
                                     "Secret(env=…) or Secret(file=…) reference, not its value")
                out.append(f"{_toml_key(key)} = {_render(value)}")
                continue
            if f is None:
                continue
            has_default, default = _field_default(f)
            if key in secret_fields:
                var = f"JUX_{_env_backend_key(name).upper()}_{key.upper()}"
                out.append(f"# {_toml_key(key)} = {{ env = {toml_str(var)} }}")
            elif has_default:
                shown = _render(default) if default is not None else "(not set)"
                out.append(f"# {_toml_key(key)} = {shown}")
            else:
                out.append(f"# {_toml_key(key)} = …    # REQUIRED ({_describe(f.type)})")
    return "\n".join(out) + "\n"
