"""The public API is pinned: additions are deliberate, removals are breaking."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import juxsdk

SRC = Path(juxsdk.__file__).resolve().parent
BACKENDS = SRC.parent / "juxsdk_backends"

EXPECTED = {
    "AlreadySignedError", "BackendNotFoundError", "CertificateValidityError", "ConfigError",
    "DigestMismatchError", "Jux", "JuxConfig", "JuxError", "MultipleSignaturesError",
    "NoSignatureError", "PermanentPublishError", "PluginError", "PublishError", "PublishReceipt",
    "Publisher", "Registry", "Report", "ReportError", "ReportNotFoundError", "ReportParseError",
    "ReportSummary", "Secret", "SignatureInfo", "SignatureStructureError", "SignatureValueError",
    "SignedReport", "Signer", "SigningError", "Store", "StoreError", "StoredReport", "SubmitResult",
    "TransientPublishError", "TrustPolicy", "TrustedCA", "TrustedCertificates", "TrustedPublicKeys",
    "UnsafeAcceptAnyKey", "UnsupportedAlgorithmError", "UntrustedKeyError", "VerificationError",
    "VerifiedReport", "__version__", "add_properties", "canonical_hash", "collect_metadata",
    "load_config", "merge_reports", "parse_report", "sign_report", "verify_report",
    # attestations (issue 14)
    "Attestation", "AttestationError", "AttestationMismatchError", "SignatureThresholdError",
    "VerifiedAttestation", "attest", "verify_attestation",
    # evidence: audit, policy, index
    "AuditResult", "EvidenceIndexError", "EvidencePolicy", "Index", "PolicyError", "ReportAudit", "audit",
    "load_policy",
}


def test_all_is_pinned() -> None:
    assert set(juxsdk.__all__) == EXPECTED
    assert len(juxsdk.__all__) == len(set(juxsdk.__all__))


def test_every_public_name_resolves_and_is_documented() -> None:
    for name in juxsdk.__all__:
        obj = getattr(juxsdk, name)
        if name != "__version__":
            assert (getattr(obj, "__doc__", None) or "").strip(), f"{name} has no docstring"


def test_error_tree_and_exit_codes() -> None:
    for name in juxsdk.__all__:
        obj = getattr(juxsdk, name)
        if isinstance(obj, type) and name.endswith("Error"):
            assert issubclass(obj, juxsdk.JuxError)
    assert juxsdk.VerificationError.exit_code == 1
    assert juxsdk.ConfigError.exit_code == 2
    assert juxsdk.StoreError.exit_code == 3


def test_import_juxsdk_is_cheap() -> None:
    code = "import sys, juxsdk; print(sorted(m for m in ('lxml', 'cryptography', 'signxml', 'requests', 'boto3', 'pkcs11') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_boundaries() -> None:
    # 1. the core never imports the built-in backends
    for path in SRC.rglob("*.py"):
        assert not any(m.startswith("juxsdk_backends") for m in _imports(path)), path
    # 3. only xmldsig.py imports signxml
    for path in [*SRC.rglob("*.py"), *BACKENDS.rglob("*.py")]:
        if any(m.startswith("signxml") for m in _imports(path)):
            assert path == SRC / "xmldsig.py", path
    # 4. pytest only in juxsdk.testing
    for path in SRC.rglob("*.py"):
        if any(m == "pytest" or m.startswith("_pytest") for m in _imports(path)):
            assert "testing" in path.relative_to(SRC).parts, path


def test_backends_import_only_public_juxsdk_modules() -> None:
    public = {"juxsdk", "juxsdk.plugin", "juxsdk.errors", "juxsdk.models", "juxsdk.config", "juxsdk.config.numbers",
              "juxsdk.config.paths", "juxsdk.config.secret", "juxsdk.protocols", "juxsdk.testing",
              "juxsdk.attachments", "juxsdk.files", "juxsdk.sidecars", "juxsdk.scrub", "juxsdk.doctor"}
    for path in BACKENDS.rglob("*.py"):
        for mod in _imports(path):
            if mod.startswith("juxsdk.") or mod == "juxsdk":
                assert mod in public, f"{path.name} imports private {mod}"


def test_optional_dependencies_are_lazy() -> None:
    for name in ("pkcs11", "s3", "awskms", "sslib"):
        package = BACKENDS / name
        modules = sorted(package.glob("*.py")) if package.is_dir() else [BACKENDS / f"{name}.py"]
        assert modules, name
        for mod in modules:
            tree = ast.parse(mod.read_text())
            top = set()
            for node in tree.body:
                if isinstance(node, ast.Import):
                    top.update(a.name.split(".")[0] for a in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    top.add(node.module.split(".")[0])
            optional = {"pkcs11", "boto3", "botocore", "securesystemslib"}
            assert not top & optional, f"{mod} imports its optional dependency at module level"
    importlib.import_module("juxsdk_backends.hooks")
