"""Supply-chain attestations of test results: :func:`attest`, :func:`verify_attestation`, :func:`cosign`.

An attestation is an in-toto Statement v1 with the test-result predicate v0.1
(https://github.com/in-toto/attestation, spec/predicates/test-result.md), built from a
report's **signed, verified** content (:mod:`juxsdk.intoto`), in a DSSE envelope
(https://github.com/secure-systems-lab/dsse) signed by any juxsdk Signer (:mod:`juxsdk.dsse`).
The Statement names the signed report — its file SHA-256 and its canonical hash — so the
XMLDSig report and the attestation verify independently and point at each other::

    import juxsdk

    made = juxsdk.attest(signed_report, signer, subjects=["dist/app.whl"])
    Path("junit.intoto.json").write_bytes(made.envelope)

    checked = juxsdk.verify_attestation(
        Path("junit.intoto.json").read_bytes(), juxsdk.TrustedCertificates.from_pem_file("cert.pem"),
        report=Path("junit.xml").read_bytes(), subjects=["dist/app.whl"],
    )
    print(checked.result, checked.report_canonical_hash)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePath
from typing import Any

import attrs

from . import intoto
from .dsse import DEFAULT_MAX_ENVELOPE_BYTES, Envelope, sign_envelope, strict_json, verify_envelope
from .errors import AttestationError, AttestationMismatchError, ConfigError, JuxError
from .models import Report, SignatureInfo, SignedReport, VerifiedReport
from .protocols import Signer
from .trust import TrustedPublicKeys, TrustPolicy

__all__ = [
    "AttachOutcome",
    "AttestResult",
    "Attestation",
    "VerifiedAttestation",
    "attach",
    "attest",
    "attest_with",
    "check_names_report",
    "cosign",
    "read_envelope",
    "verify_attestation",
]

Subject = str | os.PathLike[str] | Mapping[str, Any]


@attrs.frozen(eq=False)
class Attestation:
    """A signed test-result attestation, as made by :func:`attest`.

    Attributes:
        envelope: The DSSE JSON envelope: the exact bytes to write, store or publish.
        statement: The in-toto Statement it carries.
        payload: The serialized Statement (the DSSE payload).
        result: ``PASSED`` or ``FAILED``.
        report_canonical_hash: ``sha256:<hex>`` of the report the Statement names.
        keyids: Key id of each signature (securesystemslib's default key id).
        signed_report: The report signed on the way, when the input was unsigned (write it:
            the attestation names it), else None.
        report: The verified report the Statement was built from.
    """

    envelope: bytes
    statement: Mapping[str, Any]
    payload: bytes
    result: str
    report_canonical_hash: str
    keyids: tuple[str, ...]
    signed_report: SignedReport | None = None
    report: VerifiedReport | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no envelope bytes)."""
        predicate = self.statement["predicate"]
        return {
            "result": self.result,
            "report_canonical_hash": self.report_canonical_hash,
            "subjects": self.statement["subject"],
            "url": predicate.get("url"),
            "tests": {k: len(predicate.get(f"{k}Tests", ())) for k in ("passed", "warned", "failed")},
            "keyids": list(self.keyids),
        }


@attrs.frozen(eq=False)
class VerifiedAttestation:
    """A verified attestation: only what the trusted signatures cover.

    Attributes:
        statement: The checked Statement, parsed from the verified payload bytes.
        payload_type: The envelope's (verified) ``payloadType``.
        signatures: The distinct trusted keys that signed, in envelope order.
        trust: Why each of them is trusted.
        threshold: The number of distinct trusted signatures that was required.
        verified_at: The time certificate validity was checked against (UTC).
        report: The verified report, when one was checked against the attestation.
        matched_subjects: The artifacts found among the subjects (as given).
        warnings: Signatures that did not count, ignored extensions, a report file whose
            bytes differ from the attested ones (same content, re-signed).
    """

    statement: intoto.TestResultStatement
    payload_type: str
    signatures: tuple[SignatureInfo, ...]
    trust: tuple[str, ...]
    threshold: int
    verified_at: dt.datetime
    report: VerifiedReport | None = None
    matched_subjects: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def result(self) -> str:
        """The predicate's ``result``."""
        return self.statement.result

    @property
    def report_canonical_hash(self) -> str | None:
        """Canonical hash of the report the Statement names, if it names one."""
        return self.statement.report_canonical_hash

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``jux verify-attestation --json``)."""
        s = self.statement
        return {
            "verified": True,
            "payloadType": self.payload_type,
            "predicateType": intoto.PREDICATE_TYPE,
            "result": s.result,
            "url": s.url,
            "tests": {"passed": len(s.passed_tests), "warned": len(s.warned_tests), "failed": len(s.failed_tests)},
            "warnedTests": list(s.warned_tests),
            "failedTests": list(s.failed_tests),
            "subjects": [dict(x) for x in s.subjects],
            "configuration": [dict(x) for x in s.configuration],
            "report_canonical_hash": s.report_canonical_hash,
            "signatures": [x.to_dict() for x in self.signatures],
            "trust": list(self.trust),
            "threshold": self.threshold,
            "verified_at": self.verified_at.isoformat(),
            "report": self.report.to_dict() if self.report is not None else None,
            "matched_subjects": list(self.matched_subjects),
            "warnings": list(self.warnings),
        }


def read_envelope(path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_ENVELOPE_BYTES) -> bytes:
    """Read an envelope file, refusing it as soon as it exceeds ``max_bytes``.

    Raises:
        AttestationError: the file is larger than ``max_bytes``.
        juxsdk.errors.JuxError: the file cannot be read.
    """
    p = Path(path)
    try:
        with p.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except FileNotFoundError:
        raise JuxError(f"{p}: no such file", hint="check the path") from None
    except IsADirectoryError:
        raise JuxError(f"{p}: is a directory", hint="give an attestation file") from None
    except OSError as exc:
        raise JuxError(f"cannot read {p}: {exc.strerror or exc}") from exc
    if len(data) > max_bytes:
        raise AttestationError(
            f"{p} is over the limit of {max_bytes} bytes", hint="this is not a test-result attestation"
        )
    return data


def _signed_and_verified(
    report: Report | SignedReport | bytes,
    signer: Signer,
    trust: TrustPolicy | None,
    at: dt.datetime | None,
    source: str | None,
) -> tuple[bytes, VerifiedReport, SignedReport | None]:
    from .junit import parse_report
    from .xmldsig import sign_report, verify_report

    signed_here: SignedReport | None = None
    if isinstance(report, SignedReport):
        data, source = report.data, source or report.source
    else:
        parsed = report if isinstance(report, Report) else parse_report(bytes(report), source=source)
        source = source or parsed.source
        if not parsed.signed:
            signed_here = sign_report(parsed, signer, source=source)
            trust = None  # just signed with this signer: its key is the one to check
        data = signed_here.data if signed_here is not None else parsed.data
    policy = trust if trust is not None else TrustedPublicKeys([signer.public_key()])
    verified = verify_report(data, policy, at=at, source=source)
    return data, verified, signed_here


def _descriptor(item: Subject, root: Path, *, git_blob: bool) -> dict[str, Any]:
    """A mapping as given; a file with its digest, named relative to ``root`` (else by file name)."""
    if isinstance(item, Mapping):
        return dict(item)
    path = Path(item)
    try:
        name = path.resolve().relative_to(root.resolve()).as_posix()
    except (ValueError, OSError):
        name = path.as_posix() if not path.is_absolute() else path.name
    return intoto.file_descriptor(path, name=name, git_blob=git_blob)


def attest(
    report: Report | SignedReport | bytes,
    signer: Signer,
    *,
    trust: TrustPolicy | None = None,
    subjects: Iterable[Subject] = (),
    commit: str | None = None,
    url: str | None = None,
    configuration: Iterable[Subject] = (),
    detect_ci: bool = True,
    root: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    at: dt.datetime | None = None,
    source: str | None = None,
) -> Attestation:
    """Attest a report's test results: an in-toto test-result Statement in a DSSE envelope.

    The Statement is built from the report's signed, verified content only
    (:func:`juxsdk.verify_report`): test names and outcomes, ``git:commit`` (default subject)
    and ``ci:build_url`` (``url``). The mapping is documented in :mod:`juxsdk.intoto` and
    docs/reference/attestation.md.

    Args:
        report: A signed report (bytes, :class:`~juxsdk.models.Report` or
            :class:`~juxsdk.models.SignedReport`), or an unsigned one, which is signed with
            ``signer`` first (see :attr:`Attestation.signed_report`).
        signer: Any :class:`~juxsdk.protocols.Signer`; it signs the envelope (keyid rule in
            :func:`juxsdk.dsse.keyid`).
        trust: Who may have signed a signed ``report`` (default: ``signer``'s own key).
        subjects: Artifacts the results are about: file paths (recorded with their SHA-256,
            named relative to ``root``, else by file name) or ResourceDescriptor mappings.
        commit: The git commit subject (default: the report's signed ``git:commit``).
        url: The CI run's URL (default: the report's signed ``ci:build_url``).
        configuration: Files that configured the run (test configuration…), recorded with
            SHA-256 and ``gitBlob``; or ResourceDescriptor mappings.
        detect_ci: Also describe the CI pipeline file detected from the environment
            (:func:`juxsdk.intoto.ci_configuration`).
        root: Directory file names are recorded relative to, and where the CI pipeline file
            is looked for (default: the current directory; for CI detection the CI workspace).
        environ: Environment for that detection (default ``os.environ``).
        at: Time to check the report's certificate validity at (default now).
        source: File name of the report (recorded as the report descriptor's ``name``).

    Returns:
        An :class:`Attestation`; ``envelope`` holds the bytes to write.

    Raises:
        juxsdk.errors.VerificationError: a signed ``report`` does not verify with ``trust``.
        juxsdk.errors.ReportError: ``report`` is not a JUnit report.
        juxsdk.errors.SigningError: signing failed (see :func:`juxsdk.dsse.sign_envelope`).
        juxsdk.errors.ConfigError: no subject is known (no commit, no artifact), a subject or
            configuration file cannot be read, or ``commit`` is not a git commit id.
    """
    from .junit import parse_xml

    data, verified, signed_here = _signed_and_verified(report, signer, trust, at, source)
    names = intoto.test_names(parse_xml(verified.signed_content).getroot())
    props = dict(reversed(verified.properties))  # the first occurrence wins
    commit = commit or props.get("git:commit")
    subject_list = [intoto.commit_subject(commit)] if commit else []
    base = Path(root) if root is not None else Path.cwd()
    subject_list += [_descriptor(s, base, git_blob=False) for s in subjects]
    name = PurePath(verified.source or source or "report.xml").name
    descriptors = [
        intoto.report_descriptor(
            name=name, canonical_hash=verified.canonical_hash, data=data, summary=verified.summary, names=names
        )
    ]
    descriptors += [_descriptor(c, base, git_blob=True) for c in configuration]
    if detect_ci:
        descriptors += intoto.ci_configuration(root, environ, commit=commit)
    statement = intoto.build_statement(
        subjects=subject_list, configuration=descriptors, names=names, url=url or props.get("ci:build_url")
    )
    payload = json.dumps(statement, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    envelope = sign_envelope(payload, intoto.PAYLOAD_TYPE, signer)
    return Attestation(
        envelope=envelope.to_json(),
        statement=statement,
        payload=payload,
        result=names.result,
        report_canonical_hash=verified.canonical_hash,
        keyids=tuple(s.keyid for s in envelope.signatures),
        signed_report=signed_here,
        report=verified,
    )


def _parse(data: bytes, max_bytes: int) -> tuple[Envelope, intoto.TestResultStatement]:
    """Parse an envelope and check its payload type and Statement (no signature check)."""
    envelope = Envelope.from_json(data, max_bytes=max_bytes)
    if envelope.payload_type not in intoto.PAYLOAD_TYPES:
        raise AttestationError(
            f"payloadType {envelope.payload_type[:100]!r} is not an in-toto Statement",
            hint="expected " + " or ".join(repr(t) for t in intoto.PAYLOAD_TYPES),
        )
    return envelope, intoto.parse_statement(strict_json(envelope.payload, "payload"))


def cosign(
    envelope: bytes,
    signer: Signer,
    *,
    trust: TrustPolicy | None = None,
    threshold: int = 1,
    at: dt.datetime | None = None,
    max_bytes: int = DEFAULT_MAX_ENVELOPE_BYTES,
) -> bytes:
    """Add ``signer``'s signature to an attestation (e.g. a release manager after CI).

    The Statement is checked first; with ``trust``, the existing signatures must verify too
    (so nobody co-signs what they cannot vouch for). Existing signatures are kept unchanged.

    Args:
        envelope: The DSSE envelope bytes.
        signer: The co-signer.
        trust: Check the existing signatures against this policy first (optional).
        threshold: Distinct trusted existing signatures required when ``trust`` is given.
        at: Certificate validity time for that check.
        max_bytes: Size limit of ``envelope``.

    Returns:
        The new envelope bytes, with the new signature last.

    Raises:
        AttestationError: the envelope or its Statement is not a test-result attestation.
        juxsdk.errors.VerificationError: with ``trust``, the existing signatures do not verify.
        juxsdk.errors.SigningError: signing failed, or this key already signed the envelope.
    """
    parsed, _ = _parse(envelope, max_bytes)
    if trust is not None:
        verify_envelope(parsed, trust, threshold=threshold, at=at, payload_types=intoto.PAYLOAD_TYPES)
    return sign_envelope(parsed.payload, parsed.payload_type, signer, cosign=parsed).to_json()


def _artifact_digests(item: str | os.PathLike[str]) -> dict[str, str]:
    sha = hashlib.sha256()
    p = Path(item)
    try:
        with p.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                sha.update(chunk)
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such file", hint="check the --subject path") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {p}: {exc.strerror or exc}") from exc
    return {"sha256": sha.hexdigest()}


def verify_attestation(
    envelope: bytes,
    trust: TrustPolicy,
    *,
    threshold: int = 1,
    at: dt.datetime | None = None,
    subjects: Iterable[str | os.PathLike[str]] = (),
    report: bytes | None = None,
    report_source: str | None = None,
    report_trust: TrustPolicy | None = None,
    max_bytes: int = DEFAULT_MAX_ENVELOPE_BYTES,
) -> VerifiedAttestation:
    """Verify a test-result attestation against an explicit trust policy.

    Checks, in order: the envelope is well-formed (:meth:`juxsdk.dsse.Envelope.from_json`),
    its ``payloadType`` is in-toto's, at least ``threshold`` distinct keys the policy trusts
    signed it (:func:`juxsdk.dsse.verify_envelope`), the verified payload is a Statement v1
    with the test-result predicate obeying its field rules, every given artifact's SHA-256 is
    a subject, and a given report verifies and has the canonical hash the Statement names.

    Args:
        envelope: The DSSE envelope bytes.
        trust: Which keys/certificates may sign (:mod:`juxsdk.trust`).
        threshold: Distinct trusted signatures required (co-signing).
        at: Certificate validity time (naive = UTC; default now).
        subjects: Artifact files that must be subjects of the Statement.
        report: Signed report bytes to check against the Statement.
        report_source: File name of ``report`` for messages.
        report_trust: Who may sign ``report`` (default: ``trust``).
        max_bytes: Size limit of ``envelope``.

    Returns:
        A :class:`VerifiedAttestation` built only from the verified payload.

    Raises:
        AttestationError: malformed or hostile envelope, wrong payload type, Statement type,
            predicate type or predicate fields.
        juxsdk.errors.UntrustedKeyError, juxsdk.errors.SignatureValueError,
        juxsdk.errors.CertificateValidityError, juxsdk.errors.SignatureThresholdError: the
            signatures do not satisfy the policy and threshold.
        AttestationMismatchError: an artifact is not a subject, or the report's canonical
            hash is not the one named (or no report is named).
        juxsdk.errors.VerificationError: ``report`` itself does not verify.
        juxsdk.errors.ConfigError: an artifact cannot be read; ``threshold`` out of range.
    """
    from .xmldsig import verify_report

    parsed, _ = _parse(envelope, max_bytes)
    verified = verify_envelope(parsed, trust, threshold=threshold, at=at, payload_types=intoto.PAYLOAD_TYPES)
    # Only the verified payload bytes are used from here on (DSSE: never re-parse the envelope).
    statement = intoto.parse_statement(strict_json(verified.payload, "payload"))
    matched: list[str] = []
    for item in subjects:
        digests = _artifact_digests(item)
        if intoto.matching_subject(statement.subjects, digests) is None:
            raise AttestationMismatchError(
                f"{os.fspath(item)} (sha256:{digests['sha256'][:16]}…) is not a subject of the attestation",
                hint="the attestation is about other artifacts (or the file changed)",
            )
        matched.append(os.fspath(item))
    warnings = list(verified.warnings)
    verified_report: VerifiedReport | None = None
    if report is not None:
        if statement.report_canonical_hash is None:
            raise AttestationMismatchError("the attestation names no report (no juxCanonicalSha256 digest)")
        verified_report = verify_report(report, report_trust or trust, at=at, source=report_source)
        if verified_report.canonical_hash != statement.report_canonical_hash:
            raise AttestationMismatchError(
                f"the report's canonical hash {verified_report.canonical_hash[:23]}… is not the attested "
                f"{statement.report_canonical_hash[:23]}…",
                hint="this attestation is about another report",
            )
        if statement.report_sha256 and hashlib.sha256(report).hexdigest() != statement.report_sha256:
            warnings.append("the report file's bytes differ from the attested file (same content, signed again)")
    return VerifiedAttestation(
        statement=statement,
        payload_type=verified.payload_type,
        signatures=verified.signatures,
        trust=verified.trust,
        threshold=threshold,
        verified_at=verified.verified_at,
        report=verified_report,
        matched_subjects=tuple(matched),
        warnings=tuple(warnings),
    )


# --------------------------------------------------------------------------------------------
# the configured pipeline: attest and keep the attestation next to the report
# --------------------------------------------------------------------------------------------


@attrs.frozen
class AttachOutcome:
    """What one store did with an attestation.

    Attributes:
        store: Store backend name.
        attachment: The stored attachment, when it worked.
        error: The error, when it did not.
        skipped: Why nothing was done (the store keeps no attachments, or not this report).
    """

    store: str
    attachment: Any = None
    error: JuxError | None = None
    skipped: str | None = None

    @property
    def ok(self) -> bool:
        """True when the attachment is stored."""
        return self.attachment is not None


@attrs.frozen(eq=False)
class AttestResult:
    """Result of :meth:`juxsdk.Jux.attest`.

    Attributes:
        attestation: The attestation made.
        submitted: The pipeline's result when an unsigned report was submitted first.
        attached: One outcome per configured store.
    """

    attestation: Attestation
    submitted: Any = None
    attached: tuple[AttachOutcome, ...] = ()


def attach(stores: Iterable[Any], canonical_hash: str, envelope: bytes) -> tuple[AttachOutcome, ...]:
    """Keep an attestation next to its report in every store that keeps attachments.

    Stores that implement no :class:`~juxsdk.attachments.AttachmentStore`, or do not hold the
    report, are skipped; a failing store is reported in its outcome, never raised.

    Args:
        stores: Store backends.
        canonical_hash: The report's canonical hash.
        envelope: The DSSE envelope bytes.

    Returns:
        One :class:`AttachOutcome` per store.
    """
    from .attachments import ATTESTATION_KIND, supports_attachments

    out: list[AttachOutcome] = []
    for store in stores:
        name = str(getattr(store, "name", type(store).__name__))
        if not supports_attachments(store):
            out.append(AttachOutcome(name, skipped="this store keeps no attachments"))
            continue
        try:
            if not store.exists(canonical_hash):
                out.append(AttachOutcome(name, skipped="the report is not in this store"))
                continue
            out.append(AttachOutcome(name, store.put_attachment(canonical_hash, ATTESTATION_KIND, envelope)))
        except JuxError as exc:
            out.append(AttachOutcome(name, error=exc))
    return tuple(out)


def check_names_report(envelope: bytes, canonical_hash: str, *, max_bytes: int = DEFAULT_MAX_ENVELOPE_BYTES) -> None:
    """Check (without verifying signatures) that an attestation is about the given report.

    Used before keeping someone's attestation next to a report (``jux submit --attestation``);
    the signatures are checked by whoever reads it (``jux verify-attestation``).

    Raises:
        AttestationError: not a test-result attestation.
        AttestationMismatchError: it names another report, or none.
    """
    _, statement = _parse(envelope, max_bytes)
    if statement.report_canonical_hash != canonical_hash:
        raise AttestationMismatchError(
            f"the attestation is about report {str(statement.report_canonical_hash)[:23]}…, "
            f"not {canonical_hash[:23]}…",
            hint="attach the attestation made for this report",
        )


def attest_with(jux: Any, report: Report | SignedReport, *, source: str | None = None, **options: Any) -> AttestResult:
    """The implementation of :meth:`juxsdk.Jux.attest`, kept next to :func:`attest`.

    Args:
        jux: The pipeline (its signer, ``submit`` and stores are used).
        report: A parsed report; an unsigned one is submitted first.
        source: File name of the report.
        **options: Keyword arguments of :func:`attest`.

    Returns:
        An :class:`AttestResult`.

    Raises:
        juxsdk.errors.ConfigError: no signer is configured. Otherwise as :func:`attest` and
            :meth:`juxsdk.Jux.submit`.
    """
    from .models import Report as _Report

    signer = getattr(jux, "signer", None)
    if signer is None:
        raise ConfigError(
            "attesting needs a signer, and none is configured",
            hint='set signer = "file" (after `jux keygen`), or pass --key KEY --signing-cert CERT',
        )
    submitted = None
    loaded = report
    if isinstance(loaded, _Report) and not loaded.signed:
        submitted = jux.submit(loaded, source=source)
        loaded = submitted.report
    made = attest(loaded, signer, source=source, **options)
    attached = attach(jux.stores, made.report_canonical_hash, made.envelope)
    return AttestResult(made, submitted, attached)
