"""What every backend contract shares: the default fixtures and the backend-shape check.

Private to :mod:`juxsdk.testing.contracts` (its contracts subclass :class:`_BackendShape`).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from typing import Any

import attrs
import pytest

from .fakes import MemorySigner


@functools.cache
def _default_contract_signer() -> MemorySigner:
    return MemorySigner(MemorySigner.Options(algorithm="ecdsa-sha256", certificate=True))


def _unique(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex}"


def _assert_no_secret(text: str, secret_values: Sequence[str], what: str) -> None:
    for secret in secret_values:
        if secret:
            assert secret not in text, f"a secret value appears in {what}"


def _is_attrs_class(obj: object) -> bool:
    return isinstance(obj, type) and attrs.has(obj)


class _BackendShape:
    """Fixtures and checks shared by every contract."""

    @pytest.fixture
    def secret_values(self) -> Sequence[str]:
        """Strings that must never be shown; override to list your backend's secrets."""
        return ()

    @pytest.fixture
    def contract_signer(self) -> Any:
        """Signer used to build signed reports for store and publisher tests (one per process)."""
        return _default_contract_signer()

    @staticmethod
    def _check_shape(backend: Any, protocol: type) -> None:
        cls = type(backend)
        assert isinstance(getattr(cls, "name", None), str) and cls.name, "backend needs a non-empty `name`"
        assert _is_attrs_class(getattr(cls, "Options", None)), "backend needs an attrs `Options` class"
        assert isinstance(backend, protocol), f"{cls.__name__} does not implement {protocol.__name__}"


