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

One idea per module:

* :mod:`.options` — :class:`Pkcs11Options`, the ``[backends.pkcs11]`` table;
* :mod:`.session` — the library, one logged-in session per token shared by the process,
  the process-wide lock and fork safety, python-pkcs11 error mapping;
* :mod:`.key` — the key in the token: lookup, public key and certificate, mechanisms
  (``CKM_SHA*_RSA_PKCS`` / ``CKM_RSA_PKCS`` over a ``DigestInfo`` / ``CKM_ECDSA`` with raw
  ``r‖s`` converted to DER);
* :mod:`.signer` — :class:`Pkcs11Signer` (lazy connection, reconnect once, close);
* :mod:`.keygen` — :func:`generate_token_key_pair` for ``jux keygen --signer pkcs11``;
* :mod:`.check` — the reachability check of ``jux config check``.

python-pkcs11 is an optional dependency (``pip install 'juxsdk[pkcs11]'``), imported on first use.
"""

from __future__ import annotations

from .keygen import GeneratedTokenKey, generate_token_key_pair
from .options import Pkcs11Options
from .session import INSTALL_HINT
from .signer import Pkcs11Signer, check_reachability

__all__ = [
    "INSTALL_HINT",
    "GeneratedTokenKey",
    "Pkcs11Options",
    "Pkcs11Signer",
    "check_reachability",
    "generate_token_key_pair",
]
