"""Builders for the records dispatch tests need (accounts' destinations, notifications) and a clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.chain.blocks import Attribute, Event
from core.dispatch.render import summarize
from core.dispatch.signing import new_webhook_secret
from core.ids import notification_id
from core.models import (
    Chain,
    Denom,
    DiscordDestination,
    Notification,
    OutboxEntry,
    TelegramDestination,
    WebhookDestination,
)

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)

COSMOS = Chain(
    id="cosmoshub-4",
    name="Cosmos Hub",
    bech32_prefix="cosmos",
    explorer_tx_url="https://explorer.example/cosmos/tx/{hash}",
    denoms=(Denom(base="uatom", display="ATOM", exponent=6),),
)
ALICE = "cosmos1qypqxpq9qcrsszg2pvxq6rs0zqg3yyc5lzv7xu"
BOB = "cosmos1xv9tklw7d82sezh9haa573wufgy59vmwe6xxe5"


class FakeClock:
    """An injectable clock: tests move time instead of sleeping."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def transfer_events(amount: str = "1500000uatom", recipient: str = BOB, sender: str = ALICE) -> tuple[Event, ...]:
    return (
        Event(type="message", attributes=(Attribute("action", "/cosmos.bank.v1beta1.MsgSend"),)),
        Event(
            type="transfer",
            attributes=(Attribute("recipient", recipient), Attribute("sender", sender), Attribute("amount", amount)),
        ),
    )


def make_notification(
    owner_id: str,
    destination_ids: tuple[str, ...],
    *,
    height: int = 100,
    index: int = 0,
    subscription_id: str = "sub_1",
    events: tuple[Event, ...] | None = None,
    created_at: datetime = T0,
) -> Notification:
    events = events if events is not None else transfer_events()
    return Notification(
        id=notification_id(COSMOS.id, height, f"tx:{index}", subscription_id),
        owner_id=owner_id,
        subscription_id=subscription_id,
        subscription_name="Incoming ATOM",
        chain_id=COSMOS.id,
        height=height,
        time=created_at - timedelta(seconds=6),
        tx_hash=f"{height:08X}{index:056X}",
        tx_index=index,
        tx_code=0,
        events=events,
        destination_ids=destination_ids,
        summary=summarize(events, COSMOS, tx_code=0),  # as the watcher stores it
        created_at=created_at,
    )


def webhook_destination(dest_id: str, owner_id: str, url: str, *, secret: str | None = None) -> WebhookDestination:
    return WebhookDestination(
        id=dest_id, owner_id=owner_id, name=f"hook {dest_id}", url=url, secret=secret or new_webhook_secret(),
        created_at=T0,
    )  # fmt: skip


def telegram_destination(dest_id: str, owner_id: str, chat_id: int) -> TelegramDestination:
    return TelegramDestination(id=dest_id, owner_id=owner_id, name=f"chat {chat_id}", chat_id=chat_id, created_at=T0)


def discord_destination(dest_id: str, owner_id: str, **target: int | str) -> DiscordDestination:
    return DiscordDestination(id=dest_id, owner_id=owner_id, name=f"discord {dest_id}", created_at=T0, **target)  # type: ignore[arg-type]


def entry_for(notification: Notification, destination_id: str, due_at: datetime = T0) -> OutboxEntry:
    return OutboxEntry(
        notification_id=notification.id, destination_id=destination_id, owner_id=notification.owner_id, due_at=due_at
    )
