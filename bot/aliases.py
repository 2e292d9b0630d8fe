"""The address book from a chat (#15.8): `/alias` and `/unalias` on Telegram, `/alias` on Discord.

Both bots call these, as they call `ChatActions` for subscriptions: the book is the acting
account's (the user's in a private chat, the group's or server's in a group), so a group's
labels name addresses in the group's notifications, and only those who may change the group's
subscriptions may change its book. Anyone in the chat may read it.
"""

from __future__ import annotations

from bot.actions import ChatActions, ChatContext, clean_input
from core.errors import PermissionDeniedError
from core.models import AddressLabel
from core.services.address_book import AddressBookService


class AliasActions:
    """Set, show, list and remove the acting account's labels."""

    def __init__(self, actions: ChatActions, address_book: AddressBookService) -> None:
        self._actions = actions
        self._book = address_book

    async def _owner(self, ctx: ChatContext) -> str:
        return (await self._actions.register(ctx)).account.id

    @staticmethod
    def _require_admin(ctx: ChatContext) -> None:
        if ctx.is_group and not ctx.is_admin:
            if ctx.platform == "telegram":
                raise PermissionDeniedError("only the group's administrators can change its address book")
            raise PermissionDeniedError("only members with the Manage Server permission can change its address book")

    async def set(self, ctx: ChatContext, address: str, label: str) -> tuple[AddressLabel, bool]:
        """Label `address`; True when it had no label before."""
        self._require_admin(ctx)
        return await self._book.set(await self._owner(ctx), clean_input(address), clean_input(label))

    async def show(self, ctx: ChatContext, address: str) -> AddressLabel:
        return self._book.get(await self._owner(ctx), clean_input(address))

    async def list(self, ctx: ChatContext) -> list[AddressLabel]:
        return self._book.list(await self._owner(ctx))

    async def remove(self, ctx: ChatContext, address: str) -> AddressLabel:
        self._require_admin(ctx)
        return await self._book.remove(await self._owner(ctx), clean_input(address))
