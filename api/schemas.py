"""Request and response bodies of the REST API (msgspec Structs; the OpenAPI document is made from them).

Request Structs forbid unknown fields, so a typo (`"destinaton_ids"`) is a 400 naming the field
instead of a silently ignored setting. Response Structs are views of the domain records that
leave out what a client must not see again (password hashes, key hashes, webhook secrets).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from core.models import ApiKey, Destination, IdentityKind, Subscription, WebhookDestination
from core.query.filters import TransferFilter

Name = Annotated[str, Meta(min_length=1, max_length=100)]
Id = Annotated[str, Meta(min_length=1, max_length=64)]
QueryText = Annotated[str, Meta(min_length=1, max_length=4096)]
Email = Annotated[str, Meta(min_length=3, max_length=254)]
Password = Annotated[str, Meta(min_length=1, max_length=1024)]
ParamValue = Annotated[str, Meta(max_length=1024)]


class _Request(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base of every request body."""


def request_bodies() -> list[type[_Request]]:
    """Every request body type (the OpenAPI document marks them closed)."""
    found: list[type[_Request]] = []
    pending = list(_Request.__subclasses__())
    while pending:
        body = pending.pop()
        found.append(body)
        pending.extend(body.__subclasses__())
    return found


# -- accounts and auth ------------------------------------------------------------------------------
class AccountCreate(_Request):
    email: Email
    password: Password
    display_name: Annotated[str, Meta(max_length=100)] | None = None


class LoginRequest(_Request):
    email: Email
    password: Password


class IdentityOut(msgspec.Struct, kw_only=True):
    kind: IdentityKind
    external_id: str
    username: str | None
    created_at: datetime


class AccountOut(msgspec.Struct, kw_only=True):
    id: str
    email: str | None
    display_name: str | None
    created_at: datetime
    identities: list[IdentityOut]


class SessionOut(msgspec.Struct, kw_only=True):
    account_id: str
    expires_at: datetime


class ApiKeyCreate(_Request):
    name: Name
    expires_at: datetime | None = None


class ApiKeyOut(msgspec.Struct, kw_only=True):
    id: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    key: str | None = None  # the plaintext key, only in the answer to its creation

    @classmethod
    def of(cls, key: ApiKey, plaintext: str | None = None) -> ApiKeyOut:
        return cls(
            id=key.id,
            name=key.name,
            prefix=key.prefix,
            created_at=key.created_at,
            expires_at=key.expires_at,
            revoked_at=key.revoked_at,
            last_used_at=key.last_used_at,
            key=plaintext,
        )


class LinkCodeOut(msgspec.Struct, kw_only=True):
    code: str
    expires_at: datetime
    instructions: str


# -- destinations -----------------------------------------------------------------------------------
class DestinationCreate(_Request):
    kind: Literal["webhook"]
    url: Annotated[str, Meta(min_length=1, max_length=2048)]
    name: Name | None = None


class DestinationPatch(_Request):
    name: Name | None = None
    enabled: bool | None = None
    url: Annotated[str, Meta(min_length=1, max_length=2048)] | None = None
    rotate_secret: bool = False


class DestinationOut(msgspec.Struct, kw_only=True):
    """Any destination. `secret` is present only right after creation or rotation."""

    id: str
    kind: Literal["webhook", "telegram", "discord"]
    name: str
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    created_at: datetime
    url: str | None = None
    previous_secret_expires_at: datetime | None = None
    chat_id: int | None = None
    chat_title: str | None = None
    channel_id: int | None = None
    user_id: int | None = None
    guild_id: int | None = None
    secret: str | None = None

    @classmethod
    def of(cls, d: Destination, *, with_secret: bool = False) -> DestinationOut:
        out = cls(
            id=d.id,
            kind=d.kind,  # type: ignore[arg-type]  # the struct tag, one of the Literal's values
            name=d.name,
            enabled=d.enabled,
            disabled_reason=d.disabled_reason,
            failing_since=d.failing_since,
            created_at=d.created_at,
        )
        if isinstance(d, WebhookDestination):
            out.url = d.url
            out.previous_secret_expires_at = d.previous_secret_expires_at
            if with_secret:
                out.secret = d.secret
        for field in ("chat_id", "chat_title", "channel_id", "user_id", "guild_id"):
            if hasattr(d, field):
                setattr(out, field, getattr(d, field))
        return out


# -- subscriptions ----------------------------------------------------------------------------------
class SubscriptionCreate(_Request):
    """Either `queries` (CometBFT query language) or a `preset` with its `params`."""

    chain_id: Id
    name: Name
    queries: Annotated[list[QueryText], Meta(min_length=1, max_length=20)] | None = None
    preset: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    params: dict[Annotated[str, Meta(max_length=64)], ParamValue] | None = None
    destination_ids: Annotated[list[Id], Meta(max_length=20)] = []
    enabled: bool = True


class SubscriptionPatch(_Request):
    name: Name | None = None
    queries: Annotated[list[QueryText], Meta(min_length=1, max_length=20)] | None = None
    destination_ids: Annotated[list[Id], Meta(max_length=20)] | None = None
    enabled: bool | None = None


class SubscriptionOut(msgspec.Struct, kw_only=True):
    id: str
    chain_id: str
    name: str
    queries: list[str]
    destination_ids: list[str]
    enabled: bool
    preset: str | None
    params: dict[str, str] | None
    post_filter: TransferFilter | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, s: Subscription) -> SubscriptionOut:
        return cls(
            id=s.id,
            chain_id=s.chain_id,
            name=s.name,
            queries=s.queries,
            destination_ids=s.destination_ids,
            enabled=s.enabled,
            preset=s.preset,
            params=s.params,
            post_filter=s.post_filter,
            created_at=s.created_at,
            updated_at=s.updated_at,
        )


# -- query tools ------------------------------------------------------------------------------------
class QueryCheck(_Request):
    query: QueryText


class QueryCheckOut(msgspec.Struct, kw_only=True):
    valid: bool
    normalized: str


class QueryTest(_Request):
    chain_id: Id
    query: QueryText
    height: Annotated[int, Meta(ge=1, le=2**62)]


# -- history ----------------------------------------------------------------------------------------
class RedeliverOut(msgspec.Struct, kw_only=True):
    notification_id: str
    queued_destination_ids: list[str]
