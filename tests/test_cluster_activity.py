"""The live activity feed in cluster mode: what one node records (a notification, a failed attempt
and its retry), a listener on the other node receives, as that node applies the change; another
account's listener there receives nothing. Real NATS cluster, real replicas."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.dispatch.outbox import Outbox
from core.ids import notification_id
from core.models import DeliveryAttempt, Notification, OutboxEntry
from core.services import Services
from core.services.activity import AttemptEvent, NotificationEvent
from core.store.base import WriteBatch
from core.store.repositories import Repositories
from core.watch.matching import SubscriptionMatcher
from tests.apikit import CHAIN, fast_passwords, make_config, transfer_events
from tests.replica_node import ReplicaNode

T0 = datetime(2024, 5, 1, tzinfo=UTC)


def _services(replica: ReplicaNode) -> tuple[Services, Repositories, Outbox]:
    repos = Repositories(replica.store)
    outbox = Outbox(replica.store, partitions=set(), follow=True)
    services = Services.build(make_config(), repos, SubscriptionMatcher(), outbox, passwords=fast_passwords())
    return services, repos, outbox


async def test_a_listener_on_one_node_sees_what_another_node_records(replicas: list[ReplicaNode]) -> None:
    (a, repos_a, outbox_a), (b, _, _) = (_services(r) for r in replicas)
    ada = await a.accounts.register("ada@example.org", "correct horse battery")
    bea = await a.accounts.register("bea@example.org", "correct horse battery")
    dest = await a.destinations.ensure_telegram_chat(ada.id, 42)
    note = Notification(
        id=notification_id(CHAIN, 7, "tx:0", "sub_x"),
        owner_id=ada.id,
        subscription_id="sub_x",
        subscription_name="Treasury",
        chain_id=CHAIN,
        height=7,
        time=T0,
        tx_hash="AB" * 32,
        tx_index=0,
        tx_code=0,
        events=transfer_events(),
        destination_ids=(dest.id,),
        created_at=T0,
    )
    async with b.activity.subscribe(ada.id) as mine, b.activity.subscribe(bea.id) as theirs:
        batch = WriteBatch()
        repos_a.notifications.add(note, batch)
        await replicas[0].store.commit(batch)
        seen = await mine.next(timeout=5)
        assert isinstance(seen, NotificationEvent) and seen.notification == note

        # The dispatcher's record of a failed attempt: the attempt and the entry's retry, one batch.
        retry_at = T0 + timedelta(seconds=30)
        batch = WriteBatch()
        repos_a.attempts.put(
            DeliveryAttempt(
                notification_id=note.id,
                destination_id=dest.id,
                attempt=1,
                at=T0,
                outcome="failed",
                http_status=502,
                error="HTTP 502",
                latency_ms=12.0,
            ),
            batch,
        )
        entry = OutboxEntry(notification_id=note.id, destination_id=dest.id, owner_id=ada.id, due_at=retry_at)
        outbox_a.enqueue([entry], batch)
        await replicas[0].store.commit(batch)
        attempt = await mine.next(timeout=5)
        assert isinstance(attempt, AttemptEvent)
        assert (attempt.attempt.outcome, attempt.attempt.http_status) == ("failed", 502)
        assert attempt.attempt.next_attempt_at == retry_at and attempt.id > seen.id
        assert await theirs.next(timeout=0.2) is None
    assert b.activity.listeners() == 0
