"""``jux trends`` (pass rate, tests, duration, flaky tests) and ``jux diff A B``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from juxsdk.errors import JuxError

from ._common import CONTEXT_SETTINGS, JuxCommand, echo_json, get_state, global_options, plural, read_input
from ._evidence import at_option, build_trust, dates, filter_options, index_option, open_index, table, trust_options


@click.command(cls=JuxCommand, context_settings=CONTEXT_SETTINGS)
@filter_options
@click.option("--by", type=click.Choice(["day", "week", "run"]), default="day", show_default=True,
              help="Period of each point.")
@click.option("--window", type=click.IntRange(min=2), default=20, show_default=True,
              help="Flaky tests: recent runs examined per project and branch.")
@click.option("--min-flips", type=click.IntRange(min=1), default=2, show_default=True,
              help="Flaky tests: pass/fail changes that make a test flaky.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON ({trends: [...], flaky: [...]}).")
@index_option
@global_options(hidden=True)
def trends(
    project: str | None,
    branch: str | None,
    since: str | None,
    until: str | None,
    by: str,
    window: int,
    min_flips: int,
    as_json: bool,
    index_path: Path | None,
) -> None:
    """Pass rate, test count and duration per project over time, and flaky tests.

    From the evidence index (verified reports only; reports a policy found in violation are
    left out). A test is flaky when it passed and failed on the same commit, or flipped between
    passing and failing at least --min-flips times in the last --window runs.

    \b
    Examples:
      jux trends --project pump-controller --by week
      jux trends --branch main --window 50 --json
    """
    from juxsdk.evidence.trends import flaky_tests
    from juxsdk.evidence.trends import trends as compute

    get_state()
    since_dt, until_dt = dates(since, until)
    with open_index(index_path) as idx:
        points = compute(idx, project=project, branch=branch, since=since_dt, until=until_dt, by=by)
        flaky = flaky_tests(idx, project=project, branch=branch, window=window, min_flips=min_flips)
    if as_json:
        echo_json({"trends": [p.to_dict() for p in points], "flaky": [f.to_dict() for f in flaky]})
        return
    if points:
        table(
            [[p.project or "-", p.period, str(p.runs), str(p.tests), f"{100 * p.pass_rate:.1f}%", str(p.failures),
              str(p.errors), f"{p.duration:.2f}"] for p in points],
            ["PROJECT", by.upper(), "RUNS", "TESTS", "PASS RATE", "FAIL", "ERR", "MEAN SECONDS"],
            right=frozenset({2, 3, 4, 5, 6, 7}),
        )
    else:
        click.echo("no verified reports in the index for these filters", err=True)
    if flaky:
        click.echo("")
        click.echo(f"flaky tests ({len(flaky)}):")
        table(
            [[f.project or "-", f.branch or "-", f.test_id, str(f.runs), str(f.failures), str(f.flips),
              str(len(f.mixed_commits))] for f in flaky],
            ["PROJECT", "BRANCH", "TEST", "RUNS", "FAILED", "FLIPS", "MIXED COMMITS"],
            right=frozenset({3, 4, 5, 6}),
        )


def _outcomes_of(ref: str, idx: Any, trust: Any, at: Any) -> tuple[str, Any]:
    """``(label, testcases)`` of a report given as a file (verified here) or an indexed hash prefix."""
    import juxsdk
    from juxsdk.evidence.testcases import verified_testcases

    if ref == "-" or os.path.isfile(ref):
        if trust is None:
            raise click.UsageError(f"{ref} is a file: give a trust policy (--cert, --pubkey or --ca) to verify it")
        data, source = read_input(ref)
        verified = juxsdk.verify_report(data, trust, at=at, source=source)
        return f"{ref} ({verified.canonical_hash[7:23]})", verified_testcases(data, verified)
    full = idx.resolve(ref)
    report = idx.get(full)
    if not report.verified:
        raise JuxError(f"{full[:23]}… failed verification ({report.error}): it is not evidence",
                       hint="diff verified reports only")
    if not report.has_tests:
        raise JuxError(f"{full[:23]}…: its test outcomes are not indexed", hint="run `jux audit` on its store")
    return full[7:23], idx.testcases(full)


@click.command(cls=JuxCommand, context_settings=CONTEXT_SETTINGS)
@click.argument("a", metavar="A")
@click.argument("b", metavar="B")
@trust_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@index_option
@global_options(hidden=True)
def diff(
    a: str,
    b: str,
    certs: tuple[Path, ...],
    pubkeys: tuple[Path, ...],
    cas: tuple[Path, ...],
    unsafe: bool,
    at: str | None,
    as_json: bool,
    index_path: Path | None,
) -> None:
    """Tests added, removed, newly failing and fixed from verified report A to B.

    A and B are canonical hash prefixes of indexed reports, or signed report files (verified
    with the trust options first). Exit 0 when nothing changed, 1 when a test is newly failing,
    0 otherwise.

    \b
    Examples:
      jux diff 3fa9c1 77be02
      jux diff --cert ci-cert.pem old.signed.xml new.signed.xml
    """
    from juxsdk.evidence.trends import diff_tests

    get_state()
    trust = build_trust(certs, pubkeys, cas, unsafe, required=False)
    when = at_option(at)
    with open_index(index_path) as idx:
        label_a, tests_a = _outcomes_of(a, idx, trust, when)
        label_b, tests_b = _outcomes_of(b, idx, trust, when)
    result = diff_tests(tests_a, tests_b)
    if as_json:
        echo_json({"a": label_a, "b": label_b, **result.to_dict()})
    else:
        click.echo(f"A: {label_a} ({plural(len(tests_a), 'test')})   B: {label_b} ({plural(len(tests_b), 'test')})")
        for title, names in (("newly failing", result.newly_failing), ("fixed", result.fixed),
                             ("added", result.added), ("removed", result.removed)):
            click.echo(f"{title} ({len(names)}):")
            for name in names:
                click.echo(f"  {name}")
        click.echo(f"still failing: {len(result.still_failing)}; unchanged: {result.unchanged}")
    if result.newly_failing:
        raise click.exceptions.Exit(1)
