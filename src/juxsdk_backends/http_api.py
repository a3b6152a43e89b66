"""``http`` publisher: send reports to a Jux API v1 server.

``POST {url}/junit/submit`` with the exact report bytes (never re-serialised), following the
Jux Submission API 1.0.0 (jux-tools/jux-openapi ``specs/v1/openapi-submission.yaml``) and the
per-status policy in ``docs/reference/http-publisher.md``:

======================  ======================================================================
answer                  outcome
======================  ======================================================================
2xx ``SubmitResponse``  :class:`~juxsdk.models.PublishReceipt` ``status="created"`` (or
                        ``"duplicate"`` when the body says so)
2xx, anything else      malformed (no ``test_run_id``, not JSON, too large, cut short):
                        transient, retried, never "published"
409                     receipt ``status="duplicate"`` (already on the server)
400, 413, 422           :class:`~juxsdk.errors.PermanentPublishError` with the server's
                        ``error``, ``details`` and ``suggestions``
401, 403                permanent: token missing / invalid (the token is never shown)
404, 405, 415, 3xx      permanent configuration error ("does the URL end in /api/v1?")
429, 5xx, network       retried (exponential backoff + jitter, ``Retry-After`` /
                        ``X-RateLimit-Reset`` honoured up to ``retry_after_cap``) within
                        ``max_attempts`` and ``total_deadline``; then
                        :class:`~juxsdk.errors.TransientPublishError`
======================  ======================================================================

Hostile servers are expected: the URL is parsed once (urllib3's parser, the one requests uses)
and that one parsed URL decides both where the request goes and whether the token may travel
over plain http; one deadline covers each whole exchange (connect, send, headers, body) and all
attempts; answer bodies are read streamed up to ``max_response_bytes``; every server-provided
string passes :class:`~juxsdk_backends._http_answer.Scrubber` before anything keeps or shows it.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import os
import re
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

import juxsdk
from juxsdk.config.numbers import ATTEMPTS, POSITIVE_SECONDS, SECONDS, Range
from juxsdk.config.secret import Secret
from juxsdk.errors import ConfigError, PermanentPublishError, PublishError, TransientPublishError
from juxsdk.models import PublishReceipt, Report, SignedReport

from ._http_answer import MAX_SERVER_WAIT, Scrubber, decode_json, server_wait_seconds, submit_response

if TYPE_CHECKING:  # requests/urllib3 load when a publisher is built, not when the backend registers
    import requests

    from ._http_transport import Budget, RawAnswer

__all__ = ["MAX_SERVER_WAIT", "HttpApiPublisher", "HttpApiPublisherOptions", "server_wait_seconds"]

log = logging.getLogger("juxsdk.publish.http")

SUBMIT_PATH = "/junit/submit"
CONTENT_TYPE = "application/xml; charset=utf-8"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
URL_HINT = "check the publisher url: does it end in /api/v1? (e.g. https://jux.example.com/api/v1)"
QUEUE_HINT = "the report can be queued and sent later with `jux publish --queue`"
# RFC 3986 characters: unreserved, reserved and '%'. Anything else (space, controls, '\', '"',
# '<', '>', '^', '`', '{', '|', '}', non-ASCII) is read differently by different URL parsers.
_URL_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#[]@!$&'()*+,;=%")


# a host name (or IPv4 address): dot-separated labels of letters, digits, '-' and '_', one
# optional trailing dot; IPv6 literals come in brackets
_HOST_NAME = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*\.?")


def _is_ipv6_literal(host: str) -> bool:
    if not (host.startswith("[") and host.endswith("]")):
        return False
    try:
        ipaddress.IPv6Address(host[1:-1])
    except ValueError:
        return False
    return True


@attrs.frozen
class HttpApiPublisherOptions:
    """Options of the ``http`` publisher (``[backends.http]``).

    Attributes:
        url: Base URL of the Jux API v1, e.g. ``http://127.0.0.1:4000/api/v1`` (RFC 3986
            characters only, no credentials, query or fragment).
        token: Bearer API key as a secret reference (``{env = "JUX_API_TOKEN"}``); None = no auth.
        timeout_connect: Connect timeout per attempt, seconds.
        timeout_read: Longest wait for any single read from the server, seconds.
        max_attempts: Attempts per publish, first one included (>= 1).
        total_deadline: Upper bound on one publish, seconds: every attempt (connect, send,
            answer headers and body) ends by it, and no attempt starts and no wait extends
            past it.
        backoff_base: Exponential backoff factor, seconds (waits are ~base * 2**n, plus up to
            ``backoff_base`` of random jitter).
        retry_after_cap: Longest server-requested wait (``Retry-After`` / ``X-RateLimit-Reset``)
            honoured in-process, seconds; a longer one ends the publish with a transient error
            (the outbox then waits as asked, up to one day).
        max_response_bytes: Largest answer body read, bytes; a larger answer is malformed
            (transient). Jux API answers are small JSON documents.
        ca_bundle: PEM file of CA certificates to verify the server with.
        verify_tls: Verify the server certificate (turn off only for testing).
        allow_insecure_http: Allow sending a bearer token over plain ``http://`` to a
            non-loopback host (or through a non-loopback proxy).
        idempotency_header: Name of the idempotency header (value: the canonical hash).
    """

    url: str
    token: Secret | None = None
    timeout_connect: float = attrs.field(default=5.0, validator=POSITIVE_SECONDS)
    timeout_read: float = attrs.field(default=30.0, validator=POSITIVE_SECONDS)
    max_attempts: int = attrs.field(default=4, validator=ATTEMPTS)
    total_deadline: float = attrs.field(default=60.0, validator=POSITIVE_SECONDS)
    backoff_base: float = attrs.field(default=0.5, validator=SECONDS)
    retry_after_cap: float = attrs.field(default=30.0, validator=SECONDS)
    max_response_bytes: int = attrs.field(default=1024 * 1024, validator=Range(1024, 2**40, unit="bytes"))
    ca_bundle: Path | None = None
    verify_tls: bool = True
    allow_insecure_http: bool = False
    idempotency_header: str = "Idempotency-Key"


# --- the URL: one parser, one decision ---------------------------------------------------------


@attrs.frozen
class Target:
    """The publisher URL as the transport will use it (parsed once, normalised).

    Attributes:
        scheme: ``"http"`` or ``"https"``.
        host: Host as urllib3 normalised it (lower case; IPv6 in brackets).
        port: Port, or None for the scheme's default.
        base: Normalised base URL (no trailing slash).
        endpoint: ``{base}/junit/submit``: the exact string handed to requests.
    """

    scheme: str
    host: str
    port: int | None
    base: str
    endpoint: str

    @property
    def loopback(self) -> bool:
        """True for ``localhost`` and loopback IP literals (127.0.0.0/8, ::1)."""
        return is_loopback_host(self.host)


def is_loopback_host(host: str | None) -> bool:
    """True when ``host`` (as urllib3 normalised it) is ``localhost`` or a loopback IP literal.

    Names other than ``localhost`` (``*.localhost``, ``localhost.``, ``localhost.localdomain``)
    are not: they go to the resolver, which may send them elsewhere.
    """
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.removeprefix("[").removesuffix("]")).is_loopback
    except ValueError:
        return False


def parse_target(url: str) -> Target:
    """Parse and normalise a publisher base URL with urllib3's parser (the one requests uses).

    The URL is refused unless every parser on the way (requests' preparation with urllib3, its
    connection pool with :func:`urllib.parse.urlsplit`) reads the same host and port from the
    normalised endpoint.

    Args:
        url: Base URL, e.g. ``https://jux.example.com/api/v1``.

    Returns:
        The :class:`Target`.

    Raises:
        juxsdk.errors.ConfigError: not an http(s) URL; characters outside RFC 3986 (spaces,
            control characters, backslashes, non-ASCII: write a host in its ``xn--`` form);
            credentials, a query or a fragment; a host that is percent-encoded or carries an
            IPv6 zone; an authority urllib3 rewrites; an ambiguous result.
    """
    import urllib.parse

    from urllib3.exceptions import LocationParseError
    from urllib3.util import Url, parse_url

    hint = "set [backends.http] url, e.g. https://jux.example.com/api/v1"
    raw = url.strip()
    bad = sorted({c for c in raw if c not in _URL_CHARS})
    if bad:
        shown = ", ".join(repr(c) if c.isprintable() and c.isascii() else f"U+{ord(c):04X}" for c in bad[:5])
        raise ConfigError(f"http publisher url contains characters a URL may not contain: {shown}",
                          hint="write the url with RFC 3986 characters only (an international host name "
                               "in its xn-- form)")
    try:
        parts = parse_url(raw)
    except (LocationParseError, ValueError):
        raise ConfigError("http publisher url cannot be parsed", hint=hint) from None
    if parts.scheme not in ("http", "https") or not parts.host or "://" not in raw:
        raise ConfigError("http publisher url is not an http(s) URL", hint=hint)
    if parts.auth is not None or "@" in raw:
        raise ConfigError("http publisher url must not contain credentials or '@'",
                          hint='put the API key in [backends.http] token = {env = "JUX_API_TOKEN"}')
    if parts.query is not None or parts.fragment is not None or "?" in raw or "#" in raw:
        raise ConfigError("http publisher url must not have a query or a fragment", hint=hint)
    host = parts.host.lower()
    if "%" in host or "%" in raw.split("://", 1)[1].split("/", 1)[0]:
        raise ConfigError("http publisher url has a percent-encoded host or an IPv6 zone", hint=hint)
    if not (_HOST_NAME.fullmatch(host) or _is_ipv6_literal(host)):
        raise ConfigError(f"http publisher url host {host!r} is not a host name or IP address", hint=hint)
    authority = raw.split("://", 1)[1].split("/", 1)[0].lower()
    expected = host + (f":{parts.port}" if parts.port is not None else "")
    if authority != expected:
        raise ConfigError(f"http publisher url host {authority!r} is not in normal form (read as {expected!r})",
                          hint=hint)
    path = (parts.path or "").rstrip("/")
    base = Url(scheme=parts.scheme, host=host, port=parts.port, path=path or None).url
    endpoint = base + SUBMIT_PATH
    # the normalised endpoint must mean the same host and port to every parser on the way
    again = parse_url(endpoint)
    split = urllib.parse.urlsplit(endpoint)
    split_host = split.hostname or ""
    if ":" in split_host:
        split_host = f"[{split_host}]"
    if (again.host, again.port) != (host, parts.port) or (split_host, split.port) != (host, parts.port):
        raise ConfigError("http publisher url is ambiguous", hint=hint)
    return Target(scheme=parts.scheme, host=host, port=parts.port, base=base, endpoint=endpoint)


def _first_hop(target: Target) -> tuple[dict[str, str], str | None]:
    """The proxies requests will use for ``target`` (from the environment) and the one it picks."""
    import requests.utils

    proxies = dict(requests.utils.get_environ_proxies(target.endpoint))
    return proxies, requests.utils.select_proxy(target.endpoint, proxies)


def _check_number(name: str, value: float, *, minimum: float, inclusive: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and (
        value >= minimum if inclusive else value > minimum)
    if not ok:
        raise ConfigError(f"http publisher {name} must be a finite number {'>=' if inclusive else '>'} {minimum:g}")


class HttpApiPublisher:
    """Publisher for the Jux API v1 (``POST {url}/junit/submit``).

    Args:
        options: :class:`HttpApiPublisherOptions`.

    Raises:
        juxsdk.errors.ConfigError: the URL is refused (see :func:`parse_target`), a number is
            out of range, or a token would travel over plain http to a non-loopback host or
            through a non-loopback proxy without ``allow_insecure_http``.
    """

    name: ClassVar[str] = "http"
    Options: ClassVar[type[HttpApiPublisherOptions]] = HttpApiPublisherOptions

    def __init__(self, options: HttpApiPublisherOptions) -> None:
        self.options = options
        if options.max_attempts < 1:
            raise ConfigError("http publisher max_attempts must be >= 1")
        for name in ("timeout_connect", "timeout_read", "total_deadline"):
            _check_number(name, getattr(options, name), minimum=0)
        _check_number("backoff_base", options.backoff_base, minimum=0, inclusive=True)
        _check_number("retry_after_cap", options.retry_after_cap, minimum=0, inclusive=True)
        if options.ca_bundle is not None and not Path(options.ca_bundle).expanduser().is_file():
            raise ConfigError(
                f"http publisher ca_bundle {options.ca_bundle} is not a file",
                hint="point ca_bundle at a PEM file of CA certificates",
            )
        target = parse_target(options.url)
        proxies, proxy = _first_hop(target)
        if options.token is not None and target.scheme == "http" and not options.allow_insecure_http:
            if not target.loopback:
                raise ConfigError(
                    f"refusing to send the API token over plain http to {target.host}",
                    hint="use an https:// url, or set allow_insecure_http = true if you accept the risk",
                )
            if proxy is not None and not _proxy_is_loopback(proxy):
                raise ConfigError(
                    "refusing to send the API token over plain http through a proxy that is not on loopback",
                    hint="use an https:// url, add the host to NO_PROXY, or set allow_insecure_http = true",
                )
        self.target = target
        self.base_url = target.base
        self.endpoint = target.endpoint
        self._proxies = proxies
        self._session: requests.Session | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        auth = "token" if self.options.token is not None else "no token"
        return f"HttpApiPublisher(url={self.base_url!r}, {auth})"

    __str__ = __repr__

    # -- session ------------------------------------------------------------------------------

    def _get_session(self) -> requests.Session:
        import requests

        from ._http_transport import BearerAuth, DeadlineAdapter

        with self._lock:
            if self._session is None:
                s = requests.Session()
                adapter = DeadlineAdapter(pool_connections=4, pool_maxsize=16)
                s.mount("http://", adapter)
                s.mount("https://", adapter)
                # Proxy / CA-bundle environment variables are read once (the proxies when the
                # publisher was built: the token guard judged them); never use ~/.netrc.
                s.trust_env = False
                s.proxies.update(self._proxies)
                env_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
                if self.options.ca_bundle is not None:
                    s.verify = str(Path(self.options.ca_bundle).expanduser())
                elif self.options.verify_tls and env_bundle:
                    s.verify = env_bundle
                else:
                    s.verify = self.options.verify_tls
                s.headers.update({"Accept": "application/json", "User-Agent": f"juxsdk/{juxsdk.__version__}"})
                if self.options.token is not None:
                    s.auth = BearerAuth(self.options.token)
                self._session = s
            return self._session

    def close(self) -> None:
        """Close the pooled connections. Idempotent; a later publish reopens them."""
        with self._lock:
            session, self._session = self._session, None
        if session is not None:
            session.close()

    def __enter__(self) -> HttpApiPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- publish ------------------------------------------------------------------------------

    def headers_for(self, report: Report | SignedReport) -> dict[str, str]:
        """Return the per-request headers (no Authorization) for ``report``."""
        return {"Content-Type": CONTENT_TYPE, self.options.idempotency_header: report.canonical_hash}

    def publish(self, report: Report | SignedReport) -> PublishReceipt:
        """POST the exact bytes of ``report`` to ``{url}/junit/submit``.

        Attempts are repeated for network errors, timeouts, malformed answers, 429 and
        500/502/503/504, with exponential backoff, up to ``max_attempts`` and never past
        ``total_deadline`` (which also ends an attempt whose answer trickles in).

        Args:
            report: The report; ``report.data`` is sent unchanged.

        Returns:
            A receipt with ``status`` ``"created"`` (a 2xx ``SubmitResponse``) or
            ``"duplicate"`` (409, or a 2xx whose body says so), the server's ``test_run_id`` as
            ``run_id`` and its counts.

        Raises:
            juxsdk.errors.TransientPublishError: network error, timeout (``total_deadline``
                included), an answer that is malformed, cut short or larger than
                ``max_response_bytes``, 5xx, or 429 after the retry budget
                (``details["retry_after"]`` holds a server-requested wait, seconds, at most
                one day).
            juxsdk.errors.PermanentPublishError: 400/413/422 (``details`` holds the server's
                ``error``, ``details``, ``suggestions``), 401/403 (token missing/invalid),
                404/405/415/3xx (wrong URL), a TLS verification failure, or another 4xx.
            juxsdk.errors.ConfigError: the token secret cannot be resolved.
        """
        from ._http_transport import Budget

        o = self.options
        token = o.token.get() if o.token is not None else None  # ConfigError when unset; never shown
        scrub = Scrubber(token)
        session = self._get_session()
        budget = Budget(o.total_deadline, o.max_attempts, o.backoff_base, o.retry_after_cap)
        while True:
            attempt = budget.next_attempt()
            try:
                return self._attempt(session, report, budget, scrub, token is not None)
            except _Retryable as retry:
                error = retry.error
                wait = budget.retry_wait(retry.server_wait)
                if wait is None:
                    raise error from None  # a longer server wait: the outbox waits as asked
                log.debug("publish to %s: attempt %d failed (%s); retrying in %.2f s",
                          self.endpoint, attempt, error.message, wait)
                time.sleep(wait)
                if budget.remaining() <= 0:
                    raise error from None

    def _attempt(self, session: requests.Session, report: Report | SignedReport, budget: Budget,
                 scrub: Scrubber, has_token: bool) -> PublishReceipt:
        from ._http_transport import TransportFailure, exchange

        o = self.options
        try:
            raw = exchange(session, self.endpoint, data=report.data, headers=self.headers_for(report),
                           timeout=budget.timeouts(o.timeout_connect, o.timeout_read),
                           deadline=budget.deadline, cap=o.max_response_bytes)
        except TransportFailure as exc:
            details: dict[str, object] = {"url": self.endpoint, "exception": exc.exception}
            if exc.kind == "tls":
                raise PermanentPublishError(
                    f"TLS verification of {self.endpoint} failed",
                    hint="set ca_bundle to the server's CA certificates (verify_tls = false only for testing)",
                    details=details,
                ) from None
            if exc.kind == "url":
                raise PermanentPublishError(f"invalid publisher url {self.endpoint}", hint=URL_HINT,
                                            details=details) from None
            if exc.kind == "timeout":
                error = TransientPublishError(
                    f"timed out talking to {self.endpoint} after {budget.elapsed():.1f} s",
                    hint=QUEUE_HINT, details=details)
            elif exc.kind == "malformed":
                error = TransientPublishError(f"{self.endpoint} sent a malformed answer: {scrub.text(exc.reason)}",
                                              hint=QUEUE_HINT, details=details)
            else:
                error = TransientPublishError(
                    f"cannot reach {self.endpoint}: {scrub.text(exc.reason)}",
                    hint="is the server running? the report can be sent later with `jux publish --queue`",
                    details=details)
            raise _Retryable(error) from None
        return self._answer(report, raw, scrub, has_token)

    def _answer(self, report: Report | SignedReport, raw: RawAnswer, scrub: Scrubber,
                has_token: bool) -> PublishReceipt:
        """Map one complete answer to a receipt or an error (everything read goes through ``scrub``)."""
        status = raw.status
        where = self.endpoint
        body, problem = decode_json(raw.body, raw.over_cap, self.options.max_response_bytes, scrub)

        if 200 <= status < 300:
            answer, shape_problem = submit_response(body) if problem is None else (None, problem)
            if answer is None:
                raise _Retryable(TransientPublishError(
                    f"{where} answered HTTP {status} without a valid submit response: {shape_problem}",
                    hint="the report is sent again (queued in cache mode); the server deduplicates it "
                         "by canonical hash, so a resend is safe",
                    status=status,
                    details={"status": status, "url": where, "error": shape_problem},
                ))
            return PublishReceipt(
                publisher=self.name, canonical_hash=report.canonical_hash,
                status="duplicate" if answer.duplicate else "created", run_id=answer.run_id, url=where,
                message=answer.message, counts=answer.counts,
            )
        if status == 409:
            run_id = None
            if isinstance(body, dict):
                inner = body.get("details")
                found = inner.get("test_run_id") if isinstance(inner, dict) else body.get("test_run_id")
                if isinstance(found, (str, int)) and not isinstance(found, bool):
                    run_id = str(found)
            message = body.get("error") if isinstance(body, dict) else None
            return PublishReceipt(publisher=self.name, canonical_hash=report.canonical_hash, status="duplicate",
                                  run_id=run_id, url=where, message=message if isinstance(message, str) else None)

        error, details, suggestions = _error_fields(body, scrub)
        reason = scrub.text(raw.reason)
        server_text = error or reason or f"HTTP {status}"
        info: dict[str, object] = {"status": status, "url": where, "error": error, "details": details,
                                   "suggestions": suggestions}
        if status in RETRY_STATUSES or 500 <= status < 600:
            wait = server_wait_seconds(raw.headers) if status in (429, 503) else None
            if wait is not None:
                info["retry_after"] = wait
            what = "rate limited" if status == 429 else "server error"
            waited = f"; server asks to wait {wait:.0f} s" if wait is not None else ""
            transient = TransientPublishError(f"{what} from {where} (HTTP {status}: {server_text}){waited}",
                                              hint=QUEUE_HINT, status=status, details=info)
            if status in RETRY_STATUSES:
                raise _Retryable(transient, server_wait=wait)
            raise transient
        if status == 401:
            msg = ("the server did not accept the API token (HTTP 401)" if has_token
                   else "the server requires an API token and none is configured")
            raise PermanentPublishError(msg, hint='set [backends.http] token = {env = "JUX_API_TOKEN"} and '
                                        "export the key", status=status, details=info)
        if status == 403:
            raise PermanentPublishError("the API token is invalid, expired or revoked (HTTP 403)",
                                        hint="create a new API key on the Jux server and update the token secret",
                                        status=status, details=info)
        if status in (404, 405, 415) or 300 <= status < 400:
            extra = ""
            if 300 <= status < 400 and raw.headers.get("Location"):
                extra = f" (redirect to {_redact_location(raw.headers['Location'], scrub)})"
            raise PermanentPublishError(f"{where} answered HTTP {status}{extra}: not a Jux API v1 submit endpoint",
                                        hint=URL_HINT, status=status, details=info)
        if not 400 <= status < 500:  # 1xx leftovers and numbers outside HTTP: not an answer
            raise _Retryable(TransientPublishError(f"{where} answered an unexpected HTTP status {status}",
                                                   hint=QUEUE_HINT, status=status, details=info))
        parts = [f"{where} rejected the report (HTTP {status}): {server_text}"]
        if details:
            parts.append(scrub.text("; ".join(f"{k}: {v}" for k, v in details.items())))
        hint = scrub.text("; ".join(suggestions)) if suggestions else None
        raise PermanentPublishError(" — ".join(parts), hint=hint, status=status, details=info)


class _Retryable(Exception):
    """An attempt failed in a way another attempt may fix."""

    def __init__(self, error: PublishError, server_wait: float | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.server_wait = server_wait


def _proxy_is_loopback(proxy: str) -> bool:
    try:
        return is_loopback_host(parse_target(proxy).host)
    except ConfigError:
        return False


def _redact_location(location: str, scrub: Scrubber) -> str:
    """A redirect target for a message: scheme, host, port and path only, scrubbed."""
    from urllib3.exceptions import LocationParseError
    from urllib3.util import Url, parse_url

    try:
        parts = parse_url(location)
        shown = Url(scheme=parts.scheme, host=parts.host, port=parts.port, path=parts.path).url
    except (LocationParseError, ValueError):
        return "an invalid URL"
    return scrub.text(shown)


def _error_fields(body: Any, scrub: Scrubber) -> tuple[str | None, dict[str, object], list[str]]:
    """``error``, ``details`` and ``suggestions`` of an (already scrubbed) error body.

    Values that are not strings are rendered and cut to the scrubber's length limit.
    """
    if not isinstance(body, dict) or not body:
        return None, {}, []
    error = body.get("error")
    if error is None:
        error = body.get("message")
    error_text = scrub.text(error) if error is not None else None
    raw_details = body.get("details")
    details: dict[str, object] = {}
    if isinstance(raw_details, dict):
        details = dict(raw_details)
    elif raw_details is not None:
        details = {"message": scrub.text(raw_details)}
    raw_sugg = body.get("suggestions")
    suggestions = [scrub.text(s) for s in raw_sugg] if isinstance(raw_sugg, list) else []
    return error_text, details, suggestions
