"""The pytest-jux plugin (``pytest11`` entry point ``jux``): sign, store and publish a run's JUnit XML.

The plugin holds no signing, configuration-parsing or storage logic, and uses only pytest's
public API (the same on pytest 7.4, 8 and 9). It

1. translates ``--jux-*`` options and ``jux_*`` ini keys into ``overrides`` for
   :func:`juxsdk.load_config` (loaded from the pytest *rootdir*) and builds the pipeline with
   :meth:`juxsdk.Jux.from_config` at startup (so a missing key or an unknown backend is a usage
   error before any test runs);
2. has pytest's own junitxml plugin write the report: the user's ``--junitxml`` file, or, without
   that option, a temporary file, by setting the option's value (``config.option.xmlpath``, the
   destination of ``--junitxml``) before the junitxml plugin is configured;
3. after the session (a ``wrapper=True`` ``pytest_sessionfinish``, after ``yield``, so the
   junitxml plugin has written its file) adds provenance properties, calls
   :meth:`juxsdk.Jux.submit`, replaces the ``--junitxml`` file with the exact signed bytes and
   reports in one terminal summary section.

This module is what pytest imports in every run, so it holds only the options, the ini keys and
the "is the plugin enabled?" decision (pytest and the standard library; pytest recompiles it for
assertion rewriting in every run when bytecode is not written). The translation into
:class:`~pytest_jux.settings.JuxSettings` (:mod:`pytest_jux.settings`) and steps 1 to 3
(:mod:`pytest_jux._session`, with juxsdk) are imported only when the plugin is enabled.

Precedence of every setting, highest first: command line > environment (``JUX_*``) > ini
(``pytest.ini``/``tox.ini``/``setup.cfg``/``[tool.pytest.ini_options]``) and ``[tool.jux]`` /
``jux.toml`` > user config file > defaults. Command-line values are passed to the SDK loader
as overrides; an ini value is passed only when the matching ``JUX_*`` variable is unset.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import pytest

__all__ = ["INI_KEYS", "is_enabled"]

#: ini key -> (help, pytest ini type)
INI_KEYS: dict[str, tuple[str, str]] = {
    "jux_enabled": ("enable pytest-jux (sign/store/publish the JUnit XML report)", "bool"),
    "jux_sign": ("sign the report (default: as configured for juxsdk)", "bool"),
    "jux_key_path": ("private key (PEM) for the 'file' signer; relative to the ini file", "string"),
    "jux_cert_path": ("certificate (PEM) for the 'file' signer; relative to the ini file", "string"),
    "jux_signer": ("signer backend name (e.g. file, pkcs11)", "string"),
    "jux_storage_mode": ("local | api | both | cache", "string"),
    "jux_publish": ("publish the report to the configured publishers", "bool"),
    "jux_api_url": ("Jux API v1 base URL (enables the 'http' publisher)", "string"),
    "jux_project": ("project name recorded in the report", "string"),
    "jux_strict": ("fail the session when signing/storing/publishing fails", "bool"),
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


# --- options -------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("jux", "signed JUnit XML reports (pytest-jux, juxsdk)")
    group.addoption("--jux", action="store_true", dest="jux_enabled", default=None,
                    help="sign, store and publish the JUnit XML report of this run [ini: jux_enabled]")
    group.addoption("--no-jux", action="store_false", dest="jux_enabled",
                    help="disable pytest-jux for this run")
    group.addoption("--jux-sign", action="store_true", dest="jux_sign", default=None,
                    help="sign the report [ini: jux_sign; env: JUX_SIGN]")
    group.addoption("--no-jux-sign", action="store_false", dest="jux_sign",
                    help="do not sign (store/publish the report unsigned)")
    group.addoption("--jux-key", dest="jux_key", default=None, metavar="PATH",
                    help="private key (PEM) for the 'file' signer [ini: jux_key_path; env: JUX_FILE__KEY]")
    group.addoption("--jux-cert", dest="jux_cert", default=None, metavar="PATH",
                    help="certificate (PEM) to embed [ini: jux_cert_path; env: JUX_FILE__CERTIFICATE]")
    group.addoption("--jux-signer", dest="jux_signer", default=None, metavar="NAME",
                    help="signer backend name [ini: jux_signer; env: JUX_SIGNER]")
    group.addoption("--jux-storage-mode", dest="jux_storage_mode", default=None, metavar="MODE",
                    help="local | api | both | cache [ini: jux_storage_mode; env: JUX_STORAGE_MODE]")
    group.addoption("--jux-publish", action="store_true", dest="jux_publish", default=None,
                    help="publish the report [ini: jux_publish; env: JUX_PUBLISH]")
    group.addoption("--no-jux-publish", action="store_false", dest="jux_publish",
                    help="do not publish (store locally only)")
    group.addoption("--jux-api-url", dest="jux_api_url", default=None, metavar="URL",
                    help="Jux API v1 base URL; adds the 'http' publisher "
                    "[ini: jux_api_url; env: JUX_HTTP__URL]")
    group.addoption("--jux-project", dest="jux_project", default=None, metavar="NAME",
                    help="project name [ini: jux_project; env: JUX_PROJECT]")
    group.addoption("--jux-property", dest="jux_property", action="append", default=None,
                    metavar="KEY=VALUE", help="extra report property (repeatable)")
    group.addoption("--jux-strict", action="store_true", dest="jux_strict", default=None,
                    help="a jux failure fails the session [ini: jux_strict; env: JUX_STRICT]")
    group.addoption("--no-jux-strict", action="store_false", dest="jux_strict",
                    help="a jux failure is only reported (default)")
    for name, (help_text, ini_type) in INI_KEYS.items():
        parser.addini(name, help_text, type=ini_type, default=None)  # type: ignore[arg-type]
    from . import attest  # pytest and the standard library only

    attest.addoption(parser, group)


# --- enabled? ------------------------------------------------------------------------------


def _env_bool(environ: Mapping[str, str], name: str) -> bool | None:
    raw = environ.get(name)
    if raw is None:
        return None
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise pytest.UsageError(
        f"pytest-jux: {name}={raw!r} is not a boolean (use 1/0, true/false, yes/no, on/off)"
    )


def _ini(config: pytest.Config, name: str) -> Any:
    """An ini value, or None when the key is not set (``""``/``[]`` from older pytest)."""
    try:
        value = config.getini(name)
    except ValueError:
        return None
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        value = value.strip()
        if INI_KEYS[name][1] == "bool":
            low = value.lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise pytest.UsageError(f"pytest-jux: ini key {name} = {value!r} is not a boolean")
    return value


def _resolve_bool(
    config: pytest.Config, dest: str, ini: str, env: str, environ: Mapping[str, str]
) -> bool | None:
    cli = config.getoption(dest, default=None)
    if cli is not None:
        return bool(cli)
    from_env = _env_bool(environ, env)
    if from_env is not None:
        return from_env
    value = _ini(config, ini)
    return None if value is None else bool(value)


def is_enabled(config: pytest.Config, environ: Mapping[str, str] | None = None) -> bool:
    """``--jux``/``--no-jux`` > ``JUX_ENABLED`` > ini ``jux_enabled`` > off."""
    env = os.environ if environ is None else environ
    return bool(_resolve_bool(config, "jux_enabled", "jux_enabled", "JUX_ENABLED", env))


# --- start-up ------------------------------------------------------------------------------


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # tryfirst: before pytest's junitxml plugin reads --junitxml (config.option.xmlpath).
    if hasattr(config, "workerinput"):  # xdist worker: only the controller acts
        return
    if not is_enabled(config):
        return
    from ._session import start
    from .settings import build_settings

    start(config, build_settings(config))
