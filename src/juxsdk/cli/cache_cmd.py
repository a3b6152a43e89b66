"""``jux cache``: list, show, count and clean reports in the configured stores.

A store that skips a record it cannot trust (a corrupt metadata sidecar, a link planted in the
store) reports it on the ``juxsdk.store`` logger (:func:`juxsdk.sidecars.report_store_problem`);
these commands print each as a ``warning:`` line on stderr, carry on with the other reports,
and ``list``, ``stats`` and ``clean`` then exit 4 (partial). Other warnings on that logger (a
store root other users can write) are printed too and do not change the exit code.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from juxsdk.config import JuxConfig
from juxsdk.config.numbers import DAYS, Range
from juxsdk.errors import EXIT_PARTIAL, ConfigError, CorruptSidecarError, JuxError, ReportNotFoundError, StoreError
from juxsdk.models import resolve_hash_prefix
from juxsdk.sidecars import STORE_LOGGER

from ._common import (
    CONTEXT_SETTINGS,
    HASH_PREFIX,
    JuxGroup,
    echo_err,
    echo_json,
    global_options,
    hint_of,
    human_size,
    journal,
    load_config,
    make_backend,
    number_type,
    parse_datetime,
    plural,
    short_hash,
)
from ._examples import examples


@contextmanager
def configured_stores(config: Any = None) -> Iterator[list[Any]]:
    """Instantiate the configured store backends (only the stores: no signer, no publisher).

    Raises:
        ConfigError: invalid configuration, or no store is configured.
    """
    if config is None:
        config = load_config()
    names = list(getattr(config, "stores", None) or [])
    if not names:
        raise ConfigError(
            "no store is configured",
            hint='set stores = ["filesystem"] in the configuration (see `jux config show`)',
        )
    stores: list[Any] = []
    try:
        for name in names:
            stores.append(make_backend(config, "store", name))
        yield stores
    finally:
        for store in stores:
            close = getattr(store, "close", None)
            if callable(close):
                close()


class _StoreWarnings(logging.Handler):
    """Prints what the stores report on :data:`juxsdk.sidecars.STORE_LOGGER` as ``warning:`` lines.

    Attributes:
        problems: How many stored records were skipped (log records carrying
            ``jux_store_problem``).
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.problems = 0
        self._shown: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        problem = getattr(record, "jux_store_problem", None)
        if problem is not None:
            self.problems += 1
        message = record.getMessage()
        if message not in self._shown:
            self._shown.add(message)
            echo_err("warning", message, fg="yellow")
        hint = getattr(problem, "hint", None)
        if hint and hint not in self._shown:
            self._shown.add(hint)
            echo_err("hint", hint, fg="yellow")


@contextmanager
def store_warnings() -> Iterator[_StoreWarnings]:
    """Print the stores' warnings while the block runs; yields the handler (its ``problems`` count)."""
    log = logging.getLogger(STORE_LOGGER)
    handler = _StoreWarnings()
    propagate, level = log.propagate, log.level
    log.addHandler(handler)
    log.propagate = False  # printed here once, not again by a root handler
    if log.getEffectiveLevel() > logging.WARNING:
        log.setLevel(logging.WARNING)
    try:
        yield handler
    finally:
        log.removeHandler(handler)
        log.propagate, log.level = propagate, level


def _partial_if(handler: _StoreWarnings) -> None:
    """Exit 4 (partial) when a stored record was skipped."""
    if handler.problems:
        raise click.exceptions.Exit(EXIT_PARTIAL)


def _publish_states(config: JuxConfig) -> dict[str, str]:
    """Canonical hash → publish state (queued, dead, published) from the configured outbox.

    Empty when no publisher is configured or the outbox cannot be read (the listing still works).
    """
    if not config.publishers:
        return {}
    from juxsdk.outbox import Outbox

    box = Outbox.from_config(config)
    try:
        return {h: state.state for h, state in box.states().items()}
    except (JuxError, OSError):
        return {}
    finally:
        box.close()


def _record_dict(record: Any, state: str | None) -> dict[str, Any]:
    d: dict[str, Any] = record.to_dict()
    if state is not None:
        d["publish_state"] = state
    return d


@click.group(cls=JuxGroup, context_settings=CONTEXT_SETTINGS, epilog=examples("cache"))
@global_options(hidden=True)
def cache() -> None:
    """Reports kept in the configured stores (the local cache)."""


@cache.command("list", epilog=examples("cache list"))
@click.option("--project", help="Only reports of this project.")
@click.option("--since", metavar="DATE", help="Only reports stored at or after this ISO 8601 date/time.")
@click.option("--until", metavar="DATE", help="Only reports stored before this ISO 8601 date/time.")
@click.option("--failed", is_flag=True, help="Only reports with failures or errors.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (a list of sidecar records).")
@global_options(hidden=True)
def list_(project: str | None, since: str | None, until: str | None, failed: bool, as_json: bool) -> None:
    """List stored reports, newest first.

    A report whose metadata sidecar is corrupt (or a link planted in the store) is skipped with a
    warning on stderr naming it; the others are listed and the exit code is 4 (partial).
    """
    since_dt = parse_datetime(since, option="--since") if since else None
    until_dt = parse_datetime(until, option="--until") if until else None
    config = load_config()
    states = _publish_states(config)
    records: list[Any] = []
    with store_warnings() as warned, configured_stores(config) as stores:
        for store in stores:
            records.extend(store.list(project=project, since=since_dt, until=until_dt, failed_only=failed))
    records.sort(key=lambda r: r.stored_at, reverse=True)
    if as_json:
        echo_json([_record_dict(r, states.get(r.canonical_hash)) for r in records])
        _partial_if(warned)
        return
    if not records:
        click.echo("no reports", err=True)
        _partial_if(warned)
        return
    header = f"{'HASH':<16}  {'STORED (UTC)':<19}  {'TESTS':>6} {'FAIL':>5} {'ERR':>4} {'SKIP':>5}  {'SIGNED':<6}"
    if states:
        header += f"  {'PUBLISH':<9}"
    click.echo(header + "  PROJECT / SOURCE")
    for r in records:
        s = r.summary
        line = (
            f"{short_hash(r.canonical_hash):<16}  {r.stored_at.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S}  "
            f"{s.tests:>6} {s.failures:>5} {s.errors:>4} {s.skipped:>5}  {'yes' if r.signed else 'no':<6}"
        )
        if states:
            line += f"  {states.get(r.canonical_hash, '-'):<9}"
        where = " / ".join(x for x in (r.project, r.source) if x)
        click.echo(f"{line}  {where}")
    _partial_if(warned)


def _resolve(store: Any, prefix: str) -> str:
    resolver = getattr(store, "resolve_prefix", None)
    if callable(resolver):
        return str(resolver(prefix))
    hashes = [r.canonical_hash for r in store.list()]
    return resolve_hash_prefix(prefix, hashes, where=f"the {store.name} store")


def _attachments(store: Any, canonical_hash: str) -> list[dict[str, Any]] | None:
    """The report's attachments in ``store`` (None when the store keeps none)."""
    from juxsdk.attachments import supports_attachments

    if not supports_attachments(store):
        return None
    return [a.to_dict() for a in store.attachments(canonical_hash)]


@cache.command("show", epilog=examples("cache show"))
@click.argument("hash_prefix", type=HASH_PREFIX, metavar="HASH_PREFIX")
@click.option("--xml", "as_xml", is_flag=True, help="Write the exact stored bytes to stdout instead.")
@click.option(
    "--attachment",
    "attachment",
    metavar="KIND",
    help="Write the exact bytes of this attachment (e.g. intoto.json, the attestation) to stdout instead.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the metadata as JSON (what is printed by default).")
@global_options(hidden=True)
def show(hash_prefix: str, as_xml: bool, attachment: str | None, as_json: bool) -> None:
    """Show one stored report, found by a unique prefix of its canonical hash.

    HASH_PREFIX is leading hex digits, with or without "sha256:" (3fa9, sha256:3fa9). Prints the
    metadata sidecar as JSON with the report's attachments (kind, size, location; e.g. its
    in-toto attestation, kind intoto.json), or with --xml the exact stored bytes, or with
    --attachment KIND the exact bytes of that attachment. A corrupt sidecar is an error
    (exit 3); --xml still prints the bytes.
    """
    if sum((as_xml, attachment is not None, as_json)) > 1:
        raise click.UsageError("give one of --xml, --attachment and --json")
    with store_warnings(), configured_stores() as stores:
        last: JuxError | None = None
        for store in stores:
            try:
                full = _resolve(store, hash_prefix)
            except ReportNotFoundError as exc:
                last = exc
                continue
            if as_xml or attachment:
                if attachment and _attachments(store, full) is None:
                    raise StoreError(f"the {store.name} store keeps no attachments")
                out = sys.stdout.buffer
                out.write(store.get_attachment(full, attachment) if attachment else store.get(full))
                out.flush()
                return
            try:
                record = store.metadata(full)
            except CorruptSidecarError as exc:
                hint = f"`jux cache show --xml {hash_prefix}` still prints the stored bytes"
                raise CorruptSidecarError(
                    exc.message, where=exc.where, hint=f"{hint}; {hint_of(exc)}" if hint_of(exc) else hint
                ) from exc
            data = record.to_dict()
            listed = _attachments(store, full)
            if listed is not None:
                data["attachments"] = listed
            echo_json(data)
            return
        assert last is not None
        raise last


@cache.command("stats", epilog=examples("cache stats"))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@global_options(hidden=True)
def stats(as_json: bool) -> None:
    """Count the stored reports and their size, per store.

    Every sidecar is read and validated; skipped ones are warned about (exit 4). "warnings"
    lists why other users could change a store's root (see `jux config check`).
    """
    out: list[dict[str, Any]] = []
    with store_warnings() as warned, configured_stores() as stores:
        for store in stores:
            getter = getattr(store, "stats", None)
            if callable(getter):
                data = dict(getter())
            else:
                records = list(store.list())
                data = {"count": len(records), "bytes": sum(r.size for r in records)}
            out.append({"store": store.name, **data})
    if as_json:
        echo_json(out)
        _partial_if(warned)
        return
    for entry in out:
        click.echo(f"{entry['store']}:")
        for key, value in entry.items():
            if isinstance(value, list):
                for item in value or ["none"]:
                    click.echo(f"  {key:<15} {item}")
            elif key == "bytes" or key.endswith("_bytes"):
                click.echo(f"  {key:<15} {human_size(value)}" + (f" ({value} bytes)" if value >= 1024 else ""))
            elif key != "store":
                click.echo(f"  {key:<15} {value}")
    _partial_if(warned)


@cache.command("clean", epilog=examples("cache clean"))
@click.option(
    "--days",
    type=number_type(DAYS, integer=True),
    help="Delete reports stored more than this many days ago.",
)
@click.option("--keep-last", type=number_type(Range(1, 1_000_000), integer=True),
              help="Keep the newest N reports of each project.")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False),
              help="Evidence policy: never delete what its [select] matches; its [retention] gives defaults.")
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: {deleted: [{store, canonical_hash, stored_at}], …}.")
@global_options(hidden=True)
def clean(days: int | None, keep_last: int | None, policy_file: str | None, dry_run: bool, as_json: bool) -> None:
    """Delete old reports from the configured stores.

    Reports whose sidecar is corrupt are skipped (their age is unknown) and warned about (exit 4).

    --days deletes reports stored more than that many days ago; --keep-last keeps the newest N of
    each project whatever their age; with both, a report goes when neither keeps it. --policy
    never deletes the evidence the policy still requires (what its [select] matches, read from
    the reports' signed properties) and takes keep_last/keep_days from its [retention] table.
    """
    if keep_last is not None or policy_file is not None:
        _clean_with_retention(days, keep_last, policy_file, dry_run, as_json)
        return
    if days is None:
        raise click.UsageError("give --days N, --keep-last N or --policy FILE")
    age = dt.timedelta(days=days)
    deleted: list[dict[str, Any]] = []
    with store_warnings() as warned, configured_stores() as stores:
        for store in stores:
            cleaner = getattr(store, "clean", None)
            if callable(cleaner):
                victims = list(cleaner(age, dry_run=dry_run))
            else:
                cutoff = dt.datetime.now(dt.UTC) - age
                victims = list(store.list(until=cutoff))
                if not dry_run:
                    for r in victims:
                        store.delete(r.canonical_hash)
            for r in victims:
                deleted.append(_deleted(store.name, r, dry_run=dry_run, as_json=as_json))
    _clean_summary(deleted, [], dry_run=dry_run, as_json=as_json)
    _partial_if(warned)


def _deleted(store: str, record: Any, *, dry_run: bool, as_json: bool) -> dict[str, Any]:
    """Record a deletion in the signing log (unless ``dry_run``), print it, and return its JSON form."""
    if not dry_run:
        journal("delete", canonical_hash=record.canonical_hash, signature=record.signature, backend=store)
    if not as_json:
        verb = "would delete" if dry_run else "deleted"
        click.echo(f"{verb} {short_hash(record.canonical_hash)} stored {record.stored_at:%Y-%m-%d} from {store}")
    return {"store": store, "canonical_hash": record.canonical_hash, "stored_at": record.stored_at.isoformat()}


def _clean_summary(deleted: list[dict[str, Any]], kept: list[dict[str, Any]], *, dry_run: bool, as_json: bool) -> None:
    if as_json:
        echo_json({"dry_run": dry_run, "deleted": deleted, "kept_by_policy": kept})
        return
    click.echo(f"{'would delete' if dry_run else 'deleted'} {plural(len(deleted), 'report')}", err=True)


def _clean_with_retention(
    days: int | None, keep_last: int | None, policy_file: str | None, dry_run: bool, as_json: bool
) -> None:
    """``jux cache clean`` with --keep-last and/or --policy (see :mod:`juxsdk.evidence.retention`)."""
    from juxsdk.evidence.policy import load_policy
    from juxsdk.evidence.retention import apply_retention, plan_retention

    policy = load_policy(policy_file) if policy_file is not None else None
    if policy is not None:
        keep_last = keep_last if keep_last is not None else policy.retention.keep_last
        if days is None and policy.retention.keep_days is not None:
            days = int(policy.retention.keep_days)
    if keep_last is None and days is None:
        raise click.UsageError("give --days N or --keep-last N (or a policy with a [retention] table)")
    age = dt.timedelta(days=days) if days is not None else None
    deleted: list[dict[str, Any]] = []
    kept: list[dict[str, Any]] = []
    with store_warnings() as warned, configured_stores() as stores:
        for store in stores:
            decisions = plan_retention(store, keep_last=keep_last, older_than=age, policy=policy)
            for r in apply_retention(store, decisions, dry_run=dry_run):
                deleted.append(_deleted(store.name, r, dry_run=dry_run, as_json=as_json))
            if dry_run:
                for d in decisions:
                    if not d.delete and d.reason.startswith("required by policy"):
                        chash = d.record.canonical_hash
                        kept.append({"store": store.name, "canonical_hash": chash, "reason": d.reason})
                        if not as_json:
                            click.echo(f"keep {short_hash(chash)}: {d.reason}")
    _clean_summary(deleted, kept, dry_run=dry_run, as_json=as_json)
    _partial_if(warned)
