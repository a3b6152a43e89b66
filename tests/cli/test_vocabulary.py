"""One vocabulary across `jux` (issue 12, items 5-6): each flag means one thing on every command.

``--signing-cert`` is the certificate a signing command embeds; ``--cert``/``--pubkey``/``--ca``
are trust anchors; ``keygen --cert-out`` is where the new certificate goes. The old spellings
(``sign --cert``, ``attest --cert``, ``keygen --cert``) still work for one release, hidden, with a
deprecation warning.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from juxsdk.cli import cli


def _commands() -> Iterator[tuple[str, click.Command]]:
    ctx = click.Context(cli)

    def walk(cmd: click.Command, path: str) -> Iterator[tuple[str, click.Command]]:
        yield path, cmd
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                assert sub is not None
                yield from walk(sub, f"{path} {name}")

    yield from walk(cli, "jux")


def _visible(cmd: click.Command, flag: str) -> click.Option | None:
    for p in cmd.params:
        if isinstance(p, click.Option) and not p.hidden and flag in p.opts + p.secondary_opts:
            return p
    return None


def test_each_trust_and_embedding_flag_means_one_thing_everywhere() -> None:
    seen = {"--cert": [], "--signing-cert": [], "--key": []}
    for path, cmd in _commands():
        cert = _visible(cmd, "--cert")
        if cert is not None:
            assert "trust" in (cert.help or "").lower(), f"{path} --cert must name a trust anchor: {cert.help}"
            seen["--cert"].append(path)
        embed = _visible(cmd, "--signing-cert")
        if embed is not None:
            assert "embed" in (embed.help or "").lower(), f"{path} --signing-cert: {embed.help}"
            seen["--signing-cert"].append(path)
        if _visible(cmd, "--key") is not None:
            seen["--key"].append(path)
            assert embed is not None, f"{path} signs with --key but has no --signing-cert"
    assert {"jux sign", "jux merge", "jux attest"} <= set(seen["--signing-cert"])
    assert {"jux verify", "jux verify-attestation", "jux audit", "jux diff", "jux merge"} <= set(seen["--cert"])


def test_old_spellings_are_hidden_from_help(jux) -> None:
    for command, old in (("sign", "--cert "), ("attest", "--cert "), ("keygen", "--cert ")):
        options = [ln.strip() for ln in jux(command, "--help").stdout.splitlines() if ln.startswith("  -")]
        assert not any(ln.startswith(old) for ln in options), (command, options)
    assert "--signing-cert" in jux("sign", "--help").stdout
    assert "--cert-out" in jux("keygen", "--help").stdout


@pytest.fixture
def keys(jux, workdir: Path) -> tuple[Path, Path]:
    made = jux("keygen", "--type", "ec", "--out", "k.pem", "--cert-out", "c.pem", "--subject", "vocab")
    assert made.exit_code == 0, made.stderr
    return workdir / "k.pem", workdir / "c.pem"


def _warning(stderr: str, old: str, new: str) -> None:
    lines = [ln for ln in stderr.splitlines() if ln.startswith("warning:")]
    assert len(lines) == 1, stderr
    assert f"{old} is deprecated" in lines[0] and new in lines[0], lines[0]


def test_keygen_cert_alias_still_writes_the_certificate_and_warns(jux, workdir: Path) -> None:
    result = jux("keygen", "--type", "ec", "--out", "old-k.pem", "--cert", "old-c.pem")
    assert result.exit_code == 0, result.stderr
    assert (workdir / "old-c.pem").read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    _warning(result.stderr, "--cert", "--cert-out")


def test_sign_cert_alias_still_embeds_the_certificate_and_warns(jux, workdir, corpus_dir, keys) -> None:
    key, cert = keys
    src = corpus_dir / "raw/generic/basic.xml"
    new = jux("sign", src, "-o", "new.xml", "--key", key, "--signing-cert", cert)
    assert new.exit_code == 0 and "warning:" not in new.stderr, new.stderr
    old = jux("sign", src, "-o", "old.xml", "--key", key, "--cert", cert)
    assert old.exit_code == 0, old.stderr
    _warning(old.stderr, "--cert", "--signing-cert")
    for name in ("new.xml", "old.xml"):
        checked = jux("verify", "--cert", cert, name, "--json")
        assert checked.exit_code == 0, checked.stdout
        assert json.loads(checked.stdout)[0]["signature"]["certificate_subject"] == "CN=vocab"


def test_both_spellings_at_once_is_a_usage_error(jux, corpus_dir, keys) -> None:
    key, cert = keys
    both = jux("sign", corpus_dir / "raw/generic/basic.xml", "--key", key, "--cert", cert, "--signing-cert", cert)
    assert both.exit_code == 2, both.stderr
    assert "--signing-cert only" in both.stderr


def test_attest_cert_alias_is_the_signing_certificate(jux, workdir, corpus_dir, keys) -> None:
    key, cert = keys
    (workdir / "junit.xml").write_bytes((corpus_dir / "raw/generic/basic.xml").read_bytes())
    made = jux("attest", "junit.xml", "--commit", "a" * 40, "--key", key, "--cert", cert, "--signed-output", "s.xml")
    assert made.exit_code == 0, made.stderr
    _warning(made.stderr, "--cert", "--signing-cert")
    checked = jux("verify-attestation", "--cert", cert, "junit.intoto.json")
    assert checked.exit_code == 0, checked.stdout + checked.stderr


# --- jux verify: DIR/GLOB, the trust line once, a tally ------------------------------------


def _signed_tree(jux, workdir: Path, corpus_dir: Path, key: Path, cert: Path) -> Path:
    out = workdir / "signed"
    srcs = [corpus_dir / "raw/generic/basic.xml", corpus_dir / "raw/pytest/xunit2-basic.xml"]
    for i, src in enumerate(srcs):
        (out / f"d{i}").mkdir(parents=True)
        done = jux("sign", src, "-o", out / f"d{i}" / f"r{i}.xml", "--key", key, "--signing-cert", cert)
        assert done.exit_code == 0, done.stderr
    return out


def test_verify_takes_a_directory_and_a_glob_with_one_trust_line_and_a_tally(
    jux, workdir, corpus_dir, keys
) -> None:
    key, cert = keys
    tree = _signed_tree(jux, workdir, corpus_dir, key, cert)
    for arg in (str(tree), f"{tree}/**/*.xml"):
        result = jux("verify", "--cert", cert, arg)
        assert result.exit_code == 0, result.stdout + result.stderr
        ok_lines = [ln for ln in result.stdout.splitlines() if ln.startswith("OK")]
        assert len(ok_lines) == 2, result.stdout
        assert result.stderr.count("trust:") == 1, result.stderr
        assert result.stderr.strip().splitlines()[-1] == "2 verified, 0 failed"


def test_verify_tally_counts_failures_and_an_empty_glob(jux, workdir, corpus_dir, keys) -> None:
    key, cert = keys
    tree = _signed_tree(jux, workdir, corpus_dir, key, cert)
    tampered = tree / "d0" / "r0.xml"
    tampered.write_bytes(tampered.read_bytes().replace(b'tests="', b'tests="1', 1))
    result = jux("verify", "--cert", cert, str(tree), "nothing-here/*.xml")
    assert result.exit_code == 3, result.stdout + result.stderr  # the empty glob is an ERROR
    assert result.stderr.strip().splitlines()[-1] == "1 verified, 2 failed"
    fail = [ln for ln in result.stdout.splitlines() if ln.startswith("FAIL")]
    assert len(fail) == 1 and fail[0].count("r0.xml") == 1, fail  # the file is named once


def test_sign_json_of_a_single_file(jux, workdir, corpus_dir, keys) -> None:
    key, cert = keys
    result = jux("sign", corpus_dir / "raw/generic/basic.xml", "-o", "one.xml", "--key", key,
                 "--signing-cert", cert, "--json")
    assert result.exit_code == 0, result.stderr
    entry = json.loads(result.stdout)
    assert entry["output"] == "one.xml" and entry["canonical_hash"].startswith("sha256:")
    assert entry["signature"]["certificate_subject"] == "CN=vocab"
    assert b"SignatureValue" in (workdir / "one.xml").read_bytes()
    to_stdout = jux("sign", corpus_dir / "raw/generic/basic.xml", "--key", key, "--json")
    assert to_stdout.exit_code == 2 and "-o OUT" in to_stdout.stderr, to_stdout.stderr


# --- every command: examples, --json, global options in any position (items 6 and 8) --------


def _leaves() -> list[str]:
    return [path for path, cmd in _commands() if not isinstance(cmd, click.Group)]


def test_every_command_help_has_examples(jux) -> None:
    for path, _cmd in _commands():
        shown = jux(*path.split()[1:], "--help")
        assert shown.exit_code == 0, (path, shown.stderr)
        assert "Examples:" in shown.stdout or "Example:" in shown.stdout, path


def test_every_command_takes_json() -> None:
    missing = [path for path, cmd in _commands() if not isinstance(cmd, click.Group) and _visible(cmd, "--json") is None]
    assert missing == []


@pytest.mark.parametrize("path", _leaves())
def test_global_options_work_before_and_after_every_subcommand(jux, workdir, path) -> None:
    (workdir / "jux.toml").write_text('project = "p"\n', encoding="utf-8")
    words = path.split()[1:]
    for args in (
        ["--no-color", "-v", "--config", "jux.toml", *words, "--help"],
        [*words, "--no-color", "-v", "--config", "jux.toml", "--help"],
        [*words[:1], "--no-color", "--config", "jux.toml", *words[1:], "--help"],
    ):
        result = jux(*args)
        assert result.exit_code == 0, (args, result.stderr)
