"""Every error class reads the same in the API and both bots: one table (`core/errors.py`).

For each class of the tree, an instance is raised in a real Litestar route on loopback (with the
API's own exception handlers) and given to the Telegram and Discord reply functions. The API's
status and problem type are the contract below; the sentence a person reads is the same in all
three; an internal error is a 500 whose error id every front door repeats, never a 400.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterator
from html import unescape

import httpx
import pytest
from litestar import Litestar, get

import api.console.forms
import api.console.session
import api.csrf
import bot.actions
import bot.discord.frontdoor
import core.chain.errors
import core.cluster.store
import core.dispatch.dispatcher
import core.dispatch.http
import core.dispatch.ssrf
import core.errors
import core.query.errors
import core.store.collection
import mempools.cli
import mempools.control
import mempools.runtime
from api.problems import EXCEPTION_HANDLERS
from bot.discord import replies
from bot.telegram.format import error_text
from core.errors import STORE_BUSY, MempoolsError, sentence
from core.models import Chain
from tests.loopback_api import serve_api

MODULES = (
    api.csrf,
    bot.actions,
    bot.discord.frontdoor,
    core.chain.errors,
    core.dispatch.dispatcher,
    core.dispatch.http,
    core.dispatch.ssrf,
    core.query.errors,
    core.store.collection,
    mempools.cli,
    mempools.control,
    mempools.runtime,
)  # fmt: skip  (imported so that every class of the tree exists)

_QUERY = "tm.event = 'Tx' AND"
_CHAIN = Chain(id="c-1", name="C", bech32_prefix="cosmos")

#: Class name -> (an instance as the code raises it, the API's status, its problem slug).
TABLE: dict[str, tuple[MempoolsError, int, str]] = {
    # the caller's to fix: 4xx with the message as written
    "UserError": (core.errors.UserError("the request is not acceptable"), 400, "bad-request"),
    "CommandError": (mempools.cli.CommandError("no such command"), 400, "bad-request"),
    "ValidationError": (core.errors.ValidationError("not a configured chain: x"), 422, "validation"),
    "UnsafeAddressError": (core.dispatch.ssrf.UnsafeAddressError("127.0.0.1 is private"), 422, "validation"),
    "QuerySyntaxError": (core.query.errors.QuerySyntaxError("expected a tag", 19, _QUERY), 422, "query-syntax"),
    "QueryTooLongError": (core.query.errors.QueryTooLongError("too long", 3, _QUERY), 422, "query-syntax"),
    "ChainChoiceRequired": (bot.actions.ChainChoiceRequired("cosmos1abc", [_CHAIN]), 422, "chain-choice-required"),
    "NotFoundError": (core.errors.NotFoundError("subscription not found"), 404, "not-found"),
    "ConflictError": (core.errors.ConflictError("email already registered"), 409, "conflict"),
    "FencedError": (core.errors.FencedError("chain c-1 is watched by node-b now"), 409, "conflict"),
    "UniqueConflictError": (core.store.collection.UniqueConflictError("accounts.email is taken"), 409, "conflict"),
    "AuthenticationError": (core.errors.AuthenticationError("the API key was revoked"), 401, "unauthenticated"),
    "PermissionDeniedError": (core.errors.PermissionDeniedError("only admins can change this"), 403, "forbidden"),
    "QuotaExceededError": (core.errors.QuotaExceededError("at most 5 subscriptions"), 403, "quota-exceeded"),
    "CrossOriginRefused": (api.csrf.CrossOriginRefused("Origin is not ours"), 403, "cross-origin"),
    "StaleForm": (api.console.forms.StaleForm("this form has expired"), 403, "stale-form"),
    "SignInRequired": (api.console.session.SignInRequired("/console"), 401, "unauthenticated"),
    "Throttled": (core.errors.Throttled("too many logins", retry_after=7), 429, "throttled"),
    # ours, and it passes: 5xx with the message
    "ServiceError": (core.errors.ServiceError("not now"), 503, "unavailable"),
    "UpstreamError": (core.errors.UpstreamError("the RPC could not serve block 5"), 502, "upstream"),
    "RpcError": (core.chain.errors.RpcError("no answer", endpoint="http://127.0.0.1:9"), 502, "upstream"),
    "RpcUnavailable": (core.chain.errors.RpcUnavailable("timed out"), 502, "upstream"),
    "RpcBadResponse": (core.chain.errors.RpcBadResponse("HTML"), 502, "upstream"),
    "BlockDecodeError": (core.chain.errors.BlockDecodeError("bad shape"), 502, "upstream"),
    "RpcCallError": (core.chain.errors.RpcCallError("internal error", code=-32603), 502, "upstream"),
    "HeightNotAvailable": (core.chain.errors.HeightNotAvailable("pruned", height=3), 502, "upstream"),
    "WrongChain": (core.chain.errors.WrongChain("wrong chain", expected="a", actual="b"), 502, "upstream"),
    "ChainQueryError": (
        core.chain.errors.ChainQueryError(query="/cosmos/slashing/v1beta1/params", reason="HTTP 500"),
        502,
        "upstream",
    ),
    "HttpError": (core.dispatch.http.HttpError("no answer"), 502, "upstream"),
    "ConnectError": (core.dispatch.http.ConnectError("connection refused"), 502, "upstream"),
    "RequestTimeout": (core.dispatch.http.RequestTimeout("timed out"), 502, "upstream"),
    "TlsError": (core.dispatch.http.TlsError("bad certificate"), 502, "upstream"),
    "ProtocolError": (core.dispatch.http.ProtocolError("bad status line"), 502, "upstream"),
    "BlockedAddressError": (core.dispatch.http.BlockedAddressError("private address"), 502, "upstream"),
    "UnavailableError": (core.errors.UnavailableError("no block fetcher"), 503, "unavailable"),
    "OverloadedError": (core.errors.OverloadedError("too many hashes", retry_after=2), 503, "overloaded"),
    "StoreUnavailableError": (core.errors.StoreUnavailableError("No space left on device"), 503, "store-unavailable"),
    "ClusterUnavailableError": (core.errors.ClusterUnavailableError("NATS unreachable"), 503, "store-unavailable"),
    # the operator's or a bug: 500 with an error id, the message only in the log
    "InternalError": (core.errors.InternalError("secret detail"), 500, "internal"),
    "ConfigError": (core.errors.ConfigError("secret detail"), 500, "internal"),
    "StoreError": (core.errors.StoreError("secret detail"), 500, "internal"),
    "StoreLockedError": (core.errors.StoreLockedError("secret detail"), 500, "internal"),
    "SchemaVersionError": (core.errors.SchemaVersionError("secret detail"), 500, "internal"),
    "ClusterError": (core.errors.ClusterError("secret detail"), 500, "internal"),
    "ClusterUnreachableError": (core.errors.ClusterUnreachableError("secret detail"), 500, "internal"),
    "ReplicatedWriteError": (core.cluster.store.ReplicatedWriteError("secret detail"), 500, "internal"),
    "DispatchStalledError": (core.dispatch.dispatcher.DispatchStalledError("secret detail"), 500, "internal"),
    "PortInUseError": (mempools.runtime.PortInUseError("secret detail"), 500, "internal"),
    "ControlError": (mempools.control.ControlError("secret detail"), 500, "internal"),
    "DiscordLoginError": (bot.discord.frontdoor.DiscordLoginError("secret detail"), 500, "internal"),
}
_ID = re.compile(r"\(error id ([0-9a-f]{12})\); please try again\.")


def _tree(cls: type[MempoolsError]) -> Iterator[type[MempoolsError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _tree(sub)


def test_the_table_covers_every_class_of_the_tree() -> None:
    assert {c.__name__ for c in _tree(MempoolsError)} == set(TABLE)
    for name, (exc, _, _) in TABLE.items():
        assert type(exc).__name__ == name


@get("/raise/{name:str}", sync_to_thread=False)
def _raise(name: str) -> None:
    raise TABLE[name][0]


@pytest.fixture
async def api_url() -> AsyncIterator[str]:
    async with serve_api(Litestar([_raise], exception_handlers=EXCEPTION_HANDLERS)) as url:  # type: ignore[arg-type]
        yield url


def _plain(html_text: str) -> str:
    return unescape(re.sub(r"<[^>]+>", "", html_text))


@pytest.mark.parametrize("name", sorted(TABLE))
async def test_an_error_reads_the_same_in_the_api_and_both_bots(
    api_url: str, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    exc, status, slug = TABLE[name]
    with caplog.at_level(logging.ERROR):
        async with httpx.AsyncClient(base_url=api_url) as http:
            r = await http.get(f"/raise/{name}")
        telegram = _plain(error_text(exc))
        discord = replies.error(exc).content
    problem = r.json()
    assert (r.status_code, problem["status"], problem["type"]) == (status, status, f"/problems/{slug}"), problem
    assert r.headers["content-type"] == "application/problem+json"
    if status == 500:  # the id, never the message; each failure its own id, each id logged once
        ids = [_ID.search(text) for text in (problem["detail"], telegram, discord)]
        assert all(ids), (problem, telegram, discord)
        assert problem["error_id"] == ids[0].group(1)  # type: ignore[union-attr]
        for found in ids:
            assert found is not None
            [record] = [rec for rec in caplog.records if found.group(1) in rec.getMessage()]
            assert getattr(record, "error_id", None) == found.group(1) and record.exc_info
        for text in (r.text, telegram, discord):
            assert "secret detail" not in text
        assert telegram.startswith("⚠️ Something went wrong") and discord.startswith("⚠️ Something went wrong")
        return
    assert not caplog.records  # the caller's or a passing failure: told, not logged as a bug
    assert 400 <= status < 500 if isinstance(exc, core.errors.UserError) else status > 500
    message = STORE_BUSY if slug == "store-unavailable" else str(exc)
    if slug == "query-syntax":
        assert isinstance(exc, core.query.errors.QuerySyntaxError)
        said = f"That query does not parse: {exc.reason} (character {exc.position + 1})."
        assert problem["detail"] == f"{exc}\n{exc.caret_lines}" and problem["position"] == exc.position
        assert exc.caret_lines in telegram and exc.caret_lines in discord
    else:
        said = sentence(message)
        assert problem["detail"] == message
    if slug == "chain-choice-required":  # Discord asks for its `chain` option instead of the sentence
        assert "`c-1`" in discord and said in telegram
    else:
        assert said in telegram and said in discord, (telegram, discord)
        assert telegram.split(" ", 1)[0] == discord.split(" ", 1)[0]  # the same icon
    if exc.retry_after is not None:
        assert r.headers["retry-after"] == str(exc.retry_after) and problem["retry_after"] == exc.retry_after
