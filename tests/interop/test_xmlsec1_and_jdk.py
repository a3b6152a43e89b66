"""Interoperability: xmlsec1 and the JDK's javax.xml.crypto.dsig verify our signatures, and we
verify theirs. Both tools are installed by the README's test command (.ci/run)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

import juxsdk
from tests.conftest import CORPUS, KeyMaterial, good_corpus

pytestmark = pytest.mark.interop

XMLSEC1 = shutil.which("xmlsec1")
JAVAC, JAVA = shutil.which("javac"), shutil.which("java")

SAMPLES = [p for p in good_corpus() if p.parent.name in ("pytest", "maven-surefire", "cucumber", "edge-cases")][:12]


def _require(tool: str | None, name: str) -> str:
    if tool is None:
        pytest.fail(f"{name} is not installed; the test command installs it (apt-get install)")
    return tool


def xmlsec1_verify(path: Path, cert: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_require(XMLSEC1, "xmlsec1"), "--verify", "--pubkey-cert-pem", str(cert), "--enabled-key-data", "x509,rsa,ec", str(path)],
        capture_output=True, text=True, timeout=60,
    )


@pytest.mark.parametrize("kind", ["rsa", "ec"])
@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.relative_to(CORPUS).as_posix())
def test_xmlsec1_verifies_our_signatures(path: Path, kind: str, rsa_keys: KeyMaterial, ec_keys: KeyMaterial, tmp_path: Path) -> None:
    keys = rsa_keys if kind == "rsa" else ec_keys
    out = tmp_path / "signed.xml"
    out.write_bytes(juxsdk.sign_report(path.read_bytes(), keys.signer()).data)
    result = xmlsec1_verify(out, keys.cert_path)
    assert result.returncode == 0, result.stderr
    # and xmlsec1 notices tampering
    data = out.read_bytes().replace(b' name="', b' name="X', 1)
    assert data != out.read_bytes()
    out.write_bytes(data)
    assert xmlsec1_verify(out, keys.cert_path).returncode != 0


TEMPLATE = b"""<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>
<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
<ds:SignatureMethod Algorithm="%(method)s"/>
<ds:Reference URI=""><ds:Transforms>
<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms>
<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference>
</ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature>"""

METHODS = {
    "rsa": b"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "ec": b"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
}


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_we_verify_xmlsec1_signatures(kind: str, rsa_keys: KeyMaterial, ec_keys: KeyMaterial, tmp_path: Path, corpus_dir: Path) -> None:
    keys = rsa_keys if kind == "rsa" else ec_keys
    src = (corpus_dir / "raw/maven-surefire/basic.xml").read_bytes()
    end = src.rfind(b"</")
    template = tmp_path / "template.xml"
    template.write_bytes(src[:end] + TEMPLATE % {b"method": METHODS[kind]} + src[end:])
    out = tmp_path / "xmlsec1-signed.xml"
    subprocess.run(
        [_require(XMLSEC1, "xmlsec1"), "--sign", "--privkey-pem", f"{keys.key_path},{keys.cert_path}", "--output", str(out), str(template)],
        check=True, capture_output=True, timeout=60,
    )
    v = juxsdk.verify_report(out.read_bytes(), juxsdk.TrustedCertificates.from_pem_file(keys.cert_path))
    assert v.summary == juxsdk.parse_report(src).summary
    assert v.canonical_hash == juxsdk.canonical_hash(src)


@pytest.fixture(scope="module")
def jdk_tool(tmp_path_factory) -> Path:
    build = tmp_path_factory.mktemp("java")
    src = Path(__file__).with_name("java") / "JuxInterop.java"
    subprocess.run([_require(JAVAC, "javac"), "-d", str(build), str(src)], check=True, capture_output=True, timeout=180)
    return build


def test_jdk_verifies_our_rsa_signature(jdk_tool: Path, rsa_keys: KeyMaterial, tmp_path: Path, corpus_dir: Path) -> None:
    out = tmp_path / "signed.xml"
    out.write_bytes(juxsdk.sign_report((corpus_dir / "raw/jenkins/pipeline.xml").read_bytes(), rsa_keys.signer()).data)
    r = subprocess.run([_require(JAVA, "java"), "-cp", str(jdk_tool), "JuxInterop", "verify", str(out), str(rsa_keys.cert_path)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "VALID" in r.stdout, r.stdout + r.stderr
    out.write_bytes(out.read_bytes().replace(b'name="', b'name="X', 1))
    r = subprocess.run([JAVA, "-cp", str(jdk_tool), "JuxInterop", "verify", str(out), str(rsa_keys.cert_path)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0


def test_we_verify_a_jdk_signature(jdk_tool: Path, rsa_keys: KeyMaterial, tmp_path: Path, corpus_dir: Path) -> None:
    der = tmp_path / "key.der"
    der.write_bytes(rsa_keys.key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    src = corpus_dir / "raw/polarion/basic.xml"
    out = tmp_path / "jdk-signed.xml"
    subprocess.run([_require(JAVA, "java"), "-cp", str(jdk_tool), "JuxInterop", "sign", str(src), str(out), str(der), str(rsa_keys.cert_path)],
                   check=True, capture_output=True, timeout=120)
    v = juxsdk.verify_report(out.read_bytes(), juxsdk.TrustedCertificates.from_pem_file(rsa_keys.cert_path))
    assert v.summary == juxsdk.parse_report(src.read_bytes()).summary


INCLUSIVE_TEMPLATE = b"""<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>
<ds:CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"/>
<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>
<ds:Reference URI=""><ds:Transforms>
<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/></ds:Transforms>
<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference>
</ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature>"""


def test_we_verify_xmlsec1_inclusive_c14n_default_transform(rsa_keys: KeyMaterial, tmp_path: Path) -> None:
    """Inclusive C14N 1.0 for SignedInfo and the spec's default reference C14N (no explicit
    C14N transform), on a root with an in-scope namespace declaration."""
    src = b'<?xml version="1.0"?>\n<testsuite xmlns:x="urn:extra" name="s" tests="1"><testcase name="a"/></testsuite>'
    end = src.rfind(b"</")
    template = tmp_path / "template.xml"
    template.write_bytes(src[:end] + INCLUSIVE_TEMPLATE + src[end:])
    out = tmp_path / "signed.xml"
    subprocess.run(
        [_require(XMLSEC1, "xmlsec1"), "--sign", "--privkey-pem", f"{rsa_keys.key_path},{rsa_keys.cert_path}", "--output", str(out), str(template)],
        check=True, capture_output=True, timeout=60,
    )
    trust = juxsdk.TrustedCertificates.from_pem_file(rsa_keys.cert_path)
    assert juxsdk.verify_report(out.read_bytes(), trust).summary.tests == 1
    with pytest.raises(juxsdk.DigestMismatchError):
        juxsdk.verify_report(out.read_bytes().replace(b'name="a"', b'name="b"'), trust)
