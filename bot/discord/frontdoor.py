"""The Discord front door: one discord.py client, started and stopped inside the shared loop.

Two halves, because in cluster mode they run on different sets of nodes:
- `open()` logs in over REST only (`Client.login`: the HTTP client, the application id): from
  then on the dispatcher's `DiscordChannel` sends channel messages and DMs through `client`.
  Every node opens.
- `connect(stop)` holds the gateway connection (slash commands and button presses arrive there
  as interactions, answered over REST) until `stop`, then closes the websocket only. Discord
  would deliver each interaction to one of two connections, so only the holder of the
  `discord` lease connects (`LeasedRunner(lease, front_door.connect)`). The first connect in a
  process syncs the command tree; a takeover later does not sync again (every node's client
  has the same tree, so it answers every command without it).
`close()` ends both. `run(stop)` = open + connect + close is the single-node shape.

discord.py keeps the REST base URL (`discord.http.Route.BASE`) and the gateway URL
(`discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`) as class attributes, so they are process-wide:
`run()` sets them from `[discord] api_url` / `gateway_url` and puts the previous values back when
it ends. One process therefore runs one Discord bot. These two attributes are the only global
state this package touches.

The token is read from the config's `Secret` at the moment of login and is never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

import discord
import discord.gateway
import discord.http
import yarl

from bot.actions import ChatActions, SampleSender
from bot.aliases import AliasActions
from bot.callbacks import CallbackSigner
from bot.discord.buttons import button_signer
from bot.discord.client import GUILD_READY_TIMEOUT, MempoolsClient
from core.config import DiscordConfig
from core.errors import ConfigError
from core.services import Services

log = logging.getLogger("mempools.discord")

#: The smallest value discord.py accepts: a longer 429 wait comes back to the dispatcher as
#: `RateLimited`, which reschedules the delivery instead of holding a worker (see core.dispatch.discord).
MAX_RATELIMIT_TIMEOUT = 30.0
_CLOSE_DEADLINE = 5.0


class DiscordLoginError(ConfigError):
    """Discord refused the token. Restarting does not help; the operator must fix the token."""


@contextlib.contextmanager
def discord_endpoints(config: DiscordConfig) -> Iterator[None]:
    """Point discord.py's REST and gateway at the configured servers, and restore them after."""
    saved_base = discord.http.Route.BASE
    saved_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = config.api_url.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(config.gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE = saved_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved_gateway


class DiscordFrontDoor:
    """The bot: slash commands in, and the client the dispatcher's DiscordChannel posts through.

    `client` exists from construction on and stays the same object across restarts, so the
    dispatcher's DiscordChannel can be built with it before the bot has logged in (deliveries made
    before login fail as transient errors and are retried). `enabled` is False without a token:
    the runtime then neither runs the bot nor hands its client to the dispatcher.
    """

    def __init__(
        self,
        config: DiscordConfig,
        services: Services,
        *,
        send_sample: SampleSender | None = None,
        actions: ChatActions | None = None,
        guild_ready_timeout: float = GUILD_READY_TIMEOUT,
    ) -> None:
        """`send_sample` overrides how `/mempools test` queues its sample (default: DeliveryService); `actions`
        replaces the default `ChatActions(services, send_sample=send_sample)` (tests, or a shared one).
        `guild_ready_timeout`: how long discord.py waits for the servers' data after READY."""
        self._config = config
        # Signs the buttons under notifications (the dispatcher's DiscordChannel) and checks them
        # when pressed; keyed by the token, so None without one (then notifications carry [Tx] only).
        self._signer = button_signer(config.token.get()) if config.token is not None else None
        chat_actions = actions or ChatActions(services, send_sample=send_sample)
        self._client = MempoolsClient(
            chat_actions,
            signer=self._signer,
            aliases=AliasActions(chat_actions, services.address_book),
            sync_guild_id=config.guild_id,
            guild_ready_timeout=guild_ready_timeout,
            max_ratelimit_timeout=MAX_RATELIMIT_TIMEOUT,
        )
        self._open = False
        self._synced = False  # the command tree, once per process, by the first connect
        self._endpoints = contextlib.ExitStack()  # discord.py's URLs, set from open() to close()

    @property
    def enabled(self) -> bool:
        return self._config.token is not None

    @property
    def signer(self) -> CallbackSigner | None:
        """For `DiscordChannel(signer=...)`: the buttons it draws are the ones this bot answers."""
        return self._signer

    @property
    def client(self) -> discord.Client:
        return self._client

    @property
    def is_open(self) -> bool:
        return self._open

    @property
    def connected(self) -> bool:
        """True while `connect` holds the gateway connection (READY received)."""
        return self._client.connected.is_set()

    async def wait_until_ready(self) -> None:
        """Until the gateway's READY has arrived (commands are synced before the connection opens)."""
        await self._client.connected.wait()

    async def open(self) -> None:
        """Log in over REST (no gateway): sending works from here on. Idempotent.

        Raises `DiscordLoginError` when Discord refuses the token (restarting does not help)."""
        if self._open:
            return
        if self._config.token is None:
            raise ConfigError("discord: no token (set MEMPOOLS_DISCORD_TOKEN or discord.token_file)")
        token = self._config.token.get()
        self._endpoints = contextlib.ExitStack()
        self._endpoints.enter_context(discord_endpoints(self._config))
        try:
            if self._client.is_closed():
                self._client.reopen()
            await self._client.login(token)
        except discord.LoginFailure:
            await self._shutdown()
            raise DiscordLoginError("Discord refused the bot token (check MEMPOOLS_DISCORD_TOKEN)") from None
        except BaseException:
            await self._shutdown()
            raise
        self._open = True

    async def connect(self, stop: asyncio.Event, token: int = 0) -> None:
        """Hold the gateway connection and serve interactions until `stop`; REST stays logged in.

        The shape of `LeasedWork` (`token`, the lease's fencing token, is not needed here).
        Network trouble is retried inside discord.py (`reconnect=True`); what escapes is a
        failure the caller should restart us for (then the next `connect` logs in again if
        discord.py closed the client)."""
        if self._client.is_closed():
            self._open = False
            await self._shutdown()
        await self.open()
        if not self._synced:
            self._synced = await self._client.sync_commands()
        started = asyncio.create_task(self._client.connect(reconnect=True), name="discord-gateway")
        stopped = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({started, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            await self._client.disconnect_gateway(started, _CLOSE_DEADLINE)
        if not stop.is_set():
            self._raise_from(started)

    async def close(self) -> None:
        """Close the gateway (if connected) and the REST client; put the endpoints back. Safe twice."""
        self._open = False
        await self._shutdown()

    async def _shutdown(self) -> None:
        try:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._client.close(), _CLOSE_DEADLINE)
        finally:
            self._endpoints.close()

    async def run(self, stop: asyncio.Event) -> None:
        """Log in, sync the commands, serve interactions until `stop` is set; then close.

        What escapes is either a refused token (`DiscordLoginError`) or a failure the
        supervisor should restart us for."""
        await self.open()
        try:
            await self.connect(stop)
        finally:
            await self.close()

    @staticmethod
    def _raise_from(started: asyncio.Task[None]) -> None:
        if not started.done() or started.cancelled():
            raise RuntimeError("the Discord client stopped before shutdown")
        exc = started.exception()
        if isinstance(exc, discord.LoginFailure):
            raise DiscordLoginError("Discord refused the bot token (check MEMPOOLS_DISCORD_TOKEN)") from None
        if exc is not None:
            raise exc
        raise RuntimeError("the Discord client stopped before shutdown")
