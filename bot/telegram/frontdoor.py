"""The Telegram front door: python-telegram-bot's Application inside the shared event loop.

Two halves, because in cluster mode they run on different sets of nodes:
- `open()` initialises the Application (getMe, its HTTP clients): from then on `.bot` sends
  (notifications, through `TelegramChannel`) and `.signer` signs buttons. Every node opens.
- `poll(stop)` is the `getUpdates` loop and hands each update to the Application's handlers.
  Telegram answers 409 Conflict to a second poller, so only the holder of the `telegram` lease
  polls (`LeasedRunner(lease, front_door.poll)`); when it stops, the Application stays open.
`close()` ends both. `run(stop)` = open + poll + close is the single-node shape the Supervisor
restarts on failure; `start()`/`stop()` are the same as two calls.

The loop is ours, not PTB's `Updater`: the Updater confirms a batch (the next getUpdates'
`offset`) as soon as it is queued, so a poller that dies or loses its lease mid-batch would
drop the rest. Here the offset passes an update only once its handler returned: an update in
hand when polling stops is not confirmed, and Telegram gives it to the next poller.
The first poll in a process introduces the bot (`setMyDescription`, `setMyShortDescription`,
one short command menu per `setMyCommands` scope: private chats, group administrators, everyone
in groups); the other nodes need not repeat it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

import telegram
from telegram import (
    BotCommand,
    BotCommandScope,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    Update,
)
from telegram.ext import ApplicationBuilder, CallbackQueryHandler, ContextTypes, MessageHandler, filters

from bot.actions import ChatActions, SampleSender
from bot.aliases import AliasActions
from bot.callbacks import CallbackSigner
from bot.telegram.chat import AdminCache, Replier
from bot.telegram.flows import FLOW_TTL, FlowStore
from bot.telegram.format import (
    DESCRIPTION,
    GROUP_ADMIN_MENU,
    GROUP_MENU,
    PRIVATE_MENU,
    SHORT_DESCRIPTION,
    error_text,
    menu,
)
from bot.telegram.handlers.aliases import AliasHandlers
from bot.telegram.handlers.basic import BasicHandlers
from bot.telegram.handlers.common import TelegramApp, Toolkit
from bot.telegram.handlers.conversation import STALE, ConversationHandlers
from bot.telegram.handlers.manage import LIST_VERBS, NOTIFICATION_VERBS, ManageHandlers
from bot.telegram.handlers.membership import MembershipHandlers
from bot.telegram.handlers.monitoring import MonitorHandlers
from bot.telegram.handlers.settings import SETTINGS_VERBS, SettingsHandlers
from bot.telegram.keyboards import FLOW, Keyboards
from bot.telegram.redact import TokenRedactor
from core.config import TelegramConfig
from core.dispatch.ratelimit import RateLimiter
from core.dispatch.telegram import telegram_limiter
from core.errors import ConfigError
from core.services import Services
from core.services.clock import Clock, utcnow

log = logging.getLogger("mempools.bot.telegram")


class TelegramFrontDoor:
    """Owns one Application (and its Bot) for the life of the process."""

    def __init__(
        self,
        config: TelegramConfig,
        services: Services,
        *,
        send_sample: SampleSender | None = None,
        poll_timeout: float = 10.0,
        admin_ttl: float = 60.0,
        flow_ttl: timedelta = FLOW_TTL,
        max_reply_wait: float = 30.0,
        clock: Clock = utcnow,
        limiter: RateLimiter | None = None,
    ) -> None:
        if config.token is None or not config.token.get():
            raise ConfigError("telegram: no token (set MEMPOOLS_TELEGRAM_TOKEN or telegram.token_file)")
        token = config.token.get()
        root = config.api_url.rstrip("/")
        self._redactor = TokenRedactor(token)
        self._redactor.install()  # PTB logs its token-bearing base URL while building the Bot
        self._poll_timeout = poll_timeout
        self.app: TelegramApp = (
            ApplicationBuilder()
            .token(token)
            .base_url(f"{root}/bot")
            .base_file_url(f"{root}/file/bot")
            .concurrent_updates(False)
            .get_updates_read_timeout(poll_timeout + 10)
            .updater(None)  # the getUpdates loop is `poll`: it confirms only handled updates
            .build()
        )
        #: The bot's one rate limiter: replies take their slots from it, and so must deliveries
        #: (`TelegramChannel(front_door.bot, limiter=front_door.limiter)`).
        self.limiter = limiter or telegram_limiter()
        signer = CallbackSigner(token)
        self.kit = Toolkit(
            actions=ChatActions(services, send_sample=send_sample),
            flows=FlowStore(services.conversations, ttl=flow_ttl, clock=clock),
            keyboards=Keyboards(signer),
            signer=signer,
            replier=Replier(self.app.bot, self.limiter, max_wait=max_reply_wait),
            admins=AdminCache(self.app.bot, ttl=admin_ttl),
            clock=clock,
        )
        self._conversation = ConversationHandlers(self.kit)
        self._manage = ManageHandlers(self.kit, show_step=self._conversation.show_step)
        self._basic = BasicHandlers(self.kit, watch_address=self._manage.watch_address)
        self._settings = SettingsHandlers(self.kit)
        self._membership = MembershipHandlers(self.kit)
        self._monitoring = MonitorHandlers(self.kit)
        self._aliases = AliasHandlers(self.kit, AliasActions(self.kit.actions, services.address_book))
        self._register()
        self._open = False
        self._polling = False
        self._introduced = False  # once per process, by the first poll
        self._offset = 0  # the first update not yet handled here (what getUpdates confirms)
        self._confirmed = 0  # the offset Telegram was last told
        self._poll_stop = asyncio.Event()
        self._poll_task: asyncio.Task[None] | None = None

    @classmethod
    def from_config(cls, config: TelegramConfig, services: Services, **options: object) -> TelegramFrontDoor | None:
        """The front door, or None when no token is configured (the bot is simply off)."""
        if config.token is None or not config.token.get():
            return None
        return cls(config, services, **options)  # type: ignore[arg-type]  # the constructor's keywords, passed on

    @property
    def signer(self) -> CallbackSigner:
        """Signs button data for this bot: hand it to `TelegramChannel` so a notification's
        [Pause] is a button this front door accepts."""
        return self.kit.signer

    @property
    def bot(self) -> telegram.Bot:
        """The Bot of the Application: hand it to `core.dispatch.telegram.TelegramChannel`."""
        return self.app.bot

    def _register(self) -> None:
        self._basic.register(self.app)
        self._settings.register(self.app)
        self._manage.register(self.app)
        self._monitoring.register(self.app)
        self._conversation.register(self.app)
        self._membership.register(self.app)
        self._aliases.register(self.app)
        self.app.add_handler(MessageHandler(filters.COMMAND, self._basic.unknown))
        self.app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, self._conversation.on_text))
        self.app.add_handler(CallbackQueryHandler(self._on_callback))
        self.app.add_error_handler(self._on_error)

    # -- buttons ------------------------------------------------------------------------------------
    async def _on_callback(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        """Verify the button was made by us for this chat, then hand it to its handler."""
        query = update.callback_query
        if query is None:
            return
        message = query.message
        callback = self.kit.signer.decode(message.chat.id, query.data) if message is not None else None
        if callback is None:
            await query.answer("This button is not valid here.", show_alert=True)
            return
        if callback.verb in LIST_VERBS:
            await self._manage.on_button(update, query, callback)
        elif callback.verb in NOTIFICATION_VERBS:
            await self._manage.on_notification_button(update, query, callback)
        elif callback.verb in SETTINGS_VERBS:
            await self._settings.on_button(update, query, callback)
        elif callback.verb == FLOW:
            await self._conversation.on_button(update, query, callback)
        else:
            await query.answer(STALE, show_alert=True)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A failure a handler let through: worded by the one table; a bug is logged (token
        redacted) once, with the error id the user is told."""
        error = context.error or RuntimeError("the handler failed without an exception")
        text = error_text(error)  # logs an internal error, so even when there is no chat to tell
        if isinstance(update, Update) and update.effective_chat is not None:
            with contextlib.suppress(Exception):
                if update.callback_query is not None:
                    await update.callback_query.answer()
                await self.kit.reply(update, text)

    # -- life cycle --------------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self._open

    @property
    def polling(self) -> bool:
        """True while `poll` runs (on the node that holds the `telegram` lease)."""
        return self._polling

    async def open(self) -> None:
        """Initialise the Application (getMe, HTTP clients) for sending; polls nothing. Idempotent."""
        if self._open:
            return
        self._redactor.install()
        try:
            await self.app.initialize()
        except BaseException:
            await self._shutdown()
            raise
        self._open = True

    async def poll(self, stop: asyncio.Event, token: int = 0) -> None:
        """Long-poll `getUpdates` and handle each update, until `stop`; the Application stays open.

        The shape of `LeasedWork` (`token`, the lease's fencing token, is not needed: what the
        handlers write is fenced by the store, and a late 409 only costs a retry)."""
        if not self._open:
            raise RuntimeError("open() the Telegram front door before polling")
        if self._polling:
            raise RuntimeError("this front door is polling already")
        self._polling = True
        try:
            if not self._introduced:
                self._introduced = await self._introduce()
            log.info("telegram bot @%s is polling", self.app.bot.username)
            failures = 0
            while not stop.is_set():
                try:
                    updates = await self._fetch(stop)
                    failures = 0
                except telegram.error.RetryAfter as exc:
                    await _wait(stop, _seconds(exc.retry_after))
                    continue
                except telegram.error.Conflict as exc:  # another poller: the lease should have prevented it
                    log.warning("telegram: getUpdates conflict (%s); retrying", exc.message)
                    failures += 1
                    await _wait(stop, min(30.0, 0.5 * 2**failures))
                    continue
                except telegram.error.NetworkError as exc:  # TimedOut too; a refused token raises
                    log.error("telegram: getUpdates failed (%s); retrying", exc.message)
                    failures += 1
                    await _wait(stop, min(30.0, 0.5 * 2**failures))
                    continue
                for update in updates or ():
                    await self.app.process_update(update)
                    self._offset = update.update_id + 1  # handled: the next getUpdates confirms it
                    if stop.is_set():
                        break  # the rest stays unconfirmed: Telegram hands it to the next poller
        finally:
            self._polling = False
            await self._confirm()
            log.info("telegram bot stopped polling")

    async def _fetch(self, stop: asyncio.Event) -> tuple[Update, ...] | None:
        """One long poll from the first unhandled update; None when `stop` came first (the request
        is abandoned: what it would have returned is not confirmed)."""
        offset = self._offset
        fetch = asyncio.ensure_future(
            self.app.bot.get_updates(
                offset=offset,
                timeout=timedelta(seconds=self._poll_timeout),
                allowed_updates=ALLOWED_UPDATES,
            )
        )
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({fetch, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            if not fetch.done():
                fetch.cancel()
                with contextlib.suppress(asyncio.CancelledError, telegram.error.TelegramError):
                    await fetch
        if fetch.cancelled():
            return None
        updates = fetch.result()
        self._confirmed = max(self._confirmed, offset)
        return updates

    async def _confirm(self) -> None:
        """Tell Telegram what was handled since the last getUpdates (a poll without waiting)."""
        if self._offset <= self._confirmed:
            return
        try:
            await self.app.bot.get_updates(offset=self._offset, timeout=timedelta(0), limit=1)
            self._confirmed = self._offset
        except telegram.error.TelegramError as exc:
            log.warning("telegram: confirming handled updates failed (%s); they may be handled again", exc)

    async def _introduce(self) -> bool:
        """No webhook (getUpdates refuses to work beside one), the profile texts and the command
        menus. A failure is logged, not fatal: the bot works without them, and the next poll in
        this process tries again. True when done."""
        menus: tuple[tuple[BotCommandScope, tuple[str, ...]], ...] = (
            (BotCommandScopeAllPrivateChats(), PRIVATE_MENU),
            (BotCommandScopeAllChatAdministrators(), GROUP_ADMIN_MENU),
            (BotCommandScopeAllGroupChats(), GROUP_MENU),
        )
        bot = self.app.bot
        try:
            await bot.delete_webhook()
            await bot.set_my_description(DESCRIPTION)
            await bot.set_my_short_description(SHORT_DESCRIPTION)
            for scope, names in menus:
                await bot.set_my_commands([BotCommand(name, text) for name, text in menu(names)], scope=scope)
        except telegram.error.TelegramError as exc:
            log.warning("introducing the bot (setMyDescription, setMyCommands) failed: %s", exc)
            return False
        return True

    async def close(self) -> None:
        """Close the HTTP clients (after `poll` has returned). Safe to call twice."""
        if not self._open:
            return
        self._open = False
        await self._shutdown()

    async def _shutdown(self) -> None:
        try:
            await self.app.shutdown()  # returns at once when it was not initialised
        finally:
            self._redactor.uninstall()

    async def start(self) -> None:
        """`open()` and poll in a task (until `stop()`): the single-node shape, in two calls."""
        await self.open()
        if not self._introduced:
            self._introduced = await self._introduce()  # before returning, as `run` would before serving
        self._poll_stop = asyncio.Event()
        self._poll_task = asyncio.create_task(self.poll(self._poll_stop), name="telegram-poll")

    async def stop(self) -> None:
        """Stop polling (the update in hand is finished), close the HTTP clients. Safe to call twice."""
        task, self._poll_task = self._poll_task, None
        if task is not None:
            self._poll_stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._open:
            await self.close()
            log.info("telegram bot stopped")

    async def run(self, stop: asyncio.Event) -> None:
        """Open, poll until `stop` is set, close (the Supervisor's shape: a raise means restart me)."""
        await self.open()
        try:
            await self.poll(stop)
        finally:
            await self.close()


#: The updates the bot handles (Telegram sends only these).
ALLOWED_UPDATES = (Update.MESSAGE, Update.CALLBACK_QUERY, Update.MY_CHAT_MEMBER)


def _seconds(value: int | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
