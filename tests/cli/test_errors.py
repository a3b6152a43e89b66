"""Error rendering: expected errors are one line + hint; internal errors never show a traceback."""

from __future__ import annotations

import pytest

import juxsdk.cli.inspect_cmd as inspect_module
from juxsdk.errors import JuxError
from tests.cli.conftest import assert_clean_error


def _boom(*args, **kwargs):
    raise RuntimeError("something odd happened")


def test_internal_error_is_one_line_exit_3(jux, corpus_dir, monkeypatch):
    monkeypatch.setattr(inspect_module, "describe_signatures", _boom)
    monkeypatch.setattr("juxsdk.parse_report", _boom)
    result = jux("inspect", corpus_dir / "raw/generic/basic.xml")
    assert result.exit_code == 3
    assert "Traceback" not in result.stderr
    assert "error: internal error: RuntimeError: something odd happened" in result.stderr
    assert "-v" in result.stderr  # the hint says how to get the traceback

    verbose = jux("-v", "inspect", corpus_dir / "raw/generic/basic.xml")
    assert verbose.exit_code == 3
    assert "Traceback" in verbose.stderr and "RuntimeError" in verbose.stderr


def test_jux_error_uses_its_exit_code(jux, corpus_dir, monkeypatch):
    class Odd(JuxError):
        exit_code = 4

    def raise_odd(*a, **k):
        raise Odd("multi\nline\nmessage", hint="do the thing")

    monkeypatch.setattr("juxsdk.parse_report", raise_odd)
    result = jux("inspect", corpus_dir / "raw/generic/basic.xml")
    assert result.exit_code == 4
    assert result.stderr.splitlines() == ["error: multi line message", "hint: do the thing"]


def test_usage_errors_exit_2(jux):
    assert jux("no-such-command").exit_code == 2
    assert jux("verify").exit_code == 2  # FILE… required
    assert jux("keygen", "--type", "dsa").exit_code == 2
    assert jux("submit", "x.xml", "--property", "novalue").exit_code == 2


def test_no_color_and_version(jux):
    result = jux("--version")
    assert result.exit_code == 0
    assert "jux (juxsdk)" in result.stdout
    plain = jux("--no-color", "inspect", "missing.xml")
    assert_clean_error(plain, 3, "missing.xml")
    assert "\x1b[" not in plain.stderr


@pytest.mark.parametrize("command", ["keygen", "sign", "verify", "inspect", "submit", "cache", "config", "backends"])
def test_every_command_has_help(jux, command):
    result = jux(command, "--help")
    assert result.exit_code == 0
    assert result.stdout.startswith(f"Usage: jux {command} ")
    # the global options are accepted after the command too (hidden from its help)
    assert jux(command, "-v", "--no-color", "--help").exit_code == 0
