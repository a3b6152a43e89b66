"""DSSE envelopes signed by any juxsdk :class:`~juxsdk.protocols.Signer`, and their hardened verification.

DSSE (Dead Simple Signing Envelope) v1.0.2, https://github.com/secure-systems-lab/dsse:

* protocol.md — a signature is ``Sign(PAE(UTF8(PAYLOAD_TYPE), SERIALIZED_BODY))`` with
  ``PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`` (``LEN`` is the
  ASCII decimal byte length, no leading zeros); a ``(t, n)`` envelope is valid when signatures
  by at least ``t`` *distinct* trusted keys verify;
* envelope.md — the JSON envelope ``{"payload": b64, "payloadType": str, "signatures":
  [{"keyid": str, "sig": b64}, …]}``; standard or URL-safe base64; unknown fields ignored;
* envelope.md 1.1.0 (experimental) — an optional, *unauthenticated* per-signature
  ``extension`` ``{"kind": …, "ext": {…}}``; extensions.md lists the Sigstore kind
  ``application/vnd.dev.sigstore.verificationmaterial;version=…`` whose ``ext`` is a Sigstore
  ``VerificationMaterial`` (https://github.com/sigstore/protobuf-specs, sigstore_bundle.proto).

How juxsdk fills the gaps the protocol leaves "agreed out of band":

* **Sign()**: the Signer's ``sign(PAE)`` — RSA PKCS #1 v1.5 with the Signer's SHA-2, or ECDSA
  (DER ``Ecdsa-Sig-Value``), i.e. securesystemslib's schemes ``rsa-pkcs1v15-sha256|384|512``
  and ``ecdsa-sha2-nistp256|384|521``. An ECDSA signer must use its curve's hash (P-256 with
  SHA-256, P-384 with SHA-384, P-521 with SHA-512) because the envelope names no algorithm.
* **KEYID**: securesystemslib's default key id, so its ``Envelope.verify`` finds our keys
  without special cases: the lowercase hex SHA-256 of the OLPC canonical JSON (sorted keys, no
  whitespace, only ``\\`` and ``"`` escaped) of ``{"keytype": "rsa"|"ecdsa", "keyval":
  {"public": <PEM SubjectPublicKeyInfo>}, "scheme": <scheme>}`` (see :func:`keyid`).
* **Certificates**: when the Signer has a certificate chain, each signature carries it in the
  Sigstore verification-material extension (``x509CertificateChain``, signing certificate
  first). It is a hint like KeyInfo in XMLDSig: the trust policy decides (a pinned
  certificate, a pinned key, or a path to a trusted CA root); nothing in the envelope is
  trusted by itself. Without it, the policy's pinned certificates/keys are the candidates.

Verification reads hostile input: size cap, strict JSON (UTF-8, no duplicate keys, no NaN,
bounded nesting), strict base64 (one alphabet, canonical), at most :data:`MAX_SIGNATURES`
signatures, and the payload type is checked before any signature work.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from .errors import (
    AttestationError,
    SignatureThresholdError,
    SignatureValueError,
    SigningError,
    UnsupportedAlgorithmError,
    UntrustedKeyError,
    VerificationError,
)
from .models import SignatureInfo
from .protocols import Signer
from .trust import TrustedCertificates, TrustedPublicKeys, TrustPolicy, key_fingerprint

__all__ = [
    "CHAIN_EXTENSION_KIND",
    "DEFAULT_MAX_ENVELOPE_BYTES",
    "MAX_SIGNATURES",
    "DsseSignature",
    "Envelope",
    "VerifiedEnvelope",
    "keyid",
    "pae",
    "sign_envelope",
    "strict_json",
    "verify_envelope",
]

#: Largest envelope accepted, in bytes (16 MiB): a report with 100 000 tests stays far below.
DEFAULT_MAX_ENVELOPE_BYTES = 16 * 1024 * 1024
#: Most signatures an envelope may carry (co-signing needs a few, not hundreds).
MAX_SIGNATURES = 16
#: Deepest JSON nesting accepted in an envelope or its payload.
MAX_JSON_DEPTH = 64
#: Most certificates in one signature's chain extension.
MAX_CHAIN_CERTIFICATES = 8
#: DSSE signature-extension kind juxsdk writes and reads (DSSE extensions.md, Sigstore).
CHAIN_EXTENSION_KIND = "application/vnd.dev.sigstore.verificationmaterial;version=0.3"
#: Smallest RSA modulus accepted when verifying, in bits.
MIN_RSA_BITS = 2048


# --------------------------------------------------------------------------------------------
# PAE, schemes, key ids
# --------------------------------------------------------------------------------------------


def pae(payload_type: str, payload: bytes) -> bytes:
    """Pre-Authentication Encoding (DSSE protocol.md), the bytes every signature covers.

    Args:
        payload_type: The envelope's ``payloadType`` (encoded as UTF-8).
        payload: The serialized body.

    Returns:
        ``b"DSSEv1 " + LEN(type) + b" " + type + b" " + LEN(body) + b" " + body``.
    """
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


@attrs.frozen
class _Scheme:
    """A securesystemslib signature scheme and what it means for cryptography."""

    name: str
    keytype: str
    hash: str
    pss: bool = False
    curve: str | None = None

    @property
    def algorithm(self) -> str:
        """juxsdk's short algorithm name (``rsa-sha256``, ``rsa-pss-sha256``, ``ecdsa-sha384``…)."""
        if self.keytype == "ecdsa":
            return f"ecdsa-{self.hash}"
        return f"rsa-pss-{self.hash}" if self.pss else f"rsa-{self.hash}"


_RSA_SCHEMES = tuple(
    _Scheme(f"{prefix}-{h}", "rsa", h, pss=prefix == "rsassa-pss")
    for prefix in ("rsa-pkcs1v15", "rsassa-pss")
    for h in ("sha256", "sha384", "sha512")
)
_EC_SCHEMES = {
    "secp256r1": _Scheme("ecdsa-sha2-nistp256", "ecdsa", "sha256", curve="secp256r1"),
    "secp384r1": _Scheme("ecdsa-sha2-nistp384", "ecdsa", "sha384", curve="secp384r1"),
    "secp521r1": _Scheme("ecdsa-sha2-nistp521", "ecdsa", "sha512", curve="secp521r1"),
}
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def _signing_scheme(algorithm: str, public: PublicKeyTypes) -> _Scheme:
    """The scheme a Signer with ``algorithm`` produces (PKCS #1 v1.5 or ECDSA)."""
    kind, _, hash_name = algorithm.partition("-")
    if kind == "rsa" and isinstance(public, rsa.RSAPublicKey) and hash_name in _HASHES:
        return next(s for s in _RSA_SCHEMES if not s.pss and s.hash == hash_name)
    if kind == "ecdsa" and isinstance(public, ec.EllipticCurvePublicKey):
        scheme = _EC_SCHEMES.get(public.curve.name)
        if scheme is None:
            raise SigningError(f"EC curve {public.curve.name} has no DSSE signature scheme", hint="use P-256 or P-384")
        if scheme.hash != hash_name:
            raise SigningError(
                f"a DSSE signature names no algorithm, so {public.curve.name} must sign with {scheme.hash}, "
                f"not {hash_name}",
                hint=f"configure the signer's algorithm as ecdsa-{scheme.hash} (the default for this curve)",
            )
        return scheme
    raise SigningError(f"signer algorithm {algorithm!r} does not fit its {type(public).__name__}")


def _verification_schemes(key: PublicKeyTypes) -> tuple[_Scheme, ...]:
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise UnsupportedAlgorithmError(
                f"RSA key of {key.key_size} bits is below the {MIN_RSA_BITS}-bit floor",
                hint="sign with an RSA key of at least 2048 bits, or an EC P-256/P-384 key",
            )
        return _RSA_SCHEMES
    if isinstance(key, ec.EllipticCurvePublicKey):
        scheme = _EC_SCHEMES.get(key.curve.name)
        if scheme is None:
            raise UnsupportedAlgorithmError(f"EC curve {key.curve.name} is not accepted", hint="use P-256 or P-384")
        return (scheme,)
    raise UnsupportedAlgorithmError(f"unsupported key type {type(key).__name__}", hint="use an RSA or EC key")


def _canonical_string(text: str) -> str:
    # OLPC canonical JSON, as securesystemslib.formats.encode_canonical writes strings.
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def keyid(public_key: PublicKeyTypes, scheme: str) -> str:
    """securesystemslib's default key id of ``public_key`` used with ``scheme``.

    Args:
        public_key: An RSA or EC public key.
        scheme: A securesystemslib scheme name (``rsa-pkcs1v15-sha256``, ``rsassa-pss-sha256``,
            ``ecdsa-sha2-nistp256``…).

    Returns:
        64 lowercase hex digits: SHA-256 of the canonical JSON ``{"keytype":…,"keyval":
        {"public":<PEM SPKI>},"scheme":…}`` (``securesystemslib.signer.SSlibKey.from_crypto``).
    """
    keytype = "ecdsa" if isinstance(public_key, ec.EllipticCurvePublicKey) else "rsa"
    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    text = (
        '{"keytype":' + _canonical_string(keytype)
        + ',"keyval":{"public":' + _canonical_string(pem.decode("ascii")) + "}"
        + ',"scheme":' + _canonical_string(scheme) + "}"
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _verify_raw(key: PublicKeyTypes, scheme: _Scheme, sig: bytes, data: bytes) -> None:
    """Verify one signature; raises InvalidSignature (or ValueError) when it does not."""
    hash_alg = _HASHES[scheme.hash]()
    if isinstance(key, rsa.RSAPublicKey):
        pad: padding.AsymmetricPadding = (
            padding.PSS(mgf=padding.MGF1(hash_alg), salt_length=padding.PSS.AUTO) if scheme.pss else padding.PKCS1v15()
        )
        key.verify(sig, data, pad, hash_alg)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(sig, data, ec.ECDSA(hash_alg))
    else:  # pragma: no cover - filtered by _verification_schemes
        raise InvalidSignature("unsupported key")


# --------------------------------------------------------------------------------------------
# strict decoding
# --------------------------------------------------------------------------------------------

_B64_STD = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_B64_URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")


def _b64decode(value: object, what: str) -> bytes:
    """Strict base64: standard *or* URL-safe alphabet (not mixed), canonical encoding only."""
    if not isinstance(value, str):
        raise AttestationError(f"{what} is not a base64 string", hint="the envelope is malformed")
    url = _B64_URL.fullmatch(value) is not None and _B64_STD.fullmatch(value) is None
    if not url and _B64_STD.fullmatch(value) is None:
        raise AttestationError(f"{what} is not valid base64 (characters outside one base64 alphabet)")
    body = value.rstrip("=")
    if len(body) % 4 == 1 or (len(value) != len(body) and len(value) % 4):
        raise AttestationError(f"{what} is not valid base64 (bad length or padding)")
    padded = body + "=" * (-len(body) % 4)
    try:
        raw = base64.urlsafe_b64decode(padded) if url else base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AttestationError(f"{what} is not valid base64: {exc}") from exc
    again = (base64.urlsafe_b64encode(raw) if url else base64.b64encode(raw)).decode("ascii").rstrip("=")
    if again != body:
        raise AttestationError(f"{what} is not canonical base64 (non-zero padding bits)")
    return raw


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise AttestationError(
                f"duplicate JSON key {key[:40]!r}",
                hint="two values for one key let parsers disagree; the document is refused",
            )
        out[key] = value
    return out


def _reject_constant(name: str) -> Any:
    raise AttestationError(f"JSON constant {name} is not allowed")


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if deepest > MAX_JSON_DEPTH:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((c, level + 1) for c in children if isinstance(c, dict | list))
    return deepest


def strict_json(data: bytes, what: str) -> Any:
    """Parse untrusted JSON: UTF-8 only, no duplicate keys, no NaN/Infinity, bounded nesting.

    Args:
        data: The JSON text (RFC 8259) as bytes.
        what: Name used in error messages (``"envelope"``, ``"payload"``).

    Returns:
        The parsed value.

    Raises:
        AttestationError: not UTF-8, not JSON, a duplicate key, a non-finite number, or nested
            deeper than :data:`MAX_JSON_DEPTH`.
    """
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AttestationError(f"the {what} is not UTF-8 JSON (byte {exc.start})") from None
    if text.startswith("\ufeff"):
        raise AttestationError(f"the {what} starts with a byte order mark", hint="JSON (RFC 8259) has none")
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except RecursionError:
        raise AttestationError(f"the {what} is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise AttestationError(f"the {what} is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except ValueError as exc:  # e.g. an integer with too many digits
        raise AttestationError(f"the {what} is not acceptable JSON: {exc}") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise AttestationError(f"the {what} is nested deeper than {MAX_JSON_DEPTH} levels")
    return value


# --------------------------------------------------------------------------------------------
# the envelope
# --------------------------------------------------------------------------------------------


@attrs.frozen
class DsseSignature:
    """One signature of an envelope.

    Attributes:
        keyid: The unauthenticated key-id hint (``""`` when unset).
        sig: The raw signature bytes.
        chain: Certificates from the Sigstore verification-material extension (signing
            certificate first), unauthenticated; empty when there is none.
    """

    keyid: str
    sig: bytes
    chain: tuple[x509.Certificate, ...] = ()
    #: The signature object as parsed (kept so co-signing re-writes others' fields unchanged).
    raw: Mapping[str, Any] | None = attrs.field(default=None, eq=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``{"keyid", "sig"[, "extension"]}`` (standard base64), or the parsed object."""
        if self.raw is not None:
            return dict(self.raw)
        out: dict[str, Any] = {"keyid": self.keyid, "sig": base64.b64encode(self.sig).decode("ascii")}
        if self.chain:
            certs = [
                {"rawBytes": base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode("ascii")}
                for c in self.chain
            ]
            out["extension"] = {"kind": CHAIN_EXTENSION_KIND, "ext": {"x509CertificateChain": {"certificates": certs}}}
        return out


def _chain_from_extension(value: object, index: int) -> tuple[tuple[x509.Certificate, ...], str | None]:
    """Certificates of a Sigstore verification-material extension; (chain, warning)."""
    where = f"signature {index + 1}"
    if not isinstance(value, dict):
        raise AttestationError(f"{where}: the extension is not a JSON object")
    kind = value.get("kind")
    if not isinstance(kind, str):
        raise AttestationError(f"{where}: the extension has no string 'kind'")
    if not kind.startswith("application/vnd.dev.sigstore.verificationmaterial"):
        return (), f"{where}: ignored an extension of unknown kind {kind[:80]!r}"
    ext = value.get("ext")
    material = ext.get("x509CertificateChain") if isinstance(ext, dict) else None
    if material is None:
        leaf = ext.get("certificate") if isinstance(ext, dict) else None
        certs: object = [leaf] if leaf is not None else None
    else:
        certs = material.get("certificates") if isinstance(material, dict) else None
    if certs is None:
        return (), f"{where}: the verification-material extension holds no X.509 certificate; ignored"
    if not isinstance(certs, list) or not certs or len(certs) > MAX_CHAIN_CERTIFICATES:
        raise AttestationError(
            f"{where}: the certificate chain must be a list of 1 to {MAX_CHAIN_CERTIFICATES} certificates"
        )
    chain: list[x509.Certificate] = []
    for n, item in enumerate(certs):
        raw = item.get("rawBytes") if isinstance(item, dict) else None
        der = _b64decode(raw, f"{where}: certificate {n + 1}")
        try:
            chain.append(x509.load_der_x509_certificate(der))
        except ValueError as exc:
            raise AttestationError(f"{where}: certificate {n + 1} is not a DER X.509 certificate") from exc
    return tuple(chain), None


@attrs.frozen
class Envelope:
    """A DSSE JSON envelope.

    Attributes:
        payload: The serialized body (the bytes the signatures cover, inside PAE).
        payload_type: ``payloadType``.
        signatures: The signatures, in envelope order.
        warnings: What was ignored while parsing (unknown extensions).
    """

    payload: bytes
    payload_type: str
    signatures: tuple[DsseSignature, ...] = ()
    warnings: tuple[str, ...] = ()

    def pae(self) -> bytes:
        """The bytes every signature of this envelope covers."""
        return pae(self.payload_type, self.payload)

    def to_json(self) -> bytes:
        """One line of JSON (standard base64, keys in spec order) plus a newline.

        A file of such lines is an in-toto bundle (JSON Lines of envelopes).
        """
        doc = {
            "payload": base64.b64encode(self.payload).decode("ascii"),
            "payloadType": self.payload_type,
            "signatures": [s.to_dict() for s in self.signatures],
        }
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=True).encode("ascii") + b"\n"

    @classmethod
    def from_json(cls, data: bytes, *, max_bytes: int = DEFAULT_MAX_ENVELOPE_BYTES) -> Envelope:
        """Parse an untrusted JSON envelope (nothing is verified here).

        Args:
            data: The envelope bytes.
            max_bytes: Size limit in bytes.

        Returns:
            The envelope.

        Raises:
            AttestationError: too large, not strict JSON, a required field missing or of the
                wrong type (``payload``, ``payloadType``, ``signatures``, ``sig``), invalid
                base64, no signature or more than :data:`MAX_SIGNATURES`, or a malformed
                certificate chain extension.
        """
        if len(data) > max_bytes:
            raise AttestationError(
                f"the envelope is {len(data)} bytes, over the limit of {max_bytes} bytes",
                hint="this is not a test-result attestation juxsdk would produce",
            )
        doc = strict_json(data, "envelope")
        if not isinstance(doc, dict):
            raise AttestationError("the envelope is not a JSON object", hint="expected a DSSE envelope")
        for field, kind in (("payload", str), ("payloadType", str), ("signatures", list)):
            if field not in doc:
                raise AttestationError(f"the envelope has no {field!r}", hint="expected a DSSE JSON envelope")
            if not isinstance(doc[field], kind):
                raise AttestationError(f"the envelope's {field!r} is not a {kind.__name__}")
        signatures_doc: list[Any] = doc["signatures"]
        if not signatures_doc:
            raise AttestationError("the envelope has no signature", hint="sign it with `jux attest`")
        if len(signatures_doc) > MAX_SIGNATURES:
            raise AttestationError(
                f"the envelope has {len(signatures_doc)} signatures; at most {MAX_SIGNATURES} are accepted"
            )
        payload = _b64decode(doc["payload"], "the payload")
        signatures: list[DsseSignature] = []
        warnings: list[str] = []
        for index, item in enumerate(signatures_doc):
            if not isinstance(item, dict):
                raise AttestationError(f"signature {index + 1} is not a JSON object")
            if "sig" not in item:
                raise AttestationError(f"signature {index + 1} has no 'sig'")
            key_id = item.get("keyid", "")
            if not isinstance(key_id, str):
                raise AttestationError(f"signature {index + 1}: 'keyid' is not a string")
            sig = _b64decode(item["sig"], f"signature {index + 1}")
            chain: tuple[x509.Certificate, ...] = ()
            if "extension" in item:
                chain, warning = _chain_from_extension(item["extension"], index)
                if warning:
                    warnings.append(warning)
            signatures.append(DsseSignature(key_id, sig, chain, raw=item))
        return cls(payload, doc["payloadType"], tuple(signatures), tuple(warnings))


def _call_signer(signer: Signer, data: bytes) -> bytes:
    try:
        return signer.sign(data)
    except SigningError:
        raise
    except Exception as exc:  # a backend bug must not escape as a random exception
        raise SigningError(f"signer {getattr(signer, 'name', '?')!r} failed: {type(exc).__name__}: {exc}") from exc


def sign_envelope(
    payload: bytes,
    payload_type: str,
    signer: Signer,
    *,
    cosign: Envelope | None = None,
    embed_chain: bool = True,
) -> Envelope:
    """Sign a payload into a DSSE envelope, or add a signature to one (co-signing).

    Args:
        payload: The serialized body.
        payload_type: Its ``payloadType``.
        signer: Any :class:`~juxsdk.protocols.Signer` (file key, PKCS#11 token, KMS…).
        cosign: An existing envelope of the same payload and type to add the signature to.
        embed_chain: Carry the signer's certificate chain in the signature's extension (when
            it has one).

    Returns:
        The envelope with the new signature last.

    Raises:
        SigningError: the signer failed, its algorithm has no DSSE scheme (an EC key must use
            its curve's hash), its certificate does not match its key, the signature does not
            verify with its own public key, or ``cosign`` is for another payload or already
            carries this key's signature.
    """
    public = signer.public_key()
    scheme = _signing_scheme(signer.algorithm, public)
    chain = tuple(signer.certificate_chain()) if embed_chain else ()
    if chain and key_fingerprint(chain[0].public_key()) != key_fingerprint(public):
        raise SigningError(
            "the signing certificate does not match the signing key",
            hint="configure the certificate that belongs to this key",
        )
    if cosign is not None and (cosign.payload != payload or cosign.payload_type != payload_type):
        raise SigningError("internal: co-signing needs the envelope's own payload")
    kid = keyid(public, scheme.name)
    if cosign is not None and any(s.keyid == kid for s in cosign.signatures):
        raise SigningError(
            "the envelope already carries a signature by this key",
            hint="co-sign with another key (e.g. the release manager's)",
        )
    message = pae(payload_type, payload)
    sig = _call_signer(signer, message)
    try:
        _verify_raw(public, scheme, sig, message)
    except (InvalidSignature, ValueError) as exc:
        raise SigningError(
            "the signer produced a signature that does not verify with its own public key",
            hint="the key in the token/file does not match the configured certificate or public key",
        ) from exc
    signature = DsseSignature(kid, sig, chain)
    before = cosign.signatures if cosign is not None else ()
    return Envelope(payload, payload_type, (*before, signature))


# --------------------------------------------------------------------------------------------
# verification
# --------------------------------------------------------------------------------------------


@attrs.frozen
class VerifiedEnvelope:
    """What a verified envelope proves.

    Attributes:
        payload: The verified serialized body (the same bytes the signatures cover).
        payload_type: The verified ``payloadType``.
        signatures: One :class:`~juxsdk.models.SignatureInfo` per distinct trusted key that
            verified, in envelope order.
        trust: Why each of those keys is trusted (same order).
        verified_at: The time certificate validity was checked against (UTC).
        warnings: Signatures that did not count and why, ignored extensions.
    """

    payload: bytes
    payload_type: str
    signatures: tuple[SignatureInfo, ...]
    trust: tuple[str, ...]
    verified_at: dt.datetime
    warnings: tuple[str, ...] = ()


def _candidates(
    signature: DsseSignature, trust: TrustPolicy
) -> list[tuple[Sequence[x509.Certificate], PublicKeyTypes | None]]:
    """(chain, key value) pairs to put to the trust policy for one signature."""
    if signature.chain:
        return [(signature.chain, None)]
    found: list[tuple[Sequence[x509.Certificate], PublicKeyTypes | None]] = []
    if isinstance(trust, TrustedPublicKeys):
        found = [((), k) for k in trust.keys]
    elif isinstance(trust, TrustedCertificates):
        found = [((c,), None) for c in trust.certificates]
    if signature.keyid:
        matching = [
            (chain, value)
            for chain, value in found
            if signature.keyid in _keyids(chain[0].public_key() if chain else value)
        ]
        found = matching or found
    return found


def _keyids(key: PublicKeyTypes | None) -> dict[str, _Scheme]:
    if key is None:
        return {}
    try:
        schemes = _verification_schemes(key)
    except UnsupportedAlgorithmError:
        return {}
    return {keyid(key, s.name): s for s in schemes}


def _check_one(
    signature: DsseSignature, trust: TrustPolicy, message: bytes, at: dt.datetime
) -> tuple[SignatureInfo, str, str]:
    """Verify one signature; return (info, trust description, key fingerprint) or raise why not."""
    from .xmldsig import signature_info

    candidates = _candidates(signature, trust)
    if not candidates:
        raise UntrustedKeyError(
            "the signature carries no certificate and the trust policy pins no key to try",
            hint="verify with the signer's public key (--pubkey) or certificate (--cert)",
        )
    last: VerificationError | None = None
    for chain, key_value in candidates:
        try:
            decision = trust.decide(chain, key_value, at)
        except VerificationError as exc:
            last = exc
            continue
        by_id = _keyids(decision.key)
        schemes = [by_id[signature.keyid]] if signature.keyid in by_id else list(by_id.values())
        if not schemes:
            schemes = list(_verification_schemes(decision.key))  # raises: weak or unsupported key
        for scheme in schemes:
            try:
                _verify_raw(decision.key, scheme, signature.sig, message)
            except (InvalidSignature, ValueError):
                continue
            info = signature_info(scheme.algorithm, decision.key, decision.certificate)
            return info, decision.description, key_fingerprint(decision.key)
        last = SignatureValueError(
            "the signature does not verify with the trusted key",
            hint="the envelope was altered after signing, or signed with a different key",
        )
    assert last is not None
    raise last


def verify_envelope(
    envelope: Envelope,
    trust: TrustPolicy,
    *,
    threshold: int = 1,
    at: dt.datetime | None = None,
    payload_types: Iterable[str] | None = None,
) -> VerifiedEnvelope:
    """Verify a DSSE envelope: at least ``threshold`` distinct trusted keys signed its PAE.

    Each signature's key comes from its certificate-chain extension (the policy must accept
    that chain at ``at``) or, without one, from the keys/certificates the policy pins
    (narrowed by ``keyid`` when it names one). The accepted schemes follow from the key:
    RSA (≥ 2048 bits) PKCS #1 v1.5 or PSS with SHA-256/384/512, ECDSA P-256/SHA-256,
    P-384/SHA-384, P-521/SHA-512. Signatures that fail are skipped as the DSSE protocol says;
    the envelope is refused when fewer than ``threshold`` distinct keys remain.

    Args:
        envelope: A parsed envelope (:meth:`Envelope.from_json`).
        trust: Which keys or certificates to accept (:mod:`juxsdk.trust`).
        threshold: Distinct trusted keys required (≥ 1).
        at: Certificate validity time (naive = UTC; default now).
        payload_types: Accepted ``payloadType`` values (None: any).

    Returns:
        A :class:`VerifiedEnvelope` holding the verified payload bytes.

    Raises:
        juxsdk.errors.ConfigError: ``threshold`` < 1 or above :data:`MAX_SIGNATURES`.
        AttestationError: the payload type is not accepted.
        UntrustedKeyError, CertificateValidityError, SignatureValueError,
        UnsupportedAlgorithmError: the envelope's only signature fails for that reason
            (``threshold`` 1).
        SignatureThresholdError: fewer than ``threshold`` distinct trusted keys verified
            (the message lists why each signature did not count).
    """
    from .errors import ConfigError

    if not 1 <= threshold <= MAX_SIGNATURES:
        raise ConfigError(f"threshold must be between 1 and {MAX_SIGNATURES}, got {threshold}")
    when = at or dt.datetime.now(dt.UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    accepted_types = tuple(payload_types) if payload_types is not None else None
    if accepted_types is not None and envelope.payload_type not in accepted_types:
        raise AttestationError(
            f"payloadType {envelope.payload_type[:100]!r} is not accepted",
            hint="expected " + " or ".join(repr(t) for t in accepted_types),
        )
    message = envelope.pae()
    infos: list[SignatureInfo] = []
    reasons: list[str] = []
    described: list[str] = []
    seen: set[str] = set()
    failures: list[VerificationError] = []
    for index, signature in enumerate(envelope.signatures):
        try:
            info, description, fingerprint = _check_one(signature, trust, message, when)
        except VerificationError as exc:
            failures.append(exc)
            reasons.append(f"signature {index + 1}: {exc.message}")
            continue
        if fingerprint in seen:
            reasons.append(f"signature {index + 1}: a second signature by the same key (counted once)")
            continue
        seen.add(fingerprint)
        infos.append(info)
        described.append(description)
    if len(infos) < threshold:
        if len(envelope.signatures) == 1 and threshold == 1 and failures:
            raise failures[0]
        raise SignatureThresholdError(
            f"{len(infos)} of the required {threshold} distinct trusted signature(s) verified"
            + (f" ({'; '.join(reasons)})" if reasons else ""),
            hint="verify with the keys of every required signer, or lower --threshold",
        )
    return VerifiedEnvelope(
        payload=envelope.payload,
        payload_type=envelope.payload_type,
        signatures=tuple(infos),
        trust=tuple(described),
        verified_at=when,
        warnings=(*envelope.warnings, *reasons),
    )

