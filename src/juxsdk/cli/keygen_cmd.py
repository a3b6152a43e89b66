"""``jux keygen``: a signing key and a self-signed signing certificate."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from juxsdk.config.numbers import MAX_DAYS, Range
from juxsdk.errors import ConfigError, JuxError

from ._common import (
    CONTEXT_SETTINGS,
    JuxCommand,
    echo_json,
    get_state,
    global_options,
    load_config,
    number_type,
    renamed_option,
)
from ._examples import examples

DEFAULT_KEY_NAME = "signing-key.pem"
DEFAULT_CERT_NAME = "signing-cert.pem"
#: ``--days``: a certificate valid for at least a day and at most 100 years.
VALIDITY_DAYS = Range(1, MAX_DAYS, unit="days")


def default_paths() -> tuple[Path, Path]:
    """Default key and certificate paths: ``signing-key.pem``/``signing-cert.pem`` in the user config dir."""
    from juxsdk import config as _config

    base = Path(_config.user_config_dir())
    return base / DEFAULT_KEY_NAME, base / DEFAULT_CERT_NAME


def _passphrase(env_var: str | None, prompt: bool) -> str | None:
    if env_var and prompt:
        raise click.UsageError("--passphrase-env and --prompt-passphrase are mutually exclusive")
    if env_var:
        value = os.environ.get(env_var)
        if not value:
            raise ConfigError(
                f"environment variable {env_var} is not set or empty",
                hint=f"export {env_var}=… (the key passphrase), or drop --passphrase-env",
            )
        return value
    if prompt:
        value = click.prompt("Key passphrase", hide_input=True, confirmation_prompt=True, err=True)
        if not value:
            raise ConfigError("empty passphrase", hint="type a non-empty passphrase")
        return str(value)
    return None


@click.command(cls=JuxCommand, context_settings=CONTEXT_SETTINGS, epilog=examples("keygen"))
@click.option(
    "--type", "key_type", type=click.Choice(["rsa", "ec"]), default="rsa", show_default=True, help="Key type."
)
@click.option(
    "--bits",
    type=click.Choice(["2048", "3072", "4096"]),
    default="3072",
    show_default=True,
    help="RSA key size in bits.",
)
@click.option(
    "--curve",
    type=click.Choice(["P-256", "P-384"], case_sensitive=False),
    default="P-256",
    show_default=True,
    help="EC curve.",
)
@click.option(
    "--out",
    "key_out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Private key file (default: signing-key.pem in the user config dir).",
)
@click.option(
    "--cert-out",
    "cert_out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Certificate file to write (default: signing-cert.pem next to the key).",
)
@renamed_option(
    "--cert",
    "--cert-out",
    "cert_out",
    meaning="where to write the certificate; --cert names a trust anchor in `jux verify`",
    type=click.Path(path_type=Path, dir_okay=False),
)
@click.option(
    "--subject",
    default="jux signing key",
    show_default=True,
    help="Certificate subject: a common name, or an RFC 4514 name such as 'CN=ci,O=Example'.",
)
@click.option(
    "--days", type=number_type(VALIDITY_DAYS, integer=True), default=365, show_default=True,
    help="Certificate validity in days.",
)
@click.option("--passphrase-env", metavar="VAR", help="Encrypt the key with the passphrase in this variable.")
@click.option("--prompt-passphrase", is_flag=True, help="Encrypt the key with a passphrase typed at a prompt.")
@click.option("--force", is_flag=True, help="Overwrite existing key and certificate files.")
@click.option(
    "--signer",
    "signer_name",
    default="file",
    show_default=True,
    metavar="NAME",
    help="'file' writes a key file; 'pkcs11' generates the key on the configured token; 'awskms' uses "
    "the configured KMS key (creating it when key_id is a new alias).",
)
@click.option(
    "--csr",
    "csr_out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Token and KMS signers: also write a PKCS #10 certificate signing request, signed by the key, "
    "for a CA to issue the signing certificate.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@global_options(hidden=True)
def keygen(
    key_type: str,
    bits: str,
    curve: str,
    key_out: Path | None,
    cert_out: Path | None,
    subject: str,
    days: int,
    passphrase_env: str | None,
    prompt_passphrase: bool,
    force: bool,
    signer_name: str,
    csr_out: Path | None,
    as_json: bool,
) -> None:
    """Generate a signing key and a self-signed signing certificate.

    The certificate has KeyUsage digitalSignature (critical) and BasicConstraints CA:false. The key
    file is created with mode 0600, atomically, and never overwritten without --force. With the
    default paths, `jux sign` and `jux submit` find the key without any configuration.

    Share the certificate (not the key) with whoever verifies: `jux verify --cert CERT report.xml`.

    With --signer pkcs11 or awskms the key stays in the token or KMS: the certificate (and with
    --csr a certificate signing request) is signed there, and its path goes into the backend's
    certificate option.
    """
    get_state()
    if signer_name != "file":
        _keygen_token(
            signer_name, key_type, int(bits), curve.upper(), cert_out, subject, days, force, as_json, csr_out
        )
        return
    if csr_out is not None:
        raise click.UsageError("--csr is for token and KMS signers (--signer pkcs11, --signer awskms)")

    from juxsdk import keys

    default_key, default_cert = default_paths()
    key_path = key_out or default_key
    if cert_out is not None:
        cert_path = cert_out
    elif key_out is not None:
        cert_path = key_out.with_name(key_out.stem.replace("key", "cert") + ".pem")
        if cert_path == key_out:
            cert_path = key_out.with_name(key_out.stem + "-cert.pem")
    else:
        cert_path = default_cert
    passphrase = _passphrase(passphrase_env, prompt_passphrase)
    result = keys.generate_key_pair(
        key_path,
        cert_path,
        key_type=key_type,
        bits=int(bits),
        curve=curve.upper(),
        subject=subject,
        days=days,
        passphrase=passphrase,
        overwrite=force,
    )
    if as_json:
        echo_json(result.to_dict())
        return
    click.echo(
        f"key:         {result.key_path} ({result.key_description}, mode 0600"
        f"{', encrypted' if result.encrypted else ''})"
    )
    click.echo(f"certificate: {result.cert_path}")
    click.echo(f"subject:     {result.subject}")
    click.echo(f"valid:       {result.not_before:%Y-%m-%d} .. {result.not_after:%Y-%m-%d}")
    click.echo(f"fingerprint: {result.certificate_fingerprint}")
    if key_out is not None or cert_out is not None:
        click.echo(
            'configure:   [tool.jux] signer = "file"; [tool.jux.backends.file] '
            f'key = "{result.key_path}", certificate = "{result.cert_path}"',
        )


def _keygen_token(
    signer_name: str,
    key_type: str,
    bits: int,
    curve: str,
    cert_out: Path | None,
    subject: str,
    days: int,
    force: bool,
    as_json: bool,
    csr_out: Path | None = None,
) -> None:
    """Delegate to a token or KMS signer backend's ``generate_token_key_pair``."""
    import importlib

    from juxsdk.keys import KeyFileExistsError

    state = get_state()
    info = state.registry().get("signer", signer_name)
    generate: Any = getattr(info.cls, "generate_token_key_pair", None)
    if generate is None:
        generate = getattr(importlib.import_module(info.cls.__module__), "generate_token_key_pair", None)
    if generate is None:
        raise JuxError(
            f"the {signer_name!r} signer cannot generate keys",
            hint="generate the key with the token's own tools, or use --signer file",
        )
    for path in (cert_out, csr_out):
        if path is not None and path.exists() and not force:
            raise KeyFileExistsError(f"{path} already exists", hint="use --force to overwrite it")
    from .sign_cmd import _can_prompt, _merge, _secret_request, secret_override

    overrides: dict[str, Any] = {"signer": signer_name}
    extra: dict[str, Any] = {"csr_out": csr_out} if csr_out is not None else {}

    def run() -> Any:
        cfg = load_config(overrides)
        options = state.registry().options("signer", signer_name, cfg)
        return generate(
            options,
            key_type=key_type,
            bits=bits,
            curve=curve,
            subject=subject,
            days=days,
            certificate_out=cert_out,
            **extra,
        )

    try:
        result = run()
    except JuxError as exc:  # a token PIN that is not configured: ask once on a terminal
        request = _secret_request(exc, None) if getattr(exc, "option_path", None) else None
        if request is None or not _can_prompt(False):
            raise
        overrides = _merge(overrides, secret_override(*request))
        result = run()
    data = _token_result(result)
    if as_json:
        echo_json(data)
        return
    for k, v in data.items():
        click.echo(f"{k + ':':<17}{v}")


def _token_result(result: Any) -> dict[str, Any]:
    if hasattr(result, "to_dict"):
        return dict(result.to_dict())
    data: dict[str, Any] = {}
    for attr in ("key_label", "key_id", "algorithm", "certificate_path", "stored_in_token"):
        if hasattr(result, attr):
            value = getattr(result, attr)
            data[attr] = str(value) if attr == "certificate_path" and value is not None else value
    cert = getattr(result, "certificate", None)
    if cert is not None:
        from juxsdk.keys import describe_certificates

        info = describe_certificates([cert])[0]
        data.update(subject=info["subject"], not_after=info["not_after"], fingerprint=info["fingerprint"])
    return data
