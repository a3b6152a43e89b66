"""CLI logging: --log-format json|text, --log-level, JUX_LOG_FORMAT/JUX_LOG_LEVEL, stable JSON field names,
secrets scrubbed; the library never configures logging."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from juxsdk.testing.server import JuxApiServer
from tests.cli.conftest import Jux

TOKEN = "log-token-very-secret-93ab1f"


@pytest.fixture
def jux(tmp_path: Path) -> Jux:
    wd = tmp_path / "work"
    wd.mkdir()
    return Jux(wd)


def _json_lines(stderr: str) -> list[dict]:
    lines = [line for line in stderr.splitlines() if line.strip()]
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_json_lines_with_stable_fields(jux, corpus_dir):
    assert jux("keygen", "--type", "ec").exit_code == 0
    result = jux("--log-format", "json", "--log-level", "info", "submit", corpus_dir / "raw/generic/basic.xml")
    assert result.exit_code == 0, result.stderr
    records = _json_lines(result.stderr)
    assert records and all(r.keys() >= {"timestamp", "level", "logger", "event", "message"} for r in records)
    events = {r["event"]: r for r in records}
    store, submit = events["store"], events["submit"]
    assert store["level"] == "info" and store["logger"] == "juxsdk.pipeline"
    assert store["backend"] == "filesystem" and store["canonical_hash"].startswith("sha256:")
    assert isinstance(store["duration"], float) and store["outcome"] == "ok" and store["size"] > 0
    assert submit["tests"] > 0 and submit["canonical_hash"] == store["canonical_hash"]
    assert records[0]["timestamp"].endswith("Z") and "T" in records[0]["timestamp"]
    # debug events (parse, canonicalise, sign) only from --log-level debug
    assert "sign" not in events
    debug = jux("--log-format", "json", "--log-level", "debug", "submit", corpus_dir / "raw/generic/with-failures.xml")
    assert {"parse", "canonicalise", "sign"} <= {r["event"] for r in _json_lines(debug.stderr)}


def test_environment_variables_and_text_format(jux, corpus_dir):
    assert jux("keygen", "--type", "ec").exit_code == 0
    reports = sorted((corpus_dir / "raw/generic").glob("*.xml"))
    quiet = jux("submit", reports[0])
    assert quiet.stderr == ""  # nothing configured: warnings only, and there are none
    env = {"JUX_LOG_FORMAT": "json", "JUX_LOG_LEVEL": "info"}
    assert {r["event"] for r in _json_lines(jux("submit", reports[1], env=env).stderr)} >= {"store", "submit"}
    text = jux("--log-level", "info", "submit", reports[2])
    [line] = [x for x in text.stderr.splitlines() if " juxsdk.pipeline: store ok" in x]
    assert line.split()[1] == "INFO" and "backend=filesystem" in line and line.endswith(" ms")
    bad = jux("--log-format", "xml", "submit", reports[3])
    assert bad.exit_code == 2 and "Traceback" not in bad.stderr


def test_secrets_are_scrubbed_from_log_lines(jux, corpus_dir, monkeypatch):
    """The server echoes the token in its answer; no log line (debug included) shows it."""
    monkeypatch.setenv("JUX_API_TOKEN", TOKEN)
    assert jux("keygen", "--type", "ec").exit_code == 0
    with JuxApiServer(tokens={TOKEN}, hostile="echo-token") as srv:
        (jux.cwd / "jux.toml").write_text(
            f'project = "p"\npublishers = ["http"]\nstorage_mode = "both"\n[backends.http]\nurl = "{srv.url}"\n'
            'token = { env = "JUX_API_TOKEN" }\nmax_attempts = 1\n', encoding="utf-8")
        for fmt, name in (("json", "basic.xml"), ("text", "with-failures.xml")):
            result = jux("-v", "--log-format", fmt, "--log-level", "debug", "submit",
                         corpus_dir / "raw/generic" / name)
            assert result.exit_code == 4, result.stderr  # stored, not published
            assert "publish" in result.stderr
            assert TOKEN not in result.stderr + result.stdout
    from juxsdk.scrub import process_scrubber

    assert TOKEN not in process_scrubber().mask(f"x {TOKEN} y")


def test_the_library_never_configures_logging(tmp_path):
    code = (
        "import logging, juxsdk, juxsdk.client, juxsdk.signing_log, juxsdk.breaker, juxsdk.doctor\n"
        "from juxsdk.junit import parse_report\n"
        "parse_report(b'<testsuite name=\"s\" tests=\"0\"/>')\n"
        "root = logging.getLogger()\n"
        "assert root.handlers == [] and root.level == logging.WARNING, (root.handlers, root.level)\n"
        "assert logging.getLogger('juxsdk').handlers == []\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, cwd=tmp_path)


def test_cli_logging_is_undone_after_the_invocation(jux):
    before = list(logging.getLogger().handlers), logging.getLogger().level
    assert jux("--log-format", "json", "--log-level", "debug", "backends").exit_code == 0
    assert (list(logging.getLogger().handlers), logging.getLogger().level) == before
