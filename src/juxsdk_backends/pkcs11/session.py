"""Process-wide PKCS#11 state: the library, one logged-in session per token, fork safety.

The PKCS#11 library is loaded and initialised once per process (``C_Initialize``); one
logged-in session per token is shared by every signer of the process (reference-counted: the
last :func:`release` closes it, which logs out). python-pkcs11 calls ``C_Initialize`` without
locking arguments, so the library may not be thread-safe: one process-wide lock
(:func:`locked`) serialises every call into the token. After ``fork()`` the child
re-initialises each library (``C_Finalize`` + ``C_Initialize``, PKCS #11 v2.40 §6.7.1) and
opens its own sessions; the parent's handles are dropped, never used or closed.

Errors from python-pkcs11 are mapped here to :mod:`juxsdk.errors` (:func:`device_error`,
:func:`login_error`); PINs are never echoed, only where they come from (``$VAR`` or a file).
python-pkcs11 itself is imported on first use (:func:`python_pkcs11`).
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs

from juxsdk.errors import ConfigError, JuxError, SecretRequiredError, SigningError

from .options import Pkcs11Options

__all__ = [
    "INSTALL_HINT",
    "STATE",
    "Shared",
    "acquire",
    "device_error",
    "find_objects",
    "locked",
    "login_error",
    "python_pkcs11",
    "release",
]

INSTALL_HINT = "pip install 'juxsdk[pkcs11]'"


# --- python-pkcs11, loaded lazily ----------------------------------------------------------


def python_pkcs11() -> Any:
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
class Shared:
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
    sessions: dict[tuple[str, int], Shared] = attrs.Factory(dict)
    pin_key: bytes = attrs.Factory(lambda: secrets.token_bytes(32))


STATE = _ProcessState(pid=os.getpid())


def _after_fork_in_child() -> None:
    # A thread of the parent may have held the lock at fork time; it does not exist here.
    global _LOCK
    _LOCK = threading.RLock()


if hasattr(os, "register_at_fork"):  # pragma: no branch - POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)


@contextmanager
def locked() -> Iterator[_ProcessState]:
    """Hold the process-wide PKCS#11 lock; re-initialise first when this is a forked child."""
    with _LOCK:
        if STATE.pid != os.getpid():
            _reset_after_fork()
        yield STATE


def _reset_after_fork() -> None:
    """Forget the parent's sessions and re-initialise every loaded library (PKCS #11 §6.7.1)."""
    STATE.sessions.clear()  # the parent's handles: never closed, never reused
    STATE.generation += 1
    STATE.pid = os.getpid()
    if not STATE.libs:
        return
    p11 = python_pkcs11()
    for lib in STATE.libs.values():
        try:
            lib.finalize()
        except p11.PKCS11Error:
            pass  # CKR_CRYPTOKI_NOT_INITIALIZED: the library already reset itself on fork
        try:
            lib.initialize()
        except p11.PKCS11Error as exc:
            raise device_error(exc, "cannot re-initialise the PKCS#11 library after fork()") from exc


def _load_lib(module: Path) -> Any:
    p11 = python_pkcs11()
    path = str(module)
    lib = STATE.libs.get(path)
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
    STATE.libs[path] = lib
    return lib


def _token_listing(lib: Any) -> list[str]:
    p11 = python_pkcs11()
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
    p11 = python_pkcs11()
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
    return hmac.new(STATE.pin_key, pin.encode("utf-8"), hashlib.sha256).digest()


def login_error(exc: Exception, options: Pkcs11Options, label: str) -> JuxError:
    p11 = python_pkcs11()
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
    return device_error(exc, f"cannot log in to {where}")


def device_error(exc: Exception, what: str) -> SigningError:
    p11 = python_pkcs11()
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


def find_objects(shared: Shared, object_class: Any, *, label: str | None, key_id: bytes | None) -> list[Any]:
    """Objects of ``object_class`` matching the label and/or id (lock held)."""
    p11 = python_pkcs11()
    query: dict[Any, Any] = {p11.Attribute.CLASS: object_class}
    if label is not None:
        query[p11.Attribute.LABEL] = label
    if key_id is not None:
        query[p11.Attribute.ID] = key_id
    return list(shared.session.get_objects(query))


def acquire(options: Pkcs11Options) -> Shared:
    """Return this process's shared logged-in session for the configured token (lock held)."""
    p11 = python_pkcs11()
    lib = _load_lib(options.module_path)
    try:
        token = _find_token(lib, options)
        slot_id = int(token.slot.slot_id)
    except p11.PKCS11Error as exc:
        raise device_error(exc, f"cannot list the tokens of {options.module_path}") from exc
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

    shared = STATE.sessions.get(key)
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
        raise login_error(p11.PinLocked(), options, token.label)
    logged_in = user_pin is not None
    try:
        session = token.open(user_pin=user_pin)
    except p11.UserAlreadyLoggedIn:
        # Something else in this process logged in (login state is per application).
        session = token.open()
        logged_in = False
    except p11.PKCS11Error as exc:
        raise login_error(exc, options, token.label) from exc
    try:
        mechanisms = frozenset(token.slot.get_mechanisms())
    except p11.PKCS11Error:
        mechanisms = frozenset()
    shared = Shared(
        key=key,
        lib=lib,
        token=token,
        session=session,
        mechanisms=mechanisms,
        pin_digest=digest,
        logged_in=logged_in,
        generation=STATE.generation,
        refs=1,
    )
    STATE.sessions[key] = shared
    return shared


def release(shared: Shared, *, force: bool = False) -> None:
    """Drop one reference; close (and log out) after the last one, or now with ``force`` (lock held).

    A force-closed session stays marked ``closed``: the signers still holding it reconnect
    and never close its (possibly reused) handle again.
    """
    if shared.closed or shared.generation != STATE.generation:
        return  # already closed, or a parent's session after fork: not ours to close
    shared.refs -= 1
    if shared.refs > 0 and not force:
        return
    shared.closed = True
    if STATE.sessions.get(shared.key) is shared:
        del STATE.sessions[shared.key]
    p11 = python_pkcs11()
    try:
        shared.session.close()
    except p11.PKCS11Error:
        pass  # already closed or the token is gone: nothing left to release

