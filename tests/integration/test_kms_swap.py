"""The swap in a harness: the same program (`Jux.from_config()` then `submit()`) signs with a file key,
then — only `signer = "awskms"` and a key id changed in jux.toml — with a KMS key on moto.

Run as a real subprocess, with the AWS settings in the environment as a CI job has them.
"""

from __future__ import annotations

import os
import subprocess
import sys

from juxsdk.trust import TrustedCertificates, TrustedPublicKeys
from juxsdk.xmldsig import verify_report
from tests.conftest import CORPUS
from tests.kmssupport import SECRETS, kms_server

PROGRAM = """\
import sys
from pathlib import Path

from juxsdk import Jux

with Jux.from_config() as jux:
    result = jux.submit(Path(sys.argv[1]))
    assert result.ok, result
    Path(sys.argv[2]).write_bytes(result.report.data)
    print(result.report.signature.algorithm)
"""


def test_same_program_file_key_then_kms(tmp_path, rsa_keys):
    kms = kms_server()
    project = tmp_path / "project"
    project.mkdir()
    (project / "submit_report.py").write_text(PROGRAM)
    report = sorted((CORPUS / "raw" / "maven-surefire").glob("*.xml"))[0]
    common = (
        f'project = "kms-swap"\nstores = ["filesystem"]\n\n[backends.filesystem]\nroot = "{tmp_path / "store"}"\n'
        f'\n[backends.file]\nkey = "{rsa_keys.key_path}"\ncertificate = "{rsa_keys.cert_path}"\n'
    )
    env = {**os.environ, **kms.env()}

    def run(out, build):
        # two CI runs (two build ids): each run's provenance differs, so each is its own record
        # even when both finish within the same second (jux:timestamp has second resolution)
        build_env = {**env, "GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": build}
        return subprocess.run([sys.executable, "submit_report.py", str(report), str(out)], cwd=project,
                              env=build_env, capture_output=True, text=True, timeout=120, check=False)

    (project / "jux.toml").write_text('signer = "file"\n' + common)
    proc = run(tmp_path / "file.xml", "1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "rsa-sha256"

    (project / "jux.toml").write_text('signer = "awskms"\n' + common + '\n[backends.awskms]\nkey_id = "alias/jux-p256"\n')
    proc = run(tmp_path / "kms.xml", "2")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ecdsa-sha256"
    assert not any(s in proc.stdout + proc.stderr for s in SECRETS)

    verify_report((tmp_path / "file.xml").read_bytes(), TrustedCertificates.from_pem_file(rsa_keys.cert_path))
    from cryptography.hazmat.primitives import serialization

    der = kms.client.get_public_key(KeyId=kms.keys["p256"].key_id)["PublicKey"]
    verified = verify_report((tmp_path / "kms.xml").read_bytes(),
                             TrustedPublicKeys([serialization.load_der_public_key(der)]))
    # same report, same pipeline (provenance properties, store): only the key differs
    assert verified.summary == verify_report(
        (tmp_path / "file.xml").read_bytes(), TrustedCertificates.from_pem_file(rsa_keys.cert_path)
    ).summary
    assert len(list((tmp_path / "store").rglob("*.xml"))) == 2
