"""Discord channel: discord.py's real REST client against a local Discord API fake, plus plain
Discord webhook URLs; embeds stay within Discord's limits."""

from __future__ import annotations

import discord
import msgspec
import pytest
from discord.http import HTTPClient

from core.chain.blocks import Attribute, Event
from core.dispatch.discord import DiscordChannel, discord_embed, embed_size
from core.dispatch.http import HttpClient
from core.dispatch.render import Field, render
from tests.fakes.discord_api import FakeDiscordApi
from tests.fakes.records import COSMOS, discord_destination, make_notification


@pytest.fixture
async def channel(discord_rest: HTTPClient):
    webhook_http = HttpClient(allow_private_networks=True)
    yield DiscordChannel(discord_rest, webhook_http)
    await webhook_http.close()


async def _send(channel: DiscordChannel, notification=None, **target: int | str):
    notification = notification or make_notification("acc_a", ("dst_dc",))
    destination = discord_destination("dst_dc", "acc_a", **target)
    return await channel.deliver(notification, destination, COSMOS)


async def test_channel_message_is_an_embed(discord_api: FakeDiscordApi, channel: DiscordChannel) -> None:
    notification = make_notification("acc_a", ("dst_dc",))
    result = await _send(channel, notification, channel_id=555)
    assert result.ok
    [posted] = discord_api.messages
    assert posted.channel_id == 555
    [embed] = posted.payload["embeds"]
    assert embed["title"] == "💸 1.5 ATOM from cosmos1qypq…v7xu to cosmos1xv9t…xxe5"
    assert embed["author"] == {"name": "Incoming ATOM"}  # the subscription that fired, above the title
    assert embed["url"] == f"https://explorer.example/cosmos/tx/{notification.tx_hash}"
    assert [f["name"] for f in embed["fields"]] == ["From", "To"]  # nothing the title or footer says
    assert embed["footer"] == {"text": "Cosmos Hub · height 100"}
    assert embed["timestamp"] == notification.time.isoformat()
    assert posted.payload["allowed_mentions"] == {"parse": []}  # "@everyone" in chain data pings nobody


async def test_direct_message_opens_the_dm_once(discord_api: FakeDiscordApi, channel: DiscordChannel) -> None:
    for _ in range(2):
        assert (await _send(channel, user_id=777)).ok
    assert [p.channel_id for p in discord_api.messages] == [discord_api.dm_channels[777]] * 2
    assert sum(1 for _, path in discord_api.requests if path.endswith("/users/@me/channels")) == 1


async def test_long_rate_limit_comes_back_as_retry_after(discord_api: FakeDiscordApi, channel: DiscordChannel) -> None:
    discord_api.fail_next("messages", status=429, retry_after=60, channel_id=555)
    result = await _send(channel, channel_id=555)
    assert not result.ok and result.status == 429 and result.retry_after == 60 and not result.permanent
    # A short one is waited out by discord.py itself, then delivered.
    discord_api.fail_next("messages", status=429, retry_after=0.05, channel_id=555)
    assert (await _send(channel, channel_id=555)).ok


@pytest.mark.parametrize("status", [403, 404])
async def test_missing_access_or_channel_disables(
    discord_api: FakeDiscordApi, channel: DiscordChannel, status: int
) -> None:
    discord_api.fail_next("messages", status=status, channel_id=555)
    result = await _send(channel, channel_id=555)
    assert not result.ok and result.permanent and result.status == status
    assert result.disable_reason and str(status) in result.disable_reason


async def test_webhook_url_posts_embeds(discord_api: FakeDiscordApi, channel: DiscordChannel) -> None:
    url = discord_api.webhook_url(9, "secret-token")
    assert (await _send(channel, webhook_url=url)).ok
    [posted] = discord_api.webhook_posts
    assert posted.channel_id == 9 and posted.payload["embeds"][0]["author"]["name"] == "Incoming ATOM"
    discord_api.fail_next("webhook", status=429, retry_after=2.5)
    limited = await _send(channel, webhook_url=url)
    assert limited.status == 429 and limited.retry_after == 2.5
    discord_api.fail_next("webhook", status=404)
    gone = await _send(channel, webhook_url=url)
    assert gone.permanent and gone.disable_reason


def test_embeds_respect_every_limit() -> None:
    huge = "x" * 5000
    attributes = tuple(Attribute(f"k{i}", huge) for i in range(40))
    events = (Event(type="wasm", attributes=(Attribute("_contract_address", "c"), Attribute("action", huge))),)
    notification = make_notification("acc_a", ("d",), events=(*events, Event(type="other", attributes=attributes)))
    rendered = render(notification, COSMOS)
    rendered = msgspec.structs.replace(
        rendered,
        title="T" * 400,
        headline="H" * 5000,
        fields=tuple(Field(name="N" * 300, value="V" * 2000) for _ in range(30)),
    )
    embed = discord_embed(rendered)
    assert len(embed["title"]) <= 256 and len(embed["author"]["name"]) <= 256
    assert len(embed["fields"]) <= 25
    assert all(len(f["name"]) <= 256 and len(f["value"]) <= 1024 for f in embed["fields"])
    assert len(embed["footer"]["text"]) <= 2048
    assert embed_size(embed) <= 6000
    discord.Embed.from_dict(embed)  # and discord.py accepts it


async def test_a_huge_contract_event_is_one_embed_within_every_limit(
    discord_api: FakeDiscordApi, channel: DiscordChannel
) -> None:
    hostile = '<b>&amp;"🚀\u202e\u200f*_`@everyone'
    attributes = [Attribute("_contract_address", "cosmos1c"), Attribute("action", "swap")]
    attributes += [Attribute(f"key_{i}", (hostile * 5000)[:5000]) for i in range(40)]
    notification = make_notification("acc_a", ("dst_dc",), events=(Event(type="wasm", attributes=tuple(attributes)),))
    assert (await _send(channel, notification, channel_id=555)).ok
    [posted] = discord_api.messages
    [embed] = posted.payload["embeds"]
    assert embed_size(embed) <= 6000 and len(embed["fields"]) <= 25 and len(embed["title"]) <= 256
    assert all(len(f["value"]) <= 1024 and len(f["name"]) <= 256 for f in embed["fields"])
    values = [f["value"] for f in embed["fields"]]
    shown = sum("(5000 characters)" in v for v in values)
    assert 0 < shown <= 12 and f"… and {40 - shown} more attributes" in values
    assert embed["fields"][0]["name"] == "Contract" and embed["url"]  # kept, not popped


async def test_channel_message_has_a_tx_link_button(discord_api: FakeDiscordApi, channel: DiscordChannel) -> None:
    notification = make_notification("acc_a", ("dst_dc",))
    assert (await _send(channel, notification, channel_id=555)).ok
    [posted] = discord_api.messages
    assert posted.payload["components"] == [
        {
            "type": 1,
            "components": [
                {
                    "type": 2,
                    "style": 5,
                    "disabled": False,
                    "label": "🔎 Tx",
                    "url": f"https://explorer.example/cosmos/tx/{notification.tx_hash}",
                }
            ],
        }
    ]
