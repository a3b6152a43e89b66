"""What a Jux API server says, read defensively: the scrubbing boundary and the header parsers.

Nothing here imports requests; :mod:`juxsdk_backends.http_api` uses it on every answer.

* :class:`~juxsdk.scrub.Scrubber` (defined in :mod:`juxsdk.scrub`, re-exported here) is **the one
  boundary** between server-provided data and everything juxsdk keeps or shows: every string of
  an answer (reason phrase, header values it uses, every key and value of a JSON body at any
  depth) passes through it before it reaches a :class:`~juxsdk.errors.PublishError`, a
  :class:`~juxsdk.models.PublishReceipt`, a log record, the outbox or a terminal.
* :func:`server_wait_seconds` turns ``Retry-After`` / ``X-RateLimit-Reset`` into a finite,
  bounded number of seconds (or None) for any input.
* :func:`decode_json` and :func:`submit_response` check an answer's body against the Jux API v1
  shapes (``SubmitResponse``, the older ``{"status", "message", "test_run"}`` envelope).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import math
import re
import time
from collections.abc import Mapping
from typing import Any

import attrs

from juxsdk.scrub import MASK, Scrubber

__all__ = [
    "MASK",
    "MAX_SERVER_WAIT",
    "Scrubber",
    "SubmitAnswer",
    "decode_json",
    "server_wait_seconds",
    "submit_response",
]

#: Longest wait a server can ask for (``Retry-After`` / ``X-RateLimit-Reset``), seconds: 1 day.
MAX_SERVER_WAIT = 86400.0

_DELTA_SECONDS = re.compile(r"[0-9]+", re.ASCII)  # RFC 9110 §10.2.3: 1*DIGIT (ASCII digits only)
_UNIX_TIME = re.compile(r"[0-9]{1,20}(?:\.[0-9]{1,9})?", re.ASCII)


# --- Retry-After / X-RateLimit-Reset -----------------------------------------------------------


def server_wait_seconds(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Return how long an answer asks the client to wait, in seconds.

    Reads ``Retry-After`` (``delta-seconds`` or ``HTTP-date``, RFC 9110 §10.2.3; an HTTP-date
    without a zone is taken as UTC), else ``X-RateLimit-Reset`` (unix time, Jux API v1). Only
    ASCII digits count as digits; ``inf``, ``nan``, exponents, signs, underscores and anything
    unparseable make the header unusable.

    Args:
        headers: Response headers (case-insensitive mapping, or a plain dict).
        now: Current unix time, seconds (default: :func:`time.time`).

    Returns:
        Seconds in ``[0, MAX_SERVER_WAIT]`` (a longer wait is cut to the bound, a time in the
        past is 0), or None when neither header is present and usable. Never raises.
    """
    current = time.time() if now is None or not math.isfinite(now) else now
    value = _header(headers, "Retry-After")
    if value is not None:
        wait = _retry_after(value, current)
        if wait is not None:
            return wait
    reset = _header(headers, "X-RateLimit-Reset")
    if reset is not None:
        reset = reset.strip()
        if _UNIX_TIME.fullmatch(reset):
            return _bounded(float(reset) - current)
    return None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    try:
        value = headers.get(name)
        if value is None and not hasattr(headers, "lower_items"):  # a plain dict: any case
            value = next((v for k, v in headers.items() if str(k).lower() == name.lower()), None)
    except Exception:  # noqa: BLE001 - odd mapping: treat as absent
        return None
    return value if isinstance(value, str) else None


def _retry_after(value: str, now: float) -> float | None:
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        return MAX_SERVER_WAIT if len(value) > 9 else _bounded(float(int(value)))
    if len(value) > 64:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        delta = (when - dt.datetime.fromtimestamp(now, dt.UTC)).total_seconds()
    except (TypeError, ValueError, OverflowError, IndexError, AttributeError):
        return None
    return _bounded(delta)


def _bounded(seconds: float) -> float | None:
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_SERVER_WAIT)


# --- bodies ----------------------------------------------------------------------------------


def decode_json(body: bytes, over_cap: bool, cap: int, scrub: Scrubber) -> tuple[Any, str | None]:
    """Parse an answer's body as JSON and scrub it.

    Args:
        body: The (possibly cut) body.
        over_cap: The server sent more than ``cap`` bytes.
        cap: The cap, bytes (for the message).
        scrub: The boundary.

    Returns:
        ``(value, None)`` with the scrubbed value (None for an empty body), or
        ``(None, problem)`` with a short description of why the body is not usable JSON.
    """
    if over_cap:
        return None, f"the answer is larger than max_response_bytes ({cap} bytes)"
    if not body.strip():
        return None, "the answer has an empty body"
    try:
        parsed = json.loads(body)
    except RecursionError:
        return None, "the answer is JSON nested too deeply"
    except ValueError:  # includes UnicodeDecodeError
        return None, "the answer is not JSON"
    return scrub.json(parsed), None


@attrs.frozen
class SubmitAnswer:
    """A checked Jux API v1 submit success body.

    Attributes:
        run_id: ``test_run_id`` (or the legacy envelope's ``test_run.id``).
        counts: Counts the server reported (integers >= 0; ``success_rate`` 0–100).
        message: The server's message, if any.
        duplicate: True when the body says ``"duplicate": true``.
    """

    run_id: str
    counts: Mapping[str, Any]
    message: str | None
    duplicate: bool


_COUNT_KEYS = ("test_count", "failure_count", "error_count", "skipped_count",
               "total_tests", "failures", "errors", "skipped")


def submit_response(body: Any) -> tuple[SubmitAnswer | None, str | None]:
    """Check a (scrubbed) 2xx body against the Jux API v1 ``SubmitResponse`` shape.

    Accepted: a JSON object with a non-empty ``test_run_id`` (string or integer), or the older
    envelope ``{"status", "message", "test_run": {"id", …}}``; counts, when present, are
    integers >= 0 and ``success_rate`` a number in 0–100; extra fields are ignored.

    Returns:
        ``(answer, None)``, or ``(None, problem)`` saying what is missing or wrong.
    """
    if not isinstance(body, Mapping):
        return None, "the answer is not a JSON object"
    run: Mapping[str, Any] = body
    nested = body.get("test_run")
    if isinstance(nested, Mapping):
        run = nested
    run_id = run.get("test_run_id", run.get("id"))
    if isinstance(run_id, bool) or not isinstance(run_id, (str, int)) or not str(run_id).strip():
        return None, "the answer has no test_run_id"
    counts: dict[str, Any] = {}
    for key in _COUNT_KEYS:
        if key in run:
            value = run[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                return None, f"the answer's {key} is not a count"
            counts[key] = value
    if "success_rate" in run and run["success_rate"] is not None:
        rate = run["success_rate"]
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 100:
            return None, "the answer's success_rate is not a percentage"
        counts["success_rate"] = rate
    message = body.get("message")
    return SubmitAnswer(
        run_id=str(run_id),
        counts=counts,
        message=message if isinstance(message, str) else None,
        duplicate=body.get("duplicate") is True,
    ), None
