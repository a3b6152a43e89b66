"""Odd signature structures and the algorithm policy (issue 10, classes 3 and 4).

Every case is a real signed report edited so that exactly one check refuses it; the test names the
specific error class (and, through `jux verify`, exit code 1 and the message). A case that must
get past the signature value (key policy, algorithm/key mismatch) is re-signed with the key it
claims, so only the check under test can refuse it.
"""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from lxml import etree

import juxsdk
from juxsdk import errors as E
from juxsdk.cli import cli as main
from juxsdk.limits import MAX_BASE64_CHARS, MAX_CERTIFICATES, MAX_SIGNATURE_ELEMENTS
from tests.security.sigtools import (
    BASE,
    DS,
    DSIG11,
    put_certificate,
    resign,
    self_signed,
    set_method,
    sig_of,
    signed_root,
)

ANY = juxsdk.UnsafeAcceptAnyKey()


def _verify(doc: bytes, trust=ANY, **kwargs):
    return juxsdk.verify_report(doc, trust, **kwargs)


def _cli_verify(tmp_path: Path, doc: bytes, *extra: str):
    path = tmp_path / "report.xml"
    path.write_bytes(doc)
    return CliRunner().invoke(main, ["verify", "--unsafe-accept-any-key", *extra, str(path)])


# --- duplicated, missing and unexpected elements --------------------------------------------


@pytest.mark.parametrize(
    ("xpath", "message"),
    [
        ("SignedInfo", "exactly one ds:SignedInfo, found 2"),
        ("SignatureValue", "exactly one ds:SignatureValue, found 2"),
        ("KeyInfo", "at most one ds:KeyInfo, found 2"),
        ("KeyInfo/{ds}X509Data", "at most one ds:X509Data, found 2"),
        ("SignedInfo/{ds}Reference", "exactly one ds:Reference, found 2"),
        ("SignedInfo/{ds}SignatureMethod", "exactly one ds:SignatureMethod, found 2"),
        ("SignedInfo/{ds}CanonicalizationMethod", "exactly one ds:CanonicalizationMethod, found 2"),
        ("SignedInfo/{ds}Reference/{ds}Transforms", "at most one ds:Transforms, found 2"),
        ("SignedInfo/{ds}Reference/{ds}DigestValue", "exactly one ds:DigestValue, found 2"),
    ],
)
def test_duplicated_structural_element_is_a_structure_error(rsa_signer, tmp_path, xpath, message) -> None:
    root = signed_root(rsa_signer)
    el = sig_of(root).find(DS + xpath.format(ds=DS))
    el.addnext(copy.deepcopy(el))
    doc = etree.tostring(root)
    with pytest.raises(E.SignatureStructureError, match=message) as info:
        _verify(doc)
    assert type(info.value) is E.SignatureStructureError
    result = _cli_verify(tmp_path, doc)
    assert result.exit_code == 1
    assert f"FAIL {tmp_path / 'report.xml'}: expected" in result.output
    assert message in result.output


def test_unexpected_element_in_signature_is_refused(rsa_signer) -> None:
    root = signed_root(rsa_signer)
    etree.SubElement(sig_of(root), f"{DS}Manifest")
    with pytest.raises(E.SignatureStructureError, match="unexpected element"):
        _verify(etree.tostring(root))


def test_missing_key_info_is_missing_key(rsa_signer, tmp_path) -> None:
    root = signed_root(rsa_signer)
    sig = sig_of(root)
    sig.remove(sig.find(f"{DS}KeyInfo"))
    with pytest.raises(E.MissingKeyError, match="no ds:KeyInfo"):
        _verify(etree.tostring(root))
    result = _cli_verify(tmp_path, etree.tostring(root))
    assert result.exit_code == 1 and "no ds:KeyInfo" in result.output


def test_empty_key_info_is_missing_key(rsa_signer) -> None:
    root = signed_root(rsa_signer)
    ki = sig_of(root).find(f"{DS}KeyInfo")
    for child in list(ki):
        ki.remove(child)
    with pytest.raises(E.MissingKeyError, match="neither a certificate nor a key value"):
        _verify(etree.tostring(root))


def test_x509data_without_certificate_is_missing_key(rsa_signer) -> None:
    root = signed_root(rsa_signer)
    data = sig_of(root).find(f"{DS}KeyInfo/{DS}X509Data")
    for child in list(data):
        data.remove(child)
    etree.SubElement(data, f"{DS}X509SubjectName").text = "CN=nobody"
    with pytest.raises(E.MissingKeyError, match="no ds:X509Certificate"):
        _verify(etree.tostring(root))


def test_certificate_that_is_not_der_is_a_structure_error(rsa_signer) -> None:
    root = signed_root(rsa_signer)
    sig_of(root).find(f"{DS}KeyInfo/{DS}X509Data/{DS}X509Certificate").text = base64.b64encode(b"junk").decode()
    with pytest.raises(E.SignatureStructureError, match="not a valid DER certificate"):
        _verify(etree.tostring(root))


# --- key values ----------------------------------------------------------------------------


def _key_value_root(signer):
    """A report signed with a bare key (KeyValue), as juxsdk writes without a certificate."""
    return signed_root(signer)


def test_dsa_key_value_is_unsupported(rsa_keys) -> None:
    root = _key_value_root(rsa_keys.signer(with_cert=False))
    kv = sig_of(root).find(f"{DS}KeyInfo/{DS}KeyValue")
    kv.remove(kv[0])
    dsa_el = etree.SubElement(kv, f"{DS}DSAKeyValue")
    for name in ("P", "Q", "G", "Y"):
        etree.SubElement(dsa_el, f"{DS}{name}").text = "AQAB"
    with pytest.raises(E.UnsupportedKeyError, match="'DSAKeyValue'"):
        _verify(etree.tostring(root))


def test_two_key_values_are_a_structure_error(rsa_keys) -> None:
    root = _key_value_root(rsa_keys.signer(with_cert=False))
    kv = sig_of(root).find(f"{DS}KeyInfo/{DS}KeyValue")
    kv.append(copy.deepcopy(kv[0]))
    with pytest.raises(E.SignatureStructureError, match="exactly one key, found 2"):
        _verify(etree.tostring(root))


def test_unknown_curve_uri_is_unsupported(ec_keys) -> None:
    root = _key_value_root(ec_keys.signer(with_cert=False))
    curve = sig_of(root).find(f"{DS}KeyInfo/{DS}KeyValue/{DSIG11}ECKeyValue/{DSIG11}NamedCurve")
    curve.set("URI", "urn:oid:1.3.132.0.10")  # secp256k1
    with pytest.raises(E.UnsupportedKeyError, match=r"unsupported EC curve 'urn:oid:1\.3\.132\.0\.10'"):
        _verify(etree.tostring(root))


def test_explicit_curve_parameters_are_unsupported(ec_keys) -> None:
    root = _key_value_root(ec_keys.signer(with_cert=False))
    ec_el = sig_of(root).find(f"{DS}KeyInfo/{DS}KeyValue/{DSIG11}ECKeyValue")
    etree.SubElement(ec_el, f"{DSIG11}ECParameters")
    with pytest.raises(E.UnsupportedKeyError, match="explicit curve parameters"):
        _verify(etree.tostring(root))


def test_huge_rsa_modulus_is_unsupported_before_any_math(rsa_keys) -> None:
    root = _key_value_root(rsa_keys.signer(with_cert=False))
    modulus = sig_of(root).find(f"{DS}KeyInfo/{DS}KeyValue/{DS}RSAKeyValue/{DS}Modulus")
    n = (1 << 20000) + 1  # odd, 20001 bits
    modulus.text = base64.b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).decode()
    with pytest.raises(E.UnsupportedKeyError, match="larger than the 16384 bits"):
        _verify(etree.tostring(root))


def test_huge_rsa_exponent_is_unsupported(rsa_keys) -> None:
    root = _key_value_root(rsa_keys.signer(with_cert=False))
    exponent = sig_of(root).find(f"{DS}KeyInfo/{DS}KeyValue/{DS}RSAKeyValue/{DS}Exponent")
    exponent.text = base64.b64encode(b"\x01" * 9).decode()
    with pytest.raises(E.UnsupportedKeyError, match="exponent is longer than 64 bits"):
        _verify(etree.tostring(root))


@pytest.mark.parametrize(
    "make_key",
    [
        pytest.param(lambda: ed25519.Ed25519PrivateKey.generate(), id="ed25519"),
        pytest.param(lambda: ed448.Ed448PrivateKey.generate(), id="ed448"),
        pytest.param(lambda: dsa.generate_private_key(2048), id="dsa"),
    ],
)
def test_certificate_with_a_non_rsa_non_ec_key_is_unsupported(rsa_signer, tmp_path, make_key) -> None:
    key = make_key()
    root = signed_root(rsa_signer)
    put_certificate(root, self_signed(key))
    doc = etree.tostring(root)
    with pytest.raises(E.UnsupportedKeyError, match="keys are not supported"):
        _verify(doc)
    with pytest.raises(E.UnsupportedKeyError):  # the unsafe option does not open these
        _verify(doc, unsafe_allow_weak_keys=True)
    result = _cli_verify(tmp_path, doc)
    assert result.exit_code == 1 and "keys are not supported" in result.output


@pytest.mark.parametrize("curve", [ec.SECP256K1(), ec.BrainpoolP256R1(), ec.SECP224R1()], ids=lambda c: c.name)
def test_certificate_on_another_curve_is_refused_unless_unsafe(rsa_signer, tmp_path, curve) -> None:
    key = ec.generate_private_key(curve)
    root = signed_root(rsa_signer)
    put_certificate(root, self_signed(key))
    set_method(root, "ecdsa-sha256")
    doc = resign(root, key)
    with pytest.raises(E.UnsupportedKeyError, match=f"EC curve {curve.name} is not accepted"):
        _verify(doc)
    result = _cli_verify(tmp_path, doc)
    assert result.exit_code == 1 and f"EC curve {curve.name}" in result.output
    verified = _verify(doc, unsafe_allow_weak_keys=True)
    assert verified.summary.tests == 2
    assert _cli_verify(tmp_path, doc, "--unsafe-allow-weak-keys").exit_code == 0


# --- strict base64 -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "text", "message"),
    [
        ("SignatureValue", "!!!!", "not valid base64"),
        ("SignatureValue", "ab-_", "not valid base64"),  # URL-safe alphabet
        ("SignatureValue", "QUJD=", "not valid base64"),  # bad padding
        ("SignatureValue", "QUJ", "not valid base64"),  # missing padding
        ("SignatureValue", "", "is empty"),
        ("SignatureValue", "QU\u00e9JD", "not valid base64"),  # non-ASCII
        ("SignedInfo/{ds}Reference/{ds}DigestValue", "QUJD?", "not valid base64"),
    ],
)
def test_junk_base64_is_invalid_base64(rsa_signer, tmp_path, field, text, message) -> None:
    root = signed_root(rsa_signer)
    sig_of(root).find(DS + field.format(ds=DS)).text = text
    doc = etree.tostring(root)
    with pytest.raises(E.InvalidBase64Error, match=message):
        _verify(doc)
    result = _cli_verify(tmp_path, doc)
    assert result.exit_code == 1 and message in result.output


def test_markup_inside_a_base64_field_is_invalid_base64(rsa_signer) -> None:
    root = signed_root(rsa_signer)
    dv = sig_of(root).find(f"{DS}SignedInfo/{DS}Reference/{DS}DigestValue")
    dv.append(etree.Comment("x"))
    with pytest.raises(E.InvalidBase64Error, match="holds markup"):
        _verify(etree.tostring(root))


def test_base64_wrapped_with_xml_whitespace_verifies(rsa_signer, rsa_cert_path) -> None:
    # xmlsec1 wraps at 64 columns with LF, the JDK at 76 with CR LF: both are base64Binary.
    root = signed_root(rsa_signer)
    sv = sig_of(root).find(f"{DS}SignatureValue")
    compact = "".join(sv.text.split())
    sv.text = "\r\n".join(compact[i : i + 76] for i in range(0, len(compact), 76)) + "\n \t"
    v = _verify(etree.tostring(root), juxsdk.TrustedCertificates.from_pem_file(rsa_cert_path))
    assert v.summary.tests == 2


# --- signature limits ----------------------------------------------------------------------


def test_too_many_certificates_is_a_limit_error(rsa_keys) -> None:
    root = signed_root(rsa_keys.signer())
    data = sig_of(root).find(f"{DS}KeyInfo/{DS}X509Data")
    cert_el = data[0]
    for _ in range(MAX_CERTIFICATES - 1):
        data.append(copy.deepcopy(cert_el))
    pinned = juxsdk.TrustedPublicKeys.from_pem_file(rsa_keys.pubkey_path)
    assert _verify(etree.tostring(root), pinned).summary.tests == 2  # exactly the limit: accepted
    data.append(copy.deepcopy(cert_el))
    with pytest.raises(E.SignatureLimitError, match=f"{MAX_CERTIFICATES + 1} certificates"):
        _verify(etree.tostring(root), pinned)


def test_too_many_signature_elements_is_a_limit_error(rsa_signer) -> None:
    root = signed_root(rsa_signer)
    ki = sig_of(root).find(f"{DS}KeyInfo")
    count = sum(1 for el in sig_of(root).iter() if isinstance(el.tag, str))
    for _ in range(MAX_SIGNATURE_ELEMENTS - count):
        etree.SubElement(ki, f"{DS}KeyName").text = "x"
    _verify(etree.tostring(root))  # exactly the limit: accepted
    etree.SubElement(ki, f"{DS}KeyName")
    with pytest.raises(E.SignatureLimitError, match=f"more than {MAX_SIGNATURE_ELEMENTS} elements"):
        _verify(etree.tostring(root))


def test_too_many_attributes_on_signed_info_is_a_limit_error(rsa_signer) -> None:
    root = signed_root(rsa_signer)
    si = sig_of(root).find(f"{DS}SignedInfo")
    for i in range(65):
        si.set(f"a{i}", "v")
    with pytest.raises(E.SignatureLimitError, match="ds:SignedInfo has more than 64 attributes"):
        _verify(etree.tostring(root))


def test_too_many_namespaces_in_the_signature_is_a_limit_error(rsa_signer) -> None:
    root = signed_root(rsa_signer)
    doc = etree.tostring(root).replace(
        b"<ds:SignedInfo", b"<ds:SignedInfo " + b" ".join(b'xmlns:p%d="u:%d"' % (i, i) for i in range(64)), 1
    )
    with pytest.raises(E.SignatureLimitError, match="namespace declarations are in scope in the signature"):
        _verify(doc)


def test_base64_over_the_limit_is_a_limit_error(rsa_signer) -> None:
    root = signed_root(rsa_signer)
    sv = sig_of(root).find(f"{DS}SignatureValue")
    sv.text = "A" * MAX_BASE64_CHARS
    with pytest.raises(E.SignatureValueError):  # at the limit: decoded, then it does not verify
        _verify(etree.tostring(root))
    sv.text = "A" * (MAX_BASE64_CHARS + 4)
    with pytest.raises(E.SignatureLimitError, match="base64 characters, over the limit"):
        _verify(etree.tostring(root))


# --- algorithm policy (class 4) ------------------------------------------------------------


def _private(keys):
    return serialization.load_pem_private_key(keys.key_path.read_bytes(), None)


def test_ecdsa_method_over_an_rsa_key_is_refused(rsa_keys, tmp_path) -> None:
    root = signed_root(rsa_keys.signer())
    set_method(root, "ecdsa-sha256")
    doc = resign(root, _private(rsa_keys))  # a valid RSA value, labelled ECDSA
    trust = juxsdk.TrustedCertificates.from_pem_file(rsa_keys.cert_path)
    with pytest.raises(E.AlgorithmMismatchError, match="SignatureMethod is ecdsa-sha256 but the signing key is an RSA key"):
        _verify(doc, trust)
    result = _cli_verify(tmp_path, doc)
    assert result.exit_code == 1 and "SignatureMethod is ecdsa-sha256" in result.output


def test_rsa_method_over_an_ec_key_is_refused(ec_keys) -> None:
    root = signed_root(ec_keys.signer())
    set_method(root, "rsa-sha256")
    doc = resign(root, _private(ec_keys))  # a valid ECDSA value, labelled RSA
    with pytest.raises(E.AlgorithmMismatchError, match="SignatureMethod is rsa-sha256 but the signing key is an EC key"):
        _verify(doc, juxsdk.TrustedCertificates.from_pem_file(ec_keys.cert_path))


@pytest.mark.parametrize("bits", [1024, 2047])
def test_weak_rsa_key_is_refused_unless_unsafe(rsa_signer, tmp_path, bits) -> None:
    key = rsa.generate_private_key(65537, bits)
    root = signed_root(rsa_signer)
    put_certificate(root, self_signed(key))
    doc = resign(root, key)
    with pytest.raises(E.WeakKeyError, match=f"RSA key of {bits} bits is below the minimum of 2048 bits"):
        _verify(doc)
    result = _cli_verify(tmp_path, doc)
    assert result.exit_code == 1 and "below the minimum of 2048 bits" in result.output
    assert _verify(doc, unsafe_allow_weak_keys=True).summary.tests == 2
    assert _cli_verify(tmp_path, doc, "--unsafe-allow-weak-keys").exit_code == 0


def test_rsa_below_the_unsafe_floor_is_refused_even_with_the_unsafe_option(rsa_keys) -> None:
    root = _key_value_root(rsa_keys.signer(with_cert=False))
    modulus = sig_of(root).find(f"{DS}KeyInfo/{DS}KeyValue/{DS}RSAKeyValue/{DS}Modulus")
    n = (1 << 1000) + 3
    modulus.text = base64.b64encode(n.to_bytes(126, "big")).decode()
    with pytest.raises(E.WeakKeyError, match="below the minimum of 1024 bits"):
        _verify(etree.tostring(root), unsafe_allow_weak_keys=True)


def test_strong_keys_at_the_floor_verify(rsa_signer) -> None:
    key = rsa.generate_private_key(65537, 2048)
    root = signed_root(rsa_signer)
    put_certificate(root, self_signed(key))
    assert _verify(resign(root, key)).signature.algorithm == "rsa-sha256"
    key = ec.generate_private_key(ec.SECP521R1())
    put_certificate(root, self_signed(key))
    set_method(root, "ecdsa-sha512")
    assert _verify(resign(root, key, hash_alg=hashes.SHA512())).signature.algorithm == "ecdsa-sha512"


class _WeakSigner:
    """A minimal Signer over an in-memory RSA-1024 key (no backend allows such a key)."""

    name = "weak"
    algorithm = "rsa-sha256"

    def __init__(self) -> None:
        self._key = rsa.generate_private_key(65537, 1024)

    def public_key(self):
        return self._key.public_key()

    def certificate_chain(self):
        return ()

    def sign(self, data: bytes) -> bytes:
        from cryptography.hazmat.primitives.asymmetric import padding

        return self._key.sign(data, padding.PKCS1v15(), hashes.SHA256())

    def close(self) -> None:
        pass


def test_signing_applies_the_same_key_policy() -> None:
    with pytest.raises(E.SigningError, match="RSA key of 1024 bits is below the minimum of 2048 bits"):
        juxsdk.sign_report(BASE, _WeakSigner())


# --- batches ---------------------------------------------------------------------------------


def test_batch_verify_continues_past_bad_files_and_always_prints(rsa_signer, tmp_path) -> None:
    good = juxsdk.sign_report(BASE, rsa_signer).data
    root = etree.fromstring(good)
    sig_of(root).find(f"{DS}SignatureValue").text = "!!"
    files = {
        "a.xml": good,
        "b.xml": etree.tostring(root),  # FAIL: invalid base64
        "c.xml": b"<testsuite><unclosed></testsuite>",  # ERROR: not well-formed
        "d.xml": good,
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    paths = [str(tmp_path / n) for n in files] + [str(tmp_path / "missing.xml")]
    result = CliRunner().invoke(main, ["verify", "--unsafe-accept-any-key", "--json", *paths])
    assert result.exit_code == 3  # an ERROR (unreadable/unparsable file) outranks a FAIL
    entries = json.loads(result.stdout)
    assert [e["verified"] for e in entries] == [True, False, False, True, False]
    assert [e.get("error", {}).get("type") for e in entries] == [
        None, "InvalidBase64Error", "ReportParseError", None, "ReportError"
    ]
    only_fail = CliRunner().invoke(main, ["verify", "--unsafe-accept-any-key", *paths[:2], paths[3]])
    assert only_fail.exit_code == 1
    assert only_fail.stdout.count("OK ") == 2 and only_fail.stdout.count("FAIL ") == 1


def test_batch_verify_reports_an_internal_error_and_goes_on(rsa_signer, tmp_path, monkeypatch) -> None:
    # fault injection: the library fails with a non-JuxError on one file
    good = juxsdk.sign_report(BASE, rsa_signer).data
    for name in ("a.xml", "b.xml"):
        (tmp_path / name).write_bytes(good)
    real = juxsdk.verify_report

    def flaky(data, trust, **kwargs):
        if kwargs.get("source", "").endswith("a.xml"):
            raise RuntimeError("boom")
        return real(data, trust, **kwargs)

    monkeypatch.setattr(juxsdk, "verify_report", flaky)
    paths = [str(tmp_path / "a.xml"), str(tmp_path / "b.xml")]
    result = CliRunner().invoke(main, ["verify", "--unsafe-accept-any-key", "--json", *paths])
    assert result.exit_code == 3
    entries = json.loads(result.stdout)
    assert entries[0]["error"] == {"type": "RuntimeError", "message": "internal error: boom", "hint": None}
    assert entries[1]["verified"] is True
    text = CliRunner().invoke(main, ["verify", "--unsafe-accept-any-key", *paths])
    assert "ERROR" in text.stdout and "internal error: RuntimeError: boom" in text.stdout
    assert "OK   " in text.stdout
