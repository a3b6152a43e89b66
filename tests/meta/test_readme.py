"""The README's library example runs as written, and its two commands exist."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import CORPUS, REPO, KeyMaterial

README = (REPO / "README.md").read_text()


def test_library_example_runs(tmp_path: Path, rsa_keys: KeyMaterial) -> None:
    code = re.search(r"## Library in 20 lines\n\n```python\n(.*?)```", README, re.S).group(1)
    (tmp_path / "signing-key.pem").write_bytes(rsa_keys.key_path.read_bytes())
    (tmp_path / "signing-cert.pem").write_bytes(rsa_keys.cert_path.read_bytes())
    (tmp_path / "junit.xml").write_bytes((CORPUS / "raw/pytest/xunit2-basic.xml").read_bytes())
    (tmp_path / "jux.toml").write_text(
        '[backends.file]\nkey = "signing-key.pem"\ncertificate = "signing-cert.pem"\n'
    )
    (tmp_path / "example.py").write_text(code)
    out = subprocess.run(
        [sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "tests=5, failures=1" in out.stdout
    assert "True" in out.stdout.splitlines()[-1]  # the configured pipeline stored it
    signed = (tmp_path / "junit.signed.xml").read_bytes()
    assert signed.startswith((tmp_path / "junit.xml").read_bytes()[:200])


def test_the_two_commands_exist() -> None:
    assert "bash scripts/quickstart.sh" in README and "bash scripts/test.sh" in README
    ci = (REPO / ".ci" / "run").read_text()
    assert "scripts/test.sh" in ci
    for script in ("quickstart.sh", "test.sh"):
        assert subprocess.run(["bash", "-n", str(REPO / "scripts" / script)]).returncode == 0
