"""Fixtures for the pytest-jux tests: isolated juxsdk state, a real key pair, store helpers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Import everything the plugin imports lazily *before* any inline pytester run: pytester
# restores sys.modules after each inline run, and re-importing juxsdk modules per run would be
# slow and would create second copies of the exception classes.
import juxsdk.client
import juxsdk.config
import juxsdk.errors
import juxsdk.junit
import juxsdk.metadata
import juxsdk.registry
import juxsdk.trust
import juxsdk.xmldsig  # noqa: F401
import juxsdk_backends._http_transport  # requests loads lazily on first publish
import juxsdk_backends.file_key
import juxsdk_backends.filesystem
import juxsdk_backends.hooks
import juxsdk_backends.http_api  # noqa: F401
from juxsdk.keys import generate_key_pair

pytest_plugins = ["pytester"]


@pytest.fixture(scope="session")
def keypair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An RSA-2048 key and its self-signed certificate (PEM), made once per session."""
    d = tmp_path_factory.mktemp("keys")
    key, cert = d / "ci-key.pem", d / "ci-cert.pem"
    generate_key_pair(key, cert, bits=2048, subject="pytest-jux tests")
    return key, cert


@pytest.fixture(autouse=True)
def jux_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, Path]]:
    """Isolated juxsdk state: no inherited JUX_* variables, data and config in tmp."""
    for name in list(os.environ):
        if name.startswith(("JUX_", "JUXSDK_", "PYTEST_ADDOPTS")):
            monkeypatch.delenv(name)
    dirs = {"data": tmp_path / "jux-data", "conf": tmp_path / "jux-conf"}
    monkeypatch.setenv("JUX_DATA_DIR", str(dirs["data"]))
    monkeypatch.setenv("JUX_CONFIG_DIR", str(dirs["conf"]))
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    # Only the built-in backends: other juxsdk plugins installed in this environment (or a
    # half-installed one) must not change these tests.
    monkeypatch.setenv("JUXSDK_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("JUXSDK_PLUGINS", "juxsdk_backends.hooks")
    yield dirs


def stored_reports(data_dir: Path) -> list[Path]:
    """The report files of the filesystem store under ``data_dir``."""
    root = data_dir / "reports"
    return sorted(p for p in root.glob("*/*.xml")) if root.is_dir() else []
