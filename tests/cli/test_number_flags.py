"""Number and date flags refuse absurd values with a click usage error (exit 2) naming the flag.

Day counts share the configuration's ranges (juxsdk.config.numbers): at most 100 years, so that
"now ± days" never leaves the calendar; dates must exist in UTC (years 1-9999).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from click.testing import Result

from juxsdk.config.numbers import MAX_DAYS


def _days_past_year_9999() -> str:
    return str((dt.date(9999, 12, 31) - dt.datetime.now(dt.UTC).date()).days + 1)


ABSURD_DAYS = ["-1", str(MAX_DAYS + 1), _days_past_year_9999(), "99999999999", str(2**64), "nan", "inf", "1e300"]


def _usage_error(result: Result, flag: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert f"Invalid value for '{flag}'" in result.stderr, result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr


def test_cache_clean_days(jux) -> None:
    for days in ABSURD_DAYS:
        _usage_error(jux("cache", "clean", "--days", days, "--dry-run"), "--days")
    result = jux("cache", "clean", "--days", str(MAX_DAYS), "--dry-run")  # the limit itself works
    assert result.exit_code == 0, result.stderr
    assert "would delete 0 reports" in result.stderr


def test_keygen_days(jux, tmp_path: Path) -> None:
    from cryptography import x509

    for days in ["0", *ABSURD_DAYS]:
        _usage_error(jux("keygen", "--days", days, "--out", tmp_path / "k.pem"), "--days")
        assert not (tmp_path / "k.pem").exists()
    result = jux("keygen", "--type", "ec", "--days", str(MAX_DAYS), "--out", tmp_path / "k-key.pem",
                 "--cert-out", tmp_path / "k-cert.pem")  # the limit itself works
    assert result.exit_code == 0, result.stderr
    cert = x509.load_pem_x509_certificate((tmp_path / "k-cert.pem").read_bytes())
    assert cert.not_valid_after_utc - cert.not_valid_before_utc >= dt.timedelta(days=MAX_DAYS)


OUTSIDE_UTC = ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00", "9999-12-31T20:00:00-14:00"]


@pytest.mark.parametrize("when", OUTSIDE_UTC)
def test_verify_at_outside_the_calendar(jux, tmp_path: Path, when: str) -> None:
    report = tmp_path / "r.xml"
    report.write_text("<testsuite name='s' tests='0'/>", encoding="utf-8")
    _usage_error(jux("verify", "--unsafe-accept-any-key", "--at", when, report), "--at")


@pytest.mark.parametrize("flag", ["--since", "--until"])
def test_cache_list_dates_outside_the_calendar(jux, flag: str) -> None:
    for when in OUTSIDE_UTC:
        _usage_error(jux("cache", "list", flag, when), flag)
    for when in ["9999-12-31T23:59:59Z", "0001-01-01", "9999-12-31T23:59:59+05:00"]:  # the edges work
        result = jux("cache", "list", flag, when)
        assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize("when", OUTSIDE_UTC)
def test_merge_at_outside_the_calendar(jux, tmp_path: Path, when: str) -> None:
    report = tmp_path / "r.xml"
    report.write_text("<testsuite name='s' tests='0'/>", encoding="utf-8")
    _usage_error(jux("merge", "--at", when, report, "-o", tmp_path / "m.xml"), "--at")


def test_float_flags_refuse_nan() -> None:
    import click

    from juxsdk.cli._common import number_type
    from juxsdk.config.numbers import POSITIVE_SECONDS

    kind = number_type(POSITIVE_SECONDS, integer=False)
    assert kind.convert("2.5", None, None) == 2.5
    for text in ("nan", "NaN", "inf", "-inf", "0", "-1", "604801", "1e300"):
        with pytest.raises(click.BadParameter):
            kind.convert(text, None, None)
