"""Cutting text to a limit, the one way every front door and channel does it.

Discord, Telegram and the attempt log all have hard length limits; text over one is cut and ends
with "…" so a reader sees that something is missing, and the result is never over the limit.
`counted=True` also says how long the whole was ("… (5000 characters)"): a reader of a cut
attribute value then knows how much they are not seeing, instead of the rest arriving as more
messages (#15.2).
"""

from __future__ import annotations

ELLIPSIS = "…"


def ellipsize(text: str, limit: int, *, counted: bool = False) -> str:
    """`text` if it fits in `limit` characters, else its start and "…" (and, `counted`, the
    whole text's length), `limit` characters in all."""
    if len(text) <= limit:
        return text
    tail = f"{ELLIPSIS} ({len(text)} characters)" if counted else ELLIPSIS
    if len(tail) >= limit:
        tail = ELLIPSIS
    return text[: limit - len(tail)] + tail
