"""A throwaway SoftHSM2 installation for tests: tokens, keys and certificates in a temp dir.

Import from a conftest and expose it as a session fixture::

    from softhsm import softhsm_environment

    @pytest.fixture(scope="session")
    def softhsm():
        return softhsm_environment()       # skips when softhsm2-util is not installed

One environment per process (the PKCS#11 library reads ``SOFTHSM2_CONF`` and scans the token
directory once, at ``C_Initialize``, so every token must exist before the first signer opens
it). Tokens:

* ``jux-test`` — keys ``rsa2048`` (certificate stored in the token and as PEM), ``rsa3072``
  (PEM only), ``p256`` (no certificate: KeyInfo carries the key value), ``p384`` (token certificate);
  all generated *in the token* by :func:`juxsdk_backends.pkcs11.generate_token_key_pair`;
* ``jux-spare`` — initialised, no keys, never logged in by the fixtures (wrong-PIN tests);
* ``jux-locked`` — its user PIN is locked. SoftHSM2 has no retry counter, so the
  ``CKF_USER_PIN_LOCKED`` bit is set in the token's stored flags (``token.object``) before the
  library loads; ``C_GetTokenInfo`` then reports the token locked, as a real token does after
  too many wrong PINs. (SoftHSM2 2.6 itself does not refuse ``C_Login`` on that flag; the
  signer checks the flag before logging in, and maps ``CKR_PIN_LOCKED`` from ``C_Login`` the
  same way — covered by a fault-injection test.)
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

SOFTHSM2_UTIL = shutil.which("softhsm2-util")
_MODULE_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
)

TOKEN = "jux-test"
SPARE_TOKEN = "jux-spare"
LOCKED_TOKEN = "jux-locked"
PIN = "4711-test-pin"
SO_PIN = "so-0815-test-pin"

#: name -> (key_type, size-or-curve, certificate location: "token+pem" | "pem" | "none" | "token")
KEYS: dict[str, tuple[str, Any, str]] = {
    "rsa2048": ("rsa", 2048, "token+pem"),
    "rsa3072": ("rsa", 3072, "pem"),
    "p256": ("ec", "P-256", "none"),
    "p384": ("ec", "P-384", "token"),
}

#: CKA_OS_TOKENFLAGS (SoftHSM2 vendor attribute 0x8000534B) record header in token.object:
#: 8-byte attribute type, then 8-byte kind 2 (unsigned long), then the 8-byte big-endian value.
_TOKEN_FLAGS_RECORD = bytes.fromhex("000000008000534b" "0000000000000002")
CKF_USER_PIN_LOCKED = 0x00040000


def find_module() -> Path | None:
    """Path of libsofthsm2.so (``JUX_TEST_SOFTHSM_MODULE`` overrides), or None."""
    env = os.environ.get("JUX_TEST_SOFTHSM_MODULE")
    if env:
        return Path(env) if Path(env).is_file() else None
    for cand in _MODULE_CANDIDATES:
        if Path(cand).is_file():
            return Path(cand)
    return None


def skip_reason() -> str | None:
    """Why SoftHSM2 tests cannot run here, or None when they can."""
    if SOFTHSM2_UTIL is None:
        return "softhsm2-util not installed (apt-get install softhsm2)"
    if find_module() is None:
        return "libsofthsm2.so not found (set JUX_TEST_SOFTHSM_MODULE)"
    try:
        import pkcs11  # noqa: F401
    except ImportError:
        return "python-pkcs11 not installed (pip install 'juxsdk[pkcs11]')"
    return None


#: Set ``JUX_REQUIRE_SOFTHSM=1`` (CI does) to make a missing SoftHSM2 a test failure, not a skip.
REQUIRED = os.environ.get("JUX_REQUIRE_SOFTHSM", "").strip().lower() in {"1", "true", "yes", "on"}

#: ``@requires_softhsm`` — skip (with the reason) only when SoftHSM2 is missing and not required.
requires_softhsm = pytest.mark.skipif(
    skip_reason() is not None and not REQUIRED, reason=skip_reason() or ""
)


@dataclass
class TokenKey:
    """One key pair made in the ``jux-test`` token."""

    name: str
    label: str
    key_id: str
    key_type: str
    certificate_pem: Path | None  # PEM file, when written
    in_token_certificate: bool
    certificate_der: bytes | None  # the certificate made for the key, if any


@dataclass
class SoftHSM:
    """The per-process SoftHSM2 environment."""

    root: Path
    conf: Path
    module: Path
    token: str = TOKEN
    spare_token: str = SPARE_TOKEN
    locked_token: str = LOCKED_TOKEN
    pin: str = PIN
    so_pin: str = SO_PIN
    keys: dict[str, TokenKey] = field(default_factory=dict)

    def options(self, key: str = "rsa2048", *, cert: str | None = "auto", **overrides: Any) -> Any:
        """Pkcs11Options for one of :data:`KEYS` (PIN from ``JUX_TEST_PKCS11_PIN``).

        ``cert="auto"`` uses the PEM file when the key has one, ``"token"`` the certificate
        object (by label), None no certificate option at all.
        """
        from juxsdk.config import Secret
        from juxsdk_backends.pkcs11 import Pkcs11Options

        info = self.keys[key]
        values: dict[str, Any] = {
            "module": self.module,
            "token_label": self.token,
            "key_label": info.label,
            "pin": Secret(value=self.pin),
        }
        if cert == "auto" and info.certificate_pem is not None:
            values["certificate"] = info.certificate_pem
        elif cert == "token":
            values["certificate_label"] = info.label
        values.update(overrides)
        return Pkcs11Options(**values)

    def toml_table(self, key: str = "rsa2048", *, pin_env: str = "JUX_PKCS11_PIN") -> str:
        """A ``[backends.pkcs11]`` TOML table for one key (PIN from ``pin_env``)."""
        info = self.keys[key]
        lines = [
            "[backends.pkcs11]",
            f'module = "{self.module}"',
            f'token_label = "{self.token}"',
            f'key_label = "{info.label}"',
            f'pin = {{ env = "{pin_env}" }}',
        ]
        if info.certificate_pem is not None:
            lines.append(f'certificate = "{info.certificate_pem}"')
        return "\n".join(lines) + "\n"

    def run_util(self, *args: str) -> str:
        """Run softhsm2-util with this environment's SOFTHSM2_CONF; return stdout."""
        assert SOFTHSM2_UTIL is not None
        env = {**os.environ, "SOFTHSM2_CONF": str(self.conf)}
        proc = subprocess.run(
            [SOFTHSM2_UTIL, *args], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(f"softhsm2-util {' '.join(args[:2])} failed: {proc.stderr.strip()}")
        return proc.stdout


def _lock_user_pin(tokendir: Path, label: str) -> None:
    """Set CKF_USER_PIN_LOCKED in the stored flags of the token labelled ``label``."""
    for obj in tokendir.glob("*/token.object"):
        data = obj.read_bytes()
        if label.encode() not in data:
            continue
        at = data.find(_TOKEN_FLAGS_RECORD)
        assert at >= 0, "SoftHSM2 token.object layout not recognised (no CKA_OS_TOKENFLAGS record)"
        start = at + len(_TOKEN_FLAGS_RECORD)
        flags = int.from_bytes(data[start : start + 8], "big") | CKF_USER_PIN_LOCKED
        obj.write_bytes(data[:start] + flags.to_bytes(8, "big") + data[start + 8 :])
        return
    raise AssertionError(f"token {label!r} not found under {tokendir}")


_ENV: SoftHSM | None = None


def softhsm_environment() -> SoftHSM:
    """Create (once per process) the SoftHSM2 environment and point ``SOFTHSM2_CONF`` at it.

    Calls ``pytest.skip`` when SoftHSM2 is not installed (``pytest.fail`` when
    ``JUX_REQUIRE_SOFTHSM=1``).
    """
    global _ENV
    if _ENV is not None:
        return _ENV
    reason = skip_reason()
    if reason is not None:
        if REQUIRED:
            pytest.fail(f"JUX_REQUIRE_SOFTHSM is set but {reason}", pytrace=False)
        pytest.skip(reason)
    module = find_module()
    assert module is not None
    root = Path(tempfile.mkdtemp(prefix="jux-softhsm-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    tokendir = root / "tokens"
    tokendir.mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokendir}\n"
        "objectstore.backend = file\n"
        "log.level = ERROR\n"
        "slots.removable = false\n"
    )
    env = SoftHSM(root=root, conf=conf, module=module)
    for label in (TOKEN, SPARE_TOKEN, LOCKED_TOKEN):
        env.run_util("--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin", SO_PIN)
    _lock_user_pin(tokendir, LOCKED_TOKEN)
    # Only now may the library load in this process (it scans the token directory once).
    os.environ["SOFTHSM2_CONF"] = str(conf)

    from cryptography.hazmat.primitives import serialization

    from juxsdk.config import Secret
    from juxsdk_backends.pkcs11 import Pkcs11Options, generate_token_key_pair

    for index, (name, (key_type, size, cert)) in enumerate(KEYS.items(), start=1):
        label = f"jux-{name}"
        key_id = f"{index:02x}"
        pem = root / f"{name}-cert.pem" if "pem" in cert else None
        options = Pkcs11Options(
            module=module, token_label=TOKEN, key_label=label, key_id=key_id, pin=Secret(value=PIN)
        )
        kwargs: dict[str, Any] = {"bits": size} if key_type == "rsa" else {"curve": size}
        made = generate_token_key_pair(
            options,
            key_type=key_type,
            subject=f"CN=jux test {name},O=juxsdk tests",
            days=30,
            certificate_out=pem,
            store_certificate="token" in cert,
            **kwargs,
        )
        env.keys[name] = TokenKey(
            name=name,
            label=label,
            key_id=key_id,
            key_type=key_type,
            certificate_pem=pem,
            in_token_certificate="token" in cert,
            certificate_der=(
                made.certificate.public_bytes(serialization.Encoding.DER) if cert != "none" else None
            ),
        )
    _ENV = env
    return env
