"""Request and response bodies of the REST API (msgspec Structs; the OpenAPI document is made from them).

Request Structs forbid unknown fields, so a typo (`"destinaton_ids"`) is a 400 naming the field
instead of a silently ignored setting. Response Structs are views of the domain records that
leave out what a client must not see again (password hashes, key hashes, webhook secrets).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from core.models import (
    AddressLabel,
    ApiKey,
    Destination,
    DiscordDestination,
    IdentityKind,
    QuietHours,
    Subscription,
    TelegramDestination,
    WebhookDestination,
)
from core.monitor.models import Watch
from core.query.filters import TransferFilter
from core.query.presets import ParamSpec, ParamType, PresetSpec

Name = Annotated[str, Meta(min_length=1, max_length=100)]
Id = Annotated[str, Meta(min_length=1, max_length=64)]
QueryText = Annotated[str, Meta(min_length=1, max_length=4096)]
Email = Annotated[str, Meta(min_length=3, max_length=254)]
Password = Annotated[str, Meta(min_length=1, max_length=1024)]
# A preset parameter as sent: numeric ones (`"min_amount": 1.5`) may be JSON numbers, not only strings.
ParamValue = Annotated[str, Meta(max_length=1024)] | int | float


def preset_params(params: dict[str, str | int | float] | None) -> dict[str, str] | None:
    """Preset parameters as the text presets read, converted here at the API boundary only.

    A JSON number arrives as an int or a float (msgspec does not keep the literal); a float's
    `repr` is the shortest text that reads back as the same float, and Decimal spells it out
    without an exponent, so `1.5` stays "1.5", `0.1` stays "0.1" (not 0.1000000000000000055…)
    and `1e-7` becomes "0.0000001".
    """
    if params is None:
        return None
    return {name: _param_text(value) for name, value in params.items()}


def _param_text(value: str | int | float) -> str:
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    return str(value)


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


ClockTime = Annotated[str, Meta(min_length=1, max_length=5, examples=["23:00"], description="HH:MM, 00:00 to 23:59")]


class QuietHoursIn(_Request):
    """A chat's nightly window: messages inside it arrive without a sound (nothing is held back).
    It may wrap past midnight; `start` equal to `end` turns quiet hours off."""

    start: ClockTime
    end: ClockTime
    timezone: Annotated[str, Meta(min_length=1, max_length=64, examples=["Europe/Berlin"])]


class DestinationPatch(_Request):
    name: Name | None = None
    enabled: bool | None = None
    url: Annotated[str, Meta(min_length=1, max_length=2048)] | None = None
    rotate_secret: bool = False
    # Telegram and Discord destinations only; null turns quiet hours off, omitted leaves them.
    quiet_hours: QuietHoursIn | UnsetType | None = UNSET


class _DestinationOutBase(msgspec.Struct, kw_only=True, tag_field="kind"):
    id: str
    name: str
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    created_at: datetime


class WebhookDestinationOut(_DestinationOutBase, tag="webhook"):
    """A webhook. `secret` is a string only right after creation or rotation, else null."""

    url: str
    previous_secret_expires_at: datetime | None
    secret: str | None = None


class TelegramDestinationOut(_DestinationOutBase, tag="telegram"):
    chat_id: int
    chat_title: str | None
    message_thread_id: int | None
    quiet_hours: QuietHours | None = None


class DiscordDestinationOut(_DestinationOutBase, tag="discord"):
    channel_id: int | None
    user_id: int | None
    guild_id: int | None
    quiet_hours: QuietHours | None = None


# One Struct per kind, told apart by `kind`: a webhook carries no chat fields, a chat no URL.
DestinationOut = WebhookDestinationOut | TelegramDestinationOut | DiscordDestinationOut


def destination_out(d: Destination, *, with_secret: bool = False) -> DestinationOut:
    """The client's view of a destination (never a secret unless `with_secret`, never a Discord webhook URL)."""
    common: dict[str, Any] = {
        "id": d.id,
        "name": d.name,
        "enabled": d.enabled,
        "disabled_reason": d.disabled_reason,
        "failing_since": d.failing_since,
        "created_at": d.created_at,
    }
    if isinstance(d, WebhookDestination):
        return WebhookDestinationOut(
            **common,
            url=d.url,
            previous_secret_expires_at=d.previous_secret_expires_at,
            secret=d.secret if with_secret else None,
        )
    if isinstance(d, TelegramDestination):
        return TelegramDestinationOut(
            **common,
            chat_id=d.chat_id,
            chat_title=d.chat_title,
            message_thread_id=d.message_thread_id,
            quiet_hours=d.quiet_hours,
        )
    assert isinstance(d, DiscordDestination)
    return DiscordDestinationOut(
        **common, channel_id=d.channel_id, user_id=d.user_id, guild_id=d.guild_id, quiet_hours=d.quiet_hours
    )


# -- subscriptions ----------------------------------------------------------------------------------
class SubscriptionCreate(_Request):
    """Either `queries` (CometBFT query language) or a `preset` with its `params`."""

    chain_id: Id
    name: Name
    queries: Annotated[list[QueryText], Meta(min_length=1, max_length=20)] | None = None
    preset: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    params: dict[Annotated[str, Meta(max_length=64)], ParamValue] | None = None
    # Omitted: all of the account's enabled destinations (listed in the response); never empty.
    destination_ids: (
        Annotated[
            list[Id],
            Meta(
                max_length=20,
                description="Where matches go. Omit to use all of the account's enabled destinations "
                "(the response lists them); refused if the account has none.",
            ),
        ]
        | None
    ) = None
    enabled: bool = True
    # Delivered without a sound (Telegram disable_notification, Discord SUPPRESS_NOTIFICATIONS).
    silent: bool = False


class SubscriptionPatch(_Request):
    name: Name | None = None
    queries: Annotated[list[QueryText], Meta(min_length=1, max_length=20)] | None = None
    destination_ids: Annotated[list[Id], Meta(max_length=20)] | None = None
    enabled: bool | None = None
    silent: bool | None = None


class SubscriptionOut(msgspec.Struct, kw_only=True):
    id: str
    chain_id: str
    name: str
    queries: list[str]
    destination_ids: list[str]
    enabled: bool
    silent: bool
    preset: str | None
    params: dict[str, str] | None
    post_filter: TransferFilter | None
    #: What a validator, voter or governance watch watches, with its settings (null for queries).
    monitor: Watch | None
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
            silent=s.silent,
            preset=s.preset,
            params=s.params,
            post_filter=s.post_filter,
            monitor=s.monitor,
            created_at=s.created_at,
            updated_at=s.updated_at,
        )


# -- presets ----------------------------------------------------------------------------------------
class PresetParamOut(msgspec.Struct, kw_only=True):
    """One parameter of a preset: what a form field for it needs."""

    name: str
    type: ParamType
    required: bool
    default: str | None
    description: str
    # The allowed values of a `choice` parameter; null for every other type.
    choices: list[str] | None

    @classmethod
    def of(cls, p: ParamSpec) -> PresetParamOut:
        return cls(
            name=p.name,
            type=p.type,
            required=p.required,
            default=p.default,
            description=p.help,
            choices=list(p.choices) if p.choices is not None else None,
        )


class PresetOut(msgspec.Struct, kw_only=True):
    name: str
    title: str
    description: str
    params: list[PresetParamOut]

    @classmethod
    def of(cls, p: PresetSpec) -> PresetOut:
        return cls(
            name=p.name, title=p.title, description=p.description, params=[PresetParamOut.of(x) for x in p.params]
        )


class PresetPreviewRequest(_Request):
    """The `params` a subscription would be created with, and optionally its chain."""

    params: dict[Annotated[str, Meta(max_length=64)], ParamValue] = msgspec.field(default_factory=dict)
    # Omitted: built without a chain (addresses checked for their checksum only, no display denoms).
    chain_id: Id | None = None


class PresetPreviewOut(msgspec.Struct, kw_only=True):
    """Exactly the `queries` and `post_filter` `POST /v1/subscriptions` would store."""

    preset: str
    chain_id: str | None
    queries: list[str]
    post_filter: TransferFilter | None


# -- query tools ------------------------------------------------------------------------------------
class QueryCheck(_Request):
    query: QueryText


class QueryCheckOut(msgspec.Struct, kw_only=True):
    valid: bool
    normalized: str


TestHeight = Annotated[int, Meta(ge=1, le=2**62)]


class QueryTest(_Request):
    """`query` or `preset` (+ `params`), on one `height`, `latest: true`, or `height_from`..`height_to`.

    The first form, `{"chain_id", "query", "height"}`, answers a `QueryTestResult` as it always
    did; every other form a `QueryTestRun` (one result per height)."""

    chain_id: Id
    query: QueryText | None = None
    preset: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    params: dict[Annotated[str, Meta(max_length=64)], ParamValue] | None = None
    height: TestHeight | None = None
    latest: bool = False
    height_from: TestHeight | None = None
    height_to: TestHeight | None = None

    def is_classic(self) -> bool:
        """The original form: a query on one height."""
        plain = self.preset is None and self.params is None and not self.latest
        return plain and self.query is not None and self.height is not None and self.height_from is None


# -- history ----------------------------------------------------------------------------------------
class RedeliverOut(msgspec.Struct, kw_only=True):
    notification_id: str
    queued_destination_ids: list[str]


class RecoverRequest(_Request):
    """Queue again the destination's dead letters from `since` on."""

    # Text, checked by the route: a missing or unreadable time is a 422 naming `since`.
    since: (
        Annotated[
            str,
            Meta(
                max_length=64,
                description="Required. RFC 3339 time, e.g. 2026-01-31T12:00:00Z (UTC when no offset); "
                "not in the future. Dead letters that died at or after it are queued again.",
                extra_json_schema={"format": "date-time"},
            ),
        ]
        | None
    ) = None
    cursor: Annotated[str, Meta(max_length=512, description="`next_cursor` of the previous answer")] | None = None


class RecoverOut(msgspec.Struct, kw_only=True):
    """`queued` dead letters went back to the outbox; `more`: the window may hold more (call again)."""

    queued: int
    more: bool
    next_cursor: str | None


# -- address book -----------------------------------------------------------------------------------
class AddressLabelPut(_Request):
    label: Annotated[
        str,
        Meta(max_length=1000, description="1 to 64 printable characters, trimmed (longer text is refused)"),
    ]


class AddressLabelOut(msgspec.Struct, kw_only=True):
    address: str
    label: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, entry: AddressLabel) -> AddressLabelOut:
        return cls(address=entry.address, label=entry.label, created_at=entry.created_at, updated_at=entry.updated_at)
