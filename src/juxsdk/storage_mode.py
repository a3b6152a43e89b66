"""Storage modes and the one publish step.

``storage_mode`` says what :meth:`juxsdk.Jux.submit` does with a (signed) report:

======  ======  ==========  ===================================================================
mode    stores  publishes   a publish failure…
======  ======  ==========  ===================================================================
local   yes     no          —
api     no      yes         is an error: raised once every publisher was tried
both    yes     yes         is reported in the outcome; the stored copy stays
cache   yes     yes         is kept in the outbox (queued, or a dead letter when the server
                            rejected the report itself) and reported
======  ======  ==========  ===================================================================

:class:`StorageMode` is the one definition of the modes (also importable from
:mod:`juxsdk.config`); :func:`publish_with_mode` is the one publish step, used by the
:class:`~juxsdk.Jux` facade (and so by ``jux submit`` and the pytest plugin) and by
``jux publish``. Its outcomes are :class:`juxsdk.models.PublishOutcome` values.

This module imports no outbox code: the caller hands in the :class:`juxsdk.outbox.Outbox` that
``cache`` mode writes to.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ConfigError, JuxError, PublishError, TransientPublishError
from .models import PublishOutcome, Report, SignedReport

if TYPE_CHECKING:  # pragma: no cover
    from .outbox import Outbox
    from .protocols import Publisher

__all__ = ["StorageMode", "failure_line", "publish_with_mode", "unexpected_publish_error"]

log = logging.getLogger("juxsdk.outbox")


class StorageMode(enum.StrEnum):
    """What ``submit`` does with a signed report (``storage_mode``).

    * ``local`` — store only;
    * ``api`` — publish only; a publish failure is an error;
    * ``both`` — store and publish; failures are reported;
    * ``cache`` — store and publish; whatever goes wrong with a publish is kept in the outbox
      (queued for ``jux publish --queue``, or dead-lettered when the server rejected the report).

    A member is a ``str`` (``StorageMode.CACHE == "cache"``).
    """

    LOCAL = "local"
    API = "api"
    BOTH = "both"
    CACHE = "cache"

    @property
    def stores(self) -> bool:
        """True when reports go to the stores (every mode but ``api``)."""
        return self is not StorageMode.API

    @property
    def publishes(self) -> bool:
        """True when reports go to the publishers (every mode but ``local``)."""
        return self is not StorageMode.LOCAL

    @classmethod
    def parse(cls, value: object) -> StorageMode:
        """Return the mode named by ``value`` (a member or its string value).

        Raises:
            juxsdk.errors.ConfigError: not a storage mode (the message lists the modes).
        """
        try:
            return cls(value)  # type: ignore[arg-type]
        except ValueError:
            raise ConfigError(f"unknown storage_mode {value!r}",
                              hint="use one of: " + ", ".join(m.value for m in cls)) from None


def failure_line(exc: BaseException) -> str:
    """One line for an unexpected failure: the message of a JuxError, else the type (and errno text).

    Never the text of a foreign exception: it may carry anything, secrets included.
    """
    if isinstance(exc, JuxError):
        return exc.message
    if isinstance(exc, OSError) and exc.strerror:
        name = Path(exc.filename).name if isinstance(exc.filename, str) else None
        return f"{type(exc).__name__}: {exc.strerror}" + (f" ({name})" if name else "")
    return type(exc).__name__


def unexpected_publish_error(publisher: str, exc: BaseException) -> TransientPublishError:
    """Map an exception a publisher should not have raised to a transient failure (kept, retried).

    Only the exception's type is kept: its text may carry anything, secrets included.
    """
    return TransientPublishError(
        f"publisher {publisher} failed unexpectedly ({type(exc).__name__})",
        hint="the report is kept in the outbox; report the bug to the publisher's authors",
        details={"exception": type(exc).__name__},
    )


def publish_with_mode(
    report: Report | SignedReport,
    publishers: Mapping[str, Publisher] | Sequence[Publisher],
    mode: StorageMode | str,
    outbox: Outbox | None = None,
) -> list[PublishOutcome]:
    """Publish ``report`` to every publisher as the storage mode says; one outcome each.

    * ``local``: nothing is published (returns ``[]``).
    * ``both``: publish; failures are reported in the outcomes.
    * ``api``: publish to every publisher, then raise the first failure, if any.
    * ``cache``: publish; whatever goes wrong is kept in ``outbox``
      (:meth:`juxsdk.outbox.Outbox.record_failure`): queued (``queued=True``), or
      dead-lettered (``dead=True``) when the server rejected the report itself. Only a failure
      to write the outbox is an outcome error of its own ("could NOT be queued"), logged at
      ERROR level on the ``juxsdk.outbox`` logger.

    A publisher raising something other than a :class:`~juxsdk.errors.JuxError` is reported as a
    :class:`~juxsdk.errors.TransientPublishError` naming the exception type (never its text).
    When ``outbox`` is given, every receipt is recorded in it (``jux cache list`` shows run ids).

    Args:
        report: The (signed) report; its exact bytes are sent.
        publishers: Publisher instances, by name or as a sequence (their ``name`` is used).
        mode: A :class:`StorageMode` or its value.
        outbox: Where ``cache`` mode keeps failures (required in that mode) and receipts are
            recorded.

    Returns:
        One :class:`~juxsdk.models.PublishOutcome` per publisher, in order.

    Raises:
        juxsdk.errors.ConfigError: unknown ``mode``, or ``cache`` without an ``outbox``.
        juxsdk.errors.JuxError: in ``api`` mode, the first publisher's failure.
    """
    mode = StorageMode.parse(mode)
    if not mode.publishes:
        return []
    if mode is StorageMode.CACHE and outbox is None:
        raise ConfigError("storage_mode 'cache' needs an outbox to keep failed publishes in",
                          hint="pass a juxsdk.outbox.Outbox (Outbox.from_config(config))")
    items: list[tuple[str, Publisher]] = (
        list(publishers.items()) if isinstance(publishers, Mapping) else [(p.name, p) for p in publishers]
    )
    outcomes: list[PublishOutcome] = []
    for name, pub in items:
        try:
            receipt = pub.publish(report)
        except Exception as exc:  # noqa: BLE001 - after the store nothing may be lost: see below
            error = exc if isinstance(exc, JuxError) else unexpected_publish_error(name, exc)
            outcomes.append(_keep(report, name, error, outbox) if mode is StorageMode.CACHE
                            else PublishOutcome(name, error=error))
            continue
        outcomes.append(PublishOutcome(name, receipt=receipt))
        if outbox is not None:
            outbox.record_published(receipt, publisher=name, source=report.source, project=report.project)
    if mode is StorageMode.API:
        for outcome in outcomes:
            if outcome.error is not None:
                raise outcome.error
    return outcomes


def _keep(report: Report | SignedReport, name: str, error: JuxError, outbox: Outbox | None) -> PublishOutcome:
    """The outcome of a failed publish in ``cache`` mode: the report is kept in the outbox first."""
    assert outbox is not None  # checked by publish_with_mode
    try:
        entry = outbox.record_failure(report, name, error)
    except Exception as qexc:  # noqa: BLE001 - the one failure that loses the publish: say so loudly
        why = failure_line(qexc)
        log.error("report %s was NOT queued for %s: %s (the publish failed: %s)",
                  report.canonical_hash, name, why, error.message)
        lost = PublishError(
            f"publishing to {name} failed ({error.message}) and the report could NOT be queued: {why}",
            hint=f"fix the outbox ({outbox.path}) and publish the stored copy again with `jux publish`",
        )
        return PublishOutcome(name, error=lost)
    return PublishOutcome(name, error=error, queued=entry.state == "queued", dead=entry.state == "dead")
