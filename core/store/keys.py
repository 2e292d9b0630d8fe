"""Key encoding: tuples of parts joined by NUL, so prefix scans never cut a part in two.

Strings are UTF-8 and may not contain NUL; integers are 8-byte big-endian unsigned, so they
sort numerically (used for heights and millisecond timestamps). The full key layout is
documented in docs/STORAGE.md.
"""

from __future__ import annotations

SEP = b"\x00"

KeyPart = str | bytes | int


def encode_part(part: KeyPart) -> bytes:
    # Exact types, not isinstance: a bool (an int subclass) or a str enum is not a key part.
    if type(part) is str:
        if "\x00" in part:
            raise ValueError("key parts may not contain NUL")
        return part.encode()
    if type(part) is int:
        if not 0 <= part < 1 << 64:
            raise ValueError(f"integer key part out of range: {part!r}")
        return part.to_bytes(8, "big")
    if type(part) is bytes:
        return part
    raise TypeError(f"not a key part: {part!r}")


def key(*parts: KeyPart) -> bytes:
    """The key made of `parts`."""
    if len(parts) == 1:  # the common case (a record id), without building a list
        return encode_part(parts[0])
    encoded = []
    for part in parts:  # `encode_part` inlined for strings: keys are built on every hot path
        if type(part) is str and "\x00" not in part:
            encoded.append(part.encode())
        else:
            encoded.append(encode_part(part))
    return SEP.join(encoded)


def prefix(*parts: KeyPart) -> bytes:
    """The prefix of every key that starts with all of `parts`."""
    return key(*parts) + SEP
