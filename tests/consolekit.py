"""Signing up in the web console as a browser does, for the console tests: the sign-up page's
form token, the form post, the session cookie; then the page's token for the forms that follow."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx

from tests.apikit import PASSWORD, same_origin

_TOKEN = re.compile(r'name="_csrf" value="([0-9a-f]+)"')


def csrf_of(html: str) -> str:
    """The form token a console page carries."""
    found = _TOKEN.search(html)
    assert found is not None, "no _csrf field on the page"
    return found.group(1)


@dataclass
class ConsoleUser:
    client: httpx.AsyncClient  # holds the session cookie
    account_id: str
    csrf: str

    async def post(self, path: str, data: dict[str, str] | None = None, *, htmx: bool = False) -> httpx.Response:
        """A console form post with this session's token, from the console's own origin."""
        headers = same_origin(self.client) | ({"HX-Request": "true"} if htmx else {})
        return await self.client.post(path, data={"_csrf": self.csrf, **(data or {})}, headers=headers)


async def console_signup(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> ConsoleUser:
    """Sign up through /console/signup with `client` (one client per user: it keeps the cookies)."""
    form = await client.get("/console/signup")
    assert form.status_code == 200, form.text
    r = await client.post(
        "/console/signup",
        data={"_csrf": csrf_of(form.text), "email": email, "password": password},
        headers=same_origin(client),
    )
    assert r.status_code == 303 and r.headers["location"] == "/console", r.text
    overview = await client.get("/console")
    assert overview.status_code == 200, overview.text
    me = await client.get("/v1/me")
    assert me.status_code == 200, me.text
    return ConsoleUser(client=client, account_id=me.json()["id"], csrf=csrf_of(overview.text))
