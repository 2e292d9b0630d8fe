"""Which notifications of one block share one chat message (issue #15: one message per chat).

A transaction that matches several subscriptions delivering to the same chat is one message
naming them, and several matches in one block to one chat are one message, not a burst. This
is decided here, inside the block's one write batch, from the notifications made for the block
in block order: re-processing the block after a crash yields the very same outbox entries, and
exactly-once stays what it was, one outbox entry per (leading notification, destination). The
entry names the others it delivers (`OutboxEntry.bundle`); they get no entry of their own for
that chat, and each still gets its delivery record when the one message is sent.

Webhooks keep one POST per notification (their payload is a contract): only chat destinations
combine. A chat gets at most `MAX_BUNDLE` notifications per message; the rest lead messages of
their own (in block order), so one message stays readable and under the chats' size limits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from core.models import Notification, OutboxEntry

#: Notifications one chat message carries at most.
MAX_BUNDLE = 20
#: Destination kinds that show messages to people, and so take bundles.
CHAT_KINDS = frozenset({"telegram", "discord"})


def outbox_entries(
    notifications: Sequence[Notification], is_chat: Callable[[str], bool], now: datetime
) -> list[tuple[Notification, list[OutboxEntry]]]:
    """Each notification with the outbox entries it leads (none where another one leads its chat's
    message). `is_chat(destination_id)` is asked only of destinations more than one notification
    goes to."""
    shared: dict[tuple[str, str], list[Notification]] = {}
    for notification in notifications:
        for destination_id in notification.destination_ids:
            shared.setdefault((destination_id, notification.owner_id), []).append(notification)
    led: dict[str, list[OutboxEntry]] = {n.id: [] for n in notifications}
    for (destination_id, owner_id), group in shared.items():
        size = MAX_BUNDLE if len(group) > 1 and is_chat(destination_id) else 1
        for start in range(0, len(group), size):
            lead, *rest = group[start : start + size]
            led[lead.id].append(
                OutboxEntry(
                    notification_id=lead.id,
                    destination_id=destination_id,
                    owner_id=owner_id,
                    due_at=now,
                    bundle=tuple(n.id for n in rest),
                )
            )
    return [(n, led[n.id]) for n in notifications]
