"""``jux publish`` (send reports / drain the outbox) and ``jux queue`` (manage the outbox).

Exit codes of ``jux publish``: 0 every report published or already there (or nothing to do),
4 some were, 3 none were, 2 usage or configuration error. ``jux publish --queue`` goes on past
an entry it cannot process (corrupt state, unreadable bytes, a publisher's bug): it reports the
entry and counts it as not published.

``jux publish --queue`` is a drain a person asked for (:attr:`juxsdk.outbox.DrainMode.MANUAL`):
it tries every queued report our backoff delayed, honours a server's ``Retry-After`` (``--now``
overrides it), and says which reports it left alone and why; those do not change the exit code.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from juxsdk.errors import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL, ConfigError, JuxError

from ._common import (
    CONTEXT_SETTINGS,
    JuxCommand,
    JuxGroup,
    echo_err,
    echo_json,
    get_state,
    global_options,
    load_config,
    read_input,
    short_hash,
)

if TYPE_CHECKING:  # pragma: no cover
    from juxsdk.config import JuxConfig
    from juxsdk.models import PublishOutcome
    from juxsdk.outbox import DrainMode, DrainResult, Outbox, QueueEntry, SkippedEntry
    from juxsdk.protocols import Publisher

__all__ = ["publish", "queue"]


# --- configuration helpers -------------------------------------------------------------------


@contextmanager
def configured_publishers(config: JuxConfig, *, required: bool = True) -> Iterator[dict[str, Publisher]]:
    """Instantiate the configured publishers (no signer, no store), closing them afterwards.

    Each is built by :meth:`juxsdk.registry.Registry.create` (only its module is imported).

    Raises:
        ConfigError: invalid configuration, unknown backend, or (``required``) none configured.
    """
    names = list(config.publishers)
    if not names and required:
        raise ConfigError(
            "no publisher is configured",
            hint='set publishers = ["http"] and [backends.http] url = "…/api/v1", or pass --url',
        )
    registry = get_state().registry()
    pubs: dict[str, Publisher] = {}
    try:
        for name in names:
            pubs[name] = registry.create("publisher", name, config)
        yield pubs
    finally:
        for pub in pubs.values():
            pub.close()


def _outbox(config: JuxConfig) -> Outbox:
    from juxsdk.outbox import Outbox

    return Outbox.from_config(config)


def _url_overrides(url: str | None) -> dict[str, Any] | None:
    if not url:
        return None
    return {"publishers": ["http"], "backends": {"http": {"url": url}}}


def _use_progress(as_json: bool) -> bool:
    try:
        return not as_json and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _exit(ok: int, total: int) -> None:
    if total == 0 or ok == total:
        code = EXIT_OK
    elif ok > 0:
        code = EXIT_PARTIAL
    else:
        code = EXIT_ERROR
    if code:
        raise click.exceptions.Exit(code)


def _err(exc: BaseException | None) -> dict[str, Any] | None:
    if exc is None:
        return None
    if isinstance(exc, JuxError):
        d: dict[str, Any] = {"type": type(exc).__name__, "message": exc.message, "hint": exc.hint}
        status = getattr(exc, "status", None)
        if status is not None:
            d["status"] = status
        return d
    return {"type": type(exc).__name__, "message": str(exc), "hint": None}


# --- jux publish -----------------------------------------------------------------------------


@click.command(cls=JuxCommand, context_settings=CONTEXT_SETTINGS)
@click.argument("files", nargs=-1, metavar="FILE…")
@click.option(
    "--queue", "drain", is_flag=True,
    help="Send the reports waiting in the outbox instead of FILEs: all of them now, except those a "
    "server asked to wait for (Retry-After).",
)
@click.option(
    "--now", is_flag=True,
    help="With --queue: also send the reports a server asked to wait for (ignore Retry-After).",
)
@click.option("--force", "force_alias", is_flag=True, hidden=True)  # juxsdk 0.1.0's spelling of --now
@click.option(
    "-j", "--jobs", type=click.IntRange(1, 32), default=1, show_default=True,
    help="With --queue: reports sent concurrently.",
)
@click.option(
    "--url",
    metavar="URL",
    help="Publish to this Jux API base URL (…/api/v1) with the http publisher, "
    "instead of the configured publishers.",
)
@click.option(
    "--enqueue/--no-enqueue",
    default=None,
    help="Queue a report in the outbox when publishing fails transiently "
    "(default: only when storage_mode is cache).",
)
@click.option("--allow-unsigned", is_flag=True, help="Publish reports that carry no signature.")
@click.option("--dry-run", is_flag=True, help="Check the reports and show what would be sent; no network.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@global_options
def publish(
    files: tuple[str, ...],
    drain: bool,
    now: bool,
    force_alias: bool,
    jobs: int,
    url: str | None,
    enqueue: bool | None,
    allow_unsigned: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Publish each FILE (its exact bytes) with the configured publishers, or drain the outbox.

    \b
    jux publish junit-signed.xml              # to the configured publishers
    jux publish --url http://127.0.0.1:4000/api/v1 report.xml
    jux publish --queue                       # send what `cache` mode queued
    jux publish --queue --now                 # … even what a server asked to wait for

    Unsigned reports are refused unless --allow-unsigned. Exit 0 when every report is published
    or already on the server, 4 when only some are, 3 when none are, 2 for usage/configuration
    errors. --dry-run needs no server.

    --queue tries every queued report, also those our backoff delayed (flush means try); a report
    whose server asked to wait (Retry-After) is left alone until then unless --now. Reports left
    alone are listed (SKIP) with the reason and do not change the exit code. Dead letters wait
    for `jux queue retry`.
    """
    get_state()
    if drain and files:
        raise click.UsageError("give FILEs or --queue, not both")
    if not drain and not files:
        raise click.UsageError("give at least one FILE, or --queue to drain the outbox")
    if (now or force_alias) and not drain:
        raise click.UsageError(f"{'--now' if now else '--force'} only applies to --queue")
    if force_alias:
        echo_err("warning", "--force is deprecated for `jux publish --queue`: use --now "
                 "(--force will be removed in the next release)", fg="yellow")
        now = True
    config = load_config(_url_overrides(url))
    if drain:
        from juxsdk.outbox import DrainMode

        _drain(config, mode=DrainMode.NOW if now else DrainMode.MANUAL, jobs=jobs, dry_run=dry_run, as_json=as_json)
        return
    _publish_files(
        config, files, enqueue=enqueue, allow_unsigned=allow_unsigned, dry_run=dry_run, as_json=as_json
    )


def _publish_files(
    config: JuxConfig,
    files: tuple[str, ...],
    *,
    enqueue: bool | None,
    allow_unsigned: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    from juxsdk.junit import parse_report
    from juxsdk.storage_mode import StorageMode, publish_with_mode

    queue_failures = enqueue if enqueue is not None else config.storage_mode is StorageMode.CACHE
    mode = StorageMode.CACHE if queue_failures else StorageMode.BOTH
    results: list[dict[str, Any]] = []
    ok_count = 0
    with configured_publishers(config, required=not dry_run) as pubs:
        outbox = None if dry_run else _outbox(config)
        for name in files:
            entry: dict[str, Any] = {"file": name, "ok": False}
            results.append(entry)
            try:
                data, source = read_input(name)
                report = parse_report(data, source=source)
            except JuxError as exc:
                entry["error"] = _err(exc)
                _say(as_json, f"FAIL {name}: {exc.message}", exc.hint)
                continue
            entry.update(
                canonical_hash=report.canonical_hash,
                signed=bool(report.signed),
                size=len(report.data),
                project=report.project,
            )
            if not report.signed and not allow_unsigned:
                entry["error"] = {
                    "type": "ReportError",
                    "message": "report is not signed",
                    "hint": "sign it first (jux sign), or pass --allow-unsigned",
                }
                _say(
                    as_json,
                    f"FAIL {name}: not signed; refusing to publish",
                    "sign it first (jux sign), or pass --allow-unsigned",
                )
                continue
            if dry_run:
                entry["ok"] = True
                entry["would_send"] = [_would_send(n, p, report) for n, p in pubs.items()]
                ok_count += 1
                if not as_json:
                    click.echo(
                        f"DRY  {name}: sha256:{short_hash(report.canonical_hash)} "
                        f"{len(report.data)} bytes, {'signed' if report.signed else 'unsigned'}"
                    )
                    for w in entry["would_send"]:
                        click.echo(f"     would POST to {w['publisher']}: {w.get('endpoint') or '(backend)'}")
                continue
            outcomes = publish_with_mode(report, pubs, mode, outbox)
            entry["published"] = [o.to_dict() for o in outcomes]
            entry["ok"] = all(o.ok for o in outcomes)
            if entry["ok"]:
                ok_count += 1
            if not as_json:
                _print_outcomes(name, report.canonical_hash, outcomes, entry["ok"])
    if as_json:
        echo_json(results)
    _exit(ok_count, len(results))


def _would_send(name: str, pub: Any, report: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "publisher": name,
        "canonical_hash": report.canonical_hash,
        "bytes": len(report.data),
    }
    endpoint = getattr(pub, "endpoint", None)
    if isinstance(endpoint, str):
        d["endpoint"] = endpoint
    headers_for = getattr(pub, "headers_for", None)
    if callable(headers_for):
        d["headers"] = dict(headers_for(report))
    return d


def _say(as_json: bool, line: str, hint: str | None = None) -> None:
    if as_json:
        return
    click.echo(line)
    if hint:
        click.echo(f"     hint: {hint}")


def _print_outcomes(name: str, chash: str, outcomes: list[PublishOutcome], ok: bool) -> None:
    click.echo(f"{'OK  ' if ok else 'FAIL'} {name}: sha256:{short_hash(chash)}")
    for o in outcomes:
        if o.receipt is not None:
            run = f", run {o.receipt.run_id}" if o.receipt.run_id else ""
            what = "already there" if o.receipt.status == "duplicate" else "published"
            click.echo(f"     {what} on {o.publisher}{run}")
        elif o.queued:
            msg = o.error.message if o.error else "queued"
            click.echo(f"     {o.publisher}: {msg}; queued, run `jux publish --queue` later")
        elif o.dead and o.error is not None:
            click.echo(f"     {o.publisher} rejected it: {o.error.message}")
            click.echo("     kept in the outbox as a dead letter (`jux queue list`, `jux queue retry`)")
        elif o.error is not None:
            click.echo(f"     {o.publisher} failed: {o.error.message}")
            if o.error.hint:
                click.echo(f"     hint: {o.error.hint}")


def _drain(config: JuxConfig, *, mode: DrainMode, jobs: int, dry_run: bool, as_json: bool) -> None:
    outbox = _outbox(config)
    if dry_run:
        _drain_dry_run(config, outbox, mode, as_json)
        return
    with configured_publishers(config, required=False) as pubs:
        result = _run_drain(outbox, pubs, mode=mode, jobs=jobs, as_json=as_json)
    if as_json:
        echo_json({"mode": mode.value, **result.to_dict()})
    else:
        _print_drain(result, outbox)
    _exit(len(result.published), result.attempted)


def _drain_dry_run(config: JuxConfig, outbox: Outbox, mode: DrainMode, as_json: bool) -> None:
    """What a drain of ``mode`` would send now, and what it would leave alone (no network)."""
    from datetime import UTC, datetime

    from juxsdk.outbox import SkippedEntry

    at = datetime.now(UTC)
    items = outbox.entries()
    due: list[QueueEntry] = []
    skipped: list[SkippedEntry] = []
    for e in items:
        held = e.held(at, mode)
        if held is None and e.publisher not in config.publishers:
            held = SkippedEntry(e, "no-publisher")
        if held is None:
            due.append(e)
        else:
            skipped.append(held)
    if as_json:
        echo_json({"mode": mode.value, "due": [e.to_dict() for e in due], "queued": len(items),
                   "skipped": [s.to_dict() for s in skipped]})
        return
    click.echo(f"{len(due)} of {len(items)} queued report(s) would be sent")
    for e in due:
        click.echo(f"     sha256:{short_hash(e.canonical_hash)} -> {e.publisher}")
    for s in skipped:
        _print_skipped(s)
    _skip_hint(skipped)


def _run_drain(outbox: Outbox, pubs: Mapping[str, Any], *, mode: DrainMode, jobs: int,
               as_json: bool) -> DrainResult:
    if not _use_progress(as_json):
        return outbox.drain(pubs, mode=mode, workers=jobs)
    total = len(outbox.entries())
    with click.progressbar(length=total, label="publishing", file=sys.stderr) as bar:

        def tick(_entry: QueueEntry, _outcome: str) -> None:
            bar.update(1)

        return outbox.drain(pubs, mode=mode, progress=tick, workers=jobs)


def _print_drain(result: DrainResult, outbox: Outbox) -> None:
    for entry, receipt in result.published:
        what = "already there" if receipt.status == "duplicate" else "published"
        run = f", run {receipt.run_id}" if receipt.run_id else ""
        click.echo(f"OK   sha256:{short_hash(entry.canonical_hash)} {what} on {entry.publisher}{run}")
    for entry in result.retrying:
        click.echo(
            f"WAIT sha256:{short_hash(entry.canonical_hash)} {entry.publisher}: {entry.last_error} "
            f"(attempt {entry.attempts}, next at {entry.next_attempt_at:%Y-%m-%d %H:%M:%S} UTC)"
        )
    for entry in result.dead:
        click.echo(f"DEAD sha256:{short_hash(entry.canonical_hash)} {entry.publisher}: {entry.dead_reason}")
    for broken in result.broken:
        click.echo(f"FAIL {broken.key}: {broken.reason}")
    for skipped in result.skipped:
        _print_skipped(skipped)
    click.echo(
        f"{len(result.published)} published, {len(result.retrying)} still queued, {len(result.dead)} dead"
        + (f", {len(result.broken)} could not be processed" if result.broken else "")
        + (f", {_skip_tally(result.skipped)}" if result.skipped else "")
        + f" [{outbox.path}]",
        err=True,
    )
    _skip_hint(result.skipped)


#: How the summary line names each reason a drain skips an entry (:attr:`SkippedEntry.reason`).
_SKIP_LABELS = {"retry-after": "waiting for the server's Retry-After", "backoff": "in backoff",
                "claimed": "being sent by another drain", "no-publisher": "publisher not configured",
                "limit": "over the limit"}


def _print_skipped(skipped: SkippedEntry) -> None:
    e = skipped.entry
    click.echo(f"SKIP sha256:{short_hash(e.canonical_hash)} {e.publisher}: {skipped.message}")


def _skip_tally(skipped: tuple[SkippedEntry, ...] | list[SkippedEntry]) -> str:
    """``3 skipped (2 waiting for the server's Retry-After, 1 publisher not configured)``."""
    counts: dict[str, int] = {}
    for s in skipped:
        counts[s.reason] = counts.get(s.reason, 0) + 1
    why = ", ".join(f"{n} {_SKIP_LABELS.get(reason, reason)}" for reason, n in counts.items())
    return f"{len(skipped)} skipped ({why})"


def _skip_hint(skipped: tuple[SkippedEntry, ...] | list[SkippedEntry]) -> None:
    if any(s.reason == "retry-after" for s in skipped):
        echo_err("hint", "`jux publish --queue --now` sends them anyway, before the server's Retry-After",
                 fg="yellow")


# --- jux queue -------------------------------------------------------------------------------


@click.group(cls=JuxGroup, context_settings=CONTEXT_SETTINGS)
@global_options
def queue() -> None:
    """The outbox: reports waiting to be published (list, retry, drop)."""


@queue.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@global_options
def queue_list(as_json: bool) -> None:
    """List queued and dead-lettered reports with attempts, next attempt and last error."""
    outbox = _outbox(load_config())
    items = outbox.entries(include_dead=True)
    if as_json:
        echo_json([e.to_dict() for e in items])
        return
    if not items:
        click.echo(f"the outbox is empty [{outbox.path}]", err=True)
        return
    click.echo(
        f"{'HASH':<16}  {'PUBLISHER':<10} {'STATE':<6} {'TRIES':>5}  {'NEXT (UTC)':<19}  LAST ERROR / SOURCE"
    )
    for e in items:
        nxt = f"{e.next_attempt_at:%Y-%m-%d %H:%M:%S}" if e.state == "queued" else "-"
        why = e.dead_reason if e.state == "dead" else e.last_error
        click.echo(
            f"{short_hash(e.canonical_hash):<16}  {e.publisher:<10} {e.state:<6} {e.attempts:>5}  "
            f"{nxt:<19}  {why or e.source or ''}"
        )


def _prefix_arg(hash_prefix: str | None, all_: bool) -> str | None:
    if hash_prefix and all_:
        raise click.UsageError("give a HASH prefix or --all, not both")
    if not hash_prefix and not all_:
        raise click.UsageError("give a HASH prefix (see `jux queue list`) or --all")
    return hash_prefix


@queue.command("retry")
@click.argument("hash_prefix", required=False, metavar="[HASH]")
@click.option("--all", "all_", is_flag=True, help="Every queued and dead entry.")
@global_options
def queue_retry(hash_prefix: str | None, all_: bool) -> None:
    """Make entries due now (dead ones go back to the queue); then run `jux publish --queue`."""
    prefix = _prefix_arg(hash_prefix, all_)
    n = _outbox(load_config()).retry(prefix)
    click.echo(f"{n} entr{'y' if n == 1 else 'ies'} ready to retry; run `jux publish --queue`")
    if n == 0 and prefix is not None:
        raise click.exceptions.Exit(EXIT_ERROR)


@queue.command("drop")
@click.argument("hash_prefix", required=False, metavar="[HASH]")
@click.option("--all", "all_", is_flag=True, help="Every entry.")
@click.option("--dead", "dead_only", is_flag=True, help="Only dead-lettered entries.")
@global_options
def queue_drop(hash_prefix: str | None, all_: bool, dead_only: bool) -> None:
    """Delete entries from the outbox without publishing them (stores are not touched)."""
    prefix = _prefix_arg(hash_prefix, all_)
    n = _outbox(load_config()).drop(prefix, dead_only=dead_only)
    click.echo(f"dropped {n} entr{'y' if n == 1 else 'ies'}")
    if n == 0 and prefix is not None:
        raise click.exceptions.Exit(EXIT_ERROR)
