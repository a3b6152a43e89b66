"""What the outbox does with a failure: retry later (and when), dead-letter, or keep queued.

* Transient failures (network, timeout, 5xx, 429 past the publisher's budget, malformed
  answers) and anything unexpected are retried after a backoff; after ``max_attempts`` the
  entry becomes a dead letter.
* A permanent rejection of the report itself (HTTP 400/413/422, other 4xx, or a non-HTTP
  permanent error) is a dead letter at once, with the server's reason.
* A permanent *configuration* problem (401, 403, 404, 405, 407, 415, 3xx) keeps the entry
  queued: fixing the configuration fixes it.

Which queued entries a drain tries depends on who asked for it (:class:`DrainMode`): an
automatic drain waits out the backoff, a drain a person asked for (``jux publish --queue``)
tries every entry our backoff delayed but still honours a server's ``Retry-After``, and
``--now`` sends everything queued.
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError, PermanentPublishError, PublishError

__all__ = [
    "DEAD_LETTER_STATUSES",
    "KEEP_QUEUED_STATUSES",
    "MAX_RETRY_AFTER",
    "DrainMode",
    "backoff_delay",
    "is_dead_letter",
    "retry_after",
    "retry_after_seconds",
    "server_reason",
]

#: HTTP statuses meaning "this report will never be accepted": dead-letter at once.
DEAD_LETTER_STATUSES = frozenset({400, 413, 422})
#: Permanent failures that a configuration change fixes: keep the entry queued.
KEEP_QUEUED_STATUSES = frozenset({401, 403, 404, 405, 407, 415})
#: Longest wait a publisher's ``details["retry_after"]`` can impose on an entry, seconds (1 day).
MAX_RETRY_AFTER = 86400.0


def is_dead_letter(error: BaseException | None) -> bool:
    """True when ``error`` means the report itself will never be accepted (dead-letter it now)."""
    if not isinstance(error, PermanentPublishError):
        return False
    if error.status is None:
        return True  # a non-HTTP publisher said "never": believe it
    if error.status in KEEP_QUEUED_STATUSES or 300 <= error.status < 400:
        return False
    return error.status in DEAD_LETTER_STATUSES or 400 <= error.status < 500


class DrainMode(enum.StrEnum):
    """Which queued entries a drain tries (a member is a ``str``: ``"automatic"`` works too).

    Dead letters are never tried by a drain (``jux queue retry`` puts them back in the queue).
    The model is Postfix's ``postqueue -f``: a flush a person asks for means "try now".

    Attributes:
        AUTOMATIC: Only entries that are due: both our backoff and a server's ``Retry-After``
            are waited out (a drain nobody asked for: a scheduled job, a client at end of run).
        MANUAL: Every queued entry except those a server asked to wait for (``Retry-After``
            not over yet): our own backoff is skipped (``jux publish --queue``).
        NOW: Every queued entry, ``Retry-After`` included (``jux publish --queue --now``).
    """

    AUTOMATIC = "automatic"
    MANUAL = "manual"
    NOW = "now"

    @classmethod
    def parse(cls, value: object) -> DrainMode:
        """Return the mode named by ``value`` (a member or its string value).

        Raises:
            juxsdk.errors.ConfigError: not a drain mode (the message lists the modes).
        """
        try:
            return cls(value)  # type: ignore[arg-type]
        except ValueError:
            raise ConfigError(f"unknown drain mode {value!r}",
                              hint="use one of: " + ", ".join(m.value for m in cls)) from None


def retry_after_seconds(value: Any) -> float | None:
    """A server-requested wait as the outbox accepts it: finite, within ``[0, MAX_RETRY_AFTER]`` seconds.

    Args:
        value: Seconds, as a number or a numeric string (what a publisher put in
            ``details["retry_after"]``).

    Returns:
        The wait in seconds (longer ones cut to :data:`MAX_RETRY_AFTER`), or None for anything
        else (infinite, NaN, negative, a boolean, not a number).
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        seconds = float(value)
    except (ValueError, OverflowError):
        return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return min(seconds, MAX_RETRY_AFTER)


def retry_after(error: BaseException | None) -> float | None:
    """The server-requested wait of a failure, seconds (see :func:`retry_after_seconds`), or None.

    Read from ``details["retry_after"]`` of a :class:`~juxsdk.errors.PublishError` (the http
    publisher puts the ``Retry-After`` header there, RFC 9110 section 10.2.3, or
    ``X-RateLimit-Reset``).
    """
    if not isinstance(error, PublishError):
        return None
    return retry_after_seconds(error.details.get("retry_after"))


def backoff_delay(attempts: int, *, base: float, maximum: float, wait: float | None = None) -> float:
    """Seconds before attempt ``attempts + 1``.

    ``min(base * 2**(attempts - 1), maximum)``, jittered to 80-100 % of it (so that many
    clients do not retry in step), and at least ``wait`` (the server's ``Retry-After``); 0 before
    the first attempt.

    Args:
        attempts: Attempts made so far.
        base: Delay after the first failure, seconds.
        maximum: Longest delay, seconds (before ``wait``).
        wait: Server-requested wait, seconds (see :func:`retry_after`).
    """
    if attempts <= 0:
        delay = 0.0
    else:
        delay = min(base * (2 ** min(attempts - 1, 60)), maximum)
        delay *= random.uniform(0.8, 1.0)  # noqa: S311 - jitter, not crypto
    if wait is not None:
        delay = max(delay, float(wait))
    return delay


def server_reason(error: PublishError) -> str:
    """The server's words for a rejection: its ``error``, ``details`` and ``suggestions``, one line."""
    details = error.details or {}
    message = details.get("error")
    parts = [str(message) if message else error.message]
    inner = details.get("details")
    if isinstance(inner, Mapping) and inner:
        parts.append(", ".join(f"{k}={v}" for k, v in inner.items()))
    suggestions = details.get("suggestions")
    if isinstance(suggestions, list) and suggestions:
        parts.append("suggestions: " + "; ".join(str(s) for s in suggestions))
    return " — ".join(parts)
