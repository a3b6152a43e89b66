"""Fixtures of the fuzz suite: corpus bytes, real keys, and reports signed with them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

import juxsdk
from juxsdk.trust import TrustedCertificates, TrustedPublicKeys
from tests.conftest import CORPUS, corpus_files, good_corpus, is_malformed

#: Corpus files whose signed forms are fuzzed (one or two per dialect, plus odd edge cases).
SIGNED_SAMPLES = (
    "raw/pytest/xunit2-basic.xml", "raw/pytest/xunit1-properties.xml", "raw/maven-surefire/with-output.xml",
    "raw/cucumber/nested-features.xml", "raw/jenkins/parallel-stages.xml", "raw/polarion/with-testcase-id.xml",
    "raw/generic/complete.xml", "enriched/generic/basic.xml", "edge-cases/unicode-content.xml",
    "edge-cases/nested-testsuites.xml", "edge-cases/empty-testsuite.xml", "edge-cases/special-characters.xml",
)


@cache
def corpus_bytes(path: Path) -> bytes:
    return path.read_bytes()


ALL_CORPUS: tuple[Path, ...] = tuple(corpus_files())
GOOD_CORPUS: tuple[Path, ...] = tuple(good_corpus())


def well_formed(path: Path) -> bool:
    return not is_malformed(path)


def corpus_path(rel: str) -> Path:
    return CORPUS / rel


@dataclass(frozen=True)
class SignedSample:
    """One corpus report signed with one of the fuzz keys."""

    label: str  # e.g. "rsa-cert:raw/pytest/xunit2-basic.xml"
    data: bytes
    original: juxsdk.SignedReport
    key: Any  # the private key (to re-sign mutated SignedInfo)
    trust: Any


@dataclass(frozen=True)
class FuzzKeys:
    """The signers of the fuzz suite: RSA and EC, with a certificate (X509Data) or without (KeyValue)."""

    signers: dict[str, Any]
    keys: dict[str, Any]
    trusts: dict[str, Any]


@pytest.fixture(scope="session")
def fuzz_keys(rsa_keys, ec_keys) -> FuzzKeys:
    signers = {
        "rsa-cert": rsa_keys.signer(),
        "ec-cert": ec_keys.signer(),
        "rsa-keyvalue": rsa_keys.signer(with_cert=False),
        "ec-keyvalue": ec_keys.signer(with_cert=False),
    }
    keys = {"rsa-cert": rsa_keys.key, "ec-cert": ec_keys.key, "rsa-keyvalue": rsa_keys.key,
            "ec-keyvalue": ec_keys.key}
    trusts = {
        "rsa-cert": TrustedCertificates.from_pem_file(rsa_keys.cert_path),
        "ec-cert": TrustedCertificates.from_pem_file(ec_keys.cert_path),
        "rsa-keyvalue": TrustedPublicKeys.from_pem_file(rsa_keys.pubkey_path),
        "ec-keyvalue": TrustedPublicKeys.from_pem_file(ec_keys.pubkey_path),
    }
    return FuzzKeys(signers=signers, keys=keys, trusts=trusts)


@pytest.fixture(scope="session")
def signed_samples(fuzz_keys: FuzzKeys) -> list[SignedSample]:
    """Every sample of :data:`SIGNED_SAMPLES` signed with each fuzz signer."""
    fk = fuzz_keys
    out = []
    for rel in SIGNED_SAMPLES:
        data = corpus_bytes(corpus_path(rel))
        for name, signer in fk.signers.items():
            signed = juxsdk.sign_report(data, signer, source=rel)
            out.append(SignedSample(f"{name}:{rel}", signed.data, signed, fk.keys[name], fk.trusts[name]))
    return out
