"""Where notifications go: webhooks, Telegram chats, Discord channels and DMs, per account."""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Protocol
from urllib.parse import urlsplit

from msgspec import UNSET, UnsetType

from core.dispatch.quiet_hours import quiet_hours
from core.dispatch.signing import new_webhook_secret, rotate_secret
from core.dispatch.ssrf import check_webhook_url
from core.dispatch.webhook import TestEventResult
from core.errors import NotFoundError, QuotaExceededError, ValidationError
from core.ids import new_id
from core.models import Destination, DiscordDestination, QuietHours, TelegramDestination, WebhookDestination
from core.services.clock import Clock, utcnow
from core.services.errors import UnavailableError
from core.services.guards import is_key
from core.store.base import WriteBatch
from core.store.repositories import Repositories

MAX_NAME = 100

UrlCheck = Callable[[str], Awaitable[object]]


class WebhookTester(Protocol):
    """Sends one signed test event now (`core.dispatch.WebhookChannel.send_test_event`)."""

    async def __call__(self, destination: WebhookDestination) -> TestEventResult: ...


def _name(value: str | None, fallback: str) -> str:
    name = (value if value is not None else fallback).strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise ValidationError(f"name: 1 to {MAX_NAME} printable characters")
    return name


def _checked_quiet_hours(dest: Destination, window: QuietHours | None) -> QuietHours | None:
    if not isinstance(dest, TelegramDestination | DiscordDestination):
        raise ValidationError("quiet_hours: only Telegram and Discord destinations have quiet hours")
    return None if window is None else quiet_hours(window.start, window.end, window.timezone)


class DestinationService:
    """Create, list, change and delete an account's destinations; nobody else's are ever visible.

    `check_url` validates a webhook URL at registration (the SSRF guard of core/dispatch, which
    refuses private addresses unless `allow_private_networks`); `tester` sends test events.
    """

    def __init__(
        self,
        repos: Repositories,
        *,
        max_per_account: int,
        allow_private_networks: bool = False,
        check_url: UrlCheck | None = None,
        tester: WebhookTester | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self._repos = repos
        self.max_per_account = max_per_account
        self._check_url = check_url or partial(check_webhook_url, allow_private_networks=allow_private_networks)
        self._tester = tester
        self._clock = clock

    # -- create -----------------------------------------------------------------------------------
    async def create_webhook(self, owner_id: str, url: str, *, name: str | None = None) -> WebhookDestination:
        """A new webhook; its `secret` is in the returned record, to be shown to the owner once."""
        await self._check_url(url)
        host = urlsplit(url).hostname or "webhook"
        self._check_quota(owner_id)
        dest = WebhookDestination(
            id=new_id("dst"),
            owner_id=owner_id,
            name=_name(name, host),
            created_at=self._clock(),
            url=url,
            secret=new_webhook_secret(),
        )
        await self._repos.destinations.save(dest)
        return dest

    async def ensure_telegram_chat(
        self,
        owner_id: str,
        chat_id: int,
        *,
        chat_title: str | None = None,
        message_thread_id: int | None = None,
    ) -> TelegramDestination:
        """The owner's destination for this chat (or this forum topic of it), created on first
        use (idempotent): one destination per (chat, topic)."""
        for dest in self._repos.destinations.for_target("telegram", str(chat_id)):
            if (
                dest.owner_id == owner_id
                and isinstance(dest, TelegramDestination)
                and dest.message_thread_id == message_thread_id
            ):
                if chat_title is not None and dest.chat_title != chat_title:
                    dest.chat_title = chat_title
                    await self._repos.destinations.save(dest)
                return dest
        self._check_quota(owner_id)
        dest = TelegramDestination(
            id=new_id("dst"),
            owner_id=owner_id,
            name=_name(chat_title[:MAX_NAME] if chat_title else None, f"Telegram chat {chat_id}"),
            created_at=self._clock(),
            chat_id=chat_id,
            chat_title=chat_title,
            message_thread_id=message_thread_id,
        )
        await self._repos.destinations.save(dest)
        return dest

    async def move_telegram_chat(self, old_chat_id: int, new_chat_id: int) -> list[TelegramDestination]:
        """Every destination of a Telegram chat that got a new id now delivers to the new one.

        Telegram gives a group a new chat id when it becomes a supergroup; messages to the old
        id fail from then on. Returns the destinations moved.
        """
        moved = [
            dest
            for dest in self._repos.destinations.for_target("telegram", str(old_chat_id))
            if isinstance(dest, TelegramDestination)
        ]
        batch = WriteBatch()
        for dest in moved:
            dest.chat_id = new_chat_id
            self._repos.destinations.put(dest, batch)
        await self._repos.store.commit(batch)
        return moved

    async def ensure_discord(
        self,
        owner_id: str,
        *,
        channel_id: int | None = None,
        user_id: int | None = None,
        guild_id: int | None = None,
        name: str | None = None,
    ) -> DiscordDestination:
        """The owner's destination for a channel (`channel_id`) or a DM (`user_id`), idempotent."""
        if (channel_id is None) == (user_id is None):
            raise ValidationError("give exactly one of channel_id (a channel) or user_id (a DM)")
        target = str(channel_id) if channel_id is not None else f"user:{user_id}"
        for dest in self._repos.destinations.for_target("discord", target):
            if dest.owner_id == owner_id and isinstance(dest, DiscordDestination):
                return dest
        self._check_quota(owner_id)
        fallback = f"Discord channel {channel_id}" if channel_id is not None else "Discord DM"
        dest = DiscordDestination(
            id=new_id("dst"),
            owner_id=owner_id,
            name=_name(name[:MAX_NAME] if name else None, fallback),
            created_at=self._clock(),
            channel_id=channel_id,
            user_id=user_id,
            guild_id=guild_id,
        )
        await self._repos.destinations.save(dest)
        return dest

    # -- read -------------------------------------------------------------------------------------
    def list(self, owner_id: str) -> list[Destination]:
        return self._repos.destinations.of_owner(owner_id)

    def get(self, owner_id: str, destination_id: str) -> Destination:
        dest = self._repos.destinations.get(destination_id) if is_key(destination_id) else None
        if dest is None or dest.owner_id != owner_id:
            raise NotFoundError("destination not found")
        return dest

    def require_owned(self, owner_id: str, destination_ids: builtins.list[str]) -> builtins.list[str]:
        """The ids, de-duplicated in order; NotFoundError if one is not the owner's (or absent).

        Another account's destination is "not found", exactly like a missing one, as everywhere.
        """
        unique = list(dict.fromkeys(destination_ids))
        for dest_id in unique:
            dest = self._repos.destinations.get(dest_id) if is_key(dest_id) else None
            if dest is None or dest.owner_id != owner_id:
                raise NotFoundError(f"destination {dest_id!r} not found")
        return unique

    # -- change -----------------------------------------------------------------------------------
    async def update(
        self,
        owner_id: str,
        destination_id: str,
        *,
        name: str | None = None,
        enabled: bool | None = None,
        url: str | None = None,
        quiet_hours: QuietHours | UnsetType | None = UNSET,
    ) -> Destination:
        """Change what is given (`quiet_hours` None: off; UNSET: unchanged). Everything is checked
        before anything changes, so a bad field leaves the destination as it was."""
        dest = self.get(owner_id, destination_id)
        window = quiet_hours if isinstance(quiet_hours, UnsetType) else _checked_quiet_hours(dest, quiet_hours)
        if url is not None:
            if not isinstance(dest, WebhookDestination):
                raise ValidationError("url: only a webhook destination has a URL")
            await self._check_url(url)
            dest = self.get(owner_id, destination_id)  # re-read: the check awaited
            assert isinstance(dest, WebhookDestination)
            dest.url = url
        if not isinstance(window, UnsetType):
            assert isinstance(dest, TelegramDestination | DiscordDestination)  # _checked_quiet_hours said so
            dest.quiet_hours = window
        if name is not None:
            dest.name = _name(name, "")
        if enabled is not None:
            dest.enabled = enabled
            if enabled:
                dest.disabled_reason = None
                dest.failing_since = None
            else:
                dest.disabled_reason = "disabled by its owner"
        await self._repos.destinations.save(dest)
        return dest

    async def set_quiet_hours(self, owner_id: str, destination_id: str, window: QuietHours | None) -> Destination:
        """A chat's quiet hours (checked and normalised; start == end or None turns them off).

        Only chats have them: a webhook makes no sound, so quiet hours there would mean nothing."""
        dest = self.get(owner_id, destination_id)
        checked = _checked_quiet_hours(dest, window)
        assert isinstance(dest, TelegramDestination | DiscordDestination)
        dest.quiet_hours = checked
        await self._repos.destinations.save(dest)
        return dest

    async def rotate_secret(self, owner_id: str, destination_id: str) -> WebhookDestination:
        """A new signing secret; the old one keeps signing alongside for 24 hours."""
        dest = self.get(owner_id, destination_id)
        if not isinstance(dest, WebhookDestination):
            raise ValidationError("rotate_secret: only a webhook destination has a secret")
        rotated = rotate_secret(dest, self._clock())
        await self._repos.destinations.save(rotated)
        return rotated

    async def delete(self, owner_id: str, destination_id: str) -> None:
        """Delete it and take it out of the owner's subscriptions (which keep their other destinations)."""
        dest = self.get(owner_id, destination_id)
        batch = WriteBatch()
        now = self._clock()
        for sub in self._repos.subscriptions.using_destination(dest.id):
            sub.destination_ids = [d for d in sub.destination_ids if d != dest.id]
            sub.updated_at = now
            self._repos.subscriptions.put(sub, batch)
        self._repos.destinations.delete(dest.id, batch=batch)
        await self._repos.store.commit(batch)

    async def send_test(self, owner_id: str, destination_id: str) -> TestEventResult:
        dest = self.get(owner_id, destination_id)
        if not isinstance(dest, WebhookDestination):
            raise ValidationError("test: only webhook destinations can be tested here")
        if self._tester is None:
            raise UnavailableError("test events are not available in this process")
        return await self._tester(dest)

    def _check_quota(self, owner_id: str) -> None:
        if len(self._repos.destinations.of_owner(owner_id)) >= self.max_per_account:
            raise QuotaExceededError(f"at most {self.max_per_account} destinations per account")
