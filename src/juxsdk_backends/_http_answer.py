"""What a Jux API server says, read defensively: the scrubbing boundary and the header parsers.

Nothing here imports requests; :mod:`juxsdk_backends.http_api` uses it on every answer.

* :class:`Scrubber` is **the one boundary** between server-provided data and everything juxsdk
  keeps or shows: every string of an answer (reason phrase, header values it uses, every key and
  value of a JSON body at any depth) passes through it before it reaches a
  :class:`~juxsdk.errors.PublishError`, a :class:`~juxsdk.models.PublishReceipt`, a log record,
  the outbox or a terminal.
* :func:`server_wait_seconds` turns ``Retry-After`` / ``X-RateLimit-Reset`` into a finite,
  bounded number of seconds (or None) for any input.
* :func:`decode_json` and :func:`submit_response` check an answer's body against the Jux API v1
  shapes (``SubmitResponse``, the older ``{"status", "message", "test_run"}`` envelope).
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import json
import math
import re
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = [
    "MAX_SERVER_WAIT",
    "Scrubber",
    "SubmitAnswer",
    "decode_json",
    "server_wait_seconds",
    "submit_response",
]

#: Longest wait a server can ask for (``Retry-After`` / ``X-RateLimit-Reset``), seconds: 1 day.
MAX_SERVER_WAIT = 86400.0

MASK = "****"

_DELTA_SECONDS = re.compile(r"[0-9]+", re.ASCII)  # RFC 9110 §10.2.3: 1*DIGIT (ASCII digits only)
_UNIX_TIME = re.compile(r"[0-9]{1,20}(?:\.[0-9]{1,9})?", re.ASCII)
# C0/C1 controls, DEL and the bidirectional overrides that can disguise text on a terminal
_UNSAFE_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_MIN_ENCODED = 8  # shorter encodings of a secret are not searched for (they would mask noise)


# --- the scrubbing boundary ----------------------------------------------------------------


def _b64_cores(secret: bytes) -> set[str]:
    """Base64 substrings that appear whenever ``secret`` is base64-encoded inside other bytes.

    Base64 maps 3 bytes to 4 characters, so the encoding of a secret embedded at byte offset
    ``k`` (mod 3) has a middle part that depends only on the secret: characters
    ``ceil(8k/6)`` to ``floor(8(k+n)/6)`` of ``b64(k zero bytes + secret)``.
    """
    cores: set[str] = set()
    n = len(secret)
    for k in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(b"\0" * k + secret).decode("ascii")
            core = text[-(-8 * k // 6): (8 * (k + n)) // 6]
            if len(core) >= _MIN_ENCODED:
                cores.add(core)
    return cores


class Scrubber:
    """The scrubbing boundary for one publish: masks the API token in server-provided data.

    It replaces, with ``****``:

    * the token as is;
    * the token percent-encoded (``quote`` and ``quote_plus``, either case of hex digits);
    * the token as a JSON string escapes it;
    * the token base64-encoded (standard and URL-safe alphabets) on its own or inside a longer
      encoded value (e.g. ``base64("Bearer <token>")``), at any alignment.

    Encodings shorter than 8 characters are not searched for. It does not detect a token that
    was otherwise transformed (case-changed, cut, hashed, encrypted). It also makes every
    string safe to print on one line: control characters, DEL and bidirectional overrides
    become U+FFFD, and a string is cut at ``max_text`` characters. JSON values are bounded to
    ``max_depth`` levels and ``max_items`` entries per container.

    Args:
        secret: The token (None: nothing to mask; strings are still made printable).
        max_text: Longest string kept, characters.
        max_items: Most entries kept per JSON object or array.
        max_depth: Deepest JSON nesting kept (deeper values become ``"…"``).
    """

    def __init__(self, secret: str | None, *, max_text: int = 1000, max_items: int = 50,
                 max_depth: int = 8) -> None:
        self.max_text = max_text
        self.max_items = max_items
        self.max_depth = max_depth
        exact: set[str] = set()
        folded: set[str] = set()
        if secret:
            exact.add(secret)
            exact.add(json.dumps(secret)[1:-1])
            exact.add(json.dumps(secret, ensure_ascii=False)[1:-1])
            for quoted in (urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret, safe=""),
                           urllib.parse.quote(secret)):
                if quoted != secret:
                    folded.add(quoted)
            exact |= _b64_cores(secret.encode("utf-8"))
        self._exact = _alternation(exact, 0)
        self._folded = _alternation(folded, re.IGNORECASE)

    def text(self, value: object) -> str:
        """Return ``value`` as one printable line with every form of the secret masked."""
        s = value if isinstance(value, str) else str(value)
        if self._exact is not None:
            s = self._exact.sub(MASK, s)
        if self._folded is not None:
            s = self._folded.sub(MASK, s)
        s = _UNSAFE_CHARS.sub("\ufffd", s)
        if len(s) > self.max_text:
            s = s[: self.max_text] + "…"
        return s

    def json(self, value: object, _depth: int = 0) -> Any:
        """Return a bounded copy of a parsed JSON value with every key and string scrubbed."""
        if isinstance(value, str):
            return self.text(value)
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, (int, float)):
            shown = self.text(value)
            if shown != str(value) or (isinstance(value, float) and not math.isfinite(value)):
                return shown  # a number that spells the secret, or NaN/Infinity
            return value
        if _depth >= self.max_depth:
            return "…"
        if isinstance(value, Mapping):
            return {self.text(k): self.json(v, _depth + 1)
                    for k, v in list(value.items())[: self.max_items]}
        if isinstance(value, (list, tuple)):
            return [self.json(v, _depth + 1) for v in list(value)[: self.max_items]]
        return self.text(value)


def _alternation(needles: set[str], flags: int) -> re.Pattern[str] | None:
    if not needles:
        return None
    return re.compile("|".join(re.escape(n) for n in sorted(needles, key=len, reverse=True)), flags)


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
