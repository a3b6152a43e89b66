"""Evidence policy strictness, index queries against hand-computed answers, trends, flaky tests,
diff, retention and submit keeping the index current."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import juxsdk
from juxsdk.cli import cli
from juxsdk.evidence.trends import diff_tests, flaky_tests, trends
from juxsdk.testing.samples import generate_report
from tests.evidence_support import provenance, signed

T0 = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[results]\nmax_failures = \"0\"\n", "results.max_failures: expected an integer, got a string"),
        ("[results]\nbogus = 1\n", "results: unknown key 'bogus'"),
        ("colour = 1\n", "unknown key 'colour'"),
        ("[properties]\n\"git:branch\" = \"main\"\n", "git:branch: expected an array of patterns"),
        ("[signers]\ncertificates = [\"abc\"]\n", "signers.certificates[0]"),
        ("[results]\nmax_failures = -1\n", "results.max_failures: must be 0 or more"),
        ("[results]\nmin_tests = true\n", "results.min_tests: expected an integer, got a boolean"),
        ("name = \n", "not valid TOML"),
        ("[results]\nmax_failures = " + "9" * 4400 + "\n", "not valid TOML"),  # tomllib: a ValueError (fuzz)
        ("name = " + "[" * 5000 + "]" * 5000 + "\n", "not valid TOML"),  # tomllib: a RecursionError
    ],
)
def test_policy_is_strict(tmp_path, text, needle) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(juxsdk.PolicyError) as err:
        juxsdk.load_policy(path)
    assert needle in err.value.message and str(path) in err.value.message
    result = CliRunner().invoke(cli, ["audit", "--policy", str(path), "--unsafe-accept-any-key", str(tmp_path)])
    assert result.exit_code == 2 and needle in result.output and "Traceback" not in result.output


def _index_with_history(tmp_path: Path, signer) -> tuple[juxsdk.Index, dict[str, object]]:
    """Six runs of project "pump" (main: 4, dev: 2) and one of "valve", with known outcomes."""
    # per run: (project, branch, commit, hours after T0, failing test indexes)
    runs = [
        ("pump", "main", "c1", 0, []),
        ("pump", "main", "c1", 1, [3]),        # test 3 fails on c1 and passed on c1 before: flaky
        ("pump", "main", "c2", 2, [5]),
        ("pump", "main", "c3", 3, [3, 5]),
        ("pump", "dev", "c9", 4, [0, 1, 2]),
        ("pump", "dev", "c9", 5, []),
        ("valve", "main", "v1", 6, [1]),
    ]
    hashes = []
    idx = juxsdk.Index(tmp_path / "i.sqlite3")
    for i, (project, branch, commit, hours, failing) in enumerate(runs):
        data = generate_report(tests=6, properties=[("run", str(i))], suite="s")
        # rewrite outcomes: generate_report fails the first N cases; build the failing set by hand
        from lxml import etree

        root = etree.fromstring(data)
        for n, case in enumerate(root.iter("testcase")):
            if n in failing:
                etree.SubElement(case, "failure", message=f"boom {n}")
        data = etree.tostring(root)
        s = signed(data, signer, provenance(project, branch=branch, commit=commit,
                                            when=T0 + dt.timedelta(hours=hours)), f"r{i}.xml")
        verified = juxsdk.verify_report(s.data, juxsdk.TrustedPublicKeys([signer.public_key()]))
        from juxsdk.evidence.results import ReportAudit
        from juxsdk.evidence.testcases import verified_outcome_rows

        idx.record(ReportAudit(source=f"r{i}.xml", status="ok", canonical_hash=verified.canonical_hash,
                               summary=verified.summary, properties=verified.properties,
                               signature=verified.signature, trust=verified.trust, verified_at=verified.verified_at,
                               testcases=verified_outcome_rows(s.data, verified)))
        hashes.append(verified.canonical_hash)
    idx.commit()
    return idx, {"hashes": hashes}


def test_index_queries_match_hand_computed_answers(tmp_path, rsa_keys) -> None:
    idx, info = _index_with_history(tmp_path, rsa_keys.signer())
    h = info["hashes"]
    with idx:
        assert idx.schema_version == 1
        main = idx.reports(project="pump", branch="main")
        assert [r.canonical_hash for r in main] == [h[3], h[2], h[1], h[0]]  # newest first
        assert [r.summary.failures for r in main] == [2, 1, 1, 0]
        assert {r.canonical_hash for r in idx.reports(status="failed")} == {h[1], h[2], h[3], h[4], h[6]}
        assert {r.canonical_hash for r in idx.reports(commit="c9")} == {h[4], h[5]}
        assert {r.canonical_hash for r in idx.reports(since=T0 + dt.timedelta(hours=5))} == {h[5], h[6]}
        rows = idx.tests(project="pump", branch="main", test="s.Test000.test_case_00003")
        assert [(r.canonical_hash, r.status) for r in rows] == [
            (h[3], "failed"), (h[2], "passed"), (h[1], "failed"), (h[0], "passed")]
        assert rows[0].message == "boom 3"
        failed = idx.tests(project="pump", status="failed")
        assert sorted((r.canonical_hash, r.name) for r in failed) == sorted(
            [(h[1], "test_case_00003"), (h[2], "test_case_00005"), (h[3], "test_case_00003"),
             (h[3], "test_case_00005"), (h[4], "test_case_00000"), (h[4], "test_case_00001"),
             (h[4], "test_case_00002")])
        assert idx.reports(signer="juxsdk test rsa") and not idx.reports(signer="CN=someone else")
        assert len(idx.reports(signer=idx.get(h[0]).certificate_fingerprint[:20])) == 7

        points = trends(idx, project="pump", by="run")
        assert [p.failures for p in points] == [0, 1, 1, 2, 3, 0]
        assert points[3].pass_rate == pytest.approx(4 / 6)
        day = trends(idx, by="day")
        assert [(p.project, p.runs, p.tests, p.failures) for p in day] == [("pump", 6, 36, 7), ("valve", 1, 6, 1)]

        flaky = {(f.branch, f.test_id): f for f in flaky_tests(idx, project="pump")}
        t3 = flaky[("main", "s.Test000.test_case_00003")]
        assert (t3.runs, t3.failures, t3.flips, t3.mixed_commits) == (4, 2, 3, ("c1",))
        assert ("main", "s.Test000.test_case_00005") not in flaky  # failed twice in a row, then stopped: 1 flip
        assert ("dev", "s.Test000.test_case_00000") in flaky        # fails and passes on commit c9

    runner = CliRunner()
    out = runner.invoke(cli, ["query", "--index", str(tmp_path / "i.sqlite3"), "--project", "pump", "--branch",
                              "main", "--test", "*test_case_00003", "--json"])
    assert out.exit_code == 0, out.output
    assert [(r["canonical_hash"], r["status"]) for r in json.loads(out.output)] == [
        (h[3], "failed"), (h[2], "passed"), (h[1], "failed"), (h[0], "passed")]
    out = runner.invoke(cli, ["query", "--index", str(tmp_path / "i.sqlite3"), "--project", "valve", "--csv"])
    lines = out.output.splitlines()
    assert lines[0].startswith("canonical_hash,") and len(lines) == 2 and h[6] in lines[1]
    out = runner.invoke(cli, ["diff", "--index", str(tmp_path / "i.sqlite3"), h[2][7:20], h[3][7:20], "--json"])
    assert out.exit_code == 1  # a test is newly failing
    assert json.loads(out.output)["newly_failing"] == ["s.Test000.test_case_00003"]


def test_diff_lists_added_removed_newly_failing_and_fixed() -> None:
    from juxsdk.evidence.testcases import TestOutcome as T

    a = [T("c", "x", "passed"), T("c", "y", "failed"), T("c", "gone", "passed"), T("c", "z", "passed")]
    b = [T("c", "x", "failed"), T("c", "y", "passed"), T("c", "new", "passed"), T("c", "z", "passed")]
    d = diff_tests(a, b)
    assert (d.added, d.removed, d.newly_failing, d.fixed, d.unchanged) == (
        ("c.new",), ("c.gone",), ("c.x",), ("c.y",), 1)


def test_index_refuses_a_newer_schema_and_a_non_database(tmp_path) -> None:
    with juxsdk.Index(tmp_path / "a.sqlite3") as idx:
        idx._db.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(juxsdk.EvidenceIndexError, match="schema version 99"):
        juxsdk.Index(tmp_path / "a.sqlite3")
    bad = tmp_path / "b.sqlite3"
    bad.write_bytes(b"not a database at all" * 100)
    with pytest.raises(juxsdk.EvidenceIndexError) as err:
        juxsdk.Index(bad)
    assert "jux index rebuild" in (err.value.hint or "")


def test_submit_keeps_the_index_current_and_cache_clean_keeps_last_and_policy_evidence(
        tmp_path, rsa_keys, monkeypatch) -> None:
    from juxsdk_backends.filesystem import FilesystemStore

    root = tmp_path / "reports"
    cfg = tmp_path / "jux.toml"
    cfg.write_text(
        f'project = "pump"\nsigner = "file"\nstores = ["filesystem"]\n[backends.file]\nkey = "{rsa_keys.key_path}"\n'
        f'certificate = "{rsa_keys.cert_path}"\n[backends.filesystem]\nroot = "{root}"\n'
        f'[index]\npath = "{tmp_path / "i.sqlite3"}"\n', encoding="utf-8")
    runner = CliRunner()
    for i in range(5):
        path = tmp_path / f"r{i}.xml"
        path.write_bytes(generate_report(tests=4, failures=1 if i == 2 else 0, properties=[("run", str(i))]))
        extra = ["--property", "jux:timestamp=2020-01-01T00:00:00Z"] if i == 0 else []
        assert runner.invoke(cli, ["--config", str(cfg), "submit", str(path), *extra]).exit_code == 0
    with juxsdk.Index(tmp_path / "i.sqlite3") as idx:
        reports = idx.reports()
        assert len(reports) == 5 and all(r.verified and r.has_tests and r.project == "pump" for r in reports)
        assert sum(r.summary.failures for r in reports) == 1
        assert "signed by this submit's signer" in reports[0].trust
    store = FilesystemStore(FilesystemStore.Options(root=root))
    # the policy requires the evidence of 2020 (run 0, by its signed jux:timestamp)
    policy = tmp_path / "keep.toml"
    policy.write_text('[select]\nprojects = ["pump"]\nsince = 2020-01-01\nuntil = 2021-01-01\n'
                      '[retention]\nkeep_last = 2\n', encoding="utf-8")
    out = runner.invoke(cli, ["--config", str(cfg), "cache", "clean", "--policy", str(policy), "--dry-run"])
    assert out.exit_code == 0, out.output
    assert "would delete 2 reports" in out.output and "required by policy" in out.output
    assert len(list(store.list())) == 5
    assert out.output.count("keep ") == 1
    out = runner.invoke(cli, ["--config", str(cfg), "cache", "clean", "--policy", str(policy)])
    assert out.exit_code == 0 and len(list(store.list())) == 3
    assert any(("run", "0") in r.properties for r in store.list())
    out = runner.invoke(cli, ["--config", str(cfg), "cache", "clean", "--keep-last", "2"])
    assert out.exit_code == 0 and len(list(store.list())) == 2
    out = runner.invoke(cli, ["--config", str(cfg), "cache", "clean"])
    assert out.exit_code == 2 and "--keep-last" in out.output


def test_reaudit_reads_outcomes_only_for_reports_the_index_lacks(tmp_path, rsa_keys, monkeypatch) -> None:
    import juxsdk.evidence.testcases as testcases_module

    signer = rsa_keys.signer()
    for i in range(3):
        data = generate_report(tests=5, failures=1, properties=[("run", str(i))])
        (tmp_path / f"r{i}.xml").write_bytes(signed(data, signer, provenance("p"), f"r{i}").data)
    trust = juxsdk.TrustedCertificates.from_pem_file(rsa_keys.cert_path)
    calls = []
    real = testcases_module.verified_outcome_rows

    def counting(data, verified):
        calls.append(verified.canonical_hash)
        return real(data, verified)

    monkeypatch.setattr(testcases_module, "verified_outcome_rows", counting)
    with juxsdk.Index(tmp_path / "i.sqlite3") as idx:
        first = juxsdk.audit([str(tmp_path)], trust=trust, jobs=1, index=idx)
        assert len(calls) == 3 and first.ok
        again = juxsdk.audit([str(tmp_path)], trust=trust, jobs=1, index=idx)
        assert len(calls) == 3 and again.ok  # nothing walked again
        assert all(len(idx.testcases(r.canonical_hash)) == 5 for r in again.reports)


def test_a_trust_policy_that_cannot_be_pickled_is_applied_in_process(tmp_path, rsa_keys) -> None:
    pinned = juxsdk.TrustedCertificates.from_pem_file(rsa_keys.cert_path)

    class Custom:  # a third-party TrustPolicy holding something unpicklable
        def __init__(self) -> None:
            self.hook = lambda: None

        def decide(self, chain, key_value, at):
            return pinned.decide(chain, key_value, at)

    signer = rsa_keys.signer()
    for i in range(10):
        data = generate_report(tests=3, properties=[("run", str(i))])
        (tmp_path / f"r{i}.xml").write_bytes(signed(data, signer, provenance("p"), f"r{i}").data)
    result = juxsdk.audit([str(tmp_path)], trust=Custom(), jobs=2)
    assert result.ok and len(result.reports) == 10 and result.jobs == 1
    pooled = juxsdk.audit([str(tmp_path)], trust=pinned, jobs=2)
    assert pooled.ok and pooled.jobs == 2
