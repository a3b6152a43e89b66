"""Evidence you can audit: verify whole stores against an evidence policy, index and report.

* :func:`juxsdk.audit` (:mod:`.runner`) verifies every report of stores and files in parallel
  and judges each against an :class:`EvidencePolicy` (:mod:`.policy`);
* :class:`juxsdk.Index` (:mod:`.index`) keeps verified reports and per-test outcomes in SQLite
  for queries, trends, flaky tests and report diffs (:mod:`.trends`);
* :mod:`.report_html` writes a static HTML evidence report; :mod:`.retention` decides what
  ``jux cache clean`` may delete.

Everything is read from verified signed content only (:mod:`.testcases`).
"""

from __future__ import annotations

from .policy import EvidencePolicy, ResultRules, RetentionRules, Selection, SignerRules, load_policy, parse_policy
from .results import AuditResult, ReportAudit
from .testcases import TestOutcome

__all__ = [
    "AuditResult",
    "EvidencePolicy",
    "ReportAudit",
    "ResultRules",
    "RetentionRules",
    "Selection",
    "SignerRules",
    "TestOutcome",
    "load_policy",
    "parse_policy",
]
