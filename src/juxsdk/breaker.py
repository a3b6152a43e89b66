"""A circuit breaker per publisher endpoint, and the publisher boundary that applies it.

Without it, a CI job submitting many reports while the Jux API server is down waits for every
report's own timeouts and retries (``max_attempts`` × backoff each). With it, after
``failure_threshold`` consecutive transient failures to one endpoint the circuit **opens**:
further publishes in the same process fail at once with :class:`~juxsdk.errors.CircuitOpenError`
(a transient error, so the one publish step queues the report in ``cache`` mode, and
``details["retry_after"]`` tells the outbox when to try again). After ``cooldown`` seconds the
circuit is **half-open**: one publish goes through as a probe (the others still fail at once);
its success closes the circuit, its failure opens it for another cooldown.

What counts: a :class:`~juxsdk.errors.TransientPublishError` (network, timeout, 5xx, 429 past its
budget) or an unexpected exception is a failure; a receipt or a
:class:`~juxsdk.errors.PermanentPublishError` (the endpoint answered: 401, 404, 422…) is a
success for the breaker. Circuits are kept per process, keyed by publisher name and endpoint
(the same endpoint configured twice shares one), in the spirit of Nygard's *Release It!*
pattern (closed → open → half-open).

Every transition is logged (``juxsdk.breaker``: WARNING when it opens, INFO when it closes) and
written to ``<user data dir>/breakers/<key hash>.json`` so that ``jux doctor`` — another
process — can show the last state of each configured publisher's circuit.

:class:`GuardedPublisher` is the publisher boundary: :meth:`juxsdk.registry.Registry.create`
puts one around every publisher it builds. It applies the breaker, instruments each publish
(:mod:`juxsdk._telemetry`: span ``jux.publish``, metrics, log event) and records the outcome in
the signing log (:mod:`juxsdk.signing_log`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import _telemetry
from .errors import CircuitOpenError, JuxError, PermanentPublishError
from .models import PublishReceipt, Report, SignedReport

__all__ = [
    "CircuitBreaker",
    "GuardedPublisher",
    "breaker_for",
    "guard",
    "read_states",
    "reset_breakers",
    "state_dir",
]

log = logging.getLogger(__name__)
publish_log = logging.getLogger("juxsdk.publish")

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


def state_dir(environ: Any = None) -> Path:
    """Where circuit states are written for ``jux doctor``: ``<user data dir>/breakers``."""
    from .config.paths import user_data_dir

    return user_data_dir(environ) / "breakers"


def _utc() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class CircuitBreaker:
    """Consecutive-failure circuit breaker for one endpoint (thread-safe).

    Args:
        key: What it guards, e.g. ``"http http://127.0.0.1:4000/api/v1/junit/submit"``.
        failure_threshold: Consecutive failures that open the circuit (>= 1).
        cooldown: Seconds the circuit stays open before one probe is let through.
        clock: Monotonic clock, seconds (for tests).
        persist: Write each transition to :func:`state_dir` (for ``jux doctor``).
    """

    def __init__(self, key: str, *, failure_threshold: int = 5, cooldown: float = 30.0,
                 clock: Callable[[], float] = time.monotonic, persist: bool = True) -> None:
        self.key = key
        self.failure_threshold = max(int(failure_threshold), 1)
        self.cooldown = float(cooldown)
        self._clock = clock
        self._persist = persist
        self._lock = threading.Lock()
        self.state = CLOSED
        self.failures = 0
        self.opened_at: float | None = None
        self.last_error: str | None = None
        self._probing = False

    def before(self) -> None:
        """Call before trying the endpoint.

        Raises:
            CircuitOpenError: the circuit is open (cooldown not over), or half-open with a
                probe already under way.
        """
        with self._lock:
            if self.state == CLOSED:
                return
            now = self._clock()
            remaining = (self.opened_at or now) + self.cooldown - now
            if self.state == OPEN and remaining <= 0:
                self.state = HALF_OPEN
                self._probing = False
                self._transition("half-open: one probe goes through")
            if self.state == HALF_OPEN and not self._probing:
                self._probing = True
                return
            wait = max(remaining, 0.0) if self.state == OPEN else self.cooldown
        raise CircuitOpenError(
            f"not sent to {self.key}: the circuit is open after {self.failures} consecutive transient "
            f"failures (last: {self.last_error or 'unknown'}); next try in {wait:.0f} s",
            hint="the report is queued in cache mode; `jux publish --queue` sends it once the server is back "
                 "(`jux doctor` checks the endpoint)",
            details={"circuit": self.state, "retry_after": round(wait, 3), "failures": self.failures},
        )

    def success(self) -> None:
        """The endpoint answered (a receipt or a permanent error): close the circuit."""
        with self._lock:
            was = self.state
            self.failures = 0
            self._probing = False
            if was != CLOSED:
                self.state = CLOSED
                self.opened_at = None
                self._transition("closed: the endpoint answered again")

    def failure(self, error: BaseException) -> None:
        """A transient failure (or an unexpected exception): count it; open at the threshold."""
        with self._lock:
            self.failures += 1
            self.last_error = error.message if isinstance(error, JuxError) else type(error).__name__
            self._probing = False
            if self.state == HALF_OPEN or (self.state == CLOSED and self.failures >= self.failure_threshold):
                self.state = OPEN
                self.opened_at = self._clock()
                self._transition(f"open for {self.cooldown:g} s after {self.failures} consecutive transient "
                                 f"failures; reports are queued at once meanwhile")

    def snapshot(self) -> dict[str, Any]:
        """The current state as a JSON-ready dict."""
        with self._lock:
            return self._snapshot()

    def _snapshot(self) -> dict[str, Any]:
        return {"key": self.key, "state": self.state, "failures": self.failures,
                "failure_threshold": self.failure_threshold, "cooldown": self.cooldown,
                "last_error": self.last_error, "updated_at": _utc(), "pid": os.getpid()}

    def _transition(self, what: str) -> None:
        level = logging.WARNING if self.state == OPEN else logging.INFO
        _telemetry.event(log, level, f"breaker.{self.state}", "circuit of %s %s", self.key, what,
                         backend=self.key.split(" ", 1)[0], failures=self.failures, state=self.state)
        if self._persist:
            _write_state(self.key, self._snapshot())


def _state_file(key: str, directory: Path | None = None) -> Path:
    return (directory or state_dir()) / (hashlib.sha256(key.encode("utf-8")).hexdigest()[:24] + ".json")


def _write_state(key: str, data: dict[str, Any]) -> None:
    from .keys import write_private_file

    try:
        write_private_file(_state_file(key), json.dumps(data, sort_keys=True).encode("utf-8"), overwrite=True)
    except JuxError as exc:  # visibility only: never fail a publish over it
        log.debug("circuit state of %s not written: %s", key, exc.message)


def read_states(directory: Path | None = None) -> dict[str, dict[str, Any]]:
    """The last written state of every circuit, by key (what ``jux doctor`` shows).

    Args:
        directory: Where states are written (default :func:`state_dir`).

    Returns:
        ``{key: {"state", "failures", "last_error", "updated_at", "pid", …}}``; unreadable files
        are skipped.
    """
    out: dict[str, dict[str, Any]] = {}
    base = directory or state_dir()
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return out
    for name in names:
        if not name.endswith(".json"):
            continue
        try:
            data = json.loads((base / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("key"), str):
            out[data["key"]] = data
    return out


_breakers: dict[str, CircuitBreaker] = {}
_breakers_lock = threading.Lock()


def breaker_for(key: str, *, failure_threshold: int = 5, cooldown: float = 30.0) -> CircuitBreaker:
    """The process-wide breaker of ``key`` (created on first use; later calls update its settings)."""
    with _breakers_lock:
        breaker = _breakers.get(key)
        if breaker is None:
            breaker = _breakers[key] = CircuitBreaker(key, failure_threshold=failure_threshold, cooldown=cooldown)
        else:
            breaker.failure_threshold = max(int(failure_threshold), 1)
            breaker.cooldown = float(cooldown)
        return breaker


def reset_breakers() -> None:
    """Forget every circuit of this process (tests; a long-lived process after a known outage)."""
    with _breakers_lock:
        _breakers.clear()


def endpoint_key(publisher: Any) -> str:
    """``"<name> <endpoint>"`` for a publisher (its ``endpoint``, else ``base_url``, else its name only)."""
    name = str(getattr(publisher, "name", type(publisher).__name__))
    where = getattr(publisher, "endpoint", None) or getattr(publisher, "base_url", None)
    return f"{name} {where}" if isinstance(where, str) and where else name


class GuardedPublisher:
    """A publisher behind the boundary: circuit breaker, instrumentation and signing log.

    Behaves as the publisher it wraps (every other attribute is the wrapped one's: ``endpoint``,
    ``options``, ``close``…).

    Args:
        inner: The publisher.
        breaker: Its endpoint's breaker, or None (no breaker).
        signing_log: Where publish outcomes are recorded, or None.
    """

    def __init__(self, inner: Any, *, breaker: CircuitBreaker | None = None, signing_log: Any = None) -> None:
        self.inner = inner
        self.name: str = inner.name
        self.Options = inner.Options
        self.breaker = breaker
        self.signing_log = signing_log

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.inner, attr)

    def __repr__(self) -> str:
        return f"GuardedPublisher({self.inner!r})"

    def publish(self, report: Report | SignedReport) -> PublishReceipt:
        """Publish through the breaker; see :meth:`juxsdk.protocols.Publisher.publish`.

        Raises:
            CircuitOpenError: the circuit is open (nothing was sent).
            juxsdk.errors.TransientPublishError, PermanentPublishError: as the publisher.
        """
        breaker = self.breaker
        with _telemetry.operation("publish", publish_log, backend=self.name,
                                  canonical_hash=report.canonical_hash, size=len(report.data)) as op:
            try:
                if breaker is not None:
                    breaker.before()
                receipt: PublishReceipt = self.inner.publish(report)
            except CircuitOpenError as exc:
                op.set(outcome="circuit-open")
                self._record(report, "failed", type(exc).__name__)
                raise
            except PermanentPublishError as exc:
                if breaker is not None:
                    breaker.success()
                self._record(report, "rejected", _detail(exc))
                raise
            except BaseException as exc:
                if breaker is not None and isinstance(exc, Exception):
                    breaker.failure(exc)
                self._record(report, "failed", _detail(exc))
                raise
            if breaker is not None:
                breaker.success()
            op.set(outcome=receipt.status, run_id=receipt.run_id)
            self._record(report, "duplicate" if receipt.status == "duplicate" else "ok",
                         f"run {receipt.run_id}" if receipt.run_id else None)
            return receipt

    def _record(self, report: Report | SignedReport, outcome: str, detail: str | None) -> None:
        if self.signing_log is not None:
            self.signing_log.record("publish", canonical_hash=report.canonical_hash,
                                    signature=getattr(report, "signature", None), backend=self.name,
                                    outcome=outcome, detail=detail)

    def close(self) -> None:
        """Close the wrapped publisher."""
        self.inner.close()


def _detail(exc: BaseException) -> str:
    status = getattr(exc, "status", None)
    return f"{type(exc).__name__} (HTTP {status})" if isinstance(status, int) else type(exc).__name__


def guard(publisher: Any, config: Any = None) -> Any:
    """Put ``publisher`` behind the boundary configured by ``[circuit_breaker]`` and ``[signing_log]``.

    Args:
        publisher: A publisher instance (already guarded: returned as is).
        config: A :class:`juxsdk.config.JuxConfig`, or None for the defaults.

    Returns:
        A :class:`GuardedPublisher`.
    """
    if isinstance(publisher, GuardedPublisher):
        return publisher
    from .signing_log import SigningLog

    section = getattr(config, "circuit_breaker", None)
    enabled = section.enabled if section is not None else True
    breaker = None
    if enabled:
        breaker = breaker_for(endpoint_key(publisher),
                              failure_threshold=section.failure_threshold if section is not None else 5,
                              cooldown=section.cooldown if section is not None else 30.0)
    journal = SigningLog.from_config(config) if config is not None else None
    return GuardedPublisher(publisher, breaker=breaker, signing_log=journal)
