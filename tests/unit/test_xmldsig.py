"""Signing and verification on every corpus file, with real keys."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from lxml import etree

import juxsdk
from juxsdk.errors import (
    AlreadySignedError,
    CertificateValidityError,
    DigestMismatchError,
    SignatureValueError,
    SigningError,
    UntrustedKeyError,
)
from juxsdk_backends.file_key import FileKeyOptions, FileKeySigner
from tests import pki
from tests.conftest import CORPUS, KeyMaterial, good_corpus


def _pretty(data: bytes) -> bytes:
    parser = etree.XMLParser(remove_blank_text=True)
    tree = etree.fromstring(data, parser).getroottree()
    return etree.tostring(tree, pretty_print=True, xml_declaration=True, encoding="UTF-8")


def _compact(data: bytes) -> bytes:
    parser = etree.XMLParser(remove_blank_text=True)
    tree = etree.fromstring(data, parser).getroottree()
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


def _flip_testcase_name(data: bytes) -> bytes:
    marker = b'name="'
    start = data.find(b"<testcase")
    if start < 0:
        start = data.find(b"testcase ")
    i = data.find(marker, start) + len(marker)
    flipped = b"Z" if data[i : i + 1] != b"Z" else b"Y"
    return data[:i] + flipped + data[i + 1 :]


@pytest.mark.parametrize("kind", ["rsa", "ec"])
@pytest.mark.parametrize("path", good_corpus(), ids=lambda p: p.relative_to(CORPUS).as_posix())
def test_corpus_sign_verify_tamper(path: Path, kind: str, rsa_keys: KeyMaterial, ec_keys: KeyMaterial) -> None:
    keys = rsa_keys if kind == "rsa" else ec_keys
    signer = keys.signer()
    trust = juxsdk.TrustedCertificates.from_pem_file(keys.cert_path)
    original = path.read_bytes()
    for variant in (original, _compact(original), _pretty(original)):
        report = juxsdk.parse_report(variant, source=path.name)
        signed = juxsdk.sign_report(report, signer)
        # the exact input bytes are kept, the signature is added before the root end tag
        end = variant.rstrip().rfind(b"</")
        assert signed.data[:end] == variant[:end]
        assert signed.data.count(b"<ds:Signature xmlns") == 1
        assert signed.canonical_hash == report.canonical_hash == juxsdk.canonical_hash(signed.data)
        verified = juxsdk.verify_report(signed.data, trust, source=path.name)
        assert verified.summary == report.summary
        assert verified.properties == report.properties
        assert verified.canonical_hash == report.canonical_hash
        if report.summary.tests:
            with pytest.raises(DigestMismatchError):
                juxsdk.verify_report(_flip_testcase_name(signed.data), trust)


@pytest.mark.parametrize(
    ("kind", "algorithm"),
    [("rsa", "rsa-sha256"), ("rsa", "rsa-sha384"), ("rsa", "rsa-sha512"), ("p256", "ecdsa-sha256"), ("p384", "ecdsa-sha384")],
)
def test_every_algorithm(tmp_path: Path, kind: str, algorithm: str, corpus_dir: Path) -> None:
    keys = KeyMaterial(tmp_path, kind)
    signer = FileKeySigner(FileKeyOptions(key=keys.key_path, certificate=keys.cert_path, algorithm=algorithm))
    signed = juxsdk.sign_report((corpus_dir / "raw/generic/basic.xml").read_bytes(), signer)
    assert signed.signature.algorithm == algorithm
    assert algorithm.replace("-", "-") in signed.data.decode()
    v = juxsdk.verify_report(signed.data, juxsdk.TrustedCertificates.from_pem_file(keys.cert_path))
    assert v.signature.algorithm == algorithm


def test_rsa_3072_and_4096(tmp_path: Path, corpus_dir: Path) -> None:
    for size in (3072, 4096):
        key = pki.new_key("rsa", size)
        kp = pki.write_key(tmp_path / f"k{size}.pem", key)
        signed = juxsdk.sign_report((corpus_dir / "raw/generic/basic.xml").read_bytes(), FileKeySigner(FileKeyOptions(key=kp)))
        pub = juxsdk.TrustedPublicKeys([key.public_key()])
        assert juxsdk.verify_report(signed.data, pub).signature.key_fingerprint == signed.signature.key_fingerprint


def test_key_value_path_needs_pinned_key_or_unsafe(rsa_keys: KeyMaterial, corpus_dir: Path) -> None:
    signed = juxsdk.sign_report((corpus_dir / "raw/generic/basic.xml").read_bytes(), rsa_keys.signer(with_cert=False))
    assert b"<ds:RSAKeyValue>" in signed.data and b"X509Certificate" not in signed.data
    assert juxsdk.verify_report(signed.data, juxsdk.TrustedPublicKeys.from_pem_file(rsa_keys.pubkey_path))
    with pytest.raises(UntrustedKeyError, match="only a public key"):
        juxsdk.verify_report(signed.data, juxsdk.TrustedCertificates.from_pem_file(rsa_keys.cert_path))
    with pytest.raises(UntrustedKeyError):
        juxsdk.verify_report(signed.data, juxsdk.TrustedCA.from_pem_file(rsa_keys.cert_path))
    unsafe = juxsdk.verify_report(signed.data, juxsdk.UnsafeAcceptAnyKey())
    assert "UNSAFE" in unsafe.trust


def test_wrong_key_is_untrusted(rsa_keys: KeyMaterial, tmp_path: Path, corpus_dir: Path) -> None:
    other = KeyMaterial(tmp_path, "rsa")
    signed = juxsdk.sign_report((corpus_dir / "raw/generic/basic.xml").read_bytes(), rsa_keys.signer())
    with pytest.raises(UntrustedKeyError, match="not a pinned certificate"):
        juxsdk.verify_report(signed.data, juxsdk.TrustedCertificates.from_pem_file(other.cert_path))
    with pytest.raises(UntrustedKeyError, match="not a pinned public key"):
        juxsdk.verify_report(signed.data, juxsdk.TrustedPublicKeys.from_pem_file(other.pubkey_path))


def test_signature_value_tampering(rsa_signer, rsa_cert_path: Path, corpus_dir: Path) -> None:
    signed = juxsdk.sign_report((corpus_dir / "raw/generic/basic.xml").read_bytes(), rsa_signer)
    start = signed.data.index(b"<ds:SignatureValue>") + len(b"<ds:SignatureValue>")
    ch = b"A" if signed.data[start : start + 1] != b"A" else b"B"
    bad = signed.data[:start] + ch + signed.data[start + 1 :]
    with pytest.raises(SignatureValueError):
        juxsdk.verify_report(bad, juxsdk.TrustedCertificates.from_pem_file(rsa_cert_path))
    # a changed DigestValue breaks the signature over SignedInfo
    d = signed.data.index(b"<ds:DigestValue>") + len(b"<ds:DigestValue>")
    ch = b"A" if signed.data[d : d + 1] != b"A" else b"B"
    with pytest.raises(SignatureValueError):
        juxsdk.verify_report(signed.data[:d] + ch + signed.data[d + 1 :], juxsdk.TrustedCertificates.from_pem_file(rsa_cert_path))


def test_already_signed_needs_replace(rsa_signer, ec_signer, corpus_dir: Path, ec_keys: KeyMaterial) -> None:
    signed = juxsdk.sign_report((corpus_dir / "raw/generic/basic.xml").read_bytes(), rsa_signer)
    with pytest.raises(AlreadySignedError, match="replace=True") as refused:
        juxsdk.sign_report(signed.data, ec_signer)
    assert refused.value.cli_hint is not None and "--force" in refused.value.cli_hint  # what `jux` shows
    resigned = juxsdk.sign_report(signed.data, ec_signer, replace=True)
    assert resigned.data.count(b"<ds:Signature xmlns") == 1
    assert resigned.canonical_hash == signed.canonical_hash
    juxsdk.verify_report(resigned.data, juxsdk.TrustedCertificates.from_pem_file(ec_keys.cert_path))


def test_expired_certificate_and_at(tmp_path: Path, corpus_dir: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    keys = KeyMaterial(tmp_path, "rsa", not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1))
    signed = juxsdk.sign_report((corpus_dir / "raw/generic/basic.xml").read_bytes(), keys.signer())
    trust = juxsdk.TrustedCertificates.from_pem_file(keys.cert_path)
    with pytest.raises(CertificateValidityError, match="expired") as info:
        juxsdk.verify_report(signed.data, trust)
    assert "--at" in (info.value.hint or "")
    v = juxsdk.verify_report(signed.data, trust, at=now - dt.timedelta(days=10))
    assert v.verified_at == now - dt.timedelta(days=10)
    with pytest.raises(CertificateValidityError, match="not yet valid"):
        juxsdk.verify_report(signed.data, trust, at=now - dt.timedelta(days=60))


def test_ca_bundle_chain(tmp_path: Path, corpus_dir: Path) -> None:
    root_key = pki.new_key("rsa")
    root = pki.make_cert(root_key, "Test Root CA", ca=True)
    inter_key = pki.new_key("rsa")
    inter = pki.make_cert(inter_key, "Test Intermediate", ca=True, issuer_key=root_key, issuer_cert=root)
    leaf_key = pki.new_key("p256")
    leaf = pki.make_cert(leaf_key, "CI signer", issuer_key=inter_key, issuer_cert=inter)
    kp = pki.write_key(tmp_path / "leaf-key.pem", leaf_key)
    cp = pki.write_certs(tmp_path / "chain.pem", leaf, inter)
    signed = juxsdk.sign_report((corpus_dir / "raw/generic/basic.xml").read_bytes(), FileKeySigner(FileKeyOptions(key=kp, certificate=cp)))
    assert signed.data.count(b"<ds:X509Certificate>") == 2
    v = juxsdk.verify_report(signed.data, juxsdk.TrustedCA([root]))
    assert v.signature.certificate_subject == "CN=CI signer"
    other_root = pki.make_cert(pki.new_key("rsa"), "Other Root", ca=True)
    with pytest.raises(UntrustedKeyError, match="does not chain"):
        juxsdk.verify_report(signed.data, juxsdk.TrustedCA([other_root]))
    # a leaf without KeyUsage digitalSignature is refused by the CA policy
    nku_key = pki.new_key("p256")
    nku = pki.make_cert(nku_key, "no-sign", issuer_key=inter_key, issuer_cert=inter, key_usage_sign=False)
    s2 = juxsdk.sign_report(
        (corpus_dir / "raw/generic/basic.xml").read_bytes(),
        FileKeySigner(FileKeyOptions(key=pki.write_key(tmp_path / "n.pem", nku_key), certificate=pki.write_certs(tmp_path / "n-c.pem", nku, inter))),
    )
    with pytest.raises(UntrustedKeyError):
        juxsdk.verify_report(s2.data, juxsdk.TrustedCA([root]))


def test_certificate_key_mismatch_is_an_error(tmp_path: Path) -> None:
    a = KeyMaterial(tmp_path / "a", "rsa")
    b = KeyMaterial(tmp_path / "b", "rsa")
    with pytest.raises(juxsdk.ConfigError, match="does not match"):
        FileKeySigner(FileKeyOptions(key=a.key_path, certificate=b.cert_path))


class _LyingSigner:
    """Claims one public key, signs with another (a broken HSM config)."""

    name = "liar"

    def __init__(self, real: FileKeySigner, claimed: FileKeySigner) -> None:
        self.real, self.claimed = real, claimed
        self.algorithm = real.algorithm

    def public_key(self):
        return self.claimed.public_key()

    def certificate_chain(self):
        return ()

    def sign(self, data: bytes) -> bytes:
        return self.real.sign(data)

    def close(self) -> None:
        pass


def test_signer_with_mismatched_key_is_caught_at_signing(tmp_path: Path, corpus_dir: Path) -> None:
    a = KeyMaterial(tmp_path / "a", "rsa").signer()
    b = KeyMaterial(tmp_path / "b", "rsa").signer()
    with pytest.raises(SigningError, match="does not verify with its own public key"):
        juxsdk.sign_report((corpus_dir / "raw/generic/basic.xml").read_bytes(), _LyingSigner(a, b))


def test_encrypted_key(tmp_path: Path, corpus_dir: Path, monkeypatch) -> None:
    key = pki.new_key("rsa")
    kp = pki.write_key(tmp_path / "enc.pem", key, passphrase=b"s3cret-pass")
    with pytest.raises(juxsdk.errors.SecretRequiredError) as info:
        FileKeySigner(FileKeyOptions(key=kp))
    assert info.value.option_path == "backends.file.passphrase"
    monkeypatch.setenv("JUX_TEST_PASS", "wrong")
    with pytest.raises(juxsdk.ConfigError, match="wrong passphrase") as bad:
        FileKeySigner(FileKeyOptions(key=kp, passphrase=juxsdk.Secret(env="JUX_TEST_PASS")))
    assert "wrong" not in str(bad.value).replace("wrong passphrase", "")
    monkeypatch.setenv("JUX_TEST_PASS", "s3cret-pass")
    s = FileKeySigner(FileKeyOptions(key=kp, passphrase=juxsdk.Secret(env="JUX_TEST_PASS")))
    assert "s3cret" not in repr(s)
    juxsdk.verify_report(juxsdk.sign_report((corpus_dir / "raw/generic/basic.xml").read_bytes(), s).data, juxsdk.TrustedPublicKeys([key.public_key()]))


def test_pkcs12_bundle(tmp_path: Path, corpus_dir: Path) -> None:
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

    key = pki.new_key("p256")
    cert = pki.make_cert(key, "p12 signer")
    p12 = tmp_path / "bundle.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(b"x", key, cert, None, BestAvailableEncryption(b"pw")))
    s = FileKeySigner(FileKeyOptions(key=p12, passphrase=juxsdk.Secret(value="pw")))
    assert s.certificate_chain()[0] == cert
    signed = juxsdk.sign_report((corpus_dir / "raw/generic/basic.xml").read_bytes(), s)
    assert juxsdk.verify_report(signed.data, juxsdk.TrustedCertificates([cert])).signature.certificate_subject == "CN=p12 signer"


def test_missing_key_file_hint(tmp_path: Path) -> None:
    with pytest.raises(juxsdk.ConfigError, match="does not exist") as info:
        FileKeySigner(FileKeyOptions(key=tmp_path / "nope.pem"))
    assert "jux keygen" in (info.value.hint or "")


def test_self_closing_root_and_utf16_fall_back_to_serialisation(rsa_signer, rsa_cert_path: Path) -> None:
    trust = juxsdk.TrustedCertificates.from_pem_file(rsa_cert_path)
    s = juxsdk.sign_report(b'<testsuites name="empty"/>', rsa_signer)
    assert juxsdk.verify_report(s.data, trust).summary.tests == 0
    u16 = '<?xml version="1.0" encoding="UTF-16"?><testsuite name="ü"><testcase name="a"/></testsuite>'.encode("utf-16")
    s16 = juxsdk.sign_report(u16, rsa_signer)
    assert juxsdk.verify_report(s16.data, trust).summary.tests == 1


def test_utf7_report_is_signed_in_utf8(rsa_signer, rsa_cert_path: Path) -> None:
    """Found by the fuzz suite: the signature was spliced into a UTF-7 document, where its base64
    '+' starts a shifted sequence, so the signed bytes did not parse."""
    doc = b'<?xml version="1.0" encoding="UTF-7"?>\n<testsuite name="a+AOk-b"><testcase name="t"/></testsuite>\n'
    report = juxsdk.parse_report(doc)
    assert report.summary.tests == 1
    signed = juxsdk.sign_report(report, rsa_signer)
    assert signed.data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    verified = juxsdk.verify_report(signed.data, juxsdk.TrustedCertificates.from_pem_file(rsa_cert_path))
    assert verified.canonical_hash == report.canonical_hash
    assert b'name="a\xc3\xa9b"' in signed.data
    again = juxsdk.sign_report(signed, rsa_signer, replace=True)  # re-signing strips and writes again
    juxsdk.verify_report(again.data, juxsdk.TrustedCertificates.from_pem_file(rsa_cert_path))


def test_trailing_comment_and_crlf_are_kept(rsa_signer, rsa_cert_path: Path) -> None:
    doc = b'<?xml version="1.0"?>\r\n<testsuite name="s">\r\n  <testcase name="a"/>\r\n</testsuite>\r\n<!-- produced by x -->\r\n'
    s = juxsdk.sign_report(doc, rsa_signer)
    assert s.data.endswith(b"</testsuite>\r\n<!-- produced by x -->\r\n")
    assert s.data.startswith(doc[: doc.index(b"</testsuite>")])
    juxsdk.verify_report(s.data, juxsdk.TrustedCertificates.from_pem_file(rsa_cert_path))


def test_signed_content_is_the_canonical_form_of_what_was_signed(rsa_signer, rsa_cert_path: Path, corpus_dir: Path) -> None:
    import hashlib

    from juxsdk.canonical import c14n_without_signatures
    from juxsdk.junit import parse_xml

    original = (corpus_dir / "raw/maven-surefire/basic.xml").read_bytes()
    signed = juxsdk.sign_report(original, rsa_signer)
    v = juxsdk.verify_report(signed.data, juxsdk.TrustedCertificates.from_pem_file(rsa_cert_path))
    content = v.signed_content
    assert content == c14n_without_signatures(parse_xml(original))
    assert "sha256:" + hashlib.sha256(content).hexdigest() == v.canonical_hash == signed.canonical_hash
    assert b"Signature" not in content
