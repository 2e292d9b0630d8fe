"""Telegram channel: python-telegram-bot's real Bot against a local Bot API fake."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import telegram

from core.chain.blocks import Attribute, Event
from core.dispatch.dispatcher import Dispatcher, DispatchLimits
from core.dispatch.outbox import Outbox
from core.dispatch.ratelimit import RateLimiter
from core.dispatch.telegram import MESSAGE_LIMIT, TelegramChannel, telegram_length
from core.store import WriteBatch, open_store
from core.store.repositories import Repositories
from tests.fakes.records import COSMOS, FakeClock, entry_for, make_notification, telegram_destination
from tests.fakes.telegram_api import FakeTelegramApi
from tests.seeding import put_now


@pytest.fixture
async def api():
    async with FakeTelegramApi() as fake:
        yield fake


@pytest.fixture
async def bot(api: FakeTelegramApi):
    async with telegram.Bot(token=api.token, base_url=api.base_url) as b:
        yield b


async def _send(channel: TelegramChannel, chat_id: int, notification=None):
    notification = notification or make_notification("acc_a", ("dst_tg",))
    destination = telegram_destination("dst_tg", "acc_a", chat_id)
    return await channel.deliver(notification, destination, COSMOS)


def _balanced(html_text: str) -> bool:
    """Every tag closed in the same message, every entity whole."""
    stack: list[str] = []
    for closing, name in re.findall(r"<(/?)([a-z]+)[^>]*>", html_text):
        if closing:
            if not stack or stack.pop() != name:
                return False
        else:
            stack.append(name)
    entities_ok = all(re.match(r"&(amp|lt|gt|quot|#x27);", html_text[m.start() :]) for m in re.finditer("&", html_text))
    return not stack and entities_ok


async def test_message_is_html_with_escaping_and_link(api: FakeTelegramApi, bot: telegram.Bot) -> None:
    events = (
        Event(type="wasm", attributes=(Attribute("_contract_address", "cosmos1c"), Attribute("action", "<b>&x"))),
    )
    notification = make_notification("acc_a", ("dst_tg",), events=events)
    result = await _send(TelegramChannel(bot), 42, notification)
    assert result.ok and result.status == 200
    [sent] = api.sent
    assert sent.chat_id == 42 and sent.parse_mode == "HTML"
    assert sent.text.startswith("<b>📜 cosmos1c: &lt;b&gt;&amp;x</b>\n<i>Incoming ATOM</i>\n")
    assert f'<a href="https://explorer.example/cosmos/tx/{notification.tx_hash}">Tx ' in sent.text
    assert _balanced(sent.text)


#: A value a chain may well emit: markup, entities, an emoji (two UTF-16 units), RTL marks.
HOSTILE = '<b>&amp;"🚀\u202e\u200f'


def hostile_contract_event(count: int = 40, length: int = 5000) -> tuple[Event, ...]:
    values = [(f"{i}" + HOSTILE * length)[:length] for i in range(count)]
    attributes = [Attribute("_contract_address", "cosmos1c"), Attribute("action", "swap")]
    attributes += [Attribute(f"key_{i}", value) for i, value in enumerate(values)]
    return (Event(type="wasm", attributes=tuple(attributes)),)


async def test_a_huge_contract_event_arrives_as_one_message_with_its_cuts_named(
    api: FakeTelegramApi, bot: telegram.Bot
) -> None:
    notification = make_notification("acc_a", ("dst_tg",), events=hostile_contract_event())
    result = await _send(TelegramChannel(bot, limiter=RateLimiter(per_key_interval=0.0)), 42, notification)
    assert result.ok
    [sent] = api.sent  # one event, one message: never split into several
    assert telegram_length(sent.text) <= MESSAGE_LIMIT and _balanced(sent.text)
    assert sent.text.startswith("<b>📜 cosmos1c: swap</b>\n<i>Incoming ATOM</i>\n")
    assert "key_0: 0&lt;b&gt;&amp;amp;&quot;🚀��" in sent.text  # the RTL override and mark made visible
    shown = sent.text.count("(5000 characters)")
    assert 0 < shown <= 12 and f"… and {40 - shown} more attributes" in sent.text  # a few, not 40
    assert f'<a href="https://explorer.example/cosmos/tx/{notification.tx_hash}">Tx ' in sent.text  # still there


async def test_a_huge_action_is_cut_in_one_message_not_split(api: FakeTelegramApi, bot: telegram.Bot) -> None:
    action = (HOSTILE * 9000)[:9000]
    events = (Event(type="wasm", attributes=(Attribute("_contract_address", "cosmos1c"), Attribute("action", action))),)
    notification = make_notification("acc_a", ("dst_tg",), events=events)
    result = await _send(TelegramChannel(bot, limiter=RateLimiter(per_key_interval=0.0)), 42, notification)
    assert result.ok
    [sent] = api.sent  # today's split sent it as several messages, the first holding only a title
    assert telegram_length(sent.text) <= MESSAGE_LIMIT and _balanced(sent.text)
    assert sent.text.count("(9000 characters)") == 2  # the headline and the Action field


async def test_one_message_per_second_per_chat(api: FakeTelegramApi, bot: telegram.Bot) -> None:
    channel = TelegramChannel(bot)
    started = time.monotonic()
    for _ in range(2):
        assert (await _send(channel, 42)).ok
    assert (await _send(channel, 43)).ok  # another chat is not held up by chat 42
    at = [m.at for m in api.sent]
    assert at[1] - at[0] >= 0.95
    assert at[2] - at[1] < 0.5
    assert time.monotonic() - started < 3


async def test_rate_limiter_keeps_global_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(per_key_interval=1.0, global_rate=30.0, clock=lambda: now[0])
    waits = [limiter.reserve(chat) for chat in range(60)]
    assert waits[0] == 0 and waits[-1] == pytest.approx(59 / 30)
    assert limiter.reserve(0) == pytest.approx(2.0)  # chat 0 again: after the global queue
    limiter.penalize(7, 30)
    assert limiter.reserve(7) == pytest.approx(30)


async def test_flood_control_returns_retry_after(api: FakeTelegramApi, bot: telegram.Bot) -> None:
    api.fail_next("sendMessage", status=429, retry_after=7)
    result = await _send(TelegramChannel(bot), 42)
    assert not result.ok and result.status == 429 and result.retry_after == 7 and not result.permanent


async def test_blocked_bot_disables_the_destination(tmp_path: Path, api: FakeTelegramApi, bot: telegram.Bot) -> None:
    api.fail_next("sendMessage", status=403, chat_id=42)
    result = await _send(TelegramChannel(bot), 42)
    assert result.permanent and "bot was blocked by the user" in (result.disable_reason or "")

    # End to end: the dispatcher buries the entry, disables the chat, does not retry.
    store = open_store(tmp_path / "db")
    clock = FakeClock()
    repos, outbox = Repositories(store), Outbox(store, clock=clock)
    put_now(repos.destinations, telegram_destination("dst_tg", "acc_a", 42))
    notification = make_notification("acc_a", ("dst_tg",))
    batch = WriteBatch()
    repos.notifications.add(notification, batch)
    outbox.enqueue([entry_for(notification, "dst_tg", clock())], batch)
    store.write(batch)
    api.fail_next("sendMessage", status=403, chat_id=42)
    dispatcher = Dispatcher(outbox, repos, {"telegram": TelegramChannel(bot)}, {COSMOS.id: COSMOS}.get, clock=clock)
    await dispatcher.pump()
    destination = repos.destinations.get("dst_tg")
    assert destination is not None and not destination.enabled
    assert [a.outcome for a in repos.attempts.of_notification(notification.id)] == ["dead_letter"]
    assert outbox.depth() == 0 and len(repos.dead_letters.page_of_owner("acc_a", limit=5).items) == 1
    store.close()


async def test_a_group_that_became_a_supergroup_is_followed(
    tmp_path: Path, api: FakeTelegramApi, bot: telegram.Bot
) -> None:
    store = open_store(tmp_path / "db")
    clock = FakeClock()
    repos, outbox = Repositories(store), Outbox(store, clock=clock)
    put_now(repos.destinations, telegram_destination("dst_tg", "acc_a", -42))
    notification = make_notification("acc_a", ("dst_tg",))
    batch = WriteBatch()
    repos.notifications.add(notification, batch)
    outbox.enqueue([entry_for(notification, "dst_tg", clock())], batch)
    store.write(batch)
    api.fail_next(
        "sendMessage", status=400, description="Bad Request: group chat was upgraded to a supergroup chat",
        chat_id=-42, migrate_to_chat_id=-100_042,
    )  # fmt: skip
    dispatcher = Dispatcher(outbox, repos, {"telegram": TelegramChannel(bot)}, {COSMOS.id: COSMOS}.get, clock=clock)
    await dispatcher.pump()
    destination = repos.destinations.get("dst_tg")
    assert destination is not None and destination.enabled and destination.chat_id == -100_042
    assert [m.chat_id for m in api.sent] == [-100_042]
    assert [a.outcome for a in repos.attempts.of_notification(notification.id)] == ["delivered"]
    assert [d.id for d in repos.destinations.for_target("telegram", "-100042")] == ["dst_tg"]
    store.close()


async def test_fake_serves_what_an_application_needs(api: FakeTelegramApi, bot: telegram.Bot) -> None:
    me = await bot.get_me()
    assert me.username == "mempools_test_bot"
    assert await bot.delete_webhook()
    assert await bot.set_my_commands([("start", "Start")])
    started = time.monotonic()
    assert await bot.get_updates(timeout=0.3) == ()
    assert time.monotonic() - started >= 0.25  # held, not answered at once
    api.push_update(api.message_update(chat_id=5, user_id=5, text="/start"))
    [update] = await bot.get_updates(timeout=1)
    assert update.message.text == "/start" and update.message.entities[0].type == "bot_command"


async def test_a_chat_under_a_long_flood_wait_is_deferred_not_waited_for(
    tmp_path: Path, api: FakeTelegramApi, bot: telegram.Bot
) -> None:
    """Telegram says "retry after 600 s" for one chat: that attempt fails with retry_after, and
    the chat's other deliveries are deferred (no attempt used, no worker held) while another chat
    is served at once."""
    store = open_store(tmp_path / "db")
    clock = FakeClock()
    repos, outbox = Repositories(store), Outbox(store, clock=clock)
    put_now(repos.destinations, telegram_destination("dst_busy", "acc_a", 42))
    put_now(repos.destinations, telegram_destination("dst_calm", "acc_a", 43))
    busy = [make_notification("acc_a", ("dst_busy",), height=i) for i in range(3)]
    calm = make_notification("acc_a", ("dst_calm",), height=9)
    batch = WriteBatch()
    for notification in [*busy, calm]:
        repos.notifications.add(notification, batch)
        outbox.enqueue([entry_for(notification, notification.destination_ids[0], clock())], batch)
    store.write(batch)
    api.fail_next("sendMessage", status=429, retry_after=600, chat_id=42)
    channel = TelegramChannel(bot, limiter=RateLimiter(per_key_interval=0.0))
    dispatcher = Dispatcher(
        outbox, repos, {"telegram": channel}, {COSMOS.id: COSMOS}.get, clock=clock,
        limits=DispatchLimits(per_destination=1),
    )  # fmt: skip
    started = time.monotonic()
    assert await dispatcher.pump() == 4
    assert time.monotonic() - started < 3  # nobody sat out the 600 s
    assert [m.chat_id for m in api.sent] == [43]
    outcomes = {n.id: [a.outcome for a in repos.attempts.of_notification(n.id)] for n in busy}
    assert sorted(outcomes.values()) == [[], [], ["failed"]]  # one 429; two deferred, unlogged
    for notification in busy:
        entry = outbox.get(notification.id, "dst_busy")
        assert entry is not None and (entry.due_at - clock()).total_seconds() >= 590
        assert entry.attempts == (1 if outcomes[notification.id] else 0)
    store.close()
