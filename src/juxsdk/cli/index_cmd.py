"""``jux index`` (rebuild, info) and ``jux query``: the evidence index."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

import click

from ._common import (
    CONTEXT_SETTINGS,
    JuxCommand,
    JuxGroup,
    echo_json,
    get_state,
    global_options,
    load_config,
    plural,
    short_hash,
)
from ._evidence import (
    at_option,
    build_trust,
    close_all,
    dates,
    filter_options,
    index_option,
    open_index,
    resolve_sources,
    table,
    trust_options,
)
from ._examples import examples


@click.group(cls=JuxGroup, context_settings=CONTEXT_SETTINGS, epilog=examples("index"))
@global_options(hidden=True)
def index() -> None:
    """The evidence index: verified reports and per-test outcomes (SQLite)."""


@index.command("rebuild")
@click.argument("sources", nargs=-1, metavar="[STORE-NAME|DIR|GLOB…]")
@trust_options
@click.option("-j", "--jobs", type=click.IntRange(min=1), help="Worker processes (default: the machine's cores).")
@index_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON: the index counts and the audit counts.")
@global_options(hidden=True)
def rebuild(
    sources: tuple[str, ...],
    certs: tuple[Path, ...],
    pubkeys: tuple[Path, ...],
    cas: tuple[Path, ...],
    unsafe: bool,
    at: str | None,
    jobs: int | None,
    index_path: Path | None,
    as_json: bool,
) -> None:
    """Empty the index and fill it again by verifying every report of the sources.

    Sources are as for `jux audit` (default: the configured stores). Only reports that verify
    with the trust policy are indexed as evidence; the others are recorded as not verified.
    Exit 0 when every report verified, 1 when some did not.

    \b
    Example:
      jux index rebuild s3 --ca ci-ca.pem
    """
    import juxsdk

    get_state()
    trust = build_trust(certs, pubkeys, cas, unsafe, required=True)
    config = load_config()
    resolved, stores = resolve_sources(sources, config)
    try:
        with open_index(index_path, config) as idx:
            idx.clear()
            result = juxsdk.audit(resolved, trust=trust, jobs=jobs, index=idx, at=at_option(at))
            stats = idx.stats()
    finally:
        close_all(stores)
    c = result.counts
    if as_json:
        echo_json({"index": stats, "audit": dict(c)})
    else:
        click.echo(
            f"indexed {plural(stats['verified'], 'verified report')} ({plural(stats['outcomes'], 'test outcome')}) "
            f"in {stats['path']}; {c['failed']} failed verification, {c['error']} unreadable",
            err=True,
        )
    if result.exit_code:
        raise click.exceptions.Exit(result.exit_code)


@index.command("info", epilog=examples("index info"))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@index_option
@global_options(hidden=True)
def info(as_json: bool, index_path: Path | None) -> None:
    """Show the index's path, schema version and counts."""
    get_state()
    with open_index(index_path) as idx:
        stats = dict(idx.stats())
    if as_json:
        echo_json(stats)
        return
    for key, value in stats.items():
        click.echo(f"{key + ':':<16}{value}")


def _flat(d: dict[str, Any]) -> dict[str, Any]:
    """One level: ``summary`` expanded into its counts, lists joined with ``; ``."""
    out: dict[str, Any] = {}
    for key, value in d.items():
        if isinstance(value, dict):
            out.update(value)
        elif isinstance(value, list):
            out[key] = "; ".join(str(v) for v in value)
        else:
            out[key] = value
    return out


def _report_rows(reports: list[Any]) -> tuple[list[str], list[list[str]]]:
    headers = ["HASH", "TIME (UTC)", "PROJECT", "BRANCH", "COMMIT", "TESTS", "FAIL", "ERR", "SKIP", "SIGNER", "POLICY"]
    rows = []
    for r in reports:
        s = r.summary
        rows.append([
            short_hash(r.canonical_hash), r.time.strftime("%Y-%m-%d %H:%M:%S"), r.project or "-", r.branch or "-",
            (r.commit or "-")[:12], str(s.tests), str(s.failures), str(s.errors), str(s.skipped), r.signer or "-",
            "-" if r.policy_ok is None else ("ok" if r.policy_ok else "VIOLATION"),
        ])
    return headers, rows


def _test_rows(tests: list[Any]) -> tuple[list[str], list[list[str]]]:
    headers = ["HASH", "TIME (UTC)", "PROJECT", "BRANCH", "TEST", "STATUS", "SECONDS", "MESSAGE"]
    rows = [
        [short_hash(t.canonical_hash), t.time.strftime("%Y-%m-%d %H:%M:%S"), t.project or "-", t.branch or "-",
         t.test_id, t.status, f"{t.duration:.3f}", (t.message or "").replace("\n", " ")[:80]]
        for t in tests
    ]
    return headers, rows


@click.command(cls=JuxCommand, context_settings=CONTEXT_SETTINGS)
@filter_options
@click.option("--commit", help="Only this commit (leading characters of the verified `git:commit`).")
@click.option("--status", type=click.Choice(["passed", "failed", "error", "skipped"]),
              help="Reports: passed (no failures or errors) or failed; tests (with --tests/--test): that outcome.")
@click.option("--test", "test", metavar="PATTERN",
              help="Test outcomes whose classname.name (or name) matches this glob (implies --tests).")
@click.option("--tests", "tests_mode", is_flag=True, help="List test outcomes instead of reports.")
@click.option("--signer", help="Signer: sha256: fingerprint prefix, or text (glob) of the certificate subject.")
@click.option("--limit", type=click.IntRange(min=1), default=1000, show_default=True, help="At most this many rows.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (header row first).")
@index_option
@global_options(hidden=True)
def query(
    project: str | None,
    branch: str | None,
    since: str | None,
    until: str | None,
    commit: str | None,
    status: str | None,
    test: str | None,
    tests_mode: bool,
    signer: str | None,
    limit: int,
    as_json: bool,
    as_csv: bool,
    index_path: Path | None,
) -> None:
    """Query the evidence index: verified reports, or test outcomes (--tests / --test PATTERN).

    Only verified reports are listed (the index holds nothing else as evidence). Newest first.

    \b
    Examples:
      jux query --project pump-controller --branch main --status failed
      jux query --project pump-controller --test '*test_pressure*' --csv
      jux query --signer 'CN=jux-ci*' --since 2025-01-01 --json
    """
    get_state()
    if as_json and as_csv:
        raise click.UsageError("give --json or --csv, not both")
    since_dt, until_dt = dates(since, until)
    with open_index(index_path) as idx:
        if tests_mode or test is not None:
            items: list[Any] = idx.tests(test=test, project=project, branch=branch, commit=commit, since=since_dt,
                                         until=until_dt, status=status, signer=signer, limit=limit)
            headers, rows = _test_rows(items)
        else:
            if status not in (None, "passed", "failed"):
                raise click.UsageError("for reports, --status is passed or failed (use --tests for test outcomes)")
            items = idx.reports(project=project, branch=branch, commit=commit, since=since_dt, until=until_dt,
                                status=status, signer=signer, limit=limit)
            headers, rows = _report_rows(items)
    if as_json:
        echo_json([i.to_dict() for i in items])
    elif as_csv:
        dicts = [_flat(i.to_dict()) for i in items]
        writer = csv.writer(sys.stdout, lineterminator="\n")
        keys = list(dicts[0]) if dicts else [h.lower() for h in headers]
        writer.writerow(keys)
        for d in dicts:
            writer.writerow(["" if d[k] is None else d[k] for k in keys])
    elif rows:
        table(rows, headers, right=frozenset({5, 6, 7, 8} if len(headers) > 8 else {6}))
    else:
        click.echo("no match", err=True)

