"""The ``pkcs11`` signer: lazy connection to the token, reconnect once, close.

Only signatures leave the token: the private key is looked up by label/id and used through
``C_Sign`` (:mod:`.key`); its value is never read. Sessions are shared per process and made
fork-safe by :mod:`.session`.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import ClassVar

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from juxsdk.errors import ConfigError

from .._algorithms import ALGORITHMS
from . import check, keygen
from . import key as token_key
from .options import Pkcs11Options
from .session import STATE, Shared, acquire, device_error, locked, python_pkcs11, release

__all__ = ["Pkcs11Signer", "check_reachability"]

#: python-pkcs11 errors after which the session is reopened once (token re-plugged, library reset).
_RECONNECT_ERRORS = (
    "SessionHandleInvalid",
    "SessionClosed",
    "UserNotLoggedIn",
    "DeviceRemoved",
    "TokenNotPresent",
    "ObjectHandleInvalid",
    "KeyHandleInvalid",
)


class Pkcs11Signer:
    """Signs with a private key inside a PKCS#11 token (HSM, smart card, SoftHSM2).

    Construction is cheap (no library load, no login); the token is opened on first use.
    The signer may be used from several threads; calls into the token are serialised by a
    process-wide lock. Usable as a context manager; :meth:`close` is idempotent, and a
    closed signer reconnects if it is used again.

    Args:
        options: :class:`Pkcs11Options`.

    Raises:
        ConfigError: ``options`` is not a :class:`Pkcs11Options`.
    """

    name: ClassVar[str] = "pkcs11"
    Options: ClassVar[type[Pkcs11Options]] = Pkcs11Options
    #: ``jux keygen --signer pkcs11`` (see :func:`.keygen.generate_token_key_pair`).
    generate_token_key_pair = staticmethod(keygen.generate_token_key_pair)

    def __init__(self, options: Pkcs11Options) -> None:
        if not isinstance(options, Pkcs11Options):
            raise ConfigError("Pkcs11Signer needs a Pkcs11Options instance")
        self.options = options
        self._conn: token_key.Connection | None = None
        self._algorithm: str | None = options.algorithm.lower() if options.algorithm else None
        self._public_key: PublicKeyTypes | None = None
        self._chain: tuple[x509.Certificate, ...] | None = None

    def __repr__(self) -> str:
        o = self.options
        return (
            f"Pkcs11Signer(module={str(o.module)!r}, token_label={o.token_label!r}, "
            f"token_serial={o.token_serial!r}, key_label={o.key_label!r}, key_id={o.key_id!r})"
        )

    # -- context manager ---------------------------------------------------------------

    def __enter__(self) -> Pkcs11Signer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- Signer protocol ---------------------------------------------------------------

    @property
    def algorithm(self) -> str:
        """The signature algorithm, e.g. ``"rsa-sha256"`` (opens the token when not configured).

        Raises:
            ConfigError, SigningError: as for :meth:`sign` when the token must be opened.
        """
        if self._algorithm is None:
            with locked():
                self._connection()
        assert self._algorithm is not None
        return self._algorithm

    def public_key(self) -> PublicKeyTypes:
        """Return the key's public half, read from the token's public key object or the certificate.

        Raises:
            ConfigError, SigningError: as for :meth:`sign`.
        """
        if self._public_key is None:
            with locked():
                self._connection()
        assert self._public_key is not None
        return self._public_key

    def certificate_chain(self) -> Sequence[x509.Certificate]:
        """Return the signing certificate (first) and intermediates; empty when none is configured.

        Raises:
            ConfigError: the certificate does not match the key, or the PEM file is unreadable.
            SigningError: as for :meth:`sign`.
        """
        if self._chain is None:
            with locked():
                self._connection()
        assert self._chain is not None
        return self._chain

    def sign(self, data: bytes) -> bytes:
        """Sign ``data`` in the token.

        Args:
            data: The bytes to sign (the canonical SignedInfo), hashed with the algorithm's SHA-2.

        Returns:
            RSA: the PKCS #1 v1.5 signature (RFC 8017 §8.2); ECDSA: the DER ``Ecdsa-Sig-Value``
            (RFC 3279 §2.2.3).

        Raises:
            ConfigError: python-pkcs11 is missing (hint ``pip install 'juxsdk[pkcs11]'``), the
                module path is wrong, no PIN is configured for a token that needs one, the
                selection is ambiguous, the algorithm does not fit the key, or the
                certificate does not match the key.
            SigningError: the token is not present (the message lists the tokens that are),
                the PIN is wrong or locked (never echoed), the key or certificate is not in
                the token, the mechanism is not supported, or the token failed.
        """
        with locked():
            self._connection()
            assert self._algorithm is not None
            return self._sign_locked(ALGORITHMS[self._algorithm][1], data)

    def close(self) -> None:
        """Release this signer's reference to the shared token session. Idempotent."""
        with locked():
            conn, self._conn = self._conn, None
            if conn is not None:
                release(conn.shared)

    # -- jux config check ----------------------------------------------------------------

    def check(self) -> list[str]:
        """Check that the token and key can sign (``jux config check``); see :func:`.check.reachability`.

        Returns:
            One human-readable line per step that succeeded (no secrets).

        Raises:
            ConfigError, SigningError: the first step that failed, as :meth:`sign`.
        """
        return check.reachability(self)

    def key_identity(self) -> tuple[str, str]:
        """``(CKA_LABEL, CKA_ID as hex or "-")`` of the key in use (opens the token).

        Raises:
            ConfigError, SigningError: as for :meth:`sign`.
        """
        with locked():
            conn = self._connection()
            return conn.label, conn.key_id.hex() or "-"

    # -- internals ---------------------------------------------------------------------

    def _sign_with_hash(self, hash_name: str, data: bytes) -> bytes:
        """Sign ``data`` with the key and an explicit hash (used for certificates)."""
        with locked():
            return self._sign_locked(hash_name, data)

    def _sign_locked(self, hash_name: str, data: bytes) -> bytes:
        p11 = python_pkcs11()
        for attempt in (1, 2):
            conn = self._connection()
            try:
                return token_key.sign(conn, hash_name, data)
            except p11.PKCS11Error as exc:
                if attempt == 1 and type(exc).__name__ in _RECONNECT_ERRORS:
                    # The session died under us (token re-plugged, library reset): reopen once.
                    self._conn = None
                    release(conn.shared, force=True)
                    continue
                what = f"PKCS#11 signing with {self.options.describe_key()} failed"
                raise device_error(exc, what) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _connection(self) -> token_key.Connection:
        """Return a live connection, opening the token when needed (lock held)."""
        conn = self._conn
        if conn is not None and conn.generation == STATE.generation and not conn.shared.closed:
            return conn
        self._conn = None  # after fork: the parent's handles are dropped, never used
        shared = acquire(self.options)
        try:
            conn = self._open_key(shared)
        except BaseException:
            release(shared)
            raise
        self._conn = conn
        return conn

    def _open_key(self, shared: Shared) -> token_key.Connection:
        private_key, key_type, key_id, label = token_key.find_private_key(shared, self.options)
        if self._public_key is None or self._chain is None:
            self._public_key, self._chain = token_key.load_public_material(
                shared, self.options, private_key, key_type, key_id, label
            )
        self._algorithm = token_key.choose_algorithm(self._algorithm, key_type, self._public_key, label)
        return token_key.Connection(
            shared=shared, private_key=private_key, key_type=key_type, key_id=key_id, label=label
        )


def check_reachability(options: Pkcs11Options) -> list[str]:
    """Check that the configured token and key can sign; for ``jux config check``.

    Opens the module, finds the token, logs in, finds the key, loads the public key and the
    certificate (checking they match) and makes one test signature, verified on the host.

    Args:
        options: The signer's options.

    Returns:
        Human-readable lines, one per successful step (no secrets), e.g.
        ``"token: 'ci' (serial 1a2b…, slot 7)"``.

    Raises:
        ConfigError, SigningError: the first step that failed, as :meth:`Pkcs11Signer.sign`.
    """
    with Pkcs11Signer(options) as signer:
        return signer.check()
