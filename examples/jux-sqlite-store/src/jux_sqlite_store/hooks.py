"""juxsdk plugin module, listed in the ``juxsdk`` entry-point group of this distribution."""

from __future__ import annotations

from typing import Any

from juxsdk.plugin import hookimpl


@hookimpl
def juxsdk_register_stores() -> list[type[Any]]:
    """Register :class:`jux_sqlite_store.SqliteStore` under the name ``"sqlite"``."""
    from .store import SqliteStore

    return [SqliteStore]
