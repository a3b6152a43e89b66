"""Submitting a report that is already signed keeps its signature and says so."""

from __future__ import annotations

from pathlib import Path

import juxsdk


def test_signed_report_is_kept_and_labelled(jux, workdir: Path, rsa_keys, corpus_dir: Path) -> None:
    signed = juxsdk.sign_report((corpus_dir / "raw/generic/basic.xml").read_bytes(), rsa_keys.signer())
    path = workdir / "signed.xml"
    path.write_bytes(signed.data)
    (workdir / "jux.toml").write_text(
        f'[backends.file]\nkey = "{rsa_keys.key_path}"\ncertificate = "{rsa_keys.cert_path}"\n'
    )
    result = jux("submit", path)
    assert result.exit_code == 0, result.stderr
    assert "already signed, kept as is, stored UNVERIFIED (no [trust] configured; --force re-signs)" in result.stdout
    stored = next(juxsdk.Jux.from_config().stores[0].list())
    assert stored.canonical_hash == signed.canonical_hash
    assert juxsdk.Jux.from_config().stores[0].get(signed.canonical_hash) == signed.data  # untouched bytes
