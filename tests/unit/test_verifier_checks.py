"""Every check of the verification path, pinned (issue 17).

Each test feeds a real signed report edited so that only the check under test refuses it, and
asserts the *exact* error class (``type(exc) is X``: several classes are subclasses of others, e.g.
WeakKeyError of UnsupportedAlgorithmError, so ``pytest.raises`` alone would let a removed check
pass when a later check fails with a subclass), the message, and — through ``jux verify --json`` —
exit code 1 and the same error type. Edits that must get past the signature value re-sign
SignedInfo with the key the report claims; edits of the signed content recompute DigestValue.
tools/mutation (``jux-mutation``) measures that removing any check fails one of these tests.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from lxml import etree

import juxsdk
from juxsdk import errors as E
from juxsdk.canonical import remove_signature, signed_content_of
from juxsdk.cli import cli as main
from juxsdk.trust import TrustDecision, key_strength_problem
from tests import pki
from tests.conftest import KeyMaterial
from tests.security.sigtools import (
    C14N_10,
    C14N_11,
    DS,
    DSIG11,
    ENVELOPED,
    EXC_C14N,
    METHOD,
    c14n,
    put_certificate,
    redigest,
    resign,
    resign_c14n,
    set_method,
    set_transforms,
    sig_of,
    signed_root,
)

ANY = juxsdk.UnsafeAcceptAnyKey()
#: a report with a namespace declaration it never uses: exclusive C14N drops it, inclusive keeps it
UNUSED_NS = (
    b'<testsuite xmlns:keep="urn:keep" xmlns:drop="urn:drop" name="s" tests="2">'
    b'<testcase name="a"/><testcase name="b"><failure/></testcase></testsuite>'
)


def _private(keys: KeyMaterial):
    return serialization.load_pem_private_key(keys.key_path.read_bytes(), None)


def _refused(doc: bytes, error: type[E.JuxError], match: str, trust=ANY, **kwargs) -> E.JuxError:
    """Verification refuses ``doc`` with exactly ``error`` (not a subclass) and ``match`` in the message."""
    with pytest.raises(E.JuxError) as info:
        juxsdk.verify_report(doc, trust, **kwargs)
    assert type(info.value) is error, f"{type(info.value).__name__}: {info.value}"
    assert match in str(info.value)
    return info.value


def _cli(tmp_path: Path, doc: bytes, error: type[E.JuxError], match: str, *trust: str) -> None:
    """``jux verify`` says FAIL with exit code 1 and the same error type and message."""
    path = tmp_path / "report.xml"
    path.write_bytes(doc)
    args = list(trust) or ["--unsafe-accept-any-key"]
    result = CliRunner().invoke(main, ["verify", *args, "--json", str(path)])
    assert result.exit_code == 1, result.output
    entry = json.loads(result.stdout)[0]
    assert entry["error"]["type"] == error.__name__
    assert match in entry["error"]["message"]
    text = CliRunner().invoke(main, ["verify", *args, str(path)])
    assert text.exit_code == 1 and f"FAIL {path}: " in text.output and match in text.output


# --- exactly one of each structural element ------------------------------------------------


@pytest.mark.parametrize(
    ("path", "what"),
    [
        ("SignedInfo", "ds:SignedInfo"),
        ("SignatureValue", "ds:SignatureValue"),
        ("SignedInfo/{ds}CanonicalizationMethod", "ds:CanonicalizationMethod"),
        ("SignedInfo/{ds}SignatureMethod", "ds:SignatureMethod"),
        ("SignedInfo/{ds}Reference", "ds:Reference"),
        ("SignedInfo/{ds}Reference/{ds}DigestMethod", "ds:DigestMethod"),
        ("SignedInfo/{ds}Reference/{ds}DigestValue", "ds:DigestValue"),
    ],
)
def test_a_missing_structural_element_is_a_structure_error(rsa_signer, tmp_path, path, what) -> None:
    root = signed_root(rsa_signer)
    el = sig_of(root).find(DS + path.format(ds=DS))
    el.getparent().remove(el)
    doc = etree.tostring(root)
    _refused(doc, E.SignatureStructureError, f"expected exactly one {what}, found 0")
    _cli(tmp_path, doc, E.SignatureStructureError, f"expected exactly one {what}, found 0")


@pytest.mark.parametrize(("path", "what"), [("KeyValue", "ds:RSAKeyValue"), ("X509Data", "ds:X509Data")])
def test_two_key_value_or_x509data_elements_are_a_structure_error(rsa_keys, path, what) -> None:
    root = signed_root(rsa_keys.signer(with_cert=path == "X509Data"))
    ki = sig_of(root).find(f"{DS}KeyInfo")
    ki.append(copy.deepcopy(ki.find(f"{DS}{path}")))
    _refused(etree.tostring(root), E.SignatureStructureError, f"at most one ds:{path}, found 2")


def test_an_empty_key_value_is_a_structure_error(rsa_keys) -> None:
    root = signed_root(rsa_keys.signer(with_cert=False))
    kv = sig_of(root).find(f"{DS}KeyInfo/{DS}KeyValue")
    kv.remove(kv[0])
    _refused(etree.tostring(root), E.SignatureStructureError, "ds:KeyValue must hold exactly one key, found 0")


def test_a_second_signature_nested_in_the_report_is_refused(rsa_signer, tmp_path) -> None:
    root = signed_root(rsa_signer)
    root.find("testcase").append(copy.deepcopy(sig_of(root)))
    doc = etree.tostring(root)
    _refused(doc, E.MultipleSignaturesError, "has 2 XML signatures; exactly one is accepted")
    _cli(tmp_path, doc, E.MultipleSignaturesError, "has 2 XML signatures")


def test_unsigned_content_in_ds_object_is_not_counted_against_the_signature_limits(rsa_signer) -> None:
    root = signed_root(rsa_signer)
    obj = etree.SubElement(sig_of(root), f"{DS}Object")
    for i in range(200):
        etree.SubElement(obj, "junk", n=str(i))
    verified = juxsdk.verify_report(etree.tostring(root), ANY)
    assert verified.warnings == ("ignored unsigned content inside ds:Signature/ds:Object",)


# --- Reference and its transforms ------------------------------------------------------------


def test_a_reference_without_uri_is_refused(rsa_signer) -> None:
    root = signed_root(rsa_signer)
    del sig_of(root).find(f"{DS}SignedInfo/{DS}Reference").attrib["URI"]
    _refused(etree.tostring(root), E.SignatureStructureError, "Reference URI is None")


@pytest.mark.parametrize(
    "transforms",
    [
        pytest.param((), id="no-transforms-element"),
        pytest.param(("EMPTY",), id="empty-transforms"),
        pytest.param((EXC_C14N,), id="c14n-only"),
        pytest.param((EXC_C14N, ENVELOPED), id="reordered"),
        pytest.param((ENVELOPED, EXC_C14N, EXC_C14N), id="extra-c14n"),
        pytest.param((ENVELOPED, ENVELOPED), id="enveloped-twice"),
    ],
)
def test_the_transform_list_is_exactly_enveloped_then_c14n(rsa_keys, tmp_path, transforms) -> None:
    root = signed_root(rsa_keys.signer(), UNUSED_NS)
    if transforms == ("EMPTY",):
        set_transforms(root, ENVELOPED)[0].getparent().clear()
    else:
        set_transforms(root, *transforms)
    doc = resign(root, _private(rsa_keys))
    error = E.SignatureStructureError if transforms != (ENVELOPED, ENVELOPED) else E.UnsupportedAlgorithmError
    match = "transforms must be enveloped-signature" if error is E.SignatureStructureError else "reference transform"
    _refused(doc, error, match)
    if transforms == (EXC_C14N, ENVELOPED):
        _cli(tmp_path, doc, error, match)


@pytest.mark.parametrize(
    ("where", "uri", "message"),
    [
        ("SignedInfo/{ds}CanonicalizationMethod", "urn:unknown-c14n", "unsupported CanonicalizationMethod 'urn:unknown-c14n'"),
        ("SignedInfo/{ds}CanonicalizationMethod", "", "unsupported CanonicalizationMethod ''"),
        ("SignedInfo/{ds}Reference/{ds}DigestMethod", "http://www.w3.org/2000/09/xmldsig#sha1", "unsupported DigestMethod"),
        ("SignedInfo/{ds}Reference/{ds}DigestMethod", "urn:unknown-digest", "unsupported DigestMethod 'urn:unknown-digest'"),
        ("SignedInfo/{ds}Reference/{ds}Transforms/{ds}Transform[2]", "http://www.w3.org/TR/1999/REC-xpath-19991116", "unsupported reference transform"),
        ("SignedInfo/{ds}SignatureMethod", METHOD + "hmac-sha256", "unsupported SignatureMethod"),
    ],
)
def test_an_unknown_algorithm_is_unsupported_algorithm(rsa_signer, tmp_path, where, uri, message) -> None:
    # the specific UnsupportedAlgorithmError, never a KeyError from a table look-up later
    root = signed_root(rsa_signer)
    sig_of(root).find(DS + where.format(ds=DS)).set("Algorithm", uri)
    doc = etree.tostring(root)
    _refused(doc, E.UnsupportedAlgorithmError, message)
    _cli(tmp_path, doc, E.UnsupportedAlgorithmError, message)


def test_only_the_enveloped_transform_means_inclusive_c14n_1_0(rsa_keys) -> None:
    # XMLDSig §4.4.3.2: without a C14N transform the octets are inclusive C14N 1.0, which keeps the
    # unused namespace declarations the exclusive form drops
    root = signed_root(rsa_keys.signer(), UNUSED_NS)
    set_transforms(root, ENVELOPED)
    redigest(root, method=C14N_10)
    doc = resign(root, _private(rsa_keys))
    assert juxsdk.verify_report(doc, ANY).summary.tests == 2
    redigest(root, method=EXC_C14N)
    _refused(resign(root, _private(rsa_keys)), E.DigestMismatchError, "digest mismatch")


@pytest.mark.parametrize("method", [C14N_10, C14N_11])
def test_an_inclusive_reference_transform_digests_the_inclusive_form(rsa_keys, method) -> None:
    root = signed_root(rsa_keys.signer(), UNUSED_NS)
    set_transforms(root, ENVELOPED, method)
    redigest(root, method=method)
    v = juxsdk.verify_report(resign(root, _private(rsa_keys)), ANY)
    # the canonical hash is still the exclusive recipe, whatever the reference used
    assert v.canonical_hash == juxsdk.canonical_hash(UNUSED_NS)
    redigest(root, method=EXC_C14N)
    _refused(resign(root, _private(rsa_keys)), E.DigestMismatchError, "digest mismatch")


@pytest.mark.parametrize("method", [C14N_10, C14N_11, EXC_C14N])
def test_signed_info_is_canonicalised_with_its_canonicalization_method(rsa_keys, method) -> None:
    root = signed_root(rsa_keys.signer(), UNUSED_NS)
    sig_of(root).find(f"{DS}SignedInfo/{DS}CanonicalizationMethod").set("Algorithm", method)
    doc = resign_c14n(root, _private(rsa_keys), method)
    assert juxsdk.verify_report(doc, ANY).summary.tests == 2
    other = EXC_C14N if method != EXC_C14N else C14N_10
    _refused(resign_c14n(root, _private(rsa_keys), other), E.SignatureValueError, "does not verify")


def _inclusive_namespaces(parent, prefixes: str) -> None:
    etree.SubElement(parent, f"{{{EXC_C14N}}}InclusiveNamespaces", PrefixList=prefixes)


def test_the_reference_prefix_list_is_honoured(rsa_keys) -> None:
    root = signed_root(rsa_keys.signer(), UNUSED_NS)
    _inclusive_namespaces(set_transforms(root, ENVELOPED, EXC_C14N)[1], "#default keep")
    redigest(root, prefixes=["keep"])
    v = juxsdk.verify_report(resign(root, _private(rsa_keys)), ANY)
    assert v.canonical_hash == juxsdk.canonical_hash(UNUSED_NS)  # the hash keeps its own recipe
    redigest(root)  # the digest without the PrefixList: does not match what the transform says
    _refused(resign(root, _private(rsa_keys)), E.DigestMismatchError, "digest mismatch")


def test_the_signed_info_prefix_list_is_honoured(rsa_keys) -> None:
    root = signed_root(rsa_keys.signer(), UNUSED_NS)
    _inclusive_namespaces(sig_of(root).find(f"{DS}SignedInfo/{DS}CanonicalizationMethod"), "keep")
    assert b"urn:keep" in c14n(sig_of(root).find(f"{DS}SignedInfo"), EXC_C14N, ["keep"])
    doc = resign_c14n(root, _private(rsa_keys), EXC_C14N, ["keep"])
    assert juxsdk.verify_report(doc, ANY).summary.tests == 2
    _refused(resign_c14n(root, _private(rsa_keys), EXC_C14N), E.SignatureValueError, "does not verify")


def test_two_inclusive_namespaces_elements_are_a_structure_error(rsa_keys) -> None:
    root = signed_root(rsa_keys.signer(), UNUSED_NS)
    transform = set_transforms(root, ENVELOPED, EXC_C14N)[1]
    _inclusive_namespaces(transform, "keep")
    _inclusive_namespaces(transform, "drop")
    _refused(etree.tostring(root), E.SignatureStructureError, "at most one InclusiveNamespaces, found 2")


# --- digests and signature methods -----------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "name"),
    [
        ("http://www.w3.org/2001/04/xmldsig-more#sha384", "sha384"),
        ("http://www.w3.org/2001/04/xmlenc#sha512", "sha512"),
    ],
)
@pytest.mark.parametrize("prefixes", [None, ["keep"]], ids=["plain", "prefix-list"])
def test_sha384_and_sha512_digests_verify(rsa_keys, uri, name, prefixes) -> None:
    # a comment in the report: the reference digest is of the C14N without comments, whatever hash
    doc = UNUSED_NS.replace(b'<testcase name="a"/>', b'<testcase name="a"/><!-- a comment -->')
    root = signed_root(rsa_keys.signer(), doc)
    sig_of(root).find(f"{DS}SignedInfo/{DS}Reference/{DS}DigestMethod").set("Algorithm", uri)
    if prefixes:
        _inclusive_namespaces(set_transforms(root, ENVELOPED, EXC_C14N)[1], " ".join(prefixes))
    redigest(root, hash_name=name, prefixes=prefixes)
    v = juxsdk.verify_report(resign(root, _private(rsa_keys)), ANY)
    assert v.canonical_hash == juxsdk.canonical_hash(UNUSED_NS) == juxsdk.canonical_hash(doc)
    redigest(root, hash_name="sha256", prefixes=prefixes)  # a SHA-256 value under a SHA-384/512 method
    _refused(resign(root, _private(rsa_keys)), E.DigestMismatchError, "digest mismatch")


@pytest.mark.parametrize(
    ("kind", "method", "hash_alg"),
    [
        ("rsa", "rsa-sha384", hashes.SHA384()),
        ("rsa", "rsa-sha512", hashes.SHA512()),
        ("p256", "ecdsa-sha384", hashes.SHA384()),
        ("p384", "ecdsa-sha512", hashes.SHA512()),
    ],
)
def test_each_signature_method_verifies_with_its_own_hash_only(tmp_path, kind, method, hash_alg) -> None:
    keys = KeyMaterial(tmp_path, kind)
    root = signed_root(keys.signer())
    set_method(root, method)
    v = juxsdk.verify_report(resign(root, _private(keys), hash_alg=hash_alg), ANY)
    assert v.signature.algorithm == method
    _refused(resign(root, _private(keys), hash_alg=hashes.SHA256()), E.SignatureValueError, "does not verify")


def test_the_digest_is_the_exclusive_c14n(rsa_signer) -> None:
    signed = juxsdk.sign_report(UNUSED_NS, rsa_signer)
    root = etree.fromstring(UNUSED_NS)
    exclusive = c14n(root.getroottree(), EXC_C14N)
    assert b"urn:drop" not in exclusive and b"urn:drop" in c14n(root.getroottree(), C14N_10)
    digest = sig_of(etree.fromstring(signed.data)).find(f"{DS}SignedInfo/{DS}Reference/{DS}DigestValue").text
    assert base64.b64decode(digest) == hashlib.sha256(exclusive).digest()
    v = juxsdk.verify_report(signed.data, ANY)
    assert v.canonical_hash == "sha256:" + hashlib.sha256(exclusive).hexdigest()
    assert v.signed_content == exclusive


# --- the enveloped transform keeps the text around the signature ----------------------------


@pytest.mark.parametrize("first", [False, True], ids=["after-last-child", "first-child"])
def test_the_text_after_the_signature_is_signed_content(rsa_keys, first) -> None:
    root = signed_root(rsa_keys.signer())
    sig = sig_of(root)
    if first:
        root.remove(sig)
        root.insert(0, sig)
        root.text = None
    sig.tail = "kept text"
    redigest_with_tail(root)
    doc = resign(root, _private(rsa_keys))
    v = juxsdk.verify_report(doc, ANY)
    assert b"kept text" in v.signed_content
    sig_of(root).tail = "other text"  # the signed text changed: digest mismatch
    _refused(etree.tostring(root), E.DigestMismatchError, "digest mismatch")


def redigest_with_tail(root) -> None:
    clone = copy.deepcopy(root)
    remove_signature(sig_of(clone))
    digest = hashlib.sha256(c14n(clone.getroottree())).digest()
    sig_of(root).find(f"{DS}SignedInfo/{DS}Reference/{DS}DigestValue").text = base64.b64encode(digest).decode()


def test_remove_signature_keeps_the_tail_where_the_signature_was() -> None:
    ds = f"{DS}Signature"
    root = etree.fromstring(f'<r xmlns:ds="{DS[1:-1]}">a<x/>b<ds:Signature/>c<y/>d</r>'.encode())
    remove_signature(root.find(ds))
    assert etree.tostring(root) == f'<r xmlns:ds="{DS[1:-1]}">a<x/>bc<y/>d</r>'.encode()
    root = etree.fromstring(f'<r xmlns:ds="{DS[1:-1]}">a<ds:Signature/>c<y/></r>'.encode())
    remove_signature(root.find(ds))
    assert etree.tostring(root) == f'<r xmlns:ds="{DS[1:-1]}">ac<y/></r>'.encode()
    root = etree.fromstring(f'<r xmlns:ds="{DS[1:-1]}"><x/><ds:Signature/></r>'.encode())
    remove_signature(root.find(ds))
    assert etree.tostring(root) == f'<r xmlns:ds="{DS[1:-1]}"><x/></r>'.encode()


# --- the recomputed signed content is checked against the canonical hash ----------------------


def test_signed_content_is_checked_against_the_canonical_hash(rsa_signer) -> None:
    signed = juxsdk.sign_report(UNUSED_NS, rsa_signer)
    v = juxsdk.verify_report(signed.data, ANY)
    assert signed_content_of(signed.data, v.canonical_hash) == v.signed_content
    with pytest.raises(E.JuxError) as info:
        signed_content_of(signed.data, "sha256:" + "0" * 64)
    assert type(info.value) is E.DigestMismatchError
    assert "does not match the verified canonical hash" in str(info.value)


def test_canonical_hash_takes_bytes_or_a_report_only(rsa_signer) -> None:
    signed = juxsdk.sign_report(UNUSED_NS, rsa_signer)
    assert juxsdk.canonical_hash(signed) == signed.canonical_hash == juxsdk.canonical_hash(bytearray(signed.data))
    with pytest.raises(TypeError, match="expected bytes or a report, got int"):
        juxsdk.canonical_hash(17)


# --- KeyInfo -------------------------------------------------------------------------------


def _add_key_value(root, keys: KeyMaterial) -> None:
    """Add the KeyValue juxsdk writes for ``keys`` to the report's KeyInfo."""
    kv_root = signed_root(keys.signer(with_cert=False))
    sig_of(root).find(f"{DS}KeyInfo").append(copy.deepcopy(sig_of(kv_root).find(f"{DS}KeyInfo/{DS}KeyValue")))


def test_a_key_value_that_is_not_the_certificate_key_is_ambiguous(rsa_keys, tmp_path) -> None:
    other = KeyMaterial(tmp_path / "other", "rsa")
    root = signed_root(rsa_keys.signer())
    _add_key_value(root, other)
    doc = etree.tostring(root)
    _refused(doc, E.SignatureStructureError, "KeyInfo is ambiguous: KeyValue does not match the X509 certificate")
    _cli(tmp_path, doc, E.SignatureStructureError, "KeyInfo is ambiguous", "--cert", str(rsa_keys.cert_path))


def test_a_key_value_that_is_the_certificate_key_verifies(rsa_keys) -> None:
    root = signed_root(rsa_keys.signer())
    _add_key_value(root, rsa_keys)
    v = juxsdk.verify_report(etree.tostring(root), juxsdk.TrustedCertificates.from_pem_file(rsa_keys.cert_path))
    assert v.signature.certificate_subject == "CN=juxsdk test rsa"


def test_an_invalid_certificate_in_x509data_is_a_structure_error(rsa_signer, tmp_path) -> None:
    root = signed_root(rsa_signer)
    sig_of(root).find(f"{DS}KeyInfo/{DS}X509Data/{DS}X509Certificate").text = base64.b64encode(b"\x30\x03junk").decode()
    doc = etree.tostring(root)
    _refused(doc, E.SignatureStructureError, "ds:X509Certificate is not a valid DER certificate")
    _cli(tmp_path, doc, E.SignatureStructureError, "not a valid DER certificate")


def test_a_certificate_whose_key_cannot_be_loaded_is_an_unsupported_key(rsa_signer, tmp_path) -> None:
    # an SPKI algorithm cryptography does not know (rsaEncryption's OID with another last arc)
    key = pki.new_key("rsa")
    der = pki.make_cert(key, "odd key").public_bytes(serialization.Encoding.DER)
    oid = bytes.fromhex("06092a864886f70d010101")
    at = der.index(oid) + len(oid) - 1
    odd = x509.load_der_x509_certificate(der[:at] + b"\x63" + der[at + 1 :])
    root = signed_root(rsa_signer)
    put_certificate(root, odd)
    doc = etree.tostring(root)
    _refused(doc, E.UnsupportedKeyError, "the signing certificate's key is not supported")
    _cli(tmp_path, doc, E.UnsupportedKeyError, "the signing certificate's key is not supported")


def _rsa_field(root, name: str):
    return sig_of(root).find(f"{DS}KeyInfo/{DS}KeyValue/{DS}RSAKeyValue/{DS}{name}")


def _b64int(n: int, length: int | None = None) -> str:
    return base64.b64encode(n.to_bytes(length or (n.bit_length() + 7) // 8, "big")).decode()


@pytest.mark.parametrize(
    ("field", "value", "error", "message"),
    [
        pytest.param("Exponent", 1, E.SignatureStructureError, "invalid RSAKeyValue", id="exponent-1"),
        pytest.param("Exponent", 4, E.SignatureStructureError, "invalid RSAKeyValue", id="even-exponent"),
        # longer than the modulus: refused by the exponent check before the key is even built
        pytest.param("Exponent", int.from_bytes(b"\x01" * 300, "big"), E.UnsupportedKeyError,
                     "exponent is longer than 64 bits", id="exponent-longer-than-modulus"),
        pytest.param("Modulus", 3, E.SignatureStructureError, "invalid RSAKeyValue", id="modulus-below-exponent"),
    ],
)
def test_a_malformed_rsa_key_value_is_refused(rsa_keys, tmp_path, field, value, error, message) -> None:
    root = signed_root(rsa_keys.signer(with_cert=False))
    _rsa_field(root, field).text = _b64int(value)
    doc = etree.tostring(root)
    _refused(doc, error, message)
    _cli(tmp_path, doc, error, message)


@pytest.mark.parametrize("name", ["Modulus", "Exponent"])
def test_a_missing_rsa_key_field_is_a_structure_error(rsa_keys, name) -> None:
    root = signed_root(rsa_keys.signer(with_cert=False))
    el = _rsa_field(root, name)
    el.getparent().remove(el)
    _refused(etree.tostring(root), E.SignatureStructureError, f"expected exactly one RSA {name}, found 0")


def test_leading_zero_bytes_in_rsa_key_values_are_allowed(rsa_keys) -> None:
    # ds:CryptoBinary is unsigned big-endian; some producers keep a leading zero octet, and an
    # exponent padded to 9 bytes is still a 17-bit exponent
    root = signed_root(rsa_keys.signer(with_cert=False))
    numbers = rsa_keys.key.public_key().public_numbers()
    _rsa_field(root, "Modulus").text = _b64int(numbers.n, 257)
    _rsa_field(root, "Exponent").text = _b64int(numbers.e, 9)
    trust = juxsdk.TrustedPublicKeys.from_pem_file(rsa_keys.pubkey_path)
    assert juxsdk.verify_report(etree.tostring(root), trust).summary.tests == 2


def _ec_field(root, name: str):
    return sig_of(root).find(f"{DS}KeyInfo/{DS}KeyValue/{DSIG11}ECKeyValue/{DSIG11}{name}")


def test_a_malformed_ec_point_is_a_structure_error(ec_keys, tmp_path) -> None:
    root = signed_root(ec_keys.signer(with_cert=False))
    point = bytearray(base64.b64decode(_ec_field(root, "PublicKey").text))
    point[-1] ^= 1  # no longer on the curve
    _ec_field(root, "PublicKey").text = base64.b64encode(bytes(point)).decode()
    doc = etree.tostring(root)
    _refused(doc, E.SignatureStructureError, "invalid ECKeyValue public key")
    _cli(tmp_path, doc, E.SignatureStructureError, "invalid ECKeyValue public key")


@pytest.mark.parametrize("name", ["NamedCurve", "PublicKey"])
def test_a_missing_ec_key_field_is_a_structure_error(ec_keys, name) -> None:
    root = signed_root(ec_keys.signer(with_cert=False))
    el = _ec_field(root, name)
    el.getparent().remove(el)
    _refused(etree.tostring(root), E.SignatureStructureError, f"expected exactly one ECKeyValue {name}, found 0")


@pytest.mark.parametrize(
    ("curve", "uri", "hash_alg", "method"),
    [
        (ec.SECP384R1(), "urn:oid:1.3.132.0.34", hashes.SHA384(), "ecdsa-sha384"),
        (ec.SECP521R1(), "urn:oid:1.3.132.0.35", hashes.SHA512(), "ecdsa-sha512"),
    ],
)
def test_ec_key_values_on_each_accepted_curve_verify(ec_keys, curve, uri, hash_alg, method) -> None:
    key = ec.generate_private_key(curve)
    root = signed_root(ec_keys.signer(with_cert=False))
    _ec_field(root, "NamedCurve").set("URI", uri)
    _ec_field(root, "PublicKey").text = base64.b64encode(
        key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    ).decode()
    set_method(root, method)
    v = juxsdk.verify_report(resign(root, key, hash_alg=hash_alg), ANY)
    assert v.signature.key_fingerprint == juxsdk.trust.key_fingerprint(key.public_key())


def test_an_unknown_key_value_is_an_unsupported_key(rsa_keys, tmp_path) -> None:
    root = signed_root(rsa_keys.signer(with_cert=False))
    kv = sig_of(root).find(f"{DS}KeyInfo/{DS}KeyValue")
    kv.remove(kv[0])
    etree.SubElement(kv, f"{DSIG11}DEREncodedKeyValue").text = "AQAB"
    doc = etree.tostring(root)
    _refused(doc, E.UnsupportedKeyError, "unsupported key value 'DEREncodedKeyValue'")
    _cli(tmp_path, doc, E.UnsupportedKeyError, "unsupported key value 'DEREncodedKeyValue'")


def test_a_key_info_with_neither_certificate_nor_key_value_is_a_missing_key(rsa_signer, tmp_path) -> None:
    root = signed_root(rsa_signer)
    ki = sig_of(root).find(f"{DS}KeyInfo")
    for child in list(ki):
        ki.remove(child)
    etree.SubElement(ki, f"{DS}KeyName").text = "ci-signer"
    doc = etree.tostring(root)
    _refused(doc, E.MissingKeyError, "ds:KeyInfo holds neither a certificate nor a key value")
    _cli(tmp_path, doc, E.MissingKeyError, "neither a certificate nor a key value")


# --- the key policy ----------------------------------------------------------------------------


def _rsa_public(bits: int, e: int = 65537) -> rsa.RSAPublicKey:
    """An RSA public key with a modulus of exactly ``bits`` bits (not a real key: enough for the policy)."""
    return rsa.RSAPublicNumbers(e, (1 << (bits - 1)) | 0xFFFF | 1).public_key()


@pytest.mark.parametrize(
    ("key", "allow_weak", "expected"),
    [
        (lambda: _rsa_public(2048), False, None),
        (lambda: _rsa_public(2047), False, ("weak", "RSA key of 2047 bits is below the minimum of 2048 bits")),
        (lambda: _rsa_public(1024), True, None),
        (lambda: _rsa_public(1023), True, ("weak", "RSA key of 1023 bits is below the minimum of 1024 bits")),
        (lambda: _rsa_public(16384), False, None),
        (lambda: _rsa_public(16385), True, ("unsupported", "RSA key of 16385 bits is larger than the 16384 bits juxsdk verifies")),
        (lambda: _rsa_public(2048, 2**64 - 1), False, None),
        (lambda: _rsa_public(2048, 2**64 + 1), True, ("unsupported", "RSA public exponent is longer than 64 bits")),
        (lambda: ec.generate_private_key(ec.SECP521R1()).public_key(), False, None),
        (lambda: ec.generate_private_key(ec.SECP256K1()).public_key(), False,
         ("unsupported", "EC curve secp256k1 is not accepted (P-256, P-384 and P-521 are)")),
        (lambda: ec.generate_private_key(ec.SECP256K1()).public_key(), True, None),
    ],
)
def test_the_key_policy_at_its_boundaries(key, allow_weak, expected) -> None:
    assert key_strength_problem(key(), allow_weak=allow_weak) == expected


def test_the_largest_rsa_key_is_accepted_by_the_policy_and_one_bit_more_is_not(rsa_keys) -> None:
    root = signed_root(rsa_keys.signer(with_cert=False))
    _rsa_field(root, "Modulus").text = _b64int(_rsa_public(16384).public_numbers().n)
    _refused(etree.tostring(root), E.SignatureValueError, "does not verify")  # accepted, then the math says no
    _rsa_field(root, "Modulus").text = _b64int(_rsa_public(16385).public_numbers().n)
    _refused(etree.tostring(root), E.UnsupportedKeyError, "larger than the 16384 bits")


def test_a_certificate_with_a_huge_rsa_exponent_is_an_unsupported_key(rsa_signer) -> None:
    issuer = pki.new_key("rsa")
    huge = rsa.RSAPublicNumbers(2**64 + 1, rsa_signer.public_key().public_numbers().n).public_key()
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "huge exponent")])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(huge)
        .serial_number(1).not_valid_before(pki.NOW).not_valid_after(pki.NOW + dt.timedelta(days=1))
        .sign(issuer, hashes.SHA256())
    )
    root = signed_root(rsa_signer)
    put_certificate(root, cert)
    _refused(etree.tostring(root), E.UnsupportedKeyError, "RSA public exponent is longer than 64 bits")


# --- the ECDSA SignatureValue ------------------------------------------------------------------


def test_an_ecdsa_value_of_the_wrong_length_is_refused(ec_keys, tmp_path) -> None:
    # r ‖ 00 00 ‖ s: the same integers, so only the length check tells it from a valid value
    root = signed_root(ec_keys.signer())
    sv = sig_of(root).find(f"{DS}SignatureValue")
    value = base64.b64decode(sv.text)
    assert len(value) == 64
    sv.text = base64.b64encode(value[:32] + b"\0\0" + value[32:]).decode()
    doc = etree.tostring(root)
    _refused(doc, E.SignatureValueError, "the signature value does not verify")
    _cli(tmp_path, doc, E.SignatureValueError, "the signature value does not verify")
    sv.text = base64.b64encode(value).decode()
    assert juxsdk.verify_report(etree.tostring(root), ANY).summary.tests == 2


def test_an_ecdsa_value_in_der_is_refused(ec_keys) -> None:
    root = signed_root(ec_keys.signer())
    sv = sig_of(root).find(f"{DS}SignatureValue")
    raw = base64.b64decode(sv.text)
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    sv.text = base64.b64encode(der).decode()
    _refused(etree.tostring(root), E.SignatureValueError, "does not verify")
    assert decode_dss_signature(der)  # a valid DER signature, in the wrong encoding for XMLDSig


# --- strict base64 -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("QUJ", "3 characters, not a multiple of 4"),
        ("QUJDRA", "6 characters, not a multiple of 4"),
        ("QU=D", "not valid base64: "),
        ("====", "not valid base64: "),
        ("  \n\t ", "is empty"),
    ],
)
@pytest.mark.parametrize(
    "field",
    ["SignatureValue", "SignedInfo/{ds}Reference/{ds}DigestValue", "KeyInfo/{ds}X509Data/{ds}X509Certificate"],
)
def test_strict_base64_in_every_field(rsa_signer, tmp_path, field, text, message) -> None:
    root = signed_root(rsa_signer)
    sig_of(root).find(DS + field.format(ds=DS)).text = text
    doc = etree.tostring(root)
    _refused(doc, E.InvalidBase64Error, message)
    if field == "SignatureValue":
        _cli(tmp_path, doc, E.InvalidBase64Error, message)


def test_markup_in_a_key_value_field_is_invalid_base64(rsa_keys) -> None:
    root = signed_root(rsa_keys.signer(with_cert=False))
    _rsa_field(root, "Modulus").append(etree.Element("b"))
    _refused(etree.tostring(root), E.InvalidBase64Error, "ds:Modulus holds markup")


# --- the trust decision --------------------------------------------------------------------


class _Recording:
    """A custom trust policy: returns the key it was built with, and records what it was given."""

    def __init__(self, key=None) -> None:
        self.key = key
        self.calls: list[tuple[int, object]] = []

    def decide(self, chain, key_value, at):
        self.calls.append((len(chain), key_value))
        key = self.key or (chain[0].public_key() if chain else key_value)
        return TrustDecision(key, chain[0] if chain else None, "custom")


def test_the_policy_gets_the_key_value_only_when_there_is_no_certificate(rsa_keys) -> None:
    with_cert = signed_root(rsa_keys.signer())
    _add_key_value(with_cert, rsa_keys)
    policy = _Recording()
    juxsdk.verify_report(etree.tostring(with_cert), policy)
    assert policy.calls == [(1, None)]
    policy = _Recording()
    juxsdk.verify_report(juxsdk.sign_report(UNUSED_NS, rsa_keys.signer(with_cert=False)).data, policy)
    [(certificates, key_value)] = policy.calls
    assert certificates == 0 and key_value.public_numbers() == rsa_keys.key.public_key().public_numbers()


def test_the_key_a_policy_returns_meets_the_key_policy_too(rsa_signer, tmp_path) -> None:
    doc = juxsdk.sign_report(UNUSED_NS, rsa_signer).data
    ec_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    _refused(doc, E.AlgorithmMismatchError, "SignatureMethod is rsa-sha256 but the signing key is an EC key",
             trust=_Recording(ec_key))
    _refused(doc, E.WeakKeyError, "RSA key of 1024 bits is below the minimum of 2048 bits",
             trust=_Recording(_rsa_public(1024)))


@pytest.mark.parametrize("policy", [juxsdk.UnsafeAcceptAnyKey(), juxsdk.TrustedPublicKeys([])])
def test_a_policy_given_no_key_at_all_refuses(policy) -> None:
    with pytest.raises(E.JuxError) as info:
        policy.decide([], None, pki.NOW)
    assert type(info.value) is E.UntrustedKeyError
    assert "the signature carries no key (KeyInfo is empty)" in str(info.value)


def test_pinned_public_keys_accept_a_certificate_report_and_name_its_certificate(rsa_keys) -> None:
    signed = juxsdk.sign_report(UNUSED_NS, rsa_keys.signer())
    v = juxsdk.verify_report(signed.data, juxsdk.TrustedPublicKeys.from_pem_file(rsa_keys.cert_path))
    assert v.signature.certificate_subject == "CN=juxsdk test rsa"
    assert v.trust.startswith("pinned public key sha256:")
    unsafe = juxsdk.verify_report(signed.data, ANY)
    assert unsafe.signature.certificate_subject == "CN=juxsdk test rsa"
    bare = juxsdk.verify_report(juxsdk.sign_report(UNUSED_NS, rsa_keys.signer(with_cert=False)).data, ANY)
    assert bare.signature.certificate_subject is None


# --- certificate validity at its boundaries ------------------------------------------------------


@pytest.fixture(scope="module")
def dated(tmp_path_factory):
    """A certificate valid from 2030-01-01T00:00:00Z to 2030-12-31T23:59:59Z, issued by a CA."""
    directory = tmp_path_factory.mktemp("dated")
    ca_key = pki.new_key("p256")
    ca = pki.make_cert(ca_key, "Dated CA", ca=True, not_before=dt.datetime(2029, 1, 1, tzinfo=dt.UTC),
                       not_after=dt.datetime(2032, 1, 1, tzinfo=dt.UTC))
    key = pki.new_key("p256")
    cert = pki.make_cert(key, "dated signer", issuer_key=ca_key, issuer_cert=ca,
                         not_before=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
                         not_after=dt.datetime(2030, 12, 31, 23, 59, 59, tzinfo=dt.UTC))
    from juxsdk_backends.file_key import FileKeyOptions, FileKeySigner

    signer = FileKeySigner(FileKeyOptions(key=pki.write_key(directory / "k.pem", key),
                                          certificate=pki.write_certs(directory / "c.pem", cert)))
    return juxsdk.sign_report(UNUSED_NS, signer).data, cert, ca


@pytest.mark.parametrize("policy", ["pinned", "ca"])
def test_certificate_validity_includes_not_before_and_not_after(dated, policy) -> None:
    doc, cert, ca = dated
    trust = juxsdk.TrustedCertificates([cert]) if policy == "pinned" else juxsdk.TrustedCA([ca])
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    tick = dt.timedelta(microseconds=1)
    assert juxsdk.verify_report(doc, trust, at=start).verified_at == start
    assert juxsdk.verify_report(doc, trust, at=end).verified_at == end
    _refused(doc, E.CertificateValidityError, "is not yet valid at 2029-12-31T23:59:59.999999+00:00", trust=trust,
             at=start - tick)
    _refused(doc, E.CertificateValidityError, "expired at 2030-12-31T23:59:59+00:00", trust=trust, at=end + tick)


def test_a_naive_time_is_utc_and_an_aware_one_keeps_its_offset(dated) -> None:
    doc, cert, _ = dated
    trust = juxsdk.TrustedCertificates([cert])
    end = cert.not_valid_after_utc
    assert juxsdk.verify_report(doc, trust, at=end.replace(tzinfo=None)).verified_at == end
    _refused(doc, E.CertificateValidityError, "expired", trust=trust,
             at=(end + dt.timedelta(seconds=1)).replace(tzinfo=None))
    plus2 = dt.timezone(dt.timedelta(hours=2))
    assert juxsdk.verify_report(doc, trust, at=end.astimezone(plus2)).verified_at == end


def test_the_verification_result_comes_from_the_signed_content_and_the_decision(rsa_keys) -> None:
    signed = juxsdk.sign_report(UNUSED_NS, rsa_keys.signer())
    trust = juxsdk.TrustedCertificates.from_pem_file(rsa_keys.cert_path)
    at = dt.datetime.now(dt.UTC)
    v = juxsdk.verify_report(signed.data, trust, at=at, source="r.xml")
    assert (v.summary.tests, v.summary.failures) == (2, 1)
    assert v.verified_at == at and v.source == "r.xml" and v.warnings == ()
    assert v.trust.startswith("pinned certificate 'CN=juxsdk test rsa'")
    assert v.signature.algorithm == "rsa-sha256"
    assert v.signature.certificate_fingerprint == juxsdk.trust.certificate_fingerprint(rsa_keys.cert)
    assert v.canonical_hash == signed.canonical_hash


# --- the remaining error classes through the CLI: exit code, type and message -----------------


def _cli_case(case: str, rsa_signer) -> tuple[bytes, type[E.JuxError], str, int]:
    """A report only ``case``'s check refuses: (document, error class, message, exit code)."""
    if case == "not-xml":
        return b"<testsuite", E.ReportParseError, "not well-formed XML", 3
    if case == "unsigned":
        return UNUSED_NS, E.NoSignatureError, "has no XML signature", 1
    root = signed_root(rsa_signer, UNUSED_NS)
    if case == "tampered":
        root.find("testcase").set("name", "renamed")
        return etree.tostring(root), E.DigestMismatchError, "digest mismatch", 1
    if case == "signature-elements":  # one element over the limit
        ki = sig_of(root).find(f"{DS}KeyInfo")
        count = sum(1 for el in sig_of(root).iter() if isinstance(el.tag, str))
        for _ in range(juxsdk.limits.MAX_SIGNATURE_ELEMENTS - count + 1):
            etree.SubElement(ki, f"{DS}KeyName").text = "x"
        return etree.tostring(root), E.SignatureLimitError, "elements", 1
    if case == "weak-key":
        key_info = sig_of(root).find(f"{DS}KeyInfo")
        for child in list(key_info):
            key_info.remove(child)
        kv = etree.SubElement(key_info, f"{DS}KeyValue")
        rsa_kv = etree.SubElement(kv, f"{DS}RSAKeyValue")
        etree.SubElement(rsa_kv, f"{DS}Modulus").text = _b64int(_rsa_public(1024).public_numbers().n)
        etree.SubElement(rsa_kv, f"{DS}Exponent").text = _b64int(65537)
        return etree.tostring(root), E.WeakKeyError, "RSA key of 1024 bits is below the minimum of 2048 bits", 1
    assert case == "algorithm-mismatch"
    set_method(root, "ecdsa-sha256")
    return etree.tostring(root), E.AlgorithmMismatchError, "SignatureMethod is ecdsa-sha256 but the signing key is an RSA key", 1


@pytest.mark.parametrize(
    "case", ["not-xml", "unsigned", "tampered", "signature-elements", "weak-key", "algorithm-mismatch"]
)
def test_each_error_class_through_the_cli(rsa_signer, tmp_path, case) -> None:
    doc, error, match, code = _cli_case(case, rsa_signer)
    with pytest.raises(E.JuxError) as info:
        juxsdk.verify_report(doc, ANY)
    assert type(info.value) is error, f"{type(info.value).__name__}: {info.value}"
    assert match in str(info.value) and info.value.exit_code == code
    path = tmp_path / "report.xml"
    path.write_bytes(doc)
    result = CliRunner().invoke(main, ["verify", "--unsafe-accept-any-key", "--json", str(path)])
    assert result.exit_code == code, result.output
    [entry] = json.loads(result.stdout)
    assert entry["verified"] is False
    assert entry["error"]["type"] == error.__name__ and match in entry["error"]["message"]
    text = CliRunner().invoke(main, ["verify", "--unsafe-accept-any-key", str(path)])
    prefix = "FAIL" if code == 1 else "ERROR"  # exit 1: does not verify; 3: not a report at all
    assert text.exit_code == code and f"{prefix} {path}: " in text.output and match in text.output
    # one failure line and its hint; the trust line and the tally (stderr) come once per run
    lines = [ln for ln in text.output.splitlines() if not ln.startswith("trust:") and not ln.endswith(" failed")]
    assert "Traceback" not in text.output and len(lines) <= 2, text.output


def test_an_rsa_exponent_of_exactly_64_bits_is_read_and_one_byte_more_is_not(rsa_keys) -> None:
    root = signed_root(rsa_keys.signer(with_cert=False))
    _rsa_field(root, "Exponent").text = _b64int(2**64 - 1, 8)  # 8 bytes: a key, the math then says no
    _refused(etree.tostring(root), E.SignatureValueError, "does not verify")
    _rsa_field(root, "Exponent").text = _b64int(2**64 + 1, 9)
    _refused(etree.tostring(root), E.UnsupportedKeyError, "RSA public exponent is longer than 64 bits")


# --- found by the full mutation run (issue 17) --------------------------------------------------


def test_an_unexpected_element_after_ds_object_is_refused(rsa_signer, tmp_path) -> None:
    # the walk skips the (never canonicalised) ds:Object subtree and goes on with its siblings
    root = signed_root(rsa_signer)
    sig = sig_of(root)
    etree.SubElement(sig, f"{DS}Object").text = "unsigned"
    etree.SubElement(sig, "smuggled")
    doc = etree.tostring(root)
    _refused(doc, E.SignatureStructureError, "unexpected element 'smuggled' in ds:Signature")
    _cli(tmp_path, doc, E.SignatureStructureError, "unexpected element 'smuggled'")


def test_namespace_declarations_of_sibling_signature_elements_do_not_add_up(rsa_signer) -> None:
    # the namespace limit of the signature counts the declarations in scope: one declared on each
    # of many siblings is one in scope at a time (as for the document limits)
    from juxsdk.limits import MAX_NAMESPACE_DECLARATIONS_IN_SCOPE

    root = signed_root(rsa_signer)
    key_info = sig_of(root).find(f"{DS}KeyInfo")
    count = MAX_NAMESPACE_DECLARATIONS_IN_SCOPE // 2 + 2
    for i in range(count):
        el = etree.SubElement(key_info, f"{{urn:sibling:{i}}}note", nsmap={f"s{i}": f"urn:sibling:{i}"})
        el.text = "n"
    doc = etree.tostring(root)
    assert doc.count(b"xmlns:s") == count
    assert juxsdk.verify_report(doc, ANY).summary.tests == 2


def test_the_signature_attribute_limit_at_its_boundary(rsa_signer) -> None:
    from juxsdk.limits import MAX_ATTRIBUTES_PER_ELEMENT

    for count, refused in ((MAX_ATTRIBUTES_PER_ELEMENT, False), (MAX_ATTRIBUTES_PER_ELEMENT + 1, True)):
        root = signed_root(rsa_signer)
        note = etree.SubElement(sig_of(root).find(f"{DS}KeyInfo"), f"{DS}KeyName")
        for i in range(count):
            note.set(f"a{i}", "v")
        doc = etree.tostring(root)
        if refused:
            _refused(doc, E.SignatureLimitError, f"ds:KeyName has more than {MAX_ATTRIBUTES_PER_ELEMENT} attributes")
        else:
            assert juxsdk.verify_report(doc, ANY).summary.tests == 2


def test_the_signature_namespace_limit_at_its_boundary(rsa_signer) -> None:
    from juxsdk.limits import MAX_NAMESPACE_DECLARATIONS_IN_SCOPE as LIMIT

    for extra, refused in ((0, False), (1, True)):
        root = signed_root(rsa_signer)
        key_info = sig_of(root).find(f"{DS}KeyInfo")
        in_scope = len(key_info.nsmap)  # the root's, the signature's and KeyInfo's declarations
        wanted = LIMIT - in_scope + extra
        note = etree.SubElement(key_info, "{urn:n0}note", nsmap={f"n{i}": f"urn:n{i}" for i in range(wanted)})
        assert len(note.nsmap) == LIMIT + extra
        doc = etree.tostring(root)
        if refused:
            _refused(doc, E.SignatureLimitError, f"more than {LIMIT} namespace declarations are in scope")
        else:
            assert juxsdk.verify_report(doc, ANY).summary.tests == 2
