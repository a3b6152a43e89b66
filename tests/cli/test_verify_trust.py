"""CA trust through `jux verify` (issue 17): --ca, a CA bundle, a chain in KeyInfo, DER and PEM inputs.

A real three-level PKI (root → intermediate → signing certificate): the report embeds the signing
certificate and the intermediate in KeyInfo, and the CLI is given only the root, as PEM or DER,
alone or inside a bundle of several roots. Every refusal is exit code 1 with its error type.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization

import juxsdk
from juxsdk.cli import cli as main
from juxsdk_backends.file_key import FileKeyOptions, FileKeySigner
from tests import pki

REPORT = b'<testsuite name="s" tests="2"><testcase name="a"/><testcase name="b"><failure/></testcase></testsuite>'


@pytest.fixture(scope="module")
def ca_pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("capki")
    root_key = pki.new_key("p256")
    since = pki.NOW - dt.timedelta(days=30)
    root = pki.make_cert(root_key, "Verify Root CA", ca=True, not_before=since)
    inter_key = pki.new_key("p256")
    inter = pki.make_cert(inter_key, "Verify Intermediate", ca=True, issuer_key=root_key, issuer_cert=root,
                          not_before=since)
    leaf_key = pki.new_key("rsa")
    leaf = pki.make_cert(leaf_key, "CI signer", issuer_key=inter_key, issuer_cert=inter,
                         not_before=pki.NOW - dt.timedelta(days=10), not_after=pki.NOW - dt.timedelta(days=1))
    signer = FileKeySigner(FileKeyOptions(key=pki.write_key(d / "leaf-key.pem", leaf_key),
                                          certificate=pki.write_certs(d / "chain.pem", leaf, inter)))
    signed = d / "signed.xml"
    signed.write_bytes(juxsdk.sign_report(REPORT, signer).data)
    other = pki.make_cert(pki.new_key("p256"), "Other Root", ca=True)
    files = {
        "root.pem": pki.write_certs(d / "root.pem", root),
        "root.der": d / "root.der",
        "bundle.pem": pki.write_certs(d / "bundle.pem", other, root),
        "other.pem": pki.write_certs(d / "other.pem", other),
        "leaf.der": d / "leaf.der",
        "inter.pem": pki.write_certs(d / "inter.pem", inter),
    }
    files["root.der"].write_bytes(root.public_bytes(serialization.Encoding.DER))
    files["leaf.der"].write_bytes(leaf.public_bytes(serialization.Encoding.DER))
    # the leaf expired yesterday: verify at a time inside its validity (--at), as for an old report
    at = (pki.NOW - dt.timedelta(days=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return signed, files, at


def _verify(*args: str):
    return CliRunner().invoke(main, ["verify", "--json", *args])


@pytest.mark.parametrize(
    "anchor",
    [("--ca", "root.pem"), ("--ca", "root.der"), ("--ca", "bundle.pem"), ("--cert", "leaf.der"), ("--pubkey", "leaf.der")],
    ids=["ca-pem", "ca-der", "ca-bundle", "cert-der", "pubkey-der"],
)
def test_trust_anchors_as_pem_der_or_bundle(ca_pki, anchor) -> None:
    signed, files, at = ca_pki
    option, name = anchor
    if option == "--pubkey" and name.endswith(".der"):
        result = _verify(option, str(files[name]), "--at", at, str(signed))
        assert result.exit_code == 2 and "holds no PEM public key or certificate" in result.output
        return
    result = _verify(option, str(files[name]), "--at", at, str(signed))
    assert result.exit_code == 0, result.output
    [entry] = json.loads(result.stdout)
    assert entry["verified"] is True
    assert entry["signature"]["certificate_subject"] == "CN=CI signer"
    if option == "--ca":
        assert entry["trust"].endswith("chains to a trusted CA")
    text = CliRunner().invoke(main, ["verify", option, str(files[name]), "--at", at, str(signed)])
    assert text.exit_code == 0 and text.stdout.startswith(f"OK   {signed}: signed by ")


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (("--ca", "other.pem"), "UntrustedKeyError", "does not chain to a trusted CA"),
        (("--ca", "root.pem", "NOW"), "CertificateValidityError", "expired at"),
        (("--ca", "root.der", "NOW"), "CertificateValidityError", "expired at"),
    ],
    ids=["other-root", "expired-pem", "expired-der"],
)
def test_ca_trust_refusals_are_exit_1_with_the_reason(ca_pki, args, error, message) -> None:
    signed, files, at = ca_pki
    option, name, *now = args
    when = [] if now else ["--at", at]
    result = _verify(option, str(files[name]), *when, str(signed))
    assert result.exit_code == 1, result.output
    [entry] = json.loads(result.stdout)
    assert entry["error"]["type"] == error and message in entry["error"]["message"]


def test_a_chain_without_its_intermediate_does_not_chain(ca_pki, tmp_path: Path) -> None:
    signed, files, at = ca_pki
    data = signed.read_bytes()
    first = data.index(b"</ds:X509Certificate>") + len(b"</ds:X509Certificate>")
    second_end = data.index(b"</ds:X509Certificate>", first) + len(b"</ds:X509Certificate>")
    stripped = tmp_path / "stripped.xml"
    stripped.write_bytes(data[:first] + data[second_end:])  # KeyInfo without the intermediate
    result = _verify("--ca", str(files["root.pem"]), "--at", at, str(stripped))
    assert result.exit_code == 1
    [entry] = json.loads(result.stdout)
    assert entry["error"]["type"] == "UntrustedKeyError"
    assert "embeds the intermediate certificates" in entry["error"]["hint"]


@pytest.mark.parametrize(
    "args",
    [(), ("--ca", "root.pem", "--cert", "leaf.der")],
    ids=["none", "two-kinds"],
)
def test_exactly_one_kind_of_trust_anchor(ca_pki, args) -> None:
    signed, files, _ = ca_pki
    argv = [a if a.startswith("--") else str(files[a]) for a in args]
    result = CliRunner().invoke(main, ["verify", *argv, str(signed)])
    assert result.exit_code == 2
    assert "give exactly one" in result.output


def test_a_leaf_without_digital_signature_key_usage_does_not_chain(ca_pki, tmp_path: Path) -> None:
    # a CA-issued certificate that may not sign: the CA policy refuses it, naming KeyUsage
    root_key = pki.new_key("p256")
    root = pki.make_cert(root_key, "KU Root", ca=True)
    key = pki.new_key("p256")
    leaf = pki.make_cert(key, "no-sign", issuer_key=root_key, issuer_cert=root, key_usage_sign=False)
    signer = FileKeySigner(FileKeyOptions(key=pki.write_key(tmp_path / "k.pem", key),
                                          certificate=pki.write_certs(tmp_path / "c.pem", leaf)))
    signed = tmp_path / "signed.xml"
    signed.write_bytes(juxsdk.sign_report(REPORT, signer).data)
    result = _verify("--ca", str(pki.write_certs(tmp_path / "root.pem", root)), str(signed))
    assert result.exit_code == 1, result.output
    [entry] = json.loads(result.stdout)
    assert entry["error"]["type"] == "UntrustedKeyError"
    assert "KeyUsage does not allow digitalSignature" in entry["error"]["message"]


def test_a_report_without_a_certificate_cannot_chain_to_a_ca(ca_pki, tmp_path: Path) -> None:
    _, files, _ = ca_pki
    key = pki.new_key("p256")
    signer = FileKeySigner(FileKeyOptions(key=pki.write_key(tmp_path / "k.pem", key)))
    signed = tmp_path / "signed.xml"
    signed.write_bytes(juxsdk.sign_report(REPORT, signer).data)
    result = _verify("--ca", str(files["root.pem"]), str(signed))
    assert result.exit_code == 1, result.output
    [entry] = json.loads(result.stdout)
    assert entry["error"]["type"] == "UntrustedKeyError"
    assert entry["error"]["message"] == "the report carries no certificate, so it cannot chain to a CA"
    assert "--pubkey" in entry["error"]["hint"]


def test_an_unusable_ca_file_is_a_usage_error(ca_pki, tmp_path: Path) -> None:
    signed, _, _ = ca_pki
    path = tmp_path / "ca.pem"
    path.write_bytes(b"not a certificate")
    result = CliRunner().invoke(main, ["verify", "--ca", str(path), str(signed)])
    assert result.exit_code == 2, result.output
    assert "holds no PEM or DER X.509 certificate" in result.output and "Traceback" not in result.output
    # a file that cannot be read (the CLI checks existence first; the library says why)
    with pytest.raises(juxsdk.errors.ConfigError, match="cannot read certificate file"):
        juxsdk.TrustedCA.from_pem_file(tmp_path / "missing.pem")
