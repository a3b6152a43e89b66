"""Helpers to craft signed reports that only one check refuses: edit, then re-sign SignedInfo."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
from lxml import etree

import juxsdk

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
DS = f"{{{DS_NS}}}"
DSIG11 = "{http://www.w3.org/2009/xmldsig11#}"
METHOD = "http://www.w3.org/2001/04/xmldsig-more#"
BASE = b'<testsuite name="s" tests="2"><testcase name="a"/><testcase name="b"><failure/></testcase></testsuite>'


def signed_root(signer: Any, data: bytes = BASE) -> Any:
    return etree.fromstring(juxsdk.sign_report(data, signer).data)


def sig_of(root: Any) -> Any:
    return root.find(f"{DS}Signature")


def resign(root: Any, key: Any, *, hash_alg: hashes.HashAlgorithm | None = None) -> bytes:
    """Recompute SignatureValue over the (edited) SignedInfo with ``key``; return the document bytes.

    RSA keys sign PKCS #1 v1.5, EC keys ECDSA with raw r‖s — whatever SignatureMethod says, so a
    test can label a signature with the wrong method and still have a mathematically valid value.
    """
    sig = sig_of(root)
    signed_info = sig.find(f"{DS}SignedInfo")
    octets = etree.tostring(signed_info, method="c14n", exclusive=True, with_comments=False)
    h = hash_alg or hashes.SHA256()
    if isinstance(key, rsa.RSAPrivateKey):
        value = key.sign(octets, padding.PKCS1v15(), h)
    else:
        r, s = decode_dss_signature(key.sign(octets, ec.ECDSA(h)))
        size = (key.curve.key_size + 7) // 8
        value = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    sig.find(f"{DS}SignatureValue").text = base64.b64encode(value).decode()
    return etree.tostring(root)


def self_signed(key: Any, cn: str = "crafted") -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, None if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey) else hashes.SHA256())
    )


def put_certificate(root: Any, cert: x509.Certificate) -> None:
    """Replace KeyInfo with one X509Data holding ``cert``."""
    sig = sig_of(root)
    ki = sig.find(f"{DS}KeyInfo")
    for child in list(ki):
        ki.remove(child)
    data = etree.SubElement(ki, f"{DS}X509Data")
    etree.SubElement(data, f"{DS}X509Certificate").text = base64.b64encode(
        cert.public_bytes(serialization.Encoding.DER)
    ).decode()


def set_method(root: Any, name: str) -> None:
    sig_of(root).find(f"{DS}SignedInfo/{DS}SignatureMethod").set("Algorithm", METHOD + name)


EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
C14N_10 = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
C14N_11 = "http://www.w3.org/2006/12/xml-c14n11"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
_EXCLUSIVE = {EXC_C14N: True, C14N_10: False, C14N_11: False}


def c14n(node: Any, method: str = EXC_C14N, prefixes: list[str] | None = None) -> bytes:
    """The canonical octets of ``node`` with one of the profile's C14N methods (no comments)."""
    exclusive = _EXCLUSIVE[method]
    return etree.tostring(
        node, method="c14n", exclusive=exclusive, with_comments=False,
        inclusive_ns_prefixes=prefixes if exclusive else None,
    )


def redigest(
    root: Any, *, method: str = EXC_C14N, prefixes: list[str] | None = None, hash_name: str = "sha256"
) -> None:
    """Recompute DigestValue: ``hash_name`` of the document without its signature, canonicalised with ``method``."""
    import copy
    import hashlib

    clone = copy.deepcopy(root)
    sig = sig_of(clone)
    clone.remove(sig)  # the signature has no tail in these tests
    digest = hashlib.new(hash_name, c14n(clone.getroottree(), method, prefixes)).digest()
    sig_of(root).find(f"{DS}SignedInfo/{DS}Reference/{DS}DigestValue").text = base64.b64encode(digest).decode()


def resign_c14n(root: Any, key: Any, method: str, prefixes: list[str] | None = None,
                hash_alg: hashes.HashAlgorithm | None = None) -> bytes:
    """Like :func:`resign`, SignedInfo canonicalised with ``method`` (and its PrefixList)."""
    sig = sig_of(root)
    octets = c14n(sig.find(f"{DS}SignedInfo"), method, prefixes)
    h = hash_alg or hashes.SHA256()
    if isinstance(key, rsa.RSAPrivateKey):
        value = key.sign(octets, padding.PKCS1v15(), h)
    else:
        r, s = decode_dss_signature(key.sign(octets, ec.ECDSA(h)))
        size = (key.curve.key_size + 7) // 8
        value = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    sig.find(f"{DS}SignatureValue").text = base64.b64encode(value).decode()
    return etree.tostring(root)


def set_transforms(root: Any, *algorithms: str) -> list[Any]:
    """Replace the Reference's transforms (no ds:Transforms element at all when none are given)."""
    ref = sig_of(root).find(f"{DS}SignedInfo/{DS}Reference")
    old = ref.find(f"{DS}Transforms")
    if old is not None:
        ref.remove(old)
    if not algorithms:
        return []
    transforms = etree.Element(f"{DS}Transforms")
    ref.insert(0, transforms)
    return [etree.SubElement(transforms, f"{DS}Transform", Algorithm=a) for a in algorithms]
