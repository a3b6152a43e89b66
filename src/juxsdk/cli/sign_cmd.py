"""``jux sign``: sign one report (file or stdin) and write the exact signed bytes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from juxsdk.errors import ConfigError, JuxError, SigningError

from ._common import (
    CONTEXT_SETTINGS,
    JuxCommand,
    echo_err,
    get_state,
    global_options,
    journal,
    load_config,
    make_signer,
    read_input,
    write_output,
)

if TYPE_CHECKING:  # pragma: no cover
    from juxsdk.protocols import Signer


def signer_overrides(signer_name: str | None, key: Path | None, cert: Path | None) -> dict[str, Any]:
    """Configuration overrides for ``--signer/--key/--cert`` (``--key`` implies the file signer)."""
    overrides: dict[str, Any] = {}
    name = signer_name or ("file" if key is not None or cert is not None else None)
    if name is not None:
        overrides["signer"] = name
        overrides["sign"] = True
    options: dict[str, Any] = {}
    if key is not None:
        options["key"] = str(key)
    if cert is not None:
        options["certificate"] = str(cert)
    if options:
        overrides["backends"] = {name or "file": options}
    return overrides


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _secret_request(exc: JuxError, config: Any) -> tuple[str, str] | None:
    """``(option_path, prompt)`` when ``exc`` says a secret (key passphrase, PIN) is missing."""
    option_path = getattr(exc, "option_path", None)
    if isinstance(option_path, str) and option_path:
        return option_path, str(getattr(exc, "prompt", None) or "Passphrase")
    if isinstance(exc, SigningError | ConfigError) and "passphrase" in exc.message.lower():
        name = config.active_signer or "file"
        return f"backends.{name}.passphrase", f"Passphrase for the {name!r} signing key"
    return None


def _can_prompt(reading_stdin: bool) -> bool:
    if reading_stdin:
        return False
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def secret_override(option_path: str, prompt: str) -> dict[str, Any]:
    """Prompt without echo and return ``{a: {b: {c: Secret(value)}}}`` for ``option_path`` ``a.b.c``."""
    from juxsdk.config import Secret

    value = click.prompt(prompt, hide_input=True, err=True)
    override: Any = Secret(value=str(value))
    for part in reversed(option_path.split(".")):
        override = {part: override}
    result: dict[str, Any] = override
    return result


def with_configured_signer(overrides: dict[str, Any], *, reading_stdin: bool, action: Any) -> Any:
    """Load config, build the signer and return ``action(signer)``; prompt once for a secret.

    A signer whose encrypted key (or token PIN) has no configured secret raises
    :class:`juxsdk.errors.SecretRequiredError`; on a terminal we ask for it (no echo) and retry
    once with the value as an override. Stdin carrying the report cannot be used to prompt.
    """
    config = load_config(overrides or None)
    try:
        return _with_signer(config, action)
    except JuxError as exc:
        request = _secret_request(exc, config)
        if request is None or not _can_prompt(reading_stdin):
            raise
        echo_err("note", exc.message)
    config = load_config(_merge(overrides, secret_override(*request)))
    return _with_signer(config, action)


def _with_signer(config: Any, action: Any) -> Any:
    signer: Signer = make_signer(config)
    try:
        result = action(signer)
    except JuxError as exc:
        journal("sign", backend=signer.name, outcome="failed", detail=type(exc).__name__)
        raise
    finally:
        signer.close()
    signature = getattr(result, "signature", None)
    if signature is not None:  # a SignedReport: what `jux sign` and `jux merge --sign` made
        journal("sign", canonical_hash=result.canonical_hash, signature=signature, backend=signer.name)
    return result


@click.command(cls=JuxCommand, context_settings=CONTEXT_SETTINGS)
@click.argument("files", nargs=-1, metavar="[FILE|DIR|GLOB…|-]")
@click.option(
    "-o",
    "--output",
    default="-",
    metavar="OUT|-",
    show_default=True,
    help="Where to write the signed report ('-' is stdout). An existing file is replaced atomically.",
)
@click.option("--force", is_flag=True, help="Replace an existing signature instead of refusing.")
@click.option("--signer", "signer_name", metavar="NAME", help="Signer backend (default: from configuration).")
@click.option("--key", type=click.Path(path_type=Path, dir_okay=False), help="Private key (file signer).")
@click.option(
    "--cert",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Certificate (chain) to embed in KeyInfo (file signer).",
)
@click.option("--json", "as_json", is_flag=True, help="Several reports: print the per-file results as JSON.")
@global_options(hidden=True)
def sign(
    files: tuple[str, ...],
    output: str,
    force: bool,
    signer_name: str | None,
    key: Path | None,
    cert: Path | None,
    as_json: bool,
) -> None:
    """Sign a JUnit XML report with an enveloped XMLDSig signature.

    Reads FILE (or stdin with '-' or no argument) and writes exactly the signed bytes to OUT
    (default stdout). The signer comes from configuration unless --signer/--key/--cert override
    it; by default the file signer uses the key `jux keygen` wrote. An encrypted key's
    passphrase comes from the configured secret reference, else from a prompt on a terminal.

    Several FILEs, a directory (its TEST-*.xml, else every *.xml below it) or a quoted glob
    ('build/**/*.xml') sign each report into the directory OUT (-o is then required), keeping
    the paths relative to the inputs' common directory; a failing report is reported by name
    and does not stop the others (exit 4 when some failed).
    """
    import juxsdk

    from ._batch import needs_expansion, sign_many

    get_state()
    if len(files) > 1 or (files and needs_expansion(files[0])):
        code = sign_many(
            files, output=output, force=force, overrides=signer_overrides(signer_name, key, cert), as_json=as_json
        )
        if code:
            raise click.exceptions.Exit(code)
        return
    file = files[0] if files else "-"
    data, source = read_input(file)
    report = juxsdk.parse_report(data, source=source)
    signed = with_configured_signer(
        signer_overrides(signer_name, key, cert),
        reading_stdin=file == "-",
        action=lambda signer: juxsdk.sign_report(report, signer, replace=force, source=source),
    )
    write_output(output, signed.data)
    if output != "-":
        click.echo(
            f"signed {source} -> {output} ({signed.signature.algorithm}, {signed.signature.signer}, "
            f"{signed.canonical_hash})",
            err=True,
        )
