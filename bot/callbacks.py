"""Button payloads for both bots: compact, and signed so a forged or replayed press is refused.

Telegram gives a button at most 64 bytes of `callback_data` (Discord a `custom_id` of 100) and
hands it back verbatim, so a client can send any string. Each payload is `verb|arg|arg|sig`,
where `sig` is an HMAC of the chat id and the rest under a key derived from the bot's token (each
bot its own): a button made for one chat does not work in another, and nothing a client invents
passes. (Ownership is checked again by the services: a valid button cannot reach another
account's subscription either.)
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import msgspec

MAX_CALLBACK_BYTES = 64
_SIG_BYTES = 6  # 8 base64 characters: forging one takes ~2^48 tries against a rate-limited bot
_SEP = "|"


class Callback(msgspec.Struct, frozen=True):
    verb: str
    args: tuple[str, ...]


class CallbackSigner:
    def __init__(self, token: str) -> None:
        self._key = hmac.new(token.encode(), b"mempools/telegram/callback/v1", hashlib.sha256).digest()

    def _sig(self, chat_id: int, body: str) -> str:
        mac = hmac.new(self._key, f"{chat_id}{_SEP}{body}".encode(), hashlib.sha256).digest()[:_SIG_BYTES]
        return base64.urlsafe_b64encode(mac).decode()

    def encode(self, chat_id: int, verb: str, *args: str) -> str:
        body = _SEP.join((verb, *args))
        data = f"{body}{_SEP}{self._sig(chat_id, body)}"
        if len(data.encode()) > MAX_CALLBACK_BYTES or any(_SEP in a for a in (verb, *args)):
            raise ValueError(f"callback data too long or malformed: {data!r}")
        return data

    def decode(self, chat_id: int, data: str | None) -> Callback | None:
        """The payload if it was made by us for this chat; None otherwise."""
        if not data or len(data) > MAX_CALLBACK_BYTES:
            return None
        body, sep, sig = data.rpartition(_SEP)
        if not sep or not hmac.compare_digest(sig.encode(), self._sig(chat_id, body).encode()):
            return None
        verb, *args = body.split(_SEP)
        return Callback(verb=verb, args=tuple(args))
