"""The signing key inside the token: finding it, its public half and certificate, and ``C_Sign``.

Mechanisms (PKCS #11 v2.40 Current Mechanisms §2.1, §2.3):

* RSA: ``CKM_SHA256_RSA_PKCS`` / ``CKM_SHA384_RSA_PKCS`` / ``CKM_SHA512_RSA_PKCS``; when the token
  lacks them, the data is hashed on the host and signed with ``CKM_RSA_PKCS`` over the
  ``DigestInfo`` (RFC 8017 §9.2). Both give the same PKCS #1 v1.5 signature.
* ECDSA: the data is hashed on the host and signed with ``CKM_ECDSA`` (SoftHSM2 has no
  ``CKM_ECDSA_SHA256``); the raw ``r‖s`` the token returns is converted to the DER
  ``Ecdsa-Sig-Value`` of RFC 3279 §2.2.3.

Every function here is called with the process-wide lock held (:func:`.session.locked`).
"""

from __future__ import annotations

import hashlib
import importlib
from typing import Any, NoReturn

import attrs
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from juxsdk.errors import ConfigError, SigningError

from .._algorithms import ALGORITHMS, default_algorithm
from .._certificates import load_chain, spki
from .options import Pkcs11Options
from .session import STATE, Shared, device_error, find_objects, python_pkcs11

__all__ = [
    "DIGEST_INFO_PREFIX",
    "Connection",
    "choose_algorithm",
    "find_private_key",
    "load_public_material",
    "public_key_from_object",
    "sign",
]

#: DER prefix of ``DigestInfo`` for each hash (RFC 8017 §9.2, note 1).
DIGEST_INFO_PREFIX: dict[str, bytes] = {
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}


@attrs.define(eq=False)
class Connection:
    """A private key object found in a token's shared session.

    Attributes:
        shared: The process's logged-in session on the token.
        private_key: python-pkcs11 private key object (a handle; its value never leaves the token).
        key_type: ``"rsa"`` or ``"ec"``.
        key_id: The key's ``CKA_ID``.
        label: The key's ``CKA_LABEL``.
        generation: :data:`.session.STATE` generation it was opened in (changes after fork).
        rsa_hash_mechanism_ok: Per hash, whether ``CKM_SHA*_RSA_PKCS`` works on this token
            (learned on first use; False means hashing on the host).
    """

    shared: Shared
    private_key: Any
    key_type: str
    key_id: bytes
    label: str
    generation: int = attrs.field(factory=lambda: STATE.generation)
    rsa_hash_mechanism_ok: dict[str, bool] = attrs.Factory(dict)


def find_private_key(shared: Shared, options: Pkcs11Options) -> tuple[Any, str, bytes, str]:
    """Find the one private key the options select.

    Returns:
        ``(key object, "rsa" | "ec", CKA_ID bytes, CKA_LABEL)``.

    Raises:
        SigningError: no such key (the message lists the keys there are), an unsupported key
            type, or the token failed.
        ConfigError: several keys match.
    """
    p11 = python_pkcs11()
    o = options
    attr = p11.Attribute
    token_label = shared.token.label
    try:
        found = find_objects(shared, p11.ObjectClass.PRIVATE_KEY, label=o.key_label, key_id=o.key_id_bytes)
    except p11.PKCS11Error as exc:
        raise device_error(exc, f"cannot search PKCS#11 token {token_label!r}") from exc
    if not found:
        try:
            available = [
                f"{k[attr.LABEL]!r} (id {bytes(k[attr.ID]).hex() or '-'})"
                for k in find_objects(shared, p11.ObjectClass.PRIVATE_KEY, label=None, key_id=None)
            ]
        except p11.PKCS11Error:
            available = []
        hint = "check key_label/key_id"
        if not shared.logged_in and o.pin is None:
            hint += "; private keys are only visible after login: configure pin"
        raise SigningError(
            f"no {o.describe_key()} in PKCS#11 token {token_label!r}; "
            f"private keys there: {', '.join(available) or 'none'}",
            hint=hint + " (create one with `jux keygen --signer pkcs11`)",
        )
    if len(found) > 1:
        raise ConfigError(
            f"{len(found)} private keys match {o.describe_key()} in PKCS#11 token {token_label!r}",
            hint="set key_id (hex CKA_ID) to choose one",
        )
    private_key = found[0]
    try:
        key_type_raw = private_key[attr.KEY_TYPE]
        key_id = bytes(private_key[attr.ID])
        key_label = private_key[attr.LABEL]
    except p11.PKCS11Error as exc:
        raise device_error(exc, "cannot read the key's attributes") from exc
    if key_type_raw == p11.KeyType.RSA:
        return private_key, "rsa", key_id, key_label
    if key_type_raw == p11.KeyType.EC:
        return private_key, "ec", key_id, key_label
    raise SigningError(
        f"unsupported key type {key_type_raw!r} for {o.describe_key()}",
        hint="use an RSA or EC (P-256/P-384) key",
    )


def choose_algorithm(configured: str | None, key_type: str, public_key: PublicKeyTypes, key_label: str) -> str:
    """The configured algorithm checked against the key, or the key's default.

    Raises:
        ConfigError: the configured algorithm is for the other key family.
    """
    algorithm = configured or default_algorithm(public_key) or "ecdsa-sha256"
    if ALGORITHMS[algorithm][0] != key_type:
        raise ConfigError(
            f"pkcs11 algorithm {algorithm!r} does not fit the {key_type.upper()} key {key_label!r}",
            hint="remove algorithm to use the key's default, or pick a matching one",
        )
    return algorithm


def _curve_from_params(params: bytes) -> ec.EllipticCurve:
    asn1 = importlib.import_module("asn1crypto.core")
    try:
        dotted = asn1.ObjectIdentifier.load(params).dotted
        return ec.get_curve_for_oid(x509.ObjectIdentifier(dotted))()
    except (ValueError, TypeError, LookupError) as exc:
        raise SigningError(
            "unsupported EC domain parameters on the token key (only named curves are supported)",
            hint="use a P-256 or P-384 key",
        ) from exc


def public_key_from_object(obj: Any) -> PublicKeyTypes:
    """The cryptography public key of a PKCS#11 public key object (RSA or named-curve EC).

    Raises:
        SigningError: another key type or explicit EC domain parameters.
    """
    p11 = python_pkcs11()
    attr = p11.Attribute
    key_type = obj[attr.KEY_TYPE]
    if key_type == p11.KeyType.RSA:
        n = int.from_bytes(obj[attr.MODULUS], "big")
        e = int.from_bytes(obj[attr.PUBLIC_EXPONENT], "big")
        return rsa.RSAPublicNumbers(e, n).public_key()
    if key_type == p11.KeyType.EC:
        curve = _curve_from_params(obj[attr.EC_PARAMS])
        point = bytes(obj[attr.EC_POINT])
        coord = (curve.key_size + 7) // 8
        if len(point) != 1 + 2 * coord:  # DER OCTET STRING around the point (PKCS #11 §2.3.3)
            asn1 = importlib.import_module("asn1crypto.core")
            point = bytes(asn1.OctetString.load(point).native)
        return ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
    raise SigningError(
        f"unsupported PKCS#11 key type {key_type!r}", hint="use an RSA or EC (P-256/P-384) key"
    )


def load_public_material(
    shared: Shared, options: Pkcs11Options, private_key: Any, key_type: str, key_id: bytes, key_label: str
) -> tuple[PublicKeyTypes, tuple[x509.Certificate, ...]]:
    """The key's public key and certificate chain.

    The chain comes from ``options.certificate`` (PEM), else the certificate object labelled
    ``options.certificate_label``, else a certificate object with the key's ``CKA_ID``, else
    none. The public key comes from the token's public key object, else the private key's
    public attributes (RSA), else the certificate.

    Returns:
        ``(public key, chain)``; the chain may be empty.

    Raises:
        ConfigError: the PEM file is unreadable or the certificate does not match the key.
        SigningError: a labelled certificate or the public key is missing, or the token failed.
    """
    p11 = python_pkcs11()
    o = options
    attr = p11.Attribute
    chain: tuple[x509.Certificate, ...] = ()
    if o.certificate is not None:
        chain = load_chain(o.certificate, backend="pkcs11")
    else:
        try:
            if o.certificate_label is not None:
                certs = find_objects(shared, p11.ObjectClass.CERTIFICATE, label=o.certificate_label, key_id=None)
                if not certs:
                    raise SigningError(
                        f"no certificate labelled {o.certificate_label!r} in PKCS#11 token "
                        f"{shared.token.label!r}",
                        hint="check certificate_label, or import the certificate into the token",
                    )
            elif key_id:
                certs = find_objects(shared, p11.ObjectClass.CERTIFICATE, label=None, key_id=key_id)
            else:
                certs = []
            if certs:
                chain = (x509.load_der_x509_certificate(bytes(certs[0][attr.VALUE])),)
        except p11.PKCS11Error as exc:
            raise device_error(exc, "cannot read the certificate from the token") from exc

    public_key: PublicKeyTypes | None = None
    try:
        pubs = find_objects(shared, p11.ObjectClass.PUBLIC_KEY, label=None, key_id=key_id) if key_id else []
        if not pubs:
            pubs = find_objects(shared, p11.ObjectClass.PUBLIC_KEY, label=key_label, key_id=None)
        if len(pubs) == 1:
            public_key = public_key_from_object(pubs[0])
        elif key_type == "rsa":
            n = int.from_bytes(private_key[attr.MODULUS], "big")
            e = int.from_bytes(private_key[attr.PUBLIC_EXPONENT], "big")
            public_key = rsa.RSAPublicNumbers(e, n).public_key()
    except p11.PKCS11Error as exc:
        raise device_error(exc, "cannot read the public key from the token") from exc
    if public_key is None:
        if not chain:
            raise SigningError(
                f"no public key object for {o.describe_key()} in PKCS#11 token {shared.token.label!r}",
                hint="import the public key or the certificate into the token, or set certificate",
            )
        public_key = chain[0].public_key()
    if chain and spki(chain[0].public_key()) != spki(public_key):
        where = str(o.certificate) if o.certificate is not None else "the token's certificate object"
        raise ConfigError(
            f"the certificate in {where} ({chain[0].subject.rfc4514_string()}) does not match "
            f"the PKCS#11 key {key_label!r}",
            hint="configure the certificate issued for this key (or regenerate it with "
            "`jux keygen --signer pkcs11`)",
        )
    return public_key, chain


def sign(conn: Connection, hash_name: str, data: bytes) -> bytes:
    """Sign ``data`` (unhashed) with the token key and the named SHA-2 hash.

    Returns:
        RSA: the PKCS #1 v1.5 signature; ECDSA: the DER ``Ecdsa-Sig-Value``.

    Raises:
        SigningError: the token lacks the mechanisms the key needs, or returned a malformed
            ECDSA signature.
        pkcs11.PKCS11Error: the token failed (the caller maps it, or reconnects).
    """
    p11 = python_pkcs11()
    mech = p11.Mechanism
    mechanisms = conn.shared.mechanisms  # empty: the token did not say; just try
    if conn.key_type == "ec":
        if mechanisms and mech.ECDSA not in mechanisms:
            _no_mechanism(conn, "CKM_ECDSA")
        digest = hashlib.new(hash_name, data).digest()
        raw = bytes(conn.private_key.sign(digest, mechanism=mech.ECDSA))
        half = len(raw) // 2
        if len(raw) % 2 or not half:
            raise SigningError(f"the token returned a malformed ECDSA signature ({len(raw)} bytes)")
        return encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))
    hash_mech = getattr(mech, f"{hash_name.upper()}_RSA_PKCS")
    ok = conn.rsa_hash_mechanism_ok.get(hash_name)
    if ok is None:
        ok = not mechanisms or hash_mech in mechanisms
        conn.rsa_hash_mechanism_ok[hash_name] = ok
    if ok:
        try:
            return bytes(conn.private_key.sign(data, mechanism=hash_mech))
        except (p11.MechanismInvalid, p11.FunctionNotSupported):
            conn.rsa_hash_mechanism_ok[hash_name] = False  # remembered: host hashing from now on
    if mechanisms and mech.RSA_PKCS not in mechanisms:
        _no_mechanism(conn, f"CKM_{hash_name.upper()}_RSA_PKCS or CKM_RSA_PKCS")
    digest_info = DIGEST_INFO_PREFIX[hash_name] + hashlib.new(hash_name, data).digest()
    return bytes(conn.private_key.sign(digest_info, mechanism=mech.RSA_PKCS))


def _no_mechanism(conn: Connection, names: str) -> NoReturn:
    raise SigningError(
        f"PKCS#11 token {conn.shared.token.label!r} does not support {names}",
        hint="choose another algorithm or key type supported by the token",
    )
