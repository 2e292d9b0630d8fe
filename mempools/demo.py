"""`mempools demo`: the whole product, offline, in one process, in under a minute.

A devnet chain makes a block every second; the real server (API, watcher, dispatcher) follows
it; a local webhook receiver checks each delivery's Standard Webhooks signature and prints it.
A demo account with a webhook destination and a few preset subscriptions is created through
the same services the API uses, so what scrolls by is exactly what a user would receive.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hmac
import secrets
import shlex
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import msgspec
from aiohttp import web

from core.config import ChainConfig, Config, Denom, load_config
from core.dispatch.signing import sign
from core.store import open_store
from mempools.devnet.chain import ChainConfig as DevnetConfig
from mempools.devnet.chain import DevnetChain
from mempools.devnet.server import DevnetServer
from mempools.runtime import PortInUseError, Runtime
from mempools.web import serve_app

DEMO_CHAIN = "devnet-1"
DEMO_EMAIL = "demo@mempools.local"
#: One line per notification, under a header naming the columns (the first is the block height).
_ROW = "  {height:<7} {name:<28} {summary}  [{mark}]"


class _Payload(msgspec.Struct):
    type: str
    data: dict[str, object]


class WebhookReceiver:
    """A webhook endpoint that verifies each signature and hands the event to `show`."""

    def __init__(self, show: Callable[[dict[str, object], bool], None]) -> None:
        self.show = show
        self.secret = ""
        self.received = 0
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner, port = await serve_app(app)
        self.url = f"http://127.0.0.1:{port}/hook"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        msg_id = request.headers.get("webhook-id", "")
        timestamp = request.headers.get("webhook-timestamp", "0")
        expected = sign(self.secret, msg_id, int(timestamp), body) if timestamp.isdigit() and self.secret else ""
        given = request.headers.get("webhook-signature", "").split()
        valid = any(hmac.compare_digest(expected, g) for g in given)
        payload = msgspec.json.decode(body, type=_Payload)
        self.received += 1
        self.show({"type": payload.type, **payload.data}, valid)
        return web.Response(text="ok")


class Demo:
    def __init__(self, out: TextIO, *, data: Path, port: int, block_time: float) -> None:
        self.out = out
        self.data = data
        self.port = port
        self.chain = DevnetChain(DevnetConfig(chain_id=DEMO_CHAIN, block_time=block_time, txs_per_block=6, history=1))
        self.devnet = DevnetServer(self.chain)
        self.receiver = WebhookReceiver(self._show)

    def _say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def _show(self, event: dict[str, object], valid: bool) -> None:
        mark = "signature ok" if valid else "SIGNATURE INVALID"
        name = str(event.get("subscription_name", ""))
        self._say(_ROW.format(height=f"#{event.get('height')}", name=name, summary=event.get("summary", ""), mark=mark))

    def _config(self) -> Config:
        config = load_config(None, env={})
        config.api.port = self.port
        config.store.path = str(self.data)
        config.webhooks.allow_private_networks = True  # the receiver is on 127.0.0.1
        config.chains = [
            ChainConfig(
                id=DEMO_CHAIN,
                name="Mempools Devnet",
                rpc=[self.devnet.url],
                bech32_prefix="cosmos",
                denoms=[Denom(base="uatom", display="ATOM", exponent=6)],
            )
        ]
        config.telegram.token = None
        config.discord.token = None
        return config

    async def _setup_account(self, runtime: Runtime) -> str:
        services = runtime.services
        account = await services.accounts.register(DEMO_EMAIL, secrets.token_urlsafe(16))
        _, api_key = await services.accounts.create_api_key(account.id, "demo")
        hook = await services.destinations.create_webhook(account.id, self.receiver.url, name="demo receiver")
        self.receiver.secret = hook.secret
        book = self.chain.book
        wanted = [
            ("Alice's wallet", "funds_either", {"address": book.accounts[0]}),
            (
                "Bob receives >= 1 ATOM",
                "funds_received",
                {"address": book.accounts[1], "min_amount": "1", "denom": "ATOM"},
            ),
            ("Contract events", "contract_events", {"contract": book.contracts[0]}),
            ("Governance proposals", "gov_proposal_submitted", {}),
            ("Validators jailed", "validator_jailed", {}),
        ]
        for name, preset, params in wanted:
            await services.subscriptions.create(
                account.id, chain_id=DEMO_CHAIN, name=name, preset=preset, params=params, destination_ids=[hook.id]
            )
        return api_key

    async def run(self, stop: asyncio.Event) -> int:
        await self.devnet.start()
        await self.receiver.start()
        runtime = Runtime(self._config(), open_store(self.data))
        server_stop = asyncio.Event()
        server = asyncio.create_task(runtime.run(server_stop))
        try:
            api_key = await self._setup_account(runtime)
            await self._until_listening(runtime, server)
            url = f"http://{runtime.config.api.host}:{runtime.api_port}"
            self._say("Mempools demo: a local chain, the server and a webhook receiver, all offline.")
            self._say(
                f"  chain    {DEMO_CHAIN} at {self.devnet.url} (a block every {self.chain.config.block_time:g} s)"
            )
            self._say(f"  API      {url}  (docs: {url}/schema)  key: {api_key}")
            # Quoted for any shell: zsh refuses an unquoted `?` ("no matches found").
            curl = shlex.join(["curl", "-H", f"Authorization: Bearer {api_key}", f"{url}/v1/notifications?limit=5"])
            self._say(f"  try      {curl}")
            self._say(f"  webhooks {self.receiver.url}  <- 5 subscriptions of {DEMO_EMAIL}")
            self._say("Notifications as they arrive (Ctrl-C to stop):")
            self._say(_ROW.format(height="height", name="subscription", summary="what happened", mark="signature"))
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({server, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
        finally:
            server_stop.set()
            with contextlib.suppress(Exception):
                await server
            await self.receiver.stop()
            await self.devnet.stop()
        self._say(f"demo stopped: {self.receiver.received} notifications received.")
        return 0

    async def _until_listening(self, runtime: Runtime, server: asyncio.Task[None]) -> None:
        """Return once the API is bound; if it cannot be (port taken), say so: no banner, exit 2.

        Before, the banner printed the configured URL (another program's, when the port was
        taken), then "0 notifications received", and the demo exited 0.
        """
        listening = asyncio.create_task(runtime.listening.wait())
        await asyncio.wait({server, listening}, return_when=asyncio.FIRST_COMPLETED)
        listening.cancel()
        if runtime.listening.is_set():
            return
        exc = server.exception()
        runtime.store.close()  # `run` failed before it owned the store
        if isinstance(exc, PortInUseError):
            api = runtime.config.api
            cause = exc.__context__  # the bind's OSError (`from None` hides it from tracebacks only)
            taken = isinstance(cause, OSError) and cause.errno == errno.EADDRINUSE
            problem = "is already in use (another program listens there)" if taken else f"cannot be used ({exc})"
            raise PortInUseError(
                f"demo: port {api.port} on {api.host} {problem}; pick another with --port N (--port 0 picks a free one)"
            ) from None
        raise exc if exc is not None else RuntimeError("the server stopped before it listened")


async def run_demo(
    stop: asyncio.Event, *, data: Path | None, port: int, block_time: float, out: TextIO = sys.stdout
) -> int:
    if data is not None:
        return await Demo(out, data=data, port=port, block_time=block_time).run(stop)
    with tempfile.TemporaryDirectory(prefix="mempools-demo-") as tmp:
        return await Demo(out, data=Path(tmp) / "data", port=port, block_time=block_time).run(stop)
