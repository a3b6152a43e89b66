"""Registration of the built-in backends.

Listed in juxsdk's own ``[project.entry-points.juxsdk]`` as ``builtin``, so the built-ins
arrive exactly like a third-party plugin. Backend modules are imported here, but their optional
dependencies (python-pkcs11, boto3, securesystemslib) are imported only when a backend is used.
"""

from __future__ import annotations

from typing import Any

from juxsdk.plugin import hookimpl


@hookimpl
def juxsdk_register_signers() -> list[type[Any]]:
    """File-key, PKCS#11, AWS KMS and securesystemslib signers."""
    from .awskms import AwsKmsSigner
    from .file_key import FileKeySigner
    from .pkcs11 import Pkcs11Signer
    from .sslib import SslibSigner

    return [FileKeySigner, Pkcs11Signer, AwsKmsSigner, SslibSigner]


@hookimpl
def juxsdk_register_stores() -> list[type[Any]]:
    """Filesystem and S3 stores."""
    from .filesystem import FilesystemStore
    from .s3 import S3Store

    return [FilesystemStore, S3Store]


@hookimpl
def juxsdk_register_publishers() -> list[type[Any]]:
    """Jux API v1 HTTP publisher."""
    from .http_api import HttpApiPublisher

    return [HttpApiPublisher]
