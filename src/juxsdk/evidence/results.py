"""What an audit found: one :class:`ReportAudit` per report, gathered in an :class:`AuditResult`.

An :class:`AuditResult` renders as JSON (:meth:`AuditResult.to_dict`) and as a JUnit XML report
of the audit itself (:meth:`AuditResult.to_junit_xml`): one ``<testcase>`` per audited report,
a ``<failure>`` for a report that failed verification or violates the policy, an ``<error>``
for one that could not be read, so a CI system shows the audit like any test run.
"""

from __future__ import annotations

import datetime as dt
import socket
from collections import Counter
from typing import Any

import attrs

from ..models import ReportSummary, SignatureInfo
from .testcases import Row

__all__ = ["STATUSES", "AuditResult", "ReportAudit"]

#: Status of an audited report: verified and complies; verified but breaks the policy; failed
#: verification (or is not a well-formed report); could not be read.
STATUSES: tuple[str, ...] = ("ok", "violation", "failed", "error")


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@attrs.frozen
class ReportAudit:
    """The audit of one report.

    Everything except ``claimed_project`` and ``canonical_hash`` of an unverified report comes
    from the verified signed content; a report that did not verify carries no summary, no
    properties and no signer.

    Attributes:
        source: Where it came from: a file path, or ``<store>:<hash prefix>``.
        status: One of :data:`STATUSES`.
        reasons: Why it is not ``ok``: the verification error or each policy violation.
        canonical_hash: ``sha256:<hex>`` (for an unverified report: as computed from its
            bytes or as the store keys it; None when it is not even XML).
        store: Store backend name, when it came from a store.
        location: Path or URL of the stored bytes, when known.
        stored_at: When the store says it was stored (store metadata, not signed).
        summary: Verified counts.
        properties: Verified properties, in document order.
        signature: Who signed (verified).
        trust: Why the signer is trusted (the trust policy's words).
        verified_at: The time certificate validity was checked against.
        warnings: Unsigned content that verification ignored.
        error_type: Exception class name of the failure, when not verified.
        claimed_project: For a report that did not verify: the ``project`` it claims (NOT
            verified, used only to group it with its project and mark it).
        selected: False when the report is outside the audit's selection (policy ``[select]``
            or the caller's filters): it was verified (and indexed) but not judged.
        testcases: Verified per-test outcomes as :data:`~juxsdk.evidence.testcases.Row` tuples
            ``(classname, name, status, duration, message)``, when they were read (only while the
            audit writes the index; not kept in results).
    """

    source: str
    status: str
    reasons: tuple[str, ...] = ()
    canonical_hash: str | None = None
    store: str | None = None
    location: str | None = None
    stored_at: dt.datetime | None = None
    summary: ReportSummary | None = None
    properties: tuple[tuple[str, str], ...] = ()
    signature: SignatureInfo | None = None
    trust: str | None = None
    verified_at: dt.datetime | None = None
    warnings: tuple[str, ...] = ()
    error_type: str | None = None
    claimed_project: str | None = None
    selected: bool = True
    testcases: tuple[Row, ...] | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def verified(self) -> bool:
        """True when the signature verified (the report may still violate the policy)."""
        return self.signature is not None

    @property
    def ok(self) -> bool:
        """True when the report verified and complies with the policy."""
        return self.status == "ok"

    def property_value(self, name: str) -> str | None:
        """First value of a verified property, or None."""
        for key, value in self.properties:
            if key == name:
                return value
        return None

    @property
    def project(self) -> str | None:
        """The verified ``project`` property (None when not verified)."""
        return self.property_value("project")

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (no testcases)."""
        return {
            "source": self.source,
            "status": self.status,
            "ok": self.ok,
            "verified": self.verified,
            "reasons": list(self.reasons),
            "canonical_hash": self.canonical_hash,
            "project": self.project,
            "claimed_project": self.claimed_project,
            "store": self.store,
            "location": self.location,
            "stored_at": _iso(self.stored_at),
            "summary": self.summary.to_dict() if self.summary else None,
            "properties": [list(p) for p in self.properties],
            "signature": self.signature.to_dict() if self.signature else None,
            "trust": self.trust,
            "verified_at": _iso(self.verified_at),
            "warnings": list(self.warnings),
            "error_type": self.error_type,
        }


@attrs.frozen
class AuditResult:
    """The outcome of :func:`juxsdk.audit`.

    Attributes:
        reports: One entry per audited (selected) report, in the order they finished.
        unselected: Reports outside the policy's selection (verified and indexed, not audited).
        policy: Label of the evidence policy, if one was applied.
        trust: Description of the trust policy.
        started: When the audit began (UTC).
        duration: Wall-clock seconds.
        jobs: Worker processes used (1: in-process).
    """

    reports: tuple[ReportAudit, ...]
    unselected: int = 0
    policy: str | None = None
    trust: str | None = None
    started: dt.datetime = attrs.field(factory=lambda: dt.datetime.now(dt.UTC))
    duration: float = 0.0
    jobs: int = 1

    @property
    def ok(self) -> bool:
        """True when every audited report verified and complies (and at least one was audited)."""
        return all(r.ok for r in self.reports)

    @property
    def counts(self) -> dict[str, int]:
        """Number of reports per status (every status present, zeros included)."""
        found = Counter(r.status for r in self.reports)
        counts = {s: found.get(s, 0) for s in STATUSES}
        counts["audited"] = len(self.reports)
        counts["unselected"] = self.unselected
        return counts

    @property
    def exit_code(self) -> int:
        """1 when a report failed verification or the policy, else 3 when one could not be read, else 0."""
        counts = self.counts
        if counts["violation"] or counts["failed"]:
            return 1
        return 3 if counts["error"] else 0

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict: ``ok``, ``counts``, ``policy``, ``trust``, ``reports``…"""
        return {
            "ok": self.ok,
            "counts": self.counts,
            "policy": self.policy,
            "trust": self.trust,
            "started": self.started.isoformat(),
            "duration": round(self.duration, 3),
            "jobs": self.jobs,
            "reports": [r.to_dict() for r in self.reports],
        }

    def to_junit_xml(self, *, name: str = "jux audit") -> bytes:
        """A JUnit XML report of the audit: one testcase per audited report.

        A report that violates the policy or failed verification is a ``<failure>`` (its
        reasons as the message and text); one that could not be read is an ``<error>``.
        ``classname`` is ``audit.<store>`` (or ``audit.files``); ``name`` is the source and the
        first 16 hex digits of its canonical hash. Format: the Ant/Surefire JUnit dialect
        (https://maven.apache.org/surefire/maven-surefire-plugin/xsd/surefire-test-report.xsd).

        Args:
            name: The suite name.

        Returns:
            UTF-8 XML bytes.
        """
        from lxml import etree

        counts = self.counts
        failures = counts["violation"] + counts["failed"]
        root = etree.Element("testsuites", name=name)
        suite = etree.SubElement(
            root,
            "testsuite",
            name=f"{name}: {self.policy}" if self.policy else name,
            tests=str(len(self.reports)),
            failures=str(failures),
            errors=str(counts["error"]),
            skipped="0",
            time=f"{self.duration:.3f}",
            timestamp=self.started.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            hostname=socket.gethostname(),
        )
        props = etree.SubElement(suite, "properties")
        for key, value in (
            ("jux:audit_policy", self.policy),
            ("jux:audit_trust", self.trust),
            ("jux:audit_unselected", str(self.unselected)),
        ):
            if value is not None:
                etree.SubElement(props, "property", name=key, value=value)
        root.set("tests", str(len(self.reports)))
        root.set("failures", str(failures))
        root.set("errors", str(counts["error"]))
        root.set("time", f"{self.duration:.3f}")
        for r in self.reports:
            short = (r.canonical_hash or "").partition(":")[2][:16]
            case = etree.SubElement(
                suite,
                "testcase",
                classname=f"audit.{r.store or 'files'}",
                name=f"{r.source} ({short})" if short and short not in r.source else r.source,
                time="0",
            )
            if r.status in ("violation", "failed", "error"):
                tag = "error" if r.status == "error" else "failure"
                kind = "policy" if r.status == "violation" else (r.error_type or r.status)
                el = etree.SubElement(case, tag, message="; ".join(r.reasons)[:1000], type=kind)
                el.text = "\n".join(r.reasons)
            elif r.signature is not None and r.summary is not None:
                out = etree.SubElement(case, "system-out")
                s = r.summary
                out.text = (
                    f"signed by {r.signature.signer}; {s.tests} tests, {s.failures} failures, "
                    f"{s.errors} errors; trust: {r.trust}"
                )
        return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
