"""Exception types shared across the core.

`MempoolsError` is the root of every error that is the user's or operator's to fix (bad
config, a locked data directory, a malformed query). Front doors turn these into a one-line
message, a 4xx, or a chat reply; anything else escaping is a bug.
"""

from __future__ import annotations


class MempoolsError(Exception):
    """Base class for expected, user-facing failures."""


class ConfigError(MempoolsError):
    """The configuration file or an environment override is wrong. Names the key."""


class StoreError(MempoolsError):
    """The data directory cannot be used."""


class StoreLockedError(StoreError):
    """Another process holds the data directory."""


class StoreUnavailableError(StoreError):
    """The store refuses writes for now (a full disk, an I/O error); reads still work.

    Not the caller's fault and not permanent: front doors answer "try again later" (HTTP 503
    with Retry-After) and the watcher retries the same block, because the store recovers by
    itself once the operator frees space (see `core/store/rocks.py`).
    """

    retry_after = 60  # seconds a caller should wait before trying again


class SchemaVersionError(StoreError):
    """The data directory was written by a newer (or incompatible) version of mempools."""


class NotFoundError(MempoolsError):
    """The object does not exist, or is not the caller's (the two are never told apart)."""


class QuotaExceededError(MempoolsError):
    """The account has reached a configured limit."""


class ValidationError(MempoolsError):
    """Input that is well-formed but not acceptable (bad address, unknown chain, ...)."""
