"""Fuzz: the `jux` CLI on mutated reports, signed reports, store sidecars and configurations.

Every command runs in-process with click's ``CliRunner`` (exceptions caught, so one escaping
click fails the example), in a fresh working directory.

Properties (:func:`tests.fuzz.check.assert_clean_cli`): a documented exit code (0–4), no
traceback, no "internal error", an ``error:`` line when it fails; and per command:

* ``jux inspect`` / ``jux sign`` / ``jux merge``: 0 or 3 (not a report / cannot sign) — never
  1, which only verification returns;
* ``jux verify BAD GOOD --json``: a batch goes past the bad file, prints a JSON result for each
  file, the good one verified, exit 0 / 1 / 3;
* ``jux cache list / stats / show`` over a store whose sidecar was mutated: 0, or 4 with a
  ``warning:`` line naming the skipped report (``show``: 0 or 3); the other reports still listed;
* any command with a mutated ``jux.toml``: 0, or 2 (configuration error) naming the problem.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

import juxsdk
from juxsdk.cli import cli
from tests.fuzz.check import assert_clean_cli
from tests.fuzz.conftest import SIGNED_SAMPLES, corpus_bytes, corpus_path
from tests.fuzz.mutate import mutated_json, mutated_signed, mutated_toml
from tests.fuzz.profile import fuzz
from tests.fuzz.test_fuzz_reports import corpus_input


def run(cwd: Path, *args: str | os.PathLike[str]) -> Result:
    old = Path.cwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(cli, [str(a) for a in args], prog_name="jux")
    finally:
        os.chdir(old)


@pytest.fixture
def work(tmp_path_factory) -> Any:
    """A fresh directory per example (``tmp_path`` is shared by all examples of a test)."""
    return lambda: tmp_path_factory.mktemp("fuzz-cli")


@fuzz(40, shrink=False)
@given(case=corpus_input(unchanged=True), command=st.sampled_from(["inspect", "sign", "merge"]))
def test_cli_on_mutated_reports(case, command, work, rsa_keys) -> None:
    _name, data = case
    wd = work()
    bad = wd / "in.xml"
    bad.write_bytes(data)
    if command == "inspect":
        result = run(wd, "inspect", bad, "--json")
    elif command == "sign":
        result = run(wd, "sign", bad, "--key", rsa_keys.key_path, "--cert", rsa_keys.cert_path, "-o", wd / "out.xml")
    else:
        good = wd / "good.xml"
        good.write_bytes(corpus_bytes(corpus_path(SIGNED_SAMPLES[0])))
        result = run(wd, "merge", good, bad, "--no-metadata", "-o", wd / "out.xml")
    assert_clean_cli(result, allowed=frozenset({0, 3}))
    if result.exit_code == 0 and command != "inspect":
        juxsdk.parse_report((wd / "out.xml").read_bytes())  # what it wrote is a report


@fuzz(40, shrink=False)
@given(data=st.data())
def test_cli_verify_batch_with_mutated_signed(data, work, signed_samples) -> None:
    rsa = [s for s in signed_samples if s.label.startswith("rsa-cert:")]
    sample = data.draw(st.sampled_from(rsa), label="sample")
    mutated, _kind = data.draw(mutated_signed(sample.data, sample.key), label="mutated")
    wd = work()
    (wd / "bad.xml").write_bytes(mutated)
    (wd / "good.xml").write_bytes(sample.data)
    cert = sample.trust.certificates[0]
    from cryptography.hazmat.primitives.serialization import Encoding

    (wd / "cert.pem").write_bytes(cert.public_bytes(Encoding.PEM))
    result = run(wd, "verify", "bad.xml", "good.xml", "--cert", "cert.pem", "--json")
    assert_clean_cli(result, allowed=frozenset({0, 1, 3}))
    results = json.loads(result.stdout)
    assert len(results) == 2, result.stdout
    assert results[1]["verified"] is True, results[1]
    if result.exit_code == 0:
        assert results[0]["verified"] is True


@pytest.fixture
def cli_store(tmp_path: Path, fuzz_keys) -> tuple[Path, list[tuple[str, Path]]]:
    """A working directory whose configured filesystem store holds three reports (one signed):
    ``(workdir, [(canonical hash, sidecar path)])``."""
    from juxsdk_backends.filesystem import FilesystemStore

    wd = tmp_path / "cli-store"
    wd.mkdir()
    (wd / "jux.toml").write_text('stores = ["filesystem"]\n\n[backends.filesystem]\nroot = "store"\n')
    store = FilesystemStore(FilesystemStore.Options(root=wd / "store"))
    entries = []
    for i, rel in enumerate(SIGNED_SAMPLES[:3]):
        report: Any = juxsdk.parse_report(corpus_bytes(corpus_path(rel)), source=rel)
        if i == 1:
            report = juxsdk.sign_report(report, fuzz_keys.signers["ec-cert"])
        record = store.put(report)
        entries.append((report.canonical_hash, Path(record.location).with_suffix(".json")))
    return wd, entries


@fuzz(40, shrink=False)
@given(data=st.data())
def test_cli_cache_with_mutated_sidecar(data, cli_store) -> None:
    wd, entries = cli_store
    chash, sidecar = data.draw(st.sampled_from(entries), label="entry")
    original = sidecar.read_bytes()
    sidecar.write_bytes(data.draw(mutated_json(json.loads(original)), label="sidecar"))
    try:
        listed = run(wd, "cache", "list", "--json")
        stats = run(wd, "cache", "stats")
        shown = run(wd, "cache", "show", chash[7:19])
    finally:
        sidecar.write_bytes(original)
    for result in (listed, stats):
        assert_clean_cli(result, allowed=frozenset({0, 4}))
        if result.exit_code == 4:
            assert "warning:" in result.stderr, result.stderr
    assert_clean_cli(shown, allowed=frozenset({0, 3}))
    others = {h for h, _ in entries} - {chash}
    assert all(h in listed.stdout for h in others), listed.stdout


VALID_CONFIG: dict[str, Any] = {
    "stores": ["filesystem"], "publishers": [], "storage_mode": "local", "project": "pump", "sign": False,
    "backends": {"filesystem": {"root": "store"}, "http": {"url": "http://127.0.0.1:9/api/v1", "max_attempts": 2,
                                                           "total_deadline": 1.0}},
    "outbox": {"backoff_base": 0.5}, "metadata": {"env_allowlist": ["CI"]},
}


@fuzz(40, shrink=False)
@given(data=st.data(), command=st.sampled_from([("config", "show"), ("config", "check"), ("cache", "list"),
                                               ("submit", "r.xml"), ("queue", "list")]))
def test_cli_with_mutated_config(data, command, work) -> None:
    wd = work()
    (wd / "jux.toml").write_bytes(data.draw(mutated_toml(VALID_CONFIG), label="jux.toml"))
    (wd / "r.xml").write_bytes(corpus_bytes(corpus_path(SIGNED_SAMPLES[0])))
    result = run(wd, *command)
    assert_clean_cli(result, allowed=frozenset({0, 2, 3, 4}))
    if result.exit_code not in (0, 2):
        # only a configuration that loads may fail later (a store or publisher that is unreachable)
        assert command[0] in ("submit", "config"), (result.exit_code, result.stderr)
