"""The publishers' circuit breaker: state machine on a fake clock, and `jux submit` of 1,000 reports
against the reference Jux API server in outage mode (all queued in seconds, none lost)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from juxsdk.breaker import CircuitBreaker, GuardedPublisher, read_states, reset_breakers
from juxsdk.errors import CircuitOpenError, PermanentPublishError, TransientPublishError
from juxsdk.testing.server import JuxApiServer
from tests.cli.conftest import Jux

TOKEN = "breaker-token-77d1"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def _fresh_breakers():
    reset_breakers()
    yield
    reset_breakers()


def test_opens_after_threshold_then_half_open_probe(caplog):
    clock = Clock()
    b = CircuitBreaker("http http://x/api/v1/junit/submit", failure_threshold=3, cooldown=30, clock=clock)
    caplog.set_level(logging.INFO, logger="juxsdk.breaker")
    for _ in range(2):
        b.before()
        b.failure(TransientPublishError("cannot reach x"))
    assert b.state == "closed"
    b.before()
    b.failure(TransientPublishError("cannot reach x"))
    assert b.state == "open"
    [opened] = [r for r in caplog.records if r.jux["event"] == "breaker.open"]
    assert opened.levelno == logging.WARNING and opened.jux["failures"] == 3
    with pytest.raises(CircuitOpenError) as info:
        b.before()
    assert info.value.details["retry_after"] == 30 and isinstance(info.value, TransientPublishError)
    clock.now += 29.9
    with pytest.raises(CircuitOpenError):
        b.before()
    clock.now += 0.2
    b.before()  # half-open: one probe goes through
    assert b.state == "half-open"
    with pytest.raises(CircuitOpenError):
        b.before()  # ... and only one
    b.failure(TransientPublishError("still down"))
    assert b.state == "open"  # the probe failed: another cooldown
    with pytest.raises(CircuitOpenError):
        b.before()
    clock.now += 31
    b.before()
    b.success()
    assert b.state == "closed" and b.failures == 0
    b.before()
    assert [r.jux["event"] for r in caplog.records] == [
        "breaker.open", "breaker.half-open", "breaker.open", "breaker.half-open", "breaker.closed"]


def test_a_permanent_answer_counts_as_the_endpoint_answering():
    clock = Clock()
    b = CircuitBreaker("k", failure_threshold=2, cooldown=5, clock=clock, persist=False)
    b.failure(TransientPublishError("x"))

    class Rejecting:
        name = "fake"
        Options = object
        endpoint = "http://fake"

        def publish(self, report):
            raise PermanentPublishError("HTTP 422", status=422)

        def close(self):
            pass

    guarded = GuardedPublisher(Rejecting(), breaker=b)
    from juxsdk.junit import parse_report

    report = parse_report(b'<testsuite name="s" tests="0"/>')
    with pytest.raises(PermanentPublishError):
        guarded.publish(report)
    assert b.failures == 0 and b.state == "closed"


def test_state_is_written_for_doctor(monkeypatch, tmp_path):
    b = CircuitBreaker("http http://127.0.0.1:9/api/v1/junit/submit", failure_threshold=1, cooldown=60)
    b.failure(TransientPublishError("cannot reach"))
    [state] = read_states().values()
    assert state["state"] == "open" and state["failures"] == 1 and state["last_error"] == "cannot reach"


def _reports(directory: Path, n: int) -> list[Path]:
    directory.mkdir()
    out = []
    for i in range(n):
        p = directory / f"TEST-{i:04d}.xml"
        p.write_bytes(f'<testsuite name="suite-{i}" tests="1" failures="0" errors="0" skipped="0">'
                      f'<testcase classname="c" name="t{i}" time="0.01"/></testsuite>'.encode())
        out.append(p)
    return out


@pytest.mark.slow
@pytest.mark.parametrize(("mode", "n"), [("outage", 1000), ("outage-drop", 100)])
def test_submit_1000_reports_with_the_server_down(tmp_path, monkeypatch, mode, n):
    """1,000 reports while every submission fails: the circuit opens after 5, the rest are queued at once.

    The data directory (store, outbox, signing log) is on tmpfs when there is one: on a busy
    disk each report's durable writes (about 6 fsyncs in the store and the outbox) cost more than
    the breaker saves, and that is not what this test measures. Git metadata is off for the same
    reason (two git processes per report).
    """
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        data = Path(tempfile.mkdtemp(prefix="jux-breaker-", dir=shm))
        monkeypatch.setenv("JUX_DATA_DIR", str(data))
        request_cleanup = data
    else:
        request_cleanup = None
    wd = tmp_path / "work"
    wd.mkdir()
    jux = Jux(wd)
    monkeypatch.setenv("JUX_API_TOKEN", TOKEN)
    assert jux("keygen", "--type", "ec").exit_code == 0
    files = _reports(tmp_path / "reports", n)
    with JuxApiServer(tokens={TOKEN}, hostile=mode) as srv:
        (wd / "jux.toml").write_text(
            'publishers = ["http"]\nstorage_mode = "cache"\n[metadata]\ngit = false\n'
            f'[backends.http]\nurl = "{srv.url}"\ntoken = {{ env = "JUX_API_TOKEN" }}\n'
            "max_attempts = 3\nbackoff_base = 0.2\ntotal_deadline = 10.0\n"
            "[circuit_breaker]\nfailure_threshold = 5\ncooldown = 300\n", encoding="utf-8")
        started = time.monotonic()
        result = jux("--log-format", "json", "--log-level", "info", "submit", *files, "--json")
        elapsed = time.monotonic() - started
        tried = len(srv.submissions)
    assert result.exit_code == 0, result.stderr[-2000:]
    # Without the breaker each report waits for 3 attempts and ~0.6 s of backoff: 10+ minutes.
    assert elapsed < 240, elapsed  # mostly the durable writes and provenance of each report
    assert tried == 5 * 3, tried  # only the first 5 reports reached the server
    entries = json.loads(result.stdout)
    assert len(entries) == n and all(e["stored"][0]["ok"] for e in entries)
    hashes = {e["canonical_hash"] for e in entries}
    assert len(hashes) == n
    from juxsdk.outbox import Outbox

    box = Outbox()
    try:
        assert {q.canonical_hash for q in box.entries()} == hashes  # none lost
    finally:
        box.close()
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    opened = [e for e in events if e["event"] == "breaker.open"]
    assert len(opened) == 1 and opened[0]["level"] == "warning" and opened[0]["failures"] == 5
    publishes = [e for e in events if e["event"] == "publish"]
    assert len(publishes) == n
    short = [e for e in publishes if e["outcome"] == "circuit-open"]
    assert len(short) == n - 5 and all(e["error_class"] == "CircuitOpenError" for e in short)
    waited = sum(e["duration"] for e in publishes)
    # Publishing costs the first 5 reports' attempts and backoff; the others are refused at once.
    assert sum(e["duration"] for e in short) < 0.002 * n + 0.5, waited
    assert waited < 5 * 10.0
    print(f"\n{mode}: {n} reports submitted with the server down in {elapsed:.1f} s, "
          f"{waited:.2f} s of it publishing ({sum(e['duration'] for e in short) * 1000 / len(short):.3f} ms "
          "per report once the circuit was open)")

    # The server is back: the queue drains (a new process: a fresh circuit), every report arrives.
    reset_breakers()
    with JuxApiServer(tokens={TOKEN}, port=int(srv.url.rsplit(":", 1)[1].split("/")[0])) as back:
        drained = jux("publish", "--queue", "--now", "--jobs", "4", "--json")
        assert drained.exit_code == 0, drained.stderr[-2000:]
        assert {r["canonical_hash"] for r in back.runs} == hashes
    if request_cleanup is not None:
        shutil.rmtree(request_cleanup, ignore_errors=True)
