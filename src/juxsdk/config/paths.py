"""Where juxsdk keeps its files: the user config and data directories, the system file.

Light on purpose (``platformdirs`` is imported on first use): backends call these helpers for
their defaults.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

__all__ = ["SYSTEM_CONFIG_FILE", "USER_CONFIG_NAME", "user_config_dir", "user_data_dir"]

#: The system-wide configuration file (lowest-precedence file).
SYSTEM_CONFIG_FILE: Final = Path("/etc/jux/config.toml")


#: File name of the user configuration file inside :func:`user_config_dir`.
USER_CONFIG_NAME: Final = "config.toml"


def user_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Return the per-user data directory (reports, outbox).

    ``$JUX_DATA_DIR`` wins when set and non-empty (tests and CI use it to isolate state);
    otherwise ``platformdirs.user_data_path("jux")`` (``~/.local/share/jux`` on Linux,
    ``~/Library/Application Support/jux`` on macOS, ``%LOCALAPPDATA%\\jux`` on Windows).

    Args:
        environ: Environment to read (default :data:`os.environ`).

    Returns:
        An absolute path, ``~`` expanded. The directory may not exist yet.
    """
    env = os.environ if environ is None else environ
    override = env.get("JUX_DATA_DIR")
    if override:
        return Path(override).expanduser().absolute()
    import platformdirs

    return platformdirs.user_data_path("jux", appauthor=False)


def user_config_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Return the per-user configuration directory (holding ``config.toml``).

    ``$JUX_CONFIG_DIR`` wins when set and non-empty; otherwise
    ``platformdirs.user_config_path("jux")`` (``~/.config/jux`` on Linux).

    Args:
        environ: Environment to read (default :data:`os.environ`).

    Returns:
        An absolute path, ``~`` expanded. The directory may not exist.
    """
    env = os.environ if environ is None else environ
    override = env.get("JUX_CONFIG_DIR")
    if override:
        return Path(override).expanduser().absolute()
    import platformdirs

    return platformdirs.user_config_path("jux", appauthor=False)
