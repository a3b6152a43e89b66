"""What the outbox does with a failure: retry later (and when), dead-letter, or keep queued.

* Transient failures (network, timeout, 5xx, 429 past the publisher's budget, malformed
  answers) and anything unexpected are retried after a backoff; after ``max_attempts`` the
  entry becomes a dead letter.
* A permanent rejection of the report itself (HTTP 400/413/422, other 4xx, or a non-HTTP
  permanent error) is a dead letter at once, with the server's reason.
* A permanent *configuration* problem (401, 403, 404, 405, 407, 415, 3xx) keeps the entry
  queued: fixing the configuration fixes it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping

from ..errors import PermanentPublishError, PublishError

__all__ = [
    "DEAD_LETTER_STATUSES",
    "KEEP_QUEUED_STATUSES",
    "MAX_RETRY_AFTER",
    "backoff_delay",
    "is_dead_letter",
    "retry_after",
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


def retry_after(error: BaseException | None) -> float | None:
    """The server-requested wait of a failure, finite and within ``[0, MAX_RETRY_AFTER]`` seconds, or None.

    Read from ``details["retry_after"]`` of a :class:`~juxsdk.errors.PublishError` (the http
    publisher puts the ``Retry-After`` header there, RFC 9110 section 10.2.3); any other value
    (infinite, NaN, negative, a boolean, not a number) is ignored.
    """
    if not isinstance(error, PublishError):
        return None
    value = error.details.get("retry_after")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        seconds = float(value)
    except (ValueError, OverflowError):
        return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return min(seconds, MAX_RETRY_AFTER)


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
