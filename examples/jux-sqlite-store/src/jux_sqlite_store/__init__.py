"""jux-sqlite-store: a juxsdk store backend (name ``"sqlite"``) in one SQLite file.

``SqliteStore`` is imported on first use, so that loading :mod:`jux_sqlite_store.hooks` (what
juxsdk does to list the installed backends) does not import the store and its dependencies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["SqliteStore"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "SqliteStore":
        from .store import SqliteStore

        return SqliteStore
    raise AttributeError(f"module 'jux_sqlite_store' has no attribute {name!r}")


if TYPE_CHECKING:  # pragma: no cover
    from .store import SqliteStore
