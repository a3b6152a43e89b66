"""juxsdk plugin module, listed in the ``juxsdk`` entry-point group of this distribution.

The store is announced by name (a ``BackendSpec``): juxsdk imports :mod:`jux_sqlite_store.store`
only when a configuration selects ``"sqlite"``, so ``jux backends``, the pytest plugin and every
pipeline that does not use this store never pay for importing it.
"""

from __future__ import annotations

from juxsdk.plugin import BackendSpec, hookimpl


@hookimpl
def juxsdk_register_stores() -> list[BackendSpec]:
    """Announce :class:`jux_sqlite_store.store.SqliteStore` under the name ``"sqlite"``."""
    return [
        BackendSpec(
            "sqlite",
            "jux_sqlite_store.store:SqliteStore",
            "Stores reports in one SQLite file, keyed by canonical hash.",
        )
    ]
