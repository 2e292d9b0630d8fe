"""SubscriptionService and DestinationService: ownership, quotas, presets and the live matcher."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from core.errors import NotFoundError, QuotaExceededError, ValidationError
from core.query.addresses import module_address
from core.query.errors import QuerySyntaxError
from core.query.filters import TransferFilter
from tests.apikit import ALICE, BOB, CHAIN, Env, make_config

TX = {"tm.event": ["Tx"], "transfer.recipient": [BOB], "transfer.sender": [ALICE], "transfer.amount": ["2000000uatom"]}


@pytest.fixture
def env(tmp_path: Path):
    e = Env(tmp_path, config=make_config(subscriptions_per_account=3, destinations_per_account=2))
    yield e
    e.close()


async def test_create_normalises_queries_and_feeds_the_matcher(env: Env) -> None:
    subs = env.services.subscriptions
    await env.services.destinations.ensure_telegram_chat("acc_a", 42)  # a subscription needs somewhere to deliver
    sub = await subs.create("acc_a", chain_id=CHAIN, name="to bob", queries=[f"transfer.recipient='{BOB}'"])
    assert sub.queries == [f"transfer.recipient = '{BOB}'"]
    assert [s.id for s in env.matcher.match(CHAIN, TX)] == [sub.id]
    await subs.pause("acc_a", sub.id)
    assert env.matcher.match(CHAIN, TX) == []
    await subs.resume("acc_a", sub.id)
    await subs.update("acc_a", sub.id, queries=[f"transfer.sender = '{BOB}'"])
    assert env.matcher.match(CHAIN, TX) == []
    await subs.update("acc_a", sub.id, queries=[f"transfer.sender = '{ALICE}'"])
    assert [s.id for s in env.matcher.match(CHAIN, TX)] == [sub.id]
    await subs.delete("acc_a", sub.id)
    assert env.matcher.match(CHAIN, TX) == []
    assert env.repos.subscriptions.get(sub.id) is None


async def test_bad_input_is_refused_precisely(env: Env) -> None:
    subs = env.services.subscriptions
    with pytest.raises(QuerySyntaxError) as bad:
        await subs.create("acc_a", chain_id=CHAIN, name="x", queries=["tm.event = 'Tx' AND"])
    assert bad.value.position == 19
    with pytest.raises(ValidationError, match="not a configured chain"):
        await subs.create("acc_a", chain_id="nope-1", name="x", queries=["tm.event = 'Tx'"])
    with pytest.raises(ValidationError, match="either queries or a preset"):
        await subs.create("acc_a", chain_id=CHAIN, name="x")
    with pytest.raises(ValidationError, match="unknown preset"):
        await subs.create("acc_a", chain_id=CHAIN, name="x", preset="nope")
    with pytest.raises(ValidationError, match="address"):
        await subs.create("acc_a", chain_id=CHAIN, name="x", preset="funds_received", params={"address": "cosmos1bad"})
    assert env.repos.subscriptions.of_owner("acc_a") == []


async def test_preset_builds_queries_and_post_filter(env: Env) -> None:
    await env.services.destinations.ensure_telegram_chat("acc_a", 42)
    sub = await env.services.subscriptions.create(
        "acc_a",
        chain_id=CHAIN,
        name="bob gets 1.5 ATOM",
        preset="funds_received",
        params={"address": BOB, "min_amount": "1.5", "denom": "ATOM"},
    )
    assert f"transfer.recipient = '{BOB}'" in sub.queries
    assert sub.post_filter == TransferFilter(
        recipient=BOB, denom="uatom", min_amount=1_500_000, exclude_recipient=module_address("fee_collector", "cosmos")
    )
    assert sub.params == {"address": BOB, "min_amount": "1.5", "denom": "ATOM"}
    stored = env.repos.subscriptions.get(sub.id)
    assert stored is not None and stored.post_filter == sub.post_filter


async def test_destinations_must_be_the_owners(env: Env) -> None:
    s = env.services
    mine = await s.destinations.ensure_telegram_chat("acc_a", 42)
    theirs = await s.destinations.ensure_telegram_chat("acc_b", 43)
    with pytest.raises(NotFoundError, match="not found"):
        await s.subscriptions.create(
            "acc_a", chain_id=CHAIN, name="x", queries=["tm.event = 'Tx'"], destination_ids=[theirs.id]
        )
    sub = await s.subscriptions.create(
        "acc_a", chain_id=CHAIN, name="x", queries=["tm.event = 'Tx'"], destination_ids=[mine.id, mine.id]
    )
    assert sub.destination_ids == [mine.id]
    with pytest.raises(NotFoundError):
        s.subscriptions.get("acc_b", sub.id)
    with pytest.raises(NotFoundError):
        await s.subscriptions.update("acc_b", sub.id, name="mine now")
    with pytest.raises(NotFoundError):
        await s.subscriptions.delete("acc_b", sub.id)


async def test_quotas(env: Env) -> None:
    s = env.services
    await s.destinations.ensure_telegram_chat("acc_a", 1)
    for i in range(3):
        await s.subscriptions.create("acc_a", chain_id=CHAIN, name=f"s{i}", queries=["tm.event = 'Tx'"])
    with pytest.raises(QuotaExceededError, match="3 subscriptions"):
        await s.subscriptions.create("acc_a", chain_id=CHAIN, name="s4", queries=["tm.event = 'Tx'"])
    await s.destinations.ensure_discord("acc_a", channel_id=2)
    assert (await s.destinations.ensure_telegram_chat("acc_a", 1)).chat_id == 1  # existing: no quota needed
    with pytest.raises(QuotaExceededError, match="2 destinations"):
        await s.destinations.ensure_discord("acc_a", user_id=3)


async def test_telegram_and_discord_destinations_are_idempotent_per_owner(env: Env) -> None:
    d = env.services.destinations
    a = await d.ensure_telegram_chat("acc_a", -100123, chat_title="Group")
    assert (await d.ensure_telegram_chat("acc_a", -100123, chat_title="Renamed")).id == a.id
    assert d.get("acc_a", a.id).chat_title == "Renamed"  # type: ignore[union-attr]
    assert (await d.ensure_telegram_chat("acc_b", -100123)).id != a.id
    dm = await d.ensure_discord("acc_a", user_id=7)
    assert (await d.ensure_discord("acc_a", user_id=7)).id == dm.id
    with pytest.raises(ValidationError):
        await d.ensure_discord("acc_a", channel_id=1, user_id=2)


async def test_webhooks_secret_rotation_and_deletion_updates_subscriptions(env: Env) -> None:
    s = env.services
    hook = await s.destinations.create_webhook("acc_a", "http://127.0.0.1:9/hook")
    assert hook.secret.startswith("whsec_") and hook.name == "127.0.0.1"
    chat = await s.destinations.ensure_telegram_chat("acc_a", 5)
    sub = await s.subscriptions.create(
        "acc_a", chain_id=CHAIN, name="x", queries=["tm.event = 'Tx'"], destination_ids=[hook.id, chat.id]
    )
    rotated = await s.destinations.rotate_secret("acc_a", hook.id)
    assert rotated.secret != hook.secret and rotated.previous_secret == hook.secret
    assert rotated.previous_secret_expires_at is not None
    off = await s.destinations.update("acc_a", hook.id, enabled=False, name="primary")
    assert (off.enabled, off.name, off.disabled_reason) == (False, "primary", "disabled by its owner")
    await s.destinations.delete("acc_a", hook.id)
    assert s.subscriptions.get("acc_a", sub.id).destination_ids == [chat.id]
    assert env.matcher.match(CHAIN, TX)[0].destination_ids == [chat.id]
    with pytest.raises(NotFoundError):
        s.destinations.get("acc_a", hook.id)


async def test_webhook_urls_are_checked_for_ssrf(tmp_path: Path) -> None:
    config = make_config()
    config.webhooks.allow_private_networks = False
    env = Env(tmp_path, config=config)
    try:
        with pytest.raises(ValidationError, match="loopback"):
            await env.services.destinations.create_webhook("acc_a", "http://127.0.0.1/hook")
        with pytest.raises(ValidationError, match="http or https"):
            await env.services.destinations.create_webhook("acc_a", "ftp://example.com/hook")
    finally:
        env.close()


async def test_mute_lasts_a_positive_time_and_resume_clears_it(env: Env) -> None:
    subs = env.services.subscriptions
    await env.services.destinations.ensure_telegram_chat("acc_a", 42)
    sub = await subs.create("acc_a", chain_id=CHAIN, name="to bob", queries=[f"transfer.recipient='{BOB}'"])
    with pytest.raises(ValidationError, match="a mute lasts a positive time"):
        await subs.mute("acc_a", sub.id, timedelta(0))
    assert env.repos.subscriptions.get(sub.id).muted_until is None
    muted = await subs.mute("acc_a", sub.id, timedelta(hours=1))
    assert muted.enabled and muted.muted_until is not None
    assert env.repos.subscriptions.get(sub.id).muted_until == muted.muted_until
    assert (await subs.resume("acc_a", sub.id)).muted_until is None
    assert env.repos.subscriptions.get(sub.id).muted_until is None
