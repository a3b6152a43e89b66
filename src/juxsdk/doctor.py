"""Health checks of a configured juxsdk installation (``jux doctor``).

:func:`diagnose` loads nothing itself: it takes a loaded :class:`~juxsdk.config.JuxConfig` and a
:class:`~juxsdk.registry.Registry`, builds every selected backend and runs small checks, each a
:class:`Check` (a name and a function returning a :class:`CheckResult`). One line per check says
what is wrong and what to do (:attr:`CheckResult.hint`).

Where the checks come from:

* the core, for every backend of a kind: a signer's certificate (days until it expires, a
  warning under :data:`EXPIRY_WARNING_DAYS`; matches the key; each certificate issued by the
  next one) and a test signature (the backend's ``check()`` when it has one — PKCS#11 logs in
  to the token, AWS KMS asks the key — else a sample report signed by the core and verified
  against the signer's public key); a publisher's circuit (:mod:`juxsdk.breaker`);
* the hook ``juxsdk_doctor_checks(kind, name, backend, config)``
  (:mod:`juxsdk.hookspecs`): a backend's plugin contributes its own checks — the built-ins
  check a filesystem store's root, an S3 bucket with a conditional put of a probe object that
  is then deleted, an HTTP publisher's endpoint, TLS and token (a ``GET``, never a
  submission), a PKCS#11 PIN variable;
* the outbox (backlog, dead letters, age of the oldest entry) and the clock (local time
  plausible; skew against a publisher's ``Date`` header, RFC 9110 §6.6.1).

A check raising :class:`~juxsdk.errors.JuxError` fails with the error's message and hint; any
other exception fails as ``check crashed (<class>)`` — never a traceback.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import itertools
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from .errors import JuxError

__all__ = [
    "EXPIRY_WARNING_DAYS",
    "Check",
    "CheckResult",
    "DoctorReport",
    "Finding",
    "diagnose",
    "fail",
    "ok",
    "run_check",
    "skip",
    "warn",
]

log = logging.getLogger(__name__)

#: A certificate expiring in fewer days than this is a warning.
EXPIRY_WARNING_DAYS = 30
#: Clock skew against a server's ``Date`` header that is a warning, seconds.
CLOCK_SKEW_WARNING = 300.0
#: Outbox entries older than this are a warning, seconds (one day).
OUTBOX_AGE_WARNING = 86400.0
STATUSES = ("ok", "warn", "fail", "skip")


@attrs.frozen
class CheckResult:
    """What one check found.

    Attributes:
        status: ``"ok"``, ``"warn"`` (works, but act soon), ``"fail"`` or ``"skip"`` (not applicable).
        message: One line, no secret.
        hint: What to do about it, for ``warn`` and ``fail``.
        details: JSON-ready facts (days left, free bytes, HTTP status…).
    """

    status: str = attrs.field(validator=attrs.validators.in_(STATUSES))
    message: str
    hint: str | None = None
    details: Mapping[str, Any] = attrs.field(factory=dict)


def ok(message: str, **details: Any) -> CheckResult:
    """A passing :class:`CheckResult`."""
    return CheckResult("ok", message, None, details)


def warn(message: str, hint: str | None = None, **details: Any) -> CheckResult:
    """A warning :class:`CheckResult` (exit code stays 0)."""
    return CheckResult("warn", message, hint, details)


def fail(message: str, hint: str | None = None, **details: Any) -> CheckResult:
    """A failing :class:`CheckResult` (``jux doctor`` exits 1)."""
    return CheckResult("fail", message, hint, details)


def skip(message: str, **details: Any) -> CheckResult:
    """A :class:`CheckResult` for a check that does not apply."""
    return CheckResult("skip", message, None, details)


@attrs.frozen
class Check:
    """One named health check.

    Attributes:
        name: Dotted name shown first on its line, e.g. ``"store.s3.write"``.
        run: Called without arguments; returns a :class:`CheckResult` (or raises
            :class:`~juxsdk.errors.JuxError`, which fails the check with its message and hint).
    """

    name: str
    run: Callable[[], CheckResult]


@attrs.frozen
class Finding:
    """A check's name with its result.

    Attributes:
        check: The check's name.
        status: As :attr:`CheckResult.status`.
        message: As :attr:`CheckResult.message`.
        hint: As :attr:`CheckResult.hint`.
        details: As :attr:`CheckResult.details`.
        config_error: The configuration itself is wrong (``jux doctor`` exits 2).
    """

    check: str
    status: str
    message: str
    hint: str | None = None
    details: Mapping[str, Any] = attrs.field(factory=dict)
    config_error: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``jux doctor --json``): ``check``, ``status``, ``message``, ``hint``, ``details``."""
        return {"check": self.check, "status": self.status, "message": self.message, "hint": self.hint,
                "details": dict(self.details)}


@attrs.frozen
class DoctorReport:
    """Everything :func:`diagnose` found, in order.

    Attributes:
        findings: One per check.
    """

    findings: tuple[Finding, ...]

    @property
    def exit_code(self) -> int:
        """2 when the configuration is wrong, 1 when a check failed, else 0 (warnings included)."""
        if any(f.config_error for f in self.findings):
            return 2
        return 1 if any(f.status == "fail" for f in self.findings) else 0

    @property
    def healthy(self) -> bool:
        """True when no check failed."""
        return self.exit_code == 0

    def counts(self) -> dict[str, int]:
        """Number of findings per status."""
        return {s: sum(1 for f in self.findings if f.status == s) for s in STATUSES}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``healthy``, ``exit_code``, ``counts``, ``checks`` (list of findings)."""
        return {"healthy": self.healthy, "exit_code": self.exit_code, "counts": self.counts(),
                "checks": [f.to_dict() for f in self.findings]}


def run_check(check: Check) -> Finding:
    """Run one check, turning errors into failing findings.

    Args:
        check: The check.

    Returns:
        Its :class:`Finding`. A :class:`~juxsdk.errors.JuxError` becomes a ``fail`` with its
        message and hint; any other exception a ``fail`` naming only its class (an unknown
        exception's text may carry a secret).
    """
    try:
        result = check.run()
    except JuxError as exc:
        return Finding(check.name, "fail", exc.message, exc.hint)
    except Exception as exc:
        log.debug("doctor check %s crashed", check.name, exc_info=True)
        return Finding(check.name, "fail", f"check crashed ({type(exc).__name__})",
                       "run with -v for the traceback; report it to the backend's authors")
    if not isinstance(result, CheckResult):
        return Finding(check.name, "fail", f"check returned {type(result).__name__}, not a CheckResult",
                       "report it to the backend's authors")
    return Finding(check.name, result.status, result.message, result.hint, result.details)


# --- the core's checks ---------------------------------------------------------------------------


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _describe(cert: Any) -> str:
    return str(cert.subject.rfc4514_string() or cert.serial_number)


def certificate_checks(signer: Any, prefix: str, *, now: dt.datetime | None = None) -> list[Check]:
    """Checks of a signer's certificate chain: validity (warning under 30 days), key match, issuers.

    Args:
        signer: A :class:`~juxsdk.protocols.Signer`.
        prefix: Name prefix, e.g. ``"signer.file"``.
        now: The time to judge validity at (default: now, UTC).

    Returns:
        ``<prefix>.certificate`` and ``<prefix>.chain``.
    """

    def validity() -> CheckResult:
        chain = list(signer.certificate_chain())
        if not chain:
            return skip("no certificate configured (KeyInfo carries the public key)")
        at = now or _utcnow()
        leaf = chain[0]
        from cryptography.hazmat.primitives import serialization

        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        der = serialization.Encoding.DER
        if leaf.public_key().public_bytes(der, spki) != signer.public_key().public_bytes(der, spki):
            return fail(f"certificate {_describe(leaf)} does not match the signing key",
                        "configure the certificate issued for this key (or the key it was issued for)")
        for cert in chain:
            if at < cert.not_valid_before_utc:
                return fail(f"certificate {_describe(cert)} is not valid before {cert.not_valid_before_utc:%Y-%m-%d}",
                            "check the clock, or use a certificate that is valid now")
            if at >= cert.not_valid_after_utc:
                return fail(f"certificate {_describe(cert)} expired on {cert.not_valid_after_utc:%Y-%m-%d}",
                            "renew it (docs/how-to/key-rotation.md); reports signed from now on would not verify",
                            expired=True)
        days = min((c.not_valid_after_utc - at).total_seconds() for c in chain) / 86400
        soonest = min(chain, key=lambda c: c.not_valid_after_utc)
        message = (f"{_describe(leaf)} matches the key; {_describe(soonest)} expires on "
                   f"{soonest.not_valid_after_utc:%Y-%m-%d} ({int(days)} days)")
        if days < EXPIRY_WARNING_DAYS:
            return warn(message, f"renew it before it expires (under {EXPIRY_WARNING_DAYS} days left; "
                                 "docs/how-to/key-rotation.md)", days_left=int(days))
        return ok(message, days_left=int(days))

    def issuers() -> CheckResult:
        chain = list(signer.certificate_chain())
        if len(chain) < 2:
            return skip("no intermediate certificates configured")
        for child, parent in itertools.pairwise(chain):
            try:
                child.verify_directly_issued_by(parent)
            except Exception as exc:  # noqa: BLE001 - cryptography raises ValueError, TypeError, InvalidSignature
                return fail(f"{_describe(child)} is not issued by {_describe(parent)} ({type(exc).__name__})",
                            "list the signing certificate first, then each issuer in order")
        return ok(f"{len(chain)} certificates, each issued by the next")

    return [Check(f"{prefix}.certificate", validity), Check(f"{prefix}.chain", issuers)]


_SAMPLE = (b'<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="jux-doctor" tests="1" failures="0" '
           b'errors="0" skipped="0"><testcase classname="doctor" name="probe"/></testsuite>\n')


def signature_check(signer: Any, prefix: str) -> Check:
    """A test signature: the backend's ``check()`` when it has one, else a sample report signed and verified.

    Args:
        signer: A :class:`~juxsdk.protocols.Signer`.
        prefix: Name prefix, e.g. ``"signer.pkcs11"``.

    Returns:
        ``<prefix>.signature``.
    """

    def run() -> CheckResult:
        own = getattr(signer, "check", None)
        if callable(own):
            lines = [str(x) for x in own()]
            return ok("; ".join(lines) or "the key signs")
        from .trust import TrustedPublicKeys
        from .xmldsig import sign_report, verify_report

        started = time.perf_counter()
        signed = sign_report(_SAMPLE, signer)
        verify_report(signed.data, TrustedPublicKeys([signer.public_key()]))
        ms = (time.perf_counter() - started) * 1000
        return ok(f"a test report signed ({signer.algorithm}) and verified in {ms:.0f} ms", ms=round(ms, 1))

    return Check(f"{prefix}.signature", run)


def circuit_check(publisher: Any, prefix: str) -> Check:
    """The last known state of the publisher's circuit breaker (``<prefix>.circuit``)."""

    def run() -> CheckResult:
        from .breaker import endpoint_key, read_states

        inner = getattr(publisher, "inner", publisher)
        key = endpoint_key(inner)
        state = read_states().get(key)
        if state is None:
            return ok("closed (no failure recorded)", state="closed")
        what = state.get("state", "unknown")
        when = state.get("updated_at", "?")
        if what == "closed":
            return ok(f"closed (since {when})", state=what)
        return warn(f"{what} since {when} after {state.get('failures')} consecutive failures "
                    f"(last: {state.get('last_error') or 'unknown'})",
                    "the endpoint was failing in the last run; see the publisher's reachability check above",
                    state=what, failures=state.get("failures"))

    return Check(f"{prefix}.circuit", run)


def outbox_checks(config: Any, *, now: dt.datetime | None = None) -> list[Check]:
    """Backlog, dead letters and the age of the oldest entry of the outbox (``outbox.*``)."""

    def run() -> CheckResult:
        from .outbox import Outbox

        box = Outbox.from_config(config)
        try:
            queued = box.entries()
            dead = box.dead_entries()
        finally:
            box.close()
        at = now or _utcnow()
        oldest = min((e.created_at for e in queued), default=None)
        age = (at - oldest).total_seconds() if oldest is not None else 0.0
        details = {"queued": len(queued), "dead": len(dead), "oldest_age_seconds": round(age)}
        message = f"{len(queued)} queued, {len(dead)} dead letters"
        if oldest is not None:
            message += f", oldest queued {_age(age)} ago"
        if dead:
            return warn(message, "`jux queue list` shows why the server refused them; `jux queue retry` requeues them",
                        **details)
        if queued and age > OUTBOX_AGE_WARNING:
            return warn(message, "`jux publish --queue` sends them; check the publisher above", **details)
        return ok(message, **details)

    return [Check("outbox", run)]


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def clock_check(findings: Iterable[Finding], *, now: dt.datetime | None = None) -> Check:
    """Clock sanity: the local time is plausible and close to a server's ``Date`` header.

    A check that talked to a server may put its HTTP ``Date`` header (RFC 9110 §6.6.1) in
    ``details["server_date"]``; the largest skew found is judged.
    """

    def run() -> CheckResult:
        at = now or _utcnow()
        if at.year < 2024:
            return fail(f"the clock says {at:%Y-%m-%d}", "set the system clock (NTP): certificates and "
                                                         "timestamps depend on it")
        skews: list[tuple[float, str]] = []
        for f in findings:
            raw = f.details.get("server_date") if isinstance(f.details, Mapping) else None
            if not isinstance(raw, str):
                continue
            try:
                server = email.utils.parsedate_to_datetime(raw)
            except (TypeError, ValueError):
                continue
            if server.tzinfo is None:
                continue
            skews.append(((at - server).total_seconds(), f.check))
        if not skews:
            return ok(f"{at:%Y-%m-%dT%H:%M:%SZ} (no server to compare with)")
        skew, where = max(skews, key=lambda s: abs(s[0]))
        message = f"{at:%Y-%m-%dT%H:%M:%SZ}, {abs(skew):.0f} s {'ahead of' if skew > 0 else 'behind'} {where}"
        if abs(skew) > CLOCK_SKEW_WARNING:
            return warn(message, "synchronise the clock (NTP): signatures carry the local time",
                        skew_seconds=round(skew))
        return ok(message, skew_seconds=round(skew))

    return Check("clock", run)


# --- orchestration -------------------------------------------------------------------------------


def _selected(config: Any) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if config.active_signer:
        out.append(("signer", config.active_signer))
    mode = str(getattr(config.storage_mode, "value", config.storage_mode))
    if mode != "api":
        out += [("store", n) for n in config.stores]
    if mode != "local":
        out += [("publisher", n) for n in config.publishers]
    return out


def _hook_checks(registry: Any, kind: str, name: str, backend: Any, config: Any) -> list[Check]:
    inner = getattr(backend, "inner", backend)
    contributed = registry.plugin_manager.hook.juxsdk_doctor_checks(kind=kind, name=name, backend=inner, config=config)
    checks: list[Check] = []
    for group in contributed:
        for check in group or ():
            if isinstance(check, Check):
                checks.append(check)
            else:
                checks.append(Check(f"{kind}.{name}.plugin", lambda c=check: fail(  # type: ignore[misc]
                    f"a plugin returned {type(c).__name__}, not a juxsdk.doctor.Check",
                    "report it to the plugin's authors")))
    return checks


def diagnose(config: Any, registry: Any, *, sources: Iterable[str] = (), now: dt.datetime | None = None,
             progress: Callable[[Finding], None] | None = None) -> DoctorReport:
    """Run every check of the configured installation.

    Args:
        config: The loaded :class:`~juxsdk.config.JuxConfig`.
        registry: The :class:`~juxsdk.registry.Registry` to build backends and collect hook checks from.
        sources: Configuration files that were read (shown in the ``config`` finding).
        now: The time to judge certificates, the outbox and the clock at (default: now, UTC).
        progress: Called with each finding as soon as it is known.

    Returns:
        The :class:`DoctorReport`. Configuration problems found while building a backend
        (unknown name, refused options) are findings with ``config_error`` set; nothing is raised
        for a failing check.
    """
    findings: list[Finding] = []

    def add(finding: Finding) -> None:
        findings.append(finding)
        if progress is not None:
            progress(finding)

    files = [str(s) for s in sources]
    add(Finding("config", "ok", "loaded strictly from " + (", ".join(files) if files else "defaults and environment"),
                details={"files": files}))
    selected = _selected(config)
    if not selected:
        add(Finding("backends", "warn", "no signer, store or publisher selected",
                    "set signer, stores and publishers (`jux config init` writes a starter file)"))
    for kind, name in selected:
        prefix = f"{kind}.{name}"
        try:
            options = registry.options(kind, name, config)
        except JuxError as exc:
            add(Finding(prefix, "fail", exc.message, exc.hint, config_error=True))
            continue
        backend: Any = None
        try:
            try:
                backend = registry.get(kind, name).cls(options)
            except JuxError as exc:
                add(Finding(prefix, "fail", f"cannot be built: {exc.message}", exc.hint))
                continue
            if kind == "publisher":
                from .breaker import guard

                backend = guard(backend, config)
            checks = _hook_checks(registry, kind, name, backend, config)
            if kind == "signer":
                checks += [*certificate_checks(backend, prefix, now=now), signature_check(backend, prefix)]
            elif kind == "publisher":
                checks.append(circuit_check(backend, prefix))
            if not checks:
                add(Finding(prefix, "ok", "built (the backend brings no checks)"))
            for check in checks:
                add(run_check(check))
        finally:
            close = getattr(backend, "close", None)
            if callable(close):
                try:
                    close()
                except Exception:
                    log.debug("closing %s failed", prefix, exc_info=True)
    if any(kind == "publisher" for kind, _ in selected):
        for check in outbox_checks(config, now=now):
            add(run_check(check))
    add(run_check(clock_check(list(findings), now=now)))
    return DoctorReport(tuple(findings))
