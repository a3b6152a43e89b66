"""The http publisher against a hostile Jux API server (the reference server's hostile mode).

Real HTTP over loopback (or the machine's own non-loopback address): huge, trickling,
truncated, token-echoing, oddly-headed and deeply nested answers. Each test pins a behaviour the
issue asks for: bounded memory and time, never "published" on a malformed answer, never the
token outside the Authorization header.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
import math
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest

from juxsdk.config import Secret
from juxsdk.errors import ConfigError, PermanentPublishError, PublishError, TransientPublishError
from juxsdk.junit import parse_report
from juxsdk.testing.hostile import ODD_RATE_LIMIT_RESET, ODD_RETRY_AFTER, PRESETS
from juxsdk.testing.server import JuxApiServer
from juxsdk_backends.http_api import MAX_SERVER_WAIT, HttpApiPublisher, HttpApiPublisherOptions

TOKEN = "tok-7d41c0e2-hostile-echo-9f3b"
LEAKS = (
    TOKEN,
    urllib.parse.quote(TOKEN, safe=""),
    base64.b64encode(f"Bearer {TOKEN}".encode()).decode(),
    base64.b64encode(f"user:{TOKEN}".encode()).decode(),
    "".join(f"\\u{ord(c):04x}" for c in TOKEN),
)


def _opts(url: str, **kw) -> HttpApiPublisherOptions:
    kw.setdefault("backoff_base", 0.01)
    kw.setdefault("timeout_connect", 2.0)
    kw.setdefault("timeout_read", 5.0)
    kw.setdefault("total_deadline", 10.0)
    kw.setdefault("token", Secret(value=TOKEN))
    return HttpApiPublisherOptions(url=url, **kw)


def _assert_no_token(*texts: str) -> None:
    for text in texts:
        for leak in LEAKS:
            assert leak not in text, f"token form {leak!r} leaked into {text[:300]!r}"


def _non_loopback_ipv4() -> str | None:
    """An address of this machine that is not loopback (the kernel's choice for a route out)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: no packet is sent for a UDP connect
            ip = s.getsockname()[0]
    except OSError:
        return None
    return None if ip.startswith("127.") else ip


@pytest.fixture
def report(corpus_dir: Path):
    return parse_report((corpus_dir / "raw/pytest/xunit2-with-project.xml").read_bytes(), source="r.xml")


@pytest.fixture
def server():
    with JuxApiServer(tokens={TOKEN}) as s:
        yield s


# --- one URL parser decides the transport and the token guard -----------------------------------


def test_crafted_host_cannot_send_the_token_elsewhere(report):
    # urllib.parse reads the host of http://<A>:<port>\[::1]/… as "::1" (loopback, so the old
    # guard let the token through); urllib3 - the transport - connects to <A>. The guard now
    # uses the transport's parse, and the URL (a backslash) is refused before anything is sent.
    ip = _non_loopback_ipv4() or "127.0.0.1"
    with JuxApiServer(host=ip, tokens={TOKEN}) as evil:
        crafted = f"http://{ip}:{evil.port}\\[::1]/api/v1"
        with pytest.raises(ConfigError) as ei:
            HttpApiPublisher(_opts(crafted)).publish(report)
        assert "characters a URL may not contain" in ei.value.message
        _assert_no_token(str(ei.value))
        assert evil.submissions == []  # nothing reached the host the transport would have used


def test_token_to_a_non_loopback_host_is_refused_and_nothing_is_sent(report):
    ip = _non_loopback_ipv4()
    if ip is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    with JuxApiServer(host=ip, tokens={TOKEN}) as remote:
        with pytest.raises(ConfigError, match="plain http"):
            HttpApiPublisher(_opts(remote.url))
        assert remote.submissions == []
        # allowed explicitly, it works (and proves the address is reachable)
        with HttpApiPublisher(_opts(remote.url, allow_insecure_http=True)) as pub:
            assert pub.publish(report).status == "created"
        assert [s.bearer for s in remote.submissions] == [True]


def test_token_through_a_plain_http_proxy_off_loopback_is_refused(report, server, monkeypatch):
    ip = _non_loopback_ipv4()
    if ip is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    with JuxApiServer(host=ip) as proxy:  # a proxy receives the absolute-form request, token included
        monkeypatch.setenv("HTTP_PROXY", f"http://{ip}:{proxy.port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        with pytest.raises(ConfigError, match="proxy"):
            HttpApiPublisher(_opts(server.url))
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # bypassed: the token goes straight to loopback
        with HttpApiPublisher(_opts(server.url)) as pub:
            assert pub.publish(report).status == "created"
        assert proxy.submissions == []


# --- bodies: capped, streamed; one deadline ----------------------------------------------------------

_CHILD = r"""
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))  # a safety net: 1 GiB of address space
from pathlib import Path
from juxsdk.errors import JuxError
from juxsdk.junit import parse_report
from juxsdk_backends.http_api import HttpApiPublisher, HttpApiPublisherOptions
report = parse_report(Path(sys.argv[2]).read_bytes())
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with HttpApiPublisher(HttpApiPublisherOptions(url=sys.argv[1], max_attempts=2, backoff_base=0.01,
                                              total_deadline=30)) as pub:
    try:
        pub.publish(report)
        outcome = "published"
    except JuxError as exc:
        outcome = type(exc).__name__ + ": " + exc.message
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(outcome)
print(before, after)
"""


@pytest.mark.parametrize("mode", ["huge", "huge-error"])
def test_huge_answer_costs_no_memory(corpus_dir, mode):
    """A 10 GiB answer (streamed by the server) is read up to the 1 MiB cap, in a child process."""
    assert PRESETS[mode]["body_size"] == 10 * 1024**3
    with JuxApiServer(hostile=mode) as srv:
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, srv.url, str(corpus_dir / "raw/pytest/xunit2-with-project.xml")],
            capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    outcome, rss = proc.stdout.strip().splitlines()
    before_kb, after_kb = map(int, rss.split())
    if mode == "huge":
        assert outcome.startswith("TransientPublishError") and "larger than max_response_bytes" in outcome
    else:
        assert outcome.startswith("PermanentPublishError") and "HTTP 400" in outcome
    assert after_kb - before_kb < 32 * 1024, f"peak RSS grew by {(after_kb - before_kb) // 1024} MiB"


def test_gzip_bomb_is_capped(server, report):
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=1)
    server.inject(status=201, body=bomb, headers={"Content-Encoding": "gzip"}, count=10)
    with HttpApiPublisher(_opts(server.url, max_attempts=1)) as pub, pytest.raises(TransientPublishError) as ei:
        pub.publish(report)
    assert "larger than max_response_bytes" in ei.value.message


def test_response_cap_is_configurable(server, report):
    with HttpApiPublisher(_opts(server.url, max_response_bytes=1024)) as pub:
        assert pub.publish(report).status == "created"  # a real answer is far below 1 KiB
    server.inject(status=201, body=json.dumps({"test_run_id": "r", "pad": "x" * 2000}).encode(), count=5)
    with HttpApiPublisher(_opts(server.url, max_response_bytes=1024, max_attempts=1)) as pub:
        with pytest.raises(TransientPublishError, match="larger than max_response_bytes"):
            pub.publish(report)
    with pytest.raises(ValueError, match="max_response_bytes"):  # the option's range, checked when built
        _opts(server.url, max_response_bytes=10)


@pytest.mark.parametrize("trickle_headers", [True, False], ids=["status-and-headers", "body"])
def test_trickling_answer_ends_at_the_total_deadline(server, report, trickle_headers):
    # one byte every 0.25 s: every single read is fast, so only a whole-exchange deadline stops it
    server.inject(trickle=0.25, trickle_headers=trickle_headers, count=10)
    deadline = 1.5
    with HttpApiPublisher(_opts(server.url, total_deadline=deadline, timeout_read=5.0)) as pub:
        start = time.monotonic()
        with pytest.raises(TransientPublishError) as ei:
            pub.publish(report)
        elapsed = time.monotonic() - start
    assert "timed out" in ei.value.message
    assert elapsed < deadline + 0.75, f"took {elapsed:.2f} s for a {deadline} s deadline"


def test_slow_answer_within_deadline_still_succeeds(server, report):
    server.inject(trickle=0.005, count=1)  # ~1 s for the whole trickled answer
    with HttpApiPublisher(_opts(server.url, total_deadline=20.0)) as pub:
        assert pub.publish(report).status == "created"


# --- malformed answers are transient, never "published" --------------------------------------------


def test_truncated_answer_is_transient(server, report):
    server.inject(truncate=10, count=10)
    with HttpApiPublisher(_opts(server.url, max_attempts=2)) as pub, pytest.raises(TransientPublishError) as ei:
        pub.publish(report)
    assert "cut short" in ei.value.message
    assert len(server.submissions) == 2


def test_truncated_success_is_resent_and_found_duplicate(server, report):
    server.inject(truncate=10)  # stored, but the 201 answer is cut: not "published" yet
    with HttpApiPublisher(_opts(server.url)) as pub:
        receipt = pub.publish(report)
    assert receipt.status == "duplicate" and receipt.run_id == server.runs[0]["id"]
    assert len(server.runs) == 1


@pytest.mark.parametrize("raw", [
    b"HTTP/1.1 2x1 Created\r\n\r\n",
    b"garbage\r\n\r\n",
    b"HTTP/1.1 201 Created\r\n" + b"X-A: b\r\n" * 200 + b"\r\n{}",
    b"HTTP/1.1 201 Created\r\nX-Long: " + b"a" * 70000 + b"\r\n\r\n",
    b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"",
])
def test_invalid_http_is_transient(server, report, raw):
    server.inject(raw=raw, count=10)
    with HttpApiPublisher(_opts(server.url, max_attempts=2)) as pub, pytest.raises(TransientPublishError) as ei:
        pub.publish(report)
    assert ei.value.__cause__ is None


_CREATED = b'{"test_run_id": "run-1", "message": "ok"}'


@pytest.mark.parametrize("head", [
    "Content-Length: \uff13\uff18",                        # full-width digits: int() reads them
    f"Content-Length: \uff11\uff12\r\nContent-Length: {len(_CREATED) + 1}",
    "Content-Length: -1", "Content-Length: 1e3", "Content-Length: ", "Content-Length: 38, 39",
    f"Retry-After: \n0\r\nContent-Length: {len(_CREATED) + 5}",  # a stray line break hid the length
    f"X-Broken\r\nContent-Length: {len(_CREATED) + 5}",            # a line without a colon
])
def test_invalid_framing_of_a_complete_looking_success_is_not_published(server, report, head):
    """Found by the fuzz suite: a 201 with a valid SubmitResponse body but a Content-Length that
    is not one decimal number (RFC 9112 §6.3), or header fields hidden after a line that is not
    a header field (RFC 9112 §5), was read to the end of the connection and taken as published."""
    raw = f"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n{head}\r\n\r\n".encode() + _CREATED
    server.inject(raw=raw, count=10)
    with HttpApiPublisher(_opts(server.url, max_attempts=2)) as pub, pytest.raises(TransientPublishError) as ei:
        pub.publish(report)
    assert "malformed" in ei.value.message or "not valid HTTP" in ei.value.message, ei.value.message
    # the same answer with a valid Content-Length is published
    server.reset()
    ok = f"HTTP/1.1 201 Created\r\nContent-Length: {len(_CREATED)}, {len(_CREATED)}\r\n\r\n".encode() + _CREATED
    server.inject(raw=ok)
    with HttpApiPublisher(_opts(server.url, max_attempts=1)) as pub:
        assert pub.publish(report).run_id == "run-1"


@pytest.mark.parametrize(("status", "expected"), [
    (201, TransientPublishError), (400, PermanentPublishError), (503, TransientPublishError),
])
def test_deeply_nested_json_is_handled(server, report, status, expected):
    server.inject(status=status, nest=100_000, count=10)
    with HttpApiPublisher(_opts(server.url, max_attempts=2)) as pub, pytest.raises(expected) as ei:
        pub.publish(report)
    assert f"HTTP {status}" in ei.value.message


def test_unexpected_statuses(server, report):
    for status, expected in ((299, TransientPublishError), (501, TransientPublishError),
                             (418, PermanentPublishError), (999, TransientPublishError)):
        server.reset()
        server.inject(status=status, count=10)
        with HttpApiPublisher(_opts(server.url, max_attempts=1)) as pub, pytest.raises(expected):
            pub.publish(report)


def test_redirect_to_an_unparseable_location(server, report):
    server.inject(status=302, headers={"Location": "http://[not-a-host/x"})
    with HttpApiPublisher(_opts(server.url)) as pub, pytest.raises(PermanentPublishError) as ei:
        pub.publish(report)
    assert "redirect to an invalid URL" in ei.value.message


# --- odd Retry-After / X-RateLimit-Reset ----------------------------------------------------------


@pytest.mark.parametrize("value", (*ODD_RETRY_AFTER, "99999999999999999999"), ids=repr)
@pytest.mark.parametrize("status", [429, 503])
def test_odd_retry_after_never_breaks_a_publish(server, report, value, status):
    server.inject(status=status, retry_after=value, rate_limit_reset=ODD_RATE_LIMIT_RESET, count=10)
    start = time.monotonic()
    with HttpApiPublisher(_opts(server.url, max_attempts=2, retry_after_cap=5.0)) as pub:
        with pytest.raises(TransientPublishError) as ei:
            pub.publish(report)
    assert time.monotonic() - start < 4.0  # never slept for a silly value
    wait = ei.value.details.get("retry_after")
    assert wait is None or (isinstance(wait, float) and math.isfinite(wait) and 0 <= wait <= MAX_SERVER_WAIT)
    json.dumps(ei.value.details, allow_nan=False)  # what the outbox stores is valid JSON


def test_odd_headers_preset_from_the_command_line(report, tmp_path):
    from tests.integration.test_http_publisher import _free_port

    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "juxsdk.testing.server", "--port", str(port),
                             "--hostile", "odd-headers"], stdout=subprocess.PIPE, text=True)
    try:
        assert "hostile: odd-headers" in proc.stdout.readline()
        with HttpApiPublisher(_opts(f"http://127.0.0.1:{port}/api/v1", max_attempts=3)) as pub:
            with pytest.raises(TransientPublishError) as ei:
                pub.publish(report)
        assert ei.value.status == 429
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# --- the token never leaves except in the Authorization header ------------------------------------


@pytest.mark.parametrize("fault", [
    {"status": 400, "echo_token": True},
    {"status": 422, "echo_token": True, "nest": None},
    {"status": 503, "echo_token": True},
    {"status": 429, "echo_token": True, "retry_after": "1"},
    {"status": 403, "echo_token": True},
    {"status": 302, "echo_token": True},
    {"status": 502, "echo_token": True, "body": b"not json at all"},
    {"status": 400, "body": b"", "reason": f"Bad {TOKEN}"},
    {"status": 409, "echo_token": True},
    {"echo_token": True},  # a real 201 whose body and reason echo the token
    {"echo_token": True, "after_store": True, "status": 500},
], ids=lambda f: "-".join(f"{k}={v}" for k, v in f.items() if k != "body")[:60])
def test_echoed_token_reaches_no_error_receipt_or_log(server, report, caplog, fault):
    server.inject(**fault, count=10)
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG), HttpApiPublisher(_opts(server.url, max_attempts=2)) as pub:
        try:
            receipt = pub.publish(report)
            texts += [repr(receipt), json.dumps(receipt.to_dict())]
        except PublishError as exc:
            texts += [str(exc), repr(exc.details), json.dumps(exc.details, default=str), exc.hint or ""]
    texts.append(caplog.text)
    _assert_no_token(*texts)
    assert any("****" in t for t in texts) or fault.get("status") in (302, 403, 409) or "reason" in fault
