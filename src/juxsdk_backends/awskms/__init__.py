"""AWS KMS signer (``awskms``): the signing key is an asymmetric AWS KMS key; only signatures leave KMS.

Configuration (``jux.toml``; ``[tool.jux.backends.awskms]`` in ``pyproject.toml``)::

    signer = "awskms"

    [backends.awskms]
    key_id = "alias/jux-signing"     # key id, key ARN, alias name or alias ARN
    region = "eu-west-1"             # default: the AWS configuration chain

Credentials and endpoints come from boto3's standard chain (environment, shared config and
credentials files, SSO, container or instance role; ``AWS_ENDPOINT_URL_KMS`` /
``AWS_ENDPOINT_URL``), unless set here.

Keys (AWS KMS Developer Guide, "Asymmetric key specs"): ``KeyUsage = SIGN_VERIFY`` with key spec
``RSA_2048`` / ``RSA_3072`` / ``RSA_4096`` (``RSASSA_PKCS1_V1_5_SHA_256|384|512``) or
``ECC_NIST_P256`` / ``ECC_NIST_P384`` / ``ECC_NIST_P521`` (``ECDSA_SHA_256|384|512``). The
algorithm is chosen from the key's metadata (``GetPublicKey``): ``rsa-sha256`` for RSA, the
curve's hash for ECDSA, unless ``algorithm`` is set. KMS returns ECDSA signatures as the DER
``Ecdsa-Sig-Value`` (RFC 3279 §2.2.3), which is what the core expects.

Round trips: the key's metadata and public key are read once per process (``DescribeKey`` and
``GetPublicKey``, cached by endpoint, region, profile and key id); each signature is one
``Sign`` call. The XMLDSig ``SignedInfo`` is sent as it is (``MessageType=RAW``, well under the
4096-byte limit); larger inputs are hashed locally and sent with ``MessageType=DIGEST``.

Errors are mapped at this boundary (:func:`.errors.map_error`): access denied, disabled key, key
pending deletion, wrong key usage, unsupported key spec, throttling (retried first by botocore's
``standard`` mode with capped exponential backoff), unreachable endpoint, expired or invalid
credentials. No credential value appears in any message.

boto3 is an optional dependency (``pip install 'juxsdk[aws]'``), imported on first use.
"""

from __future__ import annotations

from .keygen import GeneratedKmsKey, generate_kms_key
from .options import INSTALL_HINT, AwsKmsOptions
from .signer import AwsKmsSigner

__all__ = ["INSTALL_HINT", "AwsKmsOptions", "AwsKmsSigner", "GeneratedKmsKey", "generate_kms_key"]
