"""HttpApiPublisher against the reference Jux API v1 server over real HTTP on 127.0.0.1.

Covers every row of the status table in ../shared/specs/jux-api-v1.md.
"""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path

import pytest

from juxsdk.errors import ConfigError, PermanentPublishError, TransientPublishError
from juxsdk.junit import add_properties, parse_report
from juxsdk.testing.server import JuxApiServer
from juxsdk_backends.http_api import HttpApiPublisher, HttpApiPublisherOptions

TOKEN = "tok-3f1c9a7e-very-secret-api-key"


def _opts(url: str, **kw) -> HttpApiPublisherOptions:
    kw.setdefault("backoff_base", 0.01)
    kw.setdefault("timeout_connect", 2.0)
    kw.setdefault("timeout_read", 5.0)
    kw.setdefault("total_deadline", 10.0)
    return HttpApiPublisherOptions(url=url, **kw)


@pytest.fixture
def report(corpus_dir: Path):
    data = (corpus_dir / "raw/pytest/xunit2-with-project.xml").read_bytes()
    return parse_report(data, source="with-project")


@pytest.fixture
def no_project(corpus_dir: Path):
    r = parse_report((corpus_dir / "raw/generic/basic.xml").read_bytes())
    assert r.project is None
    return r


@pytest.fixture
def server():
    with JuxApiServer() as s:
        yield s


@pytest.fixture
def publisher(server):
    p = HttpApiPublisher(_opts(server.url))
    yield p
    p.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- 201 -------------------------------------------------------------------------------------


def test_201_sends_exact_bytes_and_headers(server, publisher, report):
    receipt = publisher.publish(report)
    assert receipt.status == "created"
    assert receipt.publisher == "http"
    runs = server.runs
    assert len(runs) == 1 and receipt.run_id == runs[0]["id"]
    assert receipt.counts["test_count"] == report.summary.tests == runs[0]["total_tests"]
    assert server.body_of(report.canonical_hash) == report.data
    sub = server.submissions[-1]
    assert sub.content_type == "application/xml; charset=utf-8"
    assert sub.user_agent.startswith("juxsdk/")
    assert sub.idempotency_key == report.canonical_hash
    assert sub.accept == "application/json"


def test_201_signed_report_verified_by_server(rsa_signer, rsa_cert_path, report):
    from juxsdk.trust import TrustedCertificates
    from juxsdk.xmldsig import sign_report

    signed = sign_report(report, rsa_signer)
    with JuxApiServer(trust=TrustedCertificates.from_pem_file(rsa_cert_path)) as srv:
        with HttpApiPublisher(_opts(srv.url)) as pub:
            receipt = pub.publish(signed)
            assert receipt.status == "created"
            assert srv.body_of(signed.canonical_hash) == signed.data  # never re-serialised
            assert srv.runs[0]["signed"] is True
            # the same report unsigned is refused by a verifying server: 400 with details
            with pytest.raises(PermanentPublishError) as ei:
                pub.publish(add_properties(report, {"extra": "x"}))
            assert ei.value.status == 400
            assert ei.value.details["details"]["reason"] == "NoSignatureError"


def test_201_legacy_envelope(report):
    with JuxApiServer(response_shape="legacy") as srv, HttpApiPublisher(_opts(srv.url)) as pub:
        receipt = pub.publish(report)
        assert receipt.status == "created"
        assert receipt.run_id == srv.runs[0]["id"]
        assert receipt.message


@pytest.mark.parametrize("body", [
    b"<html>ok</html>",
    b"",
    b"[1, 2]",
    b'{"message": "ok"}',
    b'{"test_run_id": ""}',
    b'{"test_run_id": "r1", "test_count": -1}',
    b'{"test_run_id": "r1", "success_rate": 250}',
    b'{"test_run_id": "r1"',
    b"\xff\xfe{not utf-8",
])
def test_2xx_without_a_submit_response_is_transient_never_published(server, report, body):
    server.inject(status=201, body=body, count=10)
    with HttpApiPublisher(_opts(server.url, max_attempts=2)) as pub, pytest.raises(TransientPublishError) as ei:
        pub.publish(report)
    assert "without a valid submit response" in ei.value.message
    assert ei.value.status == 201
    assert len(server.submissions) == 2  # retried like any transient failure


def test_2xx_malformed_after_store_is_resent_and_found_duplicate(server, publisher, report):
    server.inject(status=200, body=b"<html>ok</html>", after_store=True)
    receipt = publisher.publish(report)
    assert receipt.status == "duplicate" and receipt.run_id == server.runs[0]["id"]
    assert len(server.runs) == 1 and len(server.submissions) == 2


def test_201_duplicate_is_reported_as_duplicate(server, publisher, report):
    first = publisher.publish(report)
    second = publisher.publish(report)
    assert second.status == "duplicate" and second.run_id == first.run_id
    assert len(server.runs) == 1


def test_409_is_already_there(report):
    with JuxApiServer(duplicate_status=409) as srv, HttpApiPublisher(_opts(srv.url)) as pub:
        first = pub.publish(report)
        second = pub.publish(report)
        assert srv.submissions[-1].status == 409
        assert second.status == "duplicate"
        assert second.run_id == first.run_id
        assert len(srv.runs) == 1


# --- permanent -------------------------------------------------------------------------------


def test_400_missing_project_shows_error_details_suggestions(server, publisher, no_project):
    with pytest.raises(PermanentPublishError) as ei:
        publisher.publish(no_project)
    exc = ei.value
    assert exc.status == 400
    assert "missing required property" in exc.message
    assert "missing_property: project" in exc.message
    assert exc.hint and "project" in exc.hint  # suggestions
    assert exc.details["details"] == {"missing_property": "project"}
    assert exc.details["suggestions"]
    assert len(server.submissions) == 1  # permanent: not retried


def test_400_invalid_xml(server, publisher, report, corpus_dir):
    import attrs

    malformed = sorted((corpus_dir / "edge-cases/malformed").glob("*.xml"))[0]
    broken = attrs.evolve(report, data=malformed.read_bytes())
    with pytest.raises(PermanentPublishError) as ei:
        publisher.publish(broken)
    assert ei.value.status == 400
    assert ei.value.details["error"] == "invalid JUnit XML"
    assert "line" in ei.value.details["details"]


@pytest.mark.parametrize("status", [413, 422])
def test_413_422_permanent_with_server_fields(server, publisher, report, status):
    server.inject(status=status, body={"error": "unprocessable", "details": {"message": "bad digest"},
                                       "suggestions": ["re-sign the report"]})
    with pytest.raises(PermanentPublishError) as ei:
        publisher.publish(report)
    assert ei.value.status == status
    assert "bad digest" in ei.value.message and ei.value.hint == "re-sign the report"
    assert len(server.submissions) == 1


def test_401_without_token_says_token_missing(report):
    with JuxApiServer(tokens={TOKEN}) as srv, HttpApiPublisher(_opts(srv.url)) as pub:
        with pytest.raises(PermanentPublishError) as ei:
            pub.publish(report)
        assert ei.value.status == 401
        assert "none is configured" in ei.value.message
        assert not srv.runs


def test_403_invalid_token_never_shows_it(report, monkeypatch, caplog, capsys):
    from juxsdk.config import Secret

    monkeypatch.setenv("JUX_TEST_TOKEN", TOKEN + "-revoked")
    with caplog.at_level(logging.DEBUG):
        with JuxApiServer(tokens={TOKEN}) as srv:
            pub = HttpApiPublisher(_opts(srv.url, token=Secret(env="JUX_TEST_TOKEN")))
            with pytest.raises(PermanentPublishError) as ei:
                pub.publish(report)
            assert ei.value.status == 403
            assert "invalid, expired or revoked" in ei.value.message
            texts = [str(ei.value), repr(ei.value), repr(pub), str(pub), repr(pub.options),
                     str(ei.value.details), caplog.text, *capsys.readouterr()]
            pub.close()
    for text in texts:
        assert TOKEN not in text


def test_valid_token_accepted(report, monkeypatch):
    from juxsdk.config import Secret

    monkeypatch.setenv("JUX_TEST_TOKEN", TOKEN)
    with JuxApiServer(tokens={TOKEN}) as srv:
        with HttpApiPublisher(_opts(srv.url, token=Secret(env="JUX_TEST_TOKEN"))) as pub:
            assert pub.publish(report).status == "created"
        assert srv.submissions[-1].authorized


def test_404_wrong_base_url_hints_api_v1(server, report):
    with HttpApiPublisher(_opts(server.url.removesuffix("/api/v1"))) as pub:
        with pytest.raises(PermanentPublishError) as ei:
            pub.publish(report)
    assert ei.value.status == 404
    assert "/api/v1" in (ei.value.hint or "")


@pytest.mark.parametrize("status", [405, 415])
def test_405_415_are_config_errors(server, publisher, report, status):
    server.inject(status=status)
    with pytest.raises(PermanentPublishError) as ei:
        publisher.publish(report)
    assert ei.value.status == status and "/api/v1" in (ei.value.hint or "")


def test_redirect_is_not_followed(server, publisher, report):
    server.inject(status=301, headers={"Location": "https://elsewhere.example/api/v1/junit/submit"})
    with pytest.raises(PermanentPublishError) as ei:
        publisher.publish(report)
    assert ei.value.status == 301 and "elsewhere.example" in ei.value.message
    assert len(server.submissions) == 1


# --- transient -------------------------------------------------------------------------------


def test_5xx_twice_then_201_exactly_one_run(server, publisher, report):
    server.inject(status=503, count=1)
    server.inject(status=502, count=1)
    receipt = publisher.publish(report)
    assert receipt.status == "created"
    assert [s.status for s in server.submissions] == [503, 502, 201]
    assert len(server.runs) == 1
    assert {s.idempotency_key for s in server.submissions} == {report.canonical_hash}


def test_5xx_past_max_attempts_is_transient(server, report):
    server.inject(status=500, count=10)
    with HttpApiPublisher(_opts(server.url, max_attempts=3)) as pub:
        with pytest.raises(TransientPublishError) as ei:
            pub.publish(report)
    assert ei.value.status == 500
    assert len(server.submissions) == 3
    assert not server.runs


def test_429_short_retry_after_is_honoured(server, publisher, report):
    server.inject(status=429, retry_after=1)
    t0 = time.monotonic()
    receipt = publisher.publish(report)
    elapsed = time.monotonic() - t0
    assert receipt.status == "created"
    assert elapsed >= 0.9  # waited as asked
    assert [s.status for s in server.submissions] == [429, 201]


def test_429_retry_after_3600_returns_within_budget(server, report):
    server.inject(status=429, retry_after=3600, count=5)
    with HttpApiPublisher(_opts(server.url, retry_after_cap=2.0, total_deadline=5.0)) as pub:
        t0 = time.monotonic()
        with pytest.raises(TransientPublishError) as ei:
            pub.publish(report)
        elapsed = time.monotonic() - t0
    assert elapsed < 2.0
    assert ei.value.status == 429
    assert ei.value.details["retry_after"] == pytest.approx(3600)
    assert len(server.submissions) == 1


def test_429_rate_limit_reset_header_is_honoured(server, report):
    server.inject(status=429, rate_limit_reset=time.time() + 3600)
    with HttpApiPublisher(_opts(server.url, retry_after_cap=2.0)) as pub:
        t0 = time.monotonic()
        with pytest.raises(TransientPublishError) as ei:
            pub.publish(report)
    assert time.monotonic() - t0 < 2.0
    assert ei.value.details["retry_after"] > 3500


def test_total_deadline_bounds_retries(server, report):
    server.inject(status=503, count=1000)
    opts = _opts(server.url, max_attempts=1000, backoff_base=0.2, total_deadline=1.0)
    with HttpApiPublisher(opts) as pub:
        t0 = time.monotonic()
        with pytest.raises(TransientPublishError):
            pub.publish(report)
        elapsed = time.monotonic() - t0
    assert elapsed < 2.5
    assert 2 <= len(server.submissions) < 50


def test_connection_refused_is_transient_and_fast(report):
    port = _free_port()
    with HttpApiPublisher(_opts(f"http://127.0.0.1:{port}/api/v1", max_attempts=3)) as pub:
        t0 = time.monotonic()
        with pytest.raises(TransientPublishError) as ei:
            pub.publish(report)
    assert time.monotonic() - t0 < 3
    assert "connection refused" in ei.value.message
    assert ei.value.__cause__ is None or not ei.value.__cause__.__module__.startswith(("requests", "urllib3"))


def test_read_timeout_is_transient(server, report):
    server.inject(delay=1.5, count=1)
    with HttpApiPublisher(_opts(server.url, timeout_read=0.3, max_attempts=1)) as pub:
        with pytest.raises(TransientPublishError) as ei:
            pub.publish(report)
    assert "timed out" in ei.value.message


def test_slow_response_within_timeout_succeeds(server, publisher, report):
    server.inject(delay=0.3, count=1)
    assert publisher.publish(report).status == "created"


def test_dropped_connection_is_retried(server, publisher, report):
    server.inject(drop=True, count=2)
    receipt = publisher.publish(report)
    assert receipt.status == "created"
    assert [s.status for s in server.submissions] == [0, 0, 201]
    assert len(server.runs) == 1


def test_lost_response_after_store_gives_one_run(server, publisher, report):
    server.inject(drop=True, after_store=True)
    receipt = publisher.publish(report)  # retried with the same idempotency key
    assert receipt.status == "duplicate"
    assert len(server.runs) == 1 and receipt.run_id == server.runs[0]["id"]


def test_dropped_past_attempts_is_transient(server, report):
    server.inject(drop=True, count=10)
    with HttpApiPublisher(_opts(server.url, max_attempts=2)) as pub:
        with pytest.raises(TransientPublishError) as ei:
            pub.publish(report)
    assert "connection closed" in ei.value.message


# --- configuration, TLS, hygiene -------------------------------------------------------------


def test_token_over_plain_http_to_remote_host_is_refused(monkeypatch):
    from juxsdk.config import Secret

    monkeypatch.setenv("JUX_TEST_TOKEN", TOKEN)
    tok = Secret(env="JUX_TEST_TOKEN")
    with pytest.raises(ConfigError) as ei:
        HttpApiPublisher(_opts("http://jux.example.com/api/v1", token=tok))
    assert "plain http" in str(ei.value) and TOKEN not in str(ei.value)
    HttpApiPublisher(_opts("http://jux.example.com/api/v1", token=tok, allow_insecure_http=True)).close()
    HttpApiPublisher(_opts("https://jux.example.com/api/v1", token=tok)).close()
    HttpApiPublisher(_opts("http://localhost:4000/api/v1", token=tok)).close()
    HttpApiPublisher(_opts("http://[::1]:4000/api/v1", token=tok)).close()
    HttpApiPublisher(_opts("http://jux.example.com/api/v1")).close()  # no token: fine


@pytest.mark.parametrize("url", ["ftp://x/api/v1", "jux.example.com/api/v1", "http://u:p@h/api/v1"])
def test_bad_urls_are_config_errors(url):
    with pytest.raises(ConfigError) as ei:
        HttpApiPublisher(_opts(url))
    assert "u:p" not in str(ei.value)


def test_missing_ca_bundle_is_config_error(tmp_path):
    with pytest.raises(ConfigError):
        HttpApiPublisher(_opts("https://jux.example.com/api/v1", ca_bundle=tmp_path / "none.pem"))


def test_tls_failure_is_permanent_and_mapped(report, tmp_path):
    # a plain-http server spoken to with https: the TLS handshake fails
    with JuxApiServer() as srv:
        url = srv.url.replace("http://", "https://")
        with HttpApiPublisher(_opts(url, max_attempts=1)) as pub:
            with pytest.raises((PermanentPublishError, TransientPublishError)) as ei:
                pub.publish(report)
    cause = ei.value.__cause__
    assert cause is None or not type(cause).__module__.startswith(("requests", "urllib3"))


def test_close_is_idempotent_and_publisher_reusable(server, report):
    pub = HttpApiPublisher(_opts(server.url))
    pub.close()
    assert pub.publish(report).status == "created"
    pub.close()
    pub.close()
    assert pub.publish(report).status == "duplicate"
    pub.close()


def test_concurrent_publishes_share_the_pool(server, corpus_dir):
    from concurrent.futures import ThreadPoolExecutor

    reports = [add_properties(parse_report((corpus_dir / "raw/generic/basic.xml").read_bytes()),
                              {"project": f"p{i}"}) for i in range(12)]
    with HttpApiPublisher(_opts(server.url)) as pub, ThreadPoolExecutor(4) as ex:
        receipts = list(ex.map(pub.publish, reports))
    assert {r.status for r in receipts} == {"created"}
    assert len(server.runs) == 12


def test_registered_as_http():
    from juxsdk.registry import Registry

    assert Registry().get("publisher", "http").cls is HttpApiPublisher


# --- the reference server's read side and lifecycle ------------------------------------------


def test_server_query_endpoints_and_sqlite(tmp_path, corpus_dir):
    import requests

    db = tmp_path / "runs.sqlite"
    base = parse_report((corpus_dir / "raw/generic/basic.xml").read_bytes())
    reports = [add_properties(base, {"project": f"p{i}", "git:branch": "main"}) for i in range(3)]
    with JuxApiServer(db_path=db) as srv, HttpApiPublisher(_opts(srv.url)) as pub:
        ids = [pub.publish(r).run_id for r in reports]
        page = requests.get(srv.url + "/test_runs", params={"page": 1, "per_page": 2}, timeout=5).json()
        assert [r["id"] for r in page["data"]] == ids[:2] and page["meta"]["total"] == 3
        one = requests.get(f"{srv.url}/test_runs/{ids[2]}", timeout=5)
        assert one.status_code == 200 and one.json()["data"]["project"] == "p2"
        assert one.json()["data"]["branch"] == "main"
        assert requests.get(f"{srv.url}/test_runs/nope", timeout=5).status_code == 404
        assert requests.get(srv.submit_url, timeout=5).status_code == 405
    # runs survive a restart with the same SQLite file, and dedupe still applies
    with JuxApiServer(db_path=db) as srv2, HttpApiPublisher(_opts(srv2.url)) as pub:
        assert [r["id"] for r in srv2.runs] == ids
        assert pub.publish(reports[0]).status == "duplicate"
        assert len(srv2.runs) == 3


def test_server_module_runs_from_command_line(report):
    import subprocess
    import sys

    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "juxsdk.testing.server", "--port", str(port),
                             "--token", TOKEN], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert f"127.0.0.1:{port}/api/v1" in line
        from juxsdk.config import Secret

        opts = _opts(f"http://127.0.0.1:{port}/api/v1", token=Secret(value=TOKEN))
        with HttpApiPublisher(opts) as pub:
            assert pub.publish(report).status == "created"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
