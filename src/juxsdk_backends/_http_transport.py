"""requests/urllib3 glue of the ``http`` publisher, imported on first publish.

Kept apart from :mod:`juxsdk_backends.http_api` so that registering the backend (every
``Registry()``, the pytest plugin's start-up) does not pay for importing requests.
"""

from __future__ import annotations

import time
from typing import Any

import requests
import requests.auth
import urllib3.exceptions
from urllib3.util.retry import Retry

from juxsdk.config.secret import Secret

from .http_api import _Budget, server_wait_seconds


class _BudgetRetry(Retry):
    """urllib3 Retry bounded by a total deadline and a cap on server-requested waits.

    * A ``Retry-After`` / ``X-RateLimit-Reset`` longer than the cap, or than the time left,
      ends retrying at once (the last response is returned and mapped to a transient error).
    * No wait extends past the deadline, and no retry starts after it.
    """

    def __init__(self, *args: Any, budget: _Budget | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.budget = budget

    def new(self, **kw: Any) -> _BudgetRetry:
        kw.setdefault("budget", self.budget)
        return super().new(**kw)

    def get_retry_after(self, response: Any) -> float | None:
        if response is None or response.status not in (429, 503):
            return None
        return server_wait_seconds(response.headers)

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> _BudgetRetry:
        budget = self.budget
        if budget is not None and response is not None:
            wait = self.get_retry_after(response)
            if wait is not None:
                budget.server_wait = wait
                if wait > budget.retry_after_cap or wait >= budget.remaining():
                    reason = urllib3.exceptions.ResponseError(f"server asked to wait {wait:.0f} s")
                    raise urllib3.exceptions.MaxRetryError(_pool, url or "", reason)
        new = super().increment(method, url, response, error, _pool, _stacktrace)
        if budget is not None and budget.remaining() <= 0:
            why: Exception = error or urllib3.exceptions.ResponseError("total deadline reached")
            raise urllib3.exceptions.MaxRetryError(_pool, url or "", why) from why
        return new

    def sleep(self, response: Any = None) -> None:
        wait = self.get_retry_after(response) if response is not None else None
        if wait is None:
            wait = self.get_backoff_time()
        if self.budget is not None:
            wait = min(wait, max(self.budget.remaining(), 0.0))
        if wait > 0:
            time.sleep(wait)


class _BearerAuth(requests.auth.AuthBase):
    """Adds ``Authorization: Bearer …``; its repr never shows the token."""

    def __init__(self, secret: Secret) -> None:
        self._secret = secret

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self._secret.get()}"
        return r

    def __repr__(self) -> str:
        return "_BearerAuth(****)"


def _reason(exc: BaseException) -> str:
    """A short reason for a requests exception, without URLs' userinfo or headers."""
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
        if isinstance(cur, urllib3.exceptions.ProtocolError):
            return "connection closed without a response"
        if isinstance(cur, urllib3.exceptions.MaxRetryError) and cur.reason is not None:
            cur = cur.reason
            continue
        nxt = cur.__cause__ or cur.__context__
        if nxt is None and cur.args and isinstance(cur.args[0], BaseException):
            nxt = cur.args[0]
        cur = nxt
    return type(exc).__name__
