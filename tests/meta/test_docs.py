"""The user documentation is executable.

* docs/tutorials: every command is run for real, in order, in an empty home directory (no
  JUX_* variables, HOME pointing at a temporary directory), and every output line the
  tutorial shows must appear in the real output (``…`` stands for variable text).
* docs/how-to and docs/tutorials: every ``jux …`` command line in a code block (console, shell,
  YAML, Jenkinsfile) must name existing subcommands and options, with values where they need
  them, required arguments present and valid choices (checked with click's own parser, without
  running anything); every Python snippet must compile and only use names juxsdk exports.
* docs/reference: the Python snippets of the canonical-hash reference run; the API reference
  is generated and up to date; docs/index.md links every page and every relative link resolves.
* Shell completion (docs/how-to/shell-completion.md) works: bash/zsh/fish scripts are produced,
  and completing ``jux ca`` offers ``cache`` — both through click's protocol and through the
  generated bash function itself.
"""

from __future__ import annotations

import ast
import importlib
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest

import juxsdk
from juxsdk.cli import cli

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
VENV_BIN = Path(sys.executable).parent
JUX = VENV_BIN / "jux"

TUTORIALS = sorted((DOCS / "tutorials").glob("*.md"))
HOW_TOS = sorted((DOCS / "how-to").glob("*.md"))

#: Commands a tutorial shows but the test cannot run (installation from an index). They must
#: still be present verbatim, so that a change to them is a deliberate change to this list.
NOT_RUN = {"git clone <this repository> juxsdk", "pip install ./juxsdk"}

_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)
_FILE_MARK = re.compile(r"<!--\s*file:\s*(?P<name>[^\s>]+)\s*-->\s*$")


@dataclass
class Block:
    lang: str
    body: str
    file: str | None = None  # `<!-- file: NAME -->` right before the fence


@dataclass
class ConsoleStep:
    command: str
    expected: list[str] = field(default_factory=list)


def blocks(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    out: list[Block] = []
    for m in _FENCE.finditer(text):
        before = text[: m.start()].rstrip().splitlines()
        mark = _FILE_MARK.search(before[-1]) if before else None
        body = "\n".join(line[len(m.group("indent")):] for line in m.group("body").splitlines()) + "\n"
        out.append(Block(m.group("lang").lower(), body, mark.group("name") if mark else None))
    return out


def console_steps(block: Block) -> list[ConsoleStep]:
    steps: list[ConsoleStep] = []
    for line in block.body.splitlines():
        if line.startswith("$ "):
            steps.append(ConsoleStep(line[2:].strip()))
        elif steps and line.strip():
            steps[-1].expected.append(line.rstrip())
    return steps


def _pattern(expected: str) -> re.Pattern[str]:
    parts = [re.escape(p) for p in expected.split("…")]
    return re.compile(r"\s*" + ".*".join(parts).strip() + r"\s*")


# --- tutorials: run every command ----------------------------------------------------------


def _clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUX_", "JUXSDK_", "XDG_"))}
    env.update(HOME=str(home), PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}", NO_COLOR="1", LC_ALL="C.UTF-8")
    return env


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.name)
def test_tutorial_runs_for_real(path: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    work = home / "work"
    work.mkdir(parents=True)
    env = _clean_env(home)
    ran: list[str] = []
    skipped: set[str] = set()
    for block in blocks(path):
        if block.file:
            (work / block.file).write_text(block.body, encoding="utf-8")
            continue
        if block.lang != "console":
            continue
        for step in console_steps(block):
            if step.command in NOT_RUN:
                skipped.add(step.command)
                continue
            proc = subprocess.run(
                ["bash", "-c", step.command], cwd=work, env=env, capture_output=True, text=True, timeout=120
            )
            output = (proc.stdout + proc.stderr).splitlines()
            assert proc.returncode == 0, f"`{step.command}` exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
            for expected in step.expected:
                if expected.strip() == "…":
                    continue
                pattern = _pattern(expected)
                assert any(pattern.fullmatch(line) for line in output), (
                    f"{path.name}: `{step.command}` did not print a line like\n  {expected!r}\nit printed:\n"
                    + "\n".join(output)
                )
            ran.append(step.command)
    assert skipped == NOT_RUN & skipped, skipped
    assert len(ran) >= 5, ran
    if path.name == "first-signed-report.md":
        # the promised steps are all there, and they left their traces in the isolated home
        for needed in ("jux keygen", "jux sign", "jux verify", "jux inspect", "jux submit", "jux cache list"):
            assert any(cmd.startswith(needed) for cmd in ran), needed
        assert (home / ".config" / "jux" / "signing-key.pem").is_file()
        assert list((home / ".local" / "share" / "jux" / "reports").rglob("*.xml"))


# --- how-tos (and tutorials): every jux command parses -------------------------------------

_SHELL_LANGS = {"console", "bash", "sh", "shell", "zsh", "fish", "yaml", "yml", "groovy", "", "text"}
_ALIASES = {"jux-keygen", "jux-sign", "jux-verify", "jux-inspect", "jux-cache", "jux-config", "jux-publish"}
_OPERATORS = {"|", "||", "&&", ";", "&", ">", ">>", "<", "(", ")", "2>", "2>&1", "$("}
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def _tokens(line: str) -> list[str]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|<>()")
    lexer.whitespace_split = True
    return list(lexer)


def jux_invocations(line: str) -> list[list[str]]:
    """Every ``jux …`` (or ``jux-<cmd> …``) invocation in one shell-ish line, as argv lists."""
    found: list[list[str]] = []
    tokens = _tokens(line)
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        base = tok.rsplit("/", 1)[-1]
        if base == "jux" or base in _ALIASES:
            args: list[str] = [] if base == "jux" else [base.removeprefix("jux-")]
            j = i + 1
            while j < len(tokens) and tokens[j] not in _OPERATORS and not set(tokens[j]) <= set(";&|<>()"):
                args.append(tokens[j])
                j += 1
            found.append(args)
            i = j
            continue
        if not _ASSIGNMENT.match(tok) and re.search(r"(^|[\s/(])jux(-\w+)?(\s|\)|$)", tok) and " " in tok:
            inner = tok.removeprefix("$(").removesuffix(")")
            found.extend(jux_invocations(inner))
        i += 1
    return found


def _command_lines(block: Block) -> list[str]:
    lines: list[str] = []
    joined: list[str] = []
    for raw in block.body.splitlines():  # join `\`-continued lines first
        if joined and joined[-1].endswith("\\"):
            joined[-1] = joined[-1][:-1] + " " + raw.strip()
        else:
            joined.append(raw.rstrip())
    for raw in joined:
        line = raw.strip()
        if block.lang in ("console", "", "text"):  # a prompt marks commands; the rest is output
            if not line.startswith("$ "):
                continue
            line = line[2:]
        if block.lang == "groovy":
            line = re.sub(r"\s//.*$", "", line)
        if block.lang in ("yaml", "yml"):
            line = re.sub(r"^-?\s*(run|script|after_script|before_script)?:?\s*", "", line.lstrip("- "))
        if "jux" in line:
            lines.append(line)
    return lines


def check_invocation(args: list[str]) -> None:
    """Parse ``jux ARGS`` with click's parser (no type conversion, nothing runs).

    Raises:
        AssertionError: unknown subcommand, unknown option, option without its value, missing
            required argument, extra arguments, or an invalid choice.
    """
    command: click.Command = cli
    ctx = click.Context(cli, info_name="jux")
    rest = list(args)
    path = ["jux"]
    while True:
        parser = command.make_parser(ctx)
        try:
            opts, rest, _order = parser.parse_args(list(rest))
        except click.UsageError as exc:
            raise AssertionError(f"`{' '.join(path)}`: {exc.format_message()}") from None
        for param in command.params:
            value = opts.get(param.name) if param.name else None
            if isinstance(param.type, click.Choice) and value not in (None, ()):
                for item in value if isinstance(value, list | tuple) else [value]:
                    try:
                        param.type.convert(item, param, ctx)
                    except click.BadParameter as exc:
                        raise AssertionError(f"`{' '.join(path)}`: {exc.format_message()}") from None
        if isinstance(command, click.Group):
            if not rest:
                return  # `jux`, `jux --version`, `jux cache --help`…
            name = rest.pop(0)
            sub = command.get_command(ctx, name)
            assert sub is not None, f"`{' '.join(path)}` has no subcommand {name!r}"
            path.append(name)
            ctx = click.Context(sub, info_name=name, parent=ctx)
            command = sub
            continue
        if opts.get("help"):
            return
        for param in command.params:
            if isinstance(param, click.Argument) and param.required:
                value = opts.get(param.name)
                assert value not in (None, (), []) and "UNSET" not in repr(value), (
                    f"`{' '.join(path)}`: missing argument {param.human_readable_name}"
                )
        assert not rest, f"`{' '.join(path)}`: unexpected extra arguments {rest}"
        return


def _documented_invocations(paths: list[Path]) -> list[tuple[str, list[str]]]:
    out: list[tuple[str, list[str]]] = []
    for path in paths:
        for block in blocks(path):
            if block.lang not in _SHELL_LANGS or block.file:
                continue
            for line in _command_lines(block):
                try:
                    invocations = jux_invocations(line)
                except ValueError as exc:  # unbalanced quotes: reported by the test, not at collection
                    invocations = [["<cannot tokenize>", str(exc)]]
                out.extend((f"{path.name}: {line}", inv) for inv in invocations)
    return out


DOCUMENTED = _documented_invocations(HOW_TOS + TUTORIALS)


@pytest.mark.parametrize(("where", "args"), DOCUMENTED, ids=[w for w, _ in DOCUMENTED])
def test_documented_jux_commands_parse(where: str, args: list[str]) -> None:
    check_invocation(args)


def test_every_how_to_is_covered_by_the_command_check() -> None:
    covered = {where.partition(":")[0] for where, _ in DOCUMENTED}
    mine = {
        "ci-github-actions.md", "ci-gitlab.md", "ci-jenkins.md", "key-rotation.md", "verify-old-reports.md",
        "shell-completion.md", "first-signed-report.md",
    }
    assert mine <= covered, mine - covered
    assert len(DOCUMENTED) >= 30


@pytest.mark.parametrize(
    "args",
    [
        ["sign", "--nope", "x.xml"],          # unknown option
        ["verify", "--cert"],                 # option without its value
        ["cahce", "list"],                    # unknown subcommand
        ["submit"],                           # missing required argument
        ["keygen", "--type", "dsa"],          # invalid choice
        ["inspect", "a.xml", "b.xml"],        # extra argument
    ],
)
def test_the_command_check_catches_broken_commands(args: list[str]) -> None:
    with pytest.raises(AssertionError):
        check_invocation(args)


def test_invocation_extraction_handles_ci_syntax() -> None:
    assert jux_invocations('sh \'.venv/bin/jux submit --merge target --json > out.json\'') == [
        ["submit", "--merge", "target", "--json"]
    ]
    assert jux_invocations('eval "$(_JUX_COMPLETE=bash_source jux)"') == [[]]
    assert jux_invocations('COMP_WORDS="jux ca" COMP_CWORD=1 _JUX_COMPLETE=bash_complete jux') == [[]]
    assert jux_invocations("mvn test || jux verify --cert c.pem r.xml; echo $?") == [
        ["verify", "--cert", "c.pem", "r.xml"]
    ]
    assert jux_invocations("_JUX_SIGN_COMPLETE=bash_source jux-sign") == [["sign"]]


def _juxsdk_names(tree: ast.AST) -> list[tuple[str, str]]:
    """``(module, name)`` for ``juxsdk.X`` attribute uses and ``from juxsdk… import X``."""
    out: list[tuple[str, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "juxsdk":
            out.append(("juxsdk", node.attr))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "juxsdk":
            out.extend((node.module, alias.name) for alias in node.names)
    return out


@pytest.mark.parametrize("path", HOW_TOS + TUTORIALS, ids=lambda p: p.name)
def test_python_snippets_compile_and_use_real_names(path: Path) -> None:
    for block in blocks(path):
        if block.lang not in ("python", "py"):
            continue
        tree = ast.parse(block.body, filename=str(path))
        for module, name in _juxsdk_names(tree):
            mod = importlib.import_module(module)
            assert hasattr(mod, name) or importlib.util.find_spec(f"{module}.{name}") is not None, (
                f"{path.name}: {module}.{name} does not exist"
            )
            if module == "juxsdk":
                assert name in juxsdk.__all__, f"{path.name}: juxsdk.{name} is not public API"


# --- reference ---------------------------------------------------------------------------------


def test_canonical_hash_examples_run() -> None:
    snippets = [b for b in blocks(DOCS / "reference" / "canonical-hash.md") if b.lang == "python"]
    assert len(snippets) >= 3
    for block in snippets:
        exec(compile(block.body, "canonical-hash.md", "exec"), {})  # our own docs


def test_canonical_hash_recipe_matches_the_module_docstring() -> None:
    import juxsdk.canonical

    doc = juxsdk.canonical.__doc__ or ""
    doc = " ".join(doc.replace("**", "").split())
    page = " ".join((DOCS / "reference" / "canonical-hash.md").read_text(encoding="utf-8").replace("**", "").split())
    for needle in ("Exclusive XML Canonicalization 1.0", "without comments", "§6.6.4", "§4.4.3.2", "ds:Signature",
                   "enveloped-signature transform", "sha256:"):
        assert needle in doc, needle
        assert needle in page, needle


def test_signature_profile_names_every_accepted_algorithm() -> None:
    from juxsdk.protocols import SIGNATURE_ALGORITHMS

    page = (DOCS / "reference" / "signature-profile.md").read_text(encoding="utf-8")
    for algorithm in SIGNATURE_ALGORITHMS:
        assert algorithm in page, algorithm
    for uri in ("http://www.w3.org/2001/10/xml-exc-c14n#", "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
                "http://www.w3.org/2001/04/xmlenc#sha256"):
        assert uri in page


def test_python_api_reference_is_up_to_date() -> None:
    proc = subprocess.run(
        [sys.executable, str(DOCS / "gen_api_reference.py"), "--check"],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr + "\nregenerate with: python docs/gen_api_reference.py"
    page = (DOCS / "reference" / "python-api.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^### `([A-Za-z_]+)", page, re.M))
    assert headings == set(juxsdk.__all__) - {"__version__"}


_LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


def test_index_links_every_page_and_links_resolve() -> None:
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    linked = {(DOCS / m.group("target")).resolve() for m in _LINK.finditer(index) if "://" not in m.group("target")}
    pages = {p.resolve() for p in DOCS.rglob("*.md") if p.name != "index.md"}
    assert pages <= linked, sorted(str(p.relative_to(DOCS)) for p in pages - linked)
    for page in [*DOCS.rglob("*.md"), REPO / "examples" / "README.md"]:
        for m in _LINK.finditer(page.read_text(encoding="utf-8")):
            target = m.group("target").split("#", 1)[0]
            if not target or "://" in target or target.startswith("mailto:"):
                continue
            assert (page.parent / target).exists(), f"{page.relative_to(REPO)}: broken link {target}"


# --- shell completion --------------------------------------------------------------------------


def _complete_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "complete -o nosort -F _jux_completion jux"),
        ("zsh", "#compdef jux"),
        ("fish", "complete --no-files --command jux"),
    ],
)
def test_completion_scripts(shell: str, marker: str) -> None:
    proc = subprocess.run(
        [str(JUX)], env=_complete_env(_JUX_COMPLETE=f"{shell}_source"), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert marker in proc.stdout
    assert "_JUX_COMPLETE" in proc.stdout  # the script calls back into jux for candidates


def test_completion_protocol_offers_cache_for_ca() -> None:
    proc = subprocess.run(
        [str(JUX)],
        env=_complete_env(_JUX_COMPLETE="bash_complete", COMP_WORDS="jux ca", COMP_CWORD="1"),
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["plain,cache"]
    options = subprocess.run(
        [str(JUX)],
        env=_complete_env(_JUX_COMPLETE="bash_complete", COMP_WORDS="jux merge --si", COMP_CWORD="2"),
        capture_output=True, text=True, timeout=60,
    )
    assert set(options.stdout.split()) == {"plain,--sign", "plain,--signer", "plain,--signing-cert"}


def test_bash_completion_function_completes_ca_to_cache(tmp_path: Path) -> None:
    script = subprocess.run(
        [str(JUX)], env=_complete_env(_JUX_COMPLETE="bash_source"), capture_output=True, text=True, timeout=60
    ).stdout
    (tmp_path / "jux-complete.bash").write_text(script, encoding="utf-8")
    driver = (
        f'source "{tmp_path / "jux-complete.bash"}"\n'
        "COMP_WORDS=(jux ca); COMP_CWORD=1; COMPREPLY=()\n"
        "_jux_completion jux\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = _complete_env(PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.run(["bash", "-c", driver], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["cache"]


# --- every command is documented -----------------------------------------------------------


def _command_paths() -> list[tuple[str, ...]]:
    ctx = click.Context(cli)
    paths: list[tuple[str, ...]] = []

    def walk(cmd: click.Command, path: tuple[str, ...]) -> None:
        if path:
            paths.append(path)
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                assert sub is not None
                if not sub.hidden:
                    walk(sub, (*path, name))

    walk(cli, ())
    return paths


def test_every_command_appears_in_the_readme_the_tutorial_and_the_cli_reference() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    tutorial = (DOCS / "tutorials" / "first-signed-report.md").read_text(encoding="utf-8")
    reference = (DOCS / "reference" / "cli.md").read_text(encoding="utf-8")
    readme_lines = [line.strip() for line in readme.splitlines()]
    missing: list[str] = []
    for path in _command_paths():
        name = "jux " + " ".join(path)
        if f"## `{name}`" not in reference:
            missing.append(f"{name}: docs/reference/cli.md")
        if len(path) == 1:
            if not any(line.startswith(f"{name} ") or line == name for line in readme_lines):
                missing.append(f"{name}: README.md (The CLI)")
            if f"`{path[0]}`" not in tutorial:
                missing.append(f"{name}: docs/tutorials/first-signed-report.md (Where next)")
        else:  # a subcommand: named on its group's README line (`jux cache list | show …`)
            group = f"jux {path[0]} "
            if not any(line.startswith(group) and re.search(rf"\b{path[1]}\b", line) for line in readme_lines):
                missing.append(f"{name}: README.md (The CLI)")
    assert missing == []
