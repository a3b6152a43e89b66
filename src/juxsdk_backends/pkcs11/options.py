"""Options of the ``pkcs11`` signer (table ``[backends.pkcs11]``): which module, token, key and PIN."""

from __future__ import annotations

from pathlib import Path

import attrs

from juxsdk.config.secret import Secret
from juxsdk.errors import ConfigError

from .._algorithms import ALGORITHMS

__all__ = ["Pkcs11Options"]


def _validate_key_id(_inst: object, _attr: object, value: str | None) -> None:
    if value is None:
        return
    try:
        bytes.fromhex(value)
    except ValueError as exc:
        raise ConfigError(
            f"pkcs11 key_id {value!r} is not hexadecimal",
            hint='write the CKA_ID as hex digits, e.g. key_id = "01a2"',
        ) from exc


def _validate_algorithm(_inst: object, _attr: object, value: str | None) -> None:
    if value is not None and value.lower() not in ALGORITHMS:
        raise ConfigError(
            f"unsupported pkcs11 algorithm {value!r}",
            hint="use one of: " + ", ".join(ALGORITHMS),
        )


@attrs.frozen
class Pkcs11Options:
    """Options of the ``pkcs11`` signer (table ``[backends.pkcs11]``).

    Attributes:
        module: Path of the PKCS#11 library (``.so``/``.dylib``/``.dll``), e.g.
            ``/usr/lib/softhsm/libsofthsm2.so``. ``~`` is expanded.
        token_label: Label of the token (``CKA_LABEL`` of the token info). Optional when
            ``token_serial`` is set or exactly one token is present.
        token_serial: Serial number of the token, as printed by ``pkcs11-tool -L``.
        key_label: ``CKA_LABEL`` of the private key.
        key_id: ``CKA_ID`` of the private key, in hex. With neither ``key_label`` nor
            ``key_id`` the token must hold exactly one private key.
        pin: User PIN as a secret reference (``{env = "JUX_PKCS11_PIN"}`` or
            ``{file = "…"}``). Omit only for tokens that need no login or have a PIN pad.
        certificate: PEM file with the signing certificate first, then intermediates.
        certificate_label: ``CKA_LABEL`` of an X.509 certificate object in the token.
            Without ``certificate`` and ``certificate_label``, a certificate object with the
            key's ``CKA_ID`` is used when the token has one; otherwise KeyInfo carries the
            key value.
        algorithm: ``rsa-sha256`` / ``rsa-sha384`` / ``rsa-sha512`` / ``ecdsa-sha256`` /
            ``ecdsa-sha384`` / ``ecdsa-sha512``. Default from the key: ``rsa-sha256`` for
            RSA, ``ecdsa-sha256`` for P-256, ``ecdsa-sha384`` for P-384, ``ecdsa-sha512``
            for P-521.

    Raises:
        ConfigError: ``key_id`` is not hex, ``algorithm`` is unknown, or both
            ``certificate`` and ``certificate_label`` are set.
    """

    module: Path = attrs.field(converter=Path)
    token_label: str | None = None
    token_serial: str | None = None
    key_label: str | None = None
    key_id: str | None = attrs.field(default=None, validator=_validate_key_id)
    pin: Secret | None = None
    certificate: Path | None = attrs.field(
        default=None, converter=attrs.converters.optional(Path)
    )
    certificate_label: str | None = None
    algorithm: str | None = attrs.field(default=None, validator=_validate_algorithm)

    def __attrs_post_init__(self) -> None:
        if self.certificate is not None and self.certificate_label is not None:
            raise ConfigError(
                "pkcs11: set either certificate (a PEM file) or certificate_label "
                "(an object in the token), not both"
            )

    @property
    def module_path(self) -> Path:
        """``module`` with ``~`` expanded."""
        return self.module.expanduser()

    @property
    def key_id_bytes(self) -> bytes | None:
        """``key_id`` decoded from hex, or None."""
        return bytes.fromhex(self.key_id) if self.key_id is not None else None

    def describe_token(self) -> str:
        """Human description of the token selection (no secrets)."""
        parts = []
        if self.token_label is not None:
            parts.append(f"label {self.token_label!r}")
        if self.token_serial is not None:
            parts.append(f"serial {self.token_serial!r}")
        return "token " + (" and ".join(parts) if parts else "(any)")

    def describe_key(self) -> str:
        """Human description of the key selection."""
        parts = []
        if self.key_label is not None:
            parts.append(f"label {self.key_label!r}")
        if self.key_id is not None:
            parts.append(f"id {self.key_id.lower()}")
        return "private key " + ("with " + " and ".join(parts) if parts else "(the only one)")

