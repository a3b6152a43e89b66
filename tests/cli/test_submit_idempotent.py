"""`jux submit` is idempotent, and says whether a pre-signed report was verified (issue 12, items 1 and 4)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import juxsdk


def _configure(workdir: Path, keys, trust: Path | None = None) -> None:
    text = f'[backends.file]\nkey = "{keys.key_path}"\ncertificate = "{keys.cert_path}"\n'
    if trust is not None:
        text += f'[trust]\ncertificates = ["{trust}"]\n'
    (workdir / "jux.toml").write_text(text)


def _stored_hashes() -> list[str]:
    with juxsdk.Jux.from_config() as client:
        return sorted(r.canonical_hash for r in client.stores[0].list())


def test_resubmitting_a_file_stores_it_once(jux, workdir: Path, rsa_keys, corpus_dir: Path) -> None:
    _configure(workdir, rsa_keys)
    path = workdir / "junit.xml"
    path.write_bytes((corpus_dir / "raw/generic/basic.xml").read_bytes())
    first = jux("submit", path, "--json")
    assert first.exit_code == 0, first.stderr
    (entry,) = json.loads(first.stdout)
    assert entry["already_stored"] is None
    stored = _stored_hashes()
    assert stored == [entry["canonical_hash"]]

    again = jux("submit", path)  # a retried CI step: same input, same configuration
    assert again.exit_code == 0, again.stderr
    assert f"already stored as {entry['canonical_hash']}" in again.stdout
    assert "signed by CN=" in again.stdout and "UNVERIFIED" not in again.stdout  # the stored copy, checked
    assert _stored_hashes() == stored, "a second evidence record was stored"

    as_json = jux("submit", path, "--json")
    (dup,) = json.loads(as_json.stdout)
    assert dup["already_stored"] == entry["canonical_hash"] and dup["stored"][0]["duplicate"] is True

    forced = jux("submit", path, "--force", "--json")  # --force re-signs and stores anew
    assert forced.exit_code == 0, forced.stderr
    (new,) = json.loads(forced.stdout)
    assert new["already_stored"] is None and new["signature"] is not None
    # signed anew with a new jux:timestamp (one-second resolution: within the same second the
    # RSA signature of the same content is the same bytes, stored once)
    assert _stored_hashes() == sorted({entry["canonical_hash"], new["canonical_hash"]})


def test_other_configuration_is_another_submission(jux, workdir: Path, rsa_keys, corpus_dir: Path) -> None:
    _configure(workdir, rsa_keys)
    path = workdir / "junit.xml"
    path.write_bytes((corpus_dir / "raw/generic/basic.xml").read_bytes())
    assert jux("submit", path).exit_code == 0
    other = jux("submit", path, "--project", "another")
    assert other.exit_code == 0, other.stderr
    assert "already stored" not in other.stdout
    assert len(_stored_hashes()) == 2


def test_presigned_report_is_verified_against_configured_trust(
    jux, workdir: Path, rsa_keys, corpus_dir: Path
) -> None:
    signed = juxsdk.sign_report((corpus_dir / "raw/generic/basic.xml").read_bytes(), rsa_keys.signer())
    path = workdir / "signed.xml"
    path.write_bytes(signed.data)
    _configure(workdir, rsa_keys, trust=rsa_keys.cert_path)
    result = jux("submit", path, "--json")
    assert result.exit_code == 0, result.stderr
    (entry,) = json.loads(result.stdout)
    assert entry["verified"] is not None and entry["verified"]["canonical_hash"] == signed.canonical_hash
    text = jux("submit", path)
    assert "already signed, kept as is, verified: signed by" in text.stdout
    assert "UNVERIFIED" not in text.stdout


def test_presigned_report_that_does_not_verify_is_not_stored(
    jux, workdir: Path, rsa_keys, ec_keys, corpus_dir: Path
) -> None:
    signed = juxsdk.sign_report((corpus_dir / "raw/generic/basic.xml").read_bytes(), ec_keys.signer())
    path = workdir / "signed.xml"
    path.write_bytes(signed.data)
    _configure(workdir, rsa_keys, trust=rsa_keys.cert_path)  # trusts another key
    result = jux("submit", path)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "signed.xml" in result.stderr
    assert _stored_hashes() == []


def test_presigned_report_without_trust_is_stored_unverified(
    jux, workdir: Path, rsa_keys, corpus_dir: Path
) -> None:
    signed = juxsdk.sign_report((corpus_dir / "raw/generic/basic.xml").read_bytes(), rsa_keys.signer())
    path = workdir / "signed.xml"
    path.write_bytes(signed.data)
    _configure(workdir, rsa_keys)
    result = jux("submit", path)
    assert result.exit_code == 0, result.stderr
    assert "stored UNVERIFIED (no [trust] configured" in result.stdout
    (entry,) = json.loads(jux("submit", path, "--json").stdout)
    assert entry["verified"] is None and entry["signed"] is True


def test_library_result_says_whether_a_presigned_report_was_verified(rsa_keys, corpus_dir: Path) -> None:
    from juxsdk.testing import MemoryStore
    from juxsdk.trust import policy_from_files

    signed = juxsdk.sign_report((corpus_dir / "raw/generic/basic.xml").read_bytes(), rsa_keys.signer())
    with juxsdk.Jux(stores=[MemoryStore()]) as plain:
        assert plain.submit(signed.data).verified is None
    trust = policy_from_files(certs=[rsa_keys.cert_path], pubkeys=(), cas=())
    with juxsdk.Jux(stores=[MemoryStore()], trust=trust) as checked:
        result = checked.submit(signed.data)
    assert result.verified is not None and result.verified.canonical_hash == signed.canonical_hash
    assert result.to_dict()["verified"]["verified"] is True


def test_unreadable_trust_anchor_is_a_configuration_error(jux, workdir: Path, rsa_keys, corpus_dir: Path) -> None:
    path = workdir / "junit.xml"
    path.write_bytes((corpus_dir / "raw/generic/basic.xml").read_bytes())
    _configure(workdir, rsa_keys, trust=workdir / "missing.pem")
    result = jux("submit", path)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith("error: [trust]: ") and "missing.pem" in result.stderr
    assert "hint: check the paths under [trust]" in result.stderr and "Traceback" not in result.stderr
    assert not list(Path(os.environ["JUX_DATA_DIR"]).glob("reports/*/*.xml"))
