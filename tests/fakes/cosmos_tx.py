"""Raw Cosmos txs for tests: a protobuf `TxRaw` holding a `MsgSend`, encoded by hand.

The wire format is small enough to write (varint tags, length-delimited fields); encoding here,
independently of core/chain/txbody.py's reader, checks that reader against the protobuf layout.
"""

from __future__ import annotations

import base64


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field(number: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def any_message(type_url: str, value: bytes) -> bytes:
    return field(1, type_url) + field(2, value)


def msg_send(sender: str, recipient: str, *coins: tuple[str, str]) -> bytes:
    """`/cosmos.bank.v1beta1.MsgSend` as an Any; coins are (amount, denom)."""
    value = field(1, sender) + field(2, recipient) + b"".join(field(3, field(1, d) + field(2, a)) for a, d in coins)
    return any_message("/cosmos.bank.v1beta1.MsgSend", value)


def tx_b64(*messages: bytes, memo: str = "") -> str:
    """A TxRaw (body, auth info, one signature) as `/block` lists it: base64."""
    body = b"".join(field(1, m) for m in messages) + (field(2, memo) if memo else b"")
    auth_info = field(2, field(1, field(1, "uatom") + field(2, "1900")))  # fee: 1900uatom
    return base64.b64encode(field(1, body) + field(2, auth_info) + field(3, b"\x01" * 64)).decode()
