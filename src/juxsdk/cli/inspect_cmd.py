"""``jux inspect``: what a report says about itself — NOT verified."""

from __future__ import annotations

from typing import Any

import click

from ._common import CONTEXT_SETTINGS, JuxCommand, echo_json, get_state, global_options, plural, read_input
from ._examples import examples

NOT_VERIFIED = "NOT VERIFIED: signature details are read from the document, not checked (use `jux verify`)"


def _algorithm_name(uri: str | None) -> str | None:
    """``http://www.w3.org/2001/04/xmldsig-more#rsa-sha256`` → ``rsa-sha256`` (RFC 6931 URIs)."""
    if not uri:
        return None
    return uri.rpartition("#")[2] or uri


def describe_signatures(data: bytes, source: str) -> list[dict[str, Any]]:
    """Read each ``ds:Signature``'s claims (algorithm, certificate, key) WITHOUT verifying them.

    Args:
        data: The report bytes (already known to be well-formed).
        source: Name used in parse errors.

    Returns:
        One dict per signature: ``algorithm``, ``parent``, ``certificates`` (subject, issuer,
        validity, fingerprint), ``key_value`` (bool), ``verified`` (always False).
    """
    import base64

    from juxsdk._xml import DS_NS, local_name, parse_xml

    tree = parse_xml(data, source=source)
    root = tree.getroot()
    out: list[dict[str, Any]] = []
    for sig in root.iter(f"{{{DS_NS}}}Signature"):
        method = sig.find(f"{{{DS_NS}}}SignedInfo/{{{DS_NS}}}SignatureMethod")
        digest = sig.find(f".//{{{DS_NS}}}Reference/{{{DS_NS}}}DigestMethod")
        certs: list[dict[str, str]] = []
        for el in sig.iterfind(f"{{{DS_NS}}}KeyInfo//{{{DS_NS}}}X509Certificate"):
            try:
                from cryptography import x509

                from juxsdk.keys import describe_certificates

                der = base64.b64decode("".join((el.text or "").split()), validate=True)
                certs.extend(describe_certificates([x509.load_der_x509_certificate(der)]))
            except ValueError:
                certs.append({"subject": "<unparseable certificate>"})
        parent = sig.getparent()
        out.append(
            {
                "algorithm": _algorithm_name(method.get("Algorithm") if method is not None else None),
                "digest": _algorithm_name(digest.get("Algorithm") if digest is not None else None),
                "parent": local_name(parent.tag) if parent is not None else None,
                "child_of_root": parent is root,
                "signer": certs[0]["subject"] if certs else None,
                "certificates": certs,
                "key_value": sig.find(f"{{{DS_NS}}}KeyInfo/{{{DS_NS}}}KeyValue") is not None,
                "verified": False,
            }
        )
    return out


#: ``jux inspect`` shows a property value whole up to this many characters (``--full``: always).
SHORT_VALUE = 100


def shorten(value: str, *, limit: int = SHORT_VALUE) -> str:
    """A property value on one line of at most about ``limit`` characters.

    A longer or multi-line value is cut and ends with ``… (N characters; --full shows it)``.
    """
    first = value.split("\n", 1)[0]
    if len(value) <= limit and first == value:
        return value
    return f"{first[:limit].rstrip()}… ({len(value)} characters; --full shows it)"


@click.command(cls=JuxCommand, context_settings=CONTEXT_SETTINGS, epilog=examples("inspect"))
@click.argument("file", metavar="FILE|-")
@click.option(
    "--full",
    is_flag=True,
    help=f"Show long property values whole (else cut at {SHORT_VALUE} characters; --json is always whole).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@global_options(hidden=True)
def inspect(file: str, full: bool, as_json: bool) -> None:
    """Show a report's summary, properties, canonical hash and signature — without verifying.

    Everything shown is what the document claims. A signature's signer and algorithm are read,
    not checked: use `jux verify` before trusting any of it.
    """
    import juxsdk

    get_state()
    data, source = read_input(file)
    report = juxsdk.parse_report(data, source=source)
    signatures = describe_signatures(data, source) if report.signed else []
    info: dict[str, Any] = {
        "file": file,
        "verified": False,
        "size": len(data),
        "canonical_hash": report.canonical_hash,
        "summary": report.summary.to_dict(),
        "project": report.project,
        "properties": [list(p) for p in report.properties],
        "signed": report.signed,
        "signatures": signatures,
    }
    if as_json:
        echo_json(info)
        return
    s = report.summary
    click.echo(f"file:            {file} ({len(data)} bytes)")
    click.echo(f"canonical hash:  {report.canonical_hash}")
    click.echo(
        f"summary:         {plural(s.tests, 'test')}, {s.passed} passed, {plural(s.failures, 'failure')}, "
        f"{plural(s.errors, 'error')}, {s.skipped} skipped, {s.time:.3f} s, {plural(s.suites, 'suite')}"
    )
    if report.project:
        click.echo(f"project:         {report.project}")
    if report.properties:
        click.echo("properties:")
        width = min(max(len(k) for k, _ in report.properties), 32)
        for key, value in report.properties:
            click.echo(f"  {key:<{width}}  {value if full else shorten(value)}")
    else:
        click.echo("properties:      (none)")
    if not signatures:
        click.echo("signature:       none")
    for i, sig in enumerate(signatures, 1):
        label = "signature:" if len(signatures) == 1 else f"signature {i}:"
        signer = sig["signer"] or ("public key only (KeyValue)" if sig["key_value"] else "no key info")
        click.echo(f"{label:<16} {sig['algorithm']} by {signer} (claimed, not verified)")
        if not sig["child_of_root"]:
            click.echo(f"                 located under <{sig['parent']}>, not the root element")
        for cert in sig["certificates"][:1]:
            if "not_after" in cert:
                click.echo(
                    f"{'':17}certificate valid {cert['not_before'][:10]} .. {cert['not_after'][:10]}, "
                    f"{cert['fingerprint']}"
                )
    if len(signatures) > 1:
        click.echo("                 more than one signature: verification will refuse this report")
    click.echo(NOT_VERIFIED)
