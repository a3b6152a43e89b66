"""Hints speak the CLI to CLI users (issue 12, item 8): a library hint that names a Python
argument (``replace=True``, ``max_bytes=``) also carries a ``cli_hint`` that `jux` shows."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import juxsdk
import juxsdk_backends

#: The packages as imported (the code under test), not a path relative to this file.
ROOTS = [Path(juxsdk.__file__).parent, Path(juxsdk_backends.__file__).parent]
PYTHON_SPELLING = re.compile(r"\b[a-z_]+=(?![=])")


def _calls_with_python_hints() -> list[str]:
    missing: list[str] = []
    for path in sorted(p for root in ROOTS for p in root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        strings = {
            node.targets[0].id: node.value.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        }
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            kw = {k.arg: k.value for k in node.keywords if k.arg}
            hint = kw.get("hint")
            text = None
            if isinstance(hint, ast.Constant) and isinstance(hint.value, str):
                text = hint.value
            elif isinstance(hint, ast.Name):
                text = strings.get(hint.id)
            if text and PYTHON_SPELLING.search(text) and "cli_hint" not in kw:
                missing.append(f"{path}:{node.lineno}: {text}")
    return missing


def test_every_hint_with_a_python_spelling_has_a_cli_hint() -> None:
    assert _calls_with_python_hints() == []


def test_the_cli_shows_the_cli_hint(tmp_path: Path, rsa_keys, corpus_dir) -> None:
    from click.testing import CliRunner

    from juxsdk.cli import cli

    runner = CliRunner()
    src = corpus_dir / "raw/generic/basic.xml"
    signed = tmp_path / "s.xml"
    ok = runner.invoke(cli, ["sign", str(src), "-o", str(signed), "--key", str(rsa_keys.key_path)])
    assert ok.exit_code == 0, ok.stderr
    again = runner.invoke(cli, ["sign", str(signed), "--key", str(rsa_keys.key_path)])
    assert again.exit_code == 3
    assert "hint: use --force" in again.stderr and "replace=True" not in again.stderr, again.stderr
