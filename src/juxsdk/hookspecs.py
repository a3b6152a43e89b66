"""pluggy hook specifications of the ``juxsdk`` project, and :class:`BackendSpec`.

A plugin is any module or object with ``@juxsdk.plugin.hookimpl`` functions named like the
specs below, registered through the ``juxsdk`` entry-point group of its distribution::

    [project.entry-points.juxsdk]
    mybackends = "my_package.hooks"

The built-in backends (``juxsdk_backends.hooks``) are registered exactly this way.

A ``juxsdk_register_*`` hook returns backends of its kind, each either

* a :class:`BackendSpec` — the name, where the class lives (``"package.module:Class"``) and a
  one-line summary. The module is imported only when that backend is selected, so listing the
  installed backends (``jux backends``, building a :class:`juxsdk.registry.Registry`) imports
  none of them. This is the recommended form; or
* the backend class itself (the original form, still accepted): the hook has imported the
  backend's module by the time it returns, so it is paid on every ``Registry()``.

This module imports only pluggy and the standard library: registering costs next to nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pluggy

PROJECT_NAME = "juxsdk"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)

__all__ = ["PROJECT_NAME", "BackendSpec", "hookspec"]


@dataclass(frozen=True)
class BackendSpec:
    """A backend announced without importing it (what ``juxsdk_register_*`` hooks return).

    Example::

        BackendSpec("sqlite", "jux_sqlite_store.store:SqliteStore",
                    "Stores reports in one SQLite file, keyed by canonical hash.")

    Attributes:
        name: The name users select in configuration; must equal the class's ``name``
            attribute (checked when the class is loaded). Unique across all backend kinds.
        target: Where the class lives, ``"package.module:QualifiedName"`` (the syntax of entry
            points); the module is imported the first time the backend is looked up with
            :meth:`juxsdk.registry.Registry.get` or built.
        summary: One line shown by ``jux backends`` (by convention the first line of the
            class docstring); empty when not given.
    """

    name: str
    target: str
    summary: str = ""


@hookspec
def juxsdk_register_signers() -> Sequence[BackendSpec | type[Any]]:  # type: ignore[empty-body]
    """Return the :class:`juxsdk.protocols.Signer` backends this plugin provides.

    Returns:
        :class:`BackendSpec` entries (imported when selected) or signer classes.
    """


@hookspec
def juxsdk_register_stores() -> Sequence[BackendSpec | type[Any]]:  # type: ignore[empty-body]
    """Return the :class:`juxsdk.protocols.Store` backends this plugin provides.

    Returns:
        :class:`BackendSpec` entries (imported when selected) or store classes.
    """


@hookspec
def juxsdk_register_publishers() -> Sequence[BackendSpec | type[Any]]:  # type: ignore[empty-body]
    """Return the :class:`juxsdk.protocols.Publisher` backends this plugin provides.

    Returns:
        :class:`BackendSpec` entries (imported when selected) or publisher classes.
    """


@hookspec
def juxsdk_collect_metadata(context: Mapping[str, Any]) -> Mapping[str, str] | None:
    """Return extra provenance properties (name → value) to add to a report before signing.

    Args:
        context: What the caller knows: ``{"harness": "pytest", "root": Path, ...}``.

    Returns:
        A mapping of property names to values, or None. Later plugins do not override
        earlier keys; explicit user properties always win.
    """


@hookspec
def juxsdk_doctor_checks(kind: str, name: str, backend: Any, config: Any) -> Sequence[Any] | None:
    """Return the health checks of one configured backend (``jux doctor``, :func:`juxsdk.doctor.diagnose`).

    Called for every selected backend once it is built; an implementation returns checks for
    the backends it knows (its own) and None for the others. The core adds generic checks
    (a signer's certificate and a test signature, a publisher's circuit) after them. A check
    that raises fails with the error's message (a :class:`~juxsdk.errors.JuxError`) or as
    ``check crashed (<class>)``; it never stops the other checks.

    Args:
        kind: ``"signer"``, ``"store"`` or ``"publisher"``.
        name: The backend name, as configured.
        backend: The backend instance (built from configuration, not yet used).
        config: The loaded :class:`juxsdk.config.JuxConfig`.

    Returns:
        :class:`juxsdk.doctor.Check` entries (a name and a small function returning
        :class:`juxsdk.doctor.CheckResult` values), or None.
    """
