"""The CLI as a careful user expects (issue 12, items 7-9): exit codes, colour, plurals, inspect
--full, human sizes, `jux config init` and `jux config list`."""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path

import pytest

from juxsdk.cli import cli
from juxsdk.config import load_config, user_config_dir, user_data_dir
from juxsdk.registry import Registry
from tests.cli.conftest import assert_clean_error

ANSI = re.compile(r"\x1b\[[0-9;]*m")


# --- exit codes (item 7) -------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [("cache", "show", "not-hex"), ("cache", "show", "sha256:xyz"), ("queue", "retry", "zz!"),
     ("queue", "drop", "g00d")],
)
def test_an_invalid_hash_prefix_is_a_usage_error(jux, args) -> None:
    result = jux(*args)
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    assert "invalid hash prefix" in result.stderr and "Traceback" not in result.stderr


def test_a_valid_prefix_that_matches_nothing_is_not_a_usage_error(jux) -> None:
    assert_clean_error(jux("cache", "show", "ffff0000"), 3, "no report matching")


def test_publish_dry_run_without_a_publisher_fails_like_a_real_publish(jux, corpus_dir) -> None:
    report = corpus_dir / "raw/generic/basic.xml"
    real = jux("publish", "--allow-unsigned", report)
    dry = jux("publish", "--dry-run", "--allow-unsigned", report)
    assert_clean_error(real, 2, "no publisher is configured")
    assert_clean_error(dry, 2, "no publisher is configured")
    assert dry.stderr == real.stderr


# --- colour, plurals, names once (item 8) --------------------------------------------------


@pytest.fixture
def signed(jux, workdir, corpus_dir, config_dir) -> tuple[Path, Path]:
    made = jux("keygen", "--type", "ec")  # the default key: `jux sign` finds it without options
    assert made.exit_code == 0, made.stderr
    out = workdir / "one.xml"
    done = jux("sign", corpus_dir / "raw/pytest/xunit2-basic.xml", "-o", out)
    assert done.exit_code == 0, done.stderr
    return out, config_dir / "signing-cert.pem"


def test_ok_and_fail_are_coloured_on_a_terminal_only(jux, workdir, signed) -> None:
    out, cert = signed
    bad = workdir / "bad.xml"
    bad.write_bytes(out.read_bytes().replace(b'tests="', b'tests="9', 1))
    tty = jux.runner.invoke(
        cli, ["verify", "--cert", str(cert), str(out), str(bad)], color=True
    )
    assert "\x1b[32m" in tty.stdout and "\x1b[31m" in tty.stdout, tty.stdout  # green OK, red FAIL
    plain = jux("verify", "--cert", cert, out, bad)  # CliRunner's default: not a terminal
    assert not ANSI.search(plain.stdout + plain.stderr)
    no_color = jux.runner.invoke(
        cli, ["verify", "--cert", str(cert), str(out)],
        color=True, env={"NO_COLOR": "1"},
    )
    assert no_color.exit_code == 0 and not ANSI.search(no_color.stdout), no_color.stdout
    flag = jux.runner.invoke(
        cli, ["verify", "--no-color", "--cert", str(cert), str(out)],
        color=True,
    )
    assert flag.exit_code == 0 and not ANSI.search(flag.stdout), flag.stdout


def test_plurals_are_right(jux, corpus_dir, signed) -> None:
    out, cert = signed
    one = jux("verify", "--cert", cert, out).stdout  # 5 tests, 1 failure, 0 errors, 1 skipped
    assert "5 tests, 1 failure, 0 errors, 1 skipped" in one, one
    inspected = jux("inspect", corpus_dir / "raw/pytest/xunit2-basic.xml").stdout
    assert "1 failure," in inspected and "1 suite" in inspected and "1 suites" not in inspected, inspected


def test_inspect_shortens_long_property_values_and_full_shows_them(jux, workdir) -> None:
    long_value = "x" * 500
    (workdir / "long.xml").write_text(
        '<testsuite name="s" tests="1"><properties>'
        f'<property name="long" value="{long_value}"/><property name="short" value="v"/>'
        '</properties><testcase name="t" classname="c"/></testsuite>',
        encoding="utf-8",
    )
    short = jux("inspect", "long.xml")
    assert short.exit_code == 0 and long_value not in short.stdout
    assert "500 characters; --full shows it" in short.stdout and "short" in short.stdout
    assert max(len(line) for line in short.stdout.splitlines()) < 200
    full = jux("inspect", "--full", "long.xml")
    assert long_value in full.stdout
    assert json.loads(jux("inspect", "--json", "long.xml").stdout)["properties"][0] == ["long", long_value]


def test_cache_stats_prints_human_sizes(jux, workdir, corpus_dir) -> None:
    big = corpus_dir / "raw/maven-surefire/multiple-classes.xml"
    assert jux("keygen", "--type", "ec").exit_code == 0
    assert jux("submit", big).exit_code == 0
    stats = jux("cache", "stats")
    assert stats.exit_code == 0, stats.stderr
    raw = json.loads(jux("cache", "stats", "--json").stdout)[0]["bytes"]
    line = next(ln for ln in stats.stdout.splitlines() if ln.strip().startswith("bytes"))
    if raw >= 1024:
        assert re.search(r"\d+\.\d (KiB|MiB)", line) and f"({raw} bytes)" in line, line
    else:
        assert line.split()[-2:] == [str(raw), "B"], line


def test_submit_counts_include_skipped(jux, corpus_dir) -> None:
    assert jux("keygen", "--type", "ec").exit_code == 0
    result = jux("submit", corpus_dir / "raw/pytest/xunit2-basic.xml")
    assert result.exit_code == 0, result.stderr
    assert "5 tests, 1 failure, 0 errors, 1 skipped" in result.stdout, result.stdout


def test_a_failure_line_names_the_file_once(jux) -> None:
    for args in (("verify", "--unsafe-accept-any-key", "missing.xml"),
                 ("publish", "--url", "http://127.0.0.1:9/api/v1", "missing.xml")):
        result = jux(*args)
        line = next(ln for ln in (result.stdout + result.stderr).splitlines() if "missing.xml" in ln)
        assert line.count("missing.xml") == 1, line


# --- jux config init / list (item 9) -------------------------------------------------------


def _uncomment(text: str) -> str:
    """Remove '# ' from every commented-out setting ('## ' lines are notes and stay)."""
    return "\n".join(line[2:] if line.startswith("# ") else line for line in text.splitlines()) + "\n"


def test_config_init_template_is_valid_toml_uncommented_and_loads_strictly(jux, workdir) -> None:
    result = jux("config", "init")
    assert result.exit_code == 0, result.stderr
    text = (workdir / "jux.toml").read_text(encoding="utf-8")
    uncommented = _uncomment(text)
    assert uncommented.count("\n# ") == 0 and uncommented != text
    parsed = tomllib.loads(uncommented)
    assert parsed["outbox"]["max_attempts"] == 8 and parsed["backends"]["file"]["passphrase"] == {
        "env": "JUX_FILE_PASSPHRASE"}
    (workdir / "jux.toml").write_text(uncommented, encoding="utf-8")
    cfg = load_config(config_file=workdir / "jux.toml")  # strict: unknown keys and bad types refused
    registry = Registry()
    for name in ("file", "filesystem"):
        cls = registry.options_classes()[name]
        cfg.backend_options(name, cls)
    checked = jux("config", "check")
    assert checked.exit_code in (0, 2), checked.stderr  # the passphrase variable is unset: a config error
    assert "Traceback" not in checked.stderr


def test_config_init_template_holds_no_path_of_this_machine(jux, workdir) -> None:
    text = jux("config", "init", "--path", "-").stdout
    for path in {Path.home(), user_config_dir(), user_data_dir(), workdir, Path(os.getcwd())}:
        assert str(path) not in text, path
    assert "<user config dir>/signing-key.pem" in text


def test_config_list_describes_every_option_from_the_model(jux) -> None:
    listed = jux("config", "list", "--json")
    assert listed.exit_code == 0, listed.stderr
    rows = {r["key"]: r for r in json.loads(listed.stdout)}
    for key in ("project", "signer", "storage_mode", "metadata.env_allowlist", "outbox.max_attempts",
                "index.path", "backends.file.key", "backends.filesystem.root", "backends.http.url"):
        assert key in rows, key
        assert rows[key]["type"] and rows[key]["description"], rows[key]
    assert rows["outbox.max_attempts"]["default"] == "8"
    assert rows["backends.http.url"]["required"] is True
    assert rows["backends.file.passphrase"]["secret"] is True
    assert rows["backends.file.key"]["default"] == '"<user config dir>/signing-key.pem"'
    human = jux("config", "list")
    assert "outbox.max_attempts  (an integer; default 8)" in human.stdout
