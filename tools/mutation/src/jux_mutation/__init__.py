"""Mutation testing of juxsdk's verification path (see tools/mutation/README.md)."""
