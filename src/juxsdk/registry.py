"""Name → backend registry, built from a fresh pluggy PluginManager; the one backend factory.

Plugins arrive through the ``juxsdk`` entry-point group (the built-ins included), through the
``JUXSDK_PLUGINS`` environment variable (comma-separated importable module names), or as
objects passed to :class:`Registry`. Set ``JUXSDK_DISABLE_PLUGIN_AUTOLOAD=1`` to skip the
entry points (``JUXSDK_PLUGINS`` and explicit plugins still load).

Backends load lazily. A plugin's ``juxsdk_register_*`` hooks return
:class:`~juxsdk.hookspecs.BackendSpec` entries (name, ``"module:Class"``, summary) or, in the
original form, the classes themselves. Building a :class:`Registry` imports the plugins' hook
modules and nothing else; a backend's module is imported the first time that backend is looked
up (:meth:`Registry.get`, :meth:`Registry.create`), and its class is checked then (a string
``name`` equal to the announced one, an attrs ``Options`` class).

:meth:`Registry.create` is the one way a backend is built from configuration: the facade
(:meth:`juxsdk.Jux.from_config`), every CLI command and the pytest plugin go through it.

Backend names are unique across all kinds, because a backend's options live in one table
``[tool.jux.backends.<name>]``. A duplicate name is an error naming both providers.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast, overload

import pluggy

from . import hookspecs
from .errors import BackendNotFoundError, PluginError
from .hookspecs import BackendSpec

if TYPE_CHECKING:  # pragma: no cover
    from .config import JuxConfig
    from .protocols import Publisher, Signer, Store

__all__ = ["KINDS", "BackendInfo", "BackendSpec", "Registry"]

#: Backend kinds and the hook that registers each.
KINDS: Mapping[str, str] = {
    "signer": "juxsdk_register_signers",
    "store": "juxsdk_register_stores",
    "publisher": "juxsdk_register_publishers",
}

ENTRY_POINT_GROUP = "juxsdk"

_REINSTALL_HINT = "reinstall the plugin, or set JUXSDK_DISABLE_PLUGIN_AUTOLOAD=1 to skip entry points"
#: ``package.module:Qualified.Name`` (the object reference syntax of entry points).
_TARGET = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")


@dataclass(frozen=True)
class BackendInfo:
    """One registered backend. Its class is imported on first access to :attr:`cls`.

    Attributes:
        kind: ``"signer"``, ``"store"`` or ``"publisher"``.
        name: The name used in configuration.
        target: Where the class lives, ``"package.module:QualifiedName"``.
        plugin: Name of the plugin (entry point or module) that registered it.
        announced_summary: The summary the plugin announced (``""`` for a class registration).
    """

    kind: str
    name: str
    target: str
    plugin: str
    announced_summary: str = field(default="", repr=False)
    dist: importlib.metadata.Distribution | None = field(default=None, repr=False, compare=False)
    _loaded: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def distribution(self) -> str | None:
        """Name of the distribution (pip package) providing the backend, when known.

        Read from the distribution's metadata on first access (not while the registry is built).
        """
        return self._dist_info()[0]

    @property
    def version(self) -> str | None:
        """Version of that distribution, when known."""
        return self._dist_info()[1]

    def _dist_info(self) -> tuple[str | None, str | None]:
        info = self._loaded.get("dist")
        if info is None:
            info = (self.dist.metadata["Name"], self.dist.version) if self.dist is not None else (None, None)
            self._loaded["dist"] = info
        return cast("tuple[str | None, str | None]", info)

    @property
    def loaded(self) -> bool:
        """True once the backend's module has been imported (or the plugin handed over the class)."""
        return "cls" in self._loaded

    @property
    def cls(self) -> type[Any]:
        """The backend class, imported from :attr:`target` on first access.

        Raises:
            PluginError: the module cannot be imported (the plugin or one of its dependencies
                may not be installed), the target does not exist, or it is not a backend class
                named :attr:`name` with an attrs ``Options`` class.
        """
        cls = self._loaded.get("cls")
        if cls is None:
            cls = _import_target(self)
            _check_class(self.kind, cls, self.plugin, expected=self.name)
            self._loaded["cls"] = cls
        return cast("type[Any]", cls)

    @property
    def summary(self) -> str:
        """One line: the plugin's announced summary, else the first line of the class docstring
        when the class is loaded, else ``""``."""
        if self.announced_summary or not self.loaded:
            return self.announced_summary
        return _doc_summary(self.cls)


def _doc_summary(cls: type[Any]) -> str:
    doc = (cls.__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""


def _import_target(info: BackendInfo) -> type[Any]:
    modname, _, qualname = info.target.partition(":")
    try:
        obj: Any = importlib.import_module(modname)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except Exception as exc:  # whatever a plugin module raises while importing
        provider = f"{info.distribution} {info.version or ''}".strip() if info.distribution else "the plugin"
        raise PluginError(
            f"cannot load {info.kind} backend {info.name!r} ({info.target}) from plugin {info.plugin!r}: "
            f"{type(exc).__name__}: {exc}",
            hint=f"{provider} (or a library it needs) may not be installed correctly: reinstall it, "
            "or select another backend",
        ) from exc
    return cast("type[Any]", obj)


def _check_class(kind: str, cls: Any, plugin_name: str, *, expected: str | None = None) -> str:
    """Check that ``cls`` is a backend class; return its name.

    Raises:
        PluginError: not a class with a non-empty string ``name`` (equal to ``expected`` when
            given), or no attrs ``Options`` class.
    """
    name = getattr(cls, "name", None)
    if not isinstance(cls, type) or not isinstance(name, str) or not name:
        raise PluginError(
            f"plugin {plugin_name!r} registered {cls!r} as a {kind}, but it is not a class "
            "with a non-empty string attribute `name` (nor a juxsdk.plugin.BackendSpec)"
        )
    if expected is not None and name != expected:
        raise PluginError(
            f"plugin {plugin_name!r} announced {kind} backend {expected!r}, but its class "
            f"{cls.__module__}.{cls.__qualname__} is named {name!r}",
            hint="the BackendSpec name must equal the class's `name` attribute",
        )
    import attrs  # the backend's module has imported it already: free here

    options = getattr(cls, "Options", None)
    if not (isinstance(options, type) and attrs.has(options)):
        raise PluginError(f"{kind} backend {name!r} from plugin {plugin_name!r} has no attrs `Options` class")
    return name


_GROUP_HEADER = re.compile(rf"^\s*\[{re.escape(ENTRY_POINT_GROUP)}\]\s*$", re.M)


def _entry_points() -> Iterator[importlib.metadata.EntryPoint]:
    """The ``juxsdk`` entry points of the installed distributions, in ``sys.path`` order.

    What ``importlib.metadata.entry_points(group="juxsdk")`` returns, without parsing the
    entry-point table of every installed distribution: only the tables with a ``[juxsdk]``
    section are parsed. In an environment of ~90 distributions that is ~10 ms instead of ~30
    (the pytest plugin builds a registry in every enabled run).
    """
    for dist in importlib.metadata.distributions():
        text = dist.read_text("entry_points.txt")
        if text and _GROUP_HEADER.search(text):
            yield from dist.entry_points.select(group=ENTRY_POINT_GROUP)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


class _OptionsClasses(Mapping[str, type[Any]]):
    """Backend name → ``Options`` class; a backend's module is imported only when looked up."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    def __getitem__(self, name: str) -> type[Any]:
        info = self._registry.find(name)
        if info is None:
            raise KeyError(name)
        return cast("type[Any]", info.cls.Options)

    def __iter__(self) -> Iterator[str]:
        return iter(b.name for b in self._registry.backends())

    def __len__(self) -> int:
        return len(self._registry.backends())


class Registry:
    """All backends available in this environment, and the factory that builds them.

    Args:
        plugins: Extra plugin objects (modules or instances with hookimpls) to register.
        autoload: Load the ``juxsdk`` entry-point group. Default: True unless
            ``JUXSDK_DISABLE_PLUGIN_AUTOLOAD`` is set.
        environ: Environment to read ``JUXSDK_*`` variables from (default ``os.environ``).

    Raises:
        PluginError: a plugin failed to import, implements an unknown hook, returns something
            that is not a :class:`BackendSpec` or a backend class, or two backends share a name.
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
        self._dists: dict[str, importlib.metadata.Distribution | None] = {}
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
            raise PluginError(f"cannot import {what}: {type(exc).__name__}: {exc}", hint=_REINSTALL_HINT) from exc

    def _load_entry_points(self) -> None:
        for ep in _entry_points():
            if self._pm.get_plugin(ep.name) is not None or self._pm.is_blocked(ep.name):
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                raise PluginError(
                    f"cannot load juxsdk plugin {ep.name!r} ({ep.value}): {type(exc).__name__}: {exc}",
                    hint=_REINSTALL_HINT,
                ) from exc
            self._register(plugin, ep.name, getattr(ep, "dist", None))

    def _register(self, plugin: object, name: str, dist: importlib.metadata.Distribution | None) -> None:
        if self._pm.is_registered(plugin):
            return
        try:
            registered = self._pm.register(plugin, name=name)
        except ValueError as exc:
            raise PluginError(f"plugin {name!r} registered twice: {exc}") from exc
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"invalid juxsdk plugin {name!r}: {exc}") from exc
        if registered is not None:
            self._dists[registered] = dist

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
                for item in result or ():
                    info = self._info(kind, item, plugin_name)
                    other = seen.get(info.name)
                    if other is not None:
                        raise PluginError(
                            f"backend name {info.name!r} is registered twice: {other.kind} "
                            f"{other.target} (plugin {other.plugin!r}) and "
                            f"{kind} {info.target} (plugin {plugin_name!r})",
                            hint="uninstall one of the two plugins; backend names must be unique",
                        )
                    seen[info.name] = info
                    self._backends[kind][info.name] = info

    def _info(self, kind: str, item: Any, plugin_name: str) -> BackendInfo:
        dist = self._dists.get(plugin_name)
        if isinstance(item, BackendSpec):
            if not (isinstance(item.name, str) and item.name):
                raise PluginError(f"plugin {plugin_name!r} announced a {kind} BackendSpec without a name: {item!r}")
            if not (isinstance(item.target, str) and _TARGET.match(item.target)):
                raise PluginError(
                    f"plugin {plugin_name!r} announced {kind} backend {item.name!r} with target "
                    f"{item.target!r}, not of the form 'package.module:ClassName'"
                )
            return BackendInfo(kind, item.name, item.target, plugin_name, str(item.summary or ""), dist)
        name = _check_class(kind, item, plugin_name)
        info = BackendInfo(kind, name, f"{item.__module__}:{item.__qualname__}", plugin_name, _doc_summary(item),
                           dist)
        info._loaded["cls"] = item
        return info

    # -- queries ------------------------------------------------------------------------

    def names(self, kind: str) -> list[str]:
        """Sorted backend names of one kind (imports no backend module)."""
        return sorted(self._backends[kind])

    def backends(self) -> list[BackendInfo]:
        """Every registered backend, grouped by kind then name (imports no backend module)."""
        return [self._backends[k][n] for k in KINDS for n in sorted(self._backends[k])]

    def get(self, kind: str, name: str) -> BackendInfo:
        """Look a backend up and import its class (only this backend's module).

        Raises:
            BackendNotFoundError: nothing of that kind is registered under ``name``; the
                message lists what is available and says a plugin may not be installed.
            PluginError: the backend's module cannot be imported or its class is not valid.
        """
        try:
            info = self._backends[kind][name]
        except KeyError:
            raise BackendNotFoundError(kind, name, list(self._backends.get(kind, {}))) from None
        info.cls  # noqa: B018 - import and check the class now, so a broken plugin fails here
        return info

    def find(self, name: str) -> BackendInfo | None:
        """Look a backend up by name across all kinds, without importing it; None when absent."""
        for kind in KINDS:
            if name in self._backends[kind]:
                return self._backends[kind][name]
        return None

    def options_classes(self) -> Mapping[str, type[Any]]:
        """Backend name → its ``Options`` class, importing a backend's module only when looked up.

        For :func:`juxsdk.config.dump_config` and :func:`juxsdk.config.init_config_text`, which
        look up the backends a configuration names.
        """
        return _OptionsClasses(self)

    # -- the factory --------------------------------------------------------------------

    def options(self, kind: str, name: str, config: JuxConfig) -> Any:
        """Build backend ``name``'s ``Options`` from its ``[backends.<name>]`` table, strictly.

        Args:
            kind: ``"signer"``, ``"store"`` or ``"publisher"``.
            name: The backend name.
            config: The loaded configuration.

        Returns:
            An instance of the backend's ``Options`` class.

        Raises:
            BackendNotFoundError: no backend of that kind and name.
            PluginError: its module cannot be imported.
            ConfigError: unknown option, wrong type, bad value or missing required option
                (see :meth:`juxsdk.config.JuxConfig.backend_options`).
        """
        return config.backend_options(name, self.get(kind, name).cls.Options)

    @overload
    def create(self, kind: Literal["signer"], name: str, config: JuxConfig) -> Signer: ...

    @overload
    def create(self, kind: Literal["store"], name: str, config: JuxConfig) -> Store: ...

    @overload
    def create(self, kind: Literal["publisher"], name: str, config: JuxConfig) -> Publisher: ...

    @overload
    def create(self, kind: str, name: str, config: JuxConfig) -> Any: ...

    def create(self, kind: str, name: str, config: JuxConfig) -> Any:
        """Build one backend from configuration: its options (strictly), then the instance.

        This is the one factory: :meth:`juxsdk.Jux.from_config`, the CLI and the pytest plugin
        all build backends here. Only this backend's module is imported.

        Args:
            kind: ``"signer"``, ``"store"`` or ``"publisher"``.
            name: The backend name, as selected in configuration.
            config: The loaded configuration (options come from ``[backends.<name>]``).

        Returns:
            The backend instance (close it with ``close()``). A publisher comes behind the
            publisher boundary (:func:`juxsdk.breaker.guard`: the circuit breaker of
            ``[circuit_breaker]``, instrumentation, the signing log of ``[signing_log]``); it
            behaves as the publisher itself (its ``inner`` attribute is the backend instance).

        Raises:
            BackendNotFoundError: no backend of that kind and name (lists what is available).
            PluginError: its module cannot be imported or its class is not valid.
            ConfigError: its options do not fit.
            juxsdk.errors.JuxError: whatever the backend's constructor raises (e.g. a signing
                key that cannot be read: :class:`~juxsdk.errors.ConfigError` or
                :class:`~juxsdk.errors.SigningError`).
        """
        options = self.options(kind, name, config)
        backend = self.get(kind, name).cls(options)
        if kind == "publisher":
            from .breaker import guard

            return guard(backend, config)
        return backend

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        """The underlying PluginManager (for calling other hooks such as metadata collectors)."""
        return self._pm
