"""Input that can never name a stored record.

Store keys are NUL-separated parts (core/store/keys.py), so a NUL in an id, email or code would
be a programming error deep in the store. Services look such input up as "not found" instead:
the same answer as any other id that does not exist.
"""

from __future__ import annotations


def is_key(text: str | None) -> bool:
    """True if `text` can be a key part: non-empty, no NUL, and of a sane length."""
    return text is not None and 0 < len(text) <= 512 and "\x00" not in text
