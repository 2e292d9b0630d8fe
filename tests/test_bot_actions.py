"""The chat-neutral actions both bots share, over a real RocksDB store and the real services."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.actions import ChainChoiceRequired, ChatActions, ChatContext, PermissionDeniedError
from core.config import ChainConfig, Denom
from core.dispatch.render import short_address
from core.errors import NotFoundError, ValidationError
from core.models import DiscordDestination, TelegramDestination
from core.query.errors import QuerySyntaxError
from core.services.deliveries import DeliveryService
from core.support.timeutil import utcnow
from tests.apikit import ALICE, BOB, CHAIN, OTHER_CHAIN, Env, make_config, seed_notifications

ALICE_TG = ChatContext(platform="telegram", user_id=101, chat_id=101, username="alice")
BOB_TG = ChatContext(platform="telegram", user_id=202, chat_id=202, username="bob")
GROUP = -100500


def group(user_id: int, *, admin: bool) -> ChatContext:
    return ChatContext(
        platform="telegram", user_id=user_id, chat_id=GROUP, is_group=True, is_admin=admin, chat_title="Whales"
    )


def guild_channel(user_id: int, *, admin: bool, channel: int = 900) -> ChatContext:
    return ChatContext(platform="discord", user_id=user_id, chat_id=channel, is_group=True, guild_id=77, is_admin=admin)


@pytest.fixture
def actions(env: Env) -> ChatActions:
    return ChatActions(env.services, send_sample=DeliveryService(env.repos, env.outbox).send_sample)


async def test_register_creates_account_identity_and_chat_destination_once(env: Env, actions: ChatActions) -> None:
    first = await actions.register(ALICE_TG)
    again = await actions.register(ALICE_TG)
    assert first.created and not again.created
    assert first.account.id == again.account.id and first.destination.id == again.destination.id
    [identity] = env.services.accounts.identities(first.account.id)
    assert (identity.kind, identity.external_id, identity.username) == ("telegram", "101", "alice")
    assert isinstance(first.destination, TelegramDestination) and first.destination.chat_id == 101


async def test_watch_resolves_the_chain_from_the_prefix_and_is_idempotent(env: Env, actions: ChatActions) -> None:
    result = await actions.watch(ALICE_TG, f"  \u200b{BOB.upper()}\u200f ")
    sub = result.subscription
    assert result.created and result.chain.id == CHAIN
    assert sub.preset == "funds_either" and sub.params == {"address": BOB}
    assert f"transfer.recipient = '{BOB}'" in sub.queries and f"transfer.sender = '{BOB}'" in sub.queries
    assert sub.destination_ids == [(await actions.register(ALICE_TG)).destination.id]
    tx = {"transfer.recipient": [BOB], "transfer.sender": [ALICE]}
    assert [s.id for s in env.matcher.match(CHAIN, tx)] == [sub.id]
    again = await actions.watch(ALICE_TG, BOB)
    assert not again.created and again.subscription.id == sub.id
    assert len(await actions.list(ALICE_TG)) == 1


async def test_watch_refuses_bad_addresses_helpfully(actions: ChatActions) -> None:
    with pytest.raises(ValidationError, match="checksum"):
        await actions.watch(ALICE_TG, BOB[:-1] + ("q" if BOB[-1] != "q" else "p"))
    with pytest.raises(
        ValidationError, match=r"juno1… is a Juno address; this service watches Test chain \(cosmos1…\)"
    ):
        await actions.watch(ALICE_TG, "juno1qypqxpq9qcrsszg2pvxq6rs0zqg3yyc5fs09pq")
    with pytest.raises(ValidationError, match="validator address"):
        await actions.watch(ALICE_TG, "cosmosvaloper1qypqxpq9qcrsszg2pvxq6rs0zqg3yyc56kct20")
    with pytest.raises(ValidationError, match="a bech32 address is required"):
        await actions.watch(ALICE_TG, "\u200b")
    with pytest.raises(ValidationError, match="Other chain addresses start with osmo1"):
        await actions.watch(ALICE_TG, BOB, OTHER_CHAIN)
    assert await actions.list(ALICE_TG) == []


async def test_watch_asks_when_several_chains_share_the_prefix(tmp_path: Path) -> None:
    config = make_config()
    config.chains.append(
        ChainConfig(
            id="cosmos-testnet",
            name="Cosmos testnet",
            rpc=["http://127.0.0.1:9"],
            bech32_prefix="cosmos",
            denoms=[Denom(base="uatom", display="ATOM", exponent=6)],
        )
    )
    env = Env(tmp_path, config=config)
    try:
        actions = ChatActions(env.services)
        with pytest.raises(ChainChoiceRequired) as asked:
            await actions.watch(ALICE_TG, BOB)
        assert [c.id for c in asked.value.choices] == [CHAIN, "cosmos-testnet"] and asked.value.address == BOB
        assert (await actions.watch(ALICE_TG, BOB, "cosmos-testnet")).subscription.chain_id == "cosmos-testnet"
    finally:
        env.close()


async def test_subscribe_with_preset_or_raw_query(actions: ChatActions) -> None:
    sub = await actions.subscribe(ALICE_TG, CHAIN, preset="funds_received", params={"address": BOB, "min_amount": "2"})
    assert sub.name == f"Funds received · {short_address(BOB)}" and sub.post_filter is not None
    raw = await actions.subscribe(
        ALICE_TG, CHAIN, query="tm.event = \u2018Tx\u2019 AND message.action EXISTS", name="txs"
    )
    assert raw.queries == ["tm.event = 'Tx' AND message.action EXISTS"] and raw.name == "txs"
    with pytest.raises(QuerySyntaxError) as bad:
        await actions.subscribe(ALICE_TG, CHAIN, query="tm.event = 'Tx' AND")
    assert bad.value.caret_lines.endswith("^") and bad.value.position == 19
    with pytest.raises(ValidationError, match="not a configured chain"):
        await actions.subscribe(ALICE_TG, "nope-1", query="tm.event = 'Tx'")
    with pytest.raises(ValidationError, match="address"):
        await actions.subscribe(ALICE_TG, OTHER_CHAIN, preset="funds_received", params={"address": BOB})
    assert len(await actions.list(ALICE_TG)) == 2


def test_check_param_validates_one_parameter_at_a_time(actions: ChatActions) -> None:
    assert actions.check_param(CHAIN, "funds_received", "address", BOB.upper()) == BOB
    assert actions.check_param(CHAIN, "funds_received", "min_amount", "") == ""
    assert actions.check_param(CHAIN, "contract_events", "attributes", "action = swap") == "action=swap"
    with pytest.raises(ValidationError, match="expected an address starting with osmo1"):
        actions.check_param(OTHER_CHAIN, "funds_received", "address", BOB)
    with pytest.raises(ValidationError, match="min_amount: a positive decimal"):
        actions.check_param(CHAIN, "funds_received", "min_amount", "-1")


async def test_pause_resume_unsubscribe_and_foreign_ids_are_not_found(env: Env, actions: ChatActions) -> None:
    sub = (await actions.watch(ALICE_TG, BOB)).subscription
    assert not (await actions.pause(ALICE_TG, sub.id)).enabled
    assert (await actions.resume(ALICE_TG, f" {sub.id}\u200b")).enabled
    for op in (actions.pause, actions.resume, actions.unsubscribe, actions.get):
        with pytest.raises(NotFoundError, match="subscription not found"):
            await op(BOB_TG, sub.id)
        with pytest.raises(NotFoundError, match="subscription not found"):
            await op(ALICE_TG, "sub_doesnotexist")
    with pytest.raises(NotFoundError):
        await actions.pause(ALICE_TG, "sub_\x00\U0001f600")
    with pytest.raises(ValidationError, match="subscription id"):
        await actions.pause(ALICE_TG, "  ")
    assert env.repos.subscriptions.get(sub.id) is not None and env.repos.subscriptions.get(sub.id).enabled
    assert (await actions.unsubscribe(ALICE_TG, sub.id)).id == sub.id
    assert await actions.list(ALICE_TG) == [] and env.matcher.match(CHAIN, {"transfer.recipient": [BOB]}) == []


async def test_group_subscriptions_belong_to_the_group_and_only_admins_change_them(
    env: Env, actions: ChatActions
) -> None:
    with pytest.raises(PermissionDeniedError, match="administrators"):
        await actions.watch(group(1, admin=False), BOB)
    made = (await actions.watch(group(2, admin=True), BOB)).subscription
    reg = await actions.register(group(1, admin=False))
    assert made.owner_id == reg.account.id
    [identity] = env.services.accounts.identities(reg.account.id)
    assert (identity.kind, identity.external_id) == ("telegram", f"chat:{GROUP}")
    assert isinstance(reg.destination, TelegramDestination) and reg.destination.chat_id == GROUP
    assert [s.id for s in await actions.list(group(1, admin=False))] == [made.id]  # anyone may list
    for op in (actions.pause, actions.resume, actions.unsubscribe):
        with pytest.raises(PermissionDeniedError):
            await op(group(1, admin=False), made.id)
    with pytest.raises(PermissionDeniedError):
        await actions.subscribe(group(1, admin=False), CHAIN, query="tm.event = 'Tx'")
    # The admin's own private chat does not see (or touch) the group's subscription.
    admin_dm = ChatContext(platform="telegram", user_id=2, chat_id=2)
    assert await actions.list(admin_dm) == []
    with pytest.raises(NotFoundError):
        await actions.pause(admin_dm, made.id)
    with pytest.raises(ValidationError, match="private chat"):
        await actions.link(group(2, admin=True), "ABCD2345")
    assert env.repos.subscriptions.get(made.id).enabled


async def test_discord_server_and_dm_ownership(env: Env, actions: ChatActions) -> None:
    sub = (await actions.watch(guild_channel(5, admin=True), BOB)).subscription
    reg = await actions.register(guild_channel(6, admin=False, channel=901))
    assert sub.owner_id == reg.account.id  # the server's account, from any of its channels
    [identity] = env.services.accounts.identities(reg.account.id)
    assert (identity.kind, identity.external_id) == ("discord", "guild:77")
    dest = env.repos.destinations.get(sub.destination_ids[0])
    assert isinstance(dest, DiscordDestination) and dest.channel_id == 900 and dest.guild_id == 77
    with pytest.raises(PermissionDeniedError, match="Manage Server"):
        await actions.pause(guild_channel(6, admin=False), sub.id)
    dm = ChatContext(platform="discord", user_id=5, chat_id=555)
    dm_dest = (await actions.register(dm)).destination
    assert isinstance(dm_dest, DiscordDestination) and dm_dest.user_id == 5 and dm_dest.channel_id is None
    with pytest.raises(NotFoundError):
        await actions.resume(dm, sub.id)


async def test_history_shows_only_what_this_chat_received(env: Env, actions: ChatActions) -> None:
    reg = await actions.register(ALICE_TG)
    other = await env.services.destinations.ensure_telegram_chat(reg.account.id, 999)
    start = utcnow() - timedelta(hours=1)
    seed_notifications(env.repos, reg.account.id, "sub_x", 3, start=start, destination_ids=(reg.destination.id,))
    seed_notifications(
        env.repos, reg.account.id, "sub_y", 3, start=start, destination_ids=(other.id,), first_height=100
    )
    got = await actions.history(ALICE_TG, 10)
    assert [n.height for n in got] == [3, 2, 1]
    assert [n.height for n in await actions.history(ALICE_TG, 1)] == [3]
    assert await actions.history(BOB_TG) == []
    with pytest.raises(ValidationError, match="1 to 50"):
        await actions.history(ALICE_TG, 0)


async def test_link_joins_the_chat_identity_to_the_rest_account(env: Env, actions: ChatActions) -> None:
    sub = (await actions.watch(ALICE_TG, BOB)).subscription
    rest = env.repos.accounts.get((await env.services.accounts.get_or_create_for_identity("email", "x@example.com")).id)
    assert rest is not None
    code = (await env.services.accounts.create_link_code(rest.id)).code
    with pytest.raises(ValidationError, match="not valid or has expired"):
        await actions.link(ALICE_TG, "WRONG234")
    assert (await actions.link(ALICE_TG, f"{code[:4]}-{code[4:].lower()}")).id == rest.id
    assert (await actions.register(ALICE_TG)).account.id == rest.id
    assert [s.id for s in await actions.list(ALICE_TG)] == [sub.id]
    with pytest.raises(ValidationError, match="code: required"):
        await actions.link(ALICE_TG, "\u200b")


async def test_test_queues_a_sample_notification_through_the_outbox(env: Env, actions: ChatActions) -> None:
    notification_id = await actions.test(ALICE_TG)
    reg = await actions.register(ALICE_TG)
    [pending] = env.outbox.due(utcnow() + timedelta(seconds=1), 10)
    entry = pending.entry
    assert (entry.notification_id, entry.destination_id) == (notification_id, reg.destination.id)
    [shown] = await actions.history(ALICE_TG)
    assert shown.subscription_name == "Mempools: test notification"
    with pytest.raises(PermissionDeniedError):
        await actions.test(group(1, admin=False))
