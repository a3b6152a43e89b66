"""The plugin does not change the user's files or lose reports (issue 12, item 3), in real processes."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from juxsdk.junit import parse_report
from juxsdk.trust import TrustedCertificates
from juxsdk.xmldsig import verify_report

from .conftest import stored_reports


def _umask() -> int:
    old = os.umask(0o022)
    os.umask(old)
    return old


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_junitxml_keeps_the_mode_pytest_wrote_it_with(
    pytester: pytest.Pytester, keypair: tuple[Path, Path]
) -> None:
    key, cert = keypair
    pytester.makepyfile("def test_ok(): pass")
    args = ("--jux", f"--jux-key={key}", f"--jux-cert={cert}")
    result = pytester.runpytest_subprocess(*args, "--junitxml=fresh.xml")
    assert result.ret == 0, result.stdout.str()
    fresh = pytester.path / "fresh.xml"
    verify_report(fresh.read_bytes(), TrustedCertificates.from_pem_file(cert))  # it was replaced
    assert _mode(fresh) == 0o666 & ~_umask(), f"mode {_mode(fresh):o}: not what pytest wrote"

    kept = pytester.path / "kept.xml"
    kept.write_text("")
    kept.chmod(0o640)  # pytest truncates and rewrites in place: the user's mode survives pytest
    result = pytester.runpytest_subprocess(*args, "--junitxml=kept.xml")
    assert result.ret == 0, result.stdout.str()
    verify_report(kept.read_bytes(), TrustedCertificates.from_pem_file(cert))
    assert _mode(kept) == 0o640


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_provenance_comes_from_the_invocation_dir_when_option_paths_move_the_rootdir(
    pytester: pytest.Pytester, keypair: tuple[Path, Path]
) -> None:
    key, cert = keypair
    repo = pytester.path
    assert key.parent not in (repo, *repo.parents)  # the key lives outside the project
    pytester.makepyfile("def test_ok(): pass")
    _git(repo, "init", "-q", "-b", "trunk")
    _git(repo, "remote", "add", "origin", "https://git.example.com/acme/pump-controller.git")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "init")
    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True,
                            capture_output=True, text=True).stdout.strip()
    assert not list(repo.glob("*.ini")) and not (repo / "pyproject.toml").exists()  # no ini file
    # Separate option values (not "--jux-key=…"): pytest counts them as path arguments when it
    # computes the rootdir, which becomes the common ancestor of the project and the keys.
    result = pytester.runpytest_subprocess("--jux", "--jux-key", str(key), "--jux-cert", str(cert),
                                           "--junitxml=out.xml")
    assert result.ret == 0, result.stdout.str()
    result.stdout.no_fnmatch_line(f"rootdir: {repo}")  # the situation of the issue: rootdir elsewhere
    props = dict(parse_report((repo / "out.xml").read_bytes()).properties)
    assert props["project"] == "pump-controller"
    assert props["git:commit"] == commit
    assert props["git:branch"] == "trunk"


def test_without_junitxml_a_failed_store_keeps_the_signed_report(
    pytester: pytest.Pytester, keypair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    key, cert = keypair
    blocker = pytester.path / "blocker"
    blocker.write_text("not a directory")
    monkeypatch.setenv("JUX_DATA_DIR", str(blocker))  # the filesystem store cannot write
    pytester.makepyfile("def test_ok(): pass\ndef test_two(): pass")
    args = ("--jux", f"--jux-key={key}", f"--jux-cert={cert}")
    result = pytester.runpytest_subprocess(*args)
    # kept: the test outcome stands (exit 0), the summary says where the report is
    assert result.ret == 0, result.stdout.str()
    (kept,) = sorted((pytester.path / "jux-unsubmitted").glob("*.xml"))
    result.stdout.fnmatch_lines(["*store filesystem failed*", f"*signed report kept at {kept}*"])
    verified = verify_report(kept.read_bytes(), TrustedCertificates.from_pem_file(cert))
    assert verified.summary.tests == 2
    assert kept.name == verified.canonical_hash.removeprefix("sha256:") + ".xml"
    assert _mode(kept) == 0o666 & ~_umask()
    assert stored_reports(blocker) == []

    # when even the fallback cannot be written, the report is lost: say so and fail the session
    for path in (pytester.path / "jux-unsubmitted").iterdir():
        path.unlink()
    (pytester.path / "jux-unsubmitted").rmdir()
    (pytester.path / "jux-unsubmitted").write_text("in the way")
    lost = pytester.runpytest_subprocess(*args)
    assert lost.ret == pytest.ExitCode.TESTS_FAILED, lost.stdout.str()
    lost.stdout.fnmatch_lines(["*report LOST*the session fails*"])
