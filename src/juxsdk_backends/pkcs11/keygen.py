"""``jux keygen --signer pkcs11``: a non-extractable key pair made in the token, and its certificate.

The certificate has the profile of ``jux keygen`` (:func:`juxsdk.keys.self_signed_certificate`)
and is signed *by the token* (``C_Sign``) through :mod:`juxsdk_backends._remote_key`.
"""

from __future__ import annotations

import datetime as _dt
import importlib
import os
import secrets
from pathlib import Path
from typing import Any

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from juxsdk import keys
from juxsdk.errors import ConfigError

from .. import _remote_key
from .._certificates import write_pem
from . import key as token_key
from .options import Pkcs11Options
from .session import acquire, device_error, find_objects, locked, python_pkcs11, release

__all__ = ["GeneratedTokenKey", "generate_token_key_pair"]


@attrs.frozen
class GeneratedTokenKey:
    """What :func:`generate_token_key_pair` created.

    Attributes:
        key_label: ``CKA_LABEL`` of the new key pair (and certificate object).
        key_id: ``CKA_ID`` of the new key pair, hex.
        algorithm: Default signature algorithm of the key, e.g. ``"rsa-sha256"``.
        certificate: The self-signed certificate, signed by the token key.
        certificate_path: Where the PEM was written, or None.
        stored_in_token: True when the certificate was stored as a token object.
        csr_path: Where the PKCS #10 request PEM was written, or None.
    """

    key_label: str
    key_id: str
    algorithm: str
    certificate: x509.Certificate
    certificate_path: Path | None
    stored_in_token: bool
    csr_path: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (for ``jux keygen --signer pkcs11 --json``)."""
        cert = self.certificate
        return {
            "key_label": self.key_label,
            "key_id": self.key_id,
            "algorithm": self.algorithm,
            "certificate_path": str(self.certificate_path) if self.certificate_path else None,
            "stored_in_token": self.stored_in_token,
            "csr_path": str(self.csr_path) if self.csr_path else None,
            "subject": cert.subject.rfc4514_string(),
            "not_after": cert.not_valid_after_utc.isoformat(),
            "fingerprint": "sha256:" + cert.fingerprint(hashes.SHA256()).hex(),
        }


_CURVE_ALIASES = {
    "p-256": "secp256r1",
    "p256": "secp256r1",
    "secp256r1": "secp256r1",
    "prime256v1": "secp256r1",
    "p-384": "secp384r1",
    "p384": "secp384r1",
    "secp384r1": "secp384r1",
    "p-521": "secp521r1",
    "p521": "secp521r1",
    "secp521r1": "secp521r1",
}


def generate_token_key_pair(
    options: Pkcs11Options,
    *,
    key_type: str = "rsa",
    bits: int = 2048,
    curve: str = "P-256",
    subject: str = keys.DEFAULT_SUBJECT,
    days: int = keys.DEFAULT_DAYS,
    certificate_out: str | os.PathLike[str] | None = None,
    store_certificate: bool = True,
    not_before: _dt.datetime | None = None,
    csr_out: str | os.PathLike[str] | None = None,
) -> GeneratedTokenKey:
    """Generate a non-extractable key pair in the token and a self-signed certificate signed by it.

    The private key is created with ``CKA_TOKEN``, ``CKA_PRIVATE``, ``CKA_SENSITIVE``,
    ``CKA_SIGN`` true and ``CKA_EXTRACTABLE``, ``CKA_DECRYPT``, ``CKA_UNWRAP``, ``CKA_DERIVE``
    false, so it can only ever sign. The certificate (X.509 v3, RFC 5280; KeyUsage
    digitalSignature, BasicConstraints CA=false, SubjectKeyIdentifier; SHA-256) is built by
    :func:`juxsdk.keys.self_signed_certificate` (the profile of ``jux keygen``) and its
    signature is computed *by the token* (``C_Sign``) through a cryptography private-key
    adapter; it is checked against the token's public key before it is returned.

    Args:
        options: Where to create the key: ``module``, token selection, ``pin`` and
            ``key_label`` (required) and optionally ``key_id`` (hex; random 8 bytes when
            unset). ``certificate`` is used as ``certificate_out`` when that is not given.
        key_type: ``"rsa"`` or ``"ec"``.
        bits: RSA modulus size in bits (2048, 3072 or 4096).
        curve: EC curve: ``"P-256"``, ``"P-384"`` or ``"P-521"`` (``secp256r1``… accepted).
        subject: Common name (``"build-bot"``) or RFC 4514 name (``"CN=build-bot,O=Example"``)
            of the certificate subject and issuer.
        days: Certificate validity in days from ``not_before``.
        certificate_out: Write the certificate here as PEM (parent directories are created).
        store_certificate: Also store the certificate in the token as a ``CKO_CERTIFICATE``
            object with the key's label and id.
        not_before: Start of the certificate validity (default: now, UTC).
        csr_out: Also write a PKCS #10 certificate signing request (RFC 2986,
            :func:`juxsdk.keys.certificate_signing_request`), signed by the token, here as PEM.

    Returns:
        :class:`GeneratedTokenKey`.

    Raises:
        ConfigError: bad arguments, no ``key_label``, or a key with that label/id already exists.
        SigningError: the token refused (wrong PIN, read-only token, unsupported key size…).
            If storing or writing the certificate fails, the key pair stays in the token.
    """
    if key_type not in ("rsa", "ec"):
        raise ConfigError(f"unsupported key type {key_type!r}", hint="use rsa or ec")
    if key_type == "rsa" and bits not in (2048, 3072, 4096):
        raise ConfigError(f"unsupported RSA size {bits}", hint="use 2048, 3072 or 4096 bits")
    curve_name = _CURVE_ALIASES.get(curve.lower())
    if key_type == "ec" and curve_name is None:
        raise ConfigError(f"unsupported EC curve {curve!r}", hint="use P-256, P-384 or P-521")
    if days < 1:
        raise ConfigError(f"certificate validity must be at least 1 day, got {days}")
    if not options.key_label:
        raise ConfigError("key_label is required to generate a key in the token",
                          hint='set key_label = "jux-signing" in [backends.pkcs11]')
    key_id = options.key_id_bytes or secrets.token_bytes(8)
    out = Path(certificate_out) if certificate_out is not None else options.certificate
    p11 = python_pkcs11()
    attr = p11.Attribute
    gen_options = attrs.evolve(options, key_id=key_id.hex(), certificate=None, certificate_label=None)

    with locked():
        shared = acquire(gen_options)
        try:
            for cls in (p11.ObjectClass.PRIVATE_KEY, p11.ObjectClass.PUBLIC_KEY):
                for sel in ({"label": options.key_label, "key_id": None}, {"label": None, "key_id": key_id}):
                    if find_objects(shared, cls, label=sel["label"], key_id=sel["key_id"]):  # type: ignore[arg-type]
                        raise ConfigError(
                            f"PKCS#11 token {shared.token.label!r} already holds a key with "
                            f"label {options.key_label!r} or id {key_id.hex()}",
                            hint="choose another key_label/key_id, or delete the old key "
                            "with your token's tool",
                        )
            common = {attr.TOKEN: True, attr.LABEL: options.key_label, attr.ID: key_id}
            private_template = {
                **common,
                attr.PRIVATE: True,
                attr.SENSITIVE: True,
                attr.EXTRACTABLE: False,
                attr.SIGN: True,
                attr.DECRYPT: False,
                attr.UNWRAP: False,
            }
            public_template = {
                **common,
                attr.PRIVATE: False,
                attr.VERIFY: True,
                attr.ENCRYPT: False,
                attr.WRAP: False,
            }
            try:
                rw = shared.token.open(rw=True)  # shares the login state; closing it does not log out
            except p11.PKCS11Error as exc:
                raise device_error(exc, "cannot open a read-write session") from exc
            try:
                if key_type == "rsa":
                    rw.generate_keypair(
                        p11.KeyType.RSA,
                        bits,
                        store=True,
                        public_template=public_template,
                        private_template=private_template,
                    )
                else:
                    ec_util = importlib.import_module("pkcs11.util.ec")
                    params = rw.create_domain_parameters(
                        p11.KeyType.EC,
                        {attr.EC_PARAMS: ec_util.encode_named_curve_parameters(curve_name)},
                        local=True,
                    )
                    private_template[attr.DERIVE] = False
                    del private_template[attr.DECRYPT], private_template[attr.UNWRAP]
                    del public_template[attr.ENCRYPT], public_template[attr.WRAP]
                    params.generate_keypair(
                        store=True, public_template=public_template, private_template=private_template
                    )
            except p11.PKCS11Error as exc:
                what = f"cannot generate the {key_type.upper()} key pair in the token"
                raise device_error(exc, what) from exc
            finally:
                try:
                    rw.close()
                except p11.PKCS11Error:
                    pass
            private_key, kind, _, label = token_key.find_private_key(shared, gen_options)
            public_key, _ = token_key.load_public_material(shared, gen_options, private_key, kind, key_id, label)
            algorithm = token_key.choose_algorithm(None, kind, public_key, label)
            conn = token_key.Connection(
                shared=shared, private_key=private_key, key_type=kind, key_id=key_id, label=label
            )

            def sign_with_hash(hash_name: str, data: bytes) -> bytes:
                try:
                    return token_key.sign(conn, hash_name, data)
                except p11.PKCS11Error as exc:
                    raise device_error(exc, "the token could not sign the certificate") from exc

            certificate = _remote_key.self_signed_certificate(
                public_key, sign_with_hash, subject=subject, days=days, not_before=not_before,
                what="PKCS#11 token key",
            )
            csr = None
            if csr_out is not None:
                csr = _remote_key.certificate_signing_request(
                    public_key, sign_with_hash, subject=subject, what="PKCS#11 token key"
                )
            if store_certificate:
                _store_certificate(shared, certificate, options.key_label, key_id)
        finally:
            release(shared)
    if out is not None:
        out = write_pem(out, certificate.public_bytes(serialization.Encoding.PEM))
    csr_path = None
    if csr_out is not None and csr is not None:
        csr_path = write_pem(Path(csr_out), csr.public_bytes(serialization.Encoding.PEM), what="CSR")
    return GeneratedTokenKey(
        key_label=options.key_label,
        key_id=key_id.hex(),
        algorithm=algorithm,
        certificate=certificate,
        certificate_path=out,
        stored_in_token=store_certificate,
        csr_path=csr_path,
    )


def _store_certificate(shared: Any, certificate: x509.Certificate, label: str, key_id: bytes) -> None:
    """Store ``certificate`` as a ``CKO_CERTIFICATE`` object with the key's label and id (lock held)."""
    p11 = python_pkcs11()
    attr = p11.Attribute
    try:
        rw = shared.token.open(rw=True)  # shares the login state; closing it does not log out
        try:
            rw.create_object(
                {
                    attr.CLASS: p11.ObjectClass.CERTIFICATE,
                    attr.CERTIFICATE_TYPE: p11.CertificateType.X_509,
                    attr.TOKEN: True,
                    attr.PRIVATE: False,
                    attr.LABEL: label,
                    attr.ID: key_id,
                    attr.SUBJECT: certificate.subject.public_bytes(),
                    attr.ISSUER: certificate.issuer.public_bytes(),
                    attr.SERIAL_NUMBER: _der_integer(certificate.serial_number),
                    attr.VALUE: certificate.public_bytes(serialization.Encoding.DER),
                }
            )
        finally:
            rw.close()
    except p11.PKCS11Error as exc:
        raise device_error(exc, "cannot store the certificate in the token") from exc


def _der_integer(value: int) -> bytes:
    """DER INTEGER (X.690 §8.3) of a non-negative int, as CKA_SERIAL_NUMBER wants it."""
    body = value.to_bytes(value.bit_length() // 8 + 1, "big")
    length = len(body)
    if length < 0x80:
        return bytes([0x02, length]) + body
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x02, 0x80 | len(size)]) + size + body
