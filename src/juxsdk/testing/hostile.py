"""Hostile answers of the reference Jux API v1 server (:mod:`juxsdk.testing.server`).

A client must survive a server that is broken or malicious. :func:`write_answer` writes one
HTTP answer byte for byte, misbehaving as a :class:`~juxsdk.testing.server.Fault` says:

* ``body_size`` — a huge body (e.g. 10 GiB) generated while it is sent, never held in memory;
  with ``declare_length=False`` it has no ``Content-Length`` and ends when the connection closes;
* ``trickle`` — the answer is sent one byte every ``trickle`` seconds (from the status line on
  with ``trickle_headers=True``, else only the body);
* ``truncate`` — ``Content-Length`` announces the whole body but only ``truncate`` bytes are sent
  before the connection closes;
* ``echo_token`` — the bearer token the client sent comes back in the reason phrase, in body
  keys, nested values (raw, percent-encoded, base64 of ``Bearer <token>``, JSON ``\\u``-escaped),
  in a ``Location`` header of a 3xx and in a success body;
* ``nest`` — the body's ``error`` (or, for a 2xx, the whole body) is JSON nested ``nest`` levels
  deep;
* ``retry_after`` / ``rate_limit_reset`` / ``headers`` — any header value, sent as UTF-8 bytes
  (not only Latin-1), e.g. the odd ``Retry-After`` forms of :data:`ODD_RETRY_AFTER`.

:data:`PRESETS` names ready-made profiles (``JuxApiServer(hostile="trickle")``,
``python -m juxsdk.testing.server --hostile trickle``).
"""

from __future__ import annotations

import base64
import io
import json
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["ODD_RATE_LIMIT_RESET", "ODD_RETRY_AFTER", "PRESETS", "echo_fields", "write_answer"]

#: ``Retry-After`` values a client must survive (cycled by the ``odd-headers`` preset).
ODD_RETRY_AFTER: tuple[str, ...] = (
    "\uff11\uff12",  # full-width digits
    "\u00b2",  # superscript two: str.isdigit() says True, float() refuses
    "\u0661\u0662\u0663",  # Arabic-Indic digits: float() accepts them
    "1e309",
    "inf",
    "nan",
    "-5",
    "1_000",
    "9" * 400,
    "Fri, 31 Dec 9999 23:59:59 GMT",
    "Mon, 01 Jan 0001 00:00:00 GMT",
    "Sun, 06 Nov 1994 08:49:37 -0000",
    "soon",
    "",
)
#: ``X-RateLimit-Reset`` values a client must survive.
ODD_RATE_LIMIT_RESET: tuple[str, ...] = ("nan", "1e309", "-1e309", "\u0661\u0662\u0663", "9" * 400, "0x10", "")

#: Named hostile profiles: keyword arguments of :meth:`JuxApiServer.inject`.
PRESETS: dict[str, dict[str, Any]] = {
    "huge": {"status": 201, "body_size": 10 * 1024**3, "declare_length": False},
    "huge-error": {"status": 400, "body_size": 10 * 1024**3},
    "trickle": {"trickle": 1.0, "trickle_headers": True},
    "trickle-body": {"trickle": 1.0},
    "truncated": {"truncate": 10},
    "echo-token": {"status": 400, "echo_token": True},
    "echo-token-success": {"echo_token": True},
    "odd-headers": {"status": 429, "retry_after": ODD_RETRY_AFTER, "rate_limit_reset": ODD_RATE_LIMIT_RESET},
    "nested": {"status": 201, "nest": 100_000},
    "nested-error": {"status": 400, "nest": 100_000},
    # an outage: every submission answered 503 at once / the connection dropped (circuit breaker tests)
    "outage": {"status": 503, "reason": "Service Unavailable"},
    "outage-drop": {"drop": True},
}


def echo_fields(token: str) -> dict[str, Any]:
    """JSON members that carry ``token`` in keys and nested values, in several encodings."""
    pct = urllib.parse.quote(token, safe="")
    b64 = base64.b64encode(f"Bearer {token}".encode()).decode()
    return {
        token: f"a key that is the token, and a value: {token}",
        f"key-{pct}": "a key with the token percent-encoded",
        "echo": {"nested": [{"deeper": {"token": token, "percent": pct, "base64": b64,
                                        "basic": base64.b64encode(f"user:{token}".encode()).decode(),
                                        "escaped": token}}]},
    }


def _escape_all(token: str) -> str:
    return "".join(f"\\u{ord(c):04x}" for c in token)


def render_body(status: int, payload: Any, *, token: str | None, echo: bool, nest: int | None) -> bytes:
    """The JSON body of an answer, with the token echoed and/or deep nesting when asked."""
    if isinstance(payload, bytes):
        body = payload
    else:
        data = dict(payload) if isinstance(payload, Mapping) else {"value": payload}
        if echo and token:
            data.update(echo_fields(token))
            if 200 <= status < 300:
                data["message"] = f"stored for {token}"
            else:
                details = data.get("details")
                data["details"] = {**(details if isinstance(details, dict) else {}), **echo_fields(token)}
                data["error"] = f"invalid key {token}"
                data["suggestions"] = [f"retry with {token}", urllib.parse.quote(token, safe="")]
        body = json.dumps(data).encode()
        if echo and token:  # one occurrence spelled with \u escapes: only a JSON parser sees it
            body = body.replace(f'"escaped": "{token}"'.encode(), f'"escaped": "{_escape_all(token)}"'.encode())
    if nest:
        deep = b"[" * nest + b"]" * nest
        body = (b'{"test_run_id": ' + deep + b"}") if 200 <= status < 300 else (b'{"error": ' + deep + b"}")
    return body


def _huge(prefix: bytes, size: int) -> Iterator[bytes]:
    yield prefix[:size]
    left = size - len(prefix[:size])
    block = b"x" * 65536
    while left > 0:
        n = min(left, len(block))
        yield block[:n]
        left -= n


def write_answer(
    wfile: io.BufferedIOBase,
    *,
    status: int,
    reason: str,
    headers: Mapping[str, str],
    body: bytes,
    body_size: int | None = None,
    declare_length: bool = True,
    truncate: int | None = None,
    trickle: float | None = None,
    trickle_headers: bool = False,
) -> bool:
    """Write one HTTP/1.1 answer as the fault says; stops quietly when the client goes away.

    Args:
        wfile: The connection's (unbuffered) write side.
        status: Status code.
        reason: Reason phrase (sent as UTF-8).
        headers: Headers (values sent as UTF-8); ``Content-Length`` is added unless
            ``declare_length`` is False.
        body: The body (the first bytes of it when ``body_size`` is set).
        body_size: Send a body of this many bytes (``body`` then ``x`` padding), generated on the fly.
        declare_length: Send ``Content-Length`` (else the body ends when the connection closes).
        truncate: Send only this many body bytes, though ``Content-Length`` announces all.
        trickle: Seconds between single bytes.
        trickle_headers: Trickle the status line and headers too, not only the body.

    Returns:
        True when the connection may be kept alive (a plain, complete answer).
    """
    size = body_size if body_size is not None else len(body)
    head = [f"HTTP/1.1 {status} {reason}".encode()]
    for name, value in headers.items():
        head.append(f"{name}: {value}".encode())
    if declare_length:
        head.append(f"Content-Length: {size}".encode())
    keep_alive = declare_length and truncate is None and not trickle and body_size is None
    if not keep_alive:
        head.append(b"Connection: close")
    head_bytes = b"\r\n".join(head) + b"\r\n\r\n"
    chunks: Iterator[bytes] = _huge(body, size) if body_size is not None else iter([body])
    try:
        _send(wfile, head_bytes, trickle if trickle_headers else None)
        sent = 0
        for chunk in chunks:
            if truncate is not None:
                chunk = chunk[: max(truncate - sent, 0)]
                if not chunk:
                    break
            _send(wfile, chunk, trickle)
            sent += len(chunk)
    except OSError:  # the client hung up (broken pipe, reset, shut down): that is its right
        return False
    return keep_alive


def _send(wfile: io.BufferedIOBase, data: bytes, trickle: float | None) -> None:
    if not trickle:
        wfile.write(data)
        return
    for i in range(len(data)):
        wfile.write(data[i: i + 1])
        wfile.flush()
        time.sleep(trickle)
