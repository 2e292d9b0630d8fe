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
