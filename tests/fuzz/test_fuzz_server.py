"""Fuzz: the HTTP publisher against a hostile server on loopback answering with mutated answers.

The reference server (:class:`juxsdk.testing.server.JuxApiServer`) gives the seeds: its real
answers to a real report (201 ``SubmitResponse``, 201 duplicate, 400 missing project, 401 no
token, 409 duplicate). Each example mutates one of them — status code, reason phrase, headers
(``Retry-After`` / ``X-RateLimit-Reset`` in odd forms, ``Content-Type``, ``Location``,
``Content-Encoding``, ``Transfer-Encoding``, duplicated or broken ``Content-Length``), the JSON
body (values replaced, deleted, nested, the bearer token echoed in keys and values) or the raw
bytes (flips, truncation) — and the server sends those exact bytes back (``inject(raw=...)``).

Properties:

* ``HttpApiPublisher.publish`` returns a receipt or raises a ``PublishError`` (a ``JuxError``),
  never anything else, within its ``total_deadline``;
* it reports "created" only for a 2xx answer and "duplicate" only for a 2xx or a 409: a
  malformed, truncated or refused answer is never "published";
* the bearer token is never in an error's message or hint, a receipt, or a log record;
* through the CLI (``jux submit`` in ``cache`` mode): a documented exit code, no traceback, no
  "internal error", no token in the output, and the report is kept — stored, and either
  published or in the outbox queue.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

import juxsdk
from juxsdk.cli import cli
from juxsdk.config.secret import Secret
from juxsdk.errors import PublishError
from juxsdk.testing.hostile import ODD_RATE_LIMIT_RESET, ODD_RETRY_AFTER
from juxsdk.testing.server import JuxApiServer
from juxsdk_backends.http_api import HttpApiPublisher, HttpApiPublisherOptions
from tests.fuzz.check import assert_clean_cli, outcome
from tests.fuzz.conftest import corpus_bytes, corpus_path
from tests.fuzz.mutate import mutated_bytes, mutated_json
from tests.fuzz.profile import fuzz

TOKEN = "tok-fuzz-7d1e0c93-never-shown"
REPORT = "raw/pytest/xunit2-with-project.xml"
DEADLINE = 3.0


@dataclass(frozen=True)
class Answer:
    """One real answer of the reference server: the seed of mutations."""

    label: str
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def __repr__(self) -> str:
        return f"Answer({self.label})"


@pytest.fixture(scope="module")
def seeds() -> tuple[Answer, ...]:
    """The reference server's real answers to a real report (module-scoped: one server run)."""
    data = corpus_bytes(corpus_path(REPORT))
    no_project = corpus_bytes(corpus_path("raw/generic/basic.xml"))
    out = []
    for label, kwargs, body in [
        ("created", {}, data), ("duplicate-201", {}, data), ("missing-project", {}, no_project),
        ("unauthorized", {"auth": False}, data), ("conflict", {"duplicate_status": 409}, data),
    ]:
        server_kw = {"duplicate_status": kwargs["duplicate_status"]} if "duplicate_status" in kwargs else {}
        with JuxApiServer(tokens={TOKEN}, **server_kw) as srv:
            headers = {"Content-Type": "application/xml"}
            if kwargs.get("auth", True):
                headers["Authorization"] = f"Bearer {TOKEN}"
            if label in ("duplicate-201", "conflict"):
                requests.post(srv.url + "/junit/submit", data=body, headers=headers, timeout=10)
            answer = requests.post(srv.url + "/junit/submit", data=body, headers=headers, timeout=10)
        keep = tuple((k, v) for k, v in answer.headers.items() if k.lower() not in ("content-length", "connection"))
        out.append(Answer(label, answer.status_code, answer.reason, keep, answer.content))
    assert [a.status for a in out] == [201, 201, 400, 401, 409]
    return tuple(out)


STATUSES = (200, 201, 202, 204, 299, 301, 302, 303, 307, 308, 400, 401, 403, 404, 405, 409, 413, 415, 418, 422,
            429, 500, 501, 502, 503, 504, 599, 600, 999, 100, 101, 0, 1000)
HEADER_NAMES = ("Retry-After", "X-RateLimit-Reset", "Content-Type", "Location", "Content-Encoding",
                "Transfer-Encoding", "Content-Length", "X-Request-Id", "Set-Cookie", "WWW-Authenticate")
HEADER_VALUES = (
    *ODD_RETRY_AFTER, *ODD_RATE_LIMIT_RESET, "0", "1", "0.01", "application/json", "application/json; charset=utf-16",
    "text/html", "application/problem+json", "", "gzip", "deflate", "br", "identity", "chunked",
    "http://evil.example/api/v1/junit/submit", "/api/v1/elsewhere", "//evil.example/", "http://[::1", "\u202e",
    f"Bearer {TOKEN}", TOKEN, "-1", "99999999999999999999", "1, 2",
)


@st.composite
def mutated_answer(draw: Any, seeds: tuple[Answer, ...]) -> tuple[bytes, int | None, bool]:
    """A mutated answer as raw bytes: ``(raw, status sent, cut)``; ``cut`` is True when the body
    is cut short of its ``Content-Length``, or that is invalid (the client must not accept it). After a final byte
    mutation the status is unknown (None) and ``cut`` False: only what holds for any answer applies."""
    seed = draw(st.sampled_from(seeds))
    status = seed.status if draw(st.booleans()) else draw(st.one_of(st.sampled_from(STATUSES), st.integers(0, 1200)))
    reason = draw(st.sampled_from([seed.reason, "", "OK", f"Bad {TOKEN}", "\u00e9\u202e", "Created\r\nX-Injected: 1"]))
    headers = list(seed.headers)
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(HEADER_NAMES))
        value = draw(st.one_of(st.sampled_from(HEADER_VALUES), st.text(max_size=20)))
        if draw(st.booleans()):
            headers = [(k, v) for k, v in headers if k.lower() != name.lower()]
        headers.append((name, value))
    body = seed.body
    how = draw(st.sampled_from(["keep", "json", "json", "echo", "bytes", "empty"]))
    if how in ("json", "echo"):
        try:
            doc = json.loads(body)
        except ValueError:
            doc = {}
        if how == "echo" and isinstance(doc, dict):
            doc[draw(st.sampled_from([TOKEN, "error", "message", "test_run_id", "details"]))] = {"v": [TOKEN]}
        body = draw(mutated_json(doc))
    elif how == "bytes":
        body = draw(mutated_bytes(body, max_ops=2))
    elif how == "empty":
        body = b""
    length = draw(st.sampled_from(["exact", "exact", "none", "short", "long", "bogus"]))
    if length == "exact":
        headers.append(("Content-Length", str(len(body))))
    elif length == "short" and body:
        headers.append(("Content-Length", str(len(body) - 1)))
    elif length == "long":
        headers.append(("Content-Length", str(len(body) + draw(st.integers(1, 10_000)))))
    elif length == "bogus":
        headers.append(("Content-Length", draw(st.sampled_from(["-1", "x", "1e3", "5, 6", ""]))))
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    raw = head.encode("utf-8", errors="replace") + body
    if draw(st.integers(0, 5)) == 0:
        return draw(mutated_bytes(raw, max_ops=1)), None, False
    # RFC 9112 §6.3: without Transfer-Encoding, a Content-Length must be one decimal number (the
    # same value when repeated) and the body that long; else the answer must be discarded
    lengths = {v.strip(" \t") for k, v in headers if k.lower() == "content-length" for v in v.split(",")}
    framed = not any(k.lower() == "transfer-encoding" for k, _ in headers) and not any(
        c in text for pair in [*headers, (reason, "")] for text in pair for c in "\r\n")
    valid = all(v.isascii() and v.isdigit() for v in lengths) and len({int(v) for v in lengths}) <= 1
    cut = framed and bool(lengths) and (not valid or int(lengths.pop()) > len(body))
    return raw, status, cut


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture(scope="module")
def server():
    with JuxApiServer(tokens={TOKEN}) as srv:
        yield srv


def _no_token(*texts: object) -> None:
    for text in texts:
        assert TOKEN not in str(text), f"the token leaked into {str(text)[:300]!r}"


@fuzz(200)
@given(data=st.data(), attempts=st.integers(1, 2))
def test_publisher_against_mutated_answers(data, attempts, server, seeds) -> None:
    raw, status, cut = data.draw(mutated_answer(seeds), label="answer")
    server.reset()
    server.inject(raw=raw, count=attempts)
    report = juxsdk.parse_report(corpus_bytes(corpus_path(REPORT)), source="r.xml")
    opts = HttpApiPublisherOptions(url=server.url, token=Secret(value=TOKEN), max_attempts=attempts,
                                   backoff_base=0.0, retry_after_cap=0.05, timeout_connect=2.0,
                                   timeout_read=DEADLINE, total_deadline=DEADLINE)
    records = _Records()
    logger = logging.getLogger("juxsdk")
    old_level = logger.level
    logger.addHandler(records)
    logger.setLevel(logging.DEBUG)
    start = time.monotonic()
    try:
        with HttpApiPublisher(opts) as publisher:
            receipt, error = outcome(publisher.publish, report)
    finally:
        logger.removeHandler(records)
        logger.setLevel(old_level)
    assert time.monotonic() - start < DEADLINE + 2.0
    if receipt is None:
        assert isinstance(error, PublishError), repr(error)
        _no_token(error.message, error.hint, repr(error))
    else:
        assert receipt.status in ("created", "duplicate"), receipt
        if status is not None:
            assert 200 <= status < 300 or (status == 409 and receipt.status == "duplicate"), (status, receipt)
        assert not cut, "an answer cut short of its Content-Length was taken as published"
        assert receipt.run_id or receipt.status == "duplicate", receipt
        _no_token(repr(receipt), json.dumps(receipt.to_dict(), default=str) if hasattr(receipt, "to_dict") else "")
    _no_token(*records.lines)


def _grep_tree(root: Path) -> None:
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            blob = (Path(dirpath) / name).read_bytes()
            assert TOKEN.encode() not in blob, f"the token leaked into {Path(dirpath) / name}"


@fuzz(25, shrink=False)
@given(data=st.data())
def test_cli_submit_against_mutated_answers(data, server, seeds, tmp_path_factory, monkeypatch) -> None:
    raw, _status, _cut = data.draw(mutated_answer(seeds), label="answer")
    work = tmp_path_factory.mktemp("cli")
    state = work / "data"
    monkeypatch.setenv("JUX_DATA_DIR", str(state))
    monkeypatch.setenv("JUX_FUZZ_TOKEN", TOKEN)
    (work / "jux.toml").write_text("\n".join([
        'stores = ["filesystem"]', 'publishers = ["http"]', 'storage_mode = "cache"', "sign = false", "",
        "[backends.http]", f'url = "{server.url}"', 'token = { env = "JUX_FUZZ_TOKEN" }',
        "backoff_base = 0.0", "max_attempts = 1", f"total_deadline = {DEADLINE}", "retry_after_cap = 0.05", "",
    ]) + "\n", encoding="utf-8")
    report = work / "r.xml"
    report.write_bytes(corpus_bytes(corpus_path(REPORT)))
    server.reset()
    server.inject(raw=raw, count=3)
    runner = CliRunner()
    old = Path.cwd()
    os.chdir(work)
    try:
        submitted = runner.invoke(cli, ["submit", str(report), "--json"], prog_name="jux")
        queue = runner.invoke(cli, ["queue", "list", "--json"], prog_name="jux")
        cached = runner.invoke(cli, ["cache", "list", "--json"], prog_name="jux")
    finally:
        os.chdir(old)
    for result in (submitted, queue, cached):
        assert_clean_cli(result)
        _no_token(result.stdout, result.stderr)
    assert submitted.exit_code in (0, 3, 4), (submitted.exit_code, submitted.stderr)
    # nothing lost: the report is stored; it was published, or it waits in the queue (or dead letters)
    chash = juxsdk.parse_report(report.read_bytes()).canonical_hash
    assert chash in cached.stdout, cached.stdout
    if submitted.exit_code != 0:
        assert chash in queue.stdout or "dead" in queue.stdout, (submitted.stderr, queue.stdout)
    _grep_tree(state)
