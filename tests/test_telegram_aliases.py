"""/alias and /unalias as a Telegram user sees them (#15.8), through the real Application
against the local fake Bot API, with the real services on a real RocksDB."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import bech32
import pytest

from tests.apikit import ALICE, BOB, api_client, signup
from tests.fakes.telegram_api import FakeTelegramApi
from tests.telegram_kit import BotRig, running_rig

GROUP = -1001234
ADMIN, MEMBER = 7, 8


def _juno(address: str) -> str:
    _, data = bech32.bech32_decode(address)
    assert data is not None
    return str(bech32.bech32_encode("juno", data))


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramApi]:
    async with FakeTelegramApi() as fake:
        fake.set_member(chat_id=GROUP, user_id=ADMIN, status="administrator")
        yield fake


@pytest.fixture
async def rig(tmp_path: Path, api: FakeTelegramApi) -> AsyncIterator[BotRig]:
    async with running_rig(tmp_path, api, admin_ttl=0.0) as r:
        yield r


async def test_alias_set_show_list_rename_and_unalias(rig: BotRig) -> None:
    [saved] = await rig.say(f"/alias {ALICE} Treasury")
    assert saved.text == f"🏷 Saved: <code>{ALICE}</code> is <b>Treasury</b> in this chat's notifications from now on."
    [shown] = await rig.say(f"/alias {ALICE}")
    assert shown.text == f"<code>{ALICE}</code> is <b>Treasury</b>."
    [renamed] = await rig.say(f"/alias {ALICE}\nCold  wallet <1>")  # a line break after the address is fine too
    assert renamed.text.startswith("🏷 Renamed") and "<b>Cold  wallet &lt;1&gt;</b>" in renamed.text
    await rig.say(f"/alias {BOB} Bob")
    [listing] = await rig.say("/alias")
    assert listing.text.splitlines() == [  # ordered by address
        "<b>Address book</b> (2)",
        f"• <b>Cold  wallet &lt;1&gt;</b>: <code>{ALICE}</code>",
        f"• <b>Bob</b>: <code>{BOB}</code>",
    ]
    [removed] = await rig.say(f"/unalias {ALICE}")
    assert removed.text == f"🗑 Removed the name <b>Cold  wallet &lt;1&gt;</b> of <code>{ALICE}</code>."
    [gone] = await rig.say(f"/unalias {ALICE}")
    assert "no label in your address book" in gone.text
    [usage] = await rig.say("/unalias")
    assert usage.text.startswith("Usage: <code>/alias cosmos1… Treasury</code>")


async def test_alias_refuses_addresses_of_other_chains_and_bad_labels(rig: BotRig) -> None:
    [juno] = await rig.say(f"/alias {_juno(ALICE)} Treasury")
    assert "juno1… is a Juno address; this service watches Test chain (cosmos1…), Other chain (osmo1…)" in juno.text
    [eth] = await rig.say("/alias 0x52908400098527886E0F7030069857D2E4169EE7 Treasury")
    assert "Ethereum address" in eth.text
    [long] = await rig.say(f"/alias {ALICE} {'x' * 65}")
    assert "at most 64 characters (this one has 65)" in long.text
    [empty] = await rig.say("/alias")
    assert empty.text.startswith("Your address book is empty.")
    assert list(rig.env.repos.address_labels.scan()) == []


async def test_in_a_group_only_admins_change_the_book_and_everyone_reads_it(rig: BotRig) -> None:
    group = {"chat_id": GROUP, "chat_type": "supergroup"}
    [refused] = await rig.say(f"/alias {ALICE} Treasury", user_id=MEMBER, **group)
    assert "🔒" in refused.text and "administrators can change its address book" in refused.text
    [saved] = await rig.say(f"/alias {ALICE} Treasury", user_id=ADMIN, **group)
    assert saved.text.startswith("🏷 Saved")
    [listing] = await rig.say("/alias", user_id=MEMBER, **group)
    assert f"• <b>Treasury</b>: <code>{ALICE}</code>" in listing.text
    [refused] = await rig.say(f"/unalias {ALICE}", user_id=MEMBER, **group)
    assert "🔒" in refused.text
    # The group's book is the group's: the admin's private chat has its own, empty one.
    [own] = await rig.say("/alias", chat_id=ADMIN, user_id=ADMIN)
    assert own.text.startswith("Your address book is empty.")


async def test_alias_is_in_the_menus_and_help(rig: BotRig, api: FakeTelegramApi) -> None:
    assert "alias" in [c["command"] for c in api.command_scopes["all_private_chats"]]
    assert "alias" in [c["command"] for c in api.command_scopes["all_chat_administrators"]]
    assert "alias" not in [c["command"] for c in api.command_scopes["all_group_chats"]]
    [help_] = await rig.say("/help")
    assert "/alias — " in help_.text and "/unalias — " in help_.text


async def test_linking_the_chat_to_an_account_brings_its_book_along(rig: BotRig) -> None:
    await rig.say(f"/alias {ALICE} Treasury")
    await rig.say(f"/alias {BOB} Chat's Bob")
    async with api_client(rig.env.app) as client:
        _, h = await signup(client, "alice@example.com")
        r = await client.put(f"/v1/address-book/{BOB}", json={"label": "Bob"}, headers=h)
        assert r.status_code == 201
        code = (await client.post("/v1/link-codes", headers=h)).json()["code"]
        await rig.say(f"/link {code}")
        items = (await client.get("/v1/address-book", headers=h)).json()["items"]
    # the chat's labels came along; for an address both books named, the account's own name stays
    assert [(e["address"], e["label"]) for e in items] == [(ALICE, "Treasury"), (BOB, "Bob")]
    [listing] = await rig.say("/alias")
    assert "<b>Treasury</b>" in listing.text and "<b>Bob</b>" in listing.text and "Chat&#x27;s" not in listing.text
