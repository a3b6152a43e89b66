"""juxsdk plugin module, listed in the ``juxsdk`` entry-point group of this distribution.

The store is announced by name (a ``BackendSpec``): juxsdk imports :mod:`jux_sqlite_store.store`
only when a configuration selects ``"sqlite"``, so ``jux backends``, the pytest plugin and every
pipeline that does not use this store never pay for importing it.
"""

from __future__ import annotations

from typing import Any

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


@hookimpl
def juxsdk_doctor_checks(kind: str, name: str, backend: Any, config: Any) -> list[Any] | None:
    """``jux doctor``: the SQLite file passes ``PRAGMA quick_check`` (only for this package's store)."""
    if kind != "store" or type(backend).__module__ != "jux_sqlite_store.store":
        return None
    from juxsdk.doctor import Check, CheckResult, fail, ok, skip

    def integrity() -> CheckResult:
        if not backend.path.exists():
            return skip(f"{backend.path} does not exist yet (created on the first store)")
        [(answer,)] = backend._query("check", "PRAGMA quick_check")
        if answer != "ok":
            return fail(f"{backend.path}: {answer}", "restore the file from a backup")
        return ok(f"{backend.path} passes PRAGMA quick_check")

    return [Check(f"store.{name}.integrity", integrity)]
