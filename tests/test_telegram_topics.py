"""Forum topics: a command sent in a topic of a forum supergroup makes a destination for that
topic; deliveries and replies go into it. Real python-telegram-bot against the fake Bot API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec
import pytest

from api.schemas import destination_out
from core.dispatch.ratelimit import RateLimiter
from core.dispatch.telegram import TelegramChannel
from core.models import TelegramDestination
from tests.apikit import ALICE, BOB
from tests.fakes.records import COSMOS, make_notification
from tests.fakes.telegram_api import FakeTelegramApi
from tests.telegram_kit import BotRig

FORUM = -1009876
ADMIN = 7
RELEASES, ALERTS = 11, 12  # two topics of the forum


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramApi]:
    async with FakeTelegramApi() as fake:
        fake.set_member(chat_id=FORUM, user_id=ADMIN, status="administrator")
        yield fake


def _destination(rig: BotRig, address: str) -> TelegramDestination:
    [sub] = [s for s in rig.env.repos.subscriptions.scan() if address in " ".join(s.queries)]
    dest = rig.env.repos.destinations.get(sub.destination_ids[0])
    assert isinstance(dest, TelegramDestination)
    return dest


async def test_a_watch_in_a_topic_delivers_to_that_topic_and_each_topic_has_its_own_destination(
    rig: BotRig, api: FakeTelegramApi
) -> None:
    [made] = await rig.say(
        f"/watch {BOB}", chat_id=FORUM, user_id=ADMIN, chat_type="supergroup", message_thread_id=RELEASES
    )
    assert "✅ Subscribed" in made.text and made.chat_id == FORUM
    assert made.message_thread_id == RELEASES  # the answer is in the topic, not in General
    [other] = await rig.say(
        f"/watch {ALICE}", chat_id=FORUM, user_id=ADMIN, chat_type="supergroup", message_thread_id=ALERTS
    )
    assert "✅ Subscribed" in other.text and other.message_thread_id == ALERTS

    releases, alerts = _destination(rig, BOB), _destination(rig, ALICE)
    assert releases.id != alerts.id and releases.owner_id == alerts.owner_id  # one group account
    assert (releases.chat_id, releases.message_thread_id) == (FORUM, RELEASES)
    assert (alerts.chat_id, alerts.message_thread_id) == (FORUM, ALERTS)
    assert msgspec.to_builtins(destination_out(releases))["message_thread_id"] == RELEASES  # the API shows it

    # A second command in the same topic finds the same destination: one per (chat, topic).
    await rig.say(f"/watch {ALICE}", chat_id=FORUM, user_id=ADMIN, chat_type="supergroup", message_thread_id=RELEASES)
    in_forum = rig.env.repos.destinations.for_target("telegram", str(FORUM))
    assert sorted(d.id for d in in_forum) == sorted([releases.id, alerts.id])
    watching_alice = [s for s in rig.env.repos.subscriptions.scan() if ALICE in " ".join(s.queries)]
    assert sorted(s.destination_ids[0] for s in watching_alice) == sorted([releases.id, alerts.id])

    channel = TelegramChannel(rig.door.bot, limiter=RateLimiter(per_key_interval=0.0))
    before = len(api.sent)
    for dest in (releases, alerts):
        assert (await channel.deliver(make_notification(dest.owner_id, (dest.id,)), dest, COSMOS)).ok
    delivered = api.sent[before:]
    assert [(m.chat_id, m.message_thread_id) for m in delivered] == [(FORUM, RELEASES), (FORUM, ALERTS)]


async def test_a_group_without_topics_keeps_one_destination_and_sends_no_topic(
    rig: BotRig, api: FakeTelegramApi
) -> None:
    await rig.say(f"/watch {BOB}", chat_id=FORUM, user_id=ADMIN, chat_type="supergroup")
    dest = _destination(rig, BOB)
    assert dest.message_thread_id is None
    channel = TelegramChannel(rig.door.bot, limiter=RateLimiter(per_key_interval=0.0))
    before = len(api.sent)
    assert (await channel.deliver(make_notification(dest.owner_id, (dest.id,)), dest, COSMOS)).ok
    [sent] = api.sent[before:]
    assert sent.message_thread_id is None and "message_thread_id" not in sent.params


async def test_a_deleted_topic_disables_its_destination(rig: BotRig, api: FakeTelegramApi) -> None:
    await rig.say(f"/watch {BOB}", chat_id=FORUM, user_id=ADMIN, chat_type="supergroup", message_thread_id=RELEASES)
    dest = _destination(rig, BOB)
    api.fail_next("sendMessage", status=400, description="Bad Request: message thread not found", chat_id=FORUM)
    channel = TelegramChannel(rig.door.bot, limiter=RateLimiter(per_key_interval=0.0))
    result = await channel.deliver(make_notification(dest.owner_id, (dest.id,)), dest, COSMOS)
    assert not result.ok and result.permanent and result.status == 400
    assert result.disable_reason == "Telegram refused: Message thread not found"  # PTB drops "Bad Request: "
