"""The web console as a browser uses it: sign up through its form, then post forms with the token.

`ConsoleUser.post` sends what a browser sends for a console form: urlencoded fields with the
page's `_csrf` token and the app's own Origin; `htmx=True` adds the headers htmx adds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import httpx

from tests.apikit import PASSWORD, same_origin

_TOKEN = re.compile(r'name="_csrf" value="([0-9a-f]{64})"')

FormData = Mapping[str, str | Sequence[str]]


def csrf_token_of(html: str) -> str:
    found = _TOKEN.search(html)
    assert found is not None, "no _csrf field on the page"
    return found.group(1)


@dataclass
class ConsoleUser:
    client: httpx.AsyncClient
    token: str
    account_id: str

    async def get(self, path: str) -> httpx.Response:
        return await self.client.get(path)

    async def post(
        self, path: str, data: FormData | None = None, *, htmx: bool = False, token: bool = True
    ) -> httpx.Response:
        fields: dict[str, str | Sequence[str]] = dict(data or {})
        if token:
            fields["_csrf"] = self.token
        headers = same_origin(self.client)
        if htmx:
            headers |= {"HX-Request": "true", "HX-Current-URL": f"{self.client.base_url}{path}"}
        return await self.client.post(path, data=fields, headers=headers)


async def console_signup(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> ConsoleUser:
    """Sign up through /console/signup as a browser does; the client keeps the session cookie."""
    page = await client.get("/console/signup")
    assert page.status_code == 200, page.text
    r = await client.post(
        "/console/signup",
        data={"_csrf": csrf_token_of(page.text), "email": email, "password": password},
        headers=same_origin(client),
    )
    assert r.status_code == 303, r.text
    me = (await client.get("/v1/me")).json()
    overview = await client.get("/console")
    assert overview.status_code == 200, overview.text
    return ConsoleUser(client=client, token=csrf_token_of(overview.text), account_id=me["id"])
