"""AccountService: registration, login, sessions, API keys, bot identities and link codes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from core.errors import NotFoundError, QuotaExceededError, ValidationError
from core.services.errors import AuthenticationError, ConflictError
from tests.apikit import CHAIN, PASSWORD, Env, MovableClock, seed_notifications


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def env(tmp_path: Path, clock: MovableClock):
    e = Env(tmp_path, clock=clock)
    yield e
    e.close()


async def test_register_normalises_email_and_refuses_duplicates(env: Env) -> None:
    accounts = env.services.accounts
    account = await accounts.register("  Alice@Example.COM ", PASSWORD)
    assert account.email == "alice@example.com"
    assert account.password_hash and account.password_hash.startswith("$argon2id$")
    assert [(i.kind, i.external_id) for i in accounts.identities(account.id)] == [("email", "alice@example.com")]
    with pytest.raises(ConflictError):
        await accounts.register("alice@example.com", PASSWORD)
    with pytest.raises(ValidationError, match="email"):
        await accounts.register("not-an-email", PASSWORD)
    with pytest.raises(ValidationError, match="password"):
        await accounts.register("bob@example.com", "short")


async def test_authenticate_gives_one_answer_for_unknown_email_and_wrong_password(env: Env) -> None:
    accounts = env.services.accounts
    account = await accounts.register("alice@example.com", PASSWORD)
    assert (await accounts.authenticate("ALICE@example.com", PASSWORD)).id == account.id
    with pytest.raises(AuthenticationError) as wrong:
        await accounts.authenticate("alice@example.com", "wrong password")
    with pytest.raises(AuthenticationError) as unknown:
        await accounts.authenticate("nobody@example.com", PASSWORD)
    assert str(wrong.value) == str(unknown.value) == "email or password is wrong"


async def test_sessions_expire_and_end(env: Env, clock: MovableClock) -> None:
    accounts = env.services.accounts
    account = await accounts.register("alice@example.com", PASSWORD)
    session, token = await accounts.create_session(account.id)
    assert session.id != token  # only the hash is stored
    assert await accounts.session_account(token) == account.id
    await accounts.end_session(token)
    with pytest.raises(AuthenticationError):
        await accounts.session_account(token)
    _, token = await accounts.create_session(account.id)
    clock.advance(accounts.session_ttl + timedelta(seconds=1))
    with pytest.raises(AuthenticationError, match="expired"):
        await accounts.session_account(token)


async def test_api_keys_hash_only_revoke_expire_and_touch_sparingly(env: Env, clock: MovableClock) -> None:
    accounts = env.services.accounts
    account = await accounts.register("alice@example.com", PASSWORD)
    key, plaintext = await accounts.create_api_key(account.id, "ci")
    assert plaintext.startswith("mp_") and key.prefix == plaintext[:10]
    stored = env.repos.api_keys.get(key.id)
    assert stored is not None and plaintext not in (stored.key_hash, stored.prefix)
    assert (await accounts.authenticate_api_key(plaintext)).account_id == account.id
    first_use = env.repos.api_keys.get(key.id).last_used_at  # type: ignore[union-attr]
    clock.advance(timedelta(seconds=30))
    await accounts.authenticate_api_key(plaintext)
    assert env.repos.api_keys.get(key.id).last_used_at == first_use  # type: ignore[union-attr]
    clock.advance(accounts.key_touch_interval)
    await accounts.authenticate_api_key(plaintext)
    assert env.repos.api_keys.get(key.id).last_used_at == clock.now  # type: ignore[union-attr]

    await accounts.revoke_api_key(account.id, key.id)
    with pytest.raises(AuthenticationError, match="revoked"):
        await accounts.authenticate_api_key(plaintext)
    other = await accounts.register("bob@example.com", PASSWORD)
    with pytest.raises(NotFoundError):
        await accounts.revoke_api_key(other.id, key.id)

    _, short_lived = await accounts.create_api_key(account.id, "short", expires_at=clock.now + timedelta(hours=1))
    clock.advance(timedelta(hours=2))
    with pytest.raises(AuthenticationError, match="expired"):
        await accounts.authenticate_api_key(short_lived)
    with pytest.raises(AuthenticationError):
        await accounts.authenticate_api_key("mp_forged")


async def test_api_key_quota(env: Env) -> None:
    accounts = env.services.accounts
    accounts.max_api_keys = 2
    account = await accounts.register("alice@example.com", PASSWORD)
    await accounts.create_api_key(account.id, "a")
    key, _ = await accounts.create_api_key(account.id, "b")
    with pytest.raises(QuotaExceededError):
        await accounts.create_api_key(account.id, "c")
    await accounts.revoke_api_key(account.id, key.id)
    await accounts.create_api_key(account.id, "c")  # revoked keys do not count


async def test_identity_accounts_are_created_once(env: Env) -> None:
    accounts = env.services.accounts
    first = await accounts.get_or_create_for_identity("telegram", "1001", "alice")
    again = await accounts.get_or_create_for_identity("telegram", "1001", "alice_renamed")
    assert first.id == again.id
    assert accounts.identities(first.id)[0].username == "alice_renamed"
    assert (await accounts.get_or_create_for_identity("discord", "1001", "alice")).id != first.id


async def test_link_code_joins_a_chat_identity_and_moves_what_it_owned(env: Env, clock: MovableClock) -> None:
    s = env.services
    web = await s.accounts.register("alice@example.com", PASSWORD)
    chat = await s.accounts.get_or_create_for_identity("telegram", "1001", "alice")
    dest = await s.destinations.ensure_telegram_chat(chat.id, 1001, chat_title="Alice")
    sub = await s.subscriptions.create(
        chat.id, chain_id=CHAIN, name="all txs", queries=["tm.event = 'Tx'"], destination_ids=[dest.id]
    )
    seed_notifications(env.repos, chat.id, sub.id, 1500, start=clock.now - timedelta(days=1))

    link = await s.accounts.create_link_code(web.id)
    assert len(link.code) == 8 and link.code.isupper()
    joined = await s.accounts.redeem_link_code(link.code.lower(), "telegram", "1001", "alice")
    assert joined.id == web.id
    assert [(i.kind, i.external_id) for i in s.accounts.identities(web.id)] == [
        ("email", "alice@example.com"),
        ("telegram", "1001"),
    ]
    assert (await s.accounts.get_or_create_for_identity("telegram", "1001")).id == web.id
    assert [x.id for x in s.subscriptions.list(web.id)] == [sub.id]
    assert [x.id for x in s.destinations.list(web.id)] == [dest.id]
    assert s.subscriptions.list(chat.id) == [] and s.destinations.list(chat.id) == []
    assert [m.owner_id for m in env.matcher.match(CHAIN, {"tm.event": ["Tx"]})] == [web.id]
    page = s.history.notifications(web.id, limit=200)
    assert len(page.items) == 200 and page.next_cursor is not None
    assert s.history.notifications(chat.id, limit=10).items == []
    with pytest.raises(ValidationError, match="not valid"):  # one time only
        await s.accounts.redeem_link_code(link.code, "discord", "77")


async def test_link_codes_expire_and_are_replaced(env: Env, clock: MovableClock) -> None:
    accounts = env.services.accounts
    web = await accounts.register("alice@example.com", PASSWORD)
    old = await accounts.create_link_code(web.id)
    new = await accounts.create_link_code(web.id)
    with pytest.raises(ValidationError):
        await accounts.redeem_link_code(old.code, "telegram", "1")
    clock.advance(timedelta(minutes=11))
    with pytest.raises(ValidationError, match="expired"):
        await accounts.redeem_link_code(new.code, "telegram", "1")


async def test_expired_sessions_and_link_codes_are_swept(tmp_path: Path) -> None:
    clock = MovableClock()
    env = Env(tmp_path, clock=clock)
    try:
        account = await env.services.accounts.register("sweep@example.com", "correct horse battery")
        _, live_token = await env.services.accounts.create_session(account.id)
        code = await env.services.accounts.create_link_code(account.id)
        assert await env.services.accounts.sweep_expired() == 0
        clock.advance(timedelta(days=30))
        assert await env.services.accounts.sweep_expired() == 2
        with pytest.raises(AuthenticationError):
            await env.services.accounts.session_account(live_token)
        with pytest.raises(ValidationError):
            await env.services.accounts.redeem_link_code(code.code, "telegram", "42")
        assert await env.services.accounts.sweep_expired() == 0
    finally:
        env.close()


async def test_move_identity_follows_a_chat_to_its_new_id(env: Env) -> None:
    accounts = env.services.accounts
    group = await accounts.get_or_create_for_identity("telegram", "chat:-4001", "Group")
    moved = await accounts.move_identity("telegram", "chat:-4001", "chat:-1009876")
    assert moved is not None and moved.id == group.id
    assert env.repos.identities.find("telegram", "chat:-1009876").account_id == group.id
    assert env.repos.identities.find("telegram", "chat:-4001") is None
    assert await accounts.move_identity("telegram", "chat:-4001", "chat:-1009876") is None  # told twice
    # A new id that already has its own account keeps it; the old identity stays where it was.
    other = await accounts.get_or_create_for_identity("telegram", "chat:-555", "Other")
    taken = await accounts.get_or_create_for_identity("telegram", "chat:-556", "Taken")
    assert (await accounts.move_identity("telegram", "chat:-555", "chat:-556")).id == other.id
    assert env.repos.identities.find("telegram", "chat:-556").account_id == taken.id
    assert env.repos.identities.find("telegram", "chat:-555").account_id == other.id
    for hostile in ("", "chat:\x00", "x" * 600):
        with pytest.raises(ValidationError):
            await accounts.move_identity("telegram", "chat:-555", hostile)
