"""``jux merge``: combine several JUnit XML reports (files, directories, globs) into one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ._common import (
    CONTEXT_SETTINGS,
    JuxCommand,
    counts,
    echo_json,
    get_state,
    global_options,
    load_config,
    parse_datetime,
    parse_properties,
    plural,
    write_output,
)
from ._examples import examples

_PEM = click.Path(path_type=Path, dir_okay=False, exists=True)


def merge_trust(certs: tuple[Path, ...], pubkeys: tuple[Path, ...], cas: tuple[Path, ...]) -> Any:
    """Trust policy for signed inputs, or None when no anchor was given.

    Raises:
        click.UsageError: more than one kind of anchor was given (exit code 2).
    """
    if sum(bool(x) for x in (certs, pubkeys, cas)) > 1:
        raise click.UsageError("give one kind of trust anchor for signed inputs: --cert, --pubkey or --ca")
    if not (certs or pubkeys or cas):
        return None
    from juxsdk.trust import policy_from_files

    return policy_from_files(certs=certs, pubkeys=pubkeys, cas=cas)


def provenance(report: Any, *, project: str | None, config: Any) -> Any:
    """Add the collected provenance properties (as ``jux submit`` does) without replacing any."""
    import juxsdk

    md = config.metadata
    collected = juxsdk.collect_metadata(
        project=project or config.project or report.project,
        env_allowlist=tuple(md.env_allowlist),
        include_username=md.include_username,
        harness="jux merge",
        git=md.git,
        extra=dict(md.properties) or None,
    )
    return juxsdk.add_properties(report, collected, replace=False)


@click.command(cls=JuxCommand, context_settings=CONTEXT_SETTINGS, epilog=examples("merge"))
@click.argument("inputs", nargs=-1, required=True, metavar="FILE|DIR|GLOB…")
@click.option(
    "-o",
    "--output",
    default="-",
    metavar="OUT|-",
    show_default=True,
    help="Where to write the merged report ('-' is stdout). An existing file is replaced atomically.",
)
@click.option("--sign", "do_sign", is_flag=True, help="Sign the merged report (configured signer, or --key).")
@click.option("--signer", "signer_name", metavar="NAME", help="Signer backend for --sign (default: configuration).")
@click.option("--key", type=click.Path(path_type=Path, dir_okay=False), help="Private key for --sign (file signer).")
@click.option(
    "--signing-cert",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Certificate (chain) to embed when signing with --key.",
)
@click.option("--cert", "certs", type=_PEM, multiple=True, help="Signed inputs: trust this certificate (PEM).")
@click.option("--pubkey", "pubkeys", type=_PEM, multiple=True, help="Signed inputs: trust this public key (PEM).")
@click.option("--ca", "cas", type=_PEM, multiple=True, help="Signed inputs: trust this CA bundle (PEM).")
@click.option("--at", metavar="ISO8601", help="Signed inputs: check certificate validity at this time.")
@click.option("--project", help="Project name written into the merged report.")
@click.option("--property", "properties", multiple=True, metavar="K=V", help="Extra property (repeatable).")
@click.option("--name", "root_name", metavar="NAME", help="name attribute of the merged <testsuites> root.")
@click.option("--no-metadata", is_flag=True, help="Do not add provenance properties (git, CI, host, time).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary (needs -o OUT).")
@global_options(hidden=True)
def merge(
    inputs: tuple[str, ...],
    output: str,
    do_sign: bool,
    signer_name: str | None,
    key: Path | None,
    signing_cert: Path | None,
    certs: tuple[Path, ...],
    pubkeys: tuple[Path, ...],
    cas: tuple[Path, ...],
    at: str | None,
    project: str | None,
    properties: tuple[str, ...],
    root_name: str | None,
    no_metadata: bool,
    as_json: bool,
) -> None:
    """Merge JUnit XML reports into one <testsuites> report (optionally signed).

    Each input may be a file, a directory (its TEST-*.xml files when it holds Surefire output,
    else every *.xml below it) or a quoted glob ('build/**/*.xml'). Suites are kept intact,
    totals recomputed, and each source's canonical hash recorded as a jux:source:<n> property.
    A signed input is verified first against --cert/--pubkey/--ca (only its signed content is
    merged) and refused without one. Any unusable input stops the merge: a partial merge would
    misreport the run.
    """
    import juxsdk
    from juxsdk.discovery import find_reports

    from .sign_cmd import signer_overrides, with_configured_signer

    get_state()
    if as_json and output == "-":
        raise click.UsageError("--json prints to stdout: write the report elsewhere with -o OUT")
    when = parse_datetime(at, option="--at") if at else None
    trust = merge_trust(certs, pubkeys, cas)
    props = parse_properties(properties)
    if project:
        props.insert(0, ("project", project))
    paths = find_reports(list(inputs))
    merged = juxsdk.merge_reports(
        paths,
        trust=trust,
        properties=props or None,
        at=when,
        source=None if output == "-" else output,
        name=root_name,
    )
    if not no_metadata:
        merged = provenance(merged, project=project, config=load_config())
    result: Any = merged
    if do_sign or key is not None or signer_name is not None:
        result = with_configured_signer(
            signer_overrides(signer_name, key, signing_cert),
            reading_stdin=False,
            action=lambda signer: juxsdk.sign_report(merged, signer),
        )
    write_output(output, result.data)
    s = result.summary
    signature = getattr(result, "signature", None)
    if as_json:
        echo_json(
            {
                "output": output,
                "sources": [str(p) for p in paths],
                "canonical_hash": result.canonical_hash,
                "summary": s.to_dict(),
                "signed": signature is not None,
                "signature": signature.to_dict() if signature is not None else None,
            }
        )
        return
    signed = f"signed by {signature.signer}" if signature is not None else "unsigned"
    click.echo(
        f"merged {plural(len(paths), 'report')} -> {output}: {counts(s.tests, s.failures, s.errors, s.skipped)}; "
        f"{signed}; {result.canonical_hash}",
        err=True,
    )
