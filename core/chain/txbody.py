"""What a transaction attempted, read from its body: needed only when the tx failed.

A failed tx's own events are reverted (CometBFT 0.38 keeps only the fee payment and `tx`
events), so its body is the only record of what was attempted ("a send of 9,000 ATOM to ...").
The body is protobuf (`cosmos.tx.v1beta1.TxRaw` -> `TxBody.messages`, each a `google.protobuf.Any`).
Only that fixed path and `MsgSend`'s three fields are read, so a thirty-line wire-format reader
does it; the `protobuf` runtime plus the SDK's generated classes would be a large dependency for
four field numbers. Anything unreadable gives no messages, and the notification says
"Transaction failed" instead: this never raises.
"""

from __future__ import annotations

import binascii
from collections.abc import Iterator

from core.chain.blocks import TxMessage

MSG_SEND = "/cosmos.bank.v1beta1.MsgSend"


class _Malformed(Exception):
    pass


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise _Malformed
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, bytes | int]]:
    """(field number, value) of one message: bytes for length-delimited fields, int for varints."""
    pos = 0
    while pos < len(data):
        tag, pos = _varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            yield number, value
        elif wire == 2:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise _Malformed
            yield number, data[pos : pos + size]
            pos += size
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            raise _Malformed


def _bytes_fields(data: bytes, number: int) -> list[bytes]:
    return [v for n, v in _fields(data) if n == number and isinstance(v, bytes)]


def _text(data: bytes, number: int) -> str | None:
    values = _bytes_fields(data, number)
    return values[0].decode("utf-8", "replace") if values else None


def _message(any_bytes: bytes) -> TxMessage | None:
    type_url = _text(any_bytes, 1)
    if not type_url:
        return None
    if type_url != MSG_SEND:
        return TxMessage(type_url=type_url)
    value = (_bytes_fields(any_bytes, 2) or [b""])[0]
    coins = [f"{_text(c, 2) or '0'}{_text(c, 1) or ''}" for c in _bytes_fields(value, 3)]
    return TxMessage(type_url=type_url, recipient=_text(value, 2), amount=",".join(coins) or None)


def tx_messages(tx_b64: str) -> tuple[TxMessage, ...]:
    """The messages of a raw tx (base64, as `/block` gives it); () when it cannot be read."""
    try:
        raw = binascii.a2b_base64(tx_b64)
        body = _bytes_fields(raw, 1)
        if not body:
            return ()
        found = (_message(m) for m in _bytes_fields(body[0], 1))
        return tuple(m for m in found if m is not None)
    except (_Malformed, binascii.Error, ValueError):
        return ()
