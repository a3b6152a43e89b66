"""The installed console scripts (`jux` and its `jux-*` aliases), run as real processes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def _script(name: str) -> str:
    path = BIN / name
    if not path.exists():
        found = shutil.which(name)
        if not found:
            pytest.fail(f"console script {name} not installed: run `pip install -e .`")
        return found
    return str(path)


def run(name: str, *args, input: bytes | None = None, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [_script(name), *map(str, args)],
        input=input,
        capture_output=True,
        cwd=cwd,
        env=dict(os.environ),
        timeout=120,
    )


def test_keygen_sign_verify_through_pipes(workdir, corpus_dir):
    keygen = run("jux-keygen", "--type", "ec", cwd=workdir)
    assert keygen.returncode == 0, keygen.stderr
    cert = Path(os.environ["JUX_CONFIG_DIR"]) / "signing-cert.pem"
    assert cert.is_file()

    original = (corpus_dir / "raw" / "maven-surefire" / "with-output.xml").read_bytes()
    signed = run("jux-sign", input=original, cwd=workdir)
    assert signed.returncode == 0, signed.stderr
    assert signed.stdout.startswith(original[:40])

    ok = run("jux-verify", "--cert", cert, "-", input=signed.stdout, cwd=workdir)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith(b"OK")

    tampered = signed.stdout.replace(b"<testcase", b'<testcase extra="1"', 1)
    bad = run("jux", "verify", "--cert", cert, "-", input=tampered, cwd=workdir)
    assert bad.returncode == 1
    assert b"FAIL" in bad.stdout and b"Traceback" not in bad.stderr


def test_aliases_and_errors(workdir, corpus_dir):
    assert run("jux", "--version", cwd=workdir).stdout.startswith(b"jux (juxsdk) ")
    inspected = run("jux-inspect", corpus_dir / "raw/generic/basic.xml", "--json", cwd=workdir)
    assert inspected.returncode == 0 and b'"canonical_hash": "sha256:' in inspected.stdout
    assert run("jux-cache", "--help", cwd=workdir).returncode == 0
    assert run("jux-config", "show", cwd=workdir).returncode == 0
    missing = run("jux-inspect", "nope.xml", cwd=workdir)
    assert missing.returncode == 3
    assert missing.stderr.decode().splitlines()[0] == "error: nope.xml: no such file"
    bad_config = workdir / "jux.toml"
    bad_config.write_text("stores = 3\n")
    broken = run("jux", "submit", "x.xml", cwd=workdir)
    assert broken.returncode == 2
    assert b"Traceback" not in broken.stderr and broken.stderr.startswith(b"error: ")
