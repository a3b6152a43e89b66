"""``juxsdk.audit``: verify every report of stores and files in parallel and apply a policy.

Flow: the sources are listed lazily (a store's :meth:`~juxsdk.Store.list`, files, directories
and globs through :mod:`juxsdk.discovery`); the bytes of stored reports are fetched by a few
threads in this process (any :class:`~juxsdk.Store` works, nothing is sent to a worker but
bytes); each report is verified by :func:`juxsdk.verify_report` in a pool of worker
*processes* (``spawn`` start method: nothing but picklable values crosses — bytes or a file
path, the trust policy as DER bytes, the policy), judged by the evidence policy, and its
result comes back. At most ``4 × jobs`` reports are in flight, so memory stays bounded whatever
the number of stored reports. This process writes each verified result (and, for reports the
index does not know yet, the per-test outcomes read from the signed content) to the evidence
index.
"""

from __future__ import annotations

import collections
import datetime as dt
import itertools
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import attrs

from .. import _telemetry
from ..errors import JuxError
from ..junit import DEFAULT_MAX_BYTES
from ..models import StoredReport
from .policy import EvidencePolicy, Selection, evaluate, run_time
from .results import AuditResult, ReportAudit
from .trustspec import AllOf, portable, rebuild, signer_trust

log = logging.getLogger(__name__)

__all__ = ["audit", "default_jobs", "effective_trust", "iter_audit"]

#: Reports being fetched from one store ahead of verification.
FETCH_AHEAD = 8
#: Threads fetching stored reports.
FETCH_THREADS = 4
#: Results written to the index per transaction.
COMMIT_EVERY = 64
#: Audits of fewer reports than this run in the calling process (starting workers costs more).
SMALL_AUDIT = 8


def default_jobs() -> int:
    """The number of CPU cores this process may use (at least 1)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):
        return max(os.cpu_count() or 1, 1)


@attrs.frozen
class _Item:
    source: str
    path: str | None = None
    data: bytes | None = attrs.field(default=None, repr=False)
    store: str | None = None
    location: str | None = None
    stored_at: dt.datetime | None = None
    canonical_hash: str | None = None
    tests: bool = False
    error: JuxError | None = None


@attrs.frozen
class _Context:
    trust: Any
    policy: EvidencePolicy | None
    selection: Selection
    at: dt.datetime | None
    now: dt.datetime
    max_bytes: int
    index_path: str | None = None


def _result(item: _Item, status: str, reasons: Sequence[str], **kwargs: Any) -> ReportAudit:
    prefix = f"{item.source}: "
    return ReportAudit(
        source=item.source,
        status=status,
        reasons=tuple(r[len(prefix):] if r.startswith(prefix) else r for r in reasons),
        store=item.store,
        location=item.location,
        stored_at=item.stored_at,
        **{"canonical_hash": item.canonical_hash, **kwargs},
    )


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise JuxError(f"{path}: no such file", hint="check the path") from None
    except OSError as exc:
        raise JuxError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _claims(data: bytes, item: _Item, max_bytes: int) -> tuple[str | None, str | None, dt.datetime | None]:
    """``(canonical hash, project, run time)`` the bytes claim — NOT verified."""
    from ..junit import parse_report

    try:
        report = parse_report(data, source=item.source, max_bytes=max_bytes)
    except JuxError:
        return item.canonical_hash, None, item.stored_at
    return report.canonical_hash, report.project, run_time(report.properties) or item.stored_at


def check(item: _Item, ctx: _Context) -> ReportAudit:
    """Verify and judge one report (runs in a worker process, or in this one with ``jobs=1``)."""
    from ..xmldsig import verify_report
    from .testcases import TestOutcome, verified_outcome_rows

    if item.error is not None:
        return _result(item, "error", [item.error.message], error_type=type(item.error).__name__)
    try:
        data = item.data if item.data is not None else _read(item.path or item.source)
    except JuxError as exc:
        return _result(item, "error", [exc.message], error_type=type(exc).__name__)
    try:
        verified = verify_report(data, ctx.trust, at=ctx.at, source=item.source, max_bytes=ctx.max_bytes)
    except JuxError as exc:  # not verified: a failure, whatever the reason (tampered, untrusted, not XML…)
        digest, project, when = _claims(data, item, ctx.max_bytes)
        return attrs.evolve(
            _result(item, "failed", [exc.message], error_type=type(exc).__name__, claimed_project=project),
            canonical_hash=item.canonical_hash or digest,
            selected=ctx.selection.matches(project, when),
        )
    base = {
        "canonical_hash": verified.canonical_hash,
        "summary": verified.summary,
        "properties": verified.properties,
        "signature": verified.signature,
        "trust": verified.trust,
        "verified_at": verified.verified_at,
        "warnings": verified.warnings,
    }
    selected = ctx.selection.matches(verified.project, run_time(verified.properties) or item.stored_at)
    policy = ctx.policy if selected else None
    rows = None
    if item.tests and item.canonical_hash is None and _indexed(ctx, verified.canonical_hash):
        item = attrs.evolve(item, tests=False)  # a file whose outcomes the index already holds
    try:
        if item.tests or (policy is not None and policy.needs_testcases):
            rows = verified_outcome_rows(data, verified)
    except JuxError as exc:
        return _result(item, "failed", [exc.message], error_type=type(exc).__name__, **base)
    reasons: tuple[str, ...] = ()
    if policy is not None:
        testcases = [TestOutcome(*r) for r in rows] if rows is not None and policy.needs_testcases else None
        reasons = evaluate(
            policy, summary=verified.summary, properties=verified.properties, testcases=testcases, now=ctx.now
        )
    return _result(
        item,
        "violation" if reasons else "ok",
        reasons,
        selected=selected,
        testcases=rows if item.tests else None,
        **base,
    )


_WORKER_CONTEXT: _Context | None = None
_READERS: dict[str, Any] = {}


def _indexed(ctx: _Context, canonical_hash: str) -> bool:
    """True when the index already holds this report's outcomes (read-only look-up, any process)."""
    import sqlite3

    if ctx.index_path is None:
        return False
    try:
        db = _READERS.get(ctx.index_path)
        if db is None:
            uri = Path(ctx.index_path).resolve().as_uri() + "?mode=ro"
            db = _READERS[ctx.index_path] = sqlite3.connect(uri, uri=True, timeout=5.0, check_same_thread=False)
        row = db.execute(
            "SELECT 1 FROM reports WHERE canonical_hash = ? AND verified = 1 AND has_tests = 1", (canonical_hash,)
        ).fetchone()
    except sqlite3.Error:
        return False  # cannot tell: read the outcomes again
    return row is not None


def _init_worker(ctx: _Context) -> None:
    global _WORKER_CONTEXT
    _WORKER_CONTEXT = attrs.evolve(ctx, trust=rebuild(ctx.trust))


def _check_in_worker(item: _Item) -> ReportAudit:
    assert _WORKER_CONTEXT is not None, "worker not initialised"
    return check(item, _WORKER_CONTEXT)


# --- sources ---------------------------------------------------------------------------------


def _is_store(source: Any) -> bool:
    return callable(getattr(source, "list", None)) and callable(getattr(source, "get", None))


def _store_items(store: Any, wants_tests: Callable[[str], bool]) -> Iterator[_Item]:
    """The reports of a store with their bytes, fetched :data:`FETCH_AHEAD` ahead by threads."""
    name = str(getattr(store, "name", None) or type(store).__name__)

    def item(record: StoredReport, future: Future[bytes]) -> _Item:
        h = record.canonical_hash
        common = {
            "source": f"{name}:{h.partition(':')[2][:16]}",
            "store": name,
            "location": record.location,
            "stored_at": record.stored_at,
            "canonical_hash": h,
        }
        try:
            data = future.result()
        except JuxError as exc:
            return _Item(error=exc, **common)  # type: ignore[arg-type]
        return _Item(data=data, tests=wants_tests(h), **common)  # type: ignore[arg-type]

    pending: collections.deque[tuple[StoredReport, Future[bytes]]] = collections.deque()
    with ThreadPoolExecutor(max_workers=FETCH_THREADS, thread_name_prefix="jux-audit-fetch") as pool:
        try:
            for record in store.list():
                pending.append((record, pool.submit(store.get, record.canonical_hash)))
                if len(pending) >= FETCH_AHEAD:
                    yield item(*pending.popleft())
            while pending:
                yield item(*pending.popleft())
        finally:
            for _, future in pending:
                future.cancel()


def _items(sources: Iterable[Any], wants_tests: Callable[[str], bool], files_want_tests: bool) -> Iterator[_Item]:
    from ..discovery import expand_report_arg

    for source in sources:
        if _is_store(source):
            yield from _store_items(source, wants_tests)
            continue
        for path in expand_report_arg(source):
            yield _Item(source=str(path), path=str(path), tests=files_want_tests)


# --- dispatch --------------------------------------------------------------------------------


def _in_process(items: Iterator[_Item], ctx: _Context) -> Iterator[ReportAudit]:
    for item in items:
        yield check(item, ctx)


def _in_pool(items: Iterator[_Item], ctx: _Context, jobs: int) -> Iterator[ReportAudit]:
    import multiprocessing
    from concurrent.futures.process import BrokenProcessPool

    limit = 4 * jobs
    pool = ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(ctx,),
    )
    inflight: set[Future[ReportAudit]] = set()
    try:
        for item in items:
            if item.error is not None:
                yield check(item, ctx)
                continue
            inflight.add(pool.submit(_check_in_worker, item))
            if len(inflight) >= limit:
                done, inflight = wait(inflight, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
        while inflight:
            done, inflight = wait(inflight, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
    except BrokenProcessPool as exc:
        raise JuxError(
            "an audit worker process died (out of memory, or killed)",
            hint="retry with fewer workers (-j 1) to find the report that causes it",
        ) from exc
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def effective_trust(trust: Any, policy: EvidencePolicy | None) -> Any:
    """The trust policy an audit verifies with: ``trust``, the policy's ``[signers]``, or both.

    Raises:
        juxsdk.errors.ConfigError: neither is given (there is no default trust), or a CA
            bundle of the policy cannot be read.
    """
    from ..errors import ConfigError

    signers = signer_trust(policy.signers, label=f"policy {policy.label}") if (
        policy is not None and policy.signers.configured) else None
    if trust is None and signers is None:
        raise ConfigError(
            "an audit needs a trust policy: who may have signed the reports",
            hint="pass trust=..., or [signers] in the evidence policy",
            cli_hint="give --cert/--pubkey/--ca, or [signers] in the evidence policy",
        )
    if trust is None:
        return signers
    if signers is None:
        return trust
    return AllOf((trust, signers))


def _describe(trust: Any) -> str:
    from ..trust import TrustedCA, TrustedCertificates, TrustedPublicKeys, UnsafeAcceptAnyKey
    from .trustspec import PolicySigners

    if isinstance(trust, AllOf):
        return " and ".join(_describe(p) for p in trust.policies)
    if isinstance(trust, TrustedCertificates):
        return f"{len(trust.certificates)} pinned certificate(s)"
    if isinstance(trust, TrustedPublicKeys):
        return f"{len(trust.keys)} pinned public key(s)"
    if isinstance(trust, TrustedCA):
        return f"certificates issued by {len(trust.roots)} trusted CA root(s)"
    if isinstance(trust, UnsafeAcceptAnyKey):
        return "UNSAFE: any key (integrity only)"
    if isinstance(trust, PolicySigners):
        return f"the signers allowed by {trust.label}"
    return type(trust).__name__


def _run(
    sources: Iterable[Any],
    ctx: _Context,
    jobs: int,
    index: Any,
    used: list[int] | None = None,
) -> Iterator[ReportAudit]:
    def wants_tests(canonical_hash: str) -> bool:
        return index is not None and not index.has_testcases(canonical_hash)

    items = _items(sources, wants_tests, files_want_tests=index is not None)
    if index is not None:
        ctx = attrs.evolve(ctx, index_path=str(index.path))
    carried = portable(ctx.trust) if jobs > 1 else None
    head: list[_Item] = []
    if carried is not None:  # a handful of reports is done before worker processes would start
        head = list(itertools.islice(items, SMALL_AUDIT))
        if len(head) < SMALL_AUDIT:
            carried = None
    if used is not None:
        used.append(1 if carried is None else jobs)
    if carried is None:
        results = _in_process(itertools.chain(head, items), ctx)
    else:
        results = _in_pool(itertools.chain(head, items), attrs.evolve(ctx, trust=carried), jobs)
    label = ctx.policy.label if ctx.policy is not None else None
    written = 0
    try:
        for result in results:
            if index is not None and index.record(result, policy=label):
                written += 1
                if written % COMMIT_EVERY == 0:
                    index.commit()
            yield attrs.evolve(result, testcases=None) if result.testcases is not None else result
    finally:
        if index is not None:
            index.commit()


def _context(
    trust: Any, policy: EvidencePolicy | None, select: Selection | None, at: dt.datetime | None,
    now: dt.datetime | None, max_bytes: int,
) -> _Context:
    selection = select if select is not None else (policy.select if policy is not None else Selection())
    return _Context(
        trust=effective_trust(trust, policy), policy=policy, selection=selection, at=at,
        now=now or dt.datetime.now(dt.UTC), max_bytes=max_bytes,
    )


def _jobs(jobs: int | None, trust: Any) -> int:
    wanted = default_jobs() if jobs is None else max(int(jobs), 1)
    return 1 if wanted > 1 and portable(trust) is None else wanted


def iter_audit(
    sources: Iterable[Any],
    *,
    trust: Any = None,
    policy: EvidencePolicy | None = None,
    jobs: int | None = None,
    index: Any = None,
    at: dt.datetime | None = None,
    now: dt.datetime | None = None,
    select: Selection | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Iterator[ReportAudit]:
    """Audit reports one by one, as they finish (see :func:`audit`; same arguments and errors).

    Yields:
        One :class:`~juxsdk.evidence.results.ReportAudit` per report, unselected ones included
        (``selected`` False). Per-test outcomes are written to the index, never kept.
    """
    ctx = _context(trust, policy, select, at, now, max_bytes)
    yield from _run(sources, ctx, _jobs(jobs, ctx.trust), index)


def audit(
    sources: Iterable[Any],
    *,
    trust: Any = None,
    policy: EvidencePolicy | None = None,
    jobs: int | None = None,
    index: Any = None,
    at: dt.datetime | None = None,
    now: dt.datetime | None = None,
    select: Selection | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    progress: Callable[[ReportAudit], None] | None = None,
) -> AuditResult:
    """Verify every report of the given stores and files, and judge each against a policy.

    Example::

        import juxsdk
        from juxsdk.evidence import load_policy

        policy = load_policy("release.toml")
        with juxsdk.Index() as index:
            result = juxsdk.audit([store, "build/reports/"], policy=policy, index=index,
                                  trust=juxsdk.TrustedCA.from_pem_file("ci-ca.pem"))
        print(result.ok, result.counts)
        Path("audit.xml").write_bytes(result.to_junit_xml())

    Worker processes are started with the ``spawn`` method: a script that calls ``audit`` with
    ``jobs > 1`` must guard its entry point with ``if __name__ == "__main__":`` (as for any
    :mod:`multiprocessing` program). Fewer than 8 reports are verified in the calling process.

    Args:
        sources: :class:`~juxsdk.Store` objects (every stored report is audited) and files,
            directories (their ``TEST-*.xml``, else every ``*.xml``) or glob patterns.
        trust: A :class:`~juxsdk.TrustPolicy` (pinned certificates, keys or a CA). With a
            policy that has ``[signers]`` it may be None; with both, both must accept a signer.
        policy: The evidence policy (:func:`juxsdk.evidence.load_policy`); None: verification only.
        jobs: Worker processes (default: the CPU cores this process may use; 1: in this
            process). A trust policy that cannot be pickled is applied in this process.
        index: An :class:`~juxsdk.Index` to keep current (verified results and per-test
            outcomes), or None.
        at: Check certificate validity at this time (default: now).
        now: Reference time for ``max_age_days`` (default: now).
        select: Which reports to audit (default: the policy's ``[select]``, else all). Reports
            outside it are verified and indexed, and counted as ``unselected``.
        max_bytes: Largest report accepted, in bytes.
        progress: Called with each result as it finishes.

    Returns:
        An :class:`~juxsdk.evidence.results.AuditResult`; ``.ok`` is True when every selected
        report verified and complies.

    Raises:
        juxsdk.errors.ConfigError: no trust policy at all, or an unreadable CA bundle.
        juxsdk.errors.ReportError: a file argument does not exist or a pattern matches nothing.
        juxsdk.errors.StoreError: a store cannot be listed.
        juxsdk.errors.EvidenceIndexError: the index cannot be written.
        juxsdk.errors.JuxError: a worker process died.
    """
    started = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    ctx = _context(trust, policy, select, at, now, max_bytes)
    used: list[int] = []
    reports: list[ReportAudit] = []
    unselected = 0
    with _telemetry.operation("audit", log, policy=policy.label if policy is not None else None) as op:
        for result in _run(sources, ctx, _jobs(jobs, ctx.trust), index, used):
            if progress is not None:
                progress(result)
            if result.selected:
                reports.append(result)
            else:
                unselected += 1
        op.set(reports=len(reports), unselected=unselected, jobs=used[0] if used else 1,
               outcome="ok" if all(r.ok for r in reports) else "violations")
    return AuditResult(
        reports=tuple(reports),
        unselected=unselected,
        policy=policy.label if policy is not None else None,
        trust=_describe(ctx.trust),
        started=started,
        duration=time.perf_counter() - t0,
        jobs=used[0] if used else 1,
    )
