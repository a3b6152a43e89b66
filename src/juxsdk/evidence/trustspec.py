"""Trust policies for the audit: a policy's ``[signers]`` rules, combinations, and pickling.

:class:`PolicySigners` turns an evidence policy's allowed signers into a
:class:`juxsdk.TrustPolicy`, so "who may sign" is decided during verification, by the same
code that checks pinned certificates, pinned keys and CA chains (:mod:`juxsdk.trust`).
:class:`AllOf` requires several policies to accept the same key (``jux audit --cert … --policy
…``). Audit workers are separate processes, and ``cryptography`` certificates and keys do not
pickle: :func:`portable` turns the built-in policies into picklable equivalents (DER bytes),
rebuilt in each worker.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import pickle
from collections.abc import Sequence
from typing import Any

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from ..errors import UntrustedKeyError
from ..trust import (
    TrustDecision,
    TrustedCA,
    TrustedCertificates,
    TrustedPublicKeys,
    TrustPolicy,
    UnsafeAcceptAnyKey,
    certificate_fingerprint,
    key_fingerprint,
)
from .policy import SignerRules

__all__ = ["AllOf", "PolicySigners", "portable", "signer_trust"]

_DER = serialization.Encoding.DER


@attrs.frozen
class PolicySigners:
    """Accept a signer an evidence policy allows (any one rule suffices).

    Certificates pinned by fingerprint must be valid at the verification time; keys pinned by
    fingerprint are trusted as keys (like :class:`juxsdk.TrustedPublicKeys`); a certificate
    chaining to ``ca_roots`` (RFC 5280, like :class:`juxsdk.TrustedCA`) must have a subject
    matching one of ``subjects`` when any are given.

    Attributes:
        certificates: Allowed signing-certificate fingerprints (``sha256:<hex>`` of the DER).
        public_keys: Allowed signing-key fingerprints (``sha256:<hex>`` of the SPKI DER).
        ca_roots: DER encodings of the CA roots.
        subjects: Glob patterns on the RFC 4514 subject of a CA-issued certificate.
        label: Name of the policy, for messages.
    """

    certificates: frozenset[str] = frozenset()
    public_keys: frozenset[str] = frozenset()
    ca_roots: tuple[bytes, ...] = ()
    subjects: tuple[str, ...] = ()
    label: str = "the policy"

    def decide(
        self, chain: Sequence[x509.Certificate], key_value: PublicKeyTypes | None, at: dt.datetime
    ) -> TrustDecision:
        """See :meth:`juxsdk.TrustPolicy.decide`.

        Raises:
            juxsdk.errors.UntrustedKeyError: no rule admits the signer.
            juxsdk.errors.CertificateValidityError: a pinned or CA-issued certificate is not
                valid at ``at``.
        """
        leaf = chain[0] if chain else None
        key = leaf.public_key() if leaf is not None else key_value
        if leaf is not None and certificate_fingerprint(leaf) in self.certificates:
            d = TrustedCertificates([leaf]).decide(chain, key_value, at)
            return TrustDecision(d.key, d.certificate, f"{d.description}, allowed by {self.label}")
        if key is not None and key_fingerprint(key) in self.public_keys:
            d = TrustedPublicKeys([key]).decide(chain, key_value, at)
            return TrustDecision(d.key, d.certificate, f"{d.description}, allowed by {self.label}")
        who = leaf.subject.rfc4514_string() if leaf is not None else (
            f"key {key_fingerprint(key)[:23]}…" if key is not None else "an empty KeyInfo"
        )
        if leaf is not None and self.ca_roots:
            roots = [x509.load_der_x509_certificate(der) for der in self.ca_roots]
            d = TrustedCA(roots).decide(chain, key_value, at)
            subject = leaf.subject.rfc4514_string()
            if not self.subjects or any(fnmatch.fnmatchcase(subject, p) for p in self.subjects):
                return TrustDecision(d.key, d.certificate, f"{d.description}, allowed by {self.label}")
            raise UntrustedKeyError(
                f"signed by {subject}: the CA is trusted but {self.label} allows only subjects "
                + ", ".join(self.subjects),
                hint="check [signers] subjects in the policy",
            )
        raise UntrustedKeyError(
            f"signed by {who}, which {self.label} does not allow",
            hint="add its fingerprint to [signers] in the policy, or check which key signed it",
        )


def signer_trust(rules: SignerRules, *, label: str = "the policy") -> PolicySigners:
    """Build the trust policy of a policy's ``[signers]`` table (reads the CA bundles).

    Args:
        rules: The ``[signers]`` rules.
        label: Name of the policy, for messages.

    Returns:
        A picklable :class:`PolicySigners`.

    Raises:
        juxsdk.errors.ConfigError: a CA bundle cannot be read or holds no certificate.
    """
    roots: list[bytes] = []
    for path in rules.ca:
        roots.extend(c.public_bytes(_DER) for c in TrustedCA.from_pem_file(path).roots)
    return PolicySigners(
        certificates=frozenset(rules.certificates),
        public_keys=frozenset(rules.public_keys),
        ca_roots=tuple(roots),
        subjects=tuple(rules.subjects),
        label=label,
    )


@attrs.frozen
class AllOf:
    """Accept a key only when every policy accepts it (e.g. a pinned CA *and* a policy's signers).

    Attributes:
        policies: The policies, all of which must accept.
    """

    policies: tuple[Any, ...]

    def decide(
        self, chain: Sequence[x509.Certificate], key_value: PublicKeyTypes | None, at: dt.datetime
    ) -> TrustDecision:
        """See :meth:`juxsdk.TrustPolicy.decide`; raises the first refusal."""
        decisions = [p.decide(chain, key_value, at) for p in self.policies]
        first = decisions[0]
        return TrustDecision(first.key, first.certificate, "; ".join(d.description for d in decisions))


@attrs.frozen
class _Rebuild:
    """A built-in trust policy as DER bytes (picklable); ``build()`` makes it again."""

    kind: str
    items: tuple[bytes, ...] = ()

    def build(self) -> TrustPolicy:
        if self.kind == "certificates":
            return TrustedCertificates([x509.load_der_x509_certificate(d) for d in self.items])
        if self.kind == "keys":
            return TrustedPublicKeys([serialization.load_der_public_key(d) for d in self.items])
        return TrustedCA([x509.load_der_x509_certificate(d) for d in self.items])


def _spki(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(_DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def portable(trust: Any) -> Any | None:
    """A picklable stand-in for ``trust`` (rebuild it with :func:`rebuild`), or None.

    Args:
        trust: A trust policy.

    Returns:
        A picklable value, or None when ``trust`` is a policy this module cannot carry to
        another process (the audit then verifies in its own process).
    """
    if isinstance(trust, TrustedCertificates):
        return _Rebuild("certificates", tuple(c.public_bytes(_DER) for c in trust.certificates))
    if isinstance(trust, TrustedPublicKeys):
        return _Rebuild("keys", tuple(_spki(k) for k in trust.keys))
    if isinstance(trust, TrustedCA):
        return _Rebuild("ca", tuple(c.public_bytes(_DER) for c in trust.roots))
    if isinstance(trust, PolicySigners | UnsafeAcceptAnyKey):
        return trust
    if isinstance(trust, AllOf):
        parts = [portable(p) for p in trust.policies]
        return None if any(p is None for p in parts) else AllOf(tuple(parts))
    try:
        pickle.dumps(trust)
    except Exception:  # noqa: BLE001 - any pickling failure means "not portable"
        return None
    return trust


def rebuild(value: Any) -> Any:
    """Inverse of :func:`portable`."""
    if isinstance(value, _Rebuild):
        return value.build()
    if isinstance(value, AllOf):
        return AllOf(tuple(rebuild(p) for p in value.policies))
    return value
