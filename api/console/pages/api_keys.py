"""API keys: make one (shown once, with a curl example), see when each was last used, revoke."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from litestar import Request, Response, get, post
from litestar.response import Redirect, Template

from api.auth import is_secure
from api.console.forms import read_form, text
from api.console.once import forget_once, reveal_once, take_once
from api.console.render import is_htmx, page
from api.console.session import ViewerDep
from api.deps import AccountsDep, PathId, SettingsDep
from api.problems import problem_of
from core.errors import UserError, ValidationError

_PAGE = "keys/list.html"
_ROW = "keys/_row.html"
_PATH = "/console/api-keys"
#: The once-cookie names this, not a key id: the key is revealed on the list page.
_NEW_KEY = "new-key"


def _expiry(value: str) -> datetime | None:
    """The form's expiry date (YYYY-MM-DD): the key works until the end of that day, UTC."""
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise ValidationError("expires: a date such as 2027-01-31") from None
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)


def _page(
    request: Request[Any, Any, Any],
    viewer: ViewerDep,
    accounts: AccountsDep,
    api_settings: SettingsDep,
    *,
    key: str | None = None,
    status_code: int = 200,
    error: str | None = None,
    name: str = "",
    expires: str = "",
) -> Template:
    keys = sorted(accounts.list_api_keys(viewer.account_id), key=lambda k: k.created_at, reverse=True)
    base = api_settings.public_url or str(request.base_url).rstrip("/")
    return page(
        _PAGE,
        viewer,
        section="api-keys",
        title="API keys",
        status_code=status_code,
        keys=keys,
        new_key=key,
        api_base=base.rstrip("/"),
        error=error,
        name=name,
        expires=expires,
    )


@get("/api-keys", sync_to_thread=False)
def key_list(
    request: Request[Any, Any, Any], viewer: ViewerDep, accounts: AccountsDep, api_settings: SettingsDep
) -> Template:
    key = take_once(request, f"{_NEW_KEY}-{viewer.account_id}")
    shown = _page(request, viewer, accounts, api_settings, key=key)
    if key is not None:
        forget_once(shown, path=_PATH)
    return shown


@post("/api-keys/new")
async def create_key(
    request: Request[Any, Any, Any], viewer: ViewerDep, accounts: AccountsDep, api_settings: SettingsDep
) -> Response[Any] | Template:
    """A new key: the list shows its plaintext on the next view only (only a hash is stored)."""
    form = await read_form(request)
    name, expires = text(form, "name", 200), text(form, "expires", 20)
    try:
        _, plaintext = await accounts.create_api_key(viewer.account_id, name, expires_at=_expiry(expires))
    except UserError as exc:
        problem, _ = problem_of(request, exc)
        return _page(
            request, viewer, accounts, api_settings,
            status_code=problem.status, error=str(exc), name=name, expires=expires,
        )  # fmt: skip
    answer = Redirect(_PATH, status_code=303)
    reveal_once(
        answer,
        path=_PATH,
        object_id=f"{_NEW_KEY}-{viewer.account_id}",
        secret=plaintext,
        secure=is_secure(request, api_settings.public_url),
    )
    return answer


@post("/api-keys/{key_id:str}/revoke")
async def revoke_key(
    key_id: PathId, request: Request[Any, Any, Any], viewer: ViewerDep, accounts: AccountsDep
) -> Response[Any] | Template:
    """Revoked: the API answers 401 to it from now on; it stays listed, marked revoked."""
    await read_form(request)
    key = await accounts.revoke_api_key(viewer.account_id, key_id)
    if is_htmx(request):
        return page(_ROW, viewer, title="API keys", key=key)
    return Redirect(_PATH, status_code=303)


HANDLERS = [key_list, create_key, revoke_key]
