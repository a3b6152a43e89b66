"""Translate pytest options, ini keys and the environment into juxsdk configuration overrides.

Imported by :func:`pytest_jux.plugin.pytest_configure` only when the plugin is enabled (and by
tests). pytest and the standard library only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .plugin import _ini, _resolve_bool

__all__ = ["JuxSettings", "build_settings"]

#: Settings the SDK loader knows: option dest / ini key / JUX_* variable / loader key.
#: ``kind`` says how to convert: "bool", "str" or "path".
_SDK_SETTINGS: tuple[tuple[str, str, str, str, str], ...] = (
    ("jux_sign", "jux_sign", "JUX_SIGN", "sign", "bool"),
    ("jux_signer", "jux_signer", "JUX_SIGNER", "signer", "str"),
    ("jux_key", "jux_key_path", "JUX_FILE__KEY", "backends.file.key", "path"),
    ("jux_cert", "jux_cert_path", "JUX_FILE__CERTIFICATE", "backends.file.certificate", "path"),
    ("jux_storage_mode", "jux_storage_mode", "JUX_STORAGE_MODE", "storage_mode", "str"),
    ("jux_api_url", "jux_api_url", "JUX_HTTP__URL", "backends.http.url", "str"),
    ("jux_project", "jux_project", "JUX_PROJECT", "project", "str"),
)


@dataclass
class JuxSettings:
    """What the options, ini keys and environment say, before the SDK loader runs.

    Attributes:
        overrides: Dotted loader keys -> values for :func:`juxsdk.load_config`.
        publish: True/False when publishing was asked for / refused, None when unset.
        add_http_publisher: ``jux_api_url`` was given: make sure ``"http"`` is a publisher.
        strict: A jux failure fails the session.
        properties: ``--jux-property`` values, in order.
        root: The pytest rootdir (the SDK loader's project directory).
    """

    overrides: dict[str, Any] = field(default_factory=dict)
    publish: bool | None = None
    add_http_publisher: bool = False
    strict: bool = False
    properties: dict[str, str] = field(default_factory=dict)
    root: Path = field(default_factory=Path.cwd)


def _ini_base(config: pytest.Config) -> Path:
    inipath = getattr(config, "inipath", None)
    return Path(inipath).parent if inipath else Path(config.rootpath)


def build_settings(config: pytest.Config, environ: Mapping[str, str] | None = None) -> JuxSettings:
    """Translate options, ini keys and environment into :class:`JuxSettings`.

    Raises:
        pytest.UsageError: a malformed ``--jux-property``, ini value or ``JUX_*`` boolean.
    """
    env = os.environ if environ is None else environ
    invocation_dir = Path(config.invocation_params.dir)
    ini_base = _ini_base(config)
    settings = JuxSettings(root=Path(config.rootpath))
    for dest, ini, env_name, key, kind in _SDK_SETTINGS:
        cli = config.getoption(dest, default=None)
        value: Any
        if cli is not None:  # command line: always an override
            value = str((invocation_dir / Path(cli).expanduser()).resolve()) if kind == "path" else cli
        elif env_name in env:  # environment: the SDK loader reads it itself
            continue
        else:
            value = _ini(config, ini)
            if value is None:
                continue
            if kind == "path":
                value = str((ini_base / Path(str(value)).expanduser()).resolve())
        if key == "storage_mode":
            from juxsdk.storage_mode import StorageMode  # the SDK's one definition of the modes

            if value not in {m.value for m in StorageMode}:
                where = "--jux-storage-mode" if cli is not None else f"ini key {ini} ="
                raise pytest.UsageError(f"pytest-jux: {where} {value!r}; "
                                        f"expected one of {', '.join(m.value for m in StorageMode)}")
        settings.overrides[key] = value
        if key == "backends.http.url":
            settings.add_http_publisher = True
        if key == "backends.file.key" and config.getoption("jux_signer", default=None) is None \
                and "JUX_SIGNER" not in env and _ini(config, "jux_signer") is None:
            # A key path means the file signer unless a signer is named at this level.
            settings.overrides.setdefault("signer", "file")
    if "JUX_HTTP__URL" in env and config.getoption("jux_api_url", default=None) is None:
        settings.add_http_publisher = True
    settings.publish = _resolve_bool(config, "jux_publish", "jux_publish", "JUX_PUBLISH", env)
    settings.strict = bool(_resolve_bool(config, "jux_strict", "jux_strict", "JUX_STRICT", env))
    for item in config.getoption("jux_property", default=None) or ():
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise pytest.UsageError(f"pytest-jux: --jux-property expects KEY=VALUE, got {item!r}")
        settings.properties[name.strip()] = value
    return settings
