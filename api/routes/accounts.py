"""Accounts, login sessions, API keys and link codes."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, delete, get, post
from litestar.params import JSONBody

from api.auth import CLEAR_SESSION, SESSION_COOKIE, client_address, is_secure, session_cookie
from api.deps import AccountsDep, CallerDep, OriginPolicyDep, PathId, SettingsDep, SignupThrottleDep, ThrottleDep
from api.pagination import ApiKeyPage
from api.problems import problems
from api.schemas import (
    AccountCreate,
    AccountOut,
    ApiKeyCreate,
    ApiKeyOut,
    IdentityOut,
    LinkCodeOut,
    LoginRequest,
    SessionOut,
)
from core.models import Account
from core.services.accounts import AccountService

TAGS = ["accounts"]


def _account_out(accounts: AccountService, account: Account) -> AccountOut:
    return AccountOut(
        id=account.id,
        email=account.email,
        display_name=account.display_name,
        created_at=account.created_at,
        identities=[
            IdentityOut(kind=i.kind, external_id=i.external_id, username=i.username, created_at=i.created_at)
            for i in accounts.identities(account.id)
        ],
    )


@post("/v1/accounts", tags=TAGS, responses=problems(409, 422, 429, 503))
async def register(
    request: Request[Any, Any, Any], data: JSONBody[AccountCreate], accounts: AccountsDep, signups: SignupThrottleDep
) -> AccountOut:
    """Create an account with an email and a password (at least 8 characters). Throttled per client address."""
    signups.attempt(client_address(request))
    account = await accounts.register(data.email, data.password, display_name=data.display_name)
    return _account_out(accounts, account)


@post("/v1/sessions", tags=TAGS, responses=problems(401, 403, 429, 503))
async def login(
    request: Request[Any, Any, Any],
    data: JSONBody[LoginRequest],
    accounts: AccountsDep,
    throttle: ThrottleDep,
    api_settings: SettingsDep,
    origin_policy: OriginPolicyDep,
) -> Response[SessionOut]:
    """Log in: sets an HttpOnly, SameSite=Lax session cookie. Throttled per email and per client address.

    A browser login from another site's page is refused (403) before the password is looked at."""
    origin_policy.check_login(request)
    address = client_address(request)
    throttle.attempt(data.email, address)  # counted now, before the hash: a burst cannot outrun it
    account = await accounts.authenticate(data.email, data.password)
    throttle.success(data.email, address)
    session, token = await accounts.create_session(account.id)
    cookie = session_cookie(
        token, session.expires_at, session.created_at, secure=is_secure(request, api_settings.public_url)
    )
    return Response(SessionOut(account_id=account.id, expires_at=session.expires_at), status_code=201, cookies=[cookie])


@delete("/v1/sessions", tags=TAGS, status_code=204, responses=problems(403), response_cookies=[CLEAR_SESSION])
async def logout(request: Request[Any, Any, Any], accounts: AccountsDep, origin_policy: OriginPolicyDep) -> None:
    """Log out: ends the session of the cookie (if any) and clears the cookie."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        origin_policy.check_cookie_write(request)
        await accounts.end_session(token)


@get("/v1/me", tags=TAGS, responses=problems(401))
async def me(caller: CallerDep, accounts: AccountsDep) -> AccountOut:
    """The calling account and its identities (email, Telegram, Discord)."""
    return _account_out(accounts, accounts.get(caller.account_id))


@post("/v1/api-keys", tags=TAGS, responses=problems(401, 403, 422))
async def create_api_key(data: JSONBody[ApiKeyCreate], caller: CallerDep, accounts: AccountsDep) -> ApiKeyOut:
    """A new API key. The `key` is in this answer only: only its hash is stored."""
    key, plaintext = await accounts.create_api_key(caller.account_id, data.name, expires_at=data.expires_at)
    return ApiKeyOut.of(key, plaintext)


@get("/v1/api-keys", tags=TAGS, responses=problems(401))
async def list_api_keys(caller: CallerDep, accounts: AccountsDep) -> ApiKeyPage:
    """The account's API keys, revoked ones included, in one page (never the keys themselves)."""
    return ApiKeyPage(items=[ApiKeyOut.of(k) for k in accounts.list_api_keys(caller.account_id)], next_cursor=None)


@delete("/v1/api-keys/{key_id:str}", tags=TAGS, status_code=204, responses=problems(401, 404))
async def revoke_api_key(key_id: PathId, caller: CallerDep, accounts: AccountsDep) -> None:
    """Revoke a key: requests with it get 401 from now on."""
    await accounts.revoke_api_key(caller.account_id, key_id)


@post("/v1/link-codes", tags=TAGS, responses=problems(401))
async def create_link_code(caller: CallerDep, accounts: AccountsDep) -> LinkCodeOut:
    """A one-time code (10 minutes) that joins a Telegram or Discord user to this account."""
    link = await accounts.create_link_code(caller.account_id)
    return LinkCodeOut(
        code=link.code,
        expires_at=link.expires_at,
        instructions=f"Send /link {link.code} to the Mempools bot on Telegram or Discord.",
    )


HANDLERS = [register, login, logout, me, create_api_key, list_api_keys, revoke_api_key, create_link_code]
