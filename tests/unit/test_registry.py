"""Plugin registry: entry points, duplicates, unknown names, env controls."""

from __future__ import annotations

import attrs
import pytest

from juxsdk.errors import BackendNotFoundError, PluginError
from juxsdk.plugin import hookimpl
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
