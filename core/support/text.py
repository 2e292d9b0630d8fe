"""Cutting text to a limit, the one way every front door and channel does it.

Discord, Telegram and the attempt log all have hard length limits; text over one is cut and ends
with "…" so a reader sees that something is missing, and the result is never over the limit.
"""

from __future__ import annotations

ELLIPSIS = "…"


def ellipsize(text: str, limit: int) -> str:
    """`text` if it fits in `limit` characters, else its start and "…", `limit` characters in all."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS
