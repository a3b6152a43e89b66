"""requests/urllib3 glue of the ``http`` publisher, imported on first publish.

Kept apart from :mod:`juxsdk_backends.http_api` so that registering the backend (every
``Registry()``, the pytest plugin's start-up) does not pay for importing requests.

What it adds to a plain :class:`requests.Session`:

* **One deadline for the whole exchange.** urllib3's timeouts bound each socket operation, so a
  server that trickles its status line, headers or body one byte at a time never trips them.
  Every socket a publish uses (new or taken from the pool) is registered with the attempt's
  :class:`Exchange`; when the deadline passes, one watchdog thread shuts the socket down, which
  ends any blocked read or write at once. The attempt then fails as "timed out".
* **A capped, streamed body.** :func:`read_capped` reads at most ``cap`` bytes (decoded; urllib3
  bounds decompression too) in 64 KiB chunks, and refuses a declared ``Content-Length`` over
  the cap without reading it.
* **No retries inside urllib3.** urllib3's ``Retry`` drains the body of every retried answer
  into memory and cannot see the deadline; the publisher runs its own attempt loop instead.
* :class:`TransportFailure`: every exception of an exchange, reduced to a kind and a short
  reason that contains no server-provided text.
* :class:`Budget`: the time and attempt budget of one publish — the deadline every exchange
  gets, the socket timeouts cut to what is left, and the wait before the next attempt
  (exponential backoff with jitter, or the server's ``Retry-After`` when it fits).
"""

from __future__ import annotations

import heapq
import http.client
import itertools
import random
import socket
import threading
import time
from typing import Any

import attrs
import requests
import requests.adapters
import requests.auth
import urllib3
import urllib3.connection
import urllib3.exceptions
import urllib3.poolmanager
import urllib3.util.response
from urllib3.util.retry import Retry

from juxsdk.config.secret import Secret

CHUNK = 64 * 1024

_local = threading.local()


# --- the budget of one publish ------------------------------------------------------------


@attrs.define
class Budget:
    """The time and attempt budget of one publish (all times :func:`time.monotonic`, seconds).

    Args:
        total: Upper bound on the whole publish (every attempt and every wait), seconds.
        max_attempts: Attempts at most (>= 1).
        backoff_base: First backoff wait, seconds; attempt ``n`` waits ``base * 2**(n-1)`` plus
            a random jitter in ``[0, base]``, never past the deadline.
        retry_after_cap: Longest server-requested wait (``Retry-After``) honoured in-process,
            seconds; a longer one ends the publish (the outbox then waits as asked).
    """

    total: float
    max_attempts: int
    backoff_base: float
    retry_after_cap: float
    started: float = attrs.field(factory=lambda: time.monotonic())
    attempts: int = 0

    @property
    def deadline(self) -> float:
        """When the publish must end (:func:`time.monotonic` value)."""
        return self.started + self.total

    def remaining(self) -> float:
        """Seconds left before the deadline (negative once past it)."""
        return self.deadline - time.monotonic()

    def elapsed(self) -> float:
        """Seconds since the publish started."""
        return time.monotonic() - self.started

    def timeouts(self, connect: float, read: float) -> tuple[float, float]:
        """``(connect, read)`` socket timeouts of the next exchange, cut to the time left (seconds)."""
        left = max(self.remaining(), 0.001)
        return min(connect, left), min(read, left)

    def next_attempt(self) -> int:
        """Count an attempt and return its number (1, 2, …)."""
        self.attempts += 1
        return self.attempts

    def retry_wait(self, server_wait: float | None) -> float | None:
        """How long to sleep before another attempt, seconds; None when the budget is spent.

        Args:
            server_wait: The wait the server asked for (``Retry-After``), seconds, if any.

        Returns:
            None when the attempts or the time are used up, or the server asks for more than
            ``retry_after_cap`` or than the time left; else the server's wait or the backoff.
        """
        remaining = self.remaining()
        if self.attempts >= self.max_attempts or remaining <= 0:
            return None
        if server_wait is not None:
            if server_wait > self.retry_after_cap or server_wait >= remaining:
                return None
            return server_wait
        wait: float = min(self.backoff_base * 2.0 ** min(self.attempts - 1, 60), self.total)
        wait += random.uniform(0, self.backoff_base)  # noqa: S311 - jitter, not crypto
        return min(wait, remaining)


# --- the deadline watchdog -----------------------------------------------------------------


def _shutdown(sock: Any) -> None:
    """Shut a socket down for reading and writing, waking any thread blocked on it."""
    try:
        if isinstance(sock, socket.socket):
            # the base method: on an SSLSocket it acts on the file descriptor without
            # touching the TLS object another thread is blocked in
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        else:  # urllib3's SSLTransport (TLS in TLS through an https proxy)
            sock.shutdown(socket.SHUT_RDWR)
    except (OSError, AttributeError, ValueError):
        pass  # already closed


class Exchange:
    """The deadline of one attempt: sockets registered while it is active are shut down at it.

    Use as a context manager around one request *and* the reading of its body, in the thread
    that makes the request (registration is per thread). One daemon thread per process
    (:class:`_Watchdog`) watches every active exchange; entering and leaving costs a heap
    operation, not a thread.

    Args:
        deadline: :func:`time.monotonic` value at which the attempt must end.
    """

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.fired = False
        self.closed = False
        self._socks: list[Any] = []
        self._lock = threading.Lock()

    def __enter__(self) -> Exchange:
        _local.exchange = self
        _WATCHDOG.add(self)
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.closed = True
            self._socks.clear()
        _local.exchange = None
        _WATCHDOG.done(self)

    def watch(self, sock: Any) -> None:
        """Register ``sock`` (shut down at once when the deadline has already passed)."""
        with self._lock:
            if self.closed:
                return
            if self.fired:
                _shutdown(sock)
                return
            self._socks.append(sock)

    def fire(self) -> None:
        """The deadline passed: shut every registered socket down (no-op once closed)."""
        with self._lock:
            if self.closed:
                return
            self.fired = True
            for sock in self._socks:
                _shutdown(sock)


class _Watchdog:
    """One daemon thread that fires the :class:`Exchange` objects whose deadline passed."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Exchange]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, exchange: Exchange) -> None:
        with self._cond:
            heapq.heappush(self._heap, (exchange.deadline, next(self._seq), exchange))
            if self._thread is None or not self._thread.is_alive():  # first use, or after a fork
                self._thread = threading.Thread(target=self._run, name="jux-http-deadline", daemon=True)
                self._thread.start()
            elif self._heap[0][2] is exchange:
                self._cond.notify()

    def done(self, exchange: Exchange) -> None:
        with self._cond:  # finished exchanges leave from the top (deadlines mostly grow)
            while self._heap and self._heap[0][2].closed:
                heapq.heappop(self._heap)

    def _run(self) -> None:
        with self._cond:
            while True:
                while self._heap and self._heap[0][2].closed:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)[2].fire()


_WATCHDOG = _Watchdog()


def _watch(sock: Any) -> None:
    exchange: Exchange | None = getattr(_local, "exchange", None)
    if exchange is not None and sock is not None:
        exchange.watch(sock)


class _WatchedHTTPConnection(urllib3.connection.HTTPConnection):
    """An HTTP connection whose sockets the current :class:`Exchange` can shut down."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch(sock)  # before the TLS handshake or the request is sent
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch(self.sock)  # a kept-alive connection taken from the pool
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(urllib3.connection.HTTPSConnection):
    """An HTTPS connection whose sockets the current :class:`Exchange` can shut down."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch(self.sock)
        super().request(*args, **kwargs)


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOLS: dict[str, type[urllib3.HTTPConnectionPool]] = {"http": _HTTPPool, "https": _HTTPSPool}


def _use_watched_pools(manager: Any) -> Any:
    # a SOCKS proxy manager has its own pool classes: leave it alone (per-read timeouts only)
    if getattr(manager, "pool_classes_by_scheme", None) is urllib3.poolmanager.pool_classes_by_scheme:
        manager.pool_classes_by_scheme = _POOLS
    return manager


class DeadlineAdapter(requests.adapters.HTTPAdapter):
    """A requests adapter whose connections obey :class:`Exchange` and that never retries."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_retries", Retry(total=0, read=False, redirect=False, raise_on_status=False))
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _use_watched_pools(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        return _use_watched_pools(super().proxy_manager_for(proxy, **proxy_kwargs))


class BearerAuth(requests.auth.AuthBase):
    """Adds ``Authorization: Bearer …``; its repr never shows the token."""

    def __init__(self, secret: Secret) -> None:
        self._secret = secret

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self._secret.get()}"
        return r

    def __repr__(self) -> str:
        return "BearerAuth(****)"


# --- one exchange --------------------------------------------------------------------------


@attrs.frozen
class RawAnswer:
    """What the server answered (unscrubbed: only the publisher's scrubbing boundary reads it).

    Attributes:
        status: HTTP status code.
        reason: Status reason phrase as sent.
        headers: Response headers (case-insensitive mapping).
        body: At most ``cap`` bytes of the (decoded) body.
        over_cap: True when the body was larger than the cap (``body`` is then incomplete).
    """

    status: int
    reason: str
    headers: Any
    body: bytes
    over_cap: bool


class TransportFailure(Exception):
    """An exchange that produced no complete answer.

    Args:
        kind: ``"timeout"``, ``"tls"``, ``"url"``, ``"malformed"`` (an answer cut short, not
            valid HTTP, or undecodable) or ``"network"``.
        reason: Short fixed text ("connection refused", "connection closed without a
            response", …); never server-provided text.
        exception: Name of the underlying exception type.
    """

    def __init__(self, kind: str, reason: str, exception: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.exception = exception


def check_header_block(raw: Any) -> None:
    """Refuse an answer whose header block did not parse: a line that is not a header field
    (no colon, a stray line break inside a value), which http.client stops at, so that the
    header fields after it — ``Content-Length`` among them — go unseen and the body is read to
    the end of the connection. urllib3 finds these (:func:`urllib3.util.response.assert_header_parsing`)
    but only logs a warning; RFC 9112 §5 makes such a message invalid.

    Args:
        raw: The :class:`urllib3.response.HTTPResponse` (its http.client response holds the parse).

    Raises:
        http.client.HTTPException: the header block is invalid (the answer is not valid HTTP).
    """
    original = getattr(raw, "_original_response", None)
    message = getattr(original, "msg", None)
    if not isinstance(message, http.client.HTTPMessage):
        return
    try:
        urllib3.util.response.assert_header_parsing(message)
    except urllib3.exceptions.HeaderParsingError:
        raise http.client.HTTPException("invalid header block") from None


def declared_length(headers: Any) -> int | None:
    """The body length an answer's ``Content-Length`` declares, checked as RFC 9112 §6.3 says.

    A ``Content-Length`` that is not one non-negative decimal number (repeated identical values,
    ``42, 42``, count as one: RFC 9110 §8.6) makes the answer's framing invalid, and a user
    agent must discard such an answer; urllib3 and http.client would instead read it to the end
    of the connection (non-ASCII digits, ``-1``, ``1e3``) and take it as complete.

    Args:
        headers: The answer's headers (repeated fields joined with ``", "``).

    Returns:
        The declared length in bytes, or None when there is no ``Content-Length`` or a
        ``Transfer-Encoding`` frames the body instead.

    Raises:
        http.client.HTTPException: the ``Content-Length`` is invalid (the answer is not valid HTTP).
    """
    value = headers.get("Content-Length")
    if value is None or headers.get("Transfer-Encoding") is not None:
        return None
    parts = {part.strip(" \t") for part in str(value).split(",")}
    if not all(part.isascii() and part.isdigit() and len(part) <= 20 for part in parts) or \
            len({int(part) for part in parts}) != 1:
        raise http.client.HTTPException("invalid Content-Length")
    return int(parts.pop())


def read_capped(raw: Any, cap: int) -> tuple[bytes, bool]:
    """Read a streamed urllib3 response body, at most ``cap`` bytes.

    Args:
        raw: The :class:`urllib3.response.HTTPResponse` (``requests.Response.raw``).
        cap: Largest body kept, bytes.

    Returns:
        ``(body, over_cap)``: the body (decoded per ``Content-Encoding``), and True when the
        server declared or sent more than ``cap`` bytes (the body is then cut at ``cap``).

    Raises:
        urllib3.exceptions.HTTPError, OSError, http.client.HTTPException: the read failed
            (an invalid ``Content-Length``, a truncated body, reset, shut down by the deadline
            watchdog…).
    """
    check_header_block(raw)
    declared = declared_length(raw.headers)
    if declared is not None and declared > cap and not raw.headers.get("Content-Encoding"):
        return b"", True
    buf = bytearray()
    while len(buf) <= cap:
        chunk = raw.read(min(CHUNK, cap + 1 - len(buf)), decode_content=True)
        if not chunk:
            return bytes(buf), False
        buf += chunk
    return bytes(buf[:cap]), True


def exchange(
    session: requests.Session,
    url: str,
    *,
    data: bytes | None,
    headers: dict[str, str],
    timeout: tuple[float, float],
    deadline: float,
    cap: int,
    method: str = "POST",
) -> RawAnswer:
    """Send ``data`` to ``url`` (POST, or ``method``) and read the answer, all within ``deadline``.

    Args:
        session: The publisher's session (mounted with :class:`DeadlineAdapter`).
        url: The normalised endpoint.
        data: Request body (sent unchanged), or None (``jux doctor``'s GET).
        headers: Per-request headers.
        timeout: ``(connect, read)`` timeouts of each socket operation, seconds.
        deadline: :func:`time.monotonic` time by which the whole exchange ends.
        cap: Largest response body read, bytes.
        method: HTTP method.

    Returns:
        The :class:`RawAnswer`.

    Raises:
        TransportFailure: no complete answer (the deadline passed, the connection failed or
            was cut, the body was truncated or undecodable, TLS failed…).
    """
    with Exchange(deadline) as ex:
        try:
            # The adapter directly, not Session.send: even with allow_redirects=False, requests
            # reads a 3xx answer's whole body into memory to prepare the next request.
            prepared = session.prepare_request(requests.Request(method, url, data=data, headers=headers))
            verify = True if session.verify is None else session.verify
            response = session.get_adapter(url).send(  # the session never reads the environment
                prepared, stream=True, timeout=timeout, verify=verify, cert=session.cert, proxies=session.proxies)
            try:
                body, over_cap = read_capped(response.raw, cap)
            finally:
                response.close()
            return RawAnswer(response.status_code, str(response.reason or ""), response.headers,
                             body, over_cap)
        except Exception as exc:  # noqa: BLE001 - the transport boundary: nothing escapes unmapped
            if ex.fired or time.monotonic() >= deadline:
                raise TransportFailure("timeout", "timed out", type(exc).__name__) from None
            raise _failure(exc) from None


def _failure(exc: BaseException) -> TransportFailure:
    name = type(exc).__name__
    if isinstance(exc, requests.exceptions.SSLError):
        return TransportFailure("tls", "TLS verification failed", name)
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                        urllib3.exceptions.LocationValueError)):
        return TransportFailure("url", "invalid URL", name)
    if isinstance(exc, requests.exceptions.Timeout):
        return TransportFailure("timeout", "timed out", name)
    reason = _reason(exc)
    if reason == "timed out":
        return TransportFailure("timeout", reason, name)
    if reason == name and not isinstance(exc, (OSError, requests.exceptions.ConnectionError,
                                               urllib3.exceptions.HTTPError)):
        return TransportFailure("malformed", f"the answer could not be processed ({name})", name)
    return TransportFailure("malformed" if reason.startswith("the answer") else "network", reason, name)


def _reason(exc: BaseException) -> str:
    """A short fixed reason for an exchange exception (never the exception's own text)."""
    cur: BaseException | None = exc
    seen = 0
    while cur is not None and seen < 10:
        seen += 1
        if isinstance(cur, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cur, urllib3.exceptions.NameResolutionError):
            return "host name not resolved"
        if isinstance(cur, urllib3.exceptions.NewConnectionError):  # subclasses ConnectTimeoutError
            return "connection refused" if "refused" in str(cur).lower() else "cannot connect"
        if isinstance(cur, (urllib3.exceptions.TimeoutError, TimeoutError)):
            return "timed out"
        if isinstance(cur, (http.client.IncompleteRead, urllib3.exceptions.IncompleteRead)):
            return "the answer was cut short"
        if isinstance(cur, urllib3.exceptions.DecodeError):
            return "the answer's body could not be decoded"
        if isinstance(cur, http.client.HTTPException) and not isinstance(cur, http.client.RemoteDisconnected):
            return "the answer is not valid HTTP"
        if isinstance(cur, (urllib3.exceptions.InvalidHeader, urllib3.exceptions.HeaderParsingError,
                            requests.exceptions.InvalidHeader)):  # e.g. Content-Length: 38, 39
            return "the answer is not valid HTTP"
        if isinstance(cur, (urllib3.exceptions.ProtocolError, http.client.RemoteDisconnected,
                            ConnectionResetError, BrokenPipeError)):
            inner = cur.args[1] if len(cur.args) > 1 and isinstance(cur.args[1], BaseException) else None
            if inner is not None and not isinstance(inner, (http.client.RemoteDisconnected, ConnectionError)):
                cur = inner
                continue
            return "connection closed without a response"
        if isinstance(cur, urllib3.exceptions.MaxRetryError) and cur.reason is not None:
            cur = cur.reason
            continue
        nxt = cur.__cause__ or cur.__context__
        if nxt is None and cur.args and isinstance(cur.args[0], BaseException):
            nxt = cur.args[0]
        cur = nxt
    return type(exc).__name__
