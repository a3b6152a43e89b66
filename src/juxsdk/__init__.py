"""juxsdk — sign, verify, store and publish JUnit XML test reports with XML digital signatures.

Library first::

    import juxsdk

    report = juxsdk.parse_report(open("junit.xml", "rb").read())
    signed = juxsdk.sign_report(report, signer)            # exact signed bytes in signed.data
    verified = juxsdk.verify_report(signed.data, trust=juxsdk.TrustedCertificates.from_pem_file("cert.pem"))
    print(verified.summary)                                 # counts of the signed content only

    jux = juxsdk.Jux.from_config()                          # the configured pipeline
    result = jux.submit(report)                              # sign -> store -> publish

Names are imported lazily so that ``import juxsdk`` stays cheap (the pytest plugin and the CLI
rely on it); every name in ``__all__`` is part of the stable public API.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "AlreadySignedError",
    "Attestation",
    "AttestationError",
    "AttestationMismatchError",
    "AuditResult",
    "BackendNotFoundError",
    "CertificateValidityError",
    "ConfigError",
    "DigestMismatchError",
    "EvidenceIndexError",
    "EvidencePolicy",
    "Index",
    "Jux",
    "JuxConfig",
    "JuxError",
    "MultipleSignaturesError",
    "NoSignatureError",
    "PermanentPublishError",
    "PluginError",
    "PolicyError",
    "PublishError",
    "PublishReceipt",
    "Publisher",
    "Registry",
    "Report",
    "ReportAudit",
    "ReportError",
    "ReportNotFoundError",
    "ReportParseError",
    "ReportSummary",
    "Secret",
    "SignatureInfo",
    "SignatureStructureError",
    "SignatureThresholdError",
    "SignatureValueError",
    "SignedReport",
    "Signer",
    "SigningError",
    "Store",
    "StoreError",
    "StoredReport",
    "SubmitResult",
    "TransientPublishError",
    "TrustPolicy",
    "TrustedCA",
    "TrustedCertificates",
    "TrustedPublicKeys",
    "UnsafeAcceptAnyKey",
    "UnsupportedAlgorithmError",
    "UntrustedKeyError",
    "VerificationError",
    "VerifiedAttestation",
    "VerifiedReport",
    "__version__",
    "add_properties",
    "attest",
    "audit",
    "canonical_hash",
    "collect_metadata",
    "load_config",
    "load_policy",
    "merge_reports",
    "parse_report",
    "sign_report",
    "verify_attestation",
    "verify_report",
]

_LAZY: dict[str, str] = {
    # errors
    **{
        name: "juxsdk.errors"
        for name in (
            "AlreadySignedError",
            "AttestationError",
            "AttestationMismatchError",
            "BackendNotFoundError",
            "CertificateValidityError",
            "ConfigError",
            "DigestMismatchError",
            "JuxError",
            "MultipleSignaturesError",
            "NoSignatureError",
            "PermanentPublishError",
            "EvidenceIndexError",
            "PluginError",
            "PolicyError",
            "PublishError",
            "ReportError",
            "ReportNotFoundError",
            "ReportParseError",
            "SignatureStructureError",
            "SignatureThresholdError",
            "SignatureValueError",
            "SigningError",
            "StoreError",
            "TransientPublishError",
            "UnsupportedAlgorithmError",
            "UntrustedKeyError",
            "VerificationError",
        )
    },
    "Attestation": "juxsdk.attestation",
    "VerifiedAttestation": "juxsdk.attestation",
    "attest": "juxsdk.attestation",
    "verify_attestation": "juxsdk.attestation",
    # values
    **{
        name: "juxsdk.models"
        for name in (
            "PublishReceipt",
            "Report",
            "ReportSummary",
            "SignatureInfo",
            "SignedReport",
            "StoredReport",
            "SubmitResult",
            "VerifiedReport",
        )
    },
    "Publisher": "juxsdk.protocols",
    "Signer": "juxsdk.protocols",
    "Store": "juxsdk.protocols",
    "Registry": "juxsdk.registry",
    "parse_report": "juxsdk.junit",
    "add_properties": "juxsdk.junit",
    "canonical_hash": "juxsdk.canonical",
    "sign_report": "juxsdk.xmldsig",
    "verify_report": "juxsdk.xmldsig",
    "TrustPolicy": "juxsdk.trust",
    "TrustedCA": "juxsdk.trust",
    "TrustedCertificates": "juxsdk.trust",
    "TrustedPublicKeys": "juxsdk.trust",
    "UnsafeAcceptAnyKey": "juxsdk.trust",
    "JuxConfig": "juxsdk.config",
    "Secret": "juxsdk.config",
    "load_config": "juxsdk.config",
    "collect_metadata": "juxsdk.metadata",
    "merge_reports": "juxsdk.merge",
    "Jux": "juxsdk.client",
    # evidence: audit, policy, index
    "audit": "juxsdk.evidence.runner",
    "AuditResult": "juxsdk.evidence.results",
    "ReportAudit": "juxsdk.evidence.results",
    "EvidencePolicy": "juxsdk.evidence.policy",
    "load_policy": "juxsdk.evidence.policy",
    "Index": "juxsdk.evidence.index",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'juxsdk' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from .attestation import Attestation, VerifiedAttestation, attest, verify_attestation
    from .canonical import canonical_hash
    from .client import Jux
    from .config import JuxConfig, Secret, load_config
    from .errors import (
        AlreadySignedError,
        AttestationError,
        AttestationMismatchError,
        BackendNotFoundError,
        CertificateValidityError,
        ConfigError,
        DigestMismatchError,
        EvidenceIndexError,
        JuxError,
        MultipleSignaturesError,
        NoSignatureError,
        PermanentPublishError,
        PluginError,
        PolicyError,
        PublishError,
        ReportError,
        ReportNotFoundError,
        ReportParseError,
        SignatureStructureError,
        SignatureThresholdError,
        SignatureValueError,
        SigningError,
        StoreError,
        TransientPublishError,
        UnsupportedAlgorithmError,
        UntrustedKeyError,
        VerificationError,
    )
    from .evidence.index import Index
    from .evidence.policy import EvidencePolicy, load_policy
    from .evidence.results import AuditResult, ReportAudit
    from .evidence.runner import audit
    from .junit import add_properties, parse_report
    from .merge import merge_reports
    from .metadata import collect_metadata
    from .models import (
        PublishReceipt,
        Report,
        ReportSummary,
        SignatureInfo,
        SignedReport,
        StoredReport,
        SubmitResult,
        VerifiedReport,
    )
    from .protocols import Publisher, Signer, Store
    from .registry import Registry
    from .trust import TrustedCA, TrustedCertificates, TrustedPublicKeys, TrustPolicy, UnsafeAcceptAnyKey
    from .xmldsig import sign_report, verify_report
