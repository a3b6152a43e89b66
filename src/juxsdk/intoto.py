"""in-toto Statement v1 with the test-result predicate: built from a verified report, and checked.

Specifications (in-toto Attestation Framework, https://github.com/in-toto/attestation):

* Statement v1 — spec/v1/statement.md: ``{"_type": "https://in-toto.io/Statement/v1",
  "subject": [ResourceDescriptor…], "predicateType": URI, "predicate": {…}}``; every subject
  MUST have a ``digest``;
* ResourceDescriptor — spec/v1/resource_descriptor.md (``name``, ``uri``, ``digest``,
  ``content``, ``downloadLocation``, ``mediaType``, ``annotations``; at least one of ``uri``,
  ``digest``, ``content``); DigestSet — spec/v1/digest_set.md (``sha256`` lowercase hex,
  ``gitCommit``/``gitBlob``: git object ids);
* test-result predicate v0.1 — spec/predicates/test-result.md
  (``https://in-toto.io/attestation/test-result/v0.1``): ``result`` PASSED/WARNED/FAILED and
  ``configuration`` (list of ResourceDescriptor) required; ``url``, ``passedTests``,
  ``warnedTests``, ``failedTests`` optional;
* envelope layer — spec/v1/envelope.md: DSSE with ``payloadType``
  ``application/vnd.in-toto+json`` (or ``application/vnd.in-toto.<predicate>+json``).

How a JUnit report maps onto the predicate (docs/reference/attestation.md has the table):

* a test's name is ``classname::name`` — the ``<testcase>``'s ``classname``, else the name of
  its enclosing ``<testsuite>``, then ``::``, then its ``name`` (just ``name`` when neither
  exists); names are listed in document order;
* a testcase with ``<failure>`` or ``<error>`` is failed; one with ``<skipped>`` or with
  Surefire's ``<flakyFailure>``/``<flakyError>`` (passed on a rerun) is *warned*; any other
  passed;
* a name that occurs more than once (reruns, the same class in two suites) is listed once, in
  the list of its worst outcome (failed > warned > passed) at its first position; the report
  descriptor's ``duplicateTestNames`` annotation counts the merged occurrences;
* ``result`` is ``FAILED`` when any test failed or errored, else ``PASSED``. juxsdk never writes
  ``WARNED`` (reserved): skipped and flaky tests appear in ``warnedTests`` for policies to judge.

This module only builds and checks JSON values; :mod:`juxsdk.attestation` signs and verifies.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import attrs

from .errors import AttestationError, ConfigError

__all__ = [
    "CANONICAL_DIGEST",
    "PAYLOAD_TYPE",
    "PAYLOAD_TYPES",
    "PREDICATE_TYPE",
    "STATEMENT_TYPE",
    "TestNames",
    "TestResultStatement",
    "build_statement",
    "ci_configuration",
    "commit_subject",
    "file_descriptor",
    "parse_statement",
    "report_descriptor",
    "test_names",
]

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://in-toto.io/attestation/test-result/v0.1"
#: The ``payloadType`` juxsdk writes (in-toto envelope.md; what in-toto and cosign expect).
PAYLOAD_TYPE = "application/vnd.in-toto+json"
#: The ``payloadType`` values accepted on verification.
PAYLOAD_TYPES = (PAYLOAD_TYPE, "application/vnd.in-toto.test-result+json")
#: DigestSet algorithm naming a JUnit report's canonical hash: lowercase hex SHA-256 of the
#: report's Exclusive C14N without signatures (docs/reference/canonical-hash.md).
CANONICAL_DIGEST = "juxCanonicalSha256"
#: ``mediaType`` of the report descriptor.
REPORT_MEDIA_TYPE = "application/xml"
RESULTS = ("PASSED", "WARNED", "FAILED")
#: Largest configuration/subject file hashed, in bytes (larger ones are refused).
MAX_FILE_BYTES = 1024 * 1024 * 1024

_HEX = re.compile(r"[0-9a-f]+")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")  # RFC 3986 scheme ":" (an absolute URI)
_GIT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
#: Digest lengths (hex digits) of the algorithms juxsdk compares (digest_set.md names).
_DIGEST_HEX = {"sha256": 64, "sha384": 96, "sha512": 128, "gitCommit": 0, "gitBlob": 0, CANONICAL_DIGEST: 64}
_WORST = {"passed": 0, "warned": 1, "failed": 2}
_FAILED = ("failure", "error")
_WARNED = ("skipped", "flakyFailure", "flakyError")


# --------------------------------------------------------------------------------------------
# test names
# --------------------------------------------------------------------------------------------


@attrs.frozen
class TestNames:
    """A report's test names split by outcome (see the module docstring for the rules).

    Attributes:
        passed: Names of passed tests, document order.
        warned: Names of skipped or flaky tests.
        failed: Names of tests with a failure or an error.
        duplicates: Occurrences merged into an earlier test of the same name.
    """

    __test__ = False  # not a pytest test class

    passed: tuple[str, ...] = ()
    warned: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    duplicates: int = 0

    @property
    def result(self) -> str:
        """``FAILED`` when a test failed or errored, else ``PASSED`` (``WARNED`` is never chosen)."""
        return "FAILED" if self.failed else "PASSED"


def test_names(root: Any) -> TestNames:
    """Name every ``<testcase>`` of a parsed report and sort the names by outcome.

    Args:
        root: Root element of the signed content (``<testsuites>`` or ``<testsuite>``),
            without its signature.

    Returns:
        A :class:`TestNames`.
    """
    from ._xml import local_name  # local: lxml is loaded by whoever parsed ``root``

    # One walk of the tree, filtered in C by tag (as juxsdk.junit.scan_report does).
    cases: list[Any] = []
    marks: dict[Any, str] = {}
    for el in root.iter("{*}testcase", *(f"{{*}}{t}" for t in _FAILED + _WARNED)):
        tag = local_name(el.tag)
        if tag == "testcase":
            cases.append(el)
            continue
        case = el.getparent()
        if case is None or local_name(case.tag) != "testcase":
            continue
        state = "failed" if tag in _FAILED else "warned"
        if _WORST[state] > _WORST[marks.get(case, "passed")]:
            marks[case] = state
    outcome: dict[str, str] = {}
    duplicates = 0
    for case in cases:
        cls = (case.get("classname") or "").strip()
        if not cls:
            suite = next((a for a in case.iterancestors() if local_name(a.tag) == "testsuite"), None)
            cls = (suite.get("name") or "").strip() if suite is not None else ""
        name = case.get("name") or ""
        full = f"{cls}::{name}" if cls else name
        state = marks.get(case, "passed")
        if full in outcome:
            duplicates += 1
            if _WORST[state] > _WORST[outcome[full]]:
                outcome[full] = state
        else:
            outcome[full] = state
    return TestNames(
        passed=tuple(n for n, s in outcome.items() if s == "passed"),
        warned=tuple(n for n, s in outcome.items() if s == "warned"),
        failed=tuple(n for n, s in outcome.items() if s == "failed"),
        duplicates=duplicates,
    )


# --------------------------------------------------------------------------------------------
# resource descriptors
# --------------------------------------------------------------------------------------------


def _hash_file(path: Path) -> tuple[str, str, int]:
    """(sha256 hex, git blob id, size) of a file, streamed."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ConfigError(f"{path} is {size} bytes, over the {MAX_FILE_BYTES}-byte limit for hashing")
        sha = hashlib.sha256()
        blob = hashlib.sha1(b"blob %d\x00" % size, usedforsecurity=False)
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                sha.update(chunk)
                blob.update(chunk)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file", hint="check the path") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory", hint="give a file") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return sha.hexdigest(), blob.hexdigest(), size


def file_descriptor(path: str | os.PathLike[str], *, name: str | None = None, git_blob: bool = False) -> dict[str, Any]:
    """ResourceDescriptor of a file: its name and SHA-256 (and git blob id).

    Args:
        path: The file.
        name: ``name`` to record (default: the path as given, with ``/`` separators).
        git_blob: Also record the ``gitBlob`` digest (the id git gives the file's content).

    Returns:
        ``{"name": …, "digest": {"sha256": …[, "gitBlob": …]}}``.

    Raises:
        juxsdk.errors.ConfigError: the file cannot be read or is over 1 GiB.
    """
    p = Path(path)
    sha, blob, _ = _hash_file(p)
    digest = {"sha256": sha}
    if git_blob:
        digest["gitBlob"] = blob
    return {"name": name or p.as_posix(), "digest": digest}


def commit_subject(commit: str) -> dict[str, Any]:
    """The subject naming a git commit: ``{"digest": {"gitCommit": <sha>}}``.

    Raises:
        juxsdk.errors.ConfigError: ``commit`` is not a full 40- or 64-digit hex object id.
    """
    sha = commit.strip().lower()
    if not _GIT_ID.fullmatch(sha):
        raise ConfigError(
            f"{commit[:80]!r} is not a full git commit id", hint="give the 40 (SHA-1) or 64 (SHA-256) hex digits"
        )
    return {"digest": {"gitCommit": sha}}


def report_descriptor(
    *,
    name: str,
    canonical_hash: str,
    data: bytes,
    summary: Any,
    names: TestNames,
) -> dict[str, Any]:
    """ResourceDescriptor of the signed report (the first ``configuration`` entry).

    Args:
        name: File name to record (``junit.xml``).
        canonical_hash: ``sha256:<hex>`` of the verified report.
        data: The exact signed report bytes (their SHA-256 is the file digest).
        summary: The verified :class:`~juxsdk.models.ReportSummary`.
        names: The report's :class:`TestNames`.

    Returns:
        ``{"name", "digest": {"sha256", "juxCanonicalSha256"}, "mediaType", "annotations"}``;
        the annotations hold the signed counts (``tests``, ``failures``, ``errors``,
        ``skipped``) and ``duplicateTestNames`` when names were merged.
    """
    annotations: dict[str, Any] = {
        "tests": summary.tests,
        "failures": summary.failures,
        "errors": summary.errors,
        "skipped": summary.skipped,
    }
    if names.duplicates:
        annotations["duplicateTestNames"] = names.duplicates
    return {
        "name": name,
        "digest": {"sha256": hashlib.sha256(data).hexdigest(), CANONICAL_DIGEST: canonical_hash.partition(":")[2]},
        "mediaType": REPORT_MEDIA_TYPE,
        "annotations": annotations,
    }


#: CI provider (juxsdk.metadata.detect_ci) -> where its pipeline definition lives.
_CI_FILES: dict[str, tuple[str, ...]] = {
    "gitlab": (".gitlab-ci.yml",),
    "circleci": (".circleci/config.yml",),
    "azure-pipelines": ("azure-pipelines.yml", ".azure-pipelines.yml"),
    "buildkite": (".buildkite/pipeline.yml", "buildkite.yml"),
    "travis": (".travis.yml",),
    "jenkins": ("Jenkinsfile",),
}


def _github_workflow(environ: Mapping[str, str]) -> str | None:
    # GITHUB_WORKFLOW_REF = "<owner>/<repo>/.github/workflows/<file>@<ref>" (GitHub docs,
    # "Store information in variables", default environment variables).
    ref = environ.get("GITHUB_WORKFLOW_REF", "")
    path, _, _ = ref.partition("@")
    parts = path.split("/", 2)
    return parts[2] if len(parts) == 3 and parts[2].startswith(".github/") else None


def ci_configuration(
    root: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    commit: str | None = None,
) -> list[dict[str, Any]]:
    """Detect the CI pipeline file of this run and describe it.

    GitHub Actions: the workflow file named by ``GITHUB_WORKFLOW_REF``; GitLab:
    ``CI_CONFIG_PATH`` (default ``.gitlab-ci.yml``); CircleCI, Azure Pipelines, Buildkite,
    Travis, Jenkins: their conventional file names. The file is looked up under ``root`` and
    described only when it exists.

    Args:
        root: The repository root (default: the CI workspace variable, else the current
            directory).
        environ: Environment to inspect (default ``os.environ``).
        commit: Commit of the run, for a GitHub ``downloadLocation``.

    Returns:
        Zero or one ResourceDescriptor ``{"name": <path relative to root>, "digest":
        {"sha256", "gitBlob"}[, "downloadLocation"]}``.
    """
    from .metadata import detect_ci

    env = os.environ if environ is None else environ
    info = detect_ci(env)
    if info is None:
        return []
    if root is None:
        root = env.get("GITHUB_WORKSPACE") or env.get("CI_PROJECT_DIR") or env.get("WORKSPACE") or os.getcwd()
    base = Path(root)
    if info.provider == "github-actions":
        found = _github_workflow(env)
        candidates: Sequence[str] = (found,) if found else ()
    elif info.provider == "gitlab":
        candidates = (env.get("CI_CONFIG_PATH") or ".gitlab-ci.yml",)
    else:
        candidates = _CI_FILES.get(info.provider, ())
    for rel in candidates:
        path = base / rel
        if ".." in PurePosixPath(rel).parts or not path.is_file():
            continue
        descriptor = file_descriptor(path, name=rel, git_blob=True)
        server, repo = env.get("GITHUB_SERVER_URL", "https://github.com"), env.get("GITHUB_REPOSITORY")
        if info.provider == "github-actions" and repo and commit:
            descriptor["downloadLocation"] = f"{server.rstrip('/')}/{repo}/blob/{commit}/{rel}"
        return [descriptor]
    return []


def build_statement(
    *,
    subjects: Sequence[Mapping[str, Any]],
    configuration: Sequence[Mapping[str, Any]],
    names: TestNames,
    url: str | None = None,
) -> dict[str, Any]:
    """Assemble the Statement (keys in the specification's order).

    Args:
        subjects: Subject ResourceDescriptors (at least one, each with a digest).
        configuration: Configuration ResourceDescriptors (the report first).
        names: The tests by outcome; ``result`` follows from them.
        url: Link to the CI run, when known.

    Returns:
        The Statement as a JSON-ready dict, checked by :func:`check_statement`.

    Raises:
        juxsdk.errors.ConfigError: no subject was given.
    """
    if not subjects:
        raise ConfigError(
            "an attestation needs a subject, and none is known",
            hint="the report names no git:commit: give the commit (--commit SHA) or artifacts (--subject FILE)",
        )
    predicate: dict[str, Any] = {"result": names.result, "configuration": [dict(c) for c in configuration]}
    if url:
        predicate["url"] = url
    predicate["passedTests"] = list(names.passed)
    predicate["warnedTests"] = list(names.warned)
    predicate["failedTests"] = list(names.failed)
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [dict(s) for s in subjects],
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate,
    }
    check_statement(statement)
    return statement


# --------------------------------------------------------------------------------------------
# checking a statement
# --------------------------------------------------------------------------------------------


def _fail(path: str, message: str) -> AttestationError:
    return AttestationError(f"statement {path}: {message}", hint="the attestation breaks the test-result rules")


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise _fail(path, "must be a string")
    return value


def _uri(value: Any, path: str) -> str:
    text = _string(value, path)
    if not _URI.match(text):
        raise _fail(path, f"{text[:80]!r} is not an absolute URI")
    return text


def _descriptor(value: Any, path: str, *, digest_required: bool) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(path, "must be a JSON object (ResourceDescriptor)")
    for key in ("name", "mediaType", "content"):
        if key in value:
            _string(value[key], f"{path}.{key}")
    for key in ("uri", "downloadLocation"):
        if key in value:
            _uri(value[key], f"{path}.{key}")
    if "annotations" in value and not isinstance(value["annotations"], dict):
        raise _fail(f"{path}.annotations", "must be a JSON object")
    digest = value.get("digest")
    if digest is not None:
        if not isinstance(digest, dict) or not digest:
            raise _fail(f"{path}.digest", "must be a non-empty JSON object (DigestSet)")
        for algorithm, hexed in digest.items():
            _string(hexed, f"{path}.digest.{algorithm}")
            size = _DIGEST_HEX.get(algorithm)
            if size is not None and (not _HEX.fullmatch(hexed) or (size and len(hexed) != size)):
                raise _fail(f"{path}.digest.{algorithm}", "must be lowercase hex of the algorithm's length")
            if algorithm in ("gitCommit", "gitBlob") and not _GIT_ID.fullmatch(hexed):
                raise _fail(f"{path}.digest.{algorithm}", "must be a 40- or 64-digit git object id")
    if digest_required and digest is None:
        raise _fail(path, "a subject must have a digest")
    if not any(k in value for k in ("uri", "digest", "content")):
        raise _fail(path, "a ResourceDescriptor needs one of uri, digest, content")
    return value


def check_statement(statement: Any) -> None:
    """Check a Statement against Statement v1 and the test-result v0.1 field rules.

    The same rules as ``juxsdk/schemas/test-result-statement.schema.json`` (JSON Schema
    2020-12, shipped with juxsdk; the tests check both agree): unknown fields are allowed, as
    the framework's parsing rules say.

    Raises:
        AttestationError: the first rule broken, with its JSON path.
    """
    if not isinstance(statement, dict):
        raise _fail("$", "must be a JSON object")
    if statement.get("_type") != STATEMENT_TYPE:
        raise _fail("$._type", f"is {str(statement.get('_type'))[:80]!r}, expected {STATEMENT_TYPE!r}")
    if statement.get("predicateType") != PREDICATE_TYPE:
        raise _fail(
            "$.predicateType", f"is {str(statement.get('predicateType'))[:100]!r}, expected {PREDICATE_TYPE!r}"
        )
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or not subjects:
        raise _fail("$.subject", "must be a non-empty list")
    for i, subject in enumerate(subjects):
        _descriptor(subject, f"$.subject[{i}]", digest_required=True)
    predicate = statement.get("predicate")
    if not isinstance(predicate, dict):
        raise _fail("$.predicate", "must be a JSON object")
    if predicate.get("result") not in RESULTS:
        raise _fail("$.predicate.result", "must be one of " + ", ".join(RESULTS))
    configuration = predicate.get("configuration")
    if not isinstance(configuration, list):
        raise _fail("$.predicate.configuration", "is required and must be a list of ResourceDescriptors")
    for i, item in enumerate(configuration):
        _descriptor(item, f"$.predicate.configuration[{i}]", digest_required=False)
    if "url" in predicate:
        _uri(predicate["url"], "$.predicate.url")
    for key in ("passedTests", "warnedTests", "failedTests"):
        if key in predicate:
            values = predicate[key]
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise _fail(f"$.predicate.{key}", "must be a list of strings")


@attrs.frozen
class TestResultStatement:
    """A checked test-result Statement.

    Attributes:
        statement: The whole Statement (parsed from the verified payload).
        result: ``PASSED``, ``WARNED`` or ``FAILED``.
        url: The run's URL, if any.
        subjects: The subject descriptors.
        configuration: The configuration descriptors.
        passed_tests, warned_tests, failed_tests: The test names.
        report_canonical_hash: ``sha256:<hex>`` of the report a configuration descriptor
            names with a ``juxCanonicalSha256`` digest (the first such), else None.
        report_sha256: That descriptor's ``sha256`` file digest, if any.
    """

    __test__ = False  # not a pytest test class

    statement: Mapping[str, Any]
    result: str
    url: str | None
    subjects: tuple[Mapping[str, Any], ...]
    configuration: tuple[Mapping[str, Any], ...]
    passed_tests: tuple[str, ...]
    warned_tests: tuple[str, ...]
    failed_tests: tuple[str, ...]
    report_canonical_hash: str | None
    report_sha256: str | None


def parse_statement(statement: Any) -> TestResultStatement:
    """Check a parsed Statement (see :func:`check_statement`) and extract its fields.

    Raises:
        AttestationError: the Statement breaks a rule.
    """
    check_statement(statement)
    predicate = statement["predicate"]
    named = (c for c in predicate["configuration"] if CANONICAL_DIGEST in (c.get("digest") or {}))
    report = next(named, None)
    return TestResultStatement(
        statement=statement,
        result=predicate["result"],
        url=predicate.get("url"),
        subjects=tuple(statement["subject"]),
        configuration=tuple(predicate["configuration"]),
        passed_tests=tuple(predicate.get("passedTests", ())),
        warned_tests=tuple(predicate.get("warnedTests", ())),
        failed_tests=tuple(predicate.get("failedTests", ())),
        report_canonical_hash=("sha256:" + report["digest"][CANONICAL_DIGEST]) if report else None,
        report_sha256=report["digest"].get("sha256") if report else None,
    )


def matching_subject(subjects: Iterable[Mapping[str, Any]], digests: Mapping[str, str]) -> Mapping[str, Any] | None:
    """The first subject whose DigestSet shares an algorithm and value with ``digests``.

    DigestSets match when ANY common, accepted algorithm matches (digest_set.md); only
    ``sha256``, ``sha384``, ``sha512`` and ``gitCommit`` are compared.
    """
    for subject in subjects:
        digest = subject.get("digest") or {}
        for algorithm, value in digests.items():
            if algorithm in ("sha256", "sha384", "sha512", "gitCommit") and digest.get(algorithm) == value:
                return subject
    return None
