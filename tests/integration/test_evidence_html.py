"""The HTML evidence report, opened from disk in a real headless Chromium (Selenium + chromedriver)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

import juxsdk
from juxsdk.evidence.report_html import write_report
from juxsdk.trust import certificate_fingerprint
from tests.evidence_support import fill_store, policy_text, tamper_filesystem

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / ".ci" / "artifacts"


def _browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        if os.environ.get("JUX_REQUIRE_CHROMIUM"):
            pytest.fail("chromium and chromedriver are required (apt-get install chromium chromium-driver)")
        pytest.skip("chromium/chromedriver not installed")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-sync", "--window-size=1280,1600"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def test_html_report_in_headless_chromium(tmp_path, rsa_keys, ec_keys) -> None:
    from selenium.webdriver.common.by import By

    from juxsdk_backends.filesystem import FilesystemStore

    root = tmp_path / "reports"
    store = FilesystemStore(FilesystemStore.Options(root=root))
    corpus = fill_store(store, rsa_keys.signer(), ec_keys.signer(), generated=12, per_defect=1, corpus=False)
    tamper_filesystem(root, corpus.of("tampered"))
    policy = tmp_path / "p.toml"
    policy.write_text(policy_text(corpus, certificate_fingerprint(rsa_keys.cert)), encoding="utf-8")
    out = tmp_path / "site"
    with juxsdk.Index(tmp_path / "i.sqlite3") as index:
        juxsdk.audit([store], policy=juxsdk.load_policy(policy), jobs=1, index=index)
        counts = write_report(index, out)
    bad = corpus.bad()
    assert counts["flagged"] == len(bad) and counts["evidence"] == len(corpus.kinds) - len(bad)
    for page in out.glob("*.html"):  # no network: nothing refers outside the directory
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"(src|href)=\"(https?:)?//", text), page.name
        assert "<script" not in text

    browser = _browser()
    try:
        browser.get((out / "index.html").as_uri())
        assert browser.find_element(By.ID, "count-evidence").text == str(len(corpus.kinds) - len(bad))
        assert browser.find_element(By.ID, "count-flagged").text == str(len(bad))
        flagged = browser.find_element(By.ID, "flagged")
        rows = flagged.find_elements(By.CSS_SELECTOR, "tbody tr")
        assert len(rows) == len(bad)
        assert all("NOT EVIDENCE" in r.text for r in rows)
        assert any("failed verification" in r.text and "changed after it was signed" in r.text for r in rows)
        assert any("violates policy release-gate" in r.text for r in rows)
        assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "evidence-report-index.png"))
        # the project page: charts and the runs table, every run verified
        browser.find_element(By.LINK_TEXT, "gen").click()
        assert len(browser.find_elements(By.CSS_SELECTOR, "svg[role=img]")) == 2
        runs = browser.find_elements(By.CSS_SELECTOR, "#runs tbody tr")
        assert len(runs) == len(corpus.kinds) - len(bad)
        assert all("VERIFIED" in r.text for r in runs)
        assert browser.find_elements(By.CSS_SELECTOR, "#runs th[scope=col]")
        browser.save_screenshot(str(ARTIFACTS / "evidence-report-project.png"))
        # a flagged run's page shows the reason and none of its content
        tampered = next(iter(corpus.of("tampered")))
        browser.get((out / f"run-{tampered[7:23]}.html").as_uri())
        assert browser.find_element(By.ID, "status").text.startswith("NOT EVIDENCE")
        assert not browser.find_elements(By.ID, "summary")
    finally:
        browser.quit()
    print(f"screenshots: {ARTIFACTS}")
