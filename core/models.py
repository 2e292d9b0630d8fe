"""The domain model, as msgspec Structs.

The same Structs are stored (msgpack-encoded) and, where it makes sense, returned by the API,
so the OpenAPI document and the storage format cannot drift apart. Times are timezone-aware
UTC datetimes. Ids are prefixed strings (`acc_`, `sub_`, `dst_`, `ntf_`, ...) so that an id
pasted into the wrong place is recognisable at a glance.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from core.chain.blocks import Event, TxMessage
from core.monitor.models import Alert, Watch
from core.query.filters import TransferFilter

IdentityKind = Literal["email", "telegram", "discord"]


class Account(msgspec.Struct, kw_only=True):
    """A person. Identities (email, Telegram, Discord) point at it."""

    id: str
    created_at: datetime
    email: str | None = None
    password_hash: str | None = None
    display_name: str | None = None


class Identity(msgspec.Struct, kw_only=True):
    """One way to recognise an account: (kind, external id) is unique across all accounts."""

    kind: IdentityKind
    external_id: str
    account_id: str
    created_at: datetime
    username: str | None = None


class ApiKey(msgspec.Struct, kw_only=True):
    """A key for programs. Only a hash is stored; `prefix` lets the owner tell keys apart."""

    id: str
    account_id: str
    name: str
    prefix: str
    key_hash: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


class Denom(msgspec.Struct, kw_only=True, frozen=True):
    base: str
    display: str
    exponent: int


class Chain(msgspec.Struct, kw_only=True, frozen=True):
    """A chain as the rest of the system sees it (its connection details stay in the config)."""

    id: str
    name: str
    bech32_prefix: str
    explorer_tx_url: str | None = None
    explorer_proposal_url: str | None = None
    denoms: tuple[Denom, ...] = ()

    def tx_url(self, tx_hash: str) -> str | None:
        return self.explorer_tx_url.replace("{hash}", tx_hash) if self.explorer_tx_url else None

    def proposal_url(self, proposal_id: int) -> str | None:
        return self.explorer_proposal_url.replace("{id}", str(proposal_id)) if self.explorer_proposal_url else None

    def denom(self, base: str) -> Denom | None:
        return next((d for d in self.denoms if d.base == base), None)


class ChainCursor(msgspec.Struct, kw_only=True):
    """The last height of a chain that was fully processed (its batch committed).

    `tip` is the chain's latest height as the watcher knew it when it committed: in a cluster the
    nodes that do not watch the chain show its progress from this replicated record.
    """

    chain_id: str
    height: int
    updated_at: datetime
    tip: int = 0


class Gap(msgspec.Struct, kw_only=True):
    """A height no endpoint could serve: recorded, never skipped silently."""

    chain_id: str
    height: int
    reason: str
    recorded_at: datetime


class Subscription(msgspec.Struct, kw_only=True):
    """One account's interest in one chain: any of `queries` matching a scope fires it."""

    id: str
    owner_id: str
    chain_id: str
    name: str
    queries: list[str]
    destination_ids: list[str]
    enabled: bool = True
    # [Mute 1 h] under a notification: matches before this time make no notification. A pause
    # that ends by itself, so nobody has to remember to resume (None: not muted).
    muted_until: datetime | None = None
    preset: str | None = None
    params: dict[str, str] | None = None
    # A preset's check on the matched scope that queries cannot express (parties of one transfer
    # event, a minimum amount of a denom); None for plain queries.
    post_filter: TransferFilter | None = None
    # Delivered without a sound (Telegram `disable_notification`, Discord SUPPRESS_NOTIFICATIONS):
    # for subscriptions worth reading but not worth waking anyone for.
    silent: bool = False
    # A validator, voter or governance watch (core/monitor): state kept across blocks, alerts on
    # its changes. Such a subscription has no queries; None for query subscriptions.
    monitor: Watch | None = None
    created_at: datetime
    updated_at: datetime


class _DestinationBase(msgspec.Struct, kw_only=True, tag_field="kind"):
    id: str
    owner_id: str
    name: str
    enabled: bool = True
    disabled_reason: str | None = None
    failing_since: datetime | None = None
    created_at: datetime

    @property
    def kind(self) -> str:
        """The tag: "webhook", "telegram" or "discord"."""
        return str(self.__struct_config__.tag)


class RetiredSecret(msgspec.Struct, kw_only=True, frozen=True):
    """A webhook secret replaced by a rotation that keeps signing until `expires_at`."""

    secret: str
    expires_at: datetime


class WebhookDestination(_DestinationBase, tag="webhook"):
    """A URL that receives Standard Webhooks signed POSTs.

    `previous_secret` is the secret the last rotation replaced; `older_secrets` holds the ones
    replaced before it that are still inside their own grace window (newest first), so rotating
    twice in a day does not cut off a receiver that still has the original secret.
    """

    url: str
    secret: str
    previous_secret: str | None = None
    previous_secret_expires_at: datetime | None = None
    older_secrets: list[RetiredSecret] = []


class QuietHours(msgspec.Struct, kw_only=True, frozen=True):
    """A chat's nightly window, "HH:MM" wall-clock times in an IANA timezone (checked by
    core/dispatch/quiet_hours.py): inside it messages still arrive, but silently."""

    start: str
    end: str
    timezone: str


class TelegramDestination(_DestinationBase, tag="telegram"):
    """A Telegram chat (private chat, group or channel) the bot posts to.

    `message_thread_id`: a forum topic of that group (None: the chat itself, or a forum's General
    topic). Records stored before topics existed decode with None, so they keep working.
    """

    chat_id: int
    chat_title: str | None = None
    message_thread_id: int | None = None
    quiet_hours: QuietHours | None = None


class DiscordDestination(_DestinationBase, tag="discord"):
    """A Discord channel, a DM with a user, or a plain Discord webhook URL."""

    channel_id: int | None = None
    user_id: int | None = None
    guild_id: int | None = None
    webhook_url: str | None = None
    quiet_hours: QuietHours | None = None


Destination = WebhookDestination | TelegramDestination | DiscordDestination


class Notification(msgspec.Struct, kw_only=True, gc=False):
    """A subscription matched a scope of a block. Its id is derived, so re-processing is idempotent.

    This record, the delivery records below and the block records it holds have no references
    back, so no cycles: they are kept out of the garbage collector (`gc=False`), because thousands
    of them may wait in the outbox's memory at once.
    """

    id: str
    owner_id: str
    subscription_id: str
    subscription_name: str
    chain_id: str
    height: int
    time: datetime
    tx_hash: str | None
    tx_index: int | None
    tx_code: int | None
    # Why a failed tx failed (the result's `codespace` and `log`); defaults keep older records readable.
    tx_codespace: str | None = None
    tx_log: str | None = None
    tx_messages: tuple[TxMessage, ...] = ()  # what a failed tx attempted (its body), else ()
    events: tuple[Event, ...]
    destination_ids: tuple[str, ...]
    summary: str = ""
    focus: str | None = None  # the address the subscription watches, if any (wording: "sent by ...")
    labels: dict[str, str] = {}  # address -> the owner's label for it (address book), snapshotted at match time
    created_at: datetime
    silent: bool = False  # the subscription's `silent`, copied at match time: deliver without a sound
    # What a watch noticed (core/monitor): set for alerts, which have no events of their own.
    alert: Alert | None = None


class AddressLabel(msgspec.Struct, kw_only=True):
    """One entry of an account's address book: the name its owner gives an address ("Treasury").

    Keyed by (owner_id, address), so an address has one label per account; notifications copy the
    labels of their addresses when they are made, so a later rename does not rewrite history.
    """

    owner_id: str
    address: str
    label: str
    created_at: datetime
    updated_at: datetime


DeliveryOutcome = Literal["delivered", "failed", "dead_letter", "skipped"]


class DeliveryAttempt(msgspec.Struct, kw_only=True, gc=False):
    notification_id: str
    destination_id: str
    attempt: int
    at: datetime
    outcome: DeliveryOutcome
    http_status: int | None = None
    error: str | None = None
    latency_ms: float | None = None


class OutboxEntry(msgspec.Struct, kw_only=True, gc=False):
    """One notification still to be delivered to one destination."""

    notification_id: str
    destination_id: str
    owner_id: str
    due_at: datetime
    attempts: int = 0  # made within this entry's retry schedule
    first_failure_at: datetime | None = None
    last_error: str | None = None
    # Attempts logged for this notification and destination before this entry's schedule began:
    # a redelivery continues the attempt log instead of numbering from 1 again.
    attempts_before: int = 0
    # Other notifications of the same block this entry delivers in the same ONE chat message
    # (the processor groups them, see core.watch.grouping): they have no entry of their own for
    # this destination, and each gets its attempt record when this entry's attempt is recorded.
    bundle: tuple[str, ...] = ()


class DeadLetter(msgspec.Struct, kw_only=True, gc=False):
    """An outbox entry whose retry schedule ran out; its owner may list and redeliver it."""

    notification_id: str
    destination_id: str
    owner_id: str
    attempts: int
    last_error: str | None
    dead_at: datetime
