"""Standard Webhooks signing and `whsec_` secrets.

The signature is `v1,` + base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}")), where the key is
the base64-decoded part of the `whsec_` secret. During a rotation the previous secret keeps
signing too, until `previous_secret_expires_at` (24 h by default), so a receiver can switch
secrets without losing deliveries: the header then holds two space-separated signatures.
"""

from __future__ import annotations

import base64
import binascii
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


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64>` signature."""
    to_sign = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), to_sign, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(destination: WebhookDestination, msg_id: str, timestamp: int, body: bytes, now: datetime) -> str:
    """The `webhook-signature` value: current secret, plus the previous one while it is still valid."""
    signatures = [sign(destination.secret, msg_id, timestamp, body)]
    if (
        destination.previous_secret
        and destination.previous_secret_expires_at is not None
        and now < destination.previous_secret_expires_at
    ):
        signatures.append(sign(destination.previous_secret, msg_id, timestamp, body))
    return " ".join(signatures)


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
