"""Standard Webhooks signing and `whsec_` secrets.

The signature is `v1,` + base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}")), where the key is
the base64-decoded part of the `whsec_` secret. During a rotation the previous secret keeps
signing too, until `previous_secret_expires_at` (24 h by default), so a receiver can switch
secrets without losing deliveries: the header then holds two space-separated signatures.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

import msgspec

from core.errors import ValidationError
from core.models import WebhookDestination

SECRET_PREFIX = "whsec_"
ROTATION_GRACE = timedelta(hours=24)


def new_webhook_secret() -> str:
    """A fresh `whsec_` secret (24 random bytes, as the reference libraries generate)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_` secret; a malformed secret is a ValidationError."""
    try:
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError("webhook secret is not a valid whsec_ secret") from None


@functools.lru_cache(maxsize=4096)
def _keyed(secret: str) -> hmac.HMAC:
    """An HMAC-SHA256 already keyed with `secret`, to be copied for each message.

    Every delivery signs with its destination's secret, which changes only on rotation: decoding
    the secret and setting up the key once saves a quarter of the signing time.
    """
    return hmac.new(secret_key(secret), digestmod=hashlib.sha256)


def _signature(secret: str, signed_prefix: bytes, body: bytes) -> str:
    mac = _keyed(secret).copy()
    mac.update(signed_prefix)
    mac.update(body)
    return "v1," + base64.b64encode(mac.digest()).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64>` signature."""
    return _signature(secret, f"{msg_id}.{timestamp}.".encode(), body)


def signature_header(destination: WebhookDestination, msg_id: str, timestamp: int, body: bytes, now: datetime) -> str:
    """The `webhook-signature` value: current secret, plus the previous one while it is still valid."""
    signed_prefix = f"{msg_id}.{timestamp}.".encode()
    header = _signature(destination.secret, signed_prefix, body)
    if (
        destination.previous_secret
        and destination.previous_secret_expires_at is not None
        and now < destination.previous_secret_expires_at
    ):
        header += " " + _signature(destination.previous_secret, signed_prefix, body)
    return header


def webhook_headers(destination: WebhookDestination, msg_id: str, body: bytes, now: datetime) -> dict[str, str]:
    timestamp = int(now.timestamp())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(destination, msg_id, timestamp, body, now),
        "content-type": "application/json",
    }


def rotate_secret(
    destination: WebhookDestination, now: datetime, *, new_secret: str | None = None, grace: timedelta = ROTATION_GRACE
) -> WebhookDestination:
    """A copy of `destination` with a new secret; the old one keeps signing for `grace`."""
    return msgspec.structs.replace(
        destination,
        secret=new_secret or new_webhook_secret(),
        previous_secret=destination.secret,
        previous_secret_expires_at=now + grace,
    )
