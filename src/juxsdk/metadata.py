"""Provenance properties written into a report before signing.

:func:`collect_metadata` gathers *where a report came from* — project, git commit/branch/status/
remote, CI provider and build, host, platform, Python and juxsdk versions, the time, an explicit
allowlist of environment variables — as an ordered ``{name: value}`` dict. Harnesses (the
pytest plugin, the ``jux`` CLI, a JUnit or CTest wrapper) add it to the first ``<testsuite>``
with :func:`juxsdk.junit.add_properties` *before* signing, so the signature covers it.

Collection never fails because a value is unavailable: no git executable, not a git
repository, a git command that times out, no passwd entry for the user id, no CI — the
property is simply omitted. Values that could carry secrets are handled conservatively:

* ``git:remote`` has every credential removed (see :func:`scrub_url`);
* environment variables are read **only** when named in ``env_allowlist``;
* ``jux:username`` is opt-in.

The property names and their sources are documented in ``docs/reference/metadata.md``.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import os
import platform
import re
import socket
import subprocess
import time
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import attrs

from . import _toml
from .errors import PluginError

if TYPE_CHECKING:  # pragma: no cover
    from .registry import Registry

__all__ = [
    "CI_PROVIDERS",
    "CiInfo",
    "GitInfo",
    "collect_metadata",
    "detect_ci",
    "git_info",
    "scrub_url",
    "utc_timestamp",
]

#: Environment variables naming the branch, in the order they are consulted when git has no
#: branch (detached HEAD, as CI systems check out) or git is unavailable. Empty values are
#: ignored. ``refs/heads/`` and a leading ``origin/`` (Jenkins' ``GIT_BRANCH``) are removed.
BRANCH_ENV_VARS: tuple[str, ...] = (
    "GITHUB_HEAD_REF",  # GitHub Actions, pull_request events: the source branch
    "GITHUB_REF_NAME",  # GitHub Actions: branch or tag of the run
    "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME",  # GitLab merge-request pipelines
    "CI_COMMIT_REF_NAME",  # GitLab
    "CI_COMMIT_BRANCH",  # GitLab
    "CHANGE_BRANCH",  # Jenkins multibranch, pull requests
    "BRANCH_NAME",  # Jenkins multibranch
    "GIT_BRANCH",  # Jenkins git plugin ("origin/main")
    "CIRCLE_BRANCH",  # CircleCI
    "SYSTEM_PULLREQUEST_SOURCEBRANCH",  # Azure Pipelines, pull requests
    "BUILD_SOURCEBRANCH",  # Azure Pipelines ("refs/heads/feature/x")
    "BUILD_SOURCEBRANCHNAME",  # Azure Pipelines (last path segment only)
    "BUILDKITE_BRANCH",  # Buildkite
    "TRAVIS_PULL_REQUEST_BRANCH",  # Travis CI, pull requests
    "TRAVIS_BRANCH",  # Travis CI
)

#: Environment variables holding the commit, used only when git cannot tell.
COMMIT_ENV_VARS: tuple[str, ...] = (
    "GITHUB_SHA",
    "CI_COMMIT_SHA",
    "GIT_COMMIT",
    "CIRCLE_SHA1",
    "BUILD_SOURCEVERSION",
    "BUILDKITE_COMMIT",
    "TRAVIS_COMMIT",
    "BUILD_VCS_NUMBER",
)

_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@attrs.frozen
class CiInfo:
    """The CI system a process runs under.

    Attributes:
        provider: Short provider name (``"github-actions"``, ``"gitlab"``, ``"jenkins"``,
            ``"circleci"``, ``"azure-pipelines"``, ``"buildkite"``, ``"travis"``, ``"teamcity"``).
        build_id: The provider's identifier of this build/run/job, when set.
        build_url: A link to the build in the provider's web UI, when it can be derived.
    """

    provider: str
    build_id: str | None = None
    build_url: str | None = None


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _github(env: Mapping[str, str]) -> CiInfo | None:
    if (_get(env, "GITHUB_ACTIONS") or "").lower() != "true":
        return None
    run_id = _get(env, "GITHUB_RUN_ID")
    server = _get(env, "GITHUB_SERVER_URL") or "https://github.com"
    repo = _get(env, "GITHUB_REPOSITORY")
    url = f"{server.rstrip('/')}/{repo}/actions/runs/{run_id}" if run_id and repo else None
    return CiInfo("github-actions", run_id, url)


def _gitlab(env: Mapping[str, str]) -> CiInfo | None:
    if (_get(env, "GITLAB_CI") or "").lower() != "true":
        return None
    return CiInfo("gitlab", _get(env, "CI_JOB_ID") or _get(env, "CI_PIPELINE_ID"),
                  _get(env, "CI_JOB_URL") or _get(env, "CI_PIPELINE_URL"))


def _jenkins(env: Mapping[str, str]) -> CiInfo | None:
    if not (_get(env, "JENKINS_URL") or _get(env, "JENKINS_HOME")):
        return None
    return CiInfo("jenkins", _get(env, "BUILD_TAG") or _get(env, "BUILD_NUMBER"), _get(env, "BUILD_URL"))


def _circleci(env: Mapping[str, str]) -> CiInfo | None:
    if (_get(env, "CIRCLECI") or "").lower() != "true":
        return None
    return CiInfo("circleci", _get(env, "CIRCLE_WORKFLOW_JOB_ID") or _get(env, "CIRCLE_BUILD_NUM"),
                  _get(env, "CIRCLE_BUILD_URL"))


def _azure(env: Mapping[str, str]) -> CiInfo | None:
    if (_get(env, "TF_BUILD") or "").lower() != "true":
        return None
    build_id = _get(env, "BUILD_BUILDID")
    collection = _get(env, "SYSTEM_COLLECTIONURI") or _get(env, "SYSTEM_TEAMFOUNDATIONCOLLECTIONURI")
    team_project = _get(env, "SYSTEM_TEAMPROJECT")
    url = None
    if build_id and collection and team_project:
        url = (f"{collection.rstrip('/')}/{urllib.parse.quote(team_project)}"
               f"/_build/results?buildId={build_id}")
    return CiInfo("azure-pipelines", build_id, url)


def _buildkite(env: Mapping[str, str]) -> CiInfo | None:
    if (_get(env, "BUILDKITE") or "").lower() != "true":
        return None
    return CiInfo("buildkite", _get(env, "BUILDKITE_BUILD_ID") or _get(env, "BUILDKITE_BUILD_NUMBER"),
                  _get(env, "BUILDKITE_BUILD_URL"))


def _travis(env: Mapping[str, str]) -> CiInfo | None:
    if (_get(env, "TRAVIS") or "").lower() != "true":
        return None
    return CiInfo("travis", _get(env, "TRAVIS_BUILD_ID") or _get(env, "TRAVIS_BUILD_NUMBER"),
                  _get(env, "TRAVIS_BUILD_WEB_URL") or _get(env, "TRAVIS_JOB_WEB_URL"))


def _teamcity(env: Mapping[str, str]) -> CiInfo | None:
    if not _get(env, "TEAMCITY_VERSION"):
        return None
    # TeamCity exposes no build URL in the environment by default.
    return CiInfo("teamcity", _get(env, "BUILD_NUMBER"), None)


#: The detectors, in the order they are tried. Jenkins is before TeamCity because both set
#: ``BUILD_NUMBER``; each detector keys on a variable only its provider sets.
CI_PROVIDERS: tuple[tuple[str, Any], ...] = (
    ("github-actions", _github),
    ("gitlab", _gitlab),
    ("circleci", _circleci),
    ("azure-pipelines", _azure),
    ("buildkite", _buildkite),
    ("travis", _travis),
    ("jenkins", _jenkins),
    ("teamcity", _teamcity),
)


def detect_ci(environ: Mapping[str, str] | None = None) -> CiInfo | None:
    """Detect the CI provider from environment variables.

    Args:
        environ: The environment to inspect (default ``os.environ``).

    Returns:
        A :class:`CiInfo`, or None outside a known CI system. Sources: each provider's
        documented predefined variables (GitHub Actions ``GITHUB_*``, GitLab ``CI_*``,
        Jenkins ``BUILD_*``/``JENKINS_URL``, CircleCI ``CIRCLE_*``, Azure Pipelines
        ``TF_BUILD``/``BUILD_*``/``SYSTEM_*``, Buildkite ``BUILDKITE_*``, Travis ``TRAVIS_*``,
        TeamCity ``TEAMCITY_VERSION``).
    """
    env = os.environ if environ is None else environ
    for _name, detector in CI_PROVIDERS:
        info: CiInfo | None = detector(env)
        if info is not None:
            return info
    return None


def _clean_branch(value: str) -> str:
    for prefix in ("refs/heads/", "origin/"):
        if value.startswith(prefix):
            value = value[len(prefix):]
    return value


def _branch_from_env(env: Mapping[str, str]) -> str | None:
    for name in BRANCH_ENV_VARS:
        value = _get(env, name)
        if value:
            return _clean_branch(value) or None
    return None


# --- URLs ------------------------------------------------------------------------------------

_SCP_LIKE = re.compile(r"^(?:(?P<user>[^@/]+)@)?(?P<host>[^/:]+):(?P<path>(?!//).*)$")
_SSH_SCHEMES = frozenset({"ssh", "git+ssh", "ssh+git"})


def scrub_url(url: str) -> str | None:
    """Remove credentials from a git remote URL.

    * URLs with a scheme (``https://u:p@host/…``, ``ssh://git:tok@host/…``, ``HTTP://…``;
      scheme matched case-insensitively, RFC 3986 §3): the password is always removed; the
      user name is kept only for ``ssh`` schemes (``ssh://git@host/…``) — for every other
      scheme the whole userinfo is dropped, because tokens are commonly passed as the user
      name (``https://<token>@github.com/…``). Query and fragment are dropped too (some hosts
      accept ``?private_token=``).
    * scp-like ``[user@]host:path`` (git's own syntax): the user name is kept (``git@``), any
      ``:password`` part of it is removed.
    * Local paths are returned unchanged.

    Args:
        url: The remote URL as configured.

    Returns:
        The URL without credentials, or None when it cannot be parsed safely.
    """
    url = url.strip()
    if not url:
        return None
    if "://" in url:
        try:
            parts = urllib.parse.urlsplit(url)
            _ = parts.port  # validates the port; raises ValueError on garbage
        except ValueError:
            return None
        netloc = parts.netloc
        userinfo, at, hostport = netloc.rpartition("@")
        if at:
            user = userinfo.split(":", 1)[0]
            if parts.scheme in _SSH_SCHEMES and user:
                netloc = f"{user}@{hostport}"
            else:
                netloc = hostport
        return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    match = _SCP_LIKE.match(url)
    if match and not re.match(r"^[A-Za-z]:[\\/]", url):  # not a Windows drive path
        user = (match.group("user") or "").split(":", 1)[0]
        prefix = f"{user}@" if user else ""
        return f"{prefix}{match.group('host')}:{match.group('path')}"
    if "@" in url:  # something else with userinfo-like text: do not risk it
        return None
    return url


def _repo_name(url: str) -> str | None:
    path = url
    if "://" in url:
        path = urllib.parse.urlsplit(url).path
    else:
        match = _SCP_LIKE.match(url)
        if match:
            path = match.group("path")
    name = re.split(r"[\\/]", path.rstrip("/\\"))[-1]
    if name.endswith(".git"):
        name = name[:-4]
    return name or None


# --- git -------------------------------------------------------------------------------------


@attrs.frozen
class GitInfo:
    """What git says about a working tree. Every field is None when unknown.

    Attributes:
        commit: Full SHA of ``HEAD``.
        branch: Current branch, None when detached or unknown.
        dirty: True when ``git status --porcelain`` lists anything (tracked changes or
            untracked files not ignored), None when unknown.
        remote: Scrubbed URL of remote ``origin`` (else the first remote), None when none.
    """

    commit: str | None = None
    branch: str | None = None
    dirty: bool | None = None
    remote: str | None = None


_GIT_ENV = {"GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "LANGUAGE": "C"}


def _spawn(args: Sequence[str], cwd: Path) -> subprocess.Popen[bytes] | None:
    """Start ``git -C cwd args…``; None when git cannot be started."""
    try:
        return subprocess.Popen(
            ["git", "-C", str(cwd), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **_GIT_ENV},
        )
    except (OSError, ValueError):  # no git executable, bad argument
        return None


def _finish(proc: subprocess.Popen[bytes] | None, deadline: float) -> tuple[str | None, bool]:
    """Wait for a git process until ``deadline``: (stdout or None on failure, timed out)."""
    if proc is None:
        return None, False
    try:
        out, _ = proc.communicate(timeout=max(deadline - time.monotonic(), 0.001))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return None, True
    if proc.returncode != 0:
        return None, False
    return out.decode("utf-8", "replace"), False


def git_info(root: Path, *, timeout: float = 2.0) -> GitInfo:
    """Ask git about the working tree containing ``root``.

    Runs two short ``git`` commands concurrently (``status --porcelain=v2 --branch`` and
    ``config --get-regexp '^remote\\..*\\.url$'``), plus ``rev-parse HEAD`` only if ``status``
    timed out, all with ``GIT_OPTIONAL_LOCKS=0`` so they never take the index lock of a
    concurrently running git.

    Args:
        root: A directory inside the working tree.
        timeout: Total time budget for the git commands, in seconds.

    Returns:
        A :class:`GitInfo`; all fields None when git is missing, ``root`` is not in a
        repository, or the budget runs out. Never raises.
    """
    deadline = time.monotonic() + max(timeout, 0.0)
    status_proc = _spawn(["status", "--porcelain=v2", "--branch", "--untracked-files=normal"], root)
    if status_proc is None:
        return GitInfo()
    config_proc = _spawn(["config", "--get-regexp", r"^remote\..*\.url$"], root)
    status, status_timed_out = _finish(status_proc, deadline)
    config, _ = _finish(config_proc, deadline)
    commit = branch = remote = None
    dirty: bool | None = None
    if status_timed_out:
        # A huge working tree: status is too slow, but HEAD is still cheap to read.
        head, _ = _finish(_spawn(["rev-parse", "HEAD", "--abbrev-ref", "HEAD"], root),
                          time.monotonic() + max(timeout / 4, 0.2))
        parts = (head or "").split()
        if len(parts) == 2:
            commit, branch = parts[0], (None if parts[1] == "HEAD" else parts[1])
    elif status is not None:
        dirty = False
        for line in status.splitlines():
            if line.startswith("# branch.oid "):
                oid = line[len("# branch.oid "):].strip()
                commit = oid if oid != "(initial)" else None
            elif line.startswith("# branch.head "):
                head_name = line[len("# branch.head "):].strip()
                branch = head_name if head_name != "(detached)" else None
            elif line and not line.startswith("#"):
                dirty = True
    else:
        return GitInfo()  # not a repository (or git failed)
    if config:
        remotes: dict[str, str] = {}
        for line in config.splitlines():
            key, _, value = line.partition(" ")
            remotes.setdefault(key[len("remote."):-len(".url")], value)
        raw = remotes.get("origin") or next(iter(remotes.values()), None)
        if raw:
            remote = scrub_url(raw)
    return GitInfo(commit=commit, branch=branch, dirty=dirty, remote=remote)


# --- other values ----------------------------------------------------------------------------


def utc_timestamp(now: _dt.datetime | None = None) -> str:
    """Format a time as UTC ISO 8601 with whole seconds and a ``Z`` suffix.

    Args:
        now: The time (default: now). Naive datetimes are taken as UTC.

    Returns:
        E.g. ``"2025-03-01T14:07:09Z"`` (RFC 3339 §5.6 profile of ISO 8601).
    """
    now = now or _dt.datetime.now(_dt.UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=_dt.UTC)
    return now.astimezone(_dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pyproject_name(root: Path) -> str | None:
    try:
        data = _toml.loads((root / "pyproject.toml").read_bytes().decode("utf-8"))
    except (OSError, _toml.TOMLError, UnicodeDecodeError):
        return None
    project = data.get("project")
    name = project.get("name") if isinstance(project, dict) else None
    return name.strip() or None if isinstance(name, str) else None


def _username() -> str | None:
    try:
        return getpass.getuser() or None
    except (KeyError, OSError, ImportError):  # no passwd entry for the uid (containers), no pwd
        return None


def _platform() -> str:
    uname = platform.uname()
    return "-".join(p for p in (uname.system, uname.release, uname.machine) if p) or "unknown"


def _xml_safe(value: str) -> str:
    return _XML_INVALID.sub("\ufffd", value)


def _juxsdk_version() -> str:
    from . import __version__

    return __version__


def _plugin_properties(
    registry: Registry, context: Mapping[str, Any]
) -> list[tuple[str, str]]:
    hook = registry.plugin_manager.hook.juxsdk_collect_metadata
    try:
        results = hook(context=context)
    except Exception as exc:
        raise PluginError(
            f"a juxsdk_collect_metadata hook failed: {type(exc).__name__}: {exc}",
            hint="fix or uninstall the plugin (see `jux backends`)",
        ) from exc
    out: list[tuple[str, str]] = []
    for result in results:
        if result is None:
            continue
        if not isinstance(result, Mapping):
            raise PluginError(
                f"a juxsdk_collect_metadata hook returned {type(result).__name__}, not a mapping"
            )
        for name, value in result.items():
            if not isinstance(name, str) or not name.strip():
                raise PluginError(f"a juxsdk_collect_metadata hook returned an invalid name {name!r}")
            if value is None:
                continue
            out.append((name, _xml_safe(str(value))))
    return out


def collect_metadata(
    *,
    project: str | None = None,
    root: Path | None = None,
    env_allowlist: Iterable[str] = (),
    include_username: bool = False,
    harness: str | None = None,
    extra: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    registry: Registry | None = None,
    timeout: float = 2.0,
    git: bool = True,
) -> dict[str, str]:
    """Collect provenance properties for a report.

    Keys, in this order (absent values are omitted): ``project``, ``git:commit``,
    ``git:branch``, ``git:status`` (``clean``/``dirty``), ``git:remote``, ``ci:provider``,
    ``ci:build_id``, ``ci:build_url``, ``jux:hostname``, ``jux:platform``,
    ``jux:python_version``, ``jux:juxsdk_version``, ``jux:harness``, ``jux:timestamp``,
    ``env:<VAR>`` (allowlist order), ``jux:username``; then properties from plugins'
    ``juxsdk_collect_metadata`` hooks (they never replace a key already present, and an
    earlier-called plugin wins over a later one); then ``extra``, which replaces any
    collected value of the same name (keeping its position) and appends new names.

    Args:
        project: Explicit project name; beats detection. Detection: ``[project].name`` in
            ``root/pyproject.toml`` (PEP 621), else the repository name of the git remote,
            else the name of ``root``.
        root: Project directory (default: the current directory). git runs there.
        env_allowlist: Names of environment variables to record as ``env:<NAME>``. Nothing
            else from the environment is ever recorded.
        include_username: Record ``jux:username`` (``getpass.getuser()``); omitted when the
            user cannot be determined (e.g. no passwd entry for the uid in a container).
        harness: Name of the calling harness (``"pytest"``, ``"cli"``…), recorded as
            ``jux:harness`` and passed to the hook.
        extra: Properties of the caller's own; they win over collected ones.
        environ: Environment to read CI and allowlisted variables from (default
            ``os.environ``). git itself always runs with the process environment.
        registry: When given, its plugins' ``juxsdk_collect_metadata`` hooks are called with
            ``context={"harness", "root", "project", "environ", "properties"}`` (read-only).
        timeout: Time budget for all git commands, in seconds.
        git: Run git at all (``[tool.jux.metadata] git = false`` turns it off); without it,
            ``git:commit``/``git:branch`` still come from CI variables when set.

    Returns:
        An insertion-ordered ``dict`` of property name to value (all ``str``; characters not
        allowed in XML 1.0 are replaced by U+FFFD).

    Raises:
        PluginError: a ``juxsdk_collect_metadata`` hook raised or returned something that is
            not a mapping of names to values. Nothing else raises: unavailable values
            (git, CI, user) are omitted.
    """
    env = os.environ if environ is None else environ
    root = Path.cwd() if root is None else Path(root)
    props: dict[str, str] = {}

    repo = git_info(root, timeout=timeout) if git else GitInfo()
    ci = detect_ci(env)

    name = (project or "").strip() or _pyproject_name(root)
    if not name and repo.remote:
        name = _repo_name(repo.remote)
    if not name:
        name = root.resolve().name or None
    if name:
        props["project"] = name

    commit = repo.commit
    if commit is None and repo.dirty is None:  # git could not tell: trust CI variables
        commit = next((v for v in (_get(env, n) for n in COMMIT_ENV_VARS) if v), None)
    if commit:
        props["git:commit"] = commit
    branch = repo.branch or _branch_from_env(env)
    if branch:
        props["git:branch"] = branch
    if repo.dirty is not None:
        props["git:status"] = "dirty" if repo.dirty else "clean"
    if repo.remote:
        props["git:remote"] = repo.remote

    if ci is not None:
        props["ci:provider"] = ci.provider
        if ci.build_id:
            props["ci:build_id"] = ci.build_id
        if ci.build_url:
            props["ci:build_url"] = ci.build_url

    try:
        hostname = socket.gethostname()
    except OSError:
        hostname = ""
    if hostname:
        props["jux:hostname"] = hostname
    props["jux:platform"] = _platform()
    props["jux:python_version"] = platform.python_version()
    props["jux:juxsdk_version"] = _juxsdk_version()
    if harness:
        props["jux:harness"] = harness
    props["jux:timestamp"] = utc_timestamp()

    for var in env_allowlist:
        var = var.strip()
        if var and var in env:
            props[f"env:{var}"] = env[var]

    if include_username:
        user = _username()
        if user:
            props["jux:username"] = user

    props = {k: _xml_safe(v) for k, v in props.items()}

    if registry is not None:
        context = MappingProxyType(
            {
                "harness": harness,
                "root": root,
                "project": props.get("project"),
                "environ": MappingProxyType(dict(env)),
                "properties": MappingProxyType(dict(props)),
            }
        )
        for key, value in _plugin_properties(registry, context):
            props.setdefault(key, value)

    for key, value in (extra or {}).items():
        props[str(key)] = _xml_safe(str(value))
    return props
