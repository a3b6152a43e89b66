"""Retention: which stored reports ``jux cache clean`` may delete.

Rules (each keeps a report; a report is deleted only when no rule keeps it):

* ``keep_last`` — the newest *N* reports of each project (store metadata ``project`` and
  ``stored_at``) are kept;
* ``older_than`` — reports stored less than this long ago are kept;
* an evidence policy — a report its ``[select]`` matches is evidence the policy still requires
  and is never deleted. This is decided from the report's own signed properties (``project``,
  ``jux:timestamp``) as read from its bytes, not from the store's sidecar, so editing a sidecar
  cannot get evidence deleted.

At least one of ``keep_last`` and ``older_than`` must be given; a policy only protects.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import attrs

from ..errors import JuxError
from ..models import StoredReport
from .policy import EvidencePolicy, run_time

__all__ = ["Decision", "apply_retention", "plan_retention"]


@attrs.frozen
class Decision:
    """What retention decided for one stored report.

    Attributes:
        record: The store's record.
        delete: True when no rule keeps it.
        reason: Why it is kept (or ``"expired"``).
    """

    record: StoredReport
    delete: bool
    reason: str


def _required(store: Any, record: StoredReport, policy: EvidencePolicy) -> bool:
    from ..junit import parse_report

    try:
        report = parse_report(store.get(record.canonical_hash), source=record.source)
    except JuxError:
        return False  # not readable as a report: not evidence
    return policy.select.matches(report.project, run_time(report.properties) or record.stored_at)


def plan_retention(
    store: Any,
    *,
    keep_last: int | None = None,
    older_than: dt.timedelta | None = None,
    policy: EvidencePolicy | None = None,
    now: dt.datetime | None = None,
) -> list[Decision]:
    """Decide, for every report of ``store``, whether retention deletes it.

    Args:
        store: A :class:`~juxsdk.Store`.
        keep_last: Keep the newest this many reports of each project (≥ 1).
        older_than: Keep reports stored less than this long ago.
        policy: Never delete what its ``[select]`` matches.
        now: Reference time (default: now, UTC).

    Returns:
        One decision per stored report, oldest first.

    Raises:
        ValueError: neither ``keep_last`` nor ``older_than`` is given, or ``keep_last`` < 1.
        juxsdk.errors.StoreError: the store cannot be listed or read.
    """
    if keep_last is None and older_than is None:
        raise ValueError("give keep_last and/or older_than")
    if keep_last is not None and keep_last < 1:
        raise ValueError("keep_last must be 1 or more")
    when = now or dt.datetime.now(dt.UTC)
    records = list(store.list())
    newest: set[str] = set()
    if keep_last is not None:
        per_project: dict[str, list[StoredReport]] = defaultdict(list)
        for r in records:
            per_project[r.project or ""].append(r)
        for group in per_project.values():
            group.sort(key=lambda r: (r.stored_at, r.canonical_hash), reverse=True)
            newest.update(r.canonical_hash for r in group[:keep_last])
    decisions: list[Decision] = []
    for r in records:
        stored = r.stored_at if r.stored_at.tzinfo else r.stored_at.replace(tzinfo=dt.UTC)
        if r.canonical_hash in newest:
            decisions.append(Decision(r, False, f"among the newest {keep_last} of its project"))
        elif older_than is not None and when - stored < older_than:
            decisions.append(Decision(r, False, f"stored less than {older_than.days} day(s) ago"))
        elif policy is not None and _required(store, r, policy):
            decisions.append(Decision(r, False, f"required by policy {policy.label}"))
        else:
            decisions.append(Decision(r, True, "expired"))
    return decisions


def apply_retention(store: Any, decisions: Iterable[Decision], *, dry_run: bool = False) -> list[StoredReport]:
    """Delete the reports ``decisions`` marks (unless ``dry_run``).

    Returns:
        The records deleted (or that would be).

    Raises:
        juxsdk.errors.StoreError: a deletion failed.
    """
    gone: list[StoredReport] = []
    for d in decisions:
        if d.delete:
            if not dry_run:
                store.delete(d.record.canonical_hash)
            gone.append(d.record)
    return gone
