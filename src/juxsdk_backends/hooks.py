"""Registration of the built-in backends.

Listed in juxsdk's own ``[project.entry-points.juxsdk]`` as ``builtin``, so the built-ins
arrive exactly like a third-party plugin.

Every backend is announced **lazily**, as a ``BackendSpec(name, "module:Class", summary)``:
this module imports no backend module, and a backend's module (with its dependencies:
cryptography, filelock, requests, boto3, python-pkcs11…) is imported only when a configuration
selects it. To add a backend, add one entry to the list of its kind::

    BackendSpec("awskms", "juxsdk_backends.awskms.signer:AwsKmsSigner",
                "Signs with a key held in AWS KMS (the private key never leaves KMS)."),

``name`` must equal the class's ``name`` attribute and ``summary`` should be the first line of its
docstring (``tests/unit/test_registry.py`` checks both for every built-in). Do not import the
backend class here: a hook that returns a class (the older form, still accepted for third-party
plugins) imports its module on every ``Registry()``.
"""

from __future__ import annotations

from typing import Any

from juxsdk.plugin import BackendSpec, hookimpl


@hookimpl
def juxsdk_register_signers() -> list[BackendSpec]:
    """File-key, PKCS#11, AWS KMS and securesystemslib signers."""
    return [
        BackendSpec("file", "juxsdk_backends.file_key:FileKeySigner",
                    "Signs with a private key read from a file (RSA 2048–4096, EC P-256/P-384)."),
        BackendSpec("pkcs11", "juxsdk_backends.pkcs11.signer:Pkcs11Signer",
                    "Signs with a private key inside a PKCS#11 token (HSM, smart card, SoftHSM2)."),
        BackendSpec("awskms", "juxsdk_backends.awskms.signer:AwsKmsSigner",
                    "Signs with an asymmetric AWS KMS key (RSA 2048–4096, ECC NIST P-256/P-384/P-521)."),
        BackendSpec("sslib", "juxsdk_backends.sslib:SslibSigner",
                    "Signs through a securesystemslib signer (GCP KMS, Azure Key Vault, HashiCorp Vault, key file…)."),
    ]


@hookimpl
def juxsdk_register_stores() -> list[BackendSpec]:
    """Filesystem and S3 stores."""
    return [
        BackendSpec("filesystem", "juxsdk_backends.filesystem:FilesystemStore",
                    "Stores reports as files under a local directory, keyed by canonical hash."),
        BackendSpec("s3", "juxsdk_backends.s3:S3Store",
                    "Stores reports in an S3 bucket (AWS S3, MinIO, Ceph RGW…), keyed by canonical hash."),
    ]


@hookimpl
def juxsdk_register_publishers() -> list[BackendSpec]:
    """Jux API v1 HTTP publisher."""
    return [
        BackendSpec("http", "juxsdk_backends.http_api:HttpApiPublisher",
                    "Publisher for the Jux API v1 (``POST {url}/junit/submit``)."),
    ]


@hookimpl
def juxsdk_doctor_checks(kind: str, name: str, backend: Any, config: Any) -> list[Any] | None:
    """``jux doctor`` checks of the built-in backends (:mod:`juxsdk_backends.doctor_checks`, imported only here)."""
    if not type(backend).__module__.startswith("juxsdk_backends."):
        return None
    from .doctor_checks import checks_for

    return checks_for(kind, backend, config)
