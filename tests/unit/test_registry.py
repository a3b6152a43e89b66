"""Plugin registry: entry points, duplicates, unknown names, env controls, lazy backends, the factory."""

from __future__ import annotations

import sys
import uuid

import attrs
import pytest

import juxsdk_backends.hooks
from juxsdk.config import JuxConfig
from juxsdk.errors import BackendNotFoundError, ConfigError, PluginError
from juxsdk.plugin import BackendSpec, hookimpl
from juxsdk.registry import Registry


def test_builtins_arrive_through_the_entry_point_group() -> None:
    reg = Registry()
    assert {"file", "pkcs11"} <= set(reg.names("signer"))
    assert {"filesystem", "s3"} <= set(reg.names("store"))
    assert "http" in reg.names("publisher")
    info = reg.get("signer", "file")
    assert info.distribution == "juxsdk" and info.plugin == "builtin"


def test_autoload_can_be_disabled(monkeypatch) -> None:
    monkeypatch.setenv("JUXSDK_DISABLE_PLUGIN_AUTOLOAD", "1")
    reg = Registry()
    assert reg.names("signer") == []
    monkeypatch.setenv("JUXSDK_PLUGINS", "juxsdk_backends.hooks")
    assert "file" in Registry().names("signer")


def test_unknown_name_lists_available_and_says_plugin_may_be_missing() -> None:
    with pytest.raises(BackendNotFoundError) as info:
        Registry().get("store", "gcs")
    msg = str(info.value)
    assert "filesystem" in msg and "may not be installed" in msg


@attrs.frozen
class _Opts:
    path: str = "x"


class _DupStore:
    name = "filesystem"
    Options = _Opts


class _Plugin:
    @hookimpl
    def juxsdk_register_stores(self):
        return [_DupStore]


def test_duplicate_names_fail_loudly() -> None:
    with pytest.raises(PluginError, match="registered twice"):
        Registry(plugins=[_Plugin()])


class _NotABackend:
    @hookimpl
    def juxsdk_register_signers(self):
        return ["oops"]


def test_bad_hook_result_is_a_plugin_error() -> None:
    with pytest.raises(PluginError, match="not a class"):
        Registry(plugins=[_NotABackend()], autoload=False)


class _Typo:
    @hookimpl
    def juxsdk_register_storez(self):
        return []


def test_unknown_hook_is_reported_by_check_pending() -> None:
    with pytest.raises(PluginError, match="hook juxsdk does not define"):
        Registry(plugins=[_Typo()], autoload=False)


def test_each_registry_is_independent() -> None:
    class _Extra:
        name = "extra-store"
        Options = _Opts

    class _P:
        @hookimpl
        def juxsdk_register_stores(self):
            return [_Extra]

    assert "extra-store" in Registry(plugins=[_P()], autoload=False).names("store")
    assert "extra-store" not in Registry(autoload=False).names("store")


# --- lazy backends (BackendSpec) and the one factory ------------------------------------------

DEMO_MODULE = '''
"""A demo backend module: importing it is observable."""
import attrs

IMPORTED = True


class DemoStore:
    """Keeps nothing (a registry test double)."""

    name = "{name}"

    @attrs.frozen
    class Options:
        shards: int = 1

    def __init__(self, options):
        self.options = options
'''


@pytest.fixture
def demo_module(tmp_path, monkeypatch):
    """A fresh importable module holding ``DemoStore`` named ``"demo"``; yields its name."""
    modname = f"jux_demo_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{modname}.py").write_text(DEMO_MODULE.format(name="demo"))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield modname
    sys.modules.pop(modname, None)


def _spec_plugin(*specs):
    class _P:
        @hookimpl
        def juxsdk_register_stores(self):
            return list(specs)

    return _P()


def test_every_builtin_spec_matches_its_class() -> None:
    reg = Registry(plugins=[juxsdk_backends.hooks], autoload=False)
    infos = reg.backends()
    assert {(i.kind, i.name) for i in infos} >= {
        ("signer", "file"), ("signer", "pkcs11"), ("store", "filesystem"), ("store", "s3"), ("publisher", "http"),
    }
    for info in infos:  # every entry of juxsdk_backends.hooks, including ones added later
        cls = info.cls
        assert cls.name == info.name
        assert info.target == f"{cls.__module__}:{cls.__qualname__}"
        # `jux backends` shows the announced summary without importing: it must be the docstring's.
        assert info.announced_summary == (cls.__doc__ or "").strip().splitlines()[0]


def test_a_spec_is_imported_only_when_looked_up(demo_module: str) -> None:
    reg = Registry(plugins=[_spec_plugin(BackendSpec("demo", f"{demo_module}:DemoStore", "Keeps nothing."))],
                   autoload=False)
    info = reg.find("demo")
    assert info is not None and not info.loaded
    assert "demo" in reg.names("store") and info in reg.backends()
    assert list(reg.options_classes()) == ["demo"]
    assert (info.summary, info.target) == ("Keeps nothing.", f"{demo_module}:DemoStore")
    assert demo_module not in sys.modules  # listing imported nothing
    got = reg.get("store", "demo")
    assert demo_module in sys.modules and got.loaded and got.cls.__name__ == "DemoStore"


def test_options_classes_import_only_what_is_looked_up(demo_module: str) -> None:
    reg = Registry(plugins=[_spec_plugin(BackendSpec("demo", f"{demo_module}:DemoStore"))], autoload=False)
    classes = reg.options_classes()
    assert classes.get("nothing-of-that-name") is None
    assert demo_module not in sys.modules
    assert attrs.fields(classes["demo"])[0].name == "shards"
    assert demo_module in sys.modules


def test_create_builds_options_strictly_from_config(demo_module: str) -> None:
    reg = Registry(plugins=[_spec_plugin(BackendSpec("demo", f"{demo_module}:DemoStore"))], autoload=False)
    store = reg.create("store", "demo", JuxConfig(backends={"demo": {"shards": 4}}))
    assert type(store).__name__ == "DemoStore" and store.options.shards == 4
    with pytest.raises(ConfigError, match=r"backends\.demo\.colour"):
        reg.create("store", "demo", JuxConfig(backends={"demo": {"colour": "red"}}))
    with pytest.raises(BackendNotFoundError, match="may not be installed"):
        reg.create("signer", "demo", JuxConfig())  # right name, wrong kind


def test_a_spec_whose_class_has_another_name_fails_when_loaded(tmp_path, monkeypatch) -> None:
    modname = f"jux_demo_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{modname}.py").write_text(DEMO_MODULE.format(name="other"))
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = Registry(plugins=[_spec_plugin(BackendSpec("demo", f"{modname}:DemoStore"))], autoload=False)
    with pytest.raises(PluginError, match=r"announced store backend 'demo', but its class .* is named 'other'"):
        reg.get("store", "demo")
    sys.modules.pop(modname, None)


def test_an_unimportable_backend_says_the_plugin_may_not_be_installed() -> None:
    reg = Registry(plugins=[_spec_plugin(BackendSpec("ghost", "jux_no_such_module_4242:GhostStore"))],
                   autoload=False)
    assert reg.names("store") == ["ghost"]  # announced: listed without importing
    with pytest.raises(PluginError) as info:
        reg.get("store", "ghost")
    assert "cannot load store backend 'ghost' (jux_no_such_module_4242:GhostStore)" in info.value.message
    assert "ModuleNotFoundError" in info.value.message
    assert "may not be installed" in (info.value.hint or "")


@pytest.mark.parametrize("target", ["no_colon", "mod:", ":Cls", "a b:C", "mod:Cls()"])
def test_a_malformed_target_is_a_plugin_error(target: str) -> None:
    with pytest.raises(PluginError, match=r"not of the form 'package\.module:ClassName'"):
        Registry(plugins=[_spec_plugin(BackendSpec("demo", target))], autoload=False)


def test_spec_and_class_names_share_one_namespace(demo_module: str) -> None:
    with pytest.raises(PluginError, match="'filesystem' is registered twice"):
        Registry(plugins=[juxsdk_backends.hooks, _spec_plugin(BackendSpec("filesystem", f"{demo_module}:DemoStore"))],
                 autoload=False)
    assert demo_module not in sys.modules


def test_a_hook_returning_classes_still_works() -> None:
    """The original registration form (third-party plugins written before BackendSpec)."""

    class ClassStore:
        """Registered as a class."""

        name = "class-store"
        Options = _Opts

        def __init__(self, options):
            self.options = options

    class _P:
        @hookimpl
        def juxsdk_register_stores(self):
            return [ClassStore]

    reg = Registry(plugins=[_P()], autoload=False)
    info = reg.get("store", "class-store")
    assert info.loaded and info.cls is ClassStore and info.summary == "Registered as a class."
    assert info.target.endswith(":test_a_hook_returning_classes_still_works.<locals>.ClassStore")
    store = reg.create("store", "class-store", JuxConfig(backends={"class-store": {"path": "p"}}))
    assert store.options == _Opts(path="p")


def test_the_entry_point_scan_finds_what_importlib_metadata_finds() -> None:
    import importlib.metadata

    from juxsdk.registry import _entry_points

    ours = sorted((ep.name, ep.value, ep.dist.name if ep.dist else None) for ep in _entry_points())
    reference = sorted((ep.name, ep.value, ep.dist.name if ep.dist else None)
                       for ep in importlib.metadata.entry_points(group="juxsdk"))
    assert ours == reference
    assert ("builtin", "juxsdk_backends.hooks", "juxsdk") in ours
