"""Link bots: a one-time code that joins a Telegram or Discord user to this account, and the
identities already joined."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.response import Template

from api.console.forms import read_form
from api.console.render import is_htmx, page
from api.console.session import ViewerDep
from api.deps import AccountsDep
from core.services.records import LinkCode

_PAGE = "link/page.html"
_CODE = "link/_code.html"


def _page(viewer: ViewerDep, accounts: AccountsDep, code: LinkCode | None = None) -> Template:
    return page(
        _PAGE,
        viewer,
        section="link",
        title="Link bots",
        code=code,
        identities=accounts.identities(viewer.account_id),
    )


@get("/link", sync_to_thread=False)
def link_page(viewer: ViewerDep, accounts: AccountsDep) -> Template:
    return _page(viewer, accounts)


@post("/link")
async def make_link_code(request: Request[Any, Any, Any], viewer: ViewerDep, accounts: AccountsDep) -> Template:
    """A fresh code (earlier unused ones stop working), shown with what to send to each bot.

    A plain post answers with the page itself: posting again only makes another code."""
    await read_form(request)
    code = await accounts.create_link_code(viewer.account_id)
    if is_htmx(request):
        return page(_CODE, viewer, title="Link bots", code=code)
    return _page(viewer, accounts, code)


HANDLERS = [link_page, make_link_code]
