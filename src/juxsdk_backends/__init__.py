"""Built-in juxsdk backends (signers, stores, publishers), registered through ``juxsdk_backends.hooks``."""
