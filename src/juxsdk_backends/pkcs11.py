"""PKCS#11 signer: the signing key stays in an HSM, smart card or SoftHSM2 token.

Configuration (``jux.toml``; ``[tool.jux.backends.pkcs11]`` in ``pyproject.toml``)::

    signer = "pkcs11"

    [backends.pkcs11]
    module = "/usr/lib/softhsm/libsofthsm2.so"   # the vendor's PKCS#11 library
    token_label = "ci"
    key_label = "jux-signing"
    pin = { env = "JUX_PKCS11_PIN" }

Only signatures leave the token: the private key is looked up by label/id and used through
``C_Sign``; its value is never read (keys made by :func:`generate_token_key_pair` are
``CKA_SENSITIVE`` and not ``CKA_EXTRACTABLE``).

Mechanisms (PKCS #11 v2.40 Current Mechanisms §2.1, §2.3):

* RSA: ``CKM_SHA256_RSA_PKCS`` / ``CKM_SHA384_RSA_PKCS`` / ``CKM_SHA512_RSA_PKCS``; when the token
  lacks them, the data is hashed on the host and signed with ``CKM_RSA_PKCS`` over the
  ``DigestInfo`` (RFC 8017 §9.2). Both give the same PKCS #1 v1.5 signature.
* ECDSA: the data is hashed on the host and signed with ``CKM_ECDSA`` (SoftHSM2 has no
  ``CKM_ECDSA_SHA256``); the raw ``r‖s`` the token returns is converted to the DER
  ``Ecdsa-Sig-Value`` of RFC 3279 §2.2.3.

Sessions and threads: the PKCS#11 library is loaded and initialised once per process; one
logged-in session per token is shared by every :class:`Pkcs11Signer` of the process
(reference-counted: the last :meth:`Pkcs11Signer.close` logs out). python-pkcs11 calls
``C_Initialize`` without locking arguments, so the library may not be thread-safe: a
process-wide lock serialises every call into the token. After ``fork()`` the child
re-initialises the library (``C_Finalize`` + ``C_Initialize``) and opens its own session; it
never uses the parent's handles.

python-pkcs11 is an optional dependency (``pip install 'juxsdk[pkcs11]'``), imported on first use.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import importlib
import os
import secrets
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, NoReturn

import attrs
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature

from juxsdk import keys
from juxsdk.config.secret import Secret
from juxsdk.errors import ConfigError, JuxError, SecretRequiredError, SigningError

__all__ = [
    "GeneratedTokenKey",
    "Pkcs11Options",
    "Pkcs11Signer",
    "check_reachability",
    "generate_token_key_pair",
]

INSTALL_HINT = "pip install 'juxsdk[pkcs11]'"

#: algorithm name -> (key family, hash name)
_ALGORITHMS: dict[str, tuple[str, str]] = {
    "rsa-sha256": ("rsa", "sha256"),
    "rsa-sha384": ("rsa", "sha384"),
    "rsa-sha512": ("rsa", "sha512"),
    "ecdsa-sha256": ("ec", "sha256"),
    "ecdsa-sha384": ("ec", "sha384"),
    "ecdsa-sha512": ("ec", "sha512"),
}

#: DER prefix of ``DigestInfo`` for each hash (RFC 8017 §9.2, note 1).
_DIGEST_INFO_PREFIX: dict[str, bytes] = {
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}

_HASH_CLASSES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}

#: Default ECDSA algorithm per curve (hash strength matched to the curve, RFC 5656 §6.2.1).
_EC_DEFAULTS: dict[str, str] = {
    "secp256r1": "ecdsa-sha256",
    "secp384r1": "ecdsa-sha384",
    "secp521r1": "ecdsa-sha512",
}


# --- options -------------------------------------------------------------------------------


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
    if value is not None and value.lower() not in _ALGORITHMS:
        raise ConfigError(
            f"unsupported pkcs11 algorithm {value!r}",
            hint="use one of: " + ", ".join(_ALGORITHMS),
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


# --- python-pkcs11, loaded lazily ----------------------------------------------------------


def _p11() -> Any:
    """Import python-pkcs11.

    Raises:
        ConfigError: python-pkcs11 is not installed.
    """
    try:
        return importlib.import_module("pkcs11")
    except ImportError as exc:
        raise ConfigError(
            "the pkcs11 signer needs the python-pkcs11 package, which is not installed",
            hint=INSTALL_HINT,
        ) from exc


# --- process-wide state --------------------------------------------------------------------

_LOCK = threading.RLock()


@attrs.define(eq=False)
class _Shared:
    """One logged-in session on one token, shared by the signers of this process."""

    key: tuple[str, int]
    lib: Any
    token: Any
    session: Any
    mechanisms: frozenset[Any]
    pin_digest: bytes | None
    logged_in: bool
    generation: int
    refs: int = 0
    closed: bool = False


@attrs.define(eq=False)
class _ProcessState:
    pid: int
    generation: int = 0
    libs: dict[str, Any] = attrs.Factory(dict)
    sessions: dict[tuple[str, int], _Shared] = attrs.Factory(dict)
    pin_key: bytes = attrs.Factory(lambda: secrets.token_bytes(32))


_STATE = _ProcessState(pid=os.getpid())


def _after_fork_in_child() -> None:
    # A thread of the parent may have held the lock at fork time; it does not exist here.
    global _LOCK
    _LOCK = threading.RLock()


if hasattr(os, "register_at_fork"):  # pragma: no branch - POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)


@contextmanager
def _locked() -> Iterator[_ProcessState]:
    """Hold the process-wide PKCS#11 lock; re-initialise first when this is a forked child."""
    with _LOCK:
        if _STATE.pid != os.getpid():
            _reset_after_fork()
        yield _STATE


def _reset_after_fork() -> None:
    """Forget the parent's sessions and re-initialise every loaded library (PKCS #11 §6.7.1)."""
    _STATE.sessions.clear()  # the parent's handles: never closed, never reused
    _STATE.generation += 1
    _STATE.pid = os.getpid()
    if not _STATE.libs:
        return
    p11 = _p11()
    for lib in _STATE.libs.values():
        try:
            lib.finalize()
        except p11.PKCS11Error:
            pass  # CKR_CRYPTOKI_NOT_INITIALIZED: the library already reset itself on fork
        try:
            lib.initialize()
        except p11.PKCS11Error as exc:
            raise _device_error(exc, "cannot re-initialise the PKCS#11 library after fork()") from exc


def _load_lib(module: Path) -> Any:
    p11 = _p11()
    path = str(module)
    lib = _STATE.libs.get(path)
    if lib is not None:
        return lib
    if not module.is_file():
        raise ConfigError(
            f"PKCS#11 module not found: {path}",
            hint="set module to your vendor's PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so "
            "(apt-get install softhsm2)",
        )
    try:
        lib = p11.lib(path)
    except p11.PKCS11Error as exc:
        raise ConfigError(
            f"cannot load PKCS#11 module {path}: {exc}",
            hint="check that module is a PKCS#11 library built for this platform",
        ) from exc
    _STATE.libs[path] = lib
    return lib


def _token_listing(lib: Any) -> list[str]:
    p11 = _p11()
    found = []
    for slot in lib.get_slots(token_present=True):
        try:
            token = slot.get_token()
        except Exception:  # noqa: BLE001, S112 - a broken slot must not hide the others
            continue
        if not token.flags & p11.TokenFlag.TOKEN_INITIALIZED:
            continue  # an empty slot (SoftHSM2 always offers one)
        serial = token.serial.decode("ascii", "replace").strip()
        found.append(f"{token.label!r} (serial {serial})")
    return found


def _find_token(lib: Any, options: Pkcs11Options) -> Any:
    p11 = _p11()
    matches = []
    for slot in lib.get_slots(token_present=True):
        try:
            token = slot.get_token()
        except Exception:  # noqa: BLE001, S112 - token removed between listing and query
            continue
        if not token.flags & p11.TokenFlag.TOKEN_INITIALIZED:
            continue  # an empty slot (SoftHSM2 always offers one)
        if options.token_label is not None and token.label != options.token_label:
            continue
        serial = token.serial.decode("ascii", "replace").strip()
        if options.token_serial is not None and serial != options.token_serial.strip():
            continue
        matches.append(token)
    if not matches:
        available = _token_listing(lib)
        raise SigningError(
            f"PKCS#11 {options.describe_token()} is not present in {options.module_path}; "
            f"available tokens: {', '.join(available) or 'none'}",
            hint="check token_label/token_serial, that the device is plugged in, "
            "and (SoftHSM2) that SOFTHSM2_CONF points at the right token directory",
        )
    if len(matches) > 1:
        raise ConfigError(
            f"several PKCS#11 tokens match {options.describe_token()}: "
            + ", ".join(_token_listing(lib)),
            hint="set token_serial to choose one",
        )
    return matches[0]


def _pin_digest(pin: str | None) -> bytes | None:
    if pin is None:
        return None
    return hmac.new(_STATE.pin_key, pin.encode("utf-8"), hashlib.sha256).digest()


def _login_error(exc: Exception, options: Pkcs11Options, label: str) -> JuxError:
    p11 = _p11()
    where = f"PKCS#11 token {label!r}"
    pin_ref = ""
    if options.pin is not None and options.pin.env is not None:
        pin_ref = f" in ${options.pin.env}"
    elif options.pin is not None and options.pin.file is not None:
        pin_ref = f" in {options.pin.file}"
    if isinstance(exc, p11.PinLocked):
        return SigningError(
            f"the user PIN of {where} is locked (too many wrong attempts)",
            hint="unlock it with the security officer PIN (e.g. `softhsm2-util --init-pin` or "
            "your vendor's tool), then set the new PIN",
        )
    if isinstance(exc, p11.PinExpired):
        return SigningError(
            f"the user PIN of {where} has expired", hint="set a new PIN with your token's tool"
        )
    if isinstance(exc, (p11.PinIncorrect, p11.PinInvalid, p11.PinLenRange)):
        return SigningError(
            f"wrong PIN for {where}",
            hint=f"check the PIN{pin_ref}; repeated wrong PINs may lock the token",
        )
    if isinstance(exc, p11.UserPinNotInitialized):
        return SigningError(
            f"{where} has no user PIN yet", hint="initialise it (softhsm2-util --init-pin)"
        )
    return _device_error(exc, f"cannot log in to {where}")


def _device_error(exc: Exception, what: str) -> SigningError:
    p11 = _p11()
    name = type(exc).__name__
    detail = str(exc).strip()
    message = f"{what}: {name}" + (f" ({detail})" if detail else "")
    if isinstance(exc, (p11.DeviceRemoved, p11.TokenNotPresent, p11.TokenNotRecognised)):
        return SigningError(message, hint="the token was removed or is not reachable")
    if isinstance(exc, (p11.MechanismInvalid, p11.MechanismParamInvalid, p11.FunctionNotSupported)):
        return SigningError(message, hint="the token does not support this mechanism; try another algorithm")
    if isinstance(exc, p11.KeyFunctionNotPermitted):
        return SigningError(message, hint="the key does not have CKA_SIGN set")
    return SigningError(message, hint="see the PKCS#11 library's log for details")


def _find(shared: _Shared, object_class: Any, *, label: str | None, key_id: bytes | None) -> list[Any]:
    """Objects of ``object_class`` matching the label and/or id (lock held)."""
    p11 = _p11()
    query: dict[Any, Any] = {p11.Attribute.CLASS: object_class}
    if label is not None:
        query[p11.Attribute.LABEL] = label
    if key_id is not None:
        query[p11.Attribute.ID] = key_id
    return list(shared.session.get_objects(query))


def _acquire(options: Pkcs11Options) -> _Shared:
    """Return this process's shared logged-in session for the configured token (lock held)."""
    p11 = _p11()
    lib = _load_lib(options.module_path)
    try:
        token = _find_token(lib, options)
        slot_id = int(token.slot.slot_id)
    except p11.PKCS11Error as exc:
        raise _device_error(exc, f"cannot list the tokens of {options.module_path}") from exc
    key = (str(options.module_path), slot_id)
    pin = options.pin.get() if options.pin is not None else None
    digest = _pin_digest(pin)

    login_required = bool(token.flags & p11.TokenFlag.LOGIN_REQUIRED)
    user_pin: Any = pin
    if pin is None and token.flags & p11.TokenFlag.PROTECTED_AUTHENTICATION_PATH:
        user_pin = p11.PROTECTED_AUTH
    elif pin is None and login_required:
        raise SecretRequiredError(
            f"PKCS#11 token {token.label!r} requires a PIN and none is configured",
            option_path="backends.pkcs11.pin",
            prompt=f"PIN for PKCS#11 token {token.label!r}",
            hint='set pin = { env = "JUX_PKCS11_PIN" } in [backends.pkcs11]',
        )

    shared = _STATE.sessions.get(key)
    if shared is not None:
        if shared.pin_digest is not None and digest is not None and not hmac.compare_digest(
            shared.pin_digest, digest
        ):
            raise SigningError(
                f"wrong PIN for PKCS#11 token {token.label!r}: another signer of this process "
                "is logged in to it with a different PIN",
                hint="use the same PIN for every signer on one token",
            )
        shared.refs += 1
        return shared

    if user_pin is not None and token.flags & p11.TokenFlag.USER_PIN_LOCKED:
        # Checked before C_Login: some tokens (SoftHSM2) report the lock only in the flags.
        raise _login_error(p11.PinLocked(), options, token.label)
    logged_in = user_pin is not None
    try:
        session = token.open(user_pin=user_pin)
    except p11.UserAlreadyLoggedIn:
        # Something else in this process logged in (login state is per application).
        session = token.open()
        logged_in = False
    except p11.PKCS11Error as exc:
        raise _login_error(exc, options, token.label) from exc
    try:
        mechanisms = frozenset(token.slot.get_mechanisms())
    except p11.PKCS11Error:
        mechanisms = frozenset()
    shared = _Shared(
        key=key,
        lib=lib,
        token=token,
        session=session,
        mechanisms=mechanisms,
        pin_digest=digest,
        logged_in=logged_in,
        generation=_STATE.generation,
        refs=1,
    )
    _STATE.sessions[key] = shared
    return shared


def _release(shared: _Shared, *, force: bool = False) -> None:
    """Drop one reference; close (and log out) after the last one, or now with ``force`` (lock held).

    A force-closed session stays marked ``closed``: the signers still holding it reconnect
    and never close its (possibly reused) handle again.
    """
    if shared.closed or shared.generation != _STATE.generation:
        return  # already closed, or a parent's session after fork: not ours to close
    shared.refs -= 1
    if shared.refs > 0 and not force:
        return
    shared.closed = True
    if _STATE.sessions.get(shared.key) is shared:
        del _STATE.sessions[shared.key]
    p11 = _p11()
    try:
        shared.session.close()
    except p11.PKCS11Error:
        pass  # already closed or the token is gone: nothing left to release


# --- public key helpers ---------------------------------------------------------------------


def _spki(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _curve_from_params(params: bytes) -> ec.EllipticCurve:
    asn1 = importlib.import_module("asn1crypto.core")
    try:
        dotted = asn1.ObjectIdentifier.load(params).dotted
        return ec.get_curve_for_oid(x509.ObjectIdentifier(dotted))()
    except (ValueError, TypeError, LookupError) as exc:
        raise SigningError(
            "unsupported EC domain parameters on the token key (only named curves are supported)",
            hint="use a P-256 or P-384 key",
        ) from exc


def _public_key_from_object(obj: Any) -> PublicKeyTypes:
    p11 = _p11()
    attr = p11.Attribute
    key_type = obj[attr.KEY_TYPE]
    if key_type == p11.KeyType.RSA:
        n = int.from_bytes(obj[attr.MODULUS], "big")
        e = int.from_bytes(obj[attr.PUBLIC_EXPONENT], "big")
        return rsa.RSAPublicNumbers(e, n).public_key()
    if key_type == p11.KeyType.EC:
        curve = _curve_from_params(obj[attr.EC_PARAMS])
        point = bytes(obj[attr.EC_POINT])
        coord = (curve.key_size + 7) // 8
        if len(point) != 1 + 2 * coord:  # DER OCTET STRING around the point (PKCS #11 §2.3.3)
            asn1 = importlib.import_module("asn1crypto.core")
            point = bytes(asn1.OctetString.load(point).native)
        return ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
    raise SigningError(
        f"unsupported PKCS#11 key type {key_type!r}", hint="use an RSA or EC (P-256/P-384) key"
    )


# --- the signer ----------------------------------------------------------------------------


@attrs.define(eq=False)
class _Connection:
    shared: _Shared
    private_key: Any
    key_type: str  # "rsa" | "ec"
    generation: int
    rsa_hash_mechanism_ok: dict[str, bool] = attrs.Factory(dict)


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

    def __init__(self, options: Pkcs11Options) -> None:
        if not isinstance(options, Pkcs11Options):
            raise ConfigError("Pkcs11Signer needs a Pkcs11Options instance")
        self.options = options
        self._conn: _Connection | None = None
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
            with _locked():
                self._connection()
        assert self._algorithm is not None
        return self._algorithm

    def public_key(self) -> PublicKeyTypes:
        """Return the key's public half, read from the token's public key object or the certificate.

        Raises:
            ConfigError, SigningError: as for :meth:`sign`.
        """
        if self._public_key is None:
            with _locked():
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
            with _locked():
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
        with _locked():
            self._connection()
            assert self._algorithm is not None
            return self._sign_locked(_ALGORITHMS[self._algorithm][1], data)

    def close(self) -> None:
        """Release this signer's reference to the shared token session. Idempotent."""
        with _locked():
            conn, self._conn = self._conn, None
            if conn is not None:
                _release(conn.shared)

    # -- internals ---------------------------------------------------------------------

    def _sign_with_hash(self, hash_name: str, data: bytes) -> bytes:
        """Sign ``data`` with the key and an explicit hash (used for certificates)."""
        with _locked():
            return self._sign_locked(hash_name, data)

    def _sign_locked(self, hash_name: str, data: bytes) -> bytes:
        p11 = _p11()
        for attempt in (1, 2):
            conn = self._connection()
            try:
                return self._sign_once(conn, hash_name, data)
            except p11.PKCS11Error as exc:
                if attempt == 1 and type(exc).__name__ in _RECONNECT_ERRORS:
                    # The session died under us (token re-plugged, library reset): reopen once.
                    self._conn = None
                    _release(conn.shared, force=True)
                    continue
                what = f"PKCS#11 signing with {self.options.describe_key()} failed"
                raise _device_error(exc, what) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _sign_once(self, conn: _Connection, hash_name: str, data: bytes) -> bytes:
        p11 = _p11()
        mech = p11.Mechanism
        mechanisms = conn.shared.mechanisms  # empty: the token did not say; just try
        if conn.key_type == "ec":
            if mechanisms and mech.ECDSA not in mechanisms:
                self._no_mechanism(conn, "CKM_ECDSA")
            digest = hashlib.new(hash_name, data).digest()
            raw = bytes(conn.private_key.sign(digest, mechanism=mech.ECDSA))
            half = len(raw) // 2
            if len(raw) % 2 or not half:
                raise SigningError(f"the token returned a malformed ECDSA signature ({len(raw)} bytes)")
            return encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))
        hash_mech = getattr(mech, f"{hash_name.upper()}_RSA_PKCS")
        ok = conn.rsa_hash_mechanism_ok.get(hash_name)
        if ok is None:
            ok = not mechanisms or hash_mech in mechanisms
            conn.rsa_hash_mechanism_ok[hash_name] = ok
        if ok:
            try:
                return bytes(conn.private_key.sign(data, mechanism=hash_mech))
            except (p11.MechanismInvalid, p11.FunctionNotSupported):
                conn.rsa_hash_mechanism_ok[hash_name] = False  # remembered: host hashing from now on
        if mechanisms and mech.RSA_PKCS not in mechanisms:
            self._no_mechanism(conn, f"CKM_{hash_name.upper()}_RSA_PKCS or CKM_RSA_PKCS")
        digest_info = _DIGEST_INFO_PREFIX[hash_name] + hashlib.new(hash_name, data).digest()
        return bytes(conn.private_key.sign(digest_info, mechanism=mech.RSA_PKCS))

    @staticmethod
    def _no_mechanism(conn: _Connection, names: str) -> NoReturn:
        raise SigningError(
            f"PKCS#11 token {conn.shared.token.label!r} does not support {names}",
            hint="choose another algorithm or key type supported by the token",
        )

    def _connection(self) -> _Connection:
        """Return a live connection, opening the token when needed (lock held)."""
        conn = self._conn
        if conn is not None and conn.generation == _STATE.generation and not conn.shared.closed:
            return conn
        self._conn = None  # after fork: the parent's handles are dropped, never used
        shared = _acquire(self.options)
        try:
            conn = self._open_key(shared)
        except BaseException:
            _release(shared)
            raise
        self._conn = conn
        return conn

    def _open_key(self, shared: _Shared) -> _Connection:
        p11 = _p11()
        o = self.options
        attr = p11.Attribute
        token_label = shared.token.label
        try:
            keys = _find(shared, p11.ObjectClass.PRIVATE_KEY, label=o.key_label, key_id=o.key_id_bytes)
        except p11.PKCS11Error as exc:
            raise _device_error(exc, f"cannot search PKCS#11 token {token_label!r}") from exc
        if not keys:
            try:
                available = [
                    f"{k[attr.LABEL]!r} (id {bytes(k[attr.ID]).hex() or '-'})"
                    for k in _find(shared, p11.ObjectClass.PRIVATE_KEY, label=None, key_id=None)
                ]
            except p11.PKCS11Error:
                available = []
            hint = "check key_label/key_id"
            if not shared.logged_in and o.pin is None:
                hint += "; private keys are only visible after login: configure pin"
            raise SigningError(
                f"no {o.describe_key()} in PKCS#11 token {token_label!r}; "
                f"private keys there: {', '.join(available) or 'none'}",
                hint=hint + " (create one with `jux keygen --signer pkcs11`)",
            )
        if len(keys) > 1:
            raise ConfigError(
                f"{len(keys)} private keys match {o.describe_key()} in PKCS#11 token {token_label!r}",
                hint="set key_id (hex CKA_ID) to choose one",
            )
        private_key = keys[0]
        try:
            key_type_raw = private_key[attr.KEY_TYPE]
            key_id = bytes(private_key[attr.ID])
            key_label = private_key[attr.LABEL]
        except p11.PKCS11Error as exc:
            raise _device_error(exc, "cannot read the key's attributes") from exc
        if key_type_raw == p11.KeyType.RSA:
            key_type = "rsa"
        elif key_type_raw == p11.KeyType.EC:
            key_type = "ec"
        else:
            raise SigningError(
                f"unsupported key type {key_type_raw!r} for {o.describe_key()}",
                hint="use an RSA or EC (P-256/P-384) key",
            )

        if self._public_key is None or self._chain is None:
            public_key, chain = self._load_public_material(shared, private_key, key_type, key_id, key_label)
            self._public_key, self._chain = public_key, chain

        if self._algorithm is None:
            if key_type == "rsa":
                self._algorithm = "rsa-sha256"
            else:
                assert isinstance(self._public_key, ec.EllipticCurvePublicKey)
                self._algorithm = _EC_DEFAULTS.get(self._public_key.curve.name, "ecdsa-sha256")
        family, _hash = _ALGORITHMS[self._algorithm]
        if family != key_type:
            raise ConfigError(
                f"pkcs11 algorithm {self._algorithm!r} does not fit the {key_type.upper()} key {key_label!r}",
                hint="remove algorithm to use the key's default, or pick a matching one",
            )
        return _Connection(
            shared=shared, private_key=private_key, key_type=key_type, generation=_STATE.generation
        )

    def _load_public_material(
        self, shared: _Shared, private_key: Any, key_type: str, key_id: bytes, key_label: str
    ) -> tuple[PublicKeyTypes, tuple[x509.Certificate, ...]]:
        p11 = _p11()
        o = self.options
        attr = p11.Attribute
        # Certificate chain.
        chain: tuple[x509.Certificate, ...] = ()
        if o.certificate is not None:
            path = o.certificate.expanduser()
            try:
                chain = tuple(x509.load_pem_x509_certificates(path.read_bytes()))
            except OSError as exc:
                raise ConfigError(
                    f"cannot read pkcs11 certificate {path}: {exc.strerror}",
                    hint="certificate must be a PEM file (signing certificate first)",
                ) from exc
            except ValueError as exc:
                raise ConfigError(
                    f"pkcs11 certificate {path} holds no PEM certificate",
                    hint="certificate must be a PEM file (signing certificate first)",
                ) from exc
        else:
            try:
                if o.certificate_label is not None:
                    certs = _find(shared, p11.ObjectClass.CERTIFICATE, label=o.certificate_label, key_id=None)
                    if not certs:
                        raise SigningError(
                            f"no certificate labelled {o.certificate_label!r} in PKCS#11 token "
                            f"{shared.token.label!r}",
                            hint="check certificate_label, or import the certificate into the token",
                        )
                elif key_id:
                    certs = _find(shared, p11.ObjectClass.CERTIFICATE, label=None, key_id=key_id)
                else:
                    certs = []
                if certs:
                    chain = (x509.load_der_x509_certificate(bytes(certs[0][attr.VALUE])),)
            except p11.PKCS11Error as exc:
                raise _device_error(exc, "cannot read the certificate from the token") from exc

        # Public key: the token's public key object, else the private key's public
        # attributes (RSA), else the certificate.
        public_key: PublicKeyTypes | None = None
        try:
            pubs = _find(shared, p11.ObjectClass.PUBLIC_KEY, label=None, key_id=key_id) if key_id else []
            if not pubs:
                pubs = _find(shared, p11.ObjectClass.PUBLIC_KEY, label=key_label, key_id=None)
            if len(pubs) == 1:
                public_key = _public_key_from_object(pubs[0])
            elif key_type == "rsa":
                n = int.from_bytes(private_key[attr.MODULUS], "big")
                e = int.from_bytes(private_key[attr.PUBLIC_EXPONENT], "big")
                public_key = rsa.RSAPublicNumbers(e, n).public_key()
        except p11.PKCS11Error as exc:
            raise _device_error(exc, "cannot read the public key from the token") from exc
        if public_key is None:
            if not chain:
                raise SigningError(
                    f"no public key object for {o.describe_key()} in PKCS#11 token {shared.token.label!r}",
                    hint="import the public key or the certificate into the token, or set certificate",
                )
            public_key = chain[0].public_key()
        if chain and _spki(chain[0].public_key()) != _spki(public_key):
            where = str(o.certificate) if o.certificate is not None else "the token's certificate object"
            raise ConfigError(
                f"the certificate in {where} ({chain[0].subject.rfc4514_string()}) does not match "
                f"the PKCS#11 key {key_label!r}",
                hint="configure the certificate issued for this key (or regenerate it with "
                "`jux keygen --signer pkcs11`)",
            )
        return public_key, chain


# --- key generation and checks for the CLI --------------------------------------------------


@attrs.frozen
class GeneratedTokenKey:
    """What :func:`generate_token_key_pair` created.

    Attributes:
        key_label: ``CKA_LABEL`` of the new key pair (and certificate object).
        key_id: ``CKA_ID`` of the new key pair, hex.
        algorithm: Default signature algorithm of the key, e.g. ``"rsa-sha256"``.
        certificate: The self-signed certificate, signed by the token key.
        certificate_path: Where the PEM was written, or None.
        stored_in_token: True when the certificate was stored as a token object.
    """

    key_label: str
    key_id: str
    algorithm: str
    certificate: x509.Certificate
    certificate_path: Path | None
    stored_in_token: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (for ``jux keygen --signer pkcs11 --json``)."""
        cert = self.certificate
        return {
            "key_label": self.key_label,
            "key_id": self.key_id,
            "algorithm": self.algorithm,
            "certificate_path": str(self.certificate_path) if self.certificate_path else None,
            "stored_in_token": self.stored_in_token,
            "subject": cert.subject.rfc4514_string(),
            "not_after": cert.not_valid_after_utc.isoformat(),
            "fingerprint": "sha256:" + cert.fingerprint(hashes.SHA256()).hex(),
        }


class _TokenKeyMixin:
    """Presents a :class:`Pkcs11Signer` to cryptography's CertificateBuilder as a private key."""

    _signer: Pkcs11Signer

    def _token_sign(self, data: bytes, algorithm: Any) -> bytes:
        if isinstance(algorithm, Prehashed) or not isinstance(algorithm, hashes.HashAlgorithm):
            raise TypeError("the token key signs unhashed data with a SHA-2 hash")
        if algorithm.name not in _HASH_CLASSES:
            raise TypeError(f"unsupported hash {algorithm.name}")
        return self._signer._sign_with_hash(algorithm.name, data)

    def _unsupported(self, *_args: Any) -> NoReturn:
        raise TypeError("a PKCS#11 token key cannot be exported or used for decryption")


class _TokenRSAKey(_TokenKeyMixin, rsa.RSAPrivateKey):
    def __init__(self, signer: Pkcs11Signer) -> None:
        self._signer = signer

    def sign(self, data: bytes, padding: padding.AsymmetricPadding, algorithm: Any) -> bytes:
        if not isinstance(padding, _PKCS1v15):
            raise TypeError("the token key signs with PKCS #1 v1.5 padding only")
        return self._token_sign(data, algorithm)

    @property
    def key_size(self) -> int:
        pub = self._signer.public_key()
        assert isinstance(pub, rsa.RSAPublicKey)
        return pub.key_size

    def public_key(self) -> rsa.RSAPublicKey:
        pub = self._signer.public_key()
        assert isinstance(pub, rsa.RSAPublicKey)
        return pub

    def decrypt(self, ciphertext: bytes, padding: padding.AsymmetricPadding) -> bytes:
        self._unsupported()

    def private_numbers(self) -> rsa.RSAPrivateNumbers:
        self._unsupported()

    def private_bytes(self, *args: Any) -> bytes:
        self._unsupported()

    def __copy__(self) -> _TokenRSAKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> _TokenRSAKey:
        return self


class _TokenECKey(_TokenKeyMixin, ec.EllipticCurvePrivateKey):
    def __init__(self, signer: Pkcs11Signer) -> None:
        self._signer = signer

    def sign(
        self, data: bytes | bytearray | memoryview, signature_algorithm: ec.EllipticCurveSignatureAlgorithm
    ) -> bytes:
        if not isinstance(signature_algorithm, ec.ECDSA):
            raise TypeError("the token key signs with ECDSA only")
        return self._token_sign(bytes(data), signature_algorithm.algorithm)

    def public_key(self) -> ec.EllipticCurvePublicKey:
        pub = self._signer.public_key()
        assert isinstance(pub, ec.EllipticCurvePublicKey)
        return pub

    @property
    def curve(self) -> ec.EllipticCurve:
        return self.public_key().curve

    @property
    def key_size(self) -> int:
        return self.curve.key_size

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        self._unsupported()

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        self._unsupported()

    def private_bytes(self, *args: Any) -> bytes:
        self._unsupported()

    def __copy__(self) -> _TokenECKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> _TokenECKey:
        return self


_PKCS1v15 = padding.PKCS1v15


def _self_signed_certificate(
    signer: Pkcs11Signer, *, subject: str, days: int, not_before: _dt.datetime | None
) -> x509.Certificate:
    """The same certificate profile as ``jux keygen`` (:mod:`juxsdk.keys`), signed by the token."""
    public_key = signer.public_key()
    adapter: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    adapter = _TokenRSAKey(signer) if isinstance(public_key, rsa.RSAPublicKey) else _TokenECKey(signer)
    certificate = keys.self_signed_certificate(adapter, subject=subject, days=days, not_before=not_before)
    # Self-check: the certificate's signature verifies with the token's public key.
    try:
        certificate.verify_directly_issued_by(certificate)
    except (InvalidSignature, ValueError, TypeError) as exc:
        raise SigningError("the token produced a certificate signature that does not verify") from exc
    return certificate


_CURVE_ALIASES = {
    "p-256": "secp256r1",
    "p256": "secp256r1",
    "secp256r1": "secp256r1",
    "prime256v1": "secp256r1",
    "p-384": "secp384r1",
    "p384": "secp384r1",
    "secp384r1": "secp384r1",
    "p-521": "secp521r1",
    "p521": "secp521r1",
    "secp521r1": "secp521r1",
}


def generate_token_key_pair(
    options: Pkcs11Options,
    *,
    key_type: str = "rsa",
    bits: int = 2048,
    curve: str = "P-256",
    subject: str = keys.DEFAULT_SUBJECT,
    days: int = keys.DEFAULT_DAYS,
    certificate_out: str | os.PathLike[str] | None = None,
    store_certificate: bool = True,
    not_before: _dt.datetime | None = None,
) -> GeneratedTokenKey:
    """Generate a non-extractable key pair in the token and a self-signed certificate signed by it.

    The private key is created with ``CKA_TOKEN``, ``CKA_PRIVATE``, ``CKA_SENSITIVE``,
    ``CKA_SIGN`` true and ``CKA_EXTRACTABLE``, ``CKA_DECRYPT``, ``CKA_UNWRAP``, ``CKA_DERIVE``
    false, so it can only ever sign. The certificate (X.509 v3, RFC 5280; KeyUsage
    digitalSignature, BasicConstraints CA=false, SubjectKeyIdentifier; SHA-256) is built by
    :func:`juxsdk.keys.self_signed_certificate` (the profile of ``jux keygen``) and its
    signature is computed *by the token* (``C_Sign``) through a cryptography private-key
    adapter; it is checked against the token's public key before it is returned.

    Args:
        options: Where to create the key: ``module``, token selection, ``pin`` and
            ``key_label`` (required) and optionally ``key_id`` (hex; random 8 bytes when
            unset). ``certificate`` is used as ``certificate_out`` when that is not given.
        key_type: ``"rsa"`` or ``"ec"``.
        bits: RSA modulus size in bits (2048, 3072 or 4096).
        curve: EC curve: ``"P-256"``, ``"P-384"`` or ``"P-521"`` (``secp256r1``… accepted).
        subject: Common name (``"build-bot"``) or RFC 4514 name (``"CN=build-bot,O=Example"``)
            of the certificate subject and issuer.
        days: Certificate validity in days from ``not_before``.
        certificate_out: Write the certificate here as PEM (parent directories are created).
        store_certificate: Also store the certificate in the token as a ``CKO_CERTIFICATE``
            object with the key's label and id.
        not_before: Start of the certificate validity (default: now, UTC).

    Returns:
        :class:`GeneratedTokenKey`.

    Raises:
        ConfigError: bad arguments, no ``key_label``, or a key with that label/id already exists.
        SigningError: the token refused (wrong PIN, read-only token, unsupported key size…).
            If storing or writing the certificate fails, the key pair stays in the token.
    """
    if key_type not in ("rsa", "ec"):
        raise ConfigError(f"unsupported key type {key_type!r}", hint="use rsa or ec")
    if key_type == "rsa" and bits not in (2048, 3072, 4096):
        raise ConfigError(f"unsupported RSA size {bits}", hint="use 2048, 3072 or 4096 bits")
    curve_name = _CURVE_ALIASES.get(curve.lower())
    if key_type == "ec" and curve_name is None:
        raise ConfigError(f"unsupported EC curve {curve!r}", hint="use P-256, P-384 or P-521")
    if days < 1:
        raise ConfigError(f"certificate validity must be at least 1 day, got {days}")
    if not options.key_label:
        raise ConfigError("key_label is required to generate a key in the token",
                          hint='set key_label = "jux-signing" in [backends.pkcs11]')
    key_id = options.key_id_bytes or secrets.token_bytes(8)
    out = Path(certificate_out) if certificate_out is not None else options.certificate
    p11 = _p11()
    attr = p11.Attribute
    gen_options = attrs.evolve(options, key_id=key_id.hex(), certificate=None, certificate_label=None)

    with _locked():
        shared = _acquire(gen_options)
        try:
            for cls in (p11.ObjectClass.PRIVATE_KEY, p11.ObjectClass.PUBLIC_KEY):
                for sel in ({"label": options.key_label, "key_id": None}, {"label": None, "key_id": key_id}):
                    if _find(shared, cls, label=sel["label"], key_id=sel["key_id"]):  # type: ignore[arg-type]
                        raise ConfigError(
                            f"PKCS#11 token {shared.token.label!r} already holds a key with "
                            f"label {options.key_label!r} or id {key_id.hex()}",
                            hint="choose another key_label/key_id, or delete the old key "
                            "with your token's tool",
                        )
            common = {attr.TOKEN: True, attr.LABEL: options.key_label, attr.ID: key_id}
            private_template = {
                **common,
                attr.PRIVATE: True,
                attr.SENSITIVE: True,
                attr.EXTRACTABLE: False,
                attr.SIGN: True,
                attr.DECRYPT: False,
                attr.UNWRAP: False,
            }
            public_template = {
                **common,
                attr.PRIVATE: False,
                attr.VERIFY: True,
                attr.ENCRYPT: False,
                attr.WRAP: False,
            }
            try:
                rw = shared.token.open(rw=True)  # shares the login state; closing it does not log out
            except p11.PKCS11Error as exc:
                raise _device_error(exc, "cannot open a read-write session") from exc
            try:
                if key_type == "rsa":
                    rw.generate_keypair(
                        p11.KeyType.RSA,
                        bits,
                        store=True,
                        public_template=public_template,
                        private_template=private_template,
                    )
                else:
                    ec_util = importlib.import_module("pkcs11.util.ec")
                    params = rw.create_domain_parameters(
                        p11.KeyType.EC,
                        {attr.EC_PARAMS: ec_util.encode_named_curve_parameters(curve_name)},
                        local=True,
                    )
                    private_template[attr.DERIVE] = False
                    del private_template[attr.DECRYPT], private_template[attr.UNWRAP]
                    del public_template[attr.ENCRYPT], public_template[attr.WRAP]
                    params.generate_keypair(
                        store=True, public_template=public_template, private_template=private_template
                    )
            except p11.PKCS11Error as exc:
                what = f"cannot generate the {key_type.upper()} key pair in the token"
                raise _device_error(exc, what) from exc
            finally:
                try:
                    rw.close()
                except p11.PKCS11Error:
                    pass
        finally:
            _release(shared)

    signer = Pkcs11Signer(gen_options)
    try:
        algorithm = signer.algorithm
        certificate = _self_signed_certificate(signer, subject=subject, days=days, not_before=not_before)
        stored = False
        if store_certificate:
            with _locked():
                shared = signer._connection().shared
                try:
                    rw = shared.token.open(rw=True)
                    try:
                        rw.create_object(
                            {
                                attr.CLASS: p11.ObjectClass.CERTIFICATE,
                                attr.CERTIFICATE_TYPE: p11.CertificateType.X_509,
                                attr.TOKEN: True,
                                attr.PRIVATE: False,
                                attr.LABEL: options.key_label,
                                attr.ID: key_id,
                                attr.SUBJECT: certificate.subject.public_bytes(),
                                attr.ISSUER: certificate.issuer.public_bytes(),
                                attr.SERIAL_NUMBER: _der_integer(certificate.serial_number),
                                attr.VALUE: certificate.public_bytes(serialization.Encoding.DER),
                            }
                        )
                    finally:
                        rw.close()
                except p11.PKCS11Error as exc:
                    raise _device_error(exc, "cannot store the certificate in the token") from exc
            stored = True
        if out is not None:
            out = out.expanduser()
            try:
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
            except OSError as exc:
                raise ConfigError(f"cannot write certificate {out}: {exc.strerror}") from exc
    finally:
        signer.close()
    return GeneratedTokenKey(
        key_label=options.key_label,
        key_id=key_id.hex(),
        algorithm=algorithm,
        certificate=certificate,
        certificate_path=out,
        stored_in_token=stored,
    )


def _der_integer(value: int) -> bytes:
    """DER INTEGER (X.690 §8.3) of a non-negative int, as CKA_SERIAL_NUMBER wants it."""
    body = value.to_bytes(value.bit_length() // 8 + 1, "big")
    length = len(body)
    if length < 0x80:
        return bytes([0x02, length]) + body
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x02, 0x80 | len(size)]) + size + body


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
    lines: list[str] = []
    with Pkcs11Signer(options) as signer:
        with _locked():
            shared = _acquire(options)
            try:
                lib, token = shared.lib, shared.token
                lines.append(
                    f"module: {options.module_path} ({lib.manufacturer_id} {lib.library_description}, "
                    f"library {'.'.join(map(str, lib.library_version))}, "
                    f"Cryptoki {'.'.join(map(str, lib.cryptoki_version))})"
                )
                serial = token.serial.decode("ascii", "replace").strip()
                lines.append(f"token: {token.label!r} (serial {serial}, slot {shared.key[1]})")
                if options.pin is None:
                    lines.append("login: none configured")
                else:
                    lines.append("login: ok" if shared.logged_in else "login: ok (already logged in)")
            finally:
                _release(shared)
        algorithm = signer.algorithm
        public_key = signer.public_key()
        with _locked():
            conn = signer._connection()
            kid = bytes(conn.private_key[_p11().Attribute.ID]).hex() or "-"
            klabel = conn.private_key[_p11().Attribute.LABEL]
        if isinstance(public_key, rsa.RSAPublicKey):
            detail = f"RSA {public_key.key_size}"
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            detail = f"EC {public_key.curve.name}"
        else:  # pragma: no cover - only RSA and EC keys are accepted
            detail = type(public_key).__name__
        lines.append(f"key: {klabel!r} (id {kid}, {detail}) -> {algorithm}")
        chain = signer.certificate_chain()
        if chain:
            cert = chain[0]
            lines.append(
                f"certificate: {cert.subject.rfc4514_string()} matches the key "
                f"(valid until {cert.not_valid_after_utc:%Y-%m-%d})"
            )
        else:
            lines.append("certificate: none (KeyInfo will carry the public key)")
        probe = b"jux config check"
        signature = signer.sign(probe)
        hash_cls = _HASH_CLASSES[_ALGORITHMS[algorithm][1]]
        try:
            if isinstance(public_key, rsa.RSAPublicKey):
                public_key.verify(signature, probe, padding.PKCS1v15(), hash_cls())
            elif isinstance(public_key, ec.EllipticCurvePublicKey):
                public_key.verify(signature, probe, ec.ECDSA(hash_cls()))
        except InvalidSignature as exc:
            raise SigningError(
                "the token's test signature does not verify with the key's public key",
                hint="the public key object does not belong to the private key; check the token",
            ) from exc
        lines.append(f"test signature: ok ({algorithm})")
    return lines
