"""The evidence commands end to end on a third-party store backend (the example `sqlite` store,
found by name in the configuration like any plugin): audit, index rebuild/info, trends, report."""

from __future__ import annotations

import json

import juxsdk
from juxsdk.trust import certificate_fingerprint
from tests.cli.conftest import assert_clean_error, write_config
from tests.evidence_support import fill_store, policy_text


def test_audit_index_trends_and_report_on_a_third_party_store(jux, workdir, rsa_keys, ec_keys) -> None:
    from jux_sqlite_store.store import SqliteStore

    db = workdir / "reports.sqlite3"
    store = SqliteStore(SqliteStore.Options(path=db))
    corpus = fill_store(store, rsa_keys.signer(), ec_keys.signer(), generated=10, per_defect=1, corpus=False)
    store.close()
    write_config(workdir / "jux.toml", f'stores = ["sqlite"]\n[backends.sqlite]\npath = "{db}"\n')
    (workdir / "release.toml").write_text(policy_text(corpus, certificate_fingerprint(rsa_keys.cert)),
                                          encoding="utf-8")
    index = workdir / "evidence.sqlite3"

    result = jux("audit", "sqlite", "--policy", "release.toml", "-j", "1", "--json", "--index", index,
                 "--html", "site")
    assert result.exit_code == 1, result.stderr
    audited = json.loads(result.stdout)
    bad = {r["canonical_hash"] for r in audited["reports"] if not r["ok"]}
    assert bad == corpus.bad() - corpus.of("tampered")  # nothing was tampered with in this store
    assert (workdir / "site" / "index.html").is_file()

    info = json.loads(jux("index", "info", "--index", index, "--json").stdout)
    assert info["reports"] == len(corpus.kinds) and info["schema_version"] == 1

    rebuilt = jux("index", "rebuild", "--index", index, "--cert", rsa_keys.cert_path)
    assert rebuilt.exit_code == 1  # the unsigned and other-key reports do not verify
    with juxsdk.Index(index) as idx:
        assert idx.stats()["not_verified"] == len(corpus.of("unsigned") | corpus.of("other-key"))
        assert all(r.policy_ok is None for r in idx.reports())  # a rebuild applies no policy

    trends = json.loads(jux("trends", "--index", index, "--by", "run", "--json").stdout)
    assert {p["project"] for p in trends["trends"]} == {"gen"}
    assert jux("report", "--index", index, "--html", "out").exit_code == 0
    page = (workdir / "out" / "index.html").read_text(encoding="utf-8")
    assert 'id="count-flagged">' + str(len(corpus.of("unsigned") | corpus.of("other-key"))) in page


def _usage(result, needle: str) -> None:
    assert result.exit_code == 2 and needle in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_audit_usage_errors(jux, workdir, rsa_keys) -> None:
    _usage(jux("audit", "nowhere-such"), "give a trust policy")
    _usage(jux("audit", "--cert", rsa_keys.cert_path, "nowhere-such"), "not a file, directory")
    _usage(jux("audit", "--cert", rsa_keys.cert_path, "--no-index", "--html", "x", "."), "drop --no-index")
    assert_clean_error(jux("audit", "--cert", rsa_keys.cert_path, "--policy", "missing.toml"), 2, "does not exist")
