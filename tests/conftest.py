"""Shared fixtures: the corpus, isolated juxsdk state, and file-key signers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import pki

REPO = Path(__file__).resolve().parents[1]
CORPUS = (REPO / ".." / "shared" / "corpus" / "jux-test-fixtures").resolve()
MALFORMED_EXTRA = {"raw/jenkins/nightly-build.xml"}  # known not well-formed (corpus README)


def corpus_files() -> list[Path]:
    """Every file of the corpus (well-formed and malformed)."""
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name != "LICENSE")


def is_malformed(path: Path) -> bool:
    rel = path.relative_to(CORPUS).as_posix()
    return "/malformed/" in f"/{rel}" or rel in MALFORMED_EXTRA


def good_corpus() -> list[Path]:
    return [p for p in corpus_files() if not is_malformed(p)]


def bad_corpus() -> list[Path]:
    return [p for p in corpus_files() if is_malformed(p)]


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    if not CORPUS.is_dir():
        pytest.fail(f"corpus not found at {CORPUS}: ../shared must sit beside the repository")
    return CORPUS


@pytest.fixture(autouse=True)
def _isolated_jux_state(tmp_path_factory, monkeypatch):
    """Keep every test away from the real user config/data dirs and system config."""
    base = tmp_path_factory.mktemp("juxstate")
    monkeypatch.setenv("JUX_DATA_DIR", str(base / "data"))
    monkeypatch.setenv("JUX_CONFIG_DIR", str(base / "config"))
    monkeypatch.setenv("JUX_SYSTEM_CONFIG", str(base / "system-config.toml"))
    for var in ("JUX_CONFIG", "JUX_SIGNER", "JUX_STORES", "JUX_PUBLISHERS", "JUX_STORAGE_MODE", "JUX_PROJECT"):
        monkeypatch.delenv(var, raising=False)


class KeyMaterial:
    """A key with its certificate and public key on disk."""

    def __init__(self, directory: Path, kind: str, **cert_kwargs) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.kind = kind
        self.key = pki.new_key(kind)
        self.cert = pki.make_cert(self.key, f"juxsdk test {kind}", **cert_kwargs)
        self.key_path = pki.write_key(directory / f"{kind}-key.pem", self.key)
        self.cert_path = pki.write_certs(directory / f"{kind}-cert.pem", self.cert)
        self.pubkey_path = pki.write_pubkey(directory / f"{kind}-pub.pem", self.key)

    def signer(self, *, with_cert: bool = True):
        from juxsdk_backends.file_key import FileKeyOptions, FileKeySigner

        if with_cert:
            return FileKeySigner(FileKeyOptions(key=self.key_path, certificate=self.cert_path))
        # a key file without the -key.pem naming, so no sibling certificate is picked up
        bare = self.key_path.with_name(f"{self.kind}-bare.pem")
        if not bare.exists():
            bare.write_bytes(self.key_path.read_bytes())
        return FileKeySigner(FileKeyOptions(key=bare))


@pytest.fixture(scope="session")
def rsa_keys(tmp_path_factory) -> KeyMaterial:
    return KeyMaterial(tmp_path_factory.mktemp("rsa"), "rsa")


@pytest.fixture(scope="session")
def ec_keys(tmp_path_factory) -> KeyMaterial:
    return KeyMaterial(tmp_path_factory.mktemp("ec"), "p256")


@pytest.fixture(scope="session")
def rsa_signer(rsa_keys):
    return rsa_keys.signer()


@pytest.fixture(scope="session")
def ec_signer(ec_keys):
    return ec_keys.signer()


@pytest.fixture(scope="session")
def rsa_cert_path(rsa_keys) -> Path:
    return rsa_keys.cert_path
