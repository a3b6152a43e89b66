"""Storage modes: one definition, one publish step, outcome values in juxsdk.models."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import juxsdk
import juxsdk.client
import juxsdk.config
import juxsdk.models
from juxsdk.client import Jux
from juxsdk.errors import ConfigError, TransientPublishError
from juxsdk.junit import parse_report
from juxsdk.models import PublishOutcome, PublishReceipt
from juxsdk.storage_mode import StorageMode, publish_with_mode
from juxsdk.testing.samples import generate_report

SRC = Path(juxsdk.__file__).resolve().parent.parent


def test_one_definition_of_the_modes() -> None:
    assert juxsdk.config.StorageMode is StorageMode
    assert [m.value for m in StorageMode] == ["local", "api", "both", "cache"]
    assert {m.value: (m.stores, m.publishes) for m in StorageMode} == {
        "local": (True, False), "api": (False, True), "both": (True, True), "cache": (True, True)}
    assert StorageMode.parse("cache") is StorageMode.CACHE is StorageMode.parse(StorageMode.CACHE)
    assert StorageMode.CACHE == "cache" and f"{StorageMode.API}" == "api"
    with pytest.raises(ConfigError, match="unknown storage_mode 'sometimes'") as ei:
        StorageMode.parse("sometimes")
    assert ei.value.hint == "use one of: local, api, both, cache"
    with pytest.raises(ConfigError, match="unknown storage_mode"):
        Jux(storage_mode="sometimes")
    # no second list of the modes anywhere in the code
    for path in [*SRC.rglob("*.py"), *SRC.parent.joinpath("plugins").rglob("*.py")]:
        assert "STORAGE_MODES" not in path.read_text(encoding="utf-8"), path


def test_outcome_values_live_in_models_and_keep_their_old_homes() -> None:
    for name in ("StoreOutcome", "PublishOutcome", "SubmitResult"):
        cls = getattr(juxsdk.models, name)
        assert cls.__module__ == "juxsdk.models" and name in juxsdk.models.__all__
        assert getattr(juxsdk.client, name) is cls  # re-exported where they were public
    assert juxsdk.SubmitResult is juxsdk.models.SubmitResult


def test_only_the_publish_step_and_the_drain_call_a_publisher() -> None:
    """Jux.submit, jux publish and the pytest plugin cannot drift apart: one place publishes."""
    callers = set()
    for path in [*SRC.joinpath("juxsdk").rglob("*.py"), *SRC.parent.joinpath("plugins").rglob("src/**/*.py")]:
        if "testing" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "publish":
                callers.add(path.relative_to(SRC.parent).as_posix())
    # breaker.py is the publisher boundary Registry.create puts around every publisher (it calls
    # the wrapped publisher); the publish step and the drain call that boundary.
    assert callers == {"src/juxsdk/storage_mode.py", "src/juxsdk/outbox/drain.py", "src/juxsdk/breaker.py"}


class _Pub:
    def __init__(self, name: str, fail: bool) -> None:
        self.name, self.fail, self.calls = name, fail, 0

    def publish(self, report):
        self.calls += 1
        if self.fail:
            raise TransientPublishError(f"{self.name} is down")
        return PublishReceipt(self.name, report.canonical_hash, run_id=f"run-{self.name}")

    def close(self) -> None:
        pass


def test_the_step_per_mode() -> None:
    report = parse_report(generate_report(3, project="modes"))
    up, down = _Pub("up", False), _Pub("down", True)
    assert publish_with_mode(report, [up, down], "local") == [] and up.calls == 0
    both = publish_with_mode(report, [up, down], StorageMode.BOTH)
    assert [o.ok for o in both] == [True, False] and not any(o.queued for o in both)
    assert both[0].to_dict()["receipt"]["run_id"] == "run-up"
    assert both[1].to_dict()["error"] == {"type": "TransientPublishError", "message": "down is down",
                                          "hint": None, "status": None, "details": {}}
    with pytest.raises(TransientPublishError, match="down is down"):
        publish_with_mode(report, [down, up], "api")
    assert up.calls == 2 and down.calls == 2  # api: every publisher tried before the failure is raised
    assert isinstance(both[0], PublishOutcome)
