"""``http`` publisher: send reports to a Jux API v1 server.

``POST {url}/junit/submit`` with the exact report bytes (never re-serialised), following the
Jux Submission API 1.0.0 (jux-tools/jux-openapi ``specs/v1/openapi-submission.yaml``) and the
per-status policy in ``docs/reference/http-publisher.md``:

======================  ======================================================================
status                  outcome
======================  ======================================================================
201 / other 2xx         :class:`~juxsdk.models.PublishReceipt` ``status="created"`` (an
                        unparseable body is still a success, logged as a warning)
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

Retries are done by urllib3's :class:`~urllib3.util.retry.Retry` mounted on one pooled
:class:`requests.Session` per publisher; POST is retried because every request carries an
idempotency key derived from the report's canonical hash, and the server deduplicates by that
hash anyway.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import threading
import time
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

import juxsdk
from juxsdk.config.numbers import ATTEMPTS, POSITIVE_SECONDS, SECONDS
from juxsdk.config.secret import Secret
from juxsdk.errors import ConfigError, PermanentPublishError, TransientPublishError
from juxsdk.models import PublishReceipt, Report, SignedReport

if TYPE_CHECKING:  # requests/urllib3 load on first publish, not when the backend registers
    import requests

    from ._http_transport import _BudgetRetry

__all__ = ["HttpApiPublisher", "HttpApiPublisherOptions"]

log = logging.getLogger("juxsdk.publish.http")

SUBMIT_PATH = "/junit/submit"
CONTENT_TYPE = "application/xml; charset=utf-8"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
DEAD_LETTER_STATUSES = frozenset({400, 413, 422})
URL_HINT = "check the publisher url: does it end in /api/v1? (e.g. https://jux.example.com/api/v1)"


@attrs.frozen
class HttpApiPublisherOptions:
    """Options of the ``http`` publisher (``[backends.http]``).

    Attributes:
        url: Base URL of the Jux API v1, e.g. ``http://127.0.0.1:4000/api/v1``.
        token: Bearer API key as a secret reference (``{env = "JUX_API_TOKEN"}``); None = no auth.
        timeout_connect: Connect timeout per attempt, seconds.
        timeout_read: Read timeout per attempt, seconds.
        max_attempts: Attempts per publish, first one included (>= 1).
        total_deadline: Upper bound on the time one publish spends retrying, seconds: no
            attempt starts and no wait extends past it.
        backoff_base: Exponential backoff factor, seconds (waits are ~base * 2**n, plus up to
            ``backoff_base`` of random jitter).
        retry_after_cap: Longest server-requested wait (``Retry-After`` / ``X-RateLimit-Reset``)
            honoured in-process, seconds; a longer one ends the publish with a transient error
            (the outbox then waits as asked).
        ca_bundle: PEM file of CA certificates to verify the server with.
        verify_tls: Verify the server certificate (turn off only for testing).
        allow_insecure_http: Allow sending a bearer token over plain ``http://`` to a
            non-loopback host.
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
    ca_bundle: Path | None = None
    verify_tls: bool = True
    allow_insecure_http: bool = False
    idempotency_header: str = "Idempotency-Key"


# --- retry policy ----------------------------------------------------------------------------


class _Budget:
    """Per-thread deadline shared by a publisher's Retry objects (one publish per thread)."""

    def __init__(self, retry_after_cap: float) -> None:
        self.retry_after_cap = retry_after_cap
        self._local = threading.local()

    def start(self, seconds: float) -> None:
        self._local.deadline = time.monotonic() + seconds
        self._local.server_wait = None

    def remaining(self) -> float:
        deadline: float | None = getattr(self._local, "deadline", None)
        if deadline is None:
            return float("inf")
        return deadline - time.monotonic()

    @property
    def server_wait(self) -> float | None:
        value: float | None = getattr(self._local, "server_wait", None)
        return value

    @server_wait.setter
    def server_wait(self, value: float | None) -> None:
        self._local.server_wait = value


def server_wait_seconds(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Return how long a 429/503 response asks the client to wait, in seconds.

    Reads ``Retry-After`` (delta-seconds or HTTP-date, RFC 9110 §10.2.3), else
    ``X-RateLimit-Reset`` (unix time, Jux API v1). Returns None when neither is usable.
    """
    value = headers.get("Retry-After")
    if value is not None:
        value = value.strip()
        if value.isdigit():
            return float(value)
        try:
            import email.utils

            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            return max(when.timestamp() - (now if now is not None else time.time()), 0.0)
    reset = headers.get("X-RateLimit-Reset")
    if reset is not None:
        try:
            return max(float(reset.strip()) - (now if now is not None else time.time()), 0.0)
        except ValueError:
            return None
    return None


# --- helpers ---------------------------------------------------------------------------------


def _redact_url(url: str) -> str:
    """Drop userinfo and query from a URL for messages."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _scrub(text: str, secret: str | None) -> str:
    if secret:
        text = text.replace(secret, "****")
    return text


class HttpApiPublisher:
    """Publisher for the Jux API v1 (``POST {url}/junit/submit``).

    Args:
        options: :class:`HttpApiPublisherOptions`.

    Raises:
        juxsdk.errors.ConfigError: the URL is not http(s), the numbers are out of range, or a
            token would travel over plain http to a non-loopback host without
            ``allow_insecure_http``.
    """

    name: ClassVar[str] = "http"
    Options: ClassVar[type[HttpApiPublisherOptions]] = HttpApiPublisherOptions

    def __init__(self, options: HttpApiPublisherOptions) -> None:
        self.options = options
        base = options.url.strip().rstrip("/")
        parts = urllib.parse.urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"http publisher url {_redact_url(base)!r} is not an http(s) URL",
                hint="set [backends.http] url, e.g. https://jux.example.com/api/v1",
            )
        if parts.username or parts.password:
            raise ConfigError(
                "http publisher url must not contain credentials",
                hint="put the API key in [backends.http] token = {env = \"JUX_API_TOKEN\"}",
            )
        if (
            options.token is not None
            and parts.scheme == "http"
            and not _is_loopback(parts.hostname)
            and not options.allow_insecure_http
        ):
            raise ConfigError(
                f"refusing to send the API token over plain http to {parts.hostname}",
                hint="use an https:// url, or set allow_insecure_http = true if you accept the risk",
            )
        if options.max_attempts < 1:
            raise ConfigError("http publisher max_attempts must be >= 1")
        if min(options.timeout_connect, options.timeout_read, options.total_deadline) <= 0:
            raise ConfigError("http publisher timeouts and total_deadline must be > 0 seconds")
        if options.ca_bundle is not None and not Path(options.ca_bundle).expanduser().is_file():
            raise ConfigError(
                f"http publisher ca_bundle {options.ca_bundle} is not a file",
                hint="point ca_bundle at a PEM file of CA certificates",
            )
        self.base_url = base
        self.endpoint = base + SUBMIT_PATH
        self._budget = _Budget(options.retry_after_cap)
        self._session: requests.Session | None = None
        self._lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        auth = "token" if self.options.token is not None else "no token"
        return f"HttpApiPublisher(url={_redact_url(self.base_url)!r}, {auth})"

    __str__ = __repr__

    # -- session ------------------------------------------------------------------------------

    def _make_retry(self) -> _BudgetRetry:
        from ._http_transport import _BudgetRetry

        o = self.options
        return _BudgetRetry(
            total=o.max_attempts - 1,
            connect=None,
            read=None,
            redirect=0,
            status=None,
            other=0,
            allowed_methods=frozenset({"POST", "GET"}),
            status_forcelist=RETRY_STATUSES,
            backoff_factor=o.backoff_base,
            backoff_jitter=o.backoff_base,
            backoff_max=max(o.total_deadline, o.backoff_base),
            raise_on_status=False,
            raise_on_redirect=False,
            respect_retry_after_header=True,
            budget=self._budget,
        )

    def _get_session(self) -> requests.Session:
        import requests
        import requests.adapters
        import requests.utils

        from ._http_transport import _BearerAuth

        with self._lock:
            if self._session is None:
                s = requests.Session()
                adapter = requests.adapters.HTTPAdapter(
                    max_retries=self._make_retry(), pool_connections=4, pool_maxsize=16
                )
                s.mount("http://", adapter)
                s.mount("https://", adapter)
                # Read proxy / CA-bundle environment variables once, not on every request
                # (requests' per-request environment merge costs ~0.3 ms); never use ~/.netrc.
                s.trust_env = False
                s.proxies.update(requests.utils.get_environ_proxies(self.endpoint))
                env_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
                if self.options.ca_bundle is not None:
                    s.verify = str(Path(self.options.ca_bundle).expanduser())
                elif self.options.verify_tls and env_bundle:
                    s.verify = env_bundle
                else:
                    s.verify = self.options.verify_tls
                s.headers.update(
                    {
                        "Accept": "application/json",
                        "User-Agent": f"juxsdk/{juxsdk.__version__}",
                    }
                )
                if self.options.token is not None:
                    s.auth = _BearerAuth(self.options.token)
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
        return {
            "Content-Type": CONTENT_TYPE,
            self.options.idempotency_header: report.canonical_hash,
        }

    def publish(self, report: Report | SignedReport) -> PublishReceipt:
        """POST the exact bytes of ``report`` to ``{url}/junit/submit``.

        Args:
            report: The report; ``report.data`` is sent unchanged.

        Returns:
            A receipt with ``status`` ``"created"`` (201/2xx) or ``"duplicate"`` (409, or a 2xx
            whose body says so), the server's ``test_run_id`` as ``run_id`` and its counts.

        Raises:
            juxsdk.errors.TransientPublishError: network error, timeout, 5xx or 429 after the
                retry budget (``details["retry_after"]`` holds a server-requested wait, s).
            juxsdk.errors.PermanentPublishError: 400/413/422 (``details`` holds the server's
                ``error``, ``details``, ``suggestions``), 401/403 (token missing/invalid),
                404/405/415/3xx (wrong URL), a TLS verification failure, or another 4xx.
            juxsdk.errors.ConfigError: the token secret cannot be resolved.
        """
        import requests
        import urllib3.exceptions

        from ._http_transport import _reason

        o = self.options
        token_value: str | None = None
        if o.token is not None:
            token_value = o.token.get()  # ConfigError when unset; never shown
        session = self._get_session()
        self._budget.start(o.total_deadline)
        timeout = (min(o.timeout_connect, o.total_deadline), min(o.timeout_read, o.total_deadline))
        where = _redact_url(self.endpoint)
        started = time.monotonic()
        try:
            response = session.post(
                self.endpoint,
                data=report.data,
                headers=self.headers_for(report),
                timeout=timeout,
                allow_redirects=False,
            )
            try:
                body_bytes = response.content
            finally:
                response.close()
        except requests.exceptions.SSLError as exc:
            raise PermanentPublishError(
                f"TLS verification of {where} failed",
                hint="set ca_bundle to the server's CA certificates (verify_tls = false only for testing)",
                details={"url": where, "exception": type(exc).__name__},
            ) from None
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema) as exc:
            raise PermanentPublishError(
                f"invalid publisher url {where}", hint=URL_HINT, details={"url": where}
            ) from exc
        except requests.exceptions.Timeout as exc:
            raise TransientPublishError(
                f"timed out talking to {where} after {time.monotonic() - started:.1f} s",
                hint="the report can be queued and sent later with `jux publish --queue`",
                details={"url": where, "exception": type(exc).__name__},
            ) from None
        except requests.exceptions.RequestException as exc:
            reason = _scrub(_reason(exc), token_value)
            if reason == "timed out":
                raise TransientPublishError(
                    f"timed out talking to {where} after {time.monotonic() - started:.1f} s",
                    hint="the report can be queued and sent later with `jux publish --queue`",
                    details={"url": where, "exception": type(exc).__name__},
                ) from None
            raise TransientPublishError(
                f"cannot reach {where}: {reason}",
                hint="is the server running? the report can be sent later with `jux publish --queue`",
                details={"url": where, "exception": type(exc).__name__},
            ) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise TransientPublishError(
                f"cannot reach {where}: {type(exc).__name__}",
                details={"url": where, "exception": type(exc).__name__},
            ) from None
        return self._handle(report, response, body_bytes, token_value)

    def _handle(
        self,
        report: Report | SignedReport,
        response: requests.Response,
        body_bytes: bytes,
        token_value: str | None,
    ) -> PublishReceipt:
        status = response.status_code
        where = _redact_url(self.endpoint)
        body: dict[str, Any] | None
        try:
            parsed = json.loads(body_bytes) if body_bytes else None
            body = parsed if isinstance(parsed, dict) else None
        except ValueError:
            body = None

        if 200 <= status < 300:
            if body is None:
                log.warning(
                    "publish to %s: HTTP %d with a body that is not a JSON object; treating as stored",
                    where,
                    status,
                )
                return PublishReceipt(publisher=self.name, canonical_hash=report.canonical_hash,
                                      status="created", url=where)
            return self._receipt(report, body, "duplicate" if body.get("duplicate") else "created")
        if status == 409:
            return self._receipt(report, body or {}, "duplicate")

        error, details, suggestions = _error_fields(body, token_value)
        server_text = error or response.reason or f"HTTP {status}"
        info: dict[str, object] = {
            "status": status,
            "url": where,
            "error": error,
            "details": details,
            "suggestions": suggestions,
        }
        if status in RETRY_STATUSES:
            wait = server_wait_seconds(response.headers) if status in (429, 503) else None
            if wait is not None:
                info["retry_after"] = wait
            what = "rate limited" if status == 429 else "server error"
            waited = f"; server asks to wait {wait:.0f} s" if wait is not None else ""
            raise TransientPublishError(
                f"{what} from {where} (HTTP {status}: {server_text}){waited}",
                hint="the report can be queued and sent later with `jux publish --queue`",
                status=status,
                details=info,
            )
        if status == 401:
            msg = ("the server requires an API token and none is configured" if token_value is None
                   else "the server did not accept the API token (HTTP 401)")
            raise PermanentPublishError(
                msg,
                hint='set [backends.http] token = {env = "JUX_API_TOKEN"} and export the key',
                status=status,
                details=info,
            )
        if status == 403:
            raise PermanentPublishError(
                "the API token is invalid, expired or revoked (HTTP 403)",
                hint="create a new API key on the Jux server and update the token secret",
                status=status,
                details=info,
            )
        if status in (404, 405, 415) or 300 <= status < 400:
            extra = ""
            if 300 <= status < 400 and response.headers.get("Location"):
                extra = f" (redirect to {_redact_url(response.headers['Location'])})"
            raise PermanentPublishError(
                f"{where} answered HTTP {status}{extra}: not a Jux API v1 submit endpoint",
                hint=URL_HINT,
                status=status,
                details=info,
            )
        parts = [f"{where} rejected the report (HTTP {status}): {server_text}"]
        if details:
            parts.append("; ".join(f"{k}: {v}" for k, v in details.items()))
        hint = "; ".join(suggestions) if suggestions else None
        raise PermanentPublishError(" — ".join(parts), hint=hint, status=status, details=info)

    def _receipt(self, report: Report | SignedReport, body: Mapping[str, Any], status: str) -> PublishReceipt:
        run: Mapping[str, Any] = body
        nested = body.get("test_run")
        if isinstance(nested, Mapping):  # older envelope {"status", "message", "test_run": {...}}
            run = nested
        details = body.get("details")
        run_id = run.get("test_run_id") or run.get("id") or body.get("test_run_id")
        if run_id is None and isinstance(details, Mapping):
            run_id = details.get("test_run_id")
        counts = {
            k: run[k]
            for k in ("test_count", "failure_count", "error_count", "skipped_count", "success_rate",
                      "total_tests", "failures", "errors", "skipped")
            if k in run
        }
        message = body.get("message") or body.get("error")
        return PublishReceipt(
            publisher=self.name,
            canonical_hash=report.canonical_hash,
            status=status,
            run_id=str(run_id) if run_id is not None else None,
            url=_redact_url(self.endpoint),
            message=str(message) if message is not None else None,
            counts=counts,
        )


def _error_fields(
    body: Mapping[str, Any] | None, secret: str | None
) -> tuple[str | None, dict[str, object], list[str]]:
    if not body:
        return None, {}, []
    error = body.get("error")
    error_text = _scrub(str(error), secret) if error is not None else None
    raw_details = body.get("details")
    details: dict[str, object] = {}
    if isinstance(raw_details, Mapping):
        details = {str(k): (_scrub(v, secret) if isinstance(v, str) else v) for k, v in raw_details.items()}
    elif raw_details is not None:
        details = {"message": _scrub(str(raw_details), secret)}
    raw_sugg = body.get("suggestions")
    suggestions = [_scrub(str(s), secret) for s in raw_sugg] if isinstance(raw_sugg, list) else []
    if error_text is None and body.get("message") is not None:
        error_text = _scrub(str(body["message"]), secret)
    return error_text, details, suggestions
