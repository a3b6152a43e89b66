"""Name → backend class registry, built from a fresh pluggy PluginManager.

Plugins arrive through the ``juxsdk`` entry-point group (the built-ins included), through the
``JUXSDK_PLUGINS`` environment variable (comma-separated importable module names), or as
objects passed to :class:`Registry`. Set ``JUXSDK_DISABLE_PLUGIN_AUTOLOAD=1`` to skip the
entry points (``JUXSDK_PLUGINS`` and explicit plugins still load).

Backend names are unique across all kinds, because a backend's options live in one table
``[tool.jux.backends.<name>]``. A duplicate name is an error naming both providers.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import pluggy

from . import hookspecs
from .errors import BackendNotFoundError, PluginError

__all__ = ["KINDS", "BackendInfo", "Registry"]

#: Backend kinds and the hook that registers each.
KINDS: Mapping[str, str] = {
    "signer": "juxsdk_register_signers",
    "store": "juxsdk_register_stores",
    "publisher": "juxsdk_register_publishers",
}

ENTRY_POINT_GROUP = "juxsdk"


@attrs.frozen
class BackendInfo:
    """One registered backend.

    Attributes:
        kind: ``"signer"``, ``"store"`` or ``"publisher"``.
        name: The name used in configuration.
        cls: The backend class.
        plugin: Name of the plugin (entry point or module) that registered it.
        distribution: Distribution (pip package) providing it, when known.
        version: Version of that distribution, when known.
    """

    kind: str
    name: str
    cls: type[Any]
    plugin: str
    distribution: str | None = None
    version: str | None = None

    @property
    def summary(self) -> str:
        """First line of the backend class docstring."""
        doc = (self.cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


class Registry:
    """All backends available in this environment.

    Args:
        plugins: Extra plugin objects (modules or instances with hookimpls) to register.
        autoload: Load the ``juxsdk`` entry-point group. Default: True unless
            ``JUXSDK_DISABLE_PLUGIN_AUTOLOAD`` is set.
        environ: Environment to read ``JUXSDK_*`` variables from (default ``os.environ``).

    Raises:
        PluginError: a plugin failed to import, implements an unknown hook, returns something
            that is not a backend class, or two backends share a name.
    """

    def __init__(
        self,
        *,
        plugins: Iterable[object] = (),
        autoload: bool | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        if autoload is None:
            autoload = not _truthy(env.get("JUXSDK_DISABLE_PLUGIN_AUTOLOAD"))
        self._pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs)
        self._dists: dict[str, tuple[str | None, str | None]] = {}
        if autoload:
            self._load_entry_points()
        for modname in filter(None, (m.strip() for m in env.get("JUXSDK_PLUGINS", "").split(","))):
            self._register(self._import(modname, f"JUXSDK_PLUGINS entry {modname!r}"), modname, None)
        for i, plugin in enumerate(plugins):
            name = getattr(plugin, "__name__", None) or f"{type(plugin).__name__}-{i}"
            self._register(plugin, name, None)
        try:
            self._pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(
                f"plugin {exc.plugin!r} implements a hook juxsdk does not define: {exc}",
                hint="check the hook names against juxsdk.hookspecs",
            ) from exc
        self._backends: dict[str, dict[str, BackendInfo]] = {kind: {} for kind in KINDS}
        self._collect()

    # -- loading ------------------------------------------------------------------------

    @staticmethod
    def _import(modname: str, what: str) -> object:
        try:
            return importlib.import_module(modname)
        except Exception as exc:
            raise PluginError(
                f"cannot import {what}: {type(exc).__name__}: {exc}",
                hint="reinstall the plugin, or set JUXSDK_DISABLE_PLUGIN_AUTOLOAD=1 to skip entry points",
            ) from exc

    def _load_entry_points(self) -> None:
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if self._pm.get_plugin(ep.name) is not None or self._pm.is_blocked(ep.name):
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                raise PluginError(
                    f"cannot load juxsdk plugin {ep.name!r} ({ep.value}): {type(exc).__name__}: {exc}",
                    hint="reinstall the plugin, or set JUXSDK_DISABLE_PLUGIN_AUTOLOAD=1 to skip entry points",
                ) from exc
            dist = getattr(ep, "dist", None)
            self._register(
                plugin,
                ep.name,
                (dist.metadata["name"], dist.version) if dist is not None else None,
            )

    def _register(self, plugin: object, name: str, dist: tuple[str | None, str | None] | None) -> None:
        if self._pm.is_registered(plugin):
            return
        try:
            registered = self._pm.register(plugin, name=name)
        except ValueError as exc:
            raise PluginError(f"plugin {name!r} registered twice: {exc}") from exc
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"invalid juxsdk plugin {name!r}: {exc}") from exc
        if registered is not None:
            self._dists[registered] = dist or (None, None)

    def _collect(self) -> None:
        seen: dict[str, BackendInfo] = {}
        for kind, hookname in KINDS.items():
            caller = getattr(self._pm.hook, hookname)
            for impl in caller.get_hookimpls():
                plugin_name = impl.plugin_name
                try:
                    result = impl.function()
                except Exception as exc:
                    raise PluginError(
                        f"plugin {plugin_name!r} failed in {hookname}: {type(exc).__name__}: {exc}"
                    ) from exc
                for cls in result or ():
                    info = self._validate(kind, cls, plugin_name)
                    other = seen.get(info.name)
                    if other is not None:
                        raise PluginError(
                            f"backend name {info.name!r} is registered twice: {other.kind} "
                            f"{other.cls.__module__}.{other.cls.__qualname__} (plugin {other.plugin!r}) and "
                            f"{kind} {cls.__module__}.{cls.__qualname__} (plugin {plugin_name!r})",
                            hint="uninstall one of the two plugins; backend names must be unique",
                        )
                    seen[info.name] = info
                    self._backends[kind][info.name] = info

    def _validate(self, kind: str, cls: Any, plugin_name: str) -> BackendInfo:
        name = getattr(cls, "name", None)
        if not isinstance(cls, type) or not isinstance(name, str) or not name:
            raise PluginError(
                f"plugin {plugin_name!r} registered {cls!r} as a {kind}, but it is not a class "
                "with a non-empty string attribute `name`"
            )
        options = getattr(cls, "Options", None)
        if not (isinstance(options, type) and attrs.has(options)):
            raise PluginError(
                f"{kind} backend {name!r} from plugin {plugin_name!r} has no attrs `Options` class"
            )
        dist, version = self._dists.get(plugin_name, (None, None))
        return BackendInfo(kind, name, cls, plugin_name, dist, version)

    # -- queries ------------------------------------------------------------------------

    def names(self, kind: str) -> list[str]:
        """Sorted backend names of one kind."""
        return sorted(self._backends[kind])

    def backends(self) -> list[BackendInfo]:
        """Every registered backend, grouped by kind then name."""
        return [self._backends[k][n] for k in KINDS for n in sorted(self._backends[k])]

    def get(self, kind: str, name: str) -> BackendInfo:
        """Look a backend up.

        Raises:
            BackendNotFoundError: nothing of that kind is registered under ``name``; the
                message lists what is available and says a plugin may not be installed.
        """
        try:
            return self._backends[kind][name]
        except KeyError:
            raise BackendNotFoundError(kind, name, list(self._backends.get(kind, {}))) from None

    def find(self, name: str) -> BackendInfo | None:
        """Look a backend up by name across all kinds; None when absent."""
        for kind in KINDS:
            if name in self._backends[kind]:
                return self._backends[kind][name]
        return None

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        """The underlying PluginManager (for calling other hooks such as metadata collectors)."""
        return self._pm
