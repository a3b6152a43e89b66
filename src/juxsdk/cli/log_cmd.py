"""``jux log show`` and ``jux log verify``: read and check the tamper-evident signing log.

Exit codes of ``jux log verify``: 0 the chain is intact, 1 it is broken (each break is listed
with its file and line), 2 usage or configuration error, 3 the log cannot be read.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from juxsdk.errors import EXIT_VERIFICATION_FAILED

from ._common import CONTEXT_SETTINGS, JuxGroup, echo_json, global_options, load_config, parse_datetime
from ._examples import examples

if TYPE_CHECKING:  # pragma: no cover
    from juxsdk.signing_log import LogEntry, SigningLog

__all__ = ["log"]

_PATH_OPTION = click.option(
    "--path", "path", type=click.Path(path_type=Path, dir_okay=False),
    help="The log file to read (default: [signing_log] path, <user data dir>/signing-log.jsonl).",
)


def _the_log(path: Path | None) -> SigningLog:
    from juxsdk.signing_log import SigningLog

    if path is None:
        path = load_config().signing_log.resolved_path()
    return SigningLog(path)


@click.group(cls=JuxGroup, context_settings=CONTEXT_SETTINGS, epilog=examples("log"))
@global_options(hidden=True)
def log() -> None:
    """Show and verify the signing log: every sign, store, publish, delete and verification."""


def _matches(entry: LogEntry, *, operation: str | None, hash_prefix: str | None, backend: str | None,
             outcome: str | None, since: Any, until: Any) -> bool:
    import datetime as dt

    data = entry.data
    if operation is not None and data.get("operation") != operation:
        return False
    if backend is not None and data.get("backend") != backend:
        return False
    if outcome is not None and data.get("outcome") != outcome:
        return False
    if hash_prefix is not None:
        digits = hash_prefix.lower().removeprefix("sha256:")
        if not str(data.get("canonical_hash") or "").removeprefix("sha256:").startswith(digits):
            return False
    if since is not None or until is not None:
        try:
            when = dt.datetime.fromisoformat(str(data.get("time")).replace("Z", "+00:00"))
        except ValueError:
            return False
        if (since is not None and when < since) or (until is not None and when >= until):
            return False
    return True


@log.command("show", epilog=examples("log show"))
@click.option("--operation", type=click.Choice(["sign", "store", "publish", "delete", "verify", "rotate"]),
              help="Only lines of this operation.")
@click.option("--hash", "hash_prefix", metavar="PREFIX", help="Only lines about reports whose canonical hash "
              "starts with PREFIX (with or without sha256:).")
@click.option("--backend", metavar="NAME", help="Only lines naming this backend.")
@click.option("--outcome", metavar="OUTCOME", help="Only lines with this outcome (ok, failed, queued…).")
@click.option("--since", metavar="DATE", help="Only lines from this ISO 8601 date or time on (UTC if no zone).")
@click.option("--until", metavar="DATE", help="Only lines before this ISO 8601 date or time.")
@click.option("--last", type=click.IntRange(1, 10_000_000), metavar="N", help="Only the newest N matching lines.")
@_PATH_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the matching lines as a JSON list.")
@global_options(hidden=True)
def show(operation: str | None, hash_prefix: str | None, backend: str | None, outcome: str | None,
         since: str | None, until: str | None, last: int | None, path: Path | None, as_json: bool) -> None:
    """Print the signing log, oldest first: time, operation, outcome, backend, report, signer.

    Lines that are not JSON (edited, or torn by a crash) are shown as such; `jux log verify`
    says whether the chain holds.
    """
    journal = _the_log(path)
    after = parse_datetime(since, option="--since") if since else None
    before = parse_datetime(until, option="--until") if until else None
    rows = [e for e in journal.entries()
            if _matches(e, operation=operation, hash_prefix=hash_prefix, backend=backend, outcome=outcome,
                        since=after, until=before)]
    if last is not None:
        rows = rows[-last:]
    if as_json:
        echo_json([dict(e.data) if e.data else {"file": str(e.file), "line": e.number, "invalid": True}
                   for e in rows])
        return
    if not rows:
        click.echo(f"no matching line in {journal.path}", err=True)
        return
    for e in rows:
        d = e.data
        if not d:
            click.echo(f"{e.file.name}:{e.number}: (not a JSON line)")
            continue
        digest = str(d.get("canonical_hash") or "-").removeprefix("sha256:")[:16]
        who = d.get("signer") or "-"
        extra = f"  {d['detail']}" if d.get("detail") else ""
        user = f"  user {d['user']}" if d.get("user") else ""
        click.echo(f"{d.get('time', '?')}  {d.get('operation', '?'):<7} {d.get('outcome', '?'):<9} "
                   f"{d.get('backend') or '-':<12} {digest:<16}  {who}{extra}{user}")


@log.command("verify", epilog=examples("log verify"))
@click.option("--head", metavar="HASH", help="The hash the newest line must have (printed by an earlier "
              "verify and kept elsewhere): detects a cut or changed end of the log.")
@_PATH_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@global_options(hidden=True)
def verify(head: str | None, path: Path | None, as_json: bool) -> None:
    """Check the hash chain of the signing log through every rotated file.

    Exit 0 when it is intact; 1 when a line was edited, removed, inserted or reordered (each
    break is printed with its file and line), or when --head does not match.
    """
    result = _the_log(path).verify(head=head)
    if as_json:
        echo_json(result.to_dict())
    elif result.ok:
        click.echo(f"OK   {result.lines} line(s) in {len(result.files)} file(s); head {result.head}")
    else:
        for problem in result.problems:
            click.echo(f"FAIL {problem}")
        click.echo(f"the signing log is not intact: {len(result.problems)} break(s) in {result.lines} line(s)",
                   err=True)
    if not result.ok:
        raise click.exceptions.Exit(EXIT_VERIFICATION_FAILED)
