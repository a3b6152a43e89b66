"""Showing a configuration: ``dump_config`` (rows) and ``render_toml`` (see ``template`` for the starter file).

Secrets are masked everywhere: a :class:`~juxsdk.config.secret.Secret` option shows its reference
(``{env = "VAR"}``) or ``****``; an option whose name looks secret is masked too.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from .convert import _from_env, _resolved_fields, _secret_fields
from .model import JuxConfig
from .problems import SOURCE_DEFAULT, _Invalid, _source_for
from .secret import MASK, Secret, is_secret_ref, looks_secret, toml_str

__all__ = ["dump_config", "render_toml"]

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
