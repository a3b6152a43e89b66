"""A tiny example test suite for pytest-jux (see plugins/pytest-jux/README.md)."""

import sys

import pytest


def flow_rate(rpm: int, displacement_ml: float) -> float:
    """Litres per minute of a positive-displacement pump."""
    return rpm * displacement_ml / 1000


def test_flow_rate_at_rest() -> None:
    assert flow_rate(0, 12.5) == 0


def test_flow_rate_nominal() -> None:
    assert flow_rate(1200, 12.5) == pytest.approx(15.0)


@pytest.mark.parametrize("rpm", [600, 1800, 3000])
def test_flow_rate_scales_linearly(rpm: int) -> None:
    assert flow_rate(rpm, 10.0) == pytest.approx(rpm / 100)


def test_record_a_property(record_testsuite_property) -> None:  # type: ignore[no-untyped-def]
    record_testsuite_property("pump-model", "PX-100")
    assert flow_rate(100, 1.0) == pytest.approx(0.1)


@pytest.mark.skipif(sys.platform != "win32", reason="the Windows driver is only tested on Windows")
def test_windows_driver() -> None:
    raise AssertionError("not reached on this platform")
