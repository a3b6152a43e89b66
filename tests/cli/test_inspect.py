"""`jux inspect`: summary, properties, hash and the (unverified) signature claims."""

from __future__ import annotations

import json

import juxsdk


def test_unsigned_report_json(jux, corpus_dir):
    src = corpus_dir / "raw" / "generic" / "with-project.xml"
    result = jux("inspect", src, "--json")
    assert result.exit_code == 0, result.stderr
    info = json.loads(result.stdout)
    report = juxsdk.parse_report(src.read_bytes())
    assert info["verified"] is False
    assert info["signed"] is False and info["signatures"] == []
    assert info["canonical_hash"] == report.canonical_hash
    assert info["summary"]["tests"] == report.summary.tests
    assert info["summary"]["failures"] == report.summary.failures
    assert info["project"] == report.project is not None
    assert [tuple(p) for p in info["properties"]] == list(report.properties)
    assert info["size"] == src.stat().st_size


def test_signed_report_claims_are_labelled_unverified(jux, workdir, corpus_dir):
    assert jux("keygen", "--type", "ec", "--subject", "CN=release-bot,O=Example").exit_code == 0
    src = corpus_dir / "enriched" / "generic" / "complete.xml"
    assert jux("sign", src, "-o", "s.xml").exit_code == 0
    info = json.loads(jux("inspect", "s.xml", "--json").stdout)
    assert info["signed"] is True and info["verified"] is False
    [sig] = info["signatures"]
    assert sig["algorithm"] == "ecdsa-sha256"
    assert sig["digest"] == "sha256"
    assert sig["child_of_root"] is True
    assert sig["verified"] is False
    assert sig["signer"] == "CN=release-bot,O=Example"
    assert sig["certificates"][0]["fingerprint"].startswith("sha256:")
    # signing does not change the canonical hash
    assert info["canonical_hash"] == json.loads(jux("inspect", src, "--json").stdout)["canonical_hash"]

    text = jux("inspect", "s.xml")
    assert text.exit_code == 0
    assert "NOT VERIFIED" in text.stdout
    assert "claimed, not verified" in text.stdout
    assert "CN=release-bot,O=Example" in text.stdout


def test_inspect_shows_misplaced_and_duplicate_signatures(jux, workdir, corpus_dir):
    assert jux("keygen", "--type", "ec").exit_code == 0
    assert jux("sign", corpus_dir / "raw/generic/with-failures.xml", "-o", "s.xml").exit_code == 0
    data = (workdir / "s.xml").read_bytes()
    start = data.index(b"<ds:Signature")
    end = data.index(b"</ds:Signature>") + len(b"</ds:Signature>")
    sig = data[start:end]
    # move a copy of the signature inside the first testcase: two signatures, one misplaced
    first_case_end = data.index(b"</testcase>")
    doubled = data[:first_case_end] + sig + data[first_case_end:]
    (workdir / "d.xml").write_bytes(doubled)
    info = json.loads(jux("inspect", "d.xml", "--json").stdout)
    assert len(info["signatures"]) == 2
    assert {s["child_of_root"] for s in info["signatures"]} == {True, False}
    text = jux("inspect", "d.xml").stdout
    assert "more than one signature" in text and "not the root element" in text
    verify = jux("verify", "--unsafe-accept-any-key", "d.xml")
    assert verify.exit_code == 1
