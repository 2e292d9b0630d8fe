"""Standard Webhooks signing and `whsec_` secrets.

The signature is `v1,` + base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}")), where the key is
the base64-decoded part of the `whsec_` secret. During a rotation the previous secret keeps
signing too, until `previous_secret_expires_at` (24 h by default), so a receiver can switch
secrets without losing deliveries: the header then holds two space-separated signatures.

Rotating again inside that window does not cut the original secret short: every replaced
secret keeps signing until the end of its own window (at most `MAX_RETIRED_SECRETS` of them, the
oldest dropped first), so a receiver that has not switched yet never sees a delivery it cannot
verify because its owner rotated twice in a day.
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
from core.models import RetiredSecret, WebhookDestination

SECRET_PREFIX = "whsec_"
ROTATION_GRACE = timedelta(hours=24)
#: Replaced secrets that may still sign at once: one signature each in every delivery's header.
MAX_RETIRED_SECRETS = 5


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


def retired_secrets(destination: WebhookDestination) -> list[RetiredSecret]:
    """Every replaced secret on record, newest first (whether or not its window is over)."""
    newest = (
        [RetiredSecret(secret=destination.previous_secret, expires_at=destination.previous_secret_expires_at)]
        if destination.previous_secret and destination.previous_secret_expires_at is not None
        else []
    )
    return newest + list(destination.older_secrets)


def signature_header(destination: WebhookDestination, msg_id: str, timestamp: int, body: bytes, now: datetime) -> str:
    """The `webhook-signature` value: current secret, plus every replaced one still in its window."""
    signed_prefix = f"{msg_id}.{timestamp}.".encode()
    signatures = [_signature(destination.secret, signed_prefix, body)]
    for retired in retired_secrets(destination):
        if now < retired.expires_at:
            signatures.append(_signature(retired.secret, signed_prefix, body))
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
    """A copy of `destination` with a new secret; the old one keeps signing for `grace`, and the
    ones it replaced earlier keep signing until their own windows end."""
    still_valid = [r for r in retired_secrets(destination) if now < r.expires_at]
    return msgspec.structs.replace(
        destination,
        secret=new_secret or new_webhook_secret(),
        previous_secret=destination.secret,
        previous_secret_expires_at=now + grace,
        older_secrets=still_valid[: MAX_RETIRED_SECRETS - 1],
    )
