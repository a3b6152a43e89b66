"""Merging reports (juxsdk.merge_reports, `jux merge`, `jux submit --merge`) and report discovery
(juxsdk.discovery.find_reports, `jux submit DIR|GLOB`, `jux sign DIR -o OUT`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

import juxsdk
from juxsdk.cli import cli
from juxsdk.discovery import find_reports
from juxsdk.errors import (
    AlreadySignedError,
    DigestMismatchError,
    ReportError,
    ReportParseError,
    UntrustedKeyError,
)

XMLSEC1 = shutil.which("xmlsec1")
DS = "{http://www.w3.org/2000/09/xmldsig#}Signature"

#: Real output of `node --test --test-reporter=junit` (node v20): testcases directly under the
#: <testsuites> root next to a <testsuite>, and statistics in comments.
NODE_JUNIT = b"""<?xml version="1.0" encoding="utf-8"?>
<testsuites>
\t<testcase name="adds" time="0.001203" classname="test"/>
\t<testcase name="fails" time="0.022494" classname="test" failure="Expected 2 !== 3">
\t\t<failure type="testCodeFailure" message="Expected 2 !== 3">AssertionError</failure>
\t</testcase>
\t<testcase name="skipped" time="0.000224" classname="test">
\t\t<skipped type="skipped" message="not today"/>
\t</testcase>
\t<testsuite name="pump" time="0.000550" disabled="0" errors="0" tests="2" failures="0" skipped="1" hostname="vm">
\t\t<testcase name="starts" time="0.000148" classname="test"/>
\t\t<testcase name="todo" time="0.000135" classname="test">
\t\t\t<skipped type="todo" message="true"/>
\t\t</testcase>
\t</testsuite>
\t<!-- tests 5 -->
\t<!-- duration_ms 331.450506 -->
</testsuites>
"""


def _surefire_sources(corpus_dir: Path) -> list[Path]:
    return sorted((corpus_dir / "raw" / "maven-surefire").glob("*.xml")) + sorted(
        (corpus_dir / "enriched" / "maven-surefire").glob("*.xml")
    )


def make_surefire_dir(corpus_dir: Path, target: Path, count: int = 50) -> list[Path]:
    """``count`` TEST-<class>.xml files built from the corpus' Surefire samples, class names varied."""
    target.mkdir(parents=True, exist_ok=True)
    sources = _surefire_sources(corpus_dir)
    written: list[Path] = []
    for i in range(count):
        src = sources[i % len(sources)]
        tree = etree.parse(str(src))
        root = tree.getroot()
        for suite in root.iter("testsuite"):
            suite.set("name", f"com.example.m{i:02d}.{suite.get('name', 'Suite').rpartition('.')[2]}")
        for case in root.iter("testcase"):
            cls = case.get("classname", "Case").rpartition(".")[2]
            case.set("classname", f"com.example.m{i:02d}.{cls}")
        first = next(root.iter("testsuite"))
        path = target / f"TEST-{first.get('name')}.xml"
        tree.write(str(path), xml_declaration=True, encoding="UTF-8")
        written.append(path)
    return written


@pytest.fixture
def surefire_dir(tmp_path: Path, corpus_dir: Path) -> Path:
    d = tmp_path / "target" / "surefire-reports"
    make_surefire_dir(corpus_dir, d)
    # what else Surefire/Failsafe leave in the directory: not JUnit reports
    (d / "failsafe-summary.xml").write_text('<failsafe-summary result="0"/>\n', encoding="utf-8")
    (d / "com.example.m00.CalculatorTest.txt").write_text("Tests run: 4\n", encoding="utf-8")
    return d


def _sum(paths: list[Path]) -> dict[str, int]:
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for p in paths:
        s = juxsdk.parse_report(p.read_bytes()).summary
        for k in totals:
            totals[k] += getattr(s, k)
    return totals


def xmlsec1_verify(path: Path, cert: Path) -> subprocess.CompletedProcess[str]:
    if XMLSEC1 is None:
        pytest.fail("xmlsec1 is not installed (apt-get install xmlsec1; .ci/run installs it)")
    return subprocess.run(
        [XMLSEC1, "--verify", "--pubkey-cert-pem", str(cert), "--enabled-key-data", "x509,rsa", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


# --- merging: the 50-file Surefire run ---------------------------------------------------------


def test_fifty_surefire_files_merge_sign_and_verify(surefire_dir: Path, rsa_keys, tmp_path: Path) -> None:
    paths = find_reports([str(surefire_dir)])
    assert len(paths) == 50 and all(p.name.startswith("TEST-") for p in paths)
    expected = _sum(paths)
    assert expected["failures"] and expected["errors"] and expected["skipped"]  # a non-trivial run

    merged = juxsdk.merge_reports(paths, properties={"project": "pump-controller"})
    s = merged.summary
    assert (s.tests, s.failures, s.errors, s.skipped) == tuple(expected.values())
    root = etree.fromstring(merged.data)
    assert root.tag == "testsuites"
    assert {k: int(root.get(k)) for k in expected} == expected
    top = [c for c in root if c.tag == "testsuite"]
    # every input's top-level suites are there, in input order
    assert [t.get("name") for t in top] == [
        c.get("name")
        for p in paths
        for c in ([etree.parse(str(p)).getroot()] if etree.parse(str(p)).getroot().tag == "testsuite"
                  else etree.parse(str(p)).getroot().findall("testsuite"))
    ]
    assert float(root.get("time")) == pytest.approx(sum(float(t.get("time")) for t in top))
    props = dict(merged.properties)
    assert merged.project == "pump-controller"
    assert props["jux:merged_reports"] == "50"
    for n, p in enumerate(paths, 1):
        name, _, digest = props[f"jux:source:{n}"].rpartition(" ")
        assert name == p.name
        assert digest == juxsdk.canonical_hash(p.read_bytes())
    assert "jux:source:51" not in props
    # provenance added once: only in the first suite
    assert [c.get("name") for c in root.iter("property")].count("jux:merged_reports") == 1
    assert top[0].find("properties/property[@name='jux:source:1']") is not None

    signed = juxsdk.sign_report(merged, rsa_keys.signer())
    out = tmp_path / "merged-signed.xml"
    out.write_bytes(signed.data)
    verified = juxsdk.verify_report(out.read_bytes(), juxsdk.TrustedCertificates.from_pem_file(rsa_keys.cert_path))
    assert verified.summary.tests == expected["tests"]
    assert verified.canonical_hash == merged.canonical_hash
    result = xmlsec1_verify(out, rsa_keys.cert_path)
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout + result.stderr
    # and xmlsec1 notices a change to a merged testcase
    out.write_bytes(signed.data.replace(b'name="testAddition"', b'name="testAdditionX"', 1))
    assert xmlsec1_verify(out, rsa_keys.cert_path).returncode != 0


def test_suites_are_kept_intact(corpus_dir: Path) -> None:
    nested = corpus_dir / "edge-cases" / "nested-testsuites.xml"
    bare = corpus_dir / "raw" / "maven-surefire" / "basic.xml"
    merged = juxsdk.merge_reports([bare, nested])
    root = etree.fromstring(merged.data)
    nested_root = etree.parse(str(nested)).getroot()
    originals = [etree.parse(str(bare)).getroot(), *nested_root.findall("{*}testsuite")]
    lifted = root.findall("testsuite")
    assert len(lifted) == len(originals)

    def c14n(el: etree._Element) -> bytes:
        return etree.tostring(el, method="c14n", exclusive=True, with_tail=False)

    # the first suite received the merge properties; every other suite is byte-identical in C14N
    for got, want in zip(lifted[1:], originals[1:], strict=True):
        assert c14n(got) == c14n(want)
    # nested suites stay nested and every testcase is counted once
    assert merged.summary.tests == sum(juxsdk.parse_report(p.read_bytes()).summary.tests for p in (bare, nested))
    assert merged.summary.suites == 1 + juxsdk.parse_report(nested.read_bytes()).summary.suites


def test_node_style_testcases_get_a_synthetic_suite(tmp_path: Path, corpus_dir: Path) -> None:
    node = tmp_path / "node-results.xml"
    node.write_bytes(NODE_JUNIT)
    merged = juxsdk.merge_reports([node, corpus_dir / "raw" / "generic" / "basic.xml"])
    root = etree.fromstring(merged.data)
    assert [c.tag for c in root] == ["testsuite"] * 3  # no loose testcase, comments dropped
    synthetic, pump, _basic = root
    assert synthetic.get("name") == "node-results"
    assert [c.get("name") for c in synthetic.findall("testcase")] == ["adds", "fails", "skipped"]
    assert (synthetic.get("tests"), synthetic.get("failures"), synthetic.get("skipped")) == ("3", "1", "1")
    assert pump.get("name") == "pump"
    assert merged.summary.tests == 5 + 3
    assert merged.summary.failures == 1 and merged.summary.skipped == 2
    assert float(root.get("time")) == pytest.approx(0.023921 + 0.000550 + float(_basic.get("time")))


def test_nested_groups_and_wrapped_testcases_are_not_dropped(corpus_dir: Path) -> None:
    """Found by the fuzz suite: a <testsuites> group nested in the root (cucumber features) and
    testcases inside an unknown element were dropped, so the merged counts (a failure included)
    were lower than the inputs'."""
    features = corpus_dir / "raw" / "cucumber" / "nested-features.xml"
    wrapped = b'<testsuites><group><testcase name="w"><failure/></testcase></group><!-- c --><x/></testsuites>'
    inputs = [features.read_bytes(), wrapped]
    merged = juxsdk.merge_reports(inputs)
    parsed = [juxsdk.parse_report(data) for data in inputs]
    for field in ("tests", "failures", "errors", "skipped"):
        assert getattr(merged.summary, field) == sum(getattr(p.summary, field) for p in parsed), field
    root = etree.fromstring(merged.data)
    # the 3 features (the nested group's testcases as a suite named after it), 1 synthetic suite
    assert [c.tag for c in root] == ["testsuite"] * 4
    assert [c.get("name") for c in root][:3] == ["Product Catalog Feature", "Shopping Cart Feature", "Checkout Feature"]
    assert len(root[0].findall("testcase")) == 3
    assert root[-1].find("group/testcase").get("name") == "w" and root[-1].find("x") is None


def test_inputs_may_be_bytes_reports_and_paths(corpus_dir: Path) -> None:
    a = corpus_dir / "raw" / "generic" / "with-failures.xml"
    b = corpus_dir / "raw" / "pytest" / "basic.xml" if (corpus_dir / "raw" / "pytest" / "basic.xml").exists() else a
    report = juxsdk.parse_report(b.read_bytes(), source="from-report.xml")
    merged = juxsdk.merge_reports([a.read_bytes(), report, str(a)], name="nightly")
    props = dict(merged.properties)
    assert props["jux:source:1"].startswith("<bytes 1> sha256:")
    assert props["jux:source:2"].startswith("from-report.xml sha256:")
    assert props["jux:source:3"].startswith("with-failures.xml sha256:")
    assert etree.fromstring(merged.data).get("name") == "nightly"
    assert not merged.signed


def test_merging_a_merged_report_keeps_its_sources(corpus_dir: Path) -> None:
    files = sorted((corpus_dir / "raw" / "generic").glob("*.xml"))[:3]
    inner = juxsdk.merge_reports(files)
    outer = juxsdk.merge_reports([inner, files[0]])
    props = dict(outer.properties)
    assert [props[f"jux:source:{n}"].partition(" ")[0] for n in (1, 2, 3)] == [f.name for f in files]
    assert props["jux:source:4"].endswith(inner.canonical_hash)
    assert props["jux:source:5"].endswith(juxsdk.canonical_hash(files[0].read_bytes()))
    assert outer.summary.tests == inner.summary.tests + juxsdk.parse_report(files[0].read_bytes()).summary.tests


# --- signed inputs -----------------------------------------------------------------------------


@pytest.fixture
def signed_inputs(corpus_dir: Path, rsa_keys, tmp_path: Path) -> list[Path]:
    out = []
    for name in ("basic.xml", "with-failures.xml"):
        src = corpus_dir / "raw" / "generic" / name
        p = tmp_path / f"signed-{name}"
        p.write_bytes(juxsdk.sign_report(src.read_bytes(), rsa_keys.signer()).data)
        out.append(p)
    return out


def test_signed_inputs_are_refused_without_trust(signed_inputs: list[Path], corpus_dir: Path) -> None:
    with pytest.raises(AlreadySignedError) as info:
        juxsdk.merge_reports([corpus_dir / "raw" / "generic" / "smoke-tests.xml", *signed_inputs])
    assert "signed-basic.xml" in info.value.message
    assert "trust" in (info.value.hint or "")


def test_signed_inputs_are_verified_first(signed_inputs: list[Path], rsa_keys, ec_keys, corpus_dir: Path) -> None:
    trust = juxsdk.TrustedCertificates.from_pem_file(rsa_keys.cert_path)
    merged = juxsdk.merge_reports(signed_inputs, trust=trust)
    assert not merged.signed and etree.fromstring(merged.data).find(f".//{DS}") is None
    props = dict(merged.properties)
    originals = [corpus_dir / "raw" / "generic" / n for n in ("basic.xml", "with-failures.xml")]
    for n, original in enumerate(originals, 1):  # the hash of a signed report is its unsigned content's
        assert props[f"jux:source:{n}"].endswith(juxsdk.canonical_hash(original.read_bytes()))
    # a key the policy does not trust
    with pytest.raises(UntrustedKeyError):
        juxsdk.merge_reports(signed_inputs, trust=juxsdk.TrustedCertificates.from_pem_file(ec_keys.cert_path))
    # a signed input changed after signing
    tampered = signed_inputs[0].read_bytes().replace(b'name="test_addition"', b'name="test_additioN"', 1)
    assert tampered != signed_inputs[0].read_bytes()
    with pytest.raises(DigestMismatchError):
        juxsdk.merge_reports([tampered, signed_inputs[1]], trust=trust)


def test_verified_reports_can_be_merged(signed_inputs: list[Path], rsa_keys) -> None:
    trust = juxsdk.TrustedPublicKeys.from_pem_file(rsa_keys.pubkey_path)
    verified = [juxsdk.verify_report(p.read_bytes(), trust, source=p.name) for p in signed_inputs]
    merged = juxsdk.merge_reports(verified)
    assert merged.summary.tests == sum(v.summary.tests for v in verified)


# --- errors ------------------------------------------------------------------------------------


def test_merge_errors_name_the_input(tmp_path: Path, corpus_dir: Path) -> None:
    good = corpus_dir / "raw" / "generic" / "basic.xml"
    bad = corpus_dir / "edge-cases" / "malformed" / "unclosed-tag.xml"
    with pytest.raises(ReportParseError) as info:
        juxsdk.merge_reports([good, bad])
    assert "unclosed-tag.xml" in str(info.value)
    with pytest.raises(ReportError, match="nothing to merge"):
        juxsdk.merge_reports([])
    with pytest.raises(ReportError, match=r"missing\.xml: no such file"):
        juxsdk.merge_reports([good, tmp_path / "missing.xml"])
    other = tmp_path / "pom.xml"
    other.write_text("<project/>", encoding="utf-8")
    with pytest.raises(ReportError, match=r"pom\.xml.*<project>"):
        juxsdk.merge_reports([good, other])
    xxe = tmp_path / "xxe.xml"
    xxe.write_text('<!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]><testsuite>&x;</testsuite>')
    with pytest.raises(ReportParseError, match="DOCTYPE"):
        juxsdk.merge_reports([good, xxe])


# --- discovery ---------------------------------------------------------------------------------


def test_find_reports_directories_globs_and_errors(tmp_path: Path, corpus_dir: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    gradle = Path("build/test-results")
    for sub in ("test", "integrationTest"):
        (gradle / sub).mkdir(parents=True)
        shutil.copy(corpus_dir / "raw" / "generic" / "basic.xml", gradle / sub / "TEST-a.xml")
    (gradle / "test" / "binary").mkdir()
    (gradle / "test" / "binary" / "output.bin").write_bytes(b"\0")
    plain = Path("reports")
    plain.mkdir()
    for name in ("b.xml", "a.xml"):
        shutil.copy(corpus_dir / "raw" / "generic" / "basic.xml", plain / name)
    (plain / ".hidden.xml").write_text("<x/>")
    (plain / ".cache").mkdir()
    (plain / ".cache" / "c.xml").write_text("<x/>")

    assert find_reports(["reports"]) == [plain / "a.xml", plain / "b.xml"]  # sorted, hidden skipped
    assert find_reports(["build/**/TEST-*.xml"]) == [
        gradle / "integrationTest" / "TEST-a.xml",
        gradle / "test" / "TEST-a.xml",
    ]
    # duplicates removed, argument order kept, a plain file taken as is
    assert find_reports(["reports/b.xml", "reports", "reports/*.xml"]) == [plain / "b.xml", plain / "a.xml"]
    assert find_reports(["-"]) == [Path("-")]

    with pytest.raises(ReportError) as info:
        find_reports(["reports", "target/**/TEST-*.xml"])
    assert "no report matches 'target/**/TEST-*.xml'" in info.value.message
    assert "quote" in (info.value.hint or "")
    Path("empty").mkdir()
    with pytest.raises(ReportError, match="empty: directory contains no"):
        find_reports(["empty"])
    with pytest.raises(ReportError, match=r"nope\.xml: no such file"):
        find_reports(["nope.xml"])
    with pytest.raises(ReportError, match="no report files given"):
        find_reports([])


# --- CLI ---------------------------------------------------------------------------------------


def run(*args: object, cwd: Path, input: bytes | None = None):
    old = Path.cwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(cli, [str(a) for a in args], input=input, prog_name="jux", catch_exceptions=False)
    finally:
        os.chdir(old)


def test_cli_merge_sign_verify(surefire_dir: Path, rsa_keys, tmp_path: Path) -> None:
    out = tmp_path / "merged.xml"
    result = run(
        "merge", surefire_dir, "-o", out, "--sign", "--key", rsa_keys.key_path, "--signing-cert",
        rsa_keys.cert_path, "--project", "pump-controller", "--json", cwd=tmp_path,
    )
    assert result.exit_code == 0, result.stderr
    info = json.loads(result.stdout)
    expected = _sum(find_reports([str(surefire_dir)]))
    assert len(info["sources"]) == 50 and info["signed"]
    assert {k: info["summary"][k] for k in expected} == expected
    check = run("verify", "--cert", rsa_keys.cert_path, out, "--json", cwd=tmp_path)
    assert check.exit_code == 0, check.stdout
    verified = json.loads(check.stdout)[0]
    assert verified["summary"]["tests"] == expected["tests"]
    props = dict(verified["properties"])
    assert verified["project"] == "pump-controller"  # the first suite's, where provenance goes
    assert props["jux:harness"] == "jux merge"
    assert xmlsec1_verify(out, rsa_keys.cert_path).returncode == 0

    # a signed input needs a trust anchor
    refused = run("merge", out, "-o", tmp_path / "again.xml", cwd=tmp_path)
    assert refused.exit_code == 3 and "is signed" in refused.stderr and "Traceback" not in refused.stderr
    again = run("merge", out, "-o", tmp_path / "again.xml", "--cert", rsa_keys.cert_path, "--no-metadata",
                cwd=tmp_path)
    assert again.exit_code == 0, again.stderr
    assert juxsdk.parse_report((tmp_path / "again.xml").read_bytes()).summary.tests == expected["tests"]

    nomatch = run("merge", "nowhere/**/TEST-*.xml", cwd=tmp_path)
    assert nomatch.exit_code == 3
    assert "error: no report matches 'nowhere/**/TEST-*.xml'" in nomatch.stderr and "hint:" in nomatch.stderr


@pytest.fixture
def keyed(rsa_keys, tmp_path: Path, monkeypatch) -> Path:
    """A working directory whose jux.toml selects the test key (file signer) and the default store."""
    wd = tmp_path / "work"
    wd.mkdir()
    (wd / "jux.toml").write_text(
        f'signer = "file"\n[backends.file]\nkey = "{rsa_keys.key_path}"\ncertificate = "{rsa_keys.cert_path}"\n',
        encoding="utf-8",
    )
    monkeypatch.chdir(wd)
    return wd


def test_cli_submit_directory_with_a_malformed_file(keyed: Path, surefire_dir: Path, corpus_dir: Path) -> None:
    shutil.copy(corpus_dir / "edge-cases" / "malformed" / "mismatched-tags.xml", surefire_dir / "TEST-broken.xml")
    result = run("submit", surefire_dir, "--json", cwd=keyed)
    assert result.exit_code == 4, result.stderr  # partial success
    entries = json.loads(result.stdout)
    assert len(entries) == 51
    bad = [e for e in entries if not e["ok"]]
    assert [Path(e["file"]).name for e in bad] == ["TEST-broken.xml"]
    assert "TEST-broken.xml" in bad[0]["error"]["message"]
    good = [e for e in entries if e["ok"]]
    assert len(good) == 50 and all(e["signed"] and e["stored"][0]["ok"] for e in good)
    listed = run("cache", "list", "--json", cwd=keyed)
    assert len(json.loads(listed.stdout)) == 50

    human = run("submit", surefire_dir, "reports/**/*.xml", cwd=keyed)
    assert human.exit_code == 4
    assert "error: " in human.stderr and "TEST-broken.xml" in human.stderr
    assert "no report matches 'reports/**/*.xml'" in human.stderr
    assert "50 of 52 reports submitted" in human.stderr
    assert human.stdout.count("OK ") == 50


def test_cli_submit_merge(keyed: Path, surefire_dir: Path) -> None:
    result = run("submit", "--merge", surefire_dir, "--json", cwd=keyed)
    assert result.exit_code == 0, result.stderr
    [entry] = json.loads(result.stdout)
    expected = _sum(find_reports([str(surefire_dir)]))
    assert {k: entry["summary"][k] for k in expected} == expected
    assert entry["signed"] and entry["stored"][0]["ok"]
    stored = Path(entry["stored"][0]["location"]).read_bytes()
    verified = juxsdk.verify_report(stored, juxsdk.UnsafeAcceptAnyKey())
    assert dict(verified.properties)["jux:merged_reports"] == "50"


def test_cli_sign_directory_into_output_dir(keyed: Path, surefire_dir: Path, rsa_keys, corpus_dir: Path) -> None:
    shutil.copy(corpus_dir / "edge-cases" / "malformed" / "unescaped-ampersand.xml", surefire_dir / "TEST-amp.xml")
    out = keyed / "signed"
    result = run("sign", surefire_dir, "-o", out, "--json", cwd=keyed)
    assert result.exit_code == 4, result.stderr
    entries = json.loads(result.stdout)
    assert [Path(e["file"]).name for e in entries if not e["ok"]] == ["TEST-amp.xml"]
    signed = sorted(out.glob("TEST-*.xml"))
    assert len(signed) == 50
    trust = juxsdk.TrustedCertificates.from_pem_file(rsa_keys.cert_path)
    for p in signed[:5]:
        assert juxsdk.verify_report(p.read_bytes(), trust).summary.tests > 0
    # several inputs need an output directory
    assert run("sign", surefire_dir, cwd=keyed).exit_code == 2
    # signing into the input directory would overwrite the inputs: refused per file
    same = run("sign", surefire_dir / "TEST-amp.xml", next(surefire_dir.glob("TEST-*Calc*.xml")), "-o",
               surefire_dir, cwd=keyed)
    assert same.exit_code == 3 and "would overwrite the input" in same.stderr


def test_cli_progress_bar_on_a_terminal(keyed: Path, surefire_dir: Path, monkeypatch) -> None:
    from juxsdk.cli import _batch

    monkeypatch.setattr(_batch, "_stderr_is_tty", lambda: True)
    result = run("submit", surefire_dir, cwd=keyed)
    assert result.exit_code == 0, result.stderr
    assert "submitting" in result.stderr  # the bar's label
    assert result.stdout.count("OK ") == 50  # per-file results still printed, after the bar
    quiet = run("submit", surefire_dir / "TEST-com.example.m00.CalculatorTest.xml", cwd=keyed)
    assert "submitting" not in quiet.stderr  # one file: no bar
