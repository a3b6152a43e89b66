"""``jux verify``: check signed reports against an explicit trust policy."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from juxsdk.errors import EXIT_ERROR, EXIT_OK, EXIT_VERIFICATION_FAILED, JuxError, VerificationError

from ._common import (
    CONTEXT_SETTINGS,
    JuxCommand,
    counts,
    echo_json,
    get_state,
    global_options,
    hint_of,
    journal,
    parse_datetime,
    read_input,
    status_word,
)

_PEM = click.Path(path_type=Path, dir_okay=False, exists=True)
F = TypeVar("F", bound=Callable[..., Any])

EXAMPLES = """\b
Examples:
  jux verify --cert signing-cert.pem junit.signed.xml
  jux verify --ca ca-bundle.pem 'build/**/*.signed.xml'      # every report a glob matches
  jux verify --pubkey key.pub.pem reports/ --json             # a directory, as JSON
  jux verify --cert old-cert.pem --at 2025-01-31T12:00:00Z old.signed.xml
"""


def trust_policy(certs: tuple[Path, ...], pubkeys: tuple[Path, ...], cas: tuple[Path, ...], unsafe: bool) -> Any:
    kinds = sum(bool(x) for x in (certs, pubkeys, cas, unsafe))
    if kinds != 1:
        raise click.UsageError(
            "give exactly one trust policy: --cert PEM (pinned certificate), --pubkey PEM (pinned key), "
            "--ca BUNDLE (CA bundle) or --unsafe-accept-any-key"
        )
    from juxsdk import trust

    if unsafe:
        return trust.UnsafeAcceptAnyKey()
    return trust.policy_from_files(certs=certs, pubkeys=pubkeys, cas=cas)


def trust_options(f: F) -> F:
    """Add the trust-policy options ``--cert/--pubkey/--ca/--unsafe-accept-any-key/--at``.

    Shared by ``jux verify`` and ``jux verify-attestation``; the command receives ``certs``,
    ``pubkeys``, ``cas``, ``unsafe`` and ``at``. Build the policy with :func:`trust_policy`.
    """
    for decorator in reversed(
        (
            click.option(
                "--cert",
                "certs",
                type=_PEM,
                multiple=True,
                help="Trust only this signing certificate (PEM; repeatable, a file may hold several).",
            ),
            click.option(
                "--pubkey",
                "pubkeys",
                type=_PEM,
                multiple=True,
                help="Trust only this public key (PEM public key or certificate; repeatable).",
            ),
            click.option(
                "--ca",
                "cas",
                type=_PEM,
                multiple=True,
                help="Trust certificates that chain to a root in this CA bundle (PEM; repeatable).",
            ),
            click.option(
                "--unsafe-accept-any-key",
                "unsafe",
                is_flag=True,
                help="Accept ANY key: checks integrity only, not who signed. Never use it to establish trust.",
            ),
            click.option(
                "--at",
                "at",
                metavar="ISO8601",
                help="Check certificate validity at this time instead of now (e.g. 2025-01-31T12:00:00Z).",
            ),
        )
    ):
        f = decorator(f)
    return f


def _reason(message: str, name: str) -> str:
    """The error message without a leading ``<file>:`` that repeats the file name."""
    base = name.rsplit("/", 1)[-1]
    for prefix in (f"{name}: ", f"{base}: ", f"{name}:", f"{base}:"):
        if message.startswith(prefix):
            return message[len(prefix) :].lstrip()
    return message


def _error_dict(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, JuxError):
        return {"type": type(exc).__name__, "message": exc.message, "hint": hint_of(exc)}
    return {"type": type(exc).__name__, "message": f"internal error: {exc}", "hint": None}


def _hash_of(data: bytes) -> str | None:
    """The canonical hash of a report that failed verification (for the signing log), if it parses."""
    import juxsdk

    try:
        return juxsdk.parse_report(data).canonical_hash
    except JuxError:
        return None


def describe_trust(
    certs: tuple[Path, ...], pubkeys: tuple[Path, ...], cas: tuple[Path, ...], unsafe: bool
) -> str:
    """The trust policy the options give, in words (the ``trust:`` line of ``jux verify``)."""
    if unsafe:
        return "UNSAFE: any key accepted (signer identity not checked)"
    if certs:
        return "pinned certificates in " + ", ".join(map(str, certs))
    if pubkeys:
        return "pinned public keys in " + ", ".join(map(str, pubkeys))
    return "certificates that chain to a CA in " + ", ".join(map(str, cas))


@click.command(cls=JuxCommand, context_settings=CONTEXT_SETTINGS, epilog=EXAMPLES)
@click.argument("files", nargs=-1, required=True, metavar="FILE|DIR|GLOB…|-")
@trust_options
@click.option(
    "--unsafe-allow-weak-keys",
    "allow_weak",
    is_flag=True,
    help="Accept RSA keys from 1024 bits and EC curves other than P-256/P-384/P-521. UNSAFE: only to "
    "read old reports signed with such keys.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per file, as a JSON list.")
@global_options(hidden=True)
def verify(
    files: tuple[str, ...],
    certs: tuple[Path, ...],
    pubkeys: tuple[Path, ...],
    cas: tuple[Path, ...],
    unsafe: bool,
    allow_weak: bool,
    at: str | None,
    as_json: bool,
) -> None:
    """Verify the XMLDSig signature of each FILE ('-' reads stdin) against a trust policy.

    A FILE may be a directory (its TEST-*.xml, else every *.xml below it) or a quoted glob
    ('build/**/*.signed.xml'), as in `jux sign`, `jux submit` and `jux merge`. Prints the trust
    policy once (on stderr), then one line per file on stdout: OK with the signer and the signed counts (which come
    only from the signed content), or FAIL with the reason; a file that cannot be read or parsed
    (or a directory/glob that holds no report) prints ERROR. Every file is checked whatever
    happened to the others, and a last line on stderr gives the tally (N verified, M failed). Exit 0 when
    every file verified, 1 when any signature failed (and nothing worse happened), 3 when a file
    could not be read or parsed.
    """
    import juxsdk

    from ._batch import expand_args

    get_state()
    when = parse_datetime(at, option="--at") if at else None
    policy = trust_policy(certs, pubkeys, cas, unsafe)
    names, bad_args = expand_args(files)
    if "-" in names and len(names) > 1:
        raise click.UsageError("'-' (stdin) cannot be combined with other inputs")
    if not as_json:
        click.echo(f"trust: {describe_trust(certs, pubkeys, cas, unsafe)}", err=True)
    results: list[dict[str, Any]] = []
    code = EXIT_OK

    def failed(name: str, exc: BaseException, data: bytes = b"") -> None:
        # VerificationError: FAIL (exit 1); any other error, even a bug: ERROR (exit 3)
        nonlocal code
        is_fail = isinstance(exc, VerificationError)
        if is_fail:
            journal("verify", canonical_hash=_hash_of(data), backend="jux verify", outcome="failed",
                    detail=type(exc).__name__)
        if not isinstance(exc, JuxError) and get_state().verbose:
            import traceback

            traceback.print_exc()
        code = max(code, EXIT_VERIFICATION_FAILED if is_fail else EXIT_ERROR)
        results.append({"file": name, "verified": False, "error": _error_dict(exc)})
        if as_json:
            return
        label = "FAIL" if is_fail else "ERROR"
        message = exc.message if isinstance(exc, JuxError) else f"internal error: {type(exc).__name__}: {exc}"
        click.echo(f"{status_word(label)} {name}: {_reason(message, name)}")
        hint = hint_of(exc) if isinstance(exc, JuxError) else "this is a bug in juxsdk; rerun with -v and report it"
        if hint:
            click.echo(f"{' ' * len(label)} hint: {hint}")

    for arg, exc in bad_args:
        failed(arg, exc)
    for name in names:
        data = b""
        try:
            data, source = read_input(name)
            verified = juxsdk.verify_report(
                data, policy, at=when, source=source, unsafe_allow_weak_keys=allow_weak
            )
        except click.UsageError:
            raise
        except Exception as exc:  # noqa: BLE001 - one bad file never stops the others
            failed(name, exc, data)
            continue
        journal("verify", canonical_hash=verified.canonical_hash, signature=verified.signature,
                backend="jux verify")
        entry = verified.to_dict()
        entry["file"] = name
        results.append(entry)
        if not as_json:
            s = verified.summary
            sig = verified.signature
            click.echo(
                f"{status_word('OK')} {name}: signed by {sig.signer} ({sig.algorithm}); "
                f"{counts(s.tests, s.failures, s.errors, s.skipped)}"
                + ("; UNSAFE: signer identity not checked" if unsafe else "")
            )
            for warning in verified.warnings:
                click.echo(f"     warning: {warning}")
    if as_json:
        echo_json(results)
    else:
        ok = sum(1 for r in results if r["verified"])
        click.echo(f"{ok} verified, {len(results) - ok} failed", err=True)
    if code:
        raise click.exceptions.Exit(code)
