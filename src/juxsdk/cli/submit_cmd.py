"""``jux submit``: run the configured pipeline (sign → store → publish) on report files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from juxsdk.errors import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL, ConfigError, JuxError

from ._common import (
    CONTEXT_SETTINGS,
    JuxCommand,
    counts,
    echo_json,
    get_state,
    global_options,
    hint_of,
    load_config,
    make_client,
    parse_properties,
    plural,
    read_input,
    render_error,
    short_hash,
    status_word,
    write_output,
)
from ._examples import examples


def _name(backend: Any) -> str:
    if isinstance(backend, str):
        return backend
    return str(getattr(backend, "name", None) or type(backend).__name__)


def _err(exc: BaseException | None) -> dict[str, Any] | None:
    if exc is None:
        return None
    if isinstance(exc, JuxError):
        return {"type": type(exc).__name__, "message": exc.message, "hint": hint_of(exc)}
    return {"type": type(exc).__name__, "message": str(exc), "hint": None}


def result_to_dict(file: str, result: Any) -> dict[str, Any]:
    """JSON-ready view of a :class:`juxsdk.SubmitResult`."""
    report = result.report
    signature = getattr(report, "signature", None)
    return {
        "file": file,
        "ok": bool(result.ok),
        "canonical_hash": report.canonical_hash,
        "summary": report.summary.to_dict(),
        "signed": bool(getattr(report, "signed", False)),
        "signature": signature.to_dict() if signature is not None else None,
        "already_stored": result.already_stored,
        "verified": result.verified.to_dict() if result.verified is not None else None,
        "stored": [
            {
                "store": _name(o.store),
                "ok": o.error is None,
                "duplicate": bool(getattr(o, "duplicate", False)),
                "location": getattr(o.record, "location", None),
                "error": _err(o.error),
            }
            for o in result.stored
        ],
        "published": [
            {
                "publisher": _name(o.publisher),
                "ok": o.error is None or bool(o.queued),
                "queued": bool(o.queued),
                "dead": bool(getattr(o, "dead", False)),
                "receipt": o.receipt.to_dict() if o.receipt is not None else None,
                "error": _err(o.error),
            }
            for o in result.published
        ],
    }


def _print_result(entry: dict[str, Any]) -> None:
    s = entry["summary"]
    sig = entry["signature"]
    status = status_word("OK" if entry["ok"] else "PART" if _partly_done(entry) else "FAIL")
    verified = entry.get("verified")
    if verified:
        who = verified["signature"]["certificate_subject"] or verified["signature"]["key_fingerprint"][:23]
        signed = f"already signed, kept as is, verified: signed by {who}"
    elif sig:
        signed = f"signed by {sig['certificate_subject'] or sig['key_fingerprint'][:23]}"
    elif entry.get("signed"):
        signed = "already signed, kept as is, stored UNVERIFIED (no [trust] configured; --force re-signs)"
    else:
        signed = "unsigned"
    click.echo(
        f"{status} {entry['file']}: sha256:{short_hash(entry['canonical_hash'])} {signed}; "
        f"{counts(s['tests'], s['failures'], s['errors'], s['skipped'])}"
    )
    if entry.get("already_stored"):
        click.echo(f"     already stored as {entry['already_stored']} (nothing new stored; --force stores anew)")
    for o in entry["stored"]:
        if o["ok"] and o.get("duplicate"):
            continue  # said once above
        if o["ok"]:
            click.echo(f"     stored in {o['store']}" + (f": {o['location']}" if o["location"] else ""))
        else:
            click.echo(f"     store {o['store']} failed: {o['error']['message']}")
            if o["error"].get("hint"):
                click.echo(f"     hint: {o['error']['hint']}")
    att = entry.get("attestation")
    if att is not None:
        if att["error"]:
            click.echo(f"     attestation failed: {att['error']['message']}")
        if att["file"]:
            click.echo(f"     attestation written to {att['file']}")
        for o in att["stored"]:
            if o["ok"]:
                click.echo(f"     attestation kept in {o['store']}: {o['location']}")
            elif o["error"]:
                click.echo(f"     attestation not kept in {o['store']}: {o['error']['message']}")
    for o in entry["published"]:
        if o["queued"]:
            reason = o["error"]["message"] if o["error"] else "queued"
            click.echo(f"     publish to {o['publisher']} queued for retry ({reason}); run `jux publish --queue`")
        elif o["ok"]:
            r = o["receipt"] or {}
            run = f", run {r['run_id']}" if r.get("run_id") else ""
            click.echo(f"     published to {o['publisher']} ({r.get('status', 'ok')}{run})")
        else:
            click.echo(f"     publish to {o['publisher']} failed: {o['error']['message']}")
            if o["error"].get("hint"):
                click.echo(f"     hint: {o['error']['hint']}")
            if o.get("dead"):
                click.echo("     kept in the outbox as a dead letter (`jux queue list`, `jux queue retry`)")


def _attestation_bytes(path: Path | None, names: list[str], attest: bool) -> bytes | None:
    """Read ``--attestation ENVELOPE`` (checked for shape now, for its report after submitting)."""
    if path is None:
        return None
    if attest:
        raise click.UsageError("give --attest (make attestations) or --attestation ENVELOPE (keep one), not both")
    if len(names) != 1:
        raise click.UsageError("--attestation ENVELOPE goes with exactly one report")
    from juxsdk.attestation import read_envelope
    from juxsdk.dsse import Envelope

    data = read_envelope(path)
    Envelope.from_json(data)  # malformed or hostile: refused before anything is submitted
    return data


def _attach_attestation(client: Any, result: Any, name: str, envelope: bytes | None) -> dict[str, Any]:
    """Attest ``result.report`` (or check and keep ``envelope``) and keep it in the stores."""
    from juxsdk.attestation import attach, check_names_report

    written: str | None = None
    try:
        if envelope is None:
            made = client.attest(result.report, source=result.report.source)
            attached = made.attached
            if name != "-" and result.report.source not in (None, "<stdin>"):
                written = str(Path(name).with_name(Path(name).stem + ".intoto.json"))
                write_output(written, made.attestation.envelope)
        else:
            check_names_report(envelope, result.report.canonical_hash)
            attached = attach(client.stores, result.report.canonical_hash, envelope)
    except JuxError as exc:
        return {"ok": False, "file": written, "stored": [], "error": _err(exc)}
    return {
        "ok": not any(o.error is not None for o in attached),
        "file": written,
        "stored": [
            {"store": o.store, "ok": o.ok, "skipped": o.skipped, "error": _err(o.error),
             "location": o.attachment.location if o.attachment is not None else None}
            for o in attached
        ],
        "error": None,
    }


def _partly_done(entry: dict[str, Any]) -> bool:
    return any(o["ok"] for o in entry["stored"]) or any(o["ok"] for o in entry["published"])


@click.command(cls=JuxCommand, context_settings=CONTEXT_SETTINGS, epilog=examples("submit"))
@click.argument("files", nargs=-1, required=True, metavar="FILE|DIR|GLOB…")
@click.option("--project", help="Project name written into the report (overrides configuration and detection).")
@click.option(
    "--property",
    "properties",
    multiple=True,
    metavar="K=V",
    help="Extra report property, written before signing (repeatable).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Sign and store anew even when the same input was already stored with the same configuration; re-sign a "
    "report that is already signed (replace its signature), and let it replace a differently signed copy in the "
    "stores (an unsigned report never replaces a signed one).",
)
@click.option(
    "--merge", "merge", is_flag=True, help="Merge all the reports into one (see `jux merge`) and submit that one."
)
@click.option(
    "--attest",
    is_flag=True,
    help="Also attest each report (in-toto test-result, DSSE; see `jux attest`): write <name>.intoto.json "
    "beside it and keep it in the stores next to the report.",
)
@click.option(
    "--attestation",
    "attestation",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    metavar="ENVELOPE",
    help="Keep this attestation (e.g. written by pytest --jux-attest) in the stores next to the report it names.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per file, as a JSON list.")
@global_options(hidden=True)
def submit(
    files: tuple[str, ...],
    project: str | None,
    properties: tuple[str, ...],
    force: bool,
    merge: bool,
    attest: bool,
    attestation: Path | None,
    as_json: bool,
) -> None:
    """Sign (if a signer is configured), store and publish each FILE, per the configuration.

    The pipeline is `Jux.from_config()`: the configured signer (by default the `jux keygen` key),
    stores and publishers, with storage_mode deciding what a publish failure means. Prints one
    result per file. Exit 0 when every file went through, 4 when some steps or files failed but
    others succeeded, 3 (or 2 for configuration errors) when nothing succeeded.

    A FILE may be a directory (its TEST-*.xml, else every *.xml below it) or a quoted glob
    ('build/**/*.xml'). With --merge, all the reports are merged into one <testsuites> report
    (suites intact, totals recomputed, sources' hashes recorded) which is submitted instead.

    Submitting is idempotent: a FILE submitted again with the same configuration (signing key,
    project, properties) is not signed or stored again; the output says "already stored as
    sha256:…" (--force signs and stores it anew). A FILE that is already signed is kept as is: it
    is verified against the [trust] anchors when the configuration has some (a report that does
    not verify is not stored, exit 1), and otherwise stored and labelled UNVERIFIED.
    """
    from ._batch import expand_args, progress, progress_wanted

    get_state()
    props = parse_properties(properties)
    overrides: dict[str, Any] = {"project": project} if project else {}
    config = load_config(overrides or None)
    merged: Any = None
    if merge:
        import juxsdk
        from juxsdk.discovery import find_reports

        merged = juxsdk.merge_reports(find_reports(list(files)), source=files[0] if len(files) == 1 else "merged.xml")
        names, bad_args = [str(merged.source)], list[tuple[str, JuxError]]()
    else:
        names, bad_args = expand_args(files)
    envelope = _attestation_bytes(attestation, names, attest)
    client = make_client(config)
    if attest and getattr(client, "signer", None) is None:
        client.close()
        raise ConfigError(
            "--attest needs a signer, and none is configured", hint='set signer = "file" (see `jux keygen`)'
        )
    entries: list[dict[str, Any]] = []
    failures: list[JuxError] = []
    shown: list[tuple[str, dict[str, Any], JuxError | None]] = []
    bar = progress_wanted(len(names), quiet=as_json)

    def show(name: str, entry: dict[str, Any], error: JuxError | None) -> None:
        if as_json:
            return
        if bar:  # printed after the loop so that results are not interleaved with the bar
            shown.append((name, entry, error))
        elif error is not None:
            message = error.message if name in error.message else f"{name}: {error.message}"
            render_error(JuxError(message, hint=hint_of(error)))
        else:
            _print_result(entry)

    for arg, exc in bad_args:
        failures.append(exc)
        entries.append({"file": arg, "ok": False, "error": _err(exc)})
        show(arg, entries[-1], exc)
    try:
        with progress(names, label="submitting", enabled=bar) as items:
            for name in items:
                try:
                    if merged is not None:
                        result = client.submit(merged, properties=dict(props) or None, replace=force)
                    else:
                        data, source = read_input(name)
                        result = client.submit(data, source=source, properties=dict(props) or None, replace=force)
                except JuxError as exc:
                    failures.append(exc)
                    entry = {"file": name, "ok": False, "error": _err(exc)}
                    entries.append(entry)
                    show(name, entry, exc)
                    continue
                entry = result_to_dict(name, result)
                if attest or envelope is not None:
                    attested = _attach_attestation(client, result, name, envelope)
                    entry["attestation"] = attested
                    entry["ok"] = entry["ok"] and attested["ok"]
                entries.append(entry)
                show(name, entry, None)
    finally:
        close = getattr(client, "close", None)
        if callable(close):
            close()
    if as_json:
        echo_json(entries)
    else:
        bar = False
        for name, entry, error in shown:
            show(name, entry, error)
        if len(entries) > 1:
            done = sum(1 for e in entries if e["ok"])
            click.echo(f"{done} of {plural(len(entries), 'report')} submitted", err=True)
    if all(e["ok"] for e in entries):
        code = EXIT_OK
    elif any(e["ok"] or ("stored" in e and _partly_done(e)) for e in entries):
        code = EXIT_PARTIAL
    elif failures and len({f.exit_code for f in failures}) == 1 and len(failures) == len(entries):
        code = failures[0].exit_code
    else:
        code = EXIT_ERROR
    if code:
        raise click.exceptions.Exit(code)
