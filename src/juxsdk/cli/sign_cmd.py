"""``jux sign``: sign one report (file or stdin) and write the exact signed bytes, or many into a directory."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from juxsdk.errors import ConfigError, JuxError, SigningError

from ._common import (
    CONTEXT_SETTINGS,
    JuxCommand,
    echo_err,
    echo_json,
    get_state,
    global_options,
    journal,
    load_config,
    make_signer,
    read_input,
    renamed_option,
    render_error,
    write_output,
)
from ._examples import examples

if TYPE_CHECKING:  # pragma: no cover
    from juxsdk.protocols import Signer


def signer_overrides(signer_name: str | None, key: Path | None, cert: Path | None) -> dict[str, Any]:
    """Configuration overrides for ``--signer/--key/--signing-cert`` (either implies the file signer)."""
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


@click.command(cls=JuxCommand, context_settings=CONTEXT_SETTINGS, epilog=examples("sign"))
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
    "--signing-cert",
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="PEM",
    help="Certificate (chain) to embed in KeyInfo (file signer).",
)
@renamed_option(
    "--cert",
    "--signing-cert",
    "signing_cert",
    meaning="the certificate to embed",
    type=click.Path(path_type=Path, dir_okay=False),
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the result as JSON (with one report, -o OUT is then required: stdout carries the JSON).",
)
@global_options(hidden=True)
def sign(
    files: tuple[str, ...],
    output: str,
    force: bool,
    signer_name: str | None,
    key: Path | None,
    signing_cert: Path | None,
    as_json: bool,
) -> None:
    """Sign a JUnit XML report with an enveloped XMLDSig signature.

    Reads FILE (or stdin with '-' or no argument) and writes exactly the signed bytes to OUT
    (default stdout). The signer comes from configuration unless --signer/--key/--signing-cert override
    it; by default the file signer uses the key `jux keygen` wrote. An encrypted key's
    passphrase comes from the configured secret reference, else from a prompt on a terminal.

    Several FILEs, a directory (its TEST-*.xml, else every *.xml below it) or a quoted glob
    ('build/**/*.xml') sign each report into the directory OUT (-o is then required), keeping
    the paths relative to the inputs' common directory; a failing report is reported by name
    and does not stop the others (exit 4 when some failed).

    With --json, one report prints one JSON object (file, output, canonical_hash, signature),
    several print a list of them (with ok and error per file).
    """
    import juxsdk

    from ._batch import needs_expansion

    get_state()
    if len(files) > 1 or (files and needs_expansion(files[0])):
        code = sign_many(
            files,
            output=output,
            force=force,
            overrides=signer_overrides(signer_name, key, signing_cert),
            as_json=as_json,
        )
        if code:
            raise click.exceptions.Exit(code)
        return
    if as_json and output == "-":
        raise click.UsageError("--json prints to stdout: write the signed report elsewhere with -o OUT")
    file = files[0] if files else "-"
    data, source = read_input(file)
    report = juxsdk.parse_report(data, source=source)
    signed = with_configured_signer(
        signer_overrides(signer_name, key, signing_cert),
        reading_stdin=file == "-",
        action=lambda signer: juxsdk.sign_report(report, signer, replace=force, source=source),
    )
    write_output(output, signed.data)
    if as_json:
        echo_json(
            {
                "file": file,
                "ok": True,
                "output": output,
                "canonical_hash": signed.canonical_hash,
                "signature": signed.signature.to_dict(),
            }
        )
    elif output != "-":
        click.echo(
            f"signed {source} -> {output} ({signed.signature.algorithm}, {signed.signature.signer}, "
            f"{signed.canonical_hash})",
            err=True,
        )


def sign_many(
    args: Sequence[str],
    *,
    output: str,
    force: bool,
    overrides: dict[str, object],
    as_json: bool,
) -> int:
    """``jux sign`` with several files, directories or globs: one signed file per report in OUT.

    Each report is written to ``OUT/<its path relative to the inputs' common directory>``; a
    failing report is reported by name and does not stop the others.

    Returns:
        The exit code (see :func:`juxsdk.cli._batch.exit_code_for`).
    """
    import juxsdk
    from juxsdk.limits import read_bounded

    from ._batch import error_dict, exit_code_for, expand_args, named, progress, progress_wanted
    from ._common import plural, status_word

    if output == "-":
        raise click.UsageError("signing several reports: give an output directory with -o DIR")
    names, bad = expand_args(args)
    if "-" in names:
        raise click.UsageError("'-' (stdin) cannot be combined with other inputs")
    out_dir = Path(output)
    if out_dir.exists() and not out_dir.is_dir():
        raise click.UsageError(f"-o {output}: not a directory (several reports are signed into a directory)")
    entries: list[dict[str, object]] = []
    failures: list[JuxError] = []
    oks: list[bool] = []
    for arg, exc in bad:
        failures.append(exc)
        oks.append(False)
        entries.append({"file": arg, "ok": False, "error": error_dict(exc)})
    base = os.path.commonpath([os.path.dirname(os.path.abspath(n)) for n in names]) if names else "."
    bar = progress_wanted(len(names), quiet=as_json)

    def run(signer: object) -> None:
        with progress(names, label="signing", enabled=bar) as items:
            for name in items:
                target = out_dir / os.path.relpath(os.path.abspath(name), base)
                try:
                    if os.path.abspath(target) == os.path.abspath(name):
                        raise JuxError(
                            f"{name}: signing into {output} would overwrite the input",
                            hint="choose another output directory with -o DIR",
                        )
                    data = read_bounded(name)
                    signed = juxsdk.sign_report(data, signer, replace=force, source=name)  # type: ignore[arg-type]
                    journal("sign", canonical_hash=signed.canonical_hash, signature=signed.signature,
                            backend=getattr(signer, "name", None))
                    target.parent.mkdir(parents=True, exist_ok=True)
                    write_output(str(target), signed.data)
                except OSError as exc:
                    err = JuxError(f"{name}: cannot read: {exc.strerror or exc}")
                    failures.append(err)
                    oks.append(False)
                    entries.append({"file": name, "ok": False, "error": error_dict(err)})
                    continue
                except JuxError as exc:
                    failures.append(exc)
                    oks.append(False)
                    entries.append({"file": name, "ok": False, "error": error_dict(exc)})
                    continue
                oks.append(True)
                entries.append(
                    {
                        "file": name,
                        "ok": True,
                        "output": str(target),
                        "canonical_hash": signed.canonical_hash,
                        "signature": signed.signature.to_dict(),
                    }
                )

    if names:
        with_configured_signer(dict(overrides), reading_stdin=False, action=run)
    if as_json:
        echo_json(entries)
    else:
        for entry in entries:
            if entry["ok"]:
                click.echo(f"{status_word('OK')} {entry['file']} -> {entry['output']}")
            else:
                err = entry["error"]
                assert isinstance(err, dict)
                render_error(named(str(entry["file"]), JuxError(str(err["message"]), hint=err["hint"])))
        done = sum(oks)
        click.echo(f"signed {done} of {plural(len(oks), 'report')} into {output}", err=True)
    return exit_code_for(oks, failures)
