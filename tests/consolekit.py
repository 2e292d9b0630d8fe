"""Signing up in the web console as a browser does, for the console tests: the sign-up page's
form token, the form post, the session cookie; then the page's token for the forms that follow."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import httpx

from tests.apikit import PASSWORD, same_origin

_TOKEN = re.compile(r'name="_csrf" value="([0-9a-f]+)"')

#: A form's fields; a list is a field sent once per value (checkboxes).
FormData = Mapping[str, str | Sequence[str]]


def csrf_of(html: str) -> str:
    """The form token a console page carries."""
    found = _TOKEN.search(html)
    assert found is not None, "no _csrf field on the page"
    return found.group(1)


def texts_by_testid(page: str, testid: str) -> list[str]:
    """The text of every element with this data-testid (tags stripped, entities decoded)."""
    found = re.findall(rf'data-testid="{testid}"[^>]*>(.*?)</(?:p|pre|span|div|ul|li|tr|code|strong)>', page, re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", f)).strip() for f in found]


@dataclass
class ConsoleUser:
    client: httpx.AsyncClient  # holds the session cookie
    account_id: str
    csrf: str

    async def get(self, path: str) -> httpx.Response:
        return await self.client.get(path)

    async def post(
        self, path: str, data: FormData | None = None, *, htmx: bool = False, token: bool = True
    ) -> httpx.Response:
        """A console form post from the console's own origin, with this session's token unless
        `token` is False (a forged post); `htmx` adds the header htmx sends."""
        headers = same_origin(self.client) | ({"HX-Request": "true"} if htmx else {})
        fields: dict[str, str | Sequence[str]] = {"_csrf": self.csrf} if token else {}
        return await self.client.post(path, data={**fields, **(data or {})}, headers=headers)


async def console_signup(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD, *, display_name: str | None = None
) -> ConsoleUser:
    """Sign up through /console/signup with `client` (one client per user: it keeps the cookies)."""
    form = await client.get("/console/signup")
    assert form.status_code == 200, form.text
    r = await client.post(
        "/console/signup",
        data={"_csrf": csrf_of(form.text), "email": email, "password": password}
        | ({"display_name": display_name} if display_name is not None else {}),
        headers=same_origin(client),
    )
    assert r.status_code == 303 and r.headers["location"] == "/console", r.text
    overview = await client.get("/console")
    assert overview.status_code == 200, overview.text
    me = await client.get("/v1/me")
    assert me.status_code == 200, me.text
    return ConsoleUser(client=client, account_id=me.json()["id"], csrf=csrf_of(overview.text))
