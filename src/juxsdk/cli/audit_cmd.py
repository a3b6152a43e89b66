"""``jux audit``: verify whole stores and files in parallel against an evidence policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ._common import (
    CONTEXT_SETTINGS,
    JuxCommand,
    echo_json,
    get_state,
    global_options,
    journal,
    load_config,
    plural,
    short_hash,
    status_word,
)
from ._evidence import (
    at_option,
    build_trust,
    close_all,
    dates,
    index_option,
    open_index,
    resolve_sources,
    table,
    trust_options,
)

_LABELS = {"ok": "OK", "violation": "VIOLATION", "failed": "FAILED", "error": "ERROR"}


def _selection(policy: Any, project: str | None, since: str | None, until: str | None) -> Any:
    """The policy's [select], with --project/--since/--until replacing its parts."""
    import attrs

    from juxsdk.evidence.policy import Selection

    base = policy.select if policy is not None else Selection()
    since_dt, until_dt = dates(since, until)
    changes: dict[str, Any] = {}
    if project is not None:
        changes["projects"] = (project,)
    if since_dt is not None:
        changes["since"] = since_dt
    if until_dt is not None:
        changes["until"] = until_dt
    return attrs.evolve(base, **changes) if changes else base


def _print_table(result: Any) -> None:
    order = {"failed": 0, "violation": 1, "error": 2, "ok": 3}
    reports = sorted(result.reports, key=lambda r: (order[r.status], r.source))
    rows = []
    for r in reports:
        s = r.summary
        counts = f"{s.tests}/{s.failures}/{s.errors}" if s is not None else "-"
        project = r.project or (f"{r.claimed_project} (claimed)" if r.claimed_project else "-")
        signer = r.signature.signer if r.signature is not None else "-"
        rows.append([_LABELS[r.status], r.source, short_hash(r.canonical_hash or "-"), project, counts, signer])
    if rows:
        table(rows, ["STATUS", "REPORT", "HASH", "PROJECT", "TESTS/FAIL/ERR", "SIGNER"])
    for r in reports:
        if r.reasons:
            click.echo(f"{status_word(_LABELS[r.status], width=0)} {r.source}:")
            for reason in r.reasons:
                click.echo(f"  - {reason}")


@click.command(cls=JuxCommand, context_settings=CONTEXT_SETTINGS)
@click.argument("sources", nargs=-1, metavar="[STORE-NAME|DIR|GLOB…]")
@click.option("--policy", "policy_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Evidence policy (TOML): allowed signers, required properties, result rules, selection.")
@trust_options
@click.option("-j", "--jobs", type=click.IntRange(min=1), help="Worker processes (default: the machine's cores).")
@click.option("--project", help="Audit only this project (replaces the policy's [select] projects).")
@click.option("--since", metavar="DATE", help="Audit only runs at or after this ISO 8601 date/time.")
@click.option("--until", metavar="DATE", help="Audit only runs before this ISO 8601 date/time.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--junit-xml", "junit_xml", type=click.Path(path_type=Path, dir_okay=False),
              help="Also write a JUnit XML report of the audit (one testcase per report).")
@click.option("--html", "html_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Also write the static HTML evidence report of the audited reports into this directory.")
@index_option
@click.option("--no-index", is_flag=True, help="Do not record the results in the evidence index.")
@global_options(hidden=True)
def audit(
    sources: tuple[str, ...],
    policy_file: Path | None,
    certs: tuple[Path, ...],
    pubkeys: tuple[Path, ...],
    cas: tuple[Path, ...],
    unsafe: bool,
    at: str | None,
    jobs: int | None,
    project: str | None,
    since: str | None,
    until: str | None,
    as_json: bool,
    junit_xml: Path | None,
    html_dir: Path | None,
    index_path: Path | None,
    no_index: bool,
) -> None:
    """Verify every report of stores, directories or globs and apply an evidence policy.

    With no argument, every configured store is audited. An argument is a file or directory
    when it exists, else a store backend name (e.g. filesystem, s3, with its configured
    options), else a glob pattern. Reports are verified in parallel worker processes; the trust
    policy is --cert/--pubkey/--ca, or the policy's [signers], or both (both must accept).

    Prints a table (or --json), optionally writes a JUnit XML of the audit (--junit-xml) and the
    HTML evidence report (--html), and records the verified results and per-test outcomes in the
    evidence index. Exit 0 when every audited report verified and complies, 1 when any failed
    verification or violates the policy (or none was audited), 3 when one could not be read.

    \b
    Examples:
      jux audit --policy release.toml --junit-xml audit.xml --html evidence/
      jux audit s3 --ca ci-ca.pem -j 4 --project pump-controller
      jux audit 'build/**/*.signed.xml' --cert ci-cert.pem --json
    """
    import juxsdk
    from juxsdk.evidence.policy import load_policy

    get_state()
    if html_dir is not None and no_index:
        raise click.UsageError("--html renders from the evidence index: drop --no-index")
    policy = load_policy(policy_file) if policy_file is not None else None
    trust = build_trust(certs, pubkeys, cas, unsafe, required=False)
    if trust is None and (policy is None or not policy.signers.configured):
        raise click.UsageError(
            "give a trust policy (--cert, --pubkey, --ca or --unsafe-accept-any-key) or a --policy with [signers]"
        )
    when = at_option(at)
    selection = _selection(policy, project, since, until)
    config = load_config()
    resolved, stores = resolve_sources(sources, config)
    index = None
    try:
        if not no_index:
            index = open_index(index_path, config)
        result = juxsdk.audit(resolved, trust=trust, policy=policy, jobs=jobs, index=index, at=when,
                              select=selection)
        if html_dir is not None and index is not None:
            from juxsdk.evidence.report_html import write_report

            hashes = [r.canonical_hash for r in result.reports if r.canonical_hash]
            write_report(index, html_dir, hashes=hashes, title=f"Evidence report: {result.policy or 'audit'}")
    finally:
        if index is not None:
            index.close()
        close_all(stores)
    for report in result.reports:  # every verification decision, in the signing log
        verified = report.signature is not None
        journal("verify", canonical_hash=report.canonical_hash, signature=report.signature,
                backend=report.store or "jux audit", outcome=report.status if verified else "failed",
                detail=report.error_type)
    if junit_xml is not None:
        from ._common import write_output

        write_output(str(junit_xml), result.to_junit_xml())
    if as_json:
        echo_json(result.to_dict())
    else:
        _print_table(result)
    c = result.counts
    click.echo(
        f"audited {plural(c['audited'], 'report')} in {result.duration:.1f} s with "
        f"{plural(result.jobs, 'worker')}: {c['ok']} ok, {plural(c['violation'], 'policy violation')}, "
        f"{c['failed']} failed verification, {c['error']} unreadable"
        + (f"; {c['unselected']} outside the selection" if c["unselected"] else ""),
        err=True,
    )
    if html_dir is not None:
        click.echo(f"HTML evidence report: {html_dir / 'index.html'}", err=True)
    code = result.exit_code
    if not result.reports:
        click.echo("error: no report was audited: nothing is evidence", err=True)
        click.echo("hint: check the sources and the policy's [select] (or --project/--since/--until)", err=True)
        code = 1
    if code:
        raise click.exceptions.Exit(code)
