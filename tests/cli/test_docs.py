"""docs/reference/cli.md is generated from the click commands and must be up to date."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_cli_reference_is_up_to_date():
    proc = subprocess.run(
        [sys.executable, str(REPO / "docs" / "gen_cli_reference.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr + "\nregenerate with: python docs/gen_cli_reference.py"


def test_reference_covers_every_command_and_exit_code():
    text = (REPO / "docs" / "reference" / "cli.md").read_text(encoding="utf-8")
    for command in (
        "keygen",
        "sign",
        "verify",
        "inspect",
        "submit",
        "cache list",
        "cache show",
        "cache stats",
        "cache clean",
        "config show",
        "config check",
        "config init",
        "backends",
    ):
        assert f"## `jux {command}`" in text, command
    assert "_JUX_COMPLETE=bash_source jux" in text
    codes = (REPO / "docs" / "reference" / "exit-codes.md").read_text(encoding="utf-8")
    from juxsdk import errors

    for value in (
        errors.EXIT_OK,
        errors.EXIT_VERIFICATION_FAILED,
        errors.EXIT_USAGE,
        errors.EXIT_ERROR,
        errors.EXIT_PARTIAL,
    ):
        assert f"| {value} " in codes
