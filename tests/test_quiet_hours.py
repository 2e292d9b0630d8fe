"""Silent delivery and quiet hours (#15.3): messages still arrive, but without a sound.

Telegram through python-telegram-bot's real Bot against the local Bot API fake (which records
`disable_notification` per message); Discord through discord.py's REST client against the local
Discord fake (which records the message `flags`), and a plain Discord webhook URL. The wall clock
is injected, so midnight and daylight saving changes are crossed without waiting for them.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest
import telegram
from discord.http import HTTPClient

from core.dispatch.discord import SUPPRESS_NOTIFICATIONS, DiscordChannel
from core.dispatch.http import HttpClient
from core.dispatch.quiet_hours import is_quiet, parse_quiet_hours, quiet_hours
from core.dispatch.ratelimit import RateLimiter
from core.dispatch.telegram import TelegramChannel
from core.errors import ValidationError
from core.models import Notification, QuietHours
from tests.fakes.discord_api import FakeDiscordApi
from tests.fakes.records import COSMOS, discord_destination, make_notification, telegram_destination
from tests.fakes.telegram_api import FakeTelegramApi

BERLIN_NIGHT = QuietHours(start="23:00", end="07:00", timezone="Europe/Berlin")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# -- the window ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("now", "quiet"),
    [
        ("2026-01-15T21:59", False),  # 22:59 in Berlin (CET, UTC+1)
        ("2026-01-15T22:00", True),  # 23:00: starts
        ("2026-01-15T23:30", True),  # 00:30: past midnight
        ("2026-01-16T05:59", True),  # 06:59
        ("2026-01-16T06:00", False),  # 07:00: over
        ("2026-07-15T21:30", True),  # 23:30 in summer (CEST, UTC+2)
        ("2026-07-15T20:30", False),  # 22:30 in summer, though 21:30 at UTC+1
        ("2026-07-16T05:30", False),  # 07:30 in summer, though 06:30 at UTC+1
        # The night the clocks go forward (29 March 2026, 02:00 CET -> 03:00 CEST)...
        ("2026-03-29T04:30", True),  # 06:30 CEST
        ("2026-03-29T05:00", False),  # 07:00 CEST: over at 07:00 on the wall, after only 7 hours
        # ...and back (25 October 2026, 03:00 CEST -> 02:00 CET)
        ("2026-10-25T05:30", True),  # 06:30 CET: a nine-hour night
        ("2026-10-25T06:00", False),  # 07:00 CET
    ],
)
def test_quiet_hours_follow_the_wall_clock_of_their_timezone(now: str, quiet: bool) -> None:
    assert is_quiet(BERLIN_NIGHT, utc(now)) is quiet


def test_a_window_inside_one_day_and_an_empty_window() -> None:
    lunch = QuietHours(start="12:00", end="13:00", timezone="UTC")
    assert is_quiet(lunch, utc("2026-05-01T12:30")) and not is_quiet(lunch, utc("2026-05-01T13:00"))
    same = QuietHours(start="07:00", end="07:00", timezone="UTC")
    assert not any(is_quiet(same, utc(f"2026-05-01T{h:02d}:00")) for h in range(24))  # start == end: off
    assert quiet_hours("7:00", "07:00", "UTC") is None  # and stored as off
    assert not is_quiet(None, utc("2026-05-01T03:00"))
    gone = QuietHours(start="00:00", end="23:59", timezone="Atlantis/Capital")  # dropped by a later tzdata
    assert not is_quiet(gone, utc("2026-05-01T03:00"))  # delivered with a sound rather than failing


def test_typed_quiet_hours_are_normalised() -> None:
    assert parse_quiet_hours("23:00-07:00 Europe/Berlin") == BERLIN_NIGHT
    assert parse_quiet_hours("23:00 - 7:00 europe/berlin") == BERLIN_NIGHT
    assert parse_quiet_hours("off") is None


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("25:00-07:00 Europe/Berlin", "'25:00' is not a time of day: use HH:MM, from 00:00 to 23:59"),
        ("23:00-07:60 UTC", "'07:60' is not a time of day"),
        ("7-8 UTC", "'7' is not a time of day"),
        ("7-8", "give quiet hours as HH:MM-HH:MM and a timezone, e.g. 23:00-07:00 Europe/Berlin"),
        ("23:00 07:00 UTC", "give quiet hours as HH:MM-HH:MM"),
        ("23:00-07:00 Europe/Berln", "I don't know the timezone 'Europe/Berln'. Did you mean Europe/Berlin?"),
        ("23:00-07:00 Mars/Olympus", "I don't know the timezone 'Mars/Olympus'."),
        ("23:00-07:00 ../../etc/passwd", "I don't know the timezone '../../etc/passwd'."),
        ("23:00-07:00 " + "E" * 10_000, "timezone: at most 64 characters, e.g. Europe/Berlin"),
    ],
)
def test_bad_quiet_hours_are_refused_in_plain_words(typed: str, said: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_quiet_hours(typed)
    assert str(caught.value).startswith(said)
    assert len(str(caught.value)) < 200  # a 10,000-character timezone is not echoed back


# -- Telegram --------------------------------------------------------------------------------------
@pytest.fixture
async def bot(api: FakeTelegramApi):
    async with telegram.Bot(token=api.token, base_url=api.base_url) as b:
        yield b


class WallClock:
    """An injected wall clock that tests move by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def test_telegram_sends_silently_for_a_silent_subscription(api: FakeTelegramApi, bot: telegram.Bot) -> None:
    channel = TelegramChannel(bot, limiter=RateLimiter(per_key_interval=0.0))
    loud = make_notification("acc_a", ("dst_tg",), height=1)
    silent = msgspec.structs.replace(make_notification("acc_a", ("dst_tg",), height=2), silent=True)
    for notification in (loud, silent):
        assert (await channel.deliver(notification, telegram_destination("dst_tg", "acc_a", 42), COSMOS)).ok
    assert [m.disable_notification for m in api.sent] == [False, True]
    assert all("\n<i>Incoming ATOM</i>\n" in m.text for m in api.sent)  # both delivered in full


async def test_telegram_sends_silently_inside_the_chats_quiet_hours(api: FakeTelegramApi, bot: telegram.Bot) -> None:
    clock = WallClock(utc("2026-01-15T21:30"))  # 22:30 in Berlin
    channel = TelegramChannel(bot, limiter=RateLimiter(per_key_interval=0.0), clock=clock)
    chat = msgspec.structs.replace(telegram_destination("dst_tg", "acc_a", -100), quiet_hours=BERLIN_NIGHT)
    for height, now in enumerate(("2026-01-15T21:30", "2026-01-15T22:30", "2026-01-16T05:30", "2026-01-16T06:30")):
        clock.now = utc(now)
        assert (await channel.deliver(make_notification("acc_a", ("dst_tg",), height=height), chat, COSMOS)).ok
    # 22:30 aloud, 23:30 and 06:30 silently, 07:30 aloud: nothing held back, nothing lost.
    assert [m.disable_notification for m in api.sent] == [False, True, True, False]
    other_chat = telegram_destination("dst_2", "acc_a", 43)  # no quiet hours: aloud at any hour
    clock.now = utc("2026-01-16T02:00")
    assert (await channel.deliver(make_notification("acc_a", ("dst_2",), height=9), other_chat, COSMOS)).ok
    assert api.sent[-1].chat_id == 43 and api.sent[-1].disable_notification is False


async def test_a_bundle_rings_unless_every_notification_in_it_is_silent(
    api: FakeTelegramApi, bot: telegram.Bot
) -> None:
    clock = WallClock(utc("2026-01-15T12:00"))  # 13:00 in Berlin
    channel = TelegramChannel(bot, limiter=RateLimiter(per_key_interval=0.0), clock=clock)
    chat = msgspec.structs.replace(telegram_destination("dst_tg", "acc_a", 42), quiet_hours=BERLIN_NIGHT)

    def two(*silent: bool) -> list[Notification]:
        return [
            msgspec.structs.replace(
                make_notification("acc_a", ("dst_tg",), index=i, subscription_id=f"sub_{i}"), silent=quiet
            )
            for i, quiet in enumerate(silent)
        ]

    for bundle in (two(False, True), two(True, True), two(False, False)):
        assert (await channel.deliver_bundle(bundle, chat, COSMOS)).ok
    clock.now = utc("2026-01-15T23:00")  # midnight in Berlin
    assert (await channel.deliver_bundle(two(False, False), chat, COSMOS)).ok
    # A loud subscription bundled with a silent one is still heard; quiet hours silence any bundle.
    assert [m.disable_notification for m in api.sent] == [False, True, False, True]


# -- Discord ---------------------------------------------------------------------------------------
@pytest.fixture
async def webhook_http():
    client = HttpClient(allow_private_networks=True)
    yield client
    await client.close()


async def test_discord_suppresses_notifications_when_silent_or_quiet(
    discord_api: FakeDiscordApi, discord_rest: HTTPClient, webhook_http: HttpClient
) -> None:
    clock = WallClock(utc("2026-07-15T12:00"))  # 14:00 in Berlin: not quiet
    channel = DiscordChannel(discord_rest, webhook_http, clock=clock)
    plain = discord_destination("dst_dc", "acc_a", channel_id=555)
    night = msgspec.structs.replace(discord_destination("dst_dm", "acc_a", user_id=777), quiet_hours=BERLIN_NIGHT)
    hook = msgspec.structs.replace(
        discord_destination("dst_wh", "acc_a", webhook_url=discord_api.webhook_url()), quiet_hours=BERLIN_NIGHT
    )
    silent = msgspec.structs.replace(make_notification("acc_a", ("dst_dc",), height=1), silent=True)
    assert (await channel.deliver(make_notification("acc_a", ("dst_dc",)), plain, COSMOS)).ok
    assert (await channel.deliver(silent, plain, COSMOS)).ok
    assert (await channel.deliver(make_notification("acc_a", ("dst_dm",)), night, COSMOS)).ok
    clock.now = utc("2026-07-15T22:00")  # midnight in Berlin
    assert (await channel.deliver(make_notification("acc_a", ("dst_dm",), height=2), night, COSMOS)).ok
    assert [m.flags for m in discord_api.messages] == [0, SUPPRESS_NOTIFICATIONS, 0, SUPPRESS_NOTIFICATIONS]
    assert SUPPRESS_NOTIFICATIONS == 4096
    assert (await channel.deliver(make_notification("acc_a", ("dst_wh",)), hook, COSMOS)).ok
    [posted] = discord_api.webhook_posts
    assert posted.flags == SUPPRESS_NOTIFICATIONS and posted.payload["embeds"][0]["author"]["name"] == "Incoming ATOM"
