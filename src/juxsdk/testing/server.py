"""A reference Jux API v1 server for tests, on loopback.

It implements what a publisher talks to, per the Jux Submission API 1.0.0 and Query API
(jux-tools/jux-openapi ``specs/v1``; summary in ``docs/reference/http-publisher.md``):

* ``POST {base}/junit/submit`` — parses the JUnit XML with :func:`juxsdk.parse_report`,
  requires a ``project`` property, optionally verifies the XMLDSig signature against a
  :class:`juxsdk.TrustPolicy`, deduplicates by canonical hash (answering 201 again or 409),
  enforces bearer tokens (401 missing, 403 unknown);
* ``GET {base}/test_runs?page=&per_page=`` and ``GET {base}/test_runs/{id}``;
* fault injection: 429 with ``Retry-After``, sequences of 5xx, slow responses, dropped
  connections, arbitrary status/body;
* a hostile mode (:mod:`juxsdk.testing.hostile`): huge, trickling and truncated answers,
  answers that echo the client's bearer token (reason phrase, body keys, nested values,
  success body), odd ``Retry-After`` / ``X-RateLimit-Reset`` headers, deeply nested JSON —
  per request with :meth:`JuxApiServer.inject`, or for every request with ``hostile=NAME``.

Example::

    from juxsdk.testing.server import JuxApiServer

    with JuxApiServer(tokens={"s3cret"}) as server:
        server.inject(status=503, count=2)          # two 503s, then normal service
        ...  # publish to server.url ("http://127.0.0.1:<port>/api/v1")
        assert len(server.runs) == 1

Command line: ``python -m juxsdk.testing.server --port 4000 [--token T] [--db runs.sqlite]
[--hostile NAME]``.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime as dt
import http.server
import json
import sqlite3
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from . import hostile as _hostile

if TYPE_CHECKING:
    from juxsdk.trust import TrustPolicy

__all__ = ["Fault", "JuxApiServer", "Submission", "main"]

API_PREFIX = "/api/v1"
DEFAULT_MAX_BODY = 50 * 1024 * 1024


@attrs.define
class Fault:
    """One injected misbehaviour of the submit endpoint (see :meth:`JuxApiServer.inject`).

    ``retry_after`` and ``rate_limit_reset`` may be tuples of values: request ``n`` gets
    value ``n % len``.
    """

    status: int | None = None
    retry_after: str | tuple[str, ...] | None = None
    rate_limit_reset: str | tuple[str, ...] | None = None
    delay: float = 0.0
    drop: bool = False
    body: bytes | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict)
    after_store: bool = False
    remaining: int = 1
    reason: str | None = None
    body_size: int | None = None
    declare_length: bool = True
    truncate: int | None = None
    trickle: float | None = None
    trickle_headers: bool = False
    echo_token: bool = False
    nest: int | None = None
    raw: bytes | None = None


@attrs.frozen
class Submission:
    """A log line for every submit request the server saw.

    Attributes:
        status: HTTP status answered (0 when the connection was dropped).
        canonical_hash: Hash of the report, when it parsed.
        idempotency_key: Value of the ``Idempotency-Key`` header, if sent.
        authorized: True when a valid bearer token was presented (or no auth is configured).
        bearer: True when any ``Authorization`` header was sent (valid or not).
        user_agent: The ``User-Agent`` header.
        content_type: The ``Content-Type`` header.
        accept: The ``Accept`` header.
        created: True when this request created a new run.
    """

    status: int
    canonical_hash: str | None
    idempotency_key: str | None
    authorized: bool
    user_agent: str | None
    content_type: str | None
    accept: str | None = None
    created: bool = False
    bearer: bool = False


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    jux: JuxApiServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client that hangs up (e.g. after reading as much as it wanted) is normal
        super().handle_error(request, client_address)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # keep-alive + Nagle + delayed ACK would stall ~40 ms per request
    server: _HTTPServer
    server_version = "JuxReferenceServer/1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet; requests are recorded in JuxApiServer.submissions

    # -- plumbing -----------------------------------------------------------------------------

    def _send(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if not isinstance(body, bytes)
                         else "application/octet-stream")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        # headers and body in one write (one TCP segment for small answers)
        self._headers_buffer.append(b"\r\n" + payload)  # type: ignore[attr-defined]
        self.flush_headers()

    def _read_body(self, limit: int) -> bytes | None:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self.close_connection = True
            return None
        n = int(length)
        if n > limit:
            self.close_connection = True
            return b""  # caller answers 413 without reading
        return self.rfile.read(n)

    def _route(self) -> tuple[str, dict[str, list[str]]]:
        parts = urllib.parse.urlsplit(self.path)
        return parts.path.rstrip("/") or "/", urllib.parse.parse_qs(parts.query)

    # -- verbs --------------------------------------------------------------------------------

    def do_POST(self) -> None:
        path, _ = self._route()
        if path == API_PREFIX + "/junit/submit":
            self.server.jux._handle_submit(self)
            return
        length = self.headers.get("Content-Length")
        if length and length.isdigit():
            self.rfile.read(int(length))
        if path == API_PREFIX + "/test_runs" or path.startswith(API_PREFIX + "/test_runs/"):
            self._send(405, {"error": "method not allowed"}, {"Allow": "GET"})
            return
        self._send(404, {"error": "not found", "details": {"path": path}})

    def do_GET(self) -> None:
        path, query = self._route()
        jux = self.server.jux
        if path == API_PREFIX + "/junit/submit":
            self._send(405, {"error": "method not allowed"}, {"Allow": "POST"})
            return
        if not jux._authorized(self)[0]:
            status = 401 if self.headers.get("Authorization") is None else 403
            self._send(status, {"error": "unauthorized" if status == 401 else "forbidden"})
            return
        if path == API_PREFIX + "/test_runs":
            try:
                page = max(int(query.get("page", ["1"])[0]), 1)
                per_page = min(max(int(query.get("per_page", ["20"])[0]), 1), 100)
            except ValueError:
                self._send(400, {"error": "page and per_page must be integers"})
                return
            runs = jux.runs
            chunk = runs[(page - 1) * per_page: page * per_page]
            self._send(200, {
                "data": [_public(r) for r in chunk],
                "meta": {"page": page, "per_page": per_page, "total": len(runs),
                         "total_pages": (len(runs) + per_page - 1) // per_page},
            })
            return
        if path.startswith(API_PREFIX + "/test_runs/"):
            run_id = path[len(API_PREFIX + "/test_runs/"):]
            run = jux.get_run(run_id)
            if run is None:
                self._send(404, {"error": "test run not found", "details": {"id": run_id}})
            else:
                self._send(200, {"data": _public(run)})
            return
        self._send(404, {"error": "not found", "details": {"path": path}})


def _public(run: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in run.items() if not k.startswith("_")}


class JuxApiServer:
    """A threaded reference Jux API v1 server on ``host:port`` (port 0 = ephemeral).

    Args:
        host: Address to bind; keep it loopback.
        port: TCP port; 0 picks a free one (read :attr:`url` after :meth:`start`).
        tokens: Accepted bearer tokens; None disables auth (like a local workstation server).
        trust: When set, signatures are verified with :func:`juxsdk.verify_report` against it
            and an unsigned or invalid report gets 400 with the reason in ``details``.
        duplicate_status: Answer to a report already stored (same canonical hash): 201 (the
            existing run, ``"duplicate": true``) or 409.
        db_path: SQLite file to keep runs in (survives restarts); None keeps them in memory.
        response_shape: ``"current"`` (flat ``SubmitResponse``) or ``"legacy"``
            (``{"status", "message", "test_run": {...}}``).
        max_body: Largest accepted request body, bytes (413 beyond).
        hostile: Name of a :data:`juxsdk.testing.hostile.PRESETS` profile applied to every
            submit request that no injected fault claims (``"huge"``, ``"trickle"``,
            ``"truncated"``, ``"echo-token"``, ``"odd-headers"``, ``"nested"``, …).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tokens: Iterable[str] | None = None,
        trust: TrustPolicy | None = None,
        duplicate_status: int = 201,
        db_path: Path | str | None = None,
        response_shape: str = "current",
        max_body: int = DEFAULT_MAX_BODY,
        hostile: str | None = None,
    ) -> None:
        if hostile is not None and hostile not in _hostile.PRESETS:
            raise ValueError(f"unknown hostile mode {hostile!r}; known: {', '.join(sorted(_hostile.PRESETS))}")
        if duplicate_status not in (201, 409):
            raise ValueError("duplicate_status must be 201 or 409")
        if response_shape not in ("current", "legacy"):
            raise ValueError("response_shape must be 'current' or 'legacy'")
        self.host = host
        self.port = port
        self.tokens = frozenset(tokens) if tokens is not None else None
        self.trust = trust
        self.duplicate_status = duplicate_status
        self.db_path = Path(db_path) if db_path is not None else None
        self.response_shape = response_shape
        self.max_body = max_body
        self._lock = threading.RLock()
        self._faults: collections.deque[Fault] = collections.deque()
        self.hostile = hostile
        self._profile = _make_fault(**_hostile.PRESETS[hostile], count=1) if hostile is not None else None
        self._seen = 0
        self._runs: list[dict[str, Any]] = []
        self._by_hash: dict[str, dict[str, Any]] = {}
        self._by_id: dict[str, dict[str, Any]] = {}
        self._bodies: dict[str, bytes] = {}
        self._submissions: list[Submission] = []
        self._db: sqlite3.Connection | None = None
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> JuxApiServer:
        """Bind and serve in a background thread. Returns self.

        Raises:
            OSError: the address is in use or cannot be bound.
        """
        if self._httpd is not None:
            return self
        if self.db_path is not None:
            self._open_db(self.db_path)
        httpd = _HTTPServer((self.host, self.port), _Handler)
        httpd.jux = self
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="jux-api-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket (and the SQLite file). Idempotent."""
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> JuxApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL ending in ``/api/v1``, e.g. ``http://127.0.0.1:41234/api/v1``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{API_PREFIX}"

    @property
    def submit_url(self) -> str:
        """``{url}/junit/submit``."""
        return self.url + "/junit/submit"

    # -- state --------------------------------------------------------------------------------

    @property
    def runs(self) -> list[dict[str, Any]]:
        """Stored runs in insertion order (copies; ``canonical_hash`` included)."""
        with self._lock:
            return [dict(r) for r in self._runs]

    @property
    def submissions(self) -> list[Submission]:
        """Every submit request seen, in order (including rejected and dropped ones)."""
        with self._lock:
            return list(self._submissions)

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        """Return a copy of run ``run_id``, or None."""
        with self._lock:
            run = self._by_id.get(run_id)
            return dict(run) if run is not None else None

    def body_of(self, canonical_hash: str) -> bytes | None:
        """Return the exact bytes received for a stored report, or None."""
        with self._lock:
            return self._bodies.get(canonical_hash)

    def reset(self) -> None:
        """Forget runs, submissions and pending faults (and empty the SQLite table)."""
        with self._lock:
            self._runs.clear()
            self._by_hash.clear()
            self._by_id.clear()
            self._bodies.clear()
            self._submissions.clear()
            self._faults.clear()
            if self._db is not None:
                self._db.execute("DELETE FROM runs")
                self._db.commit()

    def inject(
        self,
        status: int | None = None,
        *,
        retry_after: float | str | tuple[str, ...] | None = None,
        rate_limit_reset: float | str | tuple[str, ...] | None = None,
        delay: float = 0.0,
        drop: bool = False,
        body: bytes | Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        after_store: bool = False,
        count: int = 1,
        reason: str | None = None,
        body_size: int | None = None,
        declare_length: bool = True,
        truncate: int | None = None,
        trickle: float | None = None,
        trickle_headers: bool = False,
        echo_token: bool = False,
        nest: int | None = None,
        raw: bytes | None = None,
    ) -> None:
        """Make the next ``count`` submit requests misbehave (faults queue in call order).

        Without ``status`` or ``drop`` the request is processed normally and only the way the
        answer is written misbehaves (``trickle``, ``truncate``, ``echo_token``…).

        Args:
            status: Answer this status instead of processing (e.g. 429, 503, 413).
            retry_after: ``Retry-After`` header value (seconds or HTTP-date, or any string;
                a tuple: request ``n`` gets value ``n % len``).
            rate_limit_reset: ``X-RateLimit-Reset`` value (unix time, or any string / tuple).
            delay: Sleep this many seconds before answering (slow server).
            drop: Close the connection without any response.
            body: Response body (bytes, or a dict sent as JSON) for ``status``.
            headers: Extra response headers (values sent as UTF-8).
            after_store: Apply ``drop``/``status`` after the report was stored (the response
                is lost but the run exists — exercises idempotent retries).
            count: How many requests this fault applies to.
            reason: Status reason phrase.
            body_size: Send a body of this many bytes, generated while sending (e.g. 10 GiB).
            declare_length: Send ``Content-Length`` (else the body ends at connection close).
            truncate: Announce the whole body but send only this many bytes, then close.
            trickle: Send one byte every ``trickle`` seconds (the body; the status line and
                headers too with ``trickle_headers``).
            trickle_headers: Trickle the status line and headers as well.
            echo_token: Echo the client's bearer token in the reason phrase, body keys, nested
                values (raw, percent-encoded, base64, JSON-escaped) and a success body.
            nest: Make the body JSON nested this many levels deep.
            raw: Send these bytes as the whole answer (status line included), then close.
        """
        fault = _make_fault(status=status, retry_after=retry_after, rate_limit_reset=rate_limit_reset,
                            delay=delay, drop=drop, body=body, headers=headers, after_store=after_store,
                            count=count, reason=reason, body_size=body_size, declare_length=declare_length,
                            truncate=truncate, trickle=trickle, trickle_headers=trickle_headers,
                            echo_token=echo_token, nest=nest, raw=raw)
        with self._lock:
            self._faults.append(fault)

    def _next_fault(self) -> tuple[Fault | None, int]:
        with self._lock:
            n = self._seen
            self._seen += 1
            while self._faults and self._faults[0].remaining <= 0:
                self._faults.popleft()
            if not self._faults:
                return self._profile, n
            fault = self._faults[0]
            fault.remaining -= 1
            return fault, n

    # -- persistence --------------------------------------------------------------------------

    def _open_db(self, path: Path) -> None:
        db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(
            "CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, canonical_hash TEXT UNIQUE, "
            "run TEXT NOT NULL, body BLOB NOT NULL, seq INTEGER)"
        )
        with self._lock:
            self._db = db
            for run_json, body in db.execute("SELECT run, body FROM runs ORDER BY seq"):
                run = json.loads(run_json)
                self._index(run, bytes(body))

    def _index(self, run: dict[str, Any], body: bytes) -> None:
        self._runs.append(run)
        self._by_hash[run["canonical_hash"]] = run
        self._by_id[run["id"]] = run
        self._bodies[run["canonical_hash"]] = body

    # -- request handling ---------------------------------------------------------------------

    def _authorized(self, h: _Handler) -> tuple[bool, int]:
        if self.tokens is None:
            return True, 0
        auth = h.headers.get("Authorization")
        if auth is None:
            return False, 401
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "bearer" or value.strip() not in self.tokens:
            return False, 403
        return True, 0

    def _log(self, h: _Handler, status: int, chash: str | None, authorized: bool,
             created: bool = False) -> None:
        with self._lock:
            self._submissions.append(
                Submission(
                    status=status,
                    canonical_hash=chash,
                    idempotency_key=h.headers.get("Idempotency-Key"),
                    authorized=authorized,
                    user_agent=h.headers.get("User-Agent"),
                    content_type=h.headers.get("Content-Type"),
                    accept=h.headers.get("Accept"),
                    created=created,
                    bearer=h.headers.get("Authorization") is not None,
                )
            )

    def _fault_response(self, h: _Handler, fault: Fault, n: int, chash: str | None, authorized: bool) -> None:
        if fault.drop:
            self._log(h, 0, chash, authorized)
            h.close_connection = True
            return
        status = fault.status or 500
        headers: dict[str, str] = {}
        retry_after = _pick(fault.retry_after, n)
        if retry_after is not None:
            headers["Retry-After"] = retry_after
        if status == 429:
            headers["X-RateLimit-Limit"] = "100"
            headers["X-RateLimit-Remaining"] = "0"
            reset = _pick(fault.rate_limit_reset, n)
            if reset is not None:
                headers["X-RateLimit-Reset"] = reset
        body: Any = fault.body
        if body is None:
            body = {"error": {429: "rate limit exceeded"}.get(status, f"injected fault {status}"),
                    "details": {"retry_after": retry_after} if retry_after else {},
                    "suggestions": []}
        self._reply(h, fault, status, body, headers, chash, authorized)

    def _reply(self, h: _Handler, fault: Fault | None, status: int, payload: Any,
               headers: Mapping[str, str], chash: str | None, authorized: bool, created: bool = False) -> None:
        self._log(h, status, chash, authorized, created)
        if fault is None:
            h._send(status, payload, headers)
            return
        if fault.raw is not None:
            h.close_connection = True
            with contextlib.suppress(OSError):
                h.wfile.write(fault.raw)
            return
        token = None
        auth = h.headers.get("Authorization")
        if auth is not None:
            token = auth.partition(" ")[2].strip() or None
        echo = fault.echo_token and token is not None
        all_headers = {"Content-Type": "application/json", **headers, **fault.headers}
        reason = fault.reason if fault.reason is not None else h.responses.get(status, ("Unknown",))[0]
        if echo:
            reason = f"{reason} for {token}"
            all_headers["X-Echo"] = f"Bearer {token}"
            if 300 <= status < 400:
                all_headers["Location"] = f"http://127.0.0.1/{token}/api/v1?key={token}"
        body = _hostile.render_body(status, payload, token=token, echo=echo, nest=fault.nest)
        keep_alive = _hostile.write_answer(
            h.wfile, status=status, reason=reason, headers=all_headers, body=body, body_size=fault.body_size,
            declare_length=fault.declare_length, truncate=fault.truncate, trickle=fault.trickle,
            trickle_headers=fault.trickle_headers)
        h.close_connection = not keep_alive

    def _handle_submit(self, h: _Handler) -> None:
        fault, n = self._next_fault()
        ok, auth_status = self._authorized(h)
        body = h._read_body(self.max_body)
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if fault is not None and not fault.after_store and (fault.drop or fault.status):
            self._fault_response(h, fault, n, None, ok)
            return
        if body is None:
            self._reply(h, fault, 411, {"error": "Content-Length required"}, {}, None, ok)
            return
        if not ok:
            err = ("authentication required" if auth_status == 401 else "invalid or revoked API key")
            self._reply(h, fault, auth_status, {"error": err, "details": {},
                                                "suggestions": ["send Authorization: Bearer <api key>"]},
                        {}, None, False)
            return
        declared = h.headers.get("Content-Length", "0")
        if int(declared) > self.max_body:
            self._reply(h, fault, 413, {"error": "report too large",
                                        "details": {"max_bytes": self.max_body, "size": int(declared)},
                                        "suggestions": ["split the report"]}, {}, None, ok)
            return
        ctype = (h.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype not in ("application/xml", "text/xml"):
            self._reply(h, fault, 415, {"error": "unsupported media type", "details": {"content_type": ctype},
                                        "suggestions": ["send application/xml"]}, {}, None, ok)
            return
        status, payload, chash, created = self._process(body)
        if fault is not None and fault.after_store and (fault.drop or fault.status):
            self._fault_response(h, fault, n, chash, ok)
            return
        self._reply(h, fault, status, payload, {}, chash, ok, created)

    def _process(self, body: bytes) -> tuple[int, dict[str, Any], str | None, bool]:
        from juxsdk.errors import ReportParseError, VerificationError
        from juxsdk.junit import parse_report

        try:
            report = parse_report(body, source="<submission>")
        except ReportParseError as exc:
            return 400, {
                "error": "invalid JUnit XML",
                "details": {"message": exc.message, "line": exc.line, "column": exc.column},
                "suggestions": ["check that the file is well-formed JUnit XML"],
            }, None, False
        except Exception as exc:  # noqa: BLE001 - a test server answers 400 to anything unparseable
            return 400, {"error": "invalid JUnit XML", "details": {"message": str(exc)},
                         "suggestions": []}, None, False
        chash = report.canonical_hash
        if not report.project:
            return 400, {
                "error": "missing required property",
                "details": {"missing_property": "project"},
                "suggestions": ['add <property name="project" value="…"/> to the first <testsuite>',
                                "set project in the jux configuration"],
            }, chash, False
        if self.trust is not None:
            from juxsdk.xmldsig import verify_report

            try:
                verify_report(body, self.trust)
            except VerificationError as exc:
                return 400, {
                    "error": "signature verification failed",
                    "details": {"message": exc.message, "reason": type(exc).__name__},
                    "suggestions": ["sign the report with a trusted key"],
                }, chash, False
        with self._lock:
            existing = self._by_hash.get(chash)
            if existing is not None:
                if self.duplicate_status == 409:
                    return 409, {
                        "error": "duplicate test report",
                        "details": {"test_run_id": existing["id"], "canonical_hash": chash},
                        "suggestions": [],
                    }, chash, False
                return 201, {**self._submit_body(existing, "Test report already exists"),
                             "duplicate": True}, chash, False
            run = self._new_run(report, body)
            self._index(run, body)
            if self._db is not None:
                self._db.execute(
                    "INSERT INTO runs (id, canonical_hash, run, body, seq) VALUES (?, ?, ?, ?, ?)",
                    (run["id"], chash, json.dumps(run), body, len(self._runs)),
                )
            return 201, self._submit_body(run, "Test report submitted successfully"), chash, True

    def _new_run(self, report: Any, body: bytes) -> dict[str, Any]:
        props = dict(reversed(report.properties))  # first occurrence wins
        s = report.summary
        rate = round(100.0 * s.passed / s.tests, 2) if s.tests else 100.0
        return {
            "id": str(uuid.uuid4()),
            "project": report.project,
            "branch": props.get("git:branch"),
            "commit_sha": props.get("git:commit"),
            "total_tests": s.tests,
            "failures": s.failures,
            "errors": s.errors,
            "skipped": s.skipped,
            "success_rate": rate,
            "inserted_at": dt.datetime.now(dt.UTC).isoformat(),
            "tags": [],
            "canonical_hash": report.canonical_hash,
            "signed": bool(report.signed),
            "size": len(body),
        }

    def _submit_body(self, run: Mapping[str, Any], message: str) -> dict[str, Any]:
        if self.response_shape == "legacy":
            return {"status": "success", "message": message, "test_run": _public(run)}
        return {
            "test_run_id": run["id"],
            "message": message,
            "test_count": run["total_tests"],
            "failure_count": run["failures"],
            "error_count": run["errors"],
            "skipped_count": run["skipped"],
            "success_rate": run["success_rate"],
        }


def _pick(value: str | tuple[str, ...] | None, n: int) -> str | None:
    if isinstance(value, tuple):
        return value[n % len(value)] if value else None
    return value


def _as_header(value: float | str | tuple[str, ...] | None) -> str | tuple[str, ...] | None:
    if isinstance(value, bool):
        raise TypeError("a header value cannot be a bool")
    if isinstance(value, (int, float)):
        return str(int(value))
    return value


def _make_fault(*, status: int | None = None, retry_after: float | str | tuple[str, ...] | None = None,
                rate_limit_reset: float | str | tuple[str, ...] | None = None,
                body: bytes | Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None,
                count: int = 1, **kwargs: Any) -> Fault:
    payload = json.dumps(dict(body)).encode() if isinstance(body, Mapping) else body
    return Fault(status=status, retry_after=_as_header(retry_after), rate_limit_reset=_as_header(rate_limit_reset),
                 body=payload, headers=dict(headers or {}), remaining=count, **kwargs)


def main(argv: list[str] | None = None) -> int:
    """Run the reference server in the foreground until interrupted (Ctrl-C)."""
    parser = argparse.ArgumentParser(
        prog="python -m juxsdk.testing.server", description="Reference Jux API v1 server (for tests)."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4000)
    parser.add_argument("--token", action="append", default=None,
                        help="accepted bearer token (repeatable); default: no auth")
    parser.add_argument("--db", type=Path, default=None, help="SQLite file for runs (default: memory)")
    parser.add_argument("--duplicate-status", type=int, choices=(201, 409), default=201)
    parser.add_argument("--trust-cert", type=Path, default=None,
                        help="verify signatures against this PEM certificate")
    parser.add_argument("--hostile", choices=sorted(_hostile.PRESETS), default=None,
                        help="misbehave on every submit (huge, trickling, truncated, token-echoing answers, "
                             "odd headers, deeply nested JSON)")
    args = parser.parse_args(argv)
    trust = None
    if args.trust_cert is not None:
        from juxsdk.trust import TrustedCertificates

        trust = TrustedCertificates.from_pem_file(args.trust_cert)
    server = JuxApiServer(args.host, args.port, tokens=args.token, trust=trust,
                          duplicate_status=args.duplicate_status, db_path=args.db, hostile=args.hostile)
    server.start()
    mode = f" (hostile: {args.hostile})" if args.hostile else ""
    print(f"Jux API v1 reference server on {server.url}{mode}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
