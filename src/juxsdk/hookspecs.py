"""pluggy hook specifications of the ``juxsdk`` project.

A plugin is any module or object with ``@juxsdk.plugin.hookimpl`` functions named like the
specs below, registered through the ``juxsdk`` entry-point group of its distribution::

    [project.entry-points.juxsdk]
    mybackends = "my_package.hooks"

The built-in backends (``juxsdk_backends.hooks``) are registered exactly this way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pluggy

PROJECT_NAME = "juxsdk"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)

__all__ = ["PROJECT_NAME", "hookspec"]


@hookspec
def juxsdk_register_signers() -> Sequence[type[Any]]:  # type: ignore[empty-body]
    """Return the :class:`juxsdk.protocols.Signer` classes this plugin provides."""


@hookspec
def juxsdk_register_stores() -> Sequence[type[Any]]:  # type: ignore[empty-body]
    """Return the :class:`juxsdk.protocols.Store` classes this plugin provides."""


@hookspec
def juxsdk_register_publishers() -> Sequence[type[Any]]:  # type: ignore[empty-body]
    """Return the :class:`juxsdk.protocols.Publisher` classes this plugin provides."""


@hookspec
def juxsdk_collect_metadata(context: Mapping[str, Any]) -> Mapping[str, str] | None:
    """Return extra provenance properties (name → value) to add to a report before signing.

    Args:
        context: What the caller knows: ``{"harness": "pytest", "root": Path, ...}``.

    Returns:
        A mapping of property names to values, or None. Later plugins do not override
        earlier keys; explicit user properties always win.
    """
