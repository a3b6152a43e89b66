"""Trust policies: which keys may sign a report you accept.

Verification always needs an explicit policy (there is no default "trust whatever KeyInfo
says"). A signature proves *a* key signed the report; the policy decides whether that key is
one you trust:

* :class:`TrustedCertificates` — pinned signing certificate(s); the certificate in KeyInfo must
  be one of them and valid at the verification time.
* :class:`TrustedPublicKeys` — pinned public key(s) (SubjectPublicKeyInfo); works for reports
  that carry only a KeyValue. Certificate validity is not checked: the key itself is trusted.
* :class:`TrustedCA` — a CA bundle; the certificate chain in KeyInfo must build to one of its
  roots at the verification time (RFC 5280 path validation by ``cryptography``), and the
  signing certificate must allow ``digitalSignature``.
* :class:`UnsafeAcceptAnyKey` — accepts any key. Only proves integrity against accidents, not
  authenticity; the name is meant to be scary.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from .errors import CertificateValidityError, ConfigError, UntrustedKeyError
from .limits import MAX_RSA_BITS, MIN_RSA_BITS, UNSAFE_MIN_RSA_BITS

_SHA256 = hashes.SHA256()
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.+?-----END \1-----", re.S)

__all__ = [
    "TrustDecision",
    "TrustPolicy",
    "TrustedCA",
    "TrustedCertificates",
    "TrustedPublicKeys",
    "UnsafeAcceptAnyKey",
    "certificate_fingerprint",
    "certificate_subject",
    "key_fingerprint",
    "key_strength_problem",
]

#: The named curves juxsdk signs and verifies with (NIST P-256/P-384/P-521, FIPS 186-4).
STRONG_CURVES = frozenset({"secp256r1", "secp384r1", "secp521r1"})


def key_fingerprint(key: PublicKeyTypes) -> str:
    """``sha256:<hex>`` of a public key's DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7)."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(der).hexdigest()


def key_strength_problem(key: PublicKeyTypes, *, allow_weak: bool = False) -> tuple[str, str] | None:
    """The one key policy for signing and verification: RSA or EC on a NIST curve, strong enough.

    Accepted: RSA with a modulus of :data:`~juxsdk.limits.MIN_RSA_BITS` (2048) to
    :data:`~juxsdk.limits.MAX_RSA_BITS` (16384) bits and a public exponent of at most 64 bits;
    EC on P-256, P-384 or P-521. With ``allow_weak`` (the explicitly unsafe option) RSA from
    :data:`~juxsdk.limits.UNSAFE_MIN_RSA_BITS` (1024) bits and any other named EC curve are
    accepted too. DSA, Ed25519, Ed448 and anything else never are: XMLDSig gives juxsdk no
    SignatureMethod for them.

    Args:
        key: A public key.
        allow_weak: Accept weak RSA sizes and non-NIST curves (unsafe).

    Returns:
        None when the key is acceptable, else ``(kind, reason)`` with ``kind`` ``"weak"`` (below
        the strength floor) or ``"unsupported"`` (a type, curve or size juxsdk never accepts).
    """
    if isinstance(key, rsa.RSAPublicKey):
        bits = key.key_size
        if bits > MAX_RSA_BITS:
            return "unsupported", f"RSA key of {bits} bits is larger than the {MAX_RSA_BITS} bits juxsdk verifies"
        if key.public_numbers().e.bit_length() > 64:
            return "unsupported", "RSA public exponent is longer than 64 bits"
        floor = UNSAFE_MIN_RSA_BITS if allow_weak else MIN_RSA_BITS
        if bits < floor:
            return "weak", f"RSA key of {bits} bits is below the minimum of {floor} bits"
        return None
    if isinstance(key, ec.EllipticCurvePublicKey):
        name = key.curve.name
        if name in STRONG_CURVES or allow_weak:
            return None
        return "unsupported", f"EC curve {name} is not accepted (P-256, P-384 and P-521 are)"
    return "unsupported", f"{type(key).__name__.lstrip('_')} keys are not supported (RSA and EC are)"


def certificate_fingerprint(cert: x509.Certificate) -> str:
    """``sha256:<hex>`` of a certificate's DER encoding."""
    return "sha256:" + hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def certificate_subject(cert: x509.Certificate) -> str:
    """A certificate's subject as an RFC 4514 string (RFC 4514 section 2).

    Returns:
        The string, or ``"<invalid subject>"`` when the subject cannot be decoded (a certificate
        in a signed report is untrusted input: describing it must not fail).
    """
    try:
        return cert.subject.rfc4514_string()
    except ValueError:
        return "<invalid subject>"


def _describe(cert: x509.Certificate) -> str:
    return f"certificate {certificate_subject(cert)!r} ({certificate_fingerprint(cert)[:23]}…)"


def _check_validity(cert: x509.Certificate, at: dt.datetime) -> None:
    if at < cert.not_valid_before_utc:
        raise CertificateValidityError(
            f"{_describe(cert)} is not yet valid at {at.isoformat()} "
            f"(valid from {cert.not_valid_before_utc.isoformat()})",
            hint="check the clock, or verify at another time with --at",
        )
    if at > cert.not_valid_after_utc:
        raise CertificateValidityError(
            f"{_describe(cert)} expired at {cert.not_valid_after_utc.isoformat()} "
            f"(verification time {at.isoformat()})",
            hint="to check an old report, verify at the time it was signed with --at (e.g. its jux:timestamp)",
        )


def _cert_tuple(value: Iterable[x509.Certificate]) -> tuple[x509.Certificate, ...]:
    return tuple(value)


def _key_tuple(value: Iterable[PublicKeyTypes]) -> tuple[PublicKeyTypes, ...]:
    return tuple(value)


@attrs.frozen
class TrustDecision:
    """What a trust policy accepted.

    Attributes:
        key: The public key the signature must verify with.
        certificate: The signing certificate, when the report carried one.
        description: Human description of why the key is trusted.
    """

    key: PublicKeyTypes
    certificate: x509.Certificate | None
    description: str


@runtime_checkable
class TrustPolicy(Protocol):
    """Decides whether the key found in a signature's KeyInfo is trusted."""

    def decide(
        self,
        chain: Sequence[x509.Certificate],
        key_value: PublicKeyTypes | None,
        at: dt.datetime,
    ) -> TrustDecision:
        """Return the trusted key, or raise.

        Args:
            chain: Certificates from ``ds:X509Data`` (signing certificate first), maybe empty.
            key_value: Key from ``ds:KeyValue`` when there is no certificate, else None.
            at: Verification time (UTC, timezone-aware).

        Raises:
            UntrustedKeyError: the key/certificate is not trusted by this policy.
            CertificateValidityError: the certificate is expired or not yet valid at ``at``.
        """
        ...


def _load_pem_certs(path: Path | str) -> list[x509.Certificate]:
    p = Path(path).expanduser()
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read certificate file {p}: {exc.strerror}") from exc
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        try:
            certs = [x509.load_der_x509_certificate(data)]
        except ValueError as exc:
            raise ConfigError(
                f"{p} holds no PEM or DER X.509 certificate", hint="pass the signer's certificate file"
            ) from exc
    return list(certs)


def _signing_key(chain: Sequence[x509.Certificate], key_value: PublicKeyTypes | None) -> PublicKeyTypes:
    if chain:
        return chain[0].public_key()
    if key_value is not None:
        return key_value
    raise UntrustedKeyError("the signature carries no key (KeyInfo is empty)")


@attrs.frozen
class TrustedCertificates:
    """Trust only these signing certificates (pinned), valid at the verification time.

    A report that carries only a KeyValue (no certificate) is not accepted: pin its public key
    with :class:`TrustedPublicKeys` instead.

    Args:
        certificates: The pinned certificates.
    """

    certificates: tuple[x509.Certificate, ...] = attrs.field(converter=_cert_tuple)

    @classmethod
    def from_pem_file(cls, path: Path | str) -> TrustedCertificates:
        """Load every certificate in a PEM (or DER) file.

        Raises:
            ConfigError: unreadable file or no certificate in it.
        """
        return cls(_load_pem_certs(path))

    def decide(
        self, chain: Sequence[x509.Certificate], key_value: PublicKeyTypes | None, at: dt.datetime
    ) -> TrustDecision:
        """See :meth:`TrustPolicy.decide`."""
        if not chain:
            raise UntrustedKeyError(
                "the report carries only a public key (KeyValue), not a certificate",
                hint="verify it against the signer's public key (--pubkey)",
            )
        leaf = chain[0]
        pinned = {c.fingerprint(_SHA256) for c in self.certificates}
        if leaf.fingerprint(_SHA256) not in pinned:
            raise UntrustedKeyError(
                f"signed by {_describe(leaf)}, which is not a pinned certificate",
                hint="verify with the signer's certificate (--cert) or the issuing CA (--ca)",
            )
        _check_validity(leaf, at)
        return TrustDecision(leaf.public_key(), leaf, f"pinned {_describe(leaf)}")


@attrs.frozen
class TrustedPublicKeys:
    """Trust only these public keys (compared by DER SubjectPublicKeyInfo).

    Args:
        keys: The pinned public keys.
    """

    keys: tuple[PublicKeyTypes, ...] = attrs.field(converter=_key_tuple)

    @classmethod
    def from_pem_file(cls, path: Path | str) -> TrustedPublicKeys:
        """Load public keys from a PEM file (``PUBLIC KEY`` blocks or certificates).

        Raises:
            ConfigError: unreadable file or no key in it.
        """
        p = Path(path).expanduser()
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read public key file {p}: {exc.strerror}") from exc
        keys: list[PublicKeyTypes] = []
        for match in _PEM_BLOCK.finditer(data):
            kind, pem = match.group(1), match.group(0)
            try:
                if kind == b"CERTIFICATE":
                    keys.append(x509.load_pem_x509_certificate(pem).public_key())
                elif kind == b"PUBLIC KEY":
                    keys.append(serialization.load_pem_public_key(pem))
            except ValueError as exc:
                raise ConfigError(f"{p}: invalid PEM {kind.decode(errors='replace')} block") from exc
        if not keys:
            raise ConfigError(f"{p} holds no PEM public key or certificate", hint="export it with `jux keygen`")
        return cls(keys)

    def decide(
        self, chain: Sequence[x509.Certificate], key_value: PublicKeyTypes | None, at: dt.datetime
    ) -> TrustDecision:
        """See :meth:`TrustPolicy.decide`."""
        key = _signing_key(chain, key_value)
        fp = key_fingerprint(key)
        if fp not in {key_fingerprint(k) for k in self.keys}:
            raise UntrustedKeyError(
                f"signed by key {fp[:23]}…, which is not a pinned public key",
                hint="verify with the signer's public key (--pubkey) or certificate (--cert)",
            )
        return TrustDecision(key, chain[0] if chain else None, f"pinned public key {fp[:23]}…")


@attrs.frozen
class TrustedCA:
    """Trust certificates that chain to one of these CA roots at the verification time.

    Path validation is RFC 5280 as implemented by ``cryptography.x509.verification``; the
    signing certificate must have KeyUsage ``digitalSignature``.

    Args:
        roots: Trust anchors (CA certificates).
    """

    roots: tuple[x509.Certificate, ...] = attrs.field(converter=_cert_tuple)

    @classmethod
    def from_pem_file(cls, path: Path | str) -> TrustedCA:
        """Load a CA bundle (PEM).

        Raises:
            ConfigError: unreadable file or no certificate in it.
        """
        return cls(_load_pem_certs(path))

    def decide(
        self, chain: Sequence[x509.Certificate], key_value: PublicKeyTypes | None, at: dt.datetime
    ) -> TrustDecision:
        """See :meth:`TrustPolicy.decide`."""
        from cryptography.x509 import verification as xv

        if not chain:
            raise UntrustedKeyError(
                "the report carries no certificate, so it cannot chain to a CA",
                hint="verify it against the signer's public key (--pubkey)",
            )
        leaf, intermediates = chain[0], list(chain[1:])
        _check_validity(leaf, at)

        def _digital_signature(_policy: object, _cert: x509.Certificate, ku: x509.KeyUsage | None) -> None:
            if ku is None or not ku.digital_signature:
                raise ValueError("KeyUsage does not allow digitalSignature")

        ee = xv.ExtensionPolicy.permit_all().require_present(
            x509.KeyUsage, xv.Criticality.AGNOSTIC, _digital_signature
        )
        builder = (
            xv.PolicyBuilder()
            .store(xv.Store(list(self.roots)))
            .time(at)
            .extension_policies(ee_policy=ee, ca_policy=xv.ExtensionPolicy.webpki_defaults_ca())
        )
        try:
            builder.build_client_verifier().verify(leaf, intermediates)
        except xv.VerificationError as exc:
            raise UntrustedKeyError(
                f"{_describe(leaf)} does not chain to a trusted CA: {exc}",
                hint="check the CA bundle (--ca) and that the report embeds the intermediate certificates",
            ) from exc
        return TrustDecision(leaf.public_key(), leaf, f"{_describe(leaf)} chains to a trusted CA")


@attrs.frozen
class UnsafeAcceptAnyKey:
    """Accept any key: checks integrity only, NOT who signed. Never use it to establish trust."""

    def decide(
        self, chain: Sequence[x509.Certificate], key_value: PublicKeyTypes | None, at: dt.datetime
    ) -> TrustDecision:
        """See :meth:`TrustPolicy.decide`."""
        key = _signing_key(chain, key_value)
        return TrustDecision(
            key, chain[0] if chain else None, "UNSAFE: any key accepted (signer identity not checked)"
        )




def policy_from_files(
    *,
    certs: Iterable[Path | str] = (),
    pubkeys: Iterable[Path | str] = (),
    cas: Iterable[Path | str] = (),
) -> TrustPolicy:
    """Build one policy from CLI-style file lists (exactly one kind must be given).

    Raises:
        ConfigError: none or several kinds given, or a file cannot be loaded.
    """
    certs, pubkeys, cas = list(certs), list(pubkeys), list(cas)
    given = [bool(certs), bool(pubkeys), bool(cas)]
    if sum(given) != 1:
        raise ConfigError(
            "give exactly one kind of trust anchor",
            hint="--cert FILE (pinned certificate), --pubkey FILE (pinned key) or --ca FILE (CA bundle)",
        )
    if certs:
        return TrustedCertificates([c for p in certs for c in _load_pem_certs(p)])
    if pubkeys:
        return TrustedPublicKeys([k for p in pubkeys for k in TrustedPublicKeys.from_pem_file(p).keys])
    return TrustedCA([c for p in cas for c in _load_pem_certs(p)])
