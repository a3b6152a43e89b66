"""The juxsdk exception tree.

Every error juxsdk raises on purpose is a :class:`JuxError`. Backends map their library's
exceptions (requests, botocore, python-pkcs11, OSError…) to one of these at their boundary with
``raise … from exc``, so callers only ever need to catch ``JuxError``.

Each error carries a one-line ``message`` and an optional ``hint`` (what to do next). The CLI
prints ``error: <message>`` and ``hint: <hint>`` and exits with ``exit_code``:

======  ==========================================================
code    meaning
======  ==========================================================
0       success
1       verification failed (:class:`VerificationError`)
2       usage or configuration error (:class:`ConfigError`)
3       any other error (parse, signing, store, publish…)
4       partial success (some of several reports were published)
======  ==========================================================

Messages never contain secret values: anything built from configuration goes through
:class:`juxsdk.config.Secret`, whose ``str``/``repr`` are masked.
"""

from __future__ import annotations

__all__ = [
    "AlgorithmMismatchError",
    "AlreadySignedError",
    "AttestationError",
    "AttestationMismatchError",
    "BackendNotFoundError",
    "CertificateValidityError",
    "CircuitOpenError",
    "ConfigError",
    "CorruptSidecarError",
    "DigestMismatchError",
    "DoctypeForbiddenError",
    "EvidenceIndexError",
    "InvalidBase64Error",
    "JuxError",
    "MissingKeyError",
    "MultipleSignaturesError",
    "NoSignatureError",
    "PermanentPublishError",
    "PluginError",
    "PolicyError",
    "PublishError",
    "ReportError",
    "ReportLimitError",
    "ReportNotFoundError",
    "ReportParseError",
    "ReportTooLargeError",
    "SecretRequiredError",
    "SignatureLimitError",
    "SignatureStructureError",
    "SignatureThresholdError",
    "SignatureValueError",
    "SigningError",
    "StoreConflictError",
    "StoreError",
    "TransientPublishError",
    "UnsupportedAlgorithmError",
    "UnsupportedKeyError",
    "UntrustedKeyError",
    "VerificationError",
    "WeakKeyError",
]

EXIT_OK = 0
EXIT_VERIFICATION_FAILED = 1
EXIT_USAGE = 2
EXIT_ERROR = 3
EXIT_PARTIAL = 4


class JuxError(Exception):
    """Base class of every error juxsdk raises on purpose.

    Args:
        message: One line saying what went wrong (no secrets, no traceback).
        hint: Optional one line saying what to do about it, for a caller of the library
            (it may name a Python argument such as ``replace=True``).
        cli_hint: The same advice for a user of the ``jux`` command (``use --force``), when it
            differs; front ends show :attr:`cli_hint` when set, else :attr:`hint`.
    """

    exit_code: int = EXIT_ERROR

    def __init__(self, message: str, *, hint: str | None = None, cli_hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.cli_hint = cli_hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} (hint: {self.hint})"
        return self.message


# --- configuration and plugins -------------------------------------------------------------


class ConfigError(JuxError):
    """Invalid or missing configuration: unknown key, wrong type, bad value, missing secret."""

    exit_code = EXIT_USAGE


class SecretRequiredError(ConfigError):
    """A secret (key passphrase, token PIN) is needed but not configured.

    Interactive front ends (the CLI) catch it, prompt without echo, and retry with the value
    as an override of ``option_path``.

    Args:
        message: What is missing.
        option_path: Dotted config key that takes the secret (e.g. ``backends.file.passphrase``).
        prompt: Short prompt text (e.g. ``"Passphrase for signing-key.pem"``).
        hint: What to do about it.
    """

    def __init__(self, message: str, *, option_path: str, prompt: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.option_path = option_path
        self.prompt = prompt


class PluginError(ConfigError):
    """A backend plugin is broken: duplicate name, bad hook result, failed import."""


class BackendNotFoundError(PluginError):
    """No backend is registered under the configured name.

    Args:
        kind: ``"signer"``, ``"store"`` or ``"publisher"``.
        name: The name that was asked for.
        available: The names that are registered for that kind.
    """

    def __init__(self, kind: str, name: str, available: list[str]) -> None:
        listed = ", ".join(sorted(available)) or "none"
        super().__init__(
            f"unknown {kind} backend {name!r}; available: {listed}",
            hint=f"a plugin providing the {kind} {name!r} may not be installed (see `jux backends`)",
        )
        self.kind = kind
        self.name = name
        self.available = sorted(available)


# --- reports -------------------------------------------------------------------------------


class ReportError(JuxError):
    """A report cannot be used (not JUnit XML, wrong shape, already signed…)."""


class ReportParseError(ReportError):
    """The bytes are not well-formed, safe XML.

    Args:
        message: What the parser said.
        source: File name or ``"<bytes>"``.
        line: 1-based line of the error, when known.
        column: 1-based column of the error, when known.
        hint: What to do about it.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
        cli_hint: str | None = None,
    ) -> None:
        where = source or "<bytes>"
        if line is not None:
            where += f":{line}"
            if column is not None:
                where += f":{column}"
        super().__init__(f"{where}: {message}", hint=hint, cli_hint=cli_hint)
        self.source = source
        self.line = line
        self.column = column


class ReportTooLargeError(ReportParseError):
    """The report is larger than the size limit (``max_bytes``); it was refused while being read."""


class ReportLimitError(ReportParseError):
    """The report exceeds a structural limit (depth, attributes or namespace declarations per
    element) that keeps processing time linear in its size (see :mod:`juxsdk.limits`)."""


class DoctypeForbiddenError(ReportParseError):
    """The report has a document type declaration (DOCTYPE, DTD, entities) or refers to an external
    resource. Reports never need one; refusing them rules out XXE and entity expansion."""


class AlreadySignedError(ReportError):
    """The report already carries a signature and replacing it was not asked for."""


# --- signing -------------------------------------------------------------------------------


class SigningError(JuxError):
    """A signer could not produce a signature (bad key, wrong passphrase, token error…)."""


# --- verification --------------------------------------------------------------------------


class VerificationError(JuxError):
    """Base class for every reason a signed report does not verify (CLI exit code 1)."""

    exit_code = EXIT_VERIFICATION_FAILED


class NoSignatureError(VerificationError):
    """The report has no ``ds:Signature`` element."""


class MultipleSignaturesError(VerificationError):
    """The report has more than one ``ds:Signature`` element."""


class SignatureStructureError(VerificationError):
    """The signature is not the enveloped profile juxsdk accepts.

    For example: not a child of the root, a Reference URI other than ``""``, extra References,
    unexpected transforms, or content hidden inside ``ds:Object``.
    """


class SignatureLimitError(SignatureStructureError):
    """The signature holds more elements, certificates or base64 text than the limits allow
    (see :mod:`juxsdk.limits`); refused before any canonicalisation or public-key operation."""


class InvalidBase64Error(SignatureStructureError):
    """A base64 field of the signature (``DigestValue``, ``SignatureValue``, a certificate or key
    value) is not strict base64: characters outside the standard alphabet, or wrong padding."""


class MissingKeyError(SignatureStructureError):
    """``ds:KeyInfo`` is missing or holds neither a certificate nor a key value juxsdk reads."""


class DigestMismatchError(VerificationError):
    """The signed content changed after signing (the reference digest does not match)."""


class SignatureValueError(VerificationError):
    """The ``SignatureValue`` does not verify with the key (wrong key or tampered SignedInfo)."""


class UntrustedKeyError(VerificationError):
    """The signature is valid but the key or certificate is not trusted by the trust policy."""


class CertificateValidityError(VerificationError):
    """The signing certificate is expired or not yet valid at the verification time."""


class UnsupportedAlgorithmError(VerificationError):
    """The signature uses an algorithm juxsdk does not accept (e.g. SHA-1)."""


class AttestationError(VerificationError):
    """An attestation cannot be accepted as a test-result attestation.

    The DSSE envelope is malformed or hostile (too large, not strict JSON, duplicate keys,
    invalid base64, no or too many signatures), its ``payloadType``, Statement ``_type`` or
    ``predicateType`` is not the expected one, or its Statement breaks the test-result
    predicate's field rules.
    """


class AttestationMismatchError(AttestationError):
    """A verified attestation does not describe what it is checked against.

    A given artifact is not one of its subjects, or a given report's canonical hash is not the
    one its ``configuration`` names.
    """


class SignatureThresholdError(VerificationError):
    """Fewer distinct trusted keys signed a DSSE envelope than the threshold requires."""


class UnsupportedKeyError(UnsupportedAlgorithmError):
    """The signing key is of a type or curve juxsdk does not accept (DSA, Ed25519, Ed448, a curve
    other than P-256/P-384/P-521, an unknown curve URI)."""


class WeakKeyError(UnsupportedAlgorithmError):
    """The signing key is below the strength juxsdk requires (RSA under 2048 bits), or an RSA key
    larger than juxsdk verifies. ``unsafe_allow_weak_keys`` lowers the floor, never the ceiling."""


class AlgorithmMismatchError(VerificationError):
    """The ``SignatureMethod`` does not fit the key (an ECDSA method with an RSA key, or the
    reverse)."""


# --- storage -------------------------------------------------------------------------------


class StoreError(JuxError):
    """A store backend failed (I/O error, permission, bucket missing, network)."""


class ReportNotFoundError(StoreError):
    """No report with that canonical hash (or hash prefix) is in the store."""


class StoreConflictError(StoreError):
    """A store refused a ``put`` that would downgrade or silently replace stored evidence.

    The store already holds *different* bytes under the report's canonical hash and the
    replace rule (:func:`juxsdk.store_rules.decide_put`) refuses to overwrite them: an unsigned
    report never replaces a signed one; a different signature, different unsigned bytes or
    damaged stored bytes are replaced only when the caller asks (``put(..., replace=True)``,
    CLI ``--force``). Nothing was written.

    Args:
        message: What is stored and why it was kept.
        canonical_hash: The store key (``sha256:<hex>``).
        reason: ``"downgrade"`` (unsigned over signed: refused even with ``replace=True``),
            ``"different"`` (other bytes, ``replace`` not asked) or ``"damaged"`` (the stored
            bytes are not a report with this canonical hash, ``replace`` not asked).
        hint: What to do about it.
    """

    def __init__(
        self, message: str, *, canonical_hash: str, reason: str, hint: str | None = None, cli_hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint, cli_hint=cli_hint)
        self.canonical_hash = canonical_hash
        self.reason = reason


class CorruptSidecarError(StoreError):
    """A stored report's metadata sidecar failed validation when it was read.

    Not JSON, wrong types, another canonical hash, a size that does not match the stored bytes,
    larger than :data:`juxsdk.sidecars.MAX_SIDECAR_BYTES`, or not a regular file. The report's
    bytes may be intact: ``get`` still returns them, and putting the same report again rewrites
    the sidecar.

    Args:
        message: Names the sidecar and what is wrong with it.
        where: Location of the sidecar (path or URL).
        hint: What to do about it.
    """

    def __init__(self, message: str, *, where: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.where = where


# --- publishing ----------------------------------------------------------------------------


class PublishError(JuxError):
    """A publisher failed.

    Args:
        message: What went wrong.
        hint: What to do about it.
        status: HTTP status (or backend-specific code) when there was one.
        details: Server-provided details (already free of secrets).
    """

    transient: bool = False

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        status: int | None = None,
        details: dict[str, object] | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.details = dict(details or {})


class TransientPublishError(PublishError):
    """A failure worth retrying later (network, timeout, 5xx, 429 past its budget)."""

    transient = True


class PermanentPublishError(PublishError):
    """A failure that retrying will not fix (400/401/403/404/413/422…)."""


class CircuitOpenError(TransientPublishError):
    """Not tried: the publisher's endpoint failed too often in a row, its circuit is open
    (:mod:`juxsdk.breaker`). ``details["retry_after"]`` holds the seconds left of the cooldown."""


# --- audit: evidence policy and index --------------------------------------------------------


class PolicyError(ConfigError):
    """An evidence policy file is invalid: unknown key, wrong type, bad value, unreadable file."""


class EvidenceIndexError(JuxError):
    """The evidence index (SQLite) cannot be opened, migrated, read or written."""
