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

Modules (imported on first use; every public name is importable from ``juxsdk.config`` itself,
resolved lazily so that importing one light submodule does not load the rest):

* :mod:`juxsdk.config.secret` — :class:`Secret` (what backends import for secret options);
* :mod:`juxsdk.config.numbers` — :class:`~juxsdk.config.numbers.Range` and the ranges of
  numeric options (also used by the CLI at start-up);
* :mod:`juxsdk.config.paths` — :func:`user_config_dir`, :func:`user_data_dir`;
* :mod:`juxsdk.config.model` — :class:`JuxConfig` and its sections;
* :mod:`juxsdk.config.convert` — the strict ``cattrs`` converter and problem reporting;
* :mod:`juxsdk.config.load` — :func:`load_config`, :func:`find_project_file`;
* :mod:`juxsdk.config.render` — :func:`dump_config`, :func:`render_toml`,
  :func:`init_config_text`.

``secret``, ``numbers`` and ``paths`` import neither the loader nor ``cattrs`` nor ``tomllib``.
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
    "CircuitBreakerConfig",
    "IndexConfig",
    "JuxConfig",
    "MetadataConfig",
    "OptionDoc",
    "OutboxConfig",
    "Range",
    "Secret",
    "SigningLogConfig",
    "StorageMode",
    "TrustConfig",
    "describe_options",
    "dump_config",
    "find_project_file",
    "init_config_text",
    "load_config",
    "render_toml",
    "structure_options",
    "user_config_dir",
    "user_data_dir",
]

#: Public name -> submodule defining it (resolved on first access).
_LAZY: dict[str, str] = {
    "ENV_PREFIX": "load",
    "SYSTEM_CONFIG_FILE": "paths",
    "CircuitBreakerConfig": "model",
    "IndexConfig": "model",
    "JuxConfig": "model",
    "MetadataConfig": "model",
    "OutboxConfig": "model",
    "Secret": "secret",
    "SigningLogConfig": "model",
    "StorageMode": "model",
    "TrustConfig": "model",
    "dump_config": "render",
    "find_project_file": "load",
    "init_config_text": "template",
    "OptionDoc": "template",
    "describe_options": "template",
    "load_config": "load",
    "render_toml": "render",
    "structure_options": "convert",
    "user_config_dir": "paths",
    "user_data_dir": "paths",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from .convert import structure_options
    from .load import ENV_PREFIX, find_project_file, load_config
    from .model import (
        CircuitBreakerConfig,
        IndexConfig,
        JuxConfig,
        MetadataConfig,
        OutboxConfig,
        SigningLogConfig,
        StorageMode,
        TrustConfig,
    )
    from .paths import SYSTEM_CONFIG_FILE, user_config_dir, user_data_dir
    from .render import dump_config, render_toml
    from .secret import Secret
    from .template import OptionDoc, describe_options, init_config_text
