"""`jux audit` on a filesystem store of a few hundred real signed reports with known defects."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import juxsdk
from juxsdk.trust import certificate_fingerprint
from tests.evidence_support import EXPECTED_REASON, fill_store, policy_text, tamper_filesystem

JUX = Path(sys.executable).with_name("jux")


@pytest.fixture(scope="module")
def audited_store(tmp_path_factory, rsa_keys, ec_keys):
    """A filesystem store (corpus + generated + defects), a policy, and a config naming the store."""
    from juxsdk_backends.filesystem import FilesystemStore

    base = tmp_path_factory.mktemp("audit")
    root = base / "reports"
    store = FilesystemStore(FilesystemStore.Options(root=root))
    corpus = fill_store(store, rsa_keys.signer(), ec_keys.signer())
    tamper_filesystem(root, corpus.of("tampered"))
    policy = base / "release.toml"
    policy.write_text(policy_text(corpus, certificate_fingerprint(rsa_keys.cert)), encoding="utf-8")
    config = base / "jux.toml"
    config.write_text(f'stores = ["filesystem"]\n[backends.filesystem]\nroot = "{root}"\n', encoding="utf-8")
    return base, store, corpus, policy, config


def _run(args: list[str], env_dir: Path, **kw) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUX_")}
    env.update(JUX_DATA_DIR=str(env_dir / "data"), JUX_CONFIG_DIR=str(env_dir / "cfg"), NO_COLOR="1")
    return subprocess.run([str(JUX), *args], capture_output=True, text=True, env=env, timeout=300, **kw)


def test_jux_audit_names_exactly_the_bad_reports(audited_store, tmp_path) -> None:
    _base, _store, corpus, policy, config = audited_store
    assert len(corpus.kinds) >= 250
    index = tmp_path / "index.sqlite3"
    junit = tmp_path / "audit.xml"
    proc = _run(["--config", str(config), "audit", "--policy", str(policy), "-j", "2", "--json",
                 "--junit-xml", str(junit), "--index", str(index)], tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    result = json.loads(proc.stdout)
    by_hash = {r["canonical_hash"]: r for r in result["reports"]}
    assert set(by_hash) == set(corpus.kinds)
    bad = {h for h, r in by_hash.items() if r["status"] != "ok"}
    assert bad == corpus.bad()
    for kind, needle in EXPECTED_REASON.items():
        hashes = corpus.of(kind)
        assert hashes, kind
        for h in hashes:
            entry = by_hash[h]
            assert any(needle in reason for reason in entry["reasons"]), (kind, entry["reasons"])
            expected_status = "failed" if kind in ("tampered", "other-key", "unsigned") else "violation"
            assert entry["status"] == expected_status, (kind, entry)
            if expected_status == "failed":
                assert entry["summary"] is None and entry["properties"] == [] and entry["signature"] is None
    for h in corpus.zero_tests:
        assert by_hash[h]["reasons"] == ["0 tests, at least 1 required"]
    assert result["counts"]["ok"] == len(corpus.kinds) - len(corpus.bad())

    # the JUnit XML of the audit: one testcase per report, a failure per bad one
    report = juxsdk.parse_report(junit.read_bytes())
    assert report.summary.tests == len(corpus.kinds)
    assert report.summary.failures == len(corpus.bad())
    assert report.summary.errors == 0

    # the index holds the verified ones (as evidence or as violations) and marks the others
    with juxsdk.Index(index) as idx:
        stats = idx.stats()
        failed = corpus.of("tampered") | corpus.of("other-key") | corpus.of("unsigned")
        assert stats["reports"] == len(corpus.kinds)
        assert stats["not_verified"] == len(failed)
        for h in failed:
            row = idx.get(h)
            assert not row.verified and not row.evidence and row.summary is None and idx.testcases(h) == ()
        violating = corpus.bad() - failed
        assert {r.canonical_hash for r in idx.reports(verified=True) if r.policy_ok is False} == violating


def test_audit_table_and_exit_code_when_everything_complies(audited_store, tmp_path, rsa_keys) -> None:
    _base, store, corpus, policy, _config = audited_store
    good = sorted(corpus.of("good") - corpus.zero_tests)[:5]
    files = []
    for i, h in enumerate(good):
        path = tmp_path / "in" / f"r{i}.xml"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(store.get(h))
        files.append(str(path))
    proc = _run(["audit", "--policy", str(policy), "-j", "1", "--no-index", *files], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[0].split()[:3] == ["STATUS", "REPORT", "HASH"]
    assert sum(line.startswith("OK ") for line in proc.stdout.splitlines()) == 5
    assert "audited 5 reports" in proc.stderr


def test_audit_selection_leaves_other_projects_unaudited(audited_store, tmp_path) -> None:
    _base, store, corpus, policy, _config = audited_store
    result = juxsdk.audit([store], policy=juxsdk.load_policy(policy), jobs=1,
                          select=juxsdk.load_policy(policy).select.__class__(projects=("corpus",)))
    audited = {r.canonical_hash for r in result.reports}
    # the project as signed (the sidecar repeats the signed properties of these good reports)
    expected = {h for h in corpus.of("good") if store.metadata(h).project == "corpus"}
    assert len(expected) > 50
    assert audited == expected
    assert result.unselected == len(corpus.kinds) - len(audited)
    assert {r.canonical_hash for r in result.reports if not r.ok} == corpus.zero_tests & expected


def test_required_tests_must_be_present_and_pass(tmp_path, rsa_keys) -> None:
    from juxsdk.testing.samples import generate_report
    from tests.evidence_support import provenance, signed

    signer = rsa_keys.signer()
    names = {
        "passing": generate_report(tests=5, suite="req.Suite", properties=[("n", "1")]),
        "failing": generate_report(tests=5, failures=2, suite="req.Suite", properties=[("n", "2")]),
        "missing": generate_report(tests=5, suite="other.Suite", properties=[("n", "3")]),
    }
    for name, data in names.items():
        (tmp_path / f"{name}.xml").write_bytes(signed(data, signer, provenance("req"), name).data)
    policy = tmp_path / "p.toml"
    policy.write_text('[results]\nrequired_tests = ["req.Suite.Test000.test_case_0000[01]"]\n', encoding="utf-8")
    result = juxsdk.audit([str(tmp_path)], trust=juxsdk.TrustedCertificates.from_pem_file(rsa_keys.cert_path),
                          policy=juxsdk.load_policy(policy), jobs=1)
    by_source = {Path(r.source).stem: r for r in result.reports}
    assert by_source["passing"].ok
    assert by_source["failing"].reasons == (
        "required test req.Suite.Test000.test_case_0000[01] did not pass: "
        "req.Suite.Test000.test_case_00000 failed, req.Suite.Test000.test_case_00001 failed",
    )
    assert by_source["missing"].reasons == ("required test req.Suite.Test000.test_case_0000[01] is missing",)
    assert result.exit_code == 1
