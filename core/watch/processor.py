"""One block in, its records staged into a write batch out (the watcher commits the batch).

For each scope of a decoded block, the matcher says which subscriptions fire; each firing
becomes a Notification whose id is derived from (chain, height, scope, subscription), plus one
outbox entry per destination, except that a chat several of the block's notifications go to
gets one entry carrying them all (one message, `core.watch.grouping`). Those, and the chain
cursor moved to this height, go into ONE batch, which the watcher commits (with the blocks before
and after it while catching up, `core.watch.watcher`): a crash before the commit loses nothing
(the block is processed again and yields the very same ids), a crash after it does nothing twice.
The processor never writes: staging is synchronous and reads only the store, so the caller
decides how many blocks go into one commit and the outbox entries' `on_commit` hooks run exactly
when the batch is committed.

Each notification also gets a copy of its owner's address-book labels for the addresses in its
events (`labels`, looked up through the `labels` callable, the address book's `labels_for`): the
summary says "Treasury" and every channel can, and a label renamed later does not rewrite what
was sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

import msgspec

from core.chain.blocks import DecodedBlock, Scope
from core.dispatch.alerts import alert_summary, is_quiet
from core.dispatch.outbox import Outbox
from core.dispatch.render import summarize
from core.ids import notification_id
from core.models import Chain, ChainCursor, Gap, Notification, Subscription
from core.monitor.models import Alert
from core.monitor.monitor import ChainMonitor
from core.store.base import WriteBatch
from core.store.repositories import Repositories
from core.support.timeutil import parse_rfc3339, utcnow
from core.watch.grouping import CHAT_KINDS, outbox_entries
from core.watch.matching import SubscriptionMatcher

#: (owner id, addresses) -> address -> the owner's label for it.
LabelLookup = Callable[[str, Iterable[str]], dict[str, str]]


def _no_labels(_owner_id: str, _addresses: Iterable[str]) -> dict[str, str]:
    return {}


class BlockOutcome(msgspec.Struct, frozen=True):
    height: int
    scopes: int
    matches: int
    notifications: int
    deliveries: int


class BlockProcessor:
    """Matches one chain's blocks and stages each one into a caller's batch (`stage`, `stage_gap`,
    `advance`); `process` is the one-block commit for callers that are not a watcher."""

    def __init__(
        self,
        chain: Chain,
        matcher: SubscriptionMatcher,
        repos: Repositories,
        outbox: Outbox,
        clock: Callable[[], datetime] = utcnow,
        labels: LabelLookup = _no_labels,
        monitor: ChainMonitor | None = None,
    ) -> None:
        self.chain = chain
        self.monitor = monitor
        self.labels = labels
        prefix = chain.bech32_prefix
        self._address_starts = (f"{prefix}1", f"{prefix}valoper1", f"{prefix}valcons1")
        self.matcher = matcher
        self.repos = repos
        self.outbox = outbox
        self.clock = clock

    async def process(self, block: DecodedBlock) -> BlockOutcome:
        """Stage `block` and the cursor at its height into one batch, commit it, wake the outbox."""
        batch = WriteBatch()
        outcome = self.stage(block, batch)
        self.advance(block.height, batch)
        await self.repos.store.commit(batch)
        if outcome.deliveries:
            self.outbox.notify()
        return outcome

    def stage(self, block: DecodedBlock, batch: WriteBatch) -> BlockOutcome:
        """Add `block`'s new notifications and outbox entries to `batch` (not the cursor: `advance`).

        A notification already stored (an earlier run of this block committed) is left out, so
        staging a block again after a crash adds only what is missing. Blocks staged into one
        batch must be distinct heights (their ids differ; each is checked against the store).
        """
        now = self.clock()
        block_time = parse_rfc3339(block.time) if block.time else now
        matches = 0
        made: list[Notification] = []
        for scope in block.scopes:
            for sub in self.matcher.match(self.chain.id, scope.events_map):
                matches += 1
                if sub.muted_until is not None and now < sub.muted_until:
                    continue  # muted from a notification's [Mute 1 h]: nothing made, nothing sent
                notification = self._notification(block, block_time, scope, sub, now)
                if not self.repos.notifications.add(notification, batch):
                    continue  # already stored by an earlier run of this block
                made.append(notification)
        if self.monitor is not None:
            for sub, alert in self.monitor.stage(block, block_time, batch):
                matches += 1
                if sub.muted_until is not None and now < sub.muted_until:
                    continue
                notification = self._alert_notification(block.height, block_time, sub, alert, now)
                if self.repos.notifications.add(notification, batch):
                    made.append(notification)
        deliveries = 0
        for notification, entries in outbox_entries(made, self._is_chat, now):
            deliveries += self.outbox.enqueue(entries, batch, notification=notification)
        return BlockOutcome(
            height=block.height,
            scopes=len(block.scopes),
            matches=matches,
            notifications=len(made),
            deliveries=deliveries,
        )

    def stage_stall(self, height: int, batch: WriteBatch) -> int:
        """Chain-stalled alerts due now (the watcher is at the tip and no block came): how many
        deliveries were staged."""
        if self.monitor is None:
            return 0
        now = self.clock()
        made = []
        for sub, alert in self.monitor.stalled(now, height, batch):
            if sub.muted_until is not None and now < sub.muted_until:
                continue
            notification = self._alert_notification(height, now, sub, alert, now)
            if self.repos.notifications.add(notification, batch):
                made.append(notification)
        deliveries = 0
        for notification, entries in outbox_entries(made, self._is_chat, now):
            deliveries += self.outbox.enqueue(entries, batch, notification=notification)
        return deliveries

    def stage_gap(self, height: int, reason: str, batch: WriteBatch) -> None:
        """A height no endpoint has: a visible gap record in `batch` (the cursor moves past it by
        `advance`)."""
        self.repos.gaps.put(Gap(chain_id=self.chain.id, height=height, reason=reason, recorded_at=self.clock()), batch)

    def advance(self, height: int, batch: WriteBatch, tip: int = 0) -> None:
        """Move the chain's cursor to `height` in `batch`: once per batch, at its last height."""
        cursor = ChainCursor(chain_id=self.chain.id, height=height, updated_at=self.clock(), tip=max(tip, height))
        self.repos.cursors.put(cursor, batch)

    def _is_chat(self, destination_id: str) -> bool:
        """Whether notifications to this destination may share one message (chats, not webhooks)."""
        destination = self.repos.destinations.get(destination_id)
        return destination is not None and destination.kind in CHAT_KINDS

    def _notification(
        self, block: DecodedBlock, block_time: datetime, scope: Scope, sub: Subscription, now: datetime
    ) -> Notification:
        scope_key = "block" if scope.index is None else f"tx:{scope.index}"
        params = sub.params or {}
        focus = params.get("address") or params.get("signer") or params.get("sender")
        labels = self.labels(sub.owner_id, self._addresses(scope)) if sub.owner_id else {}
        return Notification(
            id=notification_id(self.chain.id, block.height, scope_key, sub.id),
            owner_id=sub.owner_id,
            subscription_id=sub.id,
            subscription_name=sub.name,
            chain_id=self.chain.id,
            height=block.height,
            time=block_time,
            tx_hash=scope.tx_hash,
            tx_index=scope.index,
            tx_code=scope.code,
            tx_codespace=scope.codespace,
            tx_log=scope.log,
            tx_messages=scope.messages,
            events=scope.events,
            destination_ids=tuple(sub.destination_ids),
            summary=summarize(
                scope.events,
                self.chain,
                tx_code=scope.code,
                codespace=scope.codespace,
                log=scope.log,
                messages=scope.messages,
                focus=focus,
                labels=labels,
            ),
            focus=focus,
            labels=labels,
            created_at=now,
            silent=sub.silent,
        )

    def _alert_notification(
        self, height: int, at: datetime, sub: Subscription, alert: Alert, now: datetime
    ) -> Notification:
        """An alert as a notification: no events of its own, its story told from `alert`."""
        focus = alert.voter or alert.validator
        labels = self.labels(sub.owner_id, [focus]) if sub.owner_id and focus else {}
        return Notification(
            id=notification_id(self.chain.id, height, f"alert:{alert.key}", sub.id),
            owner_id=sub.owner_id,
            subscription_id=sub.id,
            subscription_name=sub.name,
            chain_id=self.chain.id,
            height=height,
            time=at,
            tx_hash=alert.details.get("tx_hash"),
            tx_index=None,
            tx_code=None,
            events=(),
            destination_ids=tuple(sub.destination_ids),
            summary=alert_summary(alert, self.chain, labels),
            focus=focus,
            labels=labels,
            created_at=now,
            silent=sub.silent or is_quiet(alert),
            alert=alert,
        )

    def _addresses(self, scope: Scope) -> list[str]:
        """The values of the scope that are addresses of this chain (what a label could name)."""
        found = [a.value for e in scope.events for a in e.attributes if a.value.startswith(self._address_starts)]
        found += [m.recipient for m in scope.messages if m.recipient]
        return list(dict.fromkeys(found))
