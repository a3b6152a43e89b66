"""Secret option values: ``{env = "VAR"}`` / ``{file = "path"}`` references and masking.

The small module a backend imports for its ``Secret`` fields: it imports nothing but ``attrs``,
:mod:`juxsdk.errors` and :mod:`juxsdk.scrub` (not the loader, ``cattrs`` or ``tomllib``), so
``import juxsdk.config.secret`` stays cheap.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import attrs

from ..errors import ConfigError
from ..scrub import register_secret

__all__ = ["MASK", "Secret", "is_secret_ref", "looks_secret"]

#: What a secret value is replaced with in every rendering.
MASK: Final = "****"

# Option-name parts that mark a value as secret when the option's type is not known.
_SECRETISH: Final = frozenset(
    {"token", "password", "passwd", "passphrase", "secret", "pin", "credential", "credentials",
     "apikey", "auth", "authorization", "cookie"}
)


def toml_str(text: str) -> str:
    # JSON string escapes are a subset of TOML basic-string escapes.
    return json.dumps(text, ensure_ascii=False)


def is_secret_ref(value: Any) -> bool:
    """``{env = "X"}`` / ``{file = "p"}``: a table that is a single value, not a sub-table."""
    if not isinstance(value, Mapping) or len(value) != 1:
        return False
    key, ref = next(iter(value.items()))
    return key in ("env", "file") and isinstance(ref, str)


def looks_secret(option: str) -> bool:
    """Whether an option name looks like it holds a secret (``token``, ``*_password``…)."""
    low = option.lower()
    parts = set(re.split(r"[^a-z0-9]+", low))
    return bool(parts & _SECRETISH) or low.endswith(("token", "password", "secret", "api_key", "access_key",
                                                         "secret_key", "private_key", "apikey"))


@attrs.frozen(repr=False)
class Secret:
    """A secret reference: ``{env = "VAR"}``, ``{file = "path"}`` or a plain value (masked).

    In TOML a secret option is written ``token = { env = "JUX_API_TOKEN" }`` (read the variable
    when the secret is used), ``token = { file = "~/.jux/token" }`` (read the file, surrounding
    whitespace stripped; a relative path in a config file is relative to that file's directory)
    or a plain string (accepted, but it then lives in the file: prefer a reference).

    ``str()``/``repr()`` never show the value: ``Secret(env='VAR')``, ``Secret(file='p')`` or
    ``Secret('****')``.

    Attributes:
        env: Name of the environment variable holding the value.
        file: Path of the file holding the value.
        value: The value itself (plain secret).
    """

    env: str | None = None
    file: str | None = None
    value: str | None = attrs.field(default=None, eq=False)

    def get(self, environ: Mapping[str, str] | None = None) -> str:
        """Resolve the secret.

        The value is also registered with :func:`juxsdk.scrub.register_secret`, so the CLI's
        log handlers mask it should it ever reach a log message.

        Args:
            environ: Environment to read ``env`` references from (default :data:`os.environ`).

        Returns:
            The secret value (for a file: its text with surrounding whitespace stripped).

        Raises:
            ConfigError: the variable is unset, or the file is unreadable. The message names the
                variable or the file, never the value.
        """
        value = self._resolve(environ)
        register_secret(value)
        return value

    def _resolve(self, environ: Mapping[str, str] | None) -> str:
        if self.value is not None:
            return self.value
        if self.env is not None:
            env = os.environ if environ is None else environ
            v = env.get(self.env)
            if v is None:
                raise ConfigError(f"secret environment variable {self.env} is not set",
                                  hint=f"export {self.env}=…")
            return v
        if self.file is not None:
            try:
                return Path(self.file).expanduser().read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"cannot read secret file {self.file}: {exc.strerror}",
                                  hint="check the path and its permissions") from exc
            except UnicodeDecodeError as exc:
                raise ConfigError(f"secret file {self.file} is not UTF-8 text",
                                  hint="store the secret as text") from exc
        raise ConfigError("empty secret reference", hint="use {env = \"VAR\"} or {file = \"path\"}")

    def masked(self) -> str:
        """Return the secret as TOML with the value masked.

        Returns:
            ``{env = "VAR"}``, ``{file = "path"}`` or ``****``.
        """
        if self.env is not None:
            return f"{{env = {toml_str(self.env)}}}"
        if self.file is not None:
            return f"{{file = {toml_str(self.file)}}}"
        return MASK

    def __repr__(self) -> str:
        if self.env is not None:
            return f"Secret(env={self.env!r})"
        if self.file is not None:
            return f"Secret(file={self.file!r})"
        return "Secret('****')"

    __str__ = __repr__
