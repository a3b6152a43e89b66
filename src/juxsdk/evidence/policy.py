"""Evidence policies: which verified reports count as evidence (``jux audit --policy FILE``).

A policy is a TOML 1.0 file (https://toml.io/en/v1.0.0) read with :mod:`tomllib` and
structured strictly with cattrs, like the configuration: an unknown key, a wrong type
(``"0"`` is not an integer, ``1`` is not a string) or a bad value is a
:class:`~juxsdk.errors.PolicyError` (exit code 2) naming the key path and the file. The
schema is documented in ``docs/reference/evidence-policy.md``::

    name = "release 4.2"

    [select]                        # which reports the policy applies to
    projects = ["pump-controller"]  # glob patterns on the signed `project` property
    since = 2025-01-01T00:00:00Z    # run time (signed jux:timestamp) at or after
    until = 2025-02-01T00:00:00Z    # ... and before

    [signers]                       # who may have signed (also the trust policy of the audit)
    certificates = ["sha256:…"]     # SHA-256 fingerprints of signing certificates (DER)
    public_keys = ["sha256:…"]      # SHA-256 fingerprints of signing keys (SubjectPublicKeyInfo DER)
    ca = ["ci-ca.pem"]              # CA bundles (paths relative to this file) ...
    subjects = ["CN=jux-ci*"]       # ... whose certificates' RFC 4514 subject matches one of these

    [properties]                    # required signed properties: name = allowed value patterns
    "git:branch" = ["main", "release/*"]
    "ci:provider" = ["*"]           # present, any value

    [results]
    max_failures = 0
    max_errors = 0
    min_tests = 100
    max_age_days = 30               # age of the signed jux:timestamp
    required_tests = ["*SafetyIT.*", "tests/test_pump.py::test_pressure*"]

    [retention]                     # `jux cache clean --policy FILE`
    keep_last = 20                  # newest reports kept per project
    keep_days = 365                 # reports younger than this are kept

Patterns are shell-style globs (:func:`fnmatch.fnmatchcase`: ``*``, ``?``, ``[seq]``),
case-sensitive. A test pattern matches a test when it matches its ``classname.name`` or its
``name`` alone.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import attrs

from .. import _toml
from ..errors import PolicyError
from ..models import ReportSummary
from .testcases import TestOutcome

__all__ = [
    "EvidencePolicy",
    "ResultRules",
    "RetentionRules",
    "Selection",
    "SignerRules",
    "evaluate",
    "load_policy",
    "parse_policy",
    "run_time",
]

T = TypeVar("T")

_FINGERPRINT = re.compile(r"sha256:[0-9a-f]{64}")
_DOCS = "see docs/reference/evidence-policy.md"


@attrs.frozen
class Selection:
    """``[select]``: the reports the policy applies to (others are not audited).

    Attributes:
        projects: Glob patterns; a report is selected when its signed ``project`` property
            matches one (empty: every project).
        since: Only reports whose run time is at or after this (UTC).
        until: Only reports whose run time is before this (UTC).
    """

    projects: tuple[str, ...] = ()
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def matches(self, project: str | None, when: dt.datetime | None) -> bool:
        """True when a report of ``project`` run at ``when`` is selected.

        A report without a run time is selected only when neither ``since`` nor ``until`` is set.
        """
        if self.projects and not any(fnmatch.fnmatchcase(project or "", p) for p in self.projects):
            return False
        if self.since is None and self.until is None:
            return True
        if when is None:
            return False
        return (self.since is None or when >= self.since) and (self.until is None or when < self.until)


@attrs.frozen
class SignerRules:
    """``[signers]``: who may have signed. Any one matching rule admits a signer.

    Attributes:
        certificates: ``sha256:<hex>`` fingerprints of allowed signing certificates (DER).
        public_keys: ``sha256:<hex>`` fingerprints of allowed signing keys (SPKI DER).
        ca: CA bundle files (PEM); a certificate chaining to one of their roots at the
            verification time (RFC 5280) is allowed when its subject matches ``subjects``.
        subjects: Glob patterns on the RFC 4514 subject of CA-issued signing certificates
            (empty: any subject the CA issued).
    """

    certificates: tuple[str, ...] = ()
    public_keys: tuple[str, ...] = ()
    ca: tuple[Path, ...] = ()
    subjects: tuple[str, ...] = ()

    @property
    def configured(self) -> bool:
        """True when any signer rule is given."""
        return bool(self.certificates or self.public_keys or self.ca)


@attrs.frozen
class ResultRules:
    """``[results]``: what the signed results must show.

    Attributes:
        max_failures: Most failed testcases allowed.
        max_errors: Most errored testcases allowed.
        min_tests: Fewest testcases a report must have.
        max_age_days: Oldest signed run time (``jux:timestamp``) allowed, in days.
        required_tests: Patterns; each must match at least one test of the report, and every
            test it matches must have passed.
    """

    max_failures: int | None = None
    max_errors: int | None = None
    min_tests: int | None = None
    max_age_days: float | None = None
    required_tests: tuple[str, ...] = ()


@attrs.frozen
class RetentionRules:
    """``[retention]``: what ``jux cache clean --policy FILE`` keeps.

    Attributes:
        keep_last: Keep the newest this many reports of each project.
        keep_days: Keep every report stored less than this many days ago.
    """

    keep_last: int | None = None
    keep_days: float | None = None


@attrs.frozen
class EvidencePolicy:
    """An evidence policy (see the module documentation for the TOML schema).

    Attributes:
        name: Label used in output (default: the file name).
        select: Which reports the policy applies to.
        signers: Who may have signed.
        properties: Required signed properties: name → allowed value patterns (``["*"]``:
            present with any value).
        results: What the signed results must show.
        retention: What ``jux cache clean`` keeps.
        path: The file it was read from, if any.
    """

    name: str | None = None
    select: Selection = attrs.field(factory=Selection)
    signers: SignerRules = attrs.field(factory=SignerRules)
    properties: dict[str, tuple[str, ...]] = attrs.field(factory=dict)
    results: ResultRules = attrs.field(factory=ResultRules)
    retention: RetentionRules = attrs.field(factory=RetentionRules)
    path: Path | None = attrs.field(default=None, eq=False)

    @property
    def label(self) -> str:
        """``name``, else the file name, else ``"policy"``."""
        return self.name or (self.path.name if self.path else "policy")

    @property
    def needs_testcases(self) -> bool:
        """True when evaluating it needs per-test outcomes (``required_tests``)."""
        return bool(self.results.required_tests)


# --- strict structuring (a small local converter; to be merged with the configuration's) ----


class _Bad(ValueError):
    pass


def _strict(kind: type[Any]) -> Any:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}

    def hook(value: Any, _: Any) -> Any:
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if type(value) is not kind:
            raise _Bad(f"expected {names[kind]}, got {_kind(value)}")
        return value

    return hook


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def _datetime(value: Any, _: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, dt.date):
        parsed = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise _Bad("expected an ISO 8601 date or date-time (e.g. 2025-01-31T12:00:00Z)") from None
    else:
        raise _Bad(f"expected a date-time, got {_kind(value)}")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def _seq(value: Any, tp: Any) -> tuple[Any, ...]:
    if not isinstance(value, list | tuple):
        raise _Bad(f"expected an array, got {_kind(value)}")
    (item,) = {tuple[str, ...]: (str,), tuple[Path, ...]: (Path,)}[tp]
    if item is str:
        for i, v in enumerate(value):
            if not isinstance(v, str):
                raise _Bad(f"item {i}: expected a string, got {_kind(v)}")
        return tuple(value)
    return tuple(_path(v, Path) for v in value)


def _path(value: Any, _: Any) -> Path:
    if not isinstance(value, str) or not value:
        raise _Bad(f"expected a file path (a string), got {_kind(value)}")
    return Path(value).expanduser()


def _properties(value: Any, _: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, dict):
        raise _Bad(f"expected a table, got {_kind(value)}")
    out: dict[str, tuple[str, ...]] = {}
    for name, patterns in value.items():
        if isinstance(patterns, str):
            raise _Bad(f"{name}: expected an array of patterns (e.g. [\"main\"]), got a string")
        try:
            out[name] = _seq(patterns, tuple[str, ...])
        except _Bad as exc:
            raise _Bad(f"{name}: {exc}") from None
    return out


def _converter() -> Any:
    import cattrs

    conv = cattrs.Converter(forbid_extra_keys=True)
    for kind in (str, int, float, bool):
        conv.register_structure_hook(kind, _strict(kind))
    conv.register_structure_hook(dt.datetime, _datetime)
    conv.register_structure_hook(Path, _path)
    conv.register_structure_hook_func(lambda tp: tp in (tuple[str, ...], tuple[Path, ...]), _seq)
    conv.register_structure_hook_func(lambda tp: tp == dict[str, tuple[str, ...]], _properties)
    return conv


def _format(exc: BaseException, tp: Any) -> str:
    import cattrs

    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        return "unknown key " + ", ".join(repr(k) for k in sorted(exc.extra_fields))
    if isinstance(exc, _Bad):
        return str(exc)
    if isinstance(exc, KeyError):
        return "required key is missing"
    return f"invalid value ({type(exc).__name__})"


def _problems(exc: BaseException) -> list[str]:
    import cattrs

    out: list[str] = []
    for line in cattrs.transform_error(exc, path="", format_exception=_format):
        message, _, where = line.rpartition(" @ ")
        key = where.lstrip(".")
        if message.startswith("unknown key"):
            out.append(f"{key + ': ' if key else ''}{message}")
        else:
            out.append(f"{key}: {message}" if key else message)
    return out


def _check_values(policy: EvidencePolicy) -> list[str]:
    bad: list[str] = []
    r = policy.results
    for key in ("max_failures", "max_errors", "min_tests"):
        value = getattr(r, key)
        if value is not None and value < 0:
            bad.append(f"results.{key}: must be 0 or more")
    if r.max_age_days is not None and r.max_age_days <= 0:
        bad.append("results.max_age_days: must be greater than 0")
    ret = policy.retention
    if ret.keep_last is not None and ret.keep_last < 1:
        bad.append("retention.keep_last: must be 1 or more")
    if ret.keep_days is not None and ret.keep_days < 0:
        bad.append("retention.keep_days: must be 0 or more")
    for key in ("certificates", "public_keys"):
        for i, fp in enumerate(getattr(policy.signers, key)):
            if not _FINGERPRINT.fullmatch(fp):
                bad.append(f"signers.{key}[{i}]: expected 'sha256:' and 64 lowercase hex digits")
    if policy.signers.subjects and not policy.signers.ca:
        bad.append("signers.subjects: needs signers.ca (subjects restrict CA-issued certificates)")
    s = policy.select
    if s.since is not None and s.until is not None and s.until <= s.since:
        bad.append("select.until: must be later than select.since")
    for where, patterns in (
        ("select.projects", s.projects),
        ("signers.subjects", policy.signers.subjects),
        ("results.required_tests", r.required_tests),
        *((f"properties.{k!r}", v) for k, v in policy.properties.items()),
    ):
        if any(not p for p in patterns):
            bad.append(f"{where}: empty pattern")
        if where.startswith("properties.") and not patterns:
            bad.append(f"{where}: give at least one pattern ([\"*\"] for any value)")
    return bad


def parse_policy(data: Mapping[str, Any], *, source: str = "<policy>", base: Path | None = None) -> EvidencePolicy:
    """Structure a policy table (as read from TOML) strictly.

    Args:
        data: The TOML document as a dict.
        source: Name for messages (the file name).
        base: Directory that relative paths (``signers.ca``) are resolved against.

    Returns:
        The policy.

    Raises:
        PolicyError: unknown keys, wrong types or bad values; the message names the key path
            and ``source``.
    """
    import cattrs

    table = {k: v for k, v in data.items() if k != "path"}
    if "path" in data:
        raise PolicyError(f"{source}: unknown key 'path'", hint=_DOCS)
    try:
        policy: EvidencePolicy = _converter().structure(table, EvidencePolicy)
    except (cattrs.BaseValidationError, _Bad) as exc:
        problems = _problems(exc) if isinstance(exc, cattrs.BaseValidationError) else [str(exc)]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise PolicyError(f"{source}: {problems[0]}{more}", hint=_DOCS) from None
    bad = _check_values(policy)
    if bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise PolicyError(f"{source}: {bad[0]}{more}", hint=_DOCS)
    if base is not None:
        ca = tuple(p if p.is_absolute() else base / p for p in policy.signers.ca)
        policy = attrs.evolve(policy, signers=attrs.evolve(policy.signers, ca=ca))
    return policy


def load_policy(path: str | Path) -> EvidencePolicy:
    """Read and check an evidence policy file.

    Args:
        path: The TOML file.

    Returns:
        The policy (``path`` set; relative CA paths resolved against the file's directory).

    Raises:
        PolicyError: the file cannot be read, is not TOML, or does not fit the schema; the
            message names the file and the key path.
    """
    p = Path(path).expanduser()
    try:
        text = p.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise PolicyError(f"policy file {p} does not exist", hint="check the --policy path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"cannot read policy file {p}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        data = _toml.loads(text)
    except _toml.TOMLError as exc:
        raise PolicyError(f"{p}: not valid TOML: {exc}", hint=_DOCS) from None
    policy = parse_policy(data, source=str(p), base=p.resolve().parent)
    return attrs.evolve(policy, path=p)


# --- evaluation ----------------------------------------------------------------------------


def _first(properties: Sequence[tuple[str, str]], name: str) -> str | None:
    for key, value in properties:
        if key == name:
            return value
    return None


def run_time(properties: Sequence[tuple[str, str]]) -> dt.datetime | None:
    """The signed run time: the ``jux:timestamp`` property as a UTC datetime, else None."""
    text = _first(properties, "jux:timestamp")
    if not text:
        return None
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def _matches_test(outcome: TestOutcome, pattern: str) -> bool:
    return fnmatch.fnmatchcase(outcome.test_id, pattern) or fnmatch.fnmatchcase(outcome.name, pattern)


def evaluate(
    policy: EvidencePolicy,
    *,
    summary: ReportSummary,
    properties: Sequence[tuple[str, str]],
    testcases: Sequence[TestOutcome] | None = None,
    now: dt.datetime | None = None,
) -> tuple[str, ...]:
    """Check a verified report against the policy's property and result rules.

    Signer rules are not checked here: they are the audit's trust policy
    (:func:`juxsdk.evidence.trustspec.signer_trust`), applied during verification.

    Args:
        policy: The policy.
        summary: The verified summary.
        properties: The verified properties.
        testcases: The verified per-test outcomes; needed only for ``required_tests``.
        now: Reference time for ``max_age_days`` (default: now, UTC).

    Returns:
        One line per violation (empty when the report complies).

    Raises:
        ValueError: ``required_tests`` is set and ``testcases`` is None.
    """
    out: list[str] = []
    for name, patterns in policy.properties.items():
        value = _first(properties, name)
        if value is None:
            out.append(f"property {name} is missing")
        elif not any(fnmatch.fnmatchcase(value, p) for p in patterns):
            out.append(f"property {name} is {value!r}, not one of {', '.join(patterns)}")
    r = policy.results
    if r.max_failures is not None and summary.failures > r.max_failures:
        out.append(f"{summary.failures} failures, at most {r.max_failures} allowed")
    if r.max_errors is not None and summary.errors > r.max_errors:
        out.append(f"{summary.errors} errors, at most {r.max_errors} allowed")
    if r.min_tests is not None and summary.tests < r.min_tests:
        out.append(f"{summary.tests} tests, at least {r.min_tests} required")
    if r.max_age_days is not None:
        when = run_time(properties)
        if when is None:
            out.append("no signed run time (jux:timestamp) to check max_age_days against")
        else:
            age = ((now or dt.datetime.now(dt.UTC)) - when).total_seconds() / 86400
            if age > r.max_age_days:
                out.append(f"run is {age:.1f} days old, at most {r.max_age_days:g} allowed")
    if r.required_tests:
        if testcases is None:
            raise ValueError("required_tests needs the report's testcases")
        for pattern in r.required_tests:
            matched = [t for t in testcases if _matches_test(t, pattern)]
            if not matched:
                out.append(f"required test {pattern} is missing")
                continue
            bad = [t for t in matched if t.status != "passed"]
            if bad:
                shown = ", ".join(f"{t.test_id} {t.status}" for t in bad[:3])
                more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
                out.append(f"required test {pattern} did not pass: {shown}{more}")
    return tuple(out)
