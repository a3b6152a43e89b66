"""FilesystemStore ("filesystem") through the conformance kit's StoreContract."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from juxsdk.testing import StoreContract
from juxsdk_backends.filesystem import FilesystemStore


class TestFilesystemStoreContract(StoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[FilesystemStore]:
        store = FilesystemStore(FilesystemStore.Options(root=tmp_path / "reports"))
        yield store
        store.close()
