"""The http publisher's parsers, property-tested: the URL (one parser, one decision), the
Retry-After / X-RateLimit-Reset parser, and the scrubbing boundary."""

from __future__ import annotations

import base64
import binascii
import email.utils
import json
import math
import urllib.parse

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from juxsdk.config import Secret
from juxsdk.errors import ConfigError
from juxsdk_backends._http_answer import MAX_SERVER_WAIT, Scrubber, server_wait_seconds
from juxsdk_backends.http_api import HttpApiPublisher, HttpApiPublisherOptions, is_loopback_host

TOKEN = "tok-51f0a9c3-unit-secret-key"
NOW = 1_800_000_000.0

# --- the URL -----------------------------------------------------------------------------------

PIECES = [
    "http://", "https://", "HTTP://", "127.0.0.1", "127.0.0.2", "localhost", "LOCALHOST", "evil.example",
    "[::1]", "[::ffff:127.0.0.1]", ":4000", ":", ":80:81", "\\", "@", "#", "?", "/", "/api/v1", "%2e", "%40",
    "%2F", "\u3002", ".", " ", "\t", "\n", "\r", "\x00", "[", "]", "%25eth0", "..", "localhost.", ".localhost",
    "xn--bcher-kva.example", "\u00fc", "0x7f.1", "2130706433", "user:pw", ";", ",",
]
urls = st.one_of(st.lists(st.sampled_from(PIECES), max_size=8).map("".join), st.text(max_size=40),
                 st.builds(lambda a, b: "http://" + a + b, st.text(max_size=20), st.sampled_from(PIECES)))


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch):
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)


def _connect_host(endpoint: str) -> tuple[str, int | None]:
    """Where requests will actually connect for ``endpoint`` (its own preparation + pool key)."""
    import requests

    prepared = requests.Request("POST", endpoint).prepare()
    parts = urllib.parse.urlparse(prepared.url)  # what requests' adapter keys the pool by
    host = parts.hostname or ""
    return (f"[{host}]" if ":" in host else host), parts.port


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(url=urls)
@example(url="http://evil.example\\.localhost:4000/api/v1")
@example(url="http://192.0.2.2:4000\\[::1]/api/v1")
@example(url="http://evil.example:4000\\@localhost/api/v1")
@example(url="http://evil.example#@127.0.0.1/api/v1")
@example(url="http://localhost%2eevil.example/api/v1")
@example(url="http://[::1%25eth0]:4000/api/v1")
def test_one_parse_decides_guard_and_transport(url):
    """Either the URL is refused, or the token guard judged exactly the host requests connects to."""
    try:
        pub = HttpApiPublisher(HttpApiPublisherOptions(url=url, token=Secret(value=TOKEN)))
    except ConfigError as exc:
        assert TOKEN not in str(exc)
        return
    host, port = _connect_host(pub.endpoint)
    assert (host, port) == (pub.target.host, pub.target.port)
    if pub.target.scheme == "http":
        assert is_loopback_host(host), f"token allowed over plain http to {host}"
    assert pub.endpoint.endswith("/junit/submit")


@pytest.mark.parametrize("url", [
    "http://evil.example\\.localhost:4000/api/v1",   # urllib.parse: host "evil.example\.localhost"
    "http://192.0.2.2:4000\\[::1]/api/v1",           # urllib.parse: host "::1"
    "http://evil.example:4000\\@localhost/api/v1",   # urllib.parse: host "localhost"
    "http://localhost%2eevil.example/api/v1",        # urllib3 decodes it to localhost.evil.example
    "http://[::1%25lo]:4000/api/v1",                 # IPv6 zone id
    "http://127.0.0.1:4000/api/v1?x=1",              # a query would swallow /junit/submit
    "http://127.0.0.1:4000/api/v1#frag",
    "http://127.0.0.1:0080/api/v1",                  # an authority urllib3 rewrites
    "http://127.0.0.1:/api/v1",
    " http://127.0.0.1:4000/a pi/v1",
    "http://b\u00fccher.example/api/v1",
    "http://localhost\u3002evil.example/api/v1",
    "http://a@127.0.0.1/api/v1",
    "http:/127.0.0.1/api/v1",
])
def test_ambiguous_urls_are_refused(url):
    with pytest.raises(ConfigError) as ei:
        HttpApiPublisher(HttpApiPublisherOptions(url=url, token=Secret(value=TOKEN)))
    assert TOKEN not in str(ei.value)


@pytest.mark.parametrize(("url", "endpoint"), [
    ("http://127.0.0.1:4000/api/v1/", "http://127.0.0.1:4000/api/v1/junit/submit"),
    ("HTTP://LocalHost:4000/api/v1", "http://localhost:4000/api/v1/junit/submit"),
    ("http://[::1]:4000/api/v1", "http://[::1]:4000/api/v1/junit/submit"),
    ("https://jux.example.com", "https://jux.example.com/junit/submit"),
    ("https://xn--bcher-kva.example/api/v1", "https://xn--bcher-kva.example/api/v1/junit/submit"),
])
def test_normal_urls_are_normalised(url, endpoint):
    assert HttpApiPublisher(HttpApiPublisherOptions(url=url)).endpoint == endpoint


@pytest.mark.parametrize("host", ["localhost.", "foo.localhost", "localhost.localdomain", "127.0.0.1.",
                                  "127.1", "2130706433", "evil.example"])
def test_only_localhost_and_loopback_literals_count_as_loopback(host):
    assert not is_loopback_host(host)
    with pytest.raises(ConfigError, match="plain http"):
        HttpApiPublisher(HttpApiPublisherOptions(url=f"http://{host}/api/v1", token=Secret(value=TOKEN)))


@pytest.mark.parametrize("bad", [{"total_deadline": float("nan")}, {"timeout_read": float("inf")},
                                 {"timeout_connect": 0}, {"backoff_base": -1.0}, {"retry_after_cap": float("nan")},
                                 {"max_attempts": 0}])
def test_numbers_must_be_finite_and_in_range(bad):
    with pytest.raises(ConfigError):
        HttpApiPublisher(HttpApiPublisherOptions(url="http://127.0.0.1:4000/api/v1", **bad))


# --- Retry-After / X-RateLimit-Reset --------------------------------------------------------------

header_values = st.one_of(
    st.text(max_size=60),
    st.integers(min_value=-10**30, max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(alphabet="0123456789", min_size=1, max_size=500),
    st.datetimes(timezones=st.none()).map(lambda d: email.utils.format_datetime(d, usegmt=False)),
    st.sampled_from(["inf", "-inf", "nan", "1e309", "\uff11\uff12", "\u00b2", "\u0661\u0662", "1_000", "0x10",
                     "Fri, 31 Dec 9999 23:59:59 GMT", "Mon, 01 Jan 0001 00:00:00 GMT", "9" * 10_000]),
)


@settings(max_examples=500, deadline=None)
@given(retry_after=st.none() | header_values, reset=st.none() | header_values,
       now=st.floats(min_value=0, max_value=4e9))
def test_server_wait_is_bounded_for_any_header(retry_after, reset, now):
    headers = {k: v for k, v in (("Retry-After", retry_after), ("X-RateLimit-Reset", reset)) if v is not None}
    wait = server_wait_seconds(headers, now=now)
    assert wait is None or (type(wait) is float and math.isfinite(wait) and 0.0 <= wait <= MAX_SERVER_WAIT)
    json.dumps(wait, allow_nan=False)


@pytest.mark.parametrize(("headers", "expected"), [
    ({"Retry-After": "120"}, 120.0),
    ({"Retry-After": " 7 "}, 7.0),
    ({"retry-after": "3"}, 3.0),
    ({"Retry-After": "9" * 400}, MAX_SERVER_WAIT),
    ({"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"}, MAX_SERVER_WAIT),
    ({"Retry-After": "Mon, 01 Jan 0001 00:00:00 GMT"}, 0.0),
    ({"Retry-After": email.utils.formatdate(NOW + 60, usegmt=True)}, 60.0),
    ({"Retry-After": email.utils.formatdate(NOW + 60)[:-6] + " -0000"}, 60.0),  # no zone: UTC
    ({"Retry-After": "\uff11\uff12"}, None),
    ({"Retry-After": "\u00b2"}, None),
    ({"Retry-After": "\u0661\u0662"}, None),
    ({"Retry-After": "1e309"}, None),
    ({"Retry-After": "inf"}, None),
    ({"Retry-After": "nan"}, None),
    ({"Retry-After": "-5"}, None),
    ({"Retry-After": "soon", "X-RateLimit-Reset": str(int(NOW) + 30)}, 30.0),
    ({"X-RateLimit-Reset": str(int(NOW) - 30)}, 0.0),
    ({"X-RateLimit-Reset": "nan"}, None),
    ({"X-RateLimit-Reset": "1e309"}, None),
    ({"X-RateLimit-Reset": "\u0661\u0662\u0663"}, None),
    ({"X-RateLimit-Reset": "9" * 400}, None),
    ({}, None),
])
def test_server_wait_examples(headers, expected):
    assert server_wait_seconds(headers, now=NOW) == expected


# --- the scrubbing boundary ----------------------------------------------------------------------


def test_scrubber_masks_every_documented_form():
    s = Scrubber(TOKEN)
    forms = [TOKEN, urllib.parse.quote(TOKEN, safe=""), urllib.parse.quote(TOKEN, safe="").lower(),
             urllib.parse.quote_plus(TOKEN), json.dumps(TOKEN)[1:-1]]
    for form in forms:
        assert TOKEN not in s.text(f"x {form} y") and form not in s.text(f"x {form} y")
    body = {TOKEN: {"a": [TOKEN, {"b": f"Bearer {TOKEN}"}]}, "n": 3, "ok": True}
    cleaned = json.dumps(s.json(body))
    assert TOKEN not in cleaned and '"n": 3' in cleaned and '"ok": true' in cleaned


def test_scrubber_masks_a_numeric_token_in_numbers():
    s = Scrubber("4815162342")
    assert s.json({"id": 4815162342, "n": 7}) == {"id": "****", "n": 7}


@settings(max_examples=300, deadline=None)
@given(prefix=st.binary(max_size=12), suffix=st.binary(max_size=12), urlsafe=st.booleans())
def test_scrubber_masks_base64_at_any_alignment(prefix, suffix, urlsafe):
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    decode = base64.urlsafe_b64decode if urlsafe else base64.b64decode
    text = encode(prefix + TOKEN.encode() + suffix).decode()
    scrubbed = Scrubber(TOKEN).text(text)
    assert "****" in scrubbed
    try:
        recovered = decode(scrubbed.replace("****", "AAAA") + "==")
    except (binascii.Error, ValueError):
        return
    assert TOKEN.encode() not in recovered


def test_scrubber_makes_text_one_safe_line():
    s = Scrubber(None, max_text=20)
    assert s.text("a\nb\x1b[31mc\u202e") == "a\ufffdb\ufffd[31mc\ufffd"
    assert s.text("x" * 50) == "x" * 20 + "…"
    deep: object = "leaf"
    for _ in range(50):
        deep = [deep]
    assert "…" in json.dumps(s.json(deep), ensure_ascii=False)
    assert len(s.json(list(range(1000)))) == 50
    assert s.json(float("nan")) == "nan"


def test_scrubber_leaves_ordinary_text_alone():
    s = Scrubber(TOKEN)
    text = "invalid JUnit XML at line 3: missing property project"
    assert s.text(text) == text
