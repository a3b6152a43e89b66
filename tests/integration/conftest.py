"""Fixtures for integration tests."""

from __future__ import annotations

import pytest

from tests.softhsm import SoftHSM, softhsm_environment


@pytest.fixture(scope="session")
def softhsm() -> SoftHSM:
    """The per-process SoftHSM2 environment (tokens and keys); skips only without SoftHSM2."""
    return softhsm_environment()
