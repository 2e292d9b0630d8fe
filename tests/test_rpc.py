"""RpcClient, EndpointPool and NewBlockSubscription against devnet nodes on 127.0.0.1, with faults."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from core.chain.errors import (
    BlockDecodeError,
    HeightNotAvailable,
    RpcBadResponse,
    RpcCallError,
    RpcError,
    RpcUnavailable,
    WrongChain,
)
from core.chain.pool import EndpointPool
from core.chain.rpc import RpcClient
from core.chain.subscribe import NewBlockSubscription, websocket_url
from core.errors import MempoolsError
from mempools.devnet import ChainConfig, DevnetChain, DevnetServer, Faults

GENESIS = 1_700_000_000.0


def chain(chain_id: str = "devnet-1", history: int = 50) -> DevnetChain:
    return DevnetChain(ChainConfig(chain_id=chain_id, history=history, block_time=0, genesis_time=GENESIS, seed=1))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- RpcClient ------------------------------------------------------------------------------------


async def test_client_status_block_and_fetch() -> None:
    async with DevnetServer(chain()) as server, RpcClient(server.url, chain_id="devnet-1") as rpc:
        status = await rpc.status()
        assert (status.chain_id, status.latest_height, status.earliest_height) == ("devnet-1", 50, 1)
        assert (await rpc.block_results(5)).startswith(b'{"height":"5"')
        assert b'"chain_id":"devnet-1"' in await rpc.block(5)
        block = await rpc.fetch(5)
        assert block.height == 5 and block.chain_id == "devnet-1" and len(block.txs) == 5
        assert all(tx.tx_hash for tx in block.txs)
        assert block.time == "2023-11-14T22:13:24Z"


async def test_client_height_errors() -> None:
    faults = Faults(prune_below=10, missing_heights={20})
    async with DevnetServer(chain(), faults=faults) as server, RpcClient(server.url) as rpc:
        with pytest.raises(HeightNotAvailable) as pruned:
            await rpc.block_results(3)
        assert (pruned.value.lowest, pruned.value.height, pruned.value.in_future) == (10, 3, False)
        with pytest.raises(HeightNotAvailable) as future:
            await rpc.fetch(60)
        assert (future.value.latest, future.value.in_future) == (50, True)
        with pytest.raises(HeightNotAvailable, match="could not find results"):
            await rpc.block_results(20)
        with pytest.raises(RpcCallError, match="greater than 0"):
            await rpc.block(0)


async def test_client_unavailable_kinds() -> None:
    async with DevnetServer(chain()) as server, RpcClient(server.url, timeout=0.3) as rpc:
        server.set_faults(error_rate=1.0)
        with pytest.raises(RpcUnavailable, match="HTTP 503"):
            await rpc.status()
        server.set_faults(error_rate=0.0, timeout_rate=1.0)
        with pytest.raises(RpcUnavailable, match="timed out"):
            await rpc.block(3)
        server.set_faults(timeout_rate=0.0, truncate_rate=1.0)
        with pytest.raises(RpcBadResponse, match="truncated"):
            await rpc.block_results(3)
    async with RpcClient(f"http://127.0.0.1:{free_port()}", timeout=1) as rpc:
        with pytest.raises(RpcUnavailable) as refused:
            await rpc.status()
    assert isinstance(refused.value, MempoolsError) and refused.value.endpoint is not None


@pytest.fixture
async def garbage_server() -> AsyncIterator[str]:
    async def html(_: web.Request) -> web.Response:
        return web.Response(text="<html>hello</html>", content_type="text/html")

    async def huge(_: web.Request) -> web.Response:
        return web.Response(
            body=b'{"jsonrpc":"2.0","id":-1,"result":"' + b"x" * 50_000 + b'"}', content_type="application/json"
        )

    async def chunked(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for _ in range(20):
            await resp.write(b"x" * 5_000)
        await resp.write_eof()
        return resp

    async def no_result(_: web.Request) -> web.Response:
        return web.json_response({"jsonrpc": "2.0", "id": -1})

    async def bad_shape(_: web.Request) -> web.Response:
        return web.json_response({"jsonrpc": "2.0", "id": -1, "result": {"node_info": 5}})

    app = web.Application()
    app.router.add_get("/html/status", html)
    app.router.add_get("/huge/block", huge)
    app.router.add_get("/chunked/block", chunked)
    app.router.add_get("/empty/block", no_result)
    app.router.add_get("/shape/status", bad_shape)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_client_bad_responses(garbage_server: str) -> None:
    async with RpcClient(garbage_server + "/html") as rpc:
        with pytest.raises(RpcBadResponse, match="non-JSON"):
            await rpc.status()
    for prefix in ("/huge", "/chunked"):
        async with RpcClient(garbage_server + prefix, max_response_bytes=10_000) as rpc:
            with pytest.raises(RpcBadResponse, match="cap"):
                await rpc.block(1)
    async with RpcClient(garbage_server + "/empty") as rpc:
        with pytest.raises(RpcBadResponse, match="without a result"):
            await rpc.block(1)
    async with RpcClient(garbage_server + "/shape") as rpc:
        with pytest.raises(RpcBadResponse):
            await rpc.status()
    async with RpcClient(garbage_server + "/nothing-here") as rpc:
        with pytest.raises(RpcBadResponse, match="HTTP 404"):
            await rpc.status()


async def test_client_refuses_block_of_other_chain() -> None:
    async with (
        DevnetServer(chain(), faults=Faults(wrong_chain_id="evil-1")) as server,
        RpcClient(server.url, chain_id="devnet-1") as rpc,
    ):
        with pytest.raises(WrongChain) as info:
            await rpc.fetch(3)
    assert (info.value.expected, info.value.actual) == ("devnet-1", "evil-1")


def test_decode_error_is_a_bad_response() -> None:
    assert issubclass(BlockDecodeError, RpcBadResponse) and issubclass(RpcBadResponse, RpcError)


# --- EndpointPool ---------------------------------------------------------------------------------


async def test_pool_fails_over_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="core.chain.pool")
    # the good node is slower, so the pool starts with the bad one
    async with (
        DevnetServer(chain()) as bad,
        DevnetServer(chain(), faults=Faults(latency_ms=20)) as good,
        EndpointPool("devnet-1", [bad.url, good.url], min_cooldown=0.0) as pool,
    ):
        await pool.refresh()
        bad.set_faults(error_rate=1.0)
        for h in range(10, 20):
            block = await pool.fetch_height(h)
            assert block.height == h
        health = {e.url: e for e in pool.health()}
        assert health[bad.url].consecutive_errors >= 1 and health[good.url].consecutive_errors == 0
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING and bad.url in r.getMessage()]
        assert len(warnings) == 1  # one incident, one line
        bad.set_faults(error_rate=0.0)
        good.set_faults(error_rate=1.0)
        assert (await pool.fetch_height(30)).height == 30
        assert any("recovered" in r.getMessage() for r in caplog.records)


async def test_pool_prefers_healthy_endpoint_with_cooldown() -> None:
    async with (
        DevnetServer(chain()) as bad,
        DevnetServer(chain(), faults=Faults(latency_ms=20)) as good,
        EndpointPool("devnet-1", [bad.url, good.url], min_cooldown=30.0) as pool,
    ):
        await pool.refresh()
        bad.set_faults(error_rate=1.0)
        await pool.fetch_height(10)
        before = bad.requests
        for h in range(11, 21):
            await pool.fetch_height(h)
        assert bad.requests == before  # cooling down: not asked again
        assert pool.health()[0].cooling_down


async def test_pool_prefers_low_latency() -> None:
    async with (
        DevnetServer(chain(), faults=Faults(latency_ms=40)) as slow,
        DevnetServer(chain()) as fast,
        EndpointPool("devnet-1", [slow.url, fast.url]) as pool,
    ):
        await pool.refresh()
        slow_before, fast_before = slow.requests, fast.requests
        for h in range(1, 11):
            await pool.fetch_height(h)
        assert fast.requests - fast_before == 20 and slow.requests == slow_before


async def test_pool_refuses_wrong_chain_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="core.chain.pool")
    async with (
        DevnetServer(chain("other-1")) as impostor,
        DevnetServer(chain()) as real,
        EndpointPool("devnet-1", [impostor.url, real.url]) as pool,
    ):
        for h in range(1, 6):
            assert (await pool.fetch_height(h)).chain_id == "devnet-1"
        await pool.refresh()
        assert [e.wrong_chain for e in pool.health()] == ["other-1", None]
        assert len([r for r in caplog.records if impostor.url in r.getMessage()]) == 1
        async with EndpointPool("devnet-1", [impostor.url]) as alone:
            with pytest.raises(WrongChain):
                await alone.fetch_height(3)
            with pytest.raises(WrongChain):
                await alone.refresh()


async def test_pool_fetch_tries_every_endpoint_before_height_not_available() -> None:
    async with (
        DevnetServer(chain(), faults=Faults(prune_below=40)) as pruned,
        DevnetServer(chain()) as archive,
        EndpointPool("devnet-1", [pruned.url, archive.url]) as pool,
    ):
        assert (await pool.fetch_height(3)).height == 3
        archive.set_faults(prune_below=20)
        with pytest.raises(HeightNotAvailable) as info:
            await pool.fetch_height(5)
        assert not info.value.in_future
        with pytest.raises(HeightNotAvailable) as future:
            await pool.fetch_height(51)
        assert future.value.in_future and future.value.latest == 50


async def test_pool_lagging_node_is_not_preferred_for_the_tip() -> None:
    async with (
        DevnetServer(chain(), faults=Faults(lag=10)) as lagging,
        DevnetServer(chain()) as fresh,
        EndpointPool("devnet-1", [lagging.url, fresh.url]) as pool,
    ):
        assert (await pool.refresh()).latest_height == 50
        before = lagging.requests
        assert (await pool.fetch_height(50)).height == 50
        assert lagging.requests == before
        assert [e.height for e in pool.health()] == [40, 50]


async def test_pool_all_down_is_unavailable() -> None:
    async with EndpointPool("devnet-1", [f"http://127.0.0.1:{free_port()}"], timeout=1) as pool:
        with pytest.raises(RpcUnavailable, match="no usable endpoint"):
            await pool.fetch_height(1)
    with pytest.raises(ValueError):
        EndpointPool("devnet-1", [])


async def test_pool_survives_random_faults() -> None:
    flaky = Faults(error_rate=0.3, truncate_rate=0.2)
    async with (
        DevnetServer(chain(), faults=flaky) as a,
        DevnetServer(chain(), faults=flaky, fault_seed=9) as b,
        EndpointPool("devnet-1", [a.url, b.url], min_cooldown=0.0) as pool,
    ):
        failures = 0
        for h in range(1, 41):  # a watcher retries a height until it gets it
            for _ in range(50):
                try:
                    assert (await pool.fetch_height(h)).height == h
                    break
                except (RpcUnavailable, RpcBadResponse):
                    failures += 1
            else:
                raise AssertionError(f"height {h} never fetched")
        assert failures > 0  # the faults did hit


# --- websocket subscription -----------------------------------------------------------------------


def test_websocket_url() -> None:
    assert websocket_url("http://127.0.0.1:26657") == "ws://127.0.0.1:26657/websocket"
    assert websocket_url("https://rpc.example/cosmos/") == "wss://rpc.example/cosmos/websocket"
    assert websocket_url("ws://h:1/websocket") == "ws://h:1/websocket"


async def _take(it: Any, n: int, timeout: float = 5.0) -> list[int]:
    out = []
    for _ in range(n):
        out.append(await asyncio.wait_for(it.__anext__(), timeout))
    return out


async def _until_subscribed(server: DevnetServer) -> None:
    for _ in range(250):
        if server.subscriptions:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("no subscription arrived")


async def test_subscription_yields_heights_and_reconnects() -> None:
    c = chain()
    port = free_port()
    server = DevnetServer(c, port=port)
    await server.start()
    sub = NewBlockSubscription([server.url], min_backoff=0.05, max_backoff=0.2)
    it = sub.__aiter__()
    try:
        first = asyncio.ensure_future(it.__anext__())
        await _until_subscribed(server)
        server.advance()
        assert await asyncio.wait_for(first, 5) == 51
        server.advance(2)
        assert await _take(it, 2) == [52, 53]

        await server.stop()  # the node goes away...
        server = DevnetServer(c, port=port)  # ...and comes back on the same address
        nxt = asyncio.ensure_future(it.__anext__())
        await asyncio.sleep(0.1)
        await server.start()
        await _until_subscribed(server)
        server.advance()
        assert await asyncio.wait_for(nxt, 5) == 54
        assert sub.connects == 2
    finally:
        await sub.aclose()
        await it.aclose()
        await server.stop()


async def test_subscription_stops_on_aclose() -> None:
    async with DevnetServer(chain()) as server:
        sub = NewBlockSubscription([server.url])
        it = sub.__aiter__()
        task = asyncio.ensure_future(it.__anext__())
        await _until_subscribed(server)
        await sub.aclose()
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(task, 2)
