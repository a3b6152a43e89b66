"""The examples shown at the end of each command's ``--help`` (the click epilog), in one place."""

from __future__ import annotations

#: Command path (without ``jux``; ``""`` is ``jux`` itself) → example lines, ``command  # comment``.
EXAMPLES: dict[str, tuple[str, ...]] = {
    "": (
        "jux keygen                                   # dev key + certificate in the user config dir",
        "jux submit junit.xml                         # sign, store, publish per configuration",
        "jux verify --cert signing-cert.pem 'reports/**/*.xml'",
        "jux config list                              # every configuration option",
    ),
    "backends": ("jux backends", "jux backends --json"),
    "cache": ("jux cache list --project pump --failed", "jux cache show 3fa9", "jux cache clean --days 90 --dry-run"),
    "cache list": ("jux cache list", "jux cache list --project pump --since 2025-01-01 --json"),
    "cache show": (
        "jux cache show 3fa9                          # metadata as JSON",
        "jux cache show --xml 3fa9 > report.xml       # the exact stored bytes",
        "jux cache show --attachment intoto.json 3fa9",
    ),
    "cache stats": ("jux cache stats", "jux cache stats --json"),
    "cache clean": (
        "jux cache clean --days 90 --dry-run",
        "jux cache clean --keep-last 20",
        "jux cache clean --policy release-policy.toml --json",
    ),
    "config": ("jux config init", "jux config list", "jux config show", "jux config check"),
    "config show": ("jux config show", "jux --config ci/jux.toml config show --json"),
    "config check": ("jux config check", "JUX_HTTP_TOKEN=… jux config check --json"),
    "config init": (
        "jux config init                              # ./jux.toml",
        "jux config init --path pyproject.toml        # append [tool.jux] tables",
        "jux config init --path -                     # print the template",
    ),
    "index": ("jux index rebuild --cert ci-cert.pem", "jux index info"),
    "index info": ("jux index info", "jux index info --json"),
    "inspect": (
        "jux inspect junit.xml",
        "jux inspect --full signed.xml                # long property values whole",
        "cat junit.xml | jux inspect - --json",
    ),
    "keygen": (
        "jux keygen                                   # RSA 3072 in the user config dir",
        "jux keygen --type ec --out ci-key.pem --cert-out ci-cert.pem --subject 'CN=ci,O=Example'",
        "jux keygen --signer pkcs11 --csr token.csr   # key on the configured token",
    ),
    "merge": (
        "jux merge target/surefire-reports -o merged.xml",
        "jux merge 'build/**/TEST-*.xml' -o merged.xml --sign",
        "jux merge a.signed.xml b.signed.xml --cert ci-cert.pem -o all.xml --sign --key k.pem --signing-cert c.pem",
    ),
    "publish": (
        "jux publish signed.xml",
        "jux publish --url https://jux.example.com/api/v1 --dry-run signed.xml",
        "jux publish --queue                          # drain the outbox",
    ),
    "queue": ("jux queue list", "jux queue retry --all && jux publish --queue", "jux queue drop --dead"),
    "queue list": ("jux queue list", "jux queue list --json"),
    "queue retry": ("jux queue retry 3fa9", "jux queue retry --all"),
    "queue drop": ("jux queue drop 3fa9", "jux queue drop --all --dead"),
    "doctor": (
        "jux doctor                                   # one line per check, with a hint",
        "jux --config ci/jux.toml doctor --json       # for a fleet dashboard",
    ),
    "log": ("jux log show --last 20", "jux log verify"),
    "log show": (
        "jux log show --operation sign --since 2026-01-01",
        "jux log show --hash 3fa9 --json",
    ),
    "log verify": (
        "jux log verify                               # exit 1 names the first edited, removed or moved line",
        "jux log verify --head sha256:…               # also detect a cut end",
    ),
    "sign": (
        "jux sign junit.xml -o junit.signed.xml",
        "jux sign junit.xml -o junit.signed.xml --key k.pem --signing-cert c.pem",
        "jux sign 'build/**/*.xml' -o signed/ --json  # many reports into a directory",
        "cat junit.xml | jux sign > junit.signed.xml",
    ),
    "submit": (
        "jux submit junit.xml",
        "jux submit target/surefire-reports --project pump",
        "jux submit --merge 'build/**/TEST-*.xml' --attest",
    ),
}


def examples(command: str) -> str:
    """The ``--help`` epilog of ``jux <command>``: an ``Examples:`` block kept as written.

    Args:
        command: The command path without ``jux`` (``"cache show"``; ``""`` for ``jux``).

    Raises:
        KeyError: no examples are written for ``command`` (a test checks every command has them).
    """
    lines = "\n".join(f"  {line}" for line in EXAMPLES[command])
    return f"\b\nExamples:\n{lines}"
