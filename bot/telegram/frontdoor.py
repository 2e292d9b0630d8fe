"""The Telegram front door: python-telegram-bot's Application inside the shared event loop.

Not `run_polling()` (it owns the loop and the signals): `start()` initialises the Application,
introduces the bot (`setMyDescription`, `setMyShortDescription`, and one short command menu per
`setMyCommands` scope: private chats, group administrators, everyone in groups) and starts long
polling; `stop()` undoes it in order.
`run(stop)` is the shape the Supervisor restarts on failure.

The `telegram.Bot` (`.bot`) is the one the dispatcher's `TelegramChannel` should use for
notifications, so that the bot's replies and notifications share one HTTP client and identity.
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
        self._aliases = AliasHandlers(self.kit, AliasActions(self.kit.actions, services.address_book))
        self._register()
        self._running = False

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
    async def start(self) -> None:
        """Initialise (getMe), register the commands, and start long polling."""
        self._redactor.install()
        try:
            await self.app.initialize()
            await self._introduce()
            await self.app.start()
            assert self.app.updater is not None
            await self.app.updater.start_polling(
                timeout=timedelta(seconds=self._poll_timeout),
                allowed_updates=[Update.MESSAGE, Update.CALLBACK_QUERY, Update.MY_CHAT_MEMBER],
            )
        except BaseException:
            await self._shutdown()
            raise
        self._running = True
        log.info("telegram bot @%s is polling", self.app.bot.username)

    async def _introduce(self) -> None:
        """The profile texts and the command menus. A failure is logged, not fatal: the bot
        works without them, and the next start sets them again."""
        menus: tuple[tuple[BotCommandScope, tuple[str, ...]], ...] = (
            (BotCommandScopeAllPrivateChats(), PRIVATE_MENU),
            (BotCommandScopeAllChatAdministrators(), GROUP_ADMIN_MENU),
            (BotCommandScopeAllGroupChats(), GROUP_MENU),
        )
        bot = self.app.bot
        try:
            await bot.set_my_description(DESCRIPTION)
            await bot.set_my_short_description(SHORT_DESCRIPTION)
            for scope, names in menus:
                await bot.set_my_commands([BotCommand(name, text) for name, text in menu(names)], scope=scope)
        except telegram.error.TelegramError as exc:
            log.warning("introducing the bot (setMyDescription, setMyCommands) failed: %s", exc)

    async def stop(self) -> None:
        """Stop polling, finish the update in hand, close the HTTP clients. Safe to call twice."""
        if not self._running:
            return
        self._running = False
        await self._shutdown()
        log.info("telegram bot stopped")

    async def _shutdown(self) -> None:
        try:
            if self.app.updater is not None and self.app.updater.running:
                await self.app.updater.stop()
            if self.app.running:
                await self.app.stop()
            await self.app.shutdown()
        finally:
            self._redactor.uninstall()

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set (the Supervisor's shape: a raise means restart me)."""
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()
