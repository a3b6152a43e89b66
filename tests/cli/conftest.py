"""Fixtures for the CLI tests: an isolated working directory and a CliRunner wrapper."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from juxsdk.cli import cli

VENV_BIN = Path(sys.executable).parent


class Jux:
    """Runs `jux` in-process with click's CliRunner (stdout and stderr kept apart)."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.runner = CliRunner()

    def __call__(
        self,
        *args: str | os.PathLike[str],
        input: bytes | str | None = None,
        env: dict[str, str] | None = None,
    ) -> Result:
        old = Path.cwd()
        os.chdir(self.cwd)
        try:
            return self.runner.invoke(
                cli, [str(a) for a in args], input=input, env=env, prog_name="jux", catch_exceptions=False
            )
        finally:
            os.chdir(old)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory (no jux.toml / pyproject.toml above the test's reach)."""
    wd = tmp_path / "work"
    wd.mkdir()
    monkeypatch.chdir(wd)
    monkeypatch.delenv("NO_COLOR", raising=False)
    return wd


@pytest.fixture
def jux(workdir: Path) -> Jux:
    return Jux(workdir)


@pytest.fixture
def config_dir() -> Path:
    return Path(os.environ["JUX_CONFIG_DIR"])


@pytest.fixture
def data_dir() -> Path:
    return Path(os.environ["JUX_DATA_DIR"])


def write_config(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def assert_clean_error(result: Result, code: int, *needles: str) -> None:
    """One `error:` line (plus an optional `hint:` line) on stderr, no traceback, given exit code."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert errors, result.stderr
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)
