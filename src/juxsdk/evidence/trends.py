"""Trends, flaky tests and report comparison, computed from the evidence index (verified data only).

* :func:`trends` — per project and period (day, ISO week, or each run): runs, tests, pass rate
  (passed / (tests − skipped)), failures, errors and mean duration.
* :func:`flaky_tests` — tests with different outcomes on the same commit, or that flip between
  passing and failing across a project branch's recent runs.
* :func:`diff_tests` — tests added, removed, newly failing and fixed between two reports.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from .index import Index, IndexedReport
from .testcases import STATUSES, TestOutcome

__all__ = ["FlakyTest", "ReportDiff", "TrendPoint", "diff_tests", "flaky_tests", "trends"]

_PERIODS = ("day", "week", "run")


@attrs.frozen
class TrendPoint:
    """Aggregate of one project's verified runs in one period.

    Attributes:
        project: The verified project (``""`` when the reports have none).
        period: ``YYYY-MM-DD`` (day), ``YYYY-Www`` (ISO week), or the run's time (run).
        runs: Number of reports.
        tests, passed, failures, errors, skipped: Summed counts.
        pass_rate: ``passed / (tests - skipped)`` (1.0 when nothing ran).
        duration: Mean run duration in seconds.
        canonical_hash: The report, when ``period`` is one run.
    """

    project: str
    period: str
    runs: int
    tests: int
    passed: int
    failures: int
    errors: int
    skipped: int
    pass_rate: float
    duration: float
    canonical_hash: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return attrs.asdict(self)


def _period(when: dt.datetime, by: str) -> str:
    if by == "day":
        return when.strftime("%Y-%m-%d")
    if by == "week":
        year, week, _ = when.isocalendar()
        return f"{year}-W{week:02d}"
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def aggregate(reports: Iterable[IndexedReport], *, by: str = "day") -> list[TrendPoint]:
    """Group verified reports per project and period (see :func:`trends`)."""
    if by not in _PERIODS:
        raise ValueError(f"period must be one of {', '.join(_PERIODS)}, not {by!r}")
    groups: dict[tuple[str, str, str | None], list[IndexedReport]] = defaultdict(list)
    for r in reports:
        if r.summary is None:
            continue
        key = (r.project or "", _period(r.time.astimezone(dt.UTC), by), r.canonical_hash if by == "run" else None)
        groups[key].append(r)
    points: list[TrendPoint] = []
    for (project, period, h), group in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or "")):
        tests = sum(r.summary.tests for r in group if r.summary)
        skipped = sum(r.summary.skipped for r in group if r.summary)
        passed = sum(r.summary.passed for r in group if r.summary)
        ran = tests - skipped
        points.append(
            TrendPoint(
                project=project,
                period=period,
                runs=len(group),
                tests=tests,
                passed=passed,
                failures=sum(r.summary.failures for r in group if r.summary),
                errors=sum(r.summary.errors for r in group if r.summary),
                skipped=skipped,
                pass_rate=round(passed / ran, 6) if ran > 0 else 1.0,
                duration=round(sum(r.summary.time for r in group if r.summary) / len(group), 6),
                canonical_hash=h,
            )
        )
    return points


def trends(
    index: Index,
    *,
    project: str | None = None,
    branch: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    by: str = "day",
    evidence_only: bool = True,
) -> list[TrendPoint]:
    """Pass rate, test count and duration per project over time.

    Args:
        index: The evidence index.
        project, branch, since, until: Filters (see :meth:`juxsdk.Index.reports`).
        by: ``"day"``, ``"week"`` or ``"run"``.
        evidence_only: Leave out reports a policy found in violation.

    Returns:
        Points ordered by project, then period.

    Raises:
        ValueError: unknown ``by``.
        juxsdk.errors.EvidenceIndexError: the index cannot be read.
    """
    reports = index.reports(project=project, branch=branch, since=since, until=until, newest_first=False)
    return aggregate([r for r in reports if r.evidence or not evidence_only], by=by)


@attrs.frozen
class FlakyTest:
    """A test whose outcome is not a function of the code.

    Attributes:
        project, branch: Where it was seen.
        test_id: ``classname.name``.
        runs: Runs in the window that ran it.
        passes, failures: How often it passed / failed or errored.
        flips: Changes between passing and failing, in time order (skips ignored).
        mixed_commits: Commits on which it both passed and failed.
        last_status: Its outcome in the newest run.
    """

    project: str
    branch: str
    test_id: str
    runs: int
    passes: int
    failures: int
    flips: int
    mixed_commits: tuple[str, ...]
    last_status: str

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        d = attrs.asdict(self)
        d["mixed_commits"] = list(self.mixed_commits)
        return d


def flaky_tests(
    index: Index,
    *,
    project: str | None = None,
    branch: str | None = None,
    window: int = 20,
    min_flips: int = 2,
) -> list[FlakyTest]:
    """Tests that fail and pass on the same commit, or flip across the recent runs.

    For each project and branch, the newest ``window`` verified runs are examined. A test is
    flaky when it both passed and failed (or errored) on one commit, or when its outcome changed
    between passing and failing at least ``min_flips`` times in time order (one change is a
    regression or a fix, not flakiness).

    Args:
        index: The evidence index.
        project, branch: Filters (globs allowed, see :meth:`juxsdk.Index.reports`).
        window: Runs per project and branch to examine.
        min_flips: Changes that make a test flaky.

    Returns:
        Flaky tests, most flips first.

    Raises:
        juxsdk.errors.EvidenceIndexError: the index cannot be read.
    """
    groups: dict[tuple[str, str], list[IndexedReport]] = defaultdict(list)
    for r in index.reports(project=project, branch=branch):
        key = (r.project or "", r.branch or "")
        if r.has_tests and r.evidence and len(groups[key]) < window:
            groups[key].append(r)
    found: list[FlakyTest] = []
    for (proj, br), runs in groups.items():
        runs.sort(key=lambda r: (r.time, r.canonical_hash))
        hashes = [r.canonical_hash for r in runs]
        failing = index.failing_tests(hashes)
        if not failing:
            continue
        position = {h: i for i, h in enumerate(hashes)}
        commit_of = {r.canonical_hash: r.commit for r in runs}
        history: dict[str, list[tuple[int, int, str | None]]] = defaultdict(list)
        for h, _tid, name, status in index.outcome_matrix(hashes, tests=failing):
            history[name].append((position[h], status, commit_of[h]))
        for name, seen in history.items():
            seen.sort()
            verdicts = [(pos, s in (1, 2), c) for pos, s, c in seen if s != 3]
            if not verdicts:
                continue
            flips = sum(1 for a, b in itertools.pairwise(verdicts) if a[1] != b[1])
            per_commit: dict[str, set[bool]] = defaultdict(set)
            for _, failed, commit in verdicts:
                if commit:
                    per_commit[commit].add(failed)
            mixed = tuple(sorted(c for c, v in per_commit.items() if len(v) == 2))
            if flips >= min_flips or mixed:
                fails = sum(1 for _, f, _ in verdicts if f)
                found.append(
                    FlakyTest(proj, br, name, len(seen), len(verdicts) - fails, fails, flips, mixed,
                              STATUSES[seen[-1][1]])
                )
    found.sort(key=lambda f: (-f.flips, -len(f.mixed_commits), f.project, f.test_id))
    return found


@attrs.frozen
class ReportDiff:
    """How report B differs from report A, test by test (keyed by ``classname.name``).

    Attributes:
        added: Tests in B only.
        removed: Tests in A only.
        newly_failing: Passed (or skipped) in A, failed or errored in B.
        fixed: Failed or errored in A, passed in B.
        still_failing: Failed or errored in both.
        unchanged: Number of tests with the same outcome in both.
    """

    added: tuple[str, ...]
    removed: tuple[str, ...]
    newly_failing: tuple[str, ...]
    fixed: tuple[str, ...]
    still_failing: tuple[str, ...]
    unchanged: int

    @property
    def changed(self) -> bool:
        """True when any test was added, removed, newly failing or fixed."""
        return bool(self.added or self.removed or self.newly_failing or self.fixed)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        d: dict[str, Any] = {k: list(v) for k, v in attrs.asdict(self).items() if k != "unchanged"}
        d["unchanged"] = self.unchanged
        return d


_RANK = {"passed": 0, "skipped": 1, "failed": 3, "error": 2}


def _outcomes(tests: Sequence[TestOutcome]) -> dict[str, str]:
    """test_id → status; a test present several times counts with its worst outcome."""
    out: dict[str, str] = {}
    for t in tests:
        current = out.get(t.test_id)
        if current is None or _RANK[t.status] > _RANK[current]:
            out[t.test_id] = t.status
    return out


def diff_tests(a: Sequence[TestOutcome], b: Sequence[TestOutcome]) -> ReportDiff:
    """Compare two reports' verified test outcomes.

    Args:
        a: The older (base) report's outcomes.
        b: The newer report's outcomes.

    Returns:
        The difference (each list sorted).
    """
    old, new = _outcomes(a), _outcomes(b)
    bad = ("failed", "error")
    both = old.keys() & new.keys()
    return ReportDiff(
        added=tuple(sorted(new.keys() - old.keys())),
        removed=tuple(sorted(old.keys() - new.keys())),
        newly_failing=tuple(sorted(t for t in both if new[t] in bad and old[t] not in bad)),
        fixed=tuple(sorted(t for t in both if old[t] in bad and new[t] == "passed")),
        still_failing=tuple(sorted(t for t in both if old[t] in bad and new[t] in bad)),
        unchanged=sum(1 for t in both if old[t] == new[t]),
    )
