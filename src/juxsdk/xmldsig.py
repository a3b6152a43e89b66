"""XML digital signatures (XMLDSig) over JUnit reports — the only module that imports signxml.

Signature profile (W3C XML Signature Syntax and Processing 1.1, https://www.w3.org/TR/xmldsig-core1/):

* enveloped signature (§6.6.4), ``ds:Signature`` is the last child of the root element;
* one ``ds:Reference`` with ``URI=""`` (the whole document without comments, §4.4.3.2) and the
  transforms enveloped-signature + Exclusive C14N 1.0 (https://www.w3.org/TR/xml-exc-c14n/);
* digest SHA-256 (RFC 6931 §2.1.3 ``xmlenc#sha256``);
* signature RSA PKCS #1 v1.5 with SHA-256/384/512 or ECDSA with SHA-256/384/512 (RFC 6931 §2.3),
  canonicalisation of ``SignedInfo`` with Exclusive C14N 1.0; no SHA-1 anywhere;
* ``ds:KeyInfo`` holds ``ds:X509Data`` (signing certificate first, then the chain) when the
  signer has a certificate, otherwise ``ds:KeyValue`` (RSAKeyValue / dsig11:ECKeyValue).

Signing: the report is parsed and canonicalised once (the canonical-hash octets *are* the
reference digest input). signxml builds ``ds:SignedInfo``/``ds:KeyInfo`` and calls the
:class:`~juxsdk.protocols.Signer` through an adapter that looks like a ``cryptography`` private
key, so every backend (file key, PKCS#11 token…) shares this one code path. The serialised
``ds:Signature`` is spliced into the original bytes just before the root end tag: the output is
the input byte-for-byte plus the signature, and it is never re-serialised afterwards.

Verification is done here without signxml's document copies (it would parse and serialise the
whole document three to four times): the accepted profile is narrow on purpose (one signature,
child of the root, one ``URI=""`` reference, enveloped + C14N transforms), which rules out
signature-wrapping attacks, and what is returned is computed from the signed content only.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import hashlib
import logging
import re
from collections.abc import Sequence
from typing import Any, cast

import attrs
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.exceptions import UnsupportedAlgorithm as _CryptographyUnsupported
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.signer import XMLSigner

from . import _telemetry
from ._xml import DS_NS, DSIG11_NS, HashSink, parse_xml
from .canonical import remove_signature, remove_signatures
from .errors import (
    AlgorithmMismatchError,
    AlreadySignedError,
    DigestMismatchError,
    InvalidBase64Error,
    MissingKeyError,
    MultipleSignaturesError,
    NoSignatureError,
    SignatureLimitError,
    SignatureStructureError,
    SignatureValueError,
    SigningError,
    UnsupportedAlgorithmError,
    UnsupportedKeyError,
    WeakKeyError,
)
from .junit import (
    _check_root,
    _report_fields,
    _report_from_tree,
    _signed_fields,
    ascii_compatible,
    parse_report,
    scan_report,
    serialisation_encoding,
)
from .limits import (
    DEFAULT_MAX_BYTES,
    MAX_ATTRIBUTES_PER_ELEMENT,
    MAX_BASE64_CHARS,
    MAX_CERTIFICATES,
    MAX_NAMESPACE_DECLARATIONS_IN_SCOPE,
    MAX_SIGNATURE_ELEMENTS,
)
from .models import Report, SignatureInfo, SignedReport, VerifiedReport
from .protocols import SIGNATURE_ALGORITHMS, Signer
from .trust import (
    TrustPolicy,
    certificate_fingerprint,
    certificate_subject,
    key_fingerprint,
    key_strength_problem,
)

__all__ = ["sign_report", "signature_info", "verify_report"]

log = logging.getLogger(__name__)
_DS = f"{{{DS_NS}}}"
_DSIG11 = f"{{{DSIG11_NS}}}"
_EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
_C14N_10 = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
_C14N_11 = "http://www.w3.org/2006/12/xml-c14n11"
_ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"

_SIGNXML_METHODS: dict[str, SignatureMethod] = {
    "rsa-sha256": SignatureMethod.RSA_SHA256,
    "rsa-sha384": SignatureMethod.RSA_SHA384,
    "rsa-sha512": SignatureMethod.RSA_SHA512,
    "ecdsa-sha256": SignatureMethod.ECDSA_SHA256,
    "ecdsa-sha384": SignatureMethod.ECDSA_SHA384,
    "ecdsa-sha512": SignatureMethod.ECDSA_SHA512,
}
#: SignatureMethod URI -> (short name, hash) accepted on verification.
_ACCEPTED_METHODS: dict[str, tuple[str, hashes.HashAlgorithm]] = {
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256": ("rsa-sha256", hashes.SHA256()),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384": ("rsa-sha384", hashes.SHA384()),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": ("rsa-sha512", hashes.SHA512()),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256": ("ecdsa-sha256", hashes.SHA256()),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384": ("ecdsa-sha384", hashes.SHA384()),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512": ("ecdsa-sha512", hashes.SHA512()),
}
_ACCEPTED_DIGESTS: dict[str, str] = {
    "http://www.w3.org/2001/04/xmlenc#sha256": "sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384": "sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512": "sha512",
}
_SHA256_URI = "http://www.w3.org/2001/04/xmlenc#sha256"
#: each accepted CanonicalizationMethod and whether it is exclusive. lxml has no C14N 1.1: it is
#: done as inclusive C14N 1.0, the same octets for documents without xml:id/xml:base subtleties
#: (JUnit reports have none).
_ACCEPTED_C14N = {_EXC_C14N: True, _C14N_10: False, _C14N_11: False}
_EC_CURVES: dict[str, ec.EllipticCurve] = {
    "urn:oid:1.2.840.10045.3.1.7": ec.SECP256R1(),
    "urn:oid:1.3.132.0.34": ec.SECP384R1(),
    "urn:oid:1.3.132.0.35": ec.SECP521R1(),
}


# --------------------------------------------------------------------------------------------
# signing
# --------------------------------------------------------------------------------------------


class _SignerKey:
    """Presents a :class:`Signer` to signxml as a cryptography private key.

    signxml calls ``sign(data, padding=…, algorithm=…)`` (RSA) or
    ``sign(data, signature_algorithm=ECDSA(…))`` (EC), ``key_size``, ``public_key()`` and, for
    EC keys, ``curve``. The hash in those calls is checked against the signer's algorithm.
    """

    def __init__(self, signer: Signer, hash_name: str) -> None:
        self._signer = signer
        self._hash_name = hash_name
        self._public = signer.public_key()

    def sign(self, data: bytes, *args: Any, **kwargs: Any) -> bytes:
        algorithm = kwargs.get("algorithm")
        sig_alg = kwargs.get("signature_algorithm")
        if sig_alg is not None:
            algorithm = getattr(sig_alg, "algorithm", None)
        if algorithm is not None and algorithm.name != self._hash_name:
            raise SigningError(f"internal: signxml asked for {algorithm.name}, signer uses {self._hash_name}")
        try:
            return self._signer.sign(data)
        except SigningError:
            raise
        except Exception as exc:  # a backend bug must not escape as a random exception
            raise SigningError(
                f"signer {getattr(self._signer, 'name', '?')!r} failed: {type(exc).__name__}: {exc}"
            ) from exc

    @property
    def key_size(self) -> int:
        return int(self._public.key_size)  # type: ignore[union-attr]

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._public.curve  # type: ignore[union-attr]

    def public_key(self) -> PublicKeyTypes:
        return self._public


class _EnvelopedSigner(XMLSigner):
    """signxml's XMLSigner, fed the precomputed reference digest instead of the document.

    The payload handed to ``sign`` is a tiny stand-in element; ``_c14n`` returns a marker for
    it and ``_get_digest`` answers the marker with the report's canonical digest (computed once,
    streamed, while parsing), so signxml never copies or re-canonicalises the report.
    """

    def __init__(self, payload_digest: bytes, method: SignatureMethod) -> None:
        super().__init__(
            signature_algorithm=method,
            digest_algorithm=DigestAlgorithm.SHA256,
            c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
        )
        self._payload_digest = payload_digest
        self._marker = b"juxsdk:precomputed-reference-digest"
        self.stand_in = etree.Element("stand-in")

    def get_root(self, data: Any) -> Any:
        return data

    def _c14n(self, nodes: Any, algorithm: Any, inclusive_ns_prefixes: Any = None) -> bytes:
        if nodes is self.stand_in:
            return self._marker
        return bytes(super()._c14n(nodes, algorithm=algorithm, inclusive_ns_prefixes=inclusive_ns_prefixes))

    def _get_digest(self, data: bytes, algorithm: Any) -> bytes:
        if data is self._marker:
            if algorithm != DigestAlgorithm.SHA256:
                raise SigningError("internal: the precomputed reference digest is SHA-256")
            return self._payload_digest
        return bytes(super()._get_digest(data, algorithm=algorithm))

    def _unpack(self, data: Any, references: Any) -> Any:
        sig_root, doc_root, c14n_inputs, _ = super()._unpack(data, references)
        from signxml.signer import SignatureReference

        return sig_root, doc_root, c14n_inputs, [SignatureReference(URI="")]


_MISC_TAIL = rb"\s*>(?:\s+|<!--.*?-->|<\?.*?\?>)*"


def _splice_point(report: Report) -> int | None:
    """Offset of the root end tag in ``report.data``, where the signature goes; None if unsafe."""
    root = report._root
    data = report.data
    docinfo = root.getroottree().docinfo
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or not ascii_compatible(docinfo.encoding):
        return None
    local = etree.QName(root).localname
    qname = f"{root.prefix}:{local}" if root.prefix else local
    end = b"</" + qname.encode("ascii", "strict")
    index = data.rfind(end)
    if index < 0:
        return None
    if not re.fullmatch(re.escape(end) + _MISC_TAIL, data[index:], re.S):
        return None
    return index


def _reserialise_with(report: Report, signature_el: Any) -> bytes:
    tree = copy.deepcopy(report._root.getroottree())
    tree.getroot().append(copy.deepcopy(signature_el))
    encoding = serialisation_encoding(tree.docinfo.encoding)
    return cast(bytes, etree.tostring(tree, xml_declaration=True, encoding=encoding))


def _strip_signatures(report: Report) -> Report:
    tree = copy.deepcopy(report._root.getroottree())
    remove_signatures(tree.getroot())
    encoding = serialisation_encoding(tree.docinfo.encoding)
    data = cast(bytes, etree.tostring(tree, xml_declaration=True, encoding=encoding))
    return _report_from_tree(data, tree, report.source)


def signature_info(
    algorithm: str, key: PublicKeyTypes, certificate: x509.Certificate | None
) -> SignatureInfo:
    """Describe a signing key/certificate.

    Args:
        algorithm: Short algorithm name (``rsa-sha256``…).
        key: The public key.
        certificate: The signing certificate, if any.

    Returns:
        A :class:`~juxsdk.models.SignatureInfo`.
    """
    return SignatureInfo(
        algorithm=algorithm,
        key_fingerprint=key_fingerprint(key),
        certificate_subject=certificate_subject(certificate) if certificate is not None else None,
        certificate_fingerprint=certificate_fingerprint(certificate) if certificate is not None else None,
        certificate_not_after=certificate.not_valid_after_utc if certificate is not None else None,
    )


@_telemetry.traced("sign", log, result=lambda signed: {**_report_fields(signed), **_signed_fields(signed)})
def sign_report(
    report: Report | SignedReport | bytes,
    signer: Signer,
    *,
    replace: bool = False,
    source: str | None = None,
) -> SignedReport:
    """Sign a report with an enveloped XMLDSig signature.

    Args:
        report: A parsed :class:`~juxsdk.models.Report`, a
            :class:`~juxsdk.models.SignedReport` (to re-sign with ``replace=True``) or bytes.
        signer: Any :class:`~juxsdk.protocols.Signer` backend.
        replace: Replace an existing signature (CLI ``--force``) instead of refusing.
        source: File name for messages when ``report`` is bytes.

    Returns:
        A :class:`~juxsdk.models.SignedReport` whose ``data`` is the exact signed bytes: the
        input bytes unchanged plus the ``ds:Signature`` element before the root end tag
        (re-serialised only when that is impossible: a self-closing root or a UTF-16 document,
        or when replacing a signature).

    Raises:
        juxsdk.errors.ReportParseError: ``report`` is bytes that are not a JUnit report.
        AlreadySignedError: the report is signed and ``replace`` is False.
        SigningError: unsupported algorithm, a key below the key policy
            (:func:`juxsdk.trust.key_strength_problem`), certificate/key mismatch, or the signer failed.
    """
    if isinstance(report, SignedReport):
        report = parse_report(report.data, source=source or report.source)
    elif not isinstance(report, Report):
        report = parse_report(bytes(report), source=source)
    if report.signed:
        if not replace:
            raise AlreadySignedError(
                f"{report.source or 'report'} is already signed",
                hint="pass replace=True to replace the existing signature",
                cli_hint="use --force to replace the existing signature",
            )
        report = _strip_signatures(report)
    algorithm = signer.algorithm
    if algorithm not in SIGNATURE_ALGORITHMS:
        raise SigningError(
            f"signer algorithm {algorithm!r} is not supported",
            hint="use one of " + ", ".join(SIGNATURE_ALGORITHMS),
        )
    public = signer.public_key()
    is_ec = algorithm.startswith("ecdsa")
    if is_ec != isinstance(public, ec.EllipticCurvePublicKey) or (
        not is_ec and not isinstance(public, rsa.RSAPublicKey)
    ):
        raise SigningError(f"signer algorithm {algorithm} does not match its {type(public).__name__}")
    problem = key_strength_problem(public)
    if problem is not None:
        raise SigningError(
            f"the signing key is not accepted: {problem[1]}",
            hint="use RSA 2048 to 16384 bits or EC P-256/P-384/P-521 (`jux keygen` writes such keys)",
        )
    chain = list(signer.certificate_chain())
    if chain and key_fingerprint(chain[0].public_key()) != key_fingerprint(public):
        raise SigningError(
            "the signing certificate does not match the signing key",
            hint="configure the certificate that belongs to this key",
        )
    assert report._digest is not None
    xml_signer = _EnvelopedSigner(report._digest, _SIGNXML_METHODS[algorithm])
    key = _SignerKey(signer, algorithm.split("-")[1])
    try:
        xml_signer.sign(xml_signer.stand_in, key=key, cert=chain or None)  # type: ignore[arg-type]
    except SigningError:
        raise
    except Exception as exc:
        raise SigningError(f"cannot build the XML signature: {type(exc).__name__}: {exc}") from exc
    sig_el = xml_signer.stand_in[-1]
    _self_check(sig_el, public, algorithm)
    sig_xml = bytes(etree.tostring(sig_el, with_tail=False))
    index = _splice_point(report)
    if index is None:
        data = _reserialise_with(report, sig_el)
    else:
        # drop this reference to the parsed tree before the output copy: when the report was
        # parsed here, that frees it (lower peak memory); a caller's Report keeps its own
        report = attrs.evolve(report, _root=None)
        view = memoryview(report.data)
        data = b"".join((view[:index], sig_xml, view[index:]))  # the input bytes + the signature
    return SignedReport(
        data=data,
        canonical_hash=report.canonical_hash,
        summary=report.summary,
        properties=report.properties,
        signature=signature_info(algorithm, public, chain[0] if chain else None),
        source=report.source,
    )


def _self_check(sig_el: Any, public: PublicKeyTypes, algorithm: str) -> None:
    """Verify the fresh SignatureValue with the public key: catches a signer using another key."""
    signed_info = sig_el.find(f"{_DS}SignedInfo")
    value = base64.b64decode("".join(sig_el.find(f"{_DS}SignatureValue").itertext()))
    octets = bytes(etree.tostring(signed_info, method="c14n", exclusive=True, with_comments=False))
    hash_alg = _ACCEPTED_METHODS[_SIGNXML_METHODS[algorithm].value][1]
    try:
        _verify_value(public, value, octets, hash_alg)
    except (InvalidSignature, ValueError) as exc:
        raise SigningError(
            "the signer produced a signature that does not verify with its own public key",
            hint="the key in the token/file does not match the configured certificate or public key",
        ) from exc


# --------------------------------------------------------------------------------------------
# verification
# --------------------------------------------------------------------------------------------


def _verify_value(key: PublicKeyTypes, value: bytes, octets: bytes, hash_alg: hashes.HashAlgorithm) -> None:
    if isinstance(key, rsa.RSAPublicKey):
        key.verify(value, octets, padding.PKCS1v15(), hash_alg)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        size = (key.curve.key_size + 7) // 8
        if len(value) != 2 * size:
            raise InvalidSignature("ECDSA SignatureValue has the wrong length")
        der = encode_dss_signature(int.from_bytes(value[:size], "big"), int.from_bytes(value[size:], "big"))
        key.verify(der, octets, ec.ECDSA(hash_alg))
    else:
        raise UnsupportedAlgorithmError(f"unsupported key type {type(key).__name__}")


_B64_WHITESPACE = {ord(c): None for c in " \t\r\n"}


def _b64(el: Any) -> bytes:
    """Strict base64 (RFC 4648 §4 alphabet, correct padding) of a signature field's text.

    XML whitespace between the characters is allowed, as in XML Schema ``base64Binary`` and the
    line-wrapped values xmlsec1 and the JDK write (XMLDSig 1.1 §4.3.3). Anything else — child
    elements, comments, URL-safe or other characters, missing or extra padding — is refused.
    """
    what = f"ds:{etree.QName(el).localname}"
    if len(el):
        raise InvalidBase64Error(f"{what} holds markup (elements, comments or processing instructions), not base64")
    text = (el.text or "").translate(_B64_WHITESPACE)
    if len(text) > MAX_BASE64_CHARS:
        raise SignatureLimitError(f"{what} holds {len(text)} base64 characters, over the limit of {MAX_BASE64_CHARS}")
    if not text:
        raise InvalidBase64Error(f"{what} is empty")
    if len(text) % 4:
        raise InvalidBase64Error(f"{what} is not valid base64: {len(text)} characters, not a multiple of 4")
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except ValueError as exc:  # binascii.Error is a ValueError
        raise InvalidBase64Error(f"{what} is not valid base64: {exc}") from None


def _only(parent: Any, tag: str, what: str) -> Any:
    found = parent.findall(tag)
    if len(found) != 1:
        raise SignatureStructureError(f"expected exactly one {what}, found {len(found)}")
    return found[0]


def _at_most_one(parent: Any, tag: str, what: str) -> Any:
    found = parent.findall(tag)
    if len(found) > 1:
        raise SignatureStructureError(f"expected at most one {what}, found {len(found)}")
    return found[0] if found else None


_WALK_EVENTS = ("start", "end", "start-ns", "end-ns")
_SIGNATURE_CHILDREN = {f"{_DS}SignedInfo", f"{_DS}SignatureValue", f"{_DS}KeyInfo", f"{_DS}Object"}


def _check_signature_limits(sig: Any, root: Any) -> None:
    """The signature limits, before anything in the signature is decoded or canonicalised.

    Counts the elements of ``ds:Signature`` outside ``ds:Object`` (never canonicalised), their
    depth, attributes and namespace declarations in scope (from the root down).
    """
    declarations = len(root.nsmap)  # the root's own declarations: it has no ancestors
    elements = depth = 0
    walker = etree.iterwalk(sig, events=_WALK_EVENTS)
    for event, el in walker:
        if event == "start":
            depth += 1
            if depth == 2 and el.tag == f"{_DS}Object":
                walker.skip_subtree()
                continue
            if depth == 2 and el.tag not in _SIGNATURE_CHILDREN:
                raise SignatureStructureError(f"unexpected element {el.tag!r} in ds:Signature")
            elements += 1
            if elements > MAX_SIGNATURE_ELEMENTS:
                # this also bounds the depth: MAX_SIGNATURE_ELEMENTS < MAX_DEPTH, which the parser
                # enforces for the whole document anyway
                raise SignatureLimitError(f"the signature has more than {MAX_SIGNATURE_ELEMENTS} elements")
            if len(el.keys()) > MAX_ATTRIBUTES_PER_ELEMENT:
                raise SignatureLimitError(
                    f"ds:{etree.QName(el).localname} has more than {MAX_ATTRIBUTES_PER_ELEMENT} attributes"
                )
        elif event == "end":
            depth -= 1
        elif event == "start-ns":
            declarations += 1
            if declarations > MAX_NAMESPACE_DECLARATIONS_IN_SCOPE:
                raise SignatureLimitError(
                    f"more than {MAX_NAMESPACE_DECLARATIONS_IN_SCOPE} namespace declarations are in scope "
                    "in the signature"
                )
        else:
            declarations -= 1


def _rsa_key(rsa_el: Any) -> PublicKeyTypes:
    modulus = _b64(_only(rsa_el, f"{_DS}Modulus", "RSA Modulus")).lstrip(b"\0")
    exponent = _b64(_only(rsa_el, f"{_DS}Exponent", "RSA Exponent")).lstrip(b"\0")
    if len(exponent) > 8:
        raise UnsupportedKeyError("RSA public exponent is longer than 64 bits")
    try:
        return rsa.RSAPublicNumbers(int.from_bytes(exponent, "big"), int.from_bytes(modulus, "big")).public_key()
    except ValueError as exc:
        raise SignatureStructureError(f"invalid RSAKeyValue: {exc}") from None


def _ec_key(ec_el: Any) -> PublicKeyTypes:
    if ec_el.find(f"{_DSIG11}ECParameters") is not None:
        raise UnsupportedKeyError("ECKeyValue with explicit curve parameters is not supported (named curves are)")
    curve_el = _only(ec_el, f"{_DSIG11}NamedCurve", "ECKeyValue NamedCurve")
    curve = _EC_CURVES.get(curve_el.get("URI", ""))
    if curve is None:
        raise UnsupportedKeyError(
            f"unsupported EC curve {curve_el.get('URI')!r}", hint="juxsdk accepts P-256, P-384 and P-521"
        )
    point = _b64(_only(ec_el, f"{_DSIG11}PublicKey", "ECKeyValue PublicKey"))
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
    except ValueError as exc:
        raise SignatureStructureError(f"invalid ECKeyValue public key: {exc}") from None


def _key_info(sig: Any) -> tuple[list[x509.Certificate], PublicKeyTypes]:
    """The certificate chain and the signing key from ``ds:KeyInfo`` (XMLDSig 1.1 §4.5).

    Raises:
        MissingKeyError: no KeyInfo, or neither a certificate nor a key value in it.
        SignatureLimitError: more than ``MAX_CERTIFICATES`` certificates.
        UnsupportedKeyError: DSAKeyValue, an unknown key value or curve.
        SignatureStructureError: duplicated elements, invalid certificates or key values, or a
            KeyValue that is not the certificate's key.
    """
    ki = _at_most_one(sig, f"{_DS}KeyInfo", "ds:KeyInfo")
    if ki is None:
        raise MissingKeyError("the signature has no ds:KeyInfo", hint="the signer must embed its certificate or key")
    chain: list[x509.Certificate] = []
    x509_data = _at_most_one(ki, f"{_DS}X509Data", "ds:X509Data")
    if x509_data is not None:
        cert_els = x509_data.findall(f"{_DS}X509Certificate")
        if len(cert_els) > MAX_CERTIFICATES:
            raise SignatureLimitError(
                f"ds:X509Data holds {len(cert_els)} certificates, over the limit of {MAX_CERTIFICATES}"
            )
        if not cert_els:
            raise MissingKeyError("ds:X509Data holds no ds:X509Certificate")
        for cert_el in cert_els:
            try:
                chain.append(x509.load_der_x509_certificate(_b64(cert_el)))
            except ValueError:
                raise SignatureStructureError("ds:X509Certificate is not a valid DER certificate") from None
    key: PublicKeyTypes | None = None
    key_value = _at_most_one(ki, f"{_DS}KeyValue", "ds:KeyValue")
    if key_value is not None:
        values = [c for c in key_value if isinstance(c.tag, str)]
        if len(values) != 1:
            raise SignatureStructureError(f"ds:KeyValue must hold exactly one key, found {len(values)}")
        if values[0].tag == f"{_DS}RSAKeyValue":
            key = _rsa_key(values[0])
        elif values[0].tag == f"{_DSIG11}ECKeyValue":
            key = _ec_key(values[0])
        else:
            raise UnsupportedKeyError(f"unsupported key value {etree.QName(values[0]).localname!r} (RSA and EC are)")
    if chain:
        try:
            leaf_key = chain[0].public_key()
        except (ValueError, TypeError, _CryptographyUnsupported) as exc:  # an unknown key type or curve
            raise UnsupportedKeyError(f"the signing certificate's key is not supported: {exc}") from None
        if key is not None and key_fingerprint(key) != key_fingerprint(leaf_key):
            raise SignatureStructureError(
                "KeyInfo is ambiguous: KeyValue does not match the X509 certificate",
                hint="the report was tampered with or produced by a broken signer",
            )
        return chain, leaf_key
    if key is None:
        raise MissingKeyError("ds:KeyInfo holds neither a certificate nor a key value")
    return chain, key


def _check_key(key: PublicKeyTypes, algorithm: str, allow_weak: bool) -> None:
    """The SignatureMethod must fit the key, and the key must pass the key policy."""
    problem = key_strength_problem(key, allow_weak=allow_weak)
    if problem is not None:
        kind, reason = problem
        if kind == "weak":
            raise WeakKeyError(reason, hint="re-sign with a stronger key (only if you must: --unsafe-allow-weak-keys)")
        raise UnsupportedKeyError(reason, hint="juxsdk accepts RSA (2048 bits and up) and EC P-256/P-384/P-521 keys")
    wants_ec = algorithm.startswith("ecdsa")
    if wants_ec != isinstance(key, ec.EllipticCurvePublicKey):
        raise AlgorithmMismatchError(
            f"the SignatureMethod is {algorithm} but the signing key is {'an EC' if not wants_ec else 'an RSA'} key",
            hint="the signature block was altered, or made by a broken signer",
        )


def _c14n_of(node: Any, method: str, prefixes: Sequence[str] | None) -> bytes:
    exclusive = _ACCEPTED_C14N[method]
    return bytes(
        etree.tostring(
            node,
            method="c14n",
            exclusive=exclusive,
            with_comments=False,
            inclusive_ns_prefixes=list(prefixes) if (exclusive and prefixes) else None,
        )
    )


def _prefix_list(el: Any) -> list[str] | None:
    inc = _at_most_one(el, "{http://www.w3.org/2001/10/xml-exc-c14n#}InclusiveNamespaces", "InclusiveNamespaces")
    if inc is None:
        return None
    return [p for p in (inc.get("PrefixList") or "").split() if p != "#default"]


def _find_signature(root: Any, label: str) -> Any:
    """The first ``ds:Signature`` child of the root (``verify_report`` refuses more than one
    signature anywhere in the document after its scan, which counts them all)."""
    sig = next((child for child in root if child.tag == f"{_DS}Signature"), None)
    if sig is not None:
        return sig
    if next(root.iter(f"{_DS}Signature"), None) is not None:  # walks the tree only on this failure
        raise SignatureStructureError(
            f"{label}: the signature is not a child of the root element",
            hint="the signature was moved; the report was tampered with",
        )
    raise NoSignatureError(f"{label} has no XML signature", hint="sign it with `jux sign`")


@_telemetry.traced("verify", log, result=_signed_fields)
def verify_report(
    data: bytes,
    trust: TrustPolicy,
    *,
    at: dt.datetime | None = None,
    source: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    unsafe_allow_weak_keys: bool = False,
) -> VerifiedReport:
    """Verify a signed report against an explicit trust policy.

    Every limit of :mod:`juxsdk.limits` is checked before the step it protects: the document
    limits in the first walk of the tree, the signature limits before anything in the signature
    is decoded, canonicalised or handed to the trust policy.

    Args:
        data: The signed document bytes.
        trust: Which keys/certificates to accept (:mod:`juxsdk.trust`).
        at: Time at which certificate validity is checked (timezone-aware; naive = UTC;
            default now). Use the signing time to verify old reports after expiry.
        source: File name for messages.
        max_bytes: Size limit in bytes.
        unsafe_allow_weak_keys: Accept RSA keys from 1024 bits and EC curves other than
            P-256/P-384/P-521 (see :func:`juxsdk.trust.key_strength_problem`). Unsafe: only to
            read old reports signed with such keys.

    Returns:
        A :class:`~juxsdk.models.VerifiedReport` built **only** from the signed content.

    Raises:
        juxsdk.errors.ReportParseError: not well-formed / unsafe XML (DoctypeForbiddenError,
            ReportTooLargeError, ReportLimitError are subclasses).
        juxsdk.errors.ReportError: not a JUnit report.
        NoSignatureError: no ``ds:Signature``.
        MultipleSignaturesError: more than one ``ds:Signature``.
        SignatureStructureError: the signature is not the accepted enveloped profile (not a
            child of the root, a Reference other than ``URI=""``, duplicated or unexpected
            elements, extra references/transforms…); its subclasses SignatureLimitError (over a
            signature limit), InvalidBase64Error (a field is not strict base64) and
            MissingKeyError (no certificate or key value in KeyInfo).
        UnsupportedAlgorithmError: SHA-1 or another algorithm outside the profile; its
            subclasses UnsupportedKeyError (DSA, Ed25519, an unknown curve…) and WeakKeyError
            (RSA under 2048 bits).
        AlgorithmMismatchError: the SignatureMethod does not fit the key type.
        juxsdk.errors.UntrustedKeyError: the key is not trusted by ``trust``.
        juxsdk.errors.CertificateValidityError: the certificate is not valid at ``at``.
        SignatureValueError: the SignatureValue does not verify (wrong key or tampered SignedInfo).
        DigestMismatchError: the signed content was changed after signing.
    """
    when = at or dt.datetime.now(dt.UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    tree = parse_xml(bytes(data), source=source, max_bytes=max_bytes)
    root = tree.getroot()
    _check_root(root, source)
    label = source or "report"
    sig = _find_signature(root, label)
    # Document limits and the summary of the signed content (the enveloped signature left out),
    # in one walk; the summary is returned only if everything below verifies.
    summary, properties, signatures = scan_report(root, source=source)
    if signatures > 1:
        raise MultipleSignaturesError(
            f"{label} has {signatures} XML signatures; exactly one is accepted",
            hint="re-sign the original report with `jux sign --force`",
        )
    _check_signature_limits(sig, root)

    signed_info = _only(sig, f"{_DS}SignedInfo", "ds:SignedInfo")
    c14n_el = _only(signed_info, f"{_DS}CanonicalizationMethod", "ds:CanonicalizationMethod")
    c14n_method = c14n_el.get("Algorithm", "")
    if c14n_method not in _ACCEPTED_C14N:
        raise UnsupportedAlgorithmError(f"unsupported CanonicalizationMethod {c14n_method!r}")
    method_uri = _only(signed_info, f"{_DS}SignatureMethod", "ds:SignatureMethod").get("Algorithm", "")
    if method_uri not in _ACCEPTED_METHODS:
        raise UnsupportedAlgorithmError(
            f"unsupported SignatureMethod {method_uri!r}",
            hint="juxsdk accepts RSA and ECDSA with SHA-256/384/512 (no SHA-1)",
        )
    algorithm, hash_alg = _ACCEPTED_METHODS[method_uri]
    reference = _only(signed_info, f"{_DS}Reference", "ds:Reference")
    if reference.get("URI") != "":
        raise SignatureStructureError(
            f"the signature's Reference URI is {reference.get('URI')!r}; only URI=\"\" (the whole document) is accepted"
        )
    transforms_el = _at_most_one(reference, f"{_DS}Transforms", "ds:Transforms")
    transform_els = [] if transforms_el is None else transforms_el.findall(f"{_DS}Transform")
    transforms = [t.get("Algorithm", "") for t in transform_els]
    if not transforms or transforms[0] != _ENVELOPED or len(transforms) > 2:
        raise SignatureStructureError(
            "the Reference transforms must be enveloped-signature, optionally followed by a C14N method"
        )
    ref_c14n = transforms[1] if len(transforms) == 2 else _C14N_10  # XMLDSig §4.4.3.2 default
    if ref_c14n not in _ACCEPTED_C14N:
        raise UnsupportedAlgorithmError(f"unsupported reference transform {ref_c14n!r}")
    ref_prefixes = _prefix_list(transform_els[1]) if len(transforms) == 2 else None
    digest_uri = _only(reference, f"{_DS}DigestMethod", "ds:DigestMethod").get("Algorithm", "")
    if digest_uri not in _ACCEPTED_DIGESTS:
        raise UnsupportedAlgorithmError(
            f"unsupported DigestMethod {digest_uri!r}", hint="juxsdk accepts SHA-256/384/512 digests"
        )
    digest_value = _b64(_only(reference, f"{_DS}DigestValue", "ds:DigestValue"))
    value = _b64(_only(sig, f"{_DS}SignatureValue", "ds:SignatureValue"))

    warnings: list[str] = []
    if sig.find(f"{_DS}Object") is not None:
        warnings.append("ignored unsigned content inside ds:Signature/ds:Object")

    chain, key = _key_info(sig)
    _check_key(key, algorithm, unsafe_allow_weak_keys)
    decision = trust.decide(chain, None if chain else key, when)
    _check_key(decision.key, algorithm, unsafe_allow_weak_keys)

    signed_info_octets = _c14n_of(signed_info, c14n_method, _prefix_list(c14n_el))
    try:
        _verify_value(decision.key, value, signed_info_octets, hash_alg)
    except (InvalidSignature, ValueError) as exc:
        raise SignatureValueError(
            f"{label}: the signature value does not verify with the signing key",
            hint="the signature block was altered or made with a different key",
        ) from exc

    # Enveloped transform: the signed content is the document without the signature.
    remove_signature(sig)
    plain = ref_c14n == _EXC_C14N and not ref_prefixes
    # The exclusive C14N is streamed into the hash (no copy of the document is kept): the
    # signed content is recomputed from the verified bytes only if a caller asks for it.
    canonical = HashSink("sha256")
    tree.write_c14n(canonical, exclusive=True, with_comments=False)
    if plain and digest_uri == _SHA256_URI:
        actual = canonical.hash.digest()
    elif plain:
        ref_sink = HashSink(_ACCEPTED_DIGESTS[digest_uri])
        tree.write_c14n(ref_sink, exclusive=True, with_comments=False)
        actual = ref_sink.hash.digest()
    else:
        actual = hashlib.new(_ACCEPTED_DIGESTS[digest_uri], _c14n_of(tree, ref_c14n, ref_prefixes)).digest()
    if actual != digest_value:
        raise DigestMismatchError(
            f"{label}: the report content was changed after it was signed (digest mismatch)",
            hint="do not edit or reformat signed reports; re-sign the original output",
        )
    return VerifiedReport(
        _verified_bytes=bytes(data),
        canonical_hash="sha256:" + canonical.hash.hexdigest(),
        summary=summary,
        properties=properties,
        signature=signature_info(algorithm, decision.key, decision.certificate),
        verified_at=when,
        trust=decision.description,
        warnings=tuple(warnings),
        source=source,
    )
