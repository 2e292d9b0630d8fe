"""Errors of the service layer that `core.errors` has no type for.

Each one maps to exactly one answer in every front door (an HTTP status, a chat reply), so the
services raise the precise type and the front doors never guess from a message.
"""

from __future__ import annotations

from core.errors import MempoolsError


class AuthenticationError(MempoolsError):
    """Credentials (password, session, API key) are missing, wrong, expired or revoked."""


class ConflictError(MempoolsError):
    """The request collides with existing state (an email already registered)."""


class UpstreamError(MempoolsError):
    """A service we depend on (a chain's RPC, a webhook endpoint) could not answer."""


class UnavailableError(MempoolsError):
    """The feature is not wired in this process (e.g. no block fetcher was configured)."""


class OverloadedError(MempoolsError):
    """Too much work of one kind is already in progress; try again after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after
