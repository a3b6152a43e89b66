"""Rows the evidence index returns: :class:`IndexedReport` (a report) and :class:`TestRow` (a test outcome)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any, NamedTuple

import attrs

from ..models import ReportSummary

__all__ = ["IndexedReport", "TestRow", "ts"]


def ts(value: dt.datetime | None) -> str | None:
    """A UTC time as sortable ISO 8601 text (``2025-01-31T12:00:00.000000Z``); naive = UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_ts(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


@attrs.frozen
class IndexedReport:
    """One report as the index knows it (a ``reports`` row).

    Attributes:
        canonical_hash: ``sha256:<hex>``.
        verified: True when its last verification succeeded (only then is it evidence).
        project: Verified ``project`` property.
        claimed_project: What an unverified report claims (not evidence).
        branch: Verified ``git:branch``.
        commit: Verified ``git:commit``.
        run_time: Verified ``jux:timestamp``.
        time: ``run_time``, else the store's ``stored_at``, else ``verified_at`` (for ordering).
        summary: Verified counts (None when not verified).
        signer: Certificate subject, else key fingerprint.
        algorithm, key_fingerprint, certificate_fingerprint, certificate_subject: The signer.
        trust: Why the signer was trusted.
        verified_at: When the last verification was made.
        error, error_type: Why it did not verify.
        policy: Label of the last policy that selected it.
        policy_ok: That policy's verdict (None: no policy has judged it).
        violations: That policy's violations.
        store, location, source, stored_at: Where it was found (store metadata).
        has_tests: True when its per-test outcomes are indexed.
    """

    canonical_hash: str
    verified: bool
    project: str | None
    claimed_project: str | None
    branch: str | None
    commit: str | None
    run_time: dt.datetime | None
    time: dt.datetime
    summary: ReportSummary | None
    signer: str | None
    algorithm: str | None
    key_fingerprint: str | None
    certificate_fingerprint: str | None
    certificate_subject: str | None
    trust: str | None
    verified_at: dt.datetime
    error: str | None
    error_type: str | None
    policy: str | None
    policy_ok: bool | None
    violations: tuple[str, ...]
    store: str | None
    location: str | None
    source: str | None
    stored_at: dt.datetime | None
    has_tests: bool

    @property
    def evidence(self) -> bool:
        """True when it verified and no policy has found a violation."""
        return self.verified and self.policy_ok is not False

    @classmethod
    def _from_row(cls, row: Sequence[Any]) -> IndexedReport:
        (h, verified, project, claimed, branch, commit, run_time, sort_time, tests, failures, errors, skipped,
         duration, suites, signer, algorithm, kfp, cfp, subject, trust, verified_at, error, error_type, policy,
         policy_ok, violations, store, location, source, stored_at, has_tests) = row
        summary = None
        if verified:
            summary = ReportSummary(tests=tests, failures=failures, errors=errors, skipped=skipped,
                                    time=duration, suites=suites)
        return cls(
            canonical_hash=h, verified=bool(verified), project=project, claimed_project=claimed, branch=branch,
            commit=commit, run_time=_parse_ts(run_time), time=_parse_ts(sort_time),  # type: ignore[arg-type]
            summary=summary, signer=signer, algorithm=algorithm, key_fingerprint=kfp,
            certificate_fingerprint=cfp, certificate_subject=subject, trust=trust,
            verified_at=_parse_ts(verified_at), error=error, error_type=error_type,  # type: ignore[arg-type]
            policy=policy, policy_ok=None if policy_ok is None else bool(policy_ok),
            violations=tuple(json.loads(violations)) if violations else (), store=store, location=location,
            source=source, stored_at=_parse_ts(stored_at), has_tests=bool(has_tests),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        d = attrs.asdict(self, recurse=False)
        for key in ("run_time", "time", "verified_at", "stored_at"):
            d[key] = ts(d[key])
        d["summary"] = self.summary.to_dict() if self.summary else None
        d["violations"] = list(self.violations)
        d["evidence"] = self.evidence
        return d


class TestRow(NamedTuple):
    """One test outcome of an indexed (verified) report.

    Attributes:
        canonical_hash: The report.
        project, branch, commit: The report's verified provenance.
        time: The report's time (see :attr:`IndexedReport.time`).
        test_id: ``classname.name``.
        classname, name: The testcase.
        status: ``passed``, ``failed``, ``error`` or ``skipped``.
        duration: Seconds.
        message: Failure, error or skip message (cut at 1000 characters).

    A named tuple: a query may return many thousands of them.
    """

    canonical_hash: str
    project: str | None
    branch: str | None
    commit: str | None
    time: dt.datetime
    test_id: str
    classname: str
    name: str
    status: str
    duration: float
    message: str | None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        d = self._asdict()
        d["time"] = ts(self.time)
        return d
