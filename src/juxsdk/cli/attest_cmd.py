"""``jux attest`` and ``jux verify-attestation``: in-toto test-result attestations (DSSE)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from juxsdk.errors import EXIT_ERROR, EXIT_VERIFICATION_FAILED, JuxError, VerificationError

from ._common import (
    CONTEXT_SETTINGS,
    JuxCommand,
    echo_json,
    get_state,
    global_options,
    hint_of,
    load_config,
    make_client,
    parse_datetime,
    read_input,
    renamed_option,
    short_hash,
    status_word,
    write_output,
)
from .sign_cmd import signer_overrides, with_configured_signer
from .verify_cmd import _error_dict, _reason, trust_options, trust_policy

_FILE = click.Path(path_type=Path, dir_okay=False, exists=True)
_PEM = click.Path(path_type=Path, dir_okay=False, exists=True)


def _default_output(source: str) -> str:
    if source in ("-", "<stdin>"):
        return "-"
    path = Path(source)
    return str(path.with_name(path.stem + ".intoto.json"))


def _read_envelope(name: str) -> bytes:
    from juxsdk.attestation import read_envelope
    from juxsdk.dsse import DEFAULT_MAX_ENVELOPE_BYTES
    from juxsdk.errors import AttestationError

    if name != "-":
        return read_envelope(name)
    data = sys.stdin.buffer.read(DEFAULT_MAX_ENVELOPE_BYTES + 1)
    if len(data) > DEFAULT_MAX_ENVELOPE_BYTES:
        raise AttestationError(f"stdin is over the limit of {DEFAULT_MAX_ENVELOPE_BYTES} bytes")
    return data


def _report_trust(certs: tuple[Path, ...], pubkeys: tuple[Path, ...], cas: tuple[Path, ...]) -> Any:
    if not (certs or pubkeys or cas):
        return None
    return trust_policy(certs, pubkeys, cas, False)


def _describe_subject(subject: Any) -> str:
    digest = subject.get("digest") or {}
    algorithm, value = next(iter(digest.items()), ("?", "?"))
    name = subject.get("name")
    return f"{algorithm}:{str(value)[:16]}…" + (f" {name}" if name else "")


def _say(message: str, to_stderr: bool) -> None:
    click.echo(message, err=to_stderr)


@click.command(cls=JuxCommand, context_settings=CONTEXT_SETTINGS)
@click.argument("report", required=False, metavar="[REPORT|-]")
@click.option(
    "-o",
    "--output",
    metavar="OUT|-",
    help="Where to write the DSSE envelope (default: REPORT's name with .intoto.json; '-' is stdout; "
    "with --cosign: ENVELOPE itself).",
)
@click.option(
    "--subject",
    "subjects",
    type=_FILE,
    multiple=True,
    metavar="FILE",
    help="An artifact the results are about, recorded with its SHA-256 (repeatable).",
)
@click.option("--commit", metavar="SHA", help="The git commit subject (default: the report's signed git:commit).")
@click.option("--url", metavar="URL", help="Link to the CI run (default: the report's signed ci:build_url).")
@click.option(
    "--test-config",
    "test_configs",
    type=_FILE,
    multiple=True,
    metavar="FILE",
    help="A file that configured the test run (pytest.ini, pom.xml…), recorded in 'configuration' (repeatable).",
)
@click.option("--no-detect-ci", is_flag=True, help="Do not record the detected CI pipeline file.")
@click.option("--signed-output", metavar="PATH", help="Also write the signed report here (when REPORT was unsigned).")
@click.option(
    "--cosign",
    "cosign_path",
    type=_FILE,
    metavar="ENVELOPE",
    help="Add a signature to this attestation instead of making one (no REPORT).",
)
@click.option(
    "--trust-cert",
    "trust_certs",
    type=_PEM,
    multiple=True,
    metavar="PEM",
    help="Who may have signed REPORT (or, with --cosign, the existing signatures): a pinned certificate.",
)
@click.option("--trust-pubkey", "trust_pubkeys", type=_PEM, multiple=True, metavar="PEM", help="… a pinned public key.")
@click.option("--trust-ca", "trust_cas", type=_PEM, multiple=True, metavar="PEM", help="… a CA bundle.")
@click.option("--signer", "signer_name", metavar="NAME", help="Signer backend (default: from configuration).")
@click.option("--key", type=click.Path(path_type=Path, dir_okay=False), help="Private key (file signer).")
@click.option(
    "--signing-cert",
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="PEM",
    help="Certificate (chain) to embed in the envelope's signature (file signer).",
)
@renamed_option(
    "--cert",
    "--signing-cert",
    "signing_cert",
    meaning="the certificate to embed; trust anchors are --trust-cert/--trust-pubkey/--trust-ca",
    type=click.Path(path_type=Path, dir_okay=False),
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
@global_options(hidden=True)
def attest(
    report: str | None,
    output: str | None,
    subjects: tuple[Path, ...],
    commit: str | None,
    url: str | None,
    test_configs: tuple[Path, ...],
    no_detect_ci: bool,
    signed_output: str | None,
    cosign_path: Path | None,
    trust_certs: tuple[Path, ...],
    trust_pubkeys: tuple[Path, ...],
    trust_cas: tuple[Path, ...],
    signer_name: str | None,
    key: Path | None,
    signing_cert: Path | None,
    as_json: bool,
) -> None:
    """Attest REPORT's test results: an in-toto test-result Statement in a DSSE envelope.

    The Statement (https://in-toto.io/attestation/test-result/v0.1) is built from the report's
    signed, verified content: result (FAILED when a test failed or errored, else PASSED), test
    names as classname::name, the CI run URL, the report's canonical hash and file digest,
    and the git commit (plus --subject artifacts) as subjects. The envelope is signed with the
    configured signer (file key, PKCS#11 token…), and every configured store that holds the
    report keeps it next to the report (`jux cache show`).

    A signed REPORT must verify with the attesting key, or with the --trust-* options. An
    unsigned REPORT goes through the configured pipeline first, exactly as `jux submit` does
    (provenance, sign, store, publish).

    \b
    Examples:
      jux attest junit.xml                                  # -> junit.intoto.json
      jux attest junit.xml --subject dist/app-1.0.whl -o tests.intoto.json
      jux attest signed.xml --trust-cert ci-cert.pem        # report signed by another key
      jux attest --cosign tests.intoto.json --key rm-key.pem --signing-cert rm-cert.pem
      jux verify-attestation --cert cert.pem --report junit.xml junit.intoto.json

    Exit 0 on success, 1 when a signed REPORT (or, with --cosign and trust options, the
    envelope) does not verify, 2 for usage or configuration errors, 3 otherwise.
    """
    get_state()
    overrides = signer_overrides(signer_name, key, signing_cert)
    policy = _report_trust(trust_certs, trust_pubkeys, trust_cas)
    if cosign_path is not None:
        if report is not None:
            raise click.UsageError("give either REPORT or --cosign ENVELOPE, not both")
        _cosign(cosign_path, output or str(cosign_path), overrides, policy, as_json)
        return
    if report is None:
        raise click.UsageError("no report given: pass REPORT (or '-' for stdin), or --cosign ENVELOPE")
    _attest_report(
        report,
        output=output or _default_output(report),
        overrides=overrides,
        policy=policy,
        options={
            "subjects": list(subjects),
            "commit": commit,
            "url": url,
            "configuration": list(test_configs),
            "detect_ci": not no_detect_ci,
        },
        signed_output=signed_output,
        as_json=as_json,
    )


def _cosign(path: Path, output: str, overrides: dict[str, Any], policy: Any, as_json: bool) -> None:
    from juxsdk.attestation import cosign

    data = _read_envelope(str(path))
    new = with_configured_signer(
        overrides, reading_stdin=False, action=lambda signer: cosign(data, signer, trust=policy)
    )
    write_output(output, new)
    from juxsdk.dsse import Envelope

    count = len(Envelope.from_json(new).signatures)
    if as_json:
        echo_json({"envelope": output, "signatures": count})
    else:
        _say(f"co-signed {path} -> {output} ({count} signatures)", output == "-")


def _attest_report(
    report_name: str,
    *,
    output: str,
    overrides: dict[str, Any],
    policy: Any,
    options: dict[str, Any],
    signed_output: str | None,
    as_json: bool,
) -> None:
    import juxsdk

    data, source = read_input(report_name)
    parsed = juxsdk.parse_report(data, source=source)
    client = make_client(load_config(overrides or None))
    try:
        result = client.attest(parsed, source=source, trust=policy, **options)
    finally:
        client.close()
    made = result.attestation
    write_output(output, made.envelope)
    if made.signed_report is not None and signed_output:
        write_output(signed_output, made.signed_report.data)
    elif result.submitted is not None and signed_output:
        write_output(signed_output, result.submitted.report.data)
    if as_json:
        entry = made.to_dict()
        entry.update(
            file=report_name,
            envelope=output,
            attached=[
                {
                    "store": o.store,
                    "ok": o.ok,
                    "location": o.attachment.location if o.attachment is not None else None,
                    "skipped": o.skipped,
                    "error": _error_dict(o.error) if o.error is not None else None,
                }
                for o in result.attached
            ],
        )
        echo_json(entry)
        return
    quiet = output == "-"
    tests = made.to_dict()["tests"]
    _say(
        f"attested {source} -> {output}: {made.result} ({tests['passed']} passed, {tests['warned']} warned, "
        f"{tests['failed']} failed), report sha256:{short_hash(made.report_canonical_hash)}",
        quiet,
    )
    for subject in made.statement["subject"]:
        _say(f"     subject: {_describe_subject(subject)}", quiet)
    if result.submitted is not None:
        _say("     the report was unsigned: signed and submitted through the configured pipeline", quiet)
    for outcome in result.attached:
        if outcome.ok:
            _say(f"     kept in store {outcome.store}: {outcome.attachment.location}", quiet)
        elif outcome.error is not None:
            _say(f"     store {outcome.store} failed: {outcome.error.message}", quiet)


# --------------------------------------------------------------------------------------------
# jux verify-attestation
# --------------------------------------------------------------------------------------------


@click.command("verify-attestation", cls=JuxCommand, context_settings=CONTEXT_SETTINGS)
@click.argument("envelope", metavar="ENVELOPE|-")
@trust_options
@click.option(
    "--threshold",
    type=click.IntRange(1, 16),
    default=1,
    show_default=True,
    help="Distinct trusted keys that must have signed (co-signing).",
)
@click.option(
    "--subject",
    "subjects",
    type=_FILE,
    multiple=True,
    metavar="FILE",
    help="An artifact that must be a subject of the attestation (repeatable).",
)
@click.option(
    "--report",
    "report",
    type=_FILE,
    metavar="SIGNED.xml",
    help="A signed report that must verify and be the one the attestation names (canonical hash).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@global_options(hidden=True)
def verify_attestation(
    envelope: str,
    certs: tuple[Path, ...],
    pubkeys: tuple[Path, ...],
    cas: tuple[Path, ...],
    unsafe: bool,
    at: str | None,
    threshold: int,
    subjects: tuple[Path, ...],
    report: Path | None,
    as_json: bool,
) -> None:
    """Verify a test-result attestation (DSSE envelope) against a trust policy.

    Checks the DSSE signatures (at least --threshold distinct trusted keys; a signature's
    certificate chain, when it carries one, must satisfy --cert/--ca at --at), the payload
    type, the in-toto Statement and test-result predicate types and fields; with --subject
    that each artifact is a subject; with --report that the report verifies (same trust
    policy) and is the one the attestation names. Prints the predicate summary.

    \b
    Examples:
      jux verify-attestation --cert cert.pem junit.intoto.json
      jux verify-attestation --ca ca.pem --report junit.xml --subject dist/app.whl att.json
      jux verify-attestation --pubkey ci.pem --pubkey rm.pem --threshold 2 att.json

    Exit 0 when it verifies, 1 when it does not (or is malformed), 2 for usage errors, 3 when
    a file cannot be read.
    """
    import juxsdk

    get_state()
    when = parse_datetime(at, option="--at") if at else None
    policy = trust_policy(certs, pubkeys, cas, unsafe)
    try:
        data = _read_envelope(envelope)
        report_data, report_source = read_input(str(report)) if report is not None else (None, None)
        verified = juxsdk.verify_attestation(
            data,
            policy,
            threshold=threshold,
            at=when,
            subjects=list(subjects),
            report=report_data,
            report_source=report_source,
        )
    except JuxError as exc:
        if exc.exit_code not in (EXIT_VERIFICATION_FAILED, EXIT_ERROR):
            raise  # usage or configuration: rendered as error/hint, exit 2
        failed = isinstance(exc, VerificationError)
        if as_json:
            echo_json({"file": envelope, "verified": False, "error": _error_dict(exc)})
        else:
            label = "FAIL" if failed else "ERROR"
            click.echo(f"{status_word(label)} {envelope}: {_reason(exc.message, envelope)}")
            if hint_of(exc):
                click.echo(f"{' ' * len(label)} hint: {hint_of(exc)}")
        raise click.exceptions.Exit(EXIT_VERIFICATION_FAILED if failed else EXIT_ERROR) from None
    if as_json:
        echo_json({"file": envelope, **verified.to_dict()})
        return
    s = verified.statement
    click.echo(
        f"{status_word('OK')} {envelope}: test-result {s.result} ({len(s.passed_tests)} passed, "
        f"{len(s.warned_tests)} warned, "
        f"{len(s.failed_tests)} failed)"
    )
    for info, why in zip(verified.signatures, verified.trust, strict=True):
        click.echo(f"     signed by {info.signer} ({info.algorithm}); trust: {why}")
    click.echo(f"     signatures: {len(verified.signatures)} trusted, {verified.threshold} required")
    if s.report_canonical_hash:
        state = "verified" if verified.report is not None else "not checked (--report)"
        click.echo(f"     report: {s.report_canonical_hash} {state}")
    for subject in s.subjects:
        click.echo(f"     subject: {_describe_subject(subject)}")
    if s.url:
        click.echo(f"     url: {s.url}")
    for name in s.failed_tests[:20]:
        click.echo(f"     failed: {name}")
    if len(s.failed_tests) > 20:
        click.echo(f"     … and {len(s.failed_tests) - 20} more failed tests (--json lists them all)")
    for warning in verified.warnings:
        click.echo(f"     warning: {warning}")
