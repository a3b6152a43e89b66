"""FilesystemStore ("filesystem") through the conformance kit's StoreContract."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from juxsdk.testing import StoreContract
from juxsdk_backends.filesystem import FilesystemStore


class TestFilesystemStoreContract(StoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[FilesystemStore]:
        store = FilesystemStore(FilesystemStore.Options(root=tmp_path / "reports"))
        yield store
        store.close()

    @pytest.fixture
    def corrupt_metadata(self) -> Callable[[Any, str, bytes], None]:
        def corrupt(store: FilesystemStore, canonical_hash: str, raw: bytes) -> None:
            hexd = canonical_hash.removeprefix("sha256:")
            (store.root / hexd[:2] / f"{hexd}.json").write_bytes(raw)

        return corrupt
