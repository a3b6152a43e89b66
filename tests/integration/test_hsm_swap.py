"""The swap: one program signs with a file key, then — only the configuration changed — with an HSM key.

The program is a real script run twice as a subprocess (``Jux.from_config()`` then
``submit()``), first with ``signer = "file"``, then with ``signer = "pkcs11"`` and a
``[backends.pkcs11]`` table. Both outputs verify with ``jux verify`` and with ``xmlsec1``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from juxsdk.trust import TrustedCertificates
from juxsdk.xmldsig import verify_report
from tests.conftest import CORPUS
from tests.softhsm import requires_softhsm

pytestmark = [pytest.mark.softhsm, requires_softhsm]

XMLSEC1 = shutil.which("xmlsec1")
JUX = Path(sys.executable).with_name("jux")

PROGRAM = '''\
import sys
from pathlib import Path

from juxsdk import Jux

jux = Jux.from_config()
result = jux.submit(Path(sys.argv[1]))
assert result.ok, result
Path(sys.argv[2]).write_bytes(result.report.data)
print(result.report.signature.algorithm, result.report.signature.signer)
jux.close()
'''


def _run(args: list[str], *, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)


def _common_toml(store_root: Path) -> str:
    return f'project = "hsm-swap"\nstores = ["filesystem"]\n\n[backends.filesystem]\nroot = "{store_root}"\n'


def test_same_program_file_key_then_hsm(tmp_path, softhsm, rsa_keys):
    project = tmp_path / "project"
    project.mkdir()
    program = project / "submit_report.py"
    program.write_text(PROGRAM)
    report = CORPUS / "raw" / "maven-surefire"
    report = sorted(report.glob("*.xml"))[0]
    # Each step stores into its own root: both runs can fall in the same second, and then the two
    # reports have the same canonical hash (same content, same jux:timestamp) but different signatures,
    # which one content-addressed store rightly refuses to hold twice (StoreConflictError).
    store_root = tmp_path / "store-file"
    config = project / "jux.toml"
    env = {**os.environ, "JUX_PKCS11_PIN": softhsm.pin, "SOFTHSM2_CONF": str(softhsm.conf)}

    # 1. file key
    config.write_text(
        'signer = "file"\n'
        + _common_toml(store_root)
        + f'\n[backends.file]\nkey = "{rsa_keys.key_path}"\ncertificate = "{rsa_keys.cert_path}"\n'
    )
    out_file = tmp_path / "signed-file.xml"
    proc = _run([sys.executable, str(program), str(report), str(out_file)], cwd=project, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("rsa-sha256 CN=juxsdk test rsa")

    # 2. the HSM: only the configuration changes
    hsm_cert = softhsm.keys["rsa2048"].certificate_pem
    config.write_text(
        'signer = "pkcs11"\n' + _common_toml(tmp_path / "store-hsm") + "\n" + softhsm.toml_table("rsa2048")
    )
    out_hsm = tmp_path / "signed-hsm.xml"
    proc = _run([sys.executable, str(program), str(report), str(out_hsm)], cwd=project, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("rsa-sha256 CN=jux test rsa2048")
    assert softhsm.pin not in proc.stdout + proc.stderr

    file_data, hsm_data = out_file.read_bytes(), out_hsm.read_bytes()
    assert file_data != hsm_data

    # juxsdk: each verifies with its own certificate and not with the other's
    v_file = verify_report(file_data, TrustedCertificates.from_pem_file(rsa_keys.cert_path))
    v_hsm = verify_report(hsm_data, TrustedCertificates.from_pem_file(hsm_cert))
    # same test results inside (metadata such as jux:timestamp differs between the runs)
    from juxsdk.junit import parse_report

    expected = parse_report(report.read_bytes()).summary
    assert v_file.summary == v_hsm.summary == expected
    assert v_hsm.signature.certificate_subject == "CN=jux test rsa2048,O=juxsdk tests"

    # `jux verify`
    for data_path, cert in ((out_file, rsa_keys.cert_path), (out_hsm, hsm_cert)):
        proc = _run([str(JUX), "verify", "--cert", str(cert), str(data_path)], cwd=project, env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "OK" in proc.stdout
    proc = _run([str(JUX), "verify", "--cert", str(rsa_keys.cert_path), str(out_hsm)], cwd=project, env=env)
    assert proc.returncode == 1, "the HSM-signed report must not verify against the file key's certificate"

    # xmlsec1, the independent implementation
    if XMLSEC1 is None:
        pytest.skip("xmlsec1 not installed (apt-get install xmlsec1): juxsdk checks passed")
    for data_path, cert in ((out_file, rsa_keys.cert_path), (out_hsm, hsm_cert)):
        proc = _run([XMLSEC1, "--verify", "--trusted-pem", str(cert), str(data_path)], cwd=project, env=env)
        assert proc.returncode == 0, proc.stderr


def test_swap_to_ec_key_in_the_token_without_certificate(tmp_path, softhsm):
    """An HSM key with no certificate: KeyInfo carries the key value; trust the public key."""
    project = tmp_path / "project"
    project.mkdir()
    program = project / "submit_report.py"
    program.write_text(PROGRAM)
    report = sorted((CORPUS / "raw" / "pytest").glob("*.xml"))[0]
    (project / "jux.toml").write_text(
        'signer = "pkcs11"\n' + _common_toml(tmp_path / "store") + "\n" + softhsm.toml_table("p256")
    )
    env = {**os.environ, "JUX_PKCS11_PIN": softhsm.pin, "SOFTHSM2_CONF": str(softhsm.conf)}
    out = tmp_path / "signed.xml"
    proc = _run([sys.executable, str(program), str(report), str(out)], cwd=project, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ecdsa-sha256 sha256:")

    from juxsdk_backends.pkcs11 import Pkcs11Signer

    with Pkcs11Signer(softhsm.options("p256")) as signer:
        pem = signer.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    pubkey = tmp_path / "p256-pub.pem"
    pubkey.write_bytes(pem)
    proc = _run([str(JUX), "verify", "--pubkey", str(pubkey), str(out)], cwd=project, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if XMLSEC1 is not None:
        proc = _run([XMLSEC1, "--verify", "--pubkey-pem", str(pubkey), str(out)], cwd=project, env=env)
        assert proc.returncode == 0, proc.stderr


def test_wrong_pin_in_config_fails_cleanly(tmp_path, softhsm):
    project = tmp_path / "project"
    project.mkdir()
    program = project / "submit_report.py"
    program.write_text(PROGRAM)
    report = sorted((CORPUS / "raw" / "pytest").glob("*.xml"))[0]
    (project / "jux.toml").write_text(
        'signer = "pkcs11"\n' + _common_toml(tmp_path / "store") + "\n" + softhsm.toml_table("rsa2048")
    )
    wrong = "0000-definitely-wrong"
    env = {**os.environ, "JUX_PKCS11_PIN": wrong, "SOFTHSM2_CONF": str(softhsm.conf)}
    proc = _run([sys.executable, str(program), str(report), str(tmp_path / "x.xml")], cwd=project, env=env)
    assert proc.returncode != 0
    assert "SigningError: wrong PIN for PKCS#11 token 'jux-test'" in proc.stderr
    assert wrong not in proc.stderr and softhsm.pin not in proc.stderr
