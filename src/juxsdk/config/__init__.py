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

The package's submodules are imported on first use: ``juxsdk.config.numbers`` (the allowed
ranges of numeric options) imports nothing heavy, so the CLI and backends can use it without
loading the loader (``tomllib``, ``cattrs``). Every public name is importable from
``juxsdk.config`` itself.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .numbers import ATTEMPTS, BYTES, COUNT, DAYS, POSITIVE_SECONDS, SECONDS, Range

__all__ = [
    "ATTEMPTS",
    "BYTES",
    "COUNT",
    "DAYS",
    "ENV_PREFIX",
    "POSITIVE_SECONDS",
    "SECONDS",
    "SYSTEM_CONFIG_FILE",
    "JuxConfig",
    "MetadataConfig",
    "OutboxConfig",
    "Range",
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

_LAZY = frozenset(__all__) - frozenset(globals())


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module("._loader", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from ._loader import (
        ENV_PREFIX,
        SYSTEM_CONFIG_FILE,
        JuxConfig,
        MetadataConfig,
        OutboxConfig,
        Secret,
        StorageMode,
        dump_config,
        find_project_file,
        init_config_text,
        load_config,
        render_toml,
        structure_options,
        user_config_dir,
        user_data_dir,
    )
