"""The test-result Statement (juxsdk.intoto) and juxsdk.attest/verify_attestation on real reports.

Statements are validated with jsonschema against the JSON Schema written from the
test-result predicate spec (src/juxsdk/schemas/), and juxsdk's own checker must agree with it
on valid and broken statements.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
from lxml import etree

import juxsdk
from juxsdk import intoto
from juxsdk.errors import AttestationError, AttestationMismatchError, ConfigError, DigestMismatchError
from juxsdk.testing.fakes import MemorySigner
from juxsdk.trust import TrustedPublicKeys
from tests.conftest import good_corpus

SCHEMA = json.loads((Path(intoto.__file__).parent / "schemas" / "test-result-statement.schema.json").read_text())
COMMIT = "d20ace7968ba43c0219f62d71334c1095bab1602"


def validate(statement: dict) -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(statement)


@pytest.fixture(scope="module")
def signer() -> MemorySigner:
    return MemorySigner(MemorySigner.Options(algorithm="ecdsa-sha256", certificate=True))


def names_of(xml: str) -> intoto.TestNames:
    return intoto.test_names(etree.fromstring(xml.encode()))


def test_names_are_classname_colon_colon_name_with_suite_fallback() -> None:
    names = names_of(
        """<testsuites>
             <testsuite name="suiteA">
               <testcase classname="pkg.TestX" name="test_ok"/>
               <testcase name="no_class"/>
               <testcase classname="pkg.TestX" name="test_fail"><failure/></testcase>
               <testcase classname="pkg.TestX" name="test_err"><error/></testcase>
               <testcase classname="pkg.TestX" name="test_skip"><skipped/></testcase>
               <testcase classname="pkg.TestX" name="test_flaky"><flakyFailure/></testcase>
             </testsuite>
             <testcase name="top level"/>
           </testsuites>"""
    )
    assert names.passed == ("pkg.TestX::test_ok", "suiteA::no_class", "top level")
    assert names.failed == ("pkg.TestX::test_fail", "pkg.TestX::test_err")
    assert names.warned == ("pkg.TestX::test_skip", "pkg.TestX::test_flaky")
    assert names.result == "FAILED" and names.duplicates == 0


def test_duplicates_are_merged_into_the_worst_outcome_at_the_first_position() -> None:
    names = names_of(
        """<testsuite name="s">
             <testcase classname="c" name="a"/>
             <testcase classname="c" name="b"/>
             <testcase classname="c" name="a"><failure/></testcase>
             <testcase classname="c" name="b"><skipped/></testcase>
             <testcase classname="c" name="b"/>
           </testsuite>"""
    )
    assert (names.passed, names.warned, names.failed, names.duplicates) == ((), ("c::b",), ("c::a",), 3)


def test_result_is_passed_even_with_skipped_tests_and_never_warned() -> None:
    names = names_of('<testsuite><testcase classname="c" name="a"/><testcase classname="c" name="s"><skipped/></testcase></testsuite>')
    assert names.result == "PASSED" and names.warned == ("c::s",)


@pytest.mark.parametrize("path", good_corpus()[:40], ids=lambda p: p.name)
def test_every_corpus_report_gives_a_valid_statement(path: Path, signer: MemorySigner) -> None:
    from google.protobuf import json_format
    from in_toto_attestation.predicates.test_result.v0 import test_result_pb2
    from in_toto_attestation.v1 import statement_pb2
    from in_toto_attestation.v1.statement import Statement

    report = juxsdk.parse_report(path.read_bytes(), source=path.name)
    made = juxsdk.attest(report, signer, commit=COMMIT, detect_ci=False)
    validate(made.statement)
    # the in-toto-attestation bindings parse it field by field (unknown fields would fail)
    pb = json_format.Parse(made.payload.decode(), statement_pb2.Statement())
    Statement.copy_from_pb(pb).validate()
    result = json_format.ParseDict(made.statement["predicate"], test_result_pb2.TestResult())
    summary = made.report.summary
    assert (result.result == "FAILED") == (summary.failures + summary.errors > 0)
    assert made.statement["predicate"]["configuration"][0]["digest"]["juxCanonicalSha256"] == (
        made.report_canonical_hash.partition(":")[2]
    )
    listed = len(result.passed_tests) + len(result.warned_tests) + len(result.failed_tests)
    merged = made.statement["predicate"]["configuration"][0]["annotations"].get("duplicateTestNames", 0)
    cases = len(etree.fromstring(made.report.signed_content).findall(".//{*}testcase"))
    assert listed + merged == cases


BROKEN = [
    (lambda s: s.update(_type="https://in-toto.io/Statement/v0.1"), "_type"),
    (lambda s: s.update(predicateType="https://slsa.dev/provenance/v1"), "predicateType"),
    (lambda s: s.update(subject=[]), "subject"),
    (lambda s: s["subject"][0].pop("digest"), "digest"),
    (lambda s: s["subject"][0]["digest"].update(gitCommit="XYZ"), "gitCommit"),
    (lambda s: s["subject"][0]["digest"].update(sha256="ab"), "sha256"),
    (lambda s: s["subject"].append({"name": "only a name"}), "subject[1]"),
    (lambda s: s["predicate"].update(result="OK"), "result"),
    (lambda s: s["predicate"].pop("configuration"), "configuration"),
    (lambda s: s["predicate"].update(configuration={}), "configuration"),
    (lambda s: s["predicate"].update(url="not a uri"), "url"),
    (lambda s: s["predicate"].update(failedTests="a"), "failedTests"),
    (lambda s: s["predicate"].update(passedTests=[1]), "passedTests"),
    (lambda s: s["predicate"]["configuration"][0].update(annotations=[]), "annotations"),
    (lambda s: s.update(predicate=[]), "predicate"),
]


@pytest.mark.parametrize(("breakit", "where"), BROKEN, ids=[w for _, w in BROKEN])
def test_schema_and_checker_agree_on_broken_statements(signer, breakit, where) -> None:
    report = juxsdk.parse_report(b'<testsuite><testcase classname="c" name="a"/></testsuite>')
    statement = copy.deepcopy(juxsdk.attest(report, signer, commit=COMMIT, detect_ci=False).statement)
    validate(statement)
    intoto.check_statement(statement)
    breakit(statement)
    with pytest.raises(jsonschema.ValidationError):
        validate(statement)
    with pytest.raises(AttestationError, match=where.replace("[", r"\[").replace("]", r"\]")):
        intoto.check_statement(statement)


def test_unknown_fields_are_allowed_by_both(signer) -> None:
    report = juxsdk.parse_report(b'<testsuite><testcase classname="c" name="a"/></testsuite>')
    statement = copy.deepcopy(juxsdk.attest(report, signer, commit=COMMIT, detect_ci=False).statement)
    statement["predicate"]["x-extension"] = {"anything": [1, 2]}
    statement["subject"][0]["annotations"] = {"k": "v"}
    validate(statement)
    intoto.check_statement(statement)


# --- attest / verify_attestation ---------------------------------------------------------


def test_subjects_url_configuration_and_report_binding(tmp_path: Path, signer, monkeypatch) -> None:
    artifact = tmp_path / "dist" / "app.whl"
    artifact.parent.mkdir()
    artifact.write_bytes(b"wheel bytes")
    workflow = tmp_path / ".github" / "workflows" / "ci.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text("on: push\n")
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_RUN_ID": "42",
        "GITHUB_REPOSITORY": "acme/app",
        "GITHUB_WORKFLOW_REF": "acme/app/.github/workflows/ci.yml@refs/heads/main",
    }
    report = juxsdk.parse_report(
        b'<testsuite><properties><property name="git:commit" value="' + COMMIT.encode() + b'"/>'
        b'<property name="ci:build_url" value="https://github.com/acme/app/actions/runs/42"/></properties>'
        b'<testcase classname="c" name="a"/></testsuite>',
        source="reports/junit.xml",
    )
    made = juxsdk.attest(report, signer, subjects=[artifact], root=tmp_path, environ=env)
    st = made.statement
    assert st["subject"][0] == {"digest": {"gitCommit": COMMIT}}
    assert st["subject"][1]["name"] == "dist/app.whl"
    assert st["predicate"]["url"] == "https://github.com/acme/app/actions/runs/42"
    report_rd, ci_rd = st["predicate"]["configuration"]
    assert report_rd["name"] == "junit.xml" and report_rd["mediaType"] == "application/xml"
    assert ci_rd["name"] == ".github/workflows/ci.yml"
    assert ci_rd["digest"]["gitBlob"] == "b83836ed8c80558d4e40ea4ac5d69f4405334799"  # `git hash-object`
    assert ci_rd["downloadLocation"] == f"https://github.com/acme/app/blob/{COMMIT}/.github/workflows/ci.yml"
    validate(st)

    trust = TrustedPublicKeys([signer.public_key()])
    signed = made.signed_report.data
    checked = juxsdk.verify_attestation(made.envelope, trust, subjects=[artifact], report=signed)
    assert checked.report is not None and checked.report_canonical_hash == made.report_canonical_hash
    assert checked.matched_subjects == (str(artifact),)
    # another artifact, another report, a tampered report
    other = tmp_path / "other.bin"
    other.write_bytes(b"x")
    with pytest.raises(AttestationMismatchError, match="not a subject"):
        juxsdk.verify_attestation(made.envelope, trust, subjects=[other])
    another = juxsdk.sign_report(juxsdk.parse_report(b'<testsuite><testcase name="z"/></testsuite>'), signer)
    with pytest.raises(AttestationMismatchError, match="another report"):
        juxsdk.verify_attestation(made.envelope, trust, report=another.data)
    with pytest.raises(DigestMismatchError):
        juxsdk.verify_attestation(made.envelope, trust, report=signed.replace(b'name="a"', b'name="b"'))


def test_a_signed_report_must_verify_with_the_given_trust(signer) -> None:
    other = MemorySigner(MemorySigner.Options(algorithm="rsa-sha256"))
    signed = juxsdk.sign_report(juxsdk.parse_report(b'<testsuite><testcase name="a"/></testsuite>'), other)
    with pytest.raises(juxsdk.UntrustedKeyError):
        juxsdk.attest(signed, signer, commit=COMMIT)  # default: only the attesting key
    made = juxsdk.attest(signed, signer, commit=COMMIT, trust=TrustedPublicKeys([other.public_key()]))
    assert made.signed_report is None and made.report_canonical_hash == signed.canonical_hash


def test_no_subject_and_bad_commit_are_config_errors(signer) -> None:
    report = juxsdk.parse_report(b'<testsuite><testcase name="a"/></testsuite>')
    with pytest.raises(ConfigError, match="needs a subject"):
        juxsdk.attest(report, signer, detect_ci=False)
    with pytest.raises(ConfigError, match="git commit"):
        juxsdk.attest(report, signer, commit="HEAD")


def test_the_statement_comes_from_the_signed_content_only(signer) -> None:
    """Unsigned text smuggled into the signature's ds:Object never reaches the statement."""
    signed = juxsdk.sign_report(juxsdk.parse_report(b'<testsuite><testcase classname="c" name="real"/></testsuite>'), signer)
    smuggled = signed.data.replace(
        b"</ds:Signature>", b'<ds:Object><testcase classname="c" name="smuggled"/></ds:Object></ds:Signature>'
    )
    made = juxsdk.attest(smuggled, signer, commit=COMMIT)
    assert made.statement["predicate"]["passedTests"] == ["c::real"]
