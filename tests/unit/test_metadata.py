"""juxsdk.metadata: provenance properties, with real git repositories in tmp directories."""

from __future__ import annotations

import datetime as dt
import getpass
import os
import platform
import re
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

import juxsdk
from juxsdk import metadata
from juxsdk.errors import PluginError
from juxsdk.metadata import collect_metadata, detect_ci, scrub_url
from juxsdk.plugin import hookimpl
from juxsdk.registry import Registry

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}

# An environment without any CI variables: tests pass it explicitly so that running this
# suite inside CI does not change the results.
CLEAN_ENV: dict[str, str] = {}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV},
    ).stdout.strip()


@pytest.fixture(autouse=True)
def _isolate_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Never let git walk up out of tmp_path into an enclosing repository, and ignore the
    # user's global git config.
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "pump-controller"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "a.txt").write_text("one\n")
    git(path, "add", "a.txt")
    git(path, "commit", "-q", "-m", "first")
    return path


# --- project ------------------------------------------------------------------------------


def test_not_a_repository_never_raises_and_falls_back_to_directory_name(tmp_path: Path) -> None:
    plain = tmp_path / "plain-dir"
    plain.mkdir()
    props = collect_metadata(root=plain, environ=CLEAN_ENV)
    assert props["project"] == "plain-dir"
    assert not [k for k in props if k.startswith("git:")]


def test_project_precedence_explicit_pyproject_remote_directory(repo: Path) -> None:
    git(repo, "remote", "add", "origin", "https://github.com/org/remote-name.git")
    assert collect_metadata(root=repo, environ=CLEAN_ENV)["project"] == "remote-name"
    (repo / "pyproject.toml").write_text('[project]\nname = "from-pyproject"\n')
    assert collect_metadata(root=repo, environ=CLEAN_ENV)["project"] == "from-pyproject"
    assert collect_metadata(root=repo, project="explicit", environ=CLEAN_ENV)["project"] == "explicit"


def test_broken_pyproject_is_ignored(repo: Path) -> None:
    (repo / "pyproject.toml").write_text("[project\nname = ")
    assert collect_metadata(root=repo, environ=CLEAN_ENV)["project"] == "pump-controller"


# --- git ----------------------------------------------------------------------------------


def test_git_commit_branch_and_clean_status(repo: Path) -> None:
    props = collect_metadata(root=repo, environ=CLEAN_ENV)
    assert props["git:commit"] == git(repo, "rev-parse", "HEAD")
    assert re.fullmatch(r"[0-9a-f]{40}", props["git:commit"])
    assert props["git:branch"] == "main"
    assert props["git:status"] == "clean"
    assert "git:remote" not in props


def test_git_runs_in_a_subdirectory_of_the_repository(repo: Path) -> None:
    sub = repo / "tests"
    sub.mkdir()
    assert collect_metadata(root=sub, environ=CLEAN_ENV)["git:commit"] == git(repo, "rev-parse", "HEAD")


@pytest.mark.parametrize("change", ["modify", "untracked", "staged"])
def test_git_status_dirty(repo: Path, change: str) -> None:
    if change == "modify":
        (repo / "a.txt").write_text("two\n")
    elif change == "untracked":
        (repo / "new.txt").write_text("x")
    else:
        (repo / "b.txt").write_text("x")
        git(repo, "add", "b.txt")
    assert collect_metadata(root=repo, environ=CLEAN_ENV)["git:status"] == "dirty"


def test_ignored_files_do_not_make_the_tree_dirty(repo: Path) -> None:
    (repo / ".gitignore").write_text("junit.xml\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-q", "-m", "ignore")
    (repo / "junit.xml").write_text("<testsuite/>")
    assert collect_metadata(root=repo, environ=CLEAN_ENV)["git:status"] == "clean"


def test_detached_head_without_ci_has_no_branch(repo: Path) -> None:
    git(repo, "checkout", "-q", "--detach")
    props = collect_metadata(root=repo, environ=CLEAN_ENV)
    assert "git:branch" not in props
    assert props["git:commit"] == git(repo, "rev-parse", "HEAD")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"GITHUB_HEAD_REF": "feature/pr", "GITHUB_REF_NAME": "12/merge"}, "feature/pr"),
        ({"GITHUB_HEAD_REF": "", "GITHUB_REF_NAME": "release-1"}, "release-1"),
        ({"CI_COMMIT_REF_NAME": "gl-branch"}, "gl-branch"),
        ({"BRANCH_NAME": "jenkins-mb"}, "jenkins-mb"),
        ({"GIT_BRANCH": "origin/main"}, "main"),
        ({"CIRCLE_BRANCH": "circle"}, "circle"),
        ({"BUILD_SOURCEBRANCH": "refs/heads/feature/az", "BUILD_SOURCEBRANCHNAME": "az"}, "feature/az"),
        ({"BUILD_SOURCEBRANCHNAME": "az-only"}, "az-only"),
        ({"BUILDKITE_BRANCH": "bk"}, "bk"),
        ({"TRAVIS_BRANCH": "travis"}, "travis"),
    ],
)
def test_detached_head_branch_from_ci_variables(repo: Path, env: dict[str, str], expected: str) -> None:
    git(repo, "checkout", "-q", "--detach")
    assert collect_metadata(root=repo, environ=env)["git:branch"] == expected


def test_git_branch_beats_ci_variable_when_on_a_branch(repo: Path) -> None:
    props = collect_metadata(root=repo, environ={"GITHUB_REF_NAME": "other"})
    assert props["git:branch"] == "main"


SECRET = "s3cr3t-T0KEN"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"https://user:{SECRET}@github.com/org/repo.git", "https://github.com/org/repo.git"),
        (f"https://{SECRET}@github.com/org/repo.git", "https://github.com/org/repo.git"),
        (f"https://x-access-token:{SECRET}@github.com/org/repo.git", "https://github.com/org/repo.git"),
        (f"ssh://git:{SECRET}@example.com:2222/org/repo.git", "ssh://git@example.com:2222/org/repo.git"),
        (f"HTTP://user:{SECRET}@Example.COM:8080/org/repo", "http://Example.COM:8080/org/repo"),
        (f"HTTPS://{SECRET}@host/repo?private_token={SECRET}#frag", "https://host/repo"),
        (f"git+ssh://deploy:{SECRET}@host/repo.git", "git+ssh://deploy@host/repo.git"),
        ("git@github.com:org/repo.git", "git@github.com:org/repo.git"),
        (f"git:{SECRET}@github.com:org/repo.git", "git@github.com:org/repo.git"),
        ("github.com:org/repo.git", "github.com:org/repo.git"),
        ("/srv/git/repo.git", "/srv/git/repo.git"),
        ("file:///srv/git/repo.git", "file:///srv/git/repo.git"),
        ("https://[::1]:8080/repo.git", "https://[::1]:8080/repo.git"),
        (f"https://u:{SECRET}@host:notaport/repo", None),
        ("", None),
    ],
)
def test_scrub_url(url: str, expected: str | None) -> None:
    assert scrub_url(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"https://user:{SECRET}@github.com/org/repo.git", "https://github.com/org/repo.git"),
        (f"ssh://git:{SECRET}@example.com/org/repo.git", "ssh://git@example.com/org/repo.git"),
        (f"HTTP://{SECRET}@example.com/org/repo.git", "http://example.com/org/repo.git"),
        (f"git:{SECRET}@example.com:org/repo.git", "git@example.com:org/repo.git"),
    ],
)
def test_remote_credentials_scrubbed_from_real_repository(repo: Path, url: str, expected: str) -> None:
    git(repo, "remote", "add", "origin", url)
    props = collect_metadata(root=repo, environ=CLEAN_ENV)
    assert props["git:remote"] == expected
    assert props["project"] == "repo"
    assert not any(SECRET in v for v in props.values())


def test_origin_is_preferred_over_other_remotes(repo: Path) -> None:
    git(repo, "remote", "add", "aaa", "https://example.com/aaa.git")
    git(repo, "remote", "add", "origin", "https://example.com/origin.git")
    assert collect_metadata(root=repo, environ=CLEAN_ENV)["git:remote"] == "https://example.com/origin.git"


def test_missing_git_executable(repo: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    props = collect_metadata(root=repo, environ={"GITHUB_SHA": "abc123", "GITHUB_REF_NAME": "ci-branch"})
    assert not {"git:status", "git:remote"} & props.keys()
    # Without git, CI variables still say what was built.
    assert props["git:commit"] == "abc123"
    assert props["git:branch"] == "ci-branch"
    assert props["project"] == "pump-controller"


def test_git_timeout_never_breaks(repo: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    slow = tmp_path / "slow-bin"
    slow.mkdir()
    fake = slow / "git"
    fake.write_text("#!/bin/sh\nexec sleep 5\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{slow}{os.pathsep}{os.environ['PATH']}")
    start = time.monotonic()
    props = collect_metadata(root=repo, environ=CLEAN_ENV, timeout=0.3)
    elapsed = time.monotonic() - start
    assert elapsed < 2.0
    assert not [k for k in props if k.startswith("git:")]
    assert props["project"] == "pump-controller"


# --- CI -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "provider", "build_id", "build_url"),
    [
        (
            {"GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "42", "GITHUB_REPOSITORY": "org/repo",
             "GITHUB_SERVER_URL": "https://github.com"},
            "github-actions", "42", "https://github.com/org/repo/actions/runs/42",
        ),
        (
            {"GITLAB_CI": "true", "CI_JOB_ID": "7", "CI_JOB_URL": "https://gitlab.com/o/r/-/jobs/7"},
            "gitlab", "7", "https://gitlab.com/o/r/-/jobs/7",
        ),
        (
            {"JENKINS_URL": "https://ci.example/", "BUILD_TAG": "jenkins-job-3",
             "BUILD_URL": "https://ci.example/job/x/3/"},
            "jenkins", "jenkins-job-3", "https://ci.example/job/x/3/",
        ),
        (
            {"CIRCLECI": "true", "CIRCLE_BUILD_NUM": "9", "CIRCLE_BUILD_URL": "https://circleci.com/gh/o/r/9"},
            "circleci", "9", "https://circleci.com/gh/o/r/9",
        ),
        (
            {"TF_BUILD": "True", "BUILD_BUILDID": "55", "SYSTEM_COLLECTIONURI": "https://dev.azure.com/org/",
             "SYSTEM_TEAMPROJECT": "My Project"},
            "azure-pipelines", "55", "https://dev.azure.com/org/My%20Project/_build/results?buildId=55",
        ),
        (
            {"BUILDKITE": "true", "BUILDKITE_BUILD_ID": "uuid-1", "BUILDKITE_BUILD_URL": "https://buildkite.com/o/p/builds/1"},
            "buildkite", "uuid-1", "https://buildkite.com/o/p/builds/1",
        ),
        (
            {"TRAVIS": "true", "TRAVIS_BUILD_ID": "100", "TRAVIS_BUILD_WEB_URL": "https://travis-ci.com/o/r/builds/100"},
            "travis", "100", "https://travis-ci.com/o/r/builds/100",
        ),
        ({"TEAMCITY_VERSION": "2024.1", "BUILD_NUMBER": "17"}, "teamcity", "17", None),
    ],
)
def test_ci_providers(
    tmp_path: Path, env: dict[str, str], provider: str, build_id: str, build_url: str | None
) -> None:
    info = detect_ci(env)
    assert info is not None and info.provider == provider
    props = collect_metadata(root=tmp_path, environ=env)
    assert props["ci:provider"] == provider
    assert props["ci:build_id"] == build_id
    assert props.get("ci:build_url") == build_url


def test_no_ci(tmp_path: Path) -> None:
    assert detect_ci({"CI": "true"}) is None
    assert not [k for k in collect_metadata(root=tmp_path, environ=CLEAN_ENV) if k.startswith("ci:")]


# --- host, versions, time, env, user --------------------------------------------------------


def test_jux_properties(tmp_path: Path) -> None:
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    props = collect_metadata(root=tmp_path, environ=CLEAN_ENV, harness="unit")
    after = dt.datetime.now(dt.UTC)
    assert props["jux:python_version"] == platform.python_version()
    assert re.fullmatch(r"\d+\.\d+\.\d+", props["jux:python_version"])
    assert props["jux:juxsdk_version"] == juxsdk.__version__
    assert props["jux:platform"].startswith(platform.system())
    assert props["jux:hostname"]
    assert props["jux:harness"] == "unit"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", props["jux:timestamp"])
    stamp = dt.datetime.fromisoformat(props["jux:timestamp"].replace("Z", "+00:00"))
    assert before <= stamp <= after


def test_key_order(repo: Path) -> None:
    git(repo, "remote", "add", "origin", "git@example.com:o/r.git")
    env = {"GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "1", "GITHUB_REPOSITORY": "o/r", "MY_VAR": "v"}
    props = collect_metadata(root=repo, environ=env, env_allowlist=["MY_VAR"], include_username=True,
                             extra={"user:prop": "x"})
    keys = [k for k in props if k != "jux:username"]  # may be absent on odd systems
    assert keys == [
        "project", "git:commit", "git:branch", "git:status", "git:remote",
        "ci:provider", "ci:build_id", "ci:build_url",
        "jux:hostname", "jux:platform", "jux:python_version", "jux:juxsdk_version", "jux:timestamp",
        "env:MY_VAR", "user:prop",
    ]


def test_env_allowlist_only(tmp_path: Path) -> None:
    env = {"BUILD_FLAVOUR": "debug", "AWS_SECRET_ACCESS_KEY": SECRET, "JUX_API_TOKEN": SECRET}
    props = collect_metadata(root=tmp_path, environ=env, env_allowlist=["BUILD_FLAVOUR", "NOT_SET"])
    assert props["env:BUILD_FLAVOUR"] == "debug"
    assert "env:NOT_SET" not in props
    assert not any(SECRET in v for v in props.values())
    assert not any(k.startswith("env:") and k != "env:BUILD_FLAVOUR" for k in props)


def test_xml_invalid_characters_are_replaced(tmp_path: Path) -> None:
    props = collect_metadata(root=tmp_path, environ={"V": "a\x00b\x1bc"}, env_allowlist=["V"])
    assert props["env:V"] == "a\ufffdb\ufffdc"


def test_username_is_opt_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(getpass, "getuser", lambda: "alice")
    assert "jux:username" not in collect_metadata(root=tmp_path, environ=CLEAN_ENV)
    props = collect_metadata(root=tmp_path, environ=CLEAN_ENV, include_username=True)
    assert props["jux:username"] == "alice"


@pytest.mark.parametrize("exc", [KeyError("getpwuid(): uid not found: 12345"), OSError("No username set")])
def test_no_passwd_entry_never_breaks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exc: Exception
) -> None:
    def boom() -> str:
        raise exc

    monkeypatch.setattr(getpass, "getuser", boom)
    props = collect_metadata(root=tmp_path, environ=CLEAN_ENV, include_username=True)
    assert "jux:username" not in props
    assert props["jux:python_version"]


def test_extra_wins_and_keeps_position(tmp_path: Path) -> None:
    props = collect_metadata(root=tmp_path, environ=CLEAN_ENV, extra={"project": "mine", "owner": "qa"})
    assert props["project"] == "mine"
    assert next(iter(props)) == "project"
    assert list(props)[-1] == "owner"


# --- plugin hook --------------------------------------------------------------------------


class _Collector:
    def __init__(self) -> None:
        self.context: dict[str, object] | None = None

    @hookimpl
    def juxsdk_collect_metadata(self, context):  # type: ignore[no-untyped-def]
        self.context = dict(context)
        return {"lab:rig": "rig-7", "project": "plugin-cannot-override", "lab:count": 3}


def test_metadata_hook_adds_properties_without_overriding(tmp_path: Path) -> None:
    collector = _Collector()
    registry = Registry(plugins=[collector], autoload=False, environ={})
    props = collect_metadata(root=tmp_path, project="p", harness="ctest", environ=CLEAN_ENV,
                             registry=registry, extra={"lab:rig": "user-wins"})
    assert props["lab:rig"] == "user-wins"
    assert props["lab:count"] == "3"
    assert props["project"] == "p"
    assert collector.context is not None
    assert collector.context["harness"] == "ctest"
    assert collector.context["root"] == tmp_path
    assert collector.context["project"] == "p"


class _Broken:
    @hookimpl
    def juxsdk_collect_metadata(self, context):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")


class _NotAMapping:
    @hookimpl
    def juxsdk_collect_metadata(self, context):  # type: ignore[no-untyped-def]
        return ["not", "a", "mapping"]


@pytest.mark.parametrize("plugin", [_Broken(), _NotAMapping()])
def test_broken_metadata_hook_is_a_plugin_error(tmp_path: Path, plugin: object) -> None:
    registry = Registry(plugins=[plugin], autoload=False, environ={})
    with pytest.raises(PluginError):
        collect_metadata(root=tmp_path, environ=CLEAN_ENV, registry=registry)


def test_utc_timestamp_formats() -> None:
    aware = dt.datetime(2025, 3, 1, 15, 7, 9, 123456, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert metadata.utc_timestamp(aware) == "2025-03-01T14:07:09Z"
    assert metadata.utc_timestamp(dt.datetime(2025, 1, 2, 3, 4, 5)) == "2025-01-02T03:04:05Z"


def test_git_can_be_turned_off(repo: Path) -> None:
    props = collect_metadata(root=repo, environ={"GITHUB_SHA": "f00"}, git=False)
    assert "git:status" not in props
    assert props["git:commit"] == "f00"
