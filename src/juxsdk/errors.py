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
    "AlreadySignedError",
    "BackendNotFoundError",
    "CertificateValidityError",
    "ConfigError",
    "DigestMismatchError",
    "EvidenceIndexError",
    "JuxError",
    "MultipleSignaturesError",
    "NoSignatureError",
    "PermanentPublishError",
    "PluginError",
    "PolicyError",
    "PublishError",
    "ReportError",
    "ReportNotFoundError",
    "ReportParseError",
    "SecretRequiredError",
    "SignatureStructureError",
    "SignatureValueError",
    "SigningError",
    "StoreError",
    "TransientPublishError",
    "UnsupportedAlgorithmError",
    "UntrustedKeyError",
    "VerificationError",
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
        hint: Optional one line saying what to do about it.
    """

    exit_code: int = EXIT_ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

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
    ) -> None:
        where = source or "<bytes>"
        if line is not None:
            where += f":{line}"
            if column is not None:
                where += f":{column}"
        super().__init__(f"{where}: {message}", hint=hint)
        self.source = source
        self.line = line
        self.column = column


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


# --- storage -------------------------------------------------------------------------------


class StoreError(JuxError):
    """A store backend failed (I/O error, permission, bucket missing, network)."""


class ReportNotFoundError(StoreError):
    """No report with that canonical hash (or hash prefix) is in the store."""


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


# --- audit: evidence policy and index --------------------------------------------------------


class PolicyError(ConfigError):
    """An evidence policy file is invalid: unknown key, wrong type, bad value, unreadable file."""


class EvidenceIndexError(JuxError):
    """The evidence index (SQLite) cannot be opened, migrated, read or written."""
