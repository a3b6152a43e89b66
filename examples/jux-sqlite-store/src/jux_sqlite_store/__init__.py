"""jux-sqlite-store: a juxsdk store backend (name ``"sqlite"``) in one SQLite file."""

from __future__ import annotations

from .store import SqliteStore

__all__ = ["SqliteStore"]
__version__ = "0.1.0"
