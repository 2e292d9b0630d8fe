"""The service layer's errors, re-exported from `core.errors` (where the one error tree lives).

Each one maps to exactly one answer in every front door (an HTTP status, a chat reply), so the
services raise the precise type and the front doors never guess from a message.
"""

from __future__ import annotations

from core.errors import AuthenticationError, ConflictError, OverloadedError, UnavailableError, UpstreamError

__all__ = ["AuthenticationError", "ConflictError", "OverloadedError", "UnavailableError", "UpstreamError"]
