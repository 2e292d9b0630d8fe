"""What both chat bots can do, independent of Telegram and Discord.

A bot turns a command into one call here, with a `ChatContext` saying who asked and where, and
turns the result (or the precise `MempoolsError`) into a reply. Everything about ownership lives
in this module so the two bots cannot drift apart:

- In a private chat / DM the acting account is the user's own: identity (`telegram`|`discord`,
  `<user id>`). Notifications go to this private chat (Telegram) or a DM (Discord).
- In a Telegram group the subscriptions belong to the group: identity (`telegram`,
  `chat:<chat id>`), delivering to the group. In a Discord server they belong to the server:
  identity (`discord`, `guild:<guild id>`), delivering to the channel the command was used in
  (so one server account may deliver to several of its channels). User ids are plain numbers,
  so `chat:`/`guild:` ids can never collide with a person's identity.
- In a group or server only administrators (Telegram) / members with Manage Server (Discord) may
  create or change subscriptions; the bot says who is one in `ChatContext.is_admin`. Anyone may
  list them and read the history.
- Every id is checked against the acting account by the services: another chat's subscription is
  "not found", exactly like an id that never existed.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Literal

import bech32
import msgspec

from core.dispatch.quiet_hours import parse_quiet_hours
from core.dispatch.render import short_address
from core.errors import STORE_BUSY, NotFoundError, PermissionDeniedError, UserError, ValidationError
from core.models import Account, Chain, Destination, Notification, Subscription
from core.monitor.index import address_bytes
from core.monitor.models import ValidatorWatch, VoterWatch
from core.query.addresses import unwatched_prefix, validate_address
from core.query.presets import PRESETS, ParamSpec, Preset, PresetResult, PresetSpec, get_preset
from core.services import ChainInfo, Services
from core.services.history import SubscriptionActivity
from core.support.text import ellipsize

Platform = Literal["telegram", "discord"]

#: The preset `/watch` uses: funds moving to or from one address, one notification per tx.
WATCH_PRESET = "funds_either"
#: The presets `/validator` and `/voter` make, with their defaults (core/query/presets.py).
VALIDATOR_PRESET = "validator"
VOTER_PRESET = "voter"
#: What each bot calls its commands, for messages that point to another one.
_COMMANDS = {
    "telegram": {"validator": "/validator", "voter": "/voter", "watch": "/watch"},
    "discord": {"validator": "`/mempools validator`", "voter": "`/mempools voter`", "watch": "`/mempools watch`"},
}
MAX_HISTORY = 50
_HISTORY_PAGE = 200
_HISTORY_SCAN = 2000
#: `DestinationService.update(enabled=False)` records this reason; a failure records another.
OWNER_DISABLED = "disabled by its owner"


class ChainChoiceRequired(UserError):
    """Several configured chains share the address's prefix: the bot asks which one (`choices`)."""

    status = 422
    slug = "chain-choice-required"

    def __init__(self, address: str, choices: list[Chain]) -> None:
        self.address = address
        self.choices = choices
        names = ", ".join(f"{c.name} ({c.id})" for c in choices)
        super().__init__(f"{address} is valid on several chains: {names}; choose one")


class ChatContext(msgspec.Struct, frozen=True, kw_only=True):
    """Who is acting and where. The bot fills it from the incoming update / interaction.

    `chat_id`: the Telegram chat id, or the Discord channel id (the DM channel in a DM).
    `is_group`: a Telegram group/supergroup, or a Discord server channel.
    `is_admin`: the user administers the group (Telegram) / has Manage Server (Discord); ignored
    in private chats, where the user always acts for themself.
    """

    platform: Platform
    user_id: int
    chat_id: int
    username: str | None = None
    is_group: bool = False
    guild_id: int | None = None
    is_admin: bool = False
    chat_title: str | None = None
    #: A Telegram forum topic the command was sent in (None: no topic): its own destination.
    message_thread_id: int | None = None


class Registration(msgspec.Struct, kw_only=True):
    """The acting account and this chat's destination; `created`: first use in this chat."""

    account: Account
    destination: Destination
    created: bool


class WatchResult(msgspec.Struct, kw_only=True):
    """`created` False: an identical watch already delivered here, and is returned instead."""

    subscription: Subscription
    chain: Chain
    created: bool


class ChatSettings(msgspec.Struct, kw_only=True):
    """What this chat receives: its destination (on or off) and the subscriptions delivering to it."""

    destination: Destination
    subscriptions: list[Subscription]


#: Queue one sample notification for `destination` of `owner_id`; returns the notification id.
SampleSender = Callable[[str, Destination], Awaitable[str]]


class ChatActions:
    """The operations both bots offer; stateless apart from the services it calls."""

    def __init__(self, services: Services, *, send_sample: SampleSender | None = None) -> None:
        self._services = services
        # `/test` goes through the outbox like any notification (see DeliveryService.send_sample).
        self._send_sample = send_sample or services.delivery.send_sample

    # -- who is acting ---------------------------------------------------------------------------
    @staticmethod
    def owner_identity(ctx: ChatContext) -> str:
        """The identity's external id of the account acting in this chat (see the module doc)."""
        if not ctx.is_group:
            return str(ctx.user_id)
        if ctx.platform == "telegram":
            return f"chat:{ctx.chat_id}"
        if ctx.guild_id is None:
            raise ValidationError("this channel is not in a server")
        return f"guild:{ctx.guild_id}"

    async def register(self, ctx: ChatContext) -> Registration:
        """The acting account (created on first use) and this chat as its destination (idempotent)."""
        username = ctx.chat_title if ctx.is_group else ctx.username
        account = await self._services.accounts.get_or_create_for_identity(
            ctx.platform, self.owner_identity(ctx), _clean_username(username)
        )
        known = {d.id for d in self._services.destinations.list(account.id)}
        destination = await self._destination(ctx, account.id)
        return Registration(account=account, destination=destination, created=destination.id not in known)

    async def start(self, ctx: ChatContext) -> Registration:
        """`register`, and a chat whose deliveries were stopped by a failure is enabled again.

        The user blocked the bot (so the dispatcher disabled the chat), unblocked it and said
        /start: they want notifications again. A destination its owner disabled stays disabled.
        """
        reg = await self.register(ctx)
        dest = reg.destination
        if not dest.enabled and dest.disabled_reason != OWNER_DISABLED:
            reg.destination = await self._services.destinations.update(reg.account.id, dest.id, enabled=True)
        return reg

    async def _destination(self, ctx: ChatContext, owner_id: str) -> Destination:
        destinations = self._services.destinations
        title = _clean_username(ctx.chat_title)
        if ctx.platform == "telegram":
            return await destinations.ensure_telegram_chat(
                owner_id, ctx.chat_id, chat_title=title, message_thread_id=ctx.message_thread_id
            )
        if ctx.is_group:
            return await destinations.ensure_discord(
                owner_id, channel_id=ctx.chat_id, guild_id=ctx.guild_id, name=title
            )
        return await destinations.ensure_discord(owner_id, user_id=ctx.user_id, name=_clean_username(ctx.username))

    async def chat_moved(self, old_chat_id: int, new_chat_id: int) -> Account | None:
        """A Telegram group became a supergroup, which has a new chat id: the group's account
        (its subscriptions, history) and its destinations follow it. Idempotent: Telegram tells
        both the old and the new chat."""
        await self._services.destinations.move_telegram_chat(old_chat_id, new_chat_id)
        return await self._services.accounts.move_identity("telegram", f"chat:{old_chat_id}", f"chat:{new_chat_id}")

    def require_admin(self, ctx: ChatContext) -> None:
        """PermissionDeniedError unless the user may change this chat's subscriptions."""
        if ctx.is_group and not ctx.is_admin:
            if ctx.platform == "telegram":
                raise PermissionDeniedError("only the group's administrators can change its subscriptions")
            raise PermissionDeniedError("only members with the Manage Server permission can change its subscriptions")

    # -- chains and presets ------------------------------------------------------------------------
    def chains(self) -> list[ChainInfo]:
        return self._services.chains.list()

    def chain(self, chain_id: str) -> Chain:
        """The configured chain, or a ValidationError naming those that exist."""
        return self._services.chains.require(chain_id)

    @staticmethod
    def presets() -> list[PresetSpec]:
        return [p.spec for p in PRESETS.values()]

    @staticmethod
    def preset(name: str) -> PresetSpec:
        """A preset by its name (`funds_received`) or by its title as people read it ("Funds
        received", any case), or as a suggestion shows it ("Funds received (funds_received)")."""
        text = " ".join(clean_input(name).split())
        if text not in PRESETS:
            folded = text.casefold()
            for candidate in PRESETS.values():
                spec = candidate.spec
                if folded in (spec.title.casefold(), f"{spec.title} ({spec.name})".casefold(), spec.name.casefold()):
                    return spec
        return get_preset(text).spec

    def check_param(self, chain_id: str, preset: str, param: str, value: str) -> str:
        """One parameter of a preset checked on its own (a guided flow asks one at a time).

        Returns the normalised value (addresses lower-cased, ...), or "" for an optional one left
        empty; ValidationError naming the parameter otherwise.
        """
        spec = next((p for p in get_preset(preset).params if p.name == param), None)
        if spec is None:
            raise ValidationError(f"{preset}: unknown parameter {param}")
        alone = msgspec.structs.replace(spec, default=None)
        probe = Preset(
            PresetSpec(name=preset, title="", description="", params=(alone,)),
            lambda _params, _chain: PresetResult(queries=[]),
        )
        checked = probe.validate({param: clean_input(value)}, self.chain(chain_id)).get(param)
        if checked is None:
            return ""
        if isinstance(checked, tuple):  # attributes: back to their text form
            return ",".join(f"{k}={v}" for k, v in checked)
        return str(checked)

    # -- subscribing -----------------------------------------------------------------------------
    def resolve_address(self, address: str, chain_id: str | None = None) -> tuple[str, Chain]:
        """The normalised address and the chain its prefix names.

        ValidationError when the checksum is bad or no configured chain uses the prefix (naming
        those that exist); ChainChoiceRequired when several do and `chain_id` does not decide.
        """
        text = clean_input(address)
        normalised = validate_address(text)
        hrp = normalised.rpartition("1")[0]
        chains = [self._services.chains.require(c) for c in self._services.chains.ids()]
        if chain_id is not None:
            chain = self._services.chains.require(chain_id)
            if chain.bech32_prefix != hrp:
                raise ValidationError(
                    f"address: {chain.name} addresses start with {chain.bech32_prefix}1, "
                    f"but {short_address(normalised)} starts with {hrp}1"
                )
            return normalised, chain
        matching = [c for c in chains if c.bech32_prefix == hrp]
        if len(matching) == 1:
            return normalised, matching[0]
        if matching:
            raise ChainChoiceRequired(normalised, matching)
        for kind in ("valoper", "valcons"):
            base = hrp.removesuffix(kind)
            if base != hrp and any(c.bech32_prefix == base for c in chains):
                raise ValidationError(
                    f"address: {short_address(normalised)} is a validator address ({kind}); "
                    "watch an account address instead, or use a validator preset with /subscribe"
                )
        raise ValidationError(f"address: {unwatched_prefix(hrp, hrp, chains)}")

    async def watch(self, ctx: ChatContext, address: str, chain_id: str | None = None) -> WatchResult:
        """Funds to or from `address` on the chain its prefix names, delivered to this chat."""
        self.require_admin(ctx)
        normalised, chain = self.resolve_address(address, chain_id)
        reg = await self.register(ctx)
        for sub in self._services.subscriptions.list(reg.account.id, chain_id=chain.id):
            if (
                sub.preset == WATCH_PRESET
                and (sub.params or {}).get("address") == normalised
                and not (sub.params or {}).get("min_amount")
                and reg.destination.id in sub.destination_ids
            ):
                if not sub.enabled:
                    sub = await self._services.subscriptions.resume(reg.account.id, sub.id)
                return WatchResult(subscription=sub, chain=chain, created=False)
        sub = await self._services.subscriptions.create(
            reg.account.id,
            chain_id=chain.id,
            name=f"Funds of {short_address(normalised)}",
            preset=WATCH_PRESET,
            params={"address": normalised},
            destination_ids=[reg.destination.id],
        )
        return WatchResult(subscription=sub, chain=chain, created=True)

    # -- monitoring in one step (/validator, /voter) -------------------------------------------------
    def resolve_validator(self, ctx: ChatContext, address: str, chain_id: str | None = None) -> tuple[str, Chain]:
        """A validator's operator (`…valoper1…`) or consensus (`…valcons1…`) address, normalised,
        and the chain its prefix names (like `resolve_address`, on the prefix without the suffix).

        An account address is refused with what to give instead (and that /voter takes it)."""
        normalised = validate_address(clean_input(address))
        hrp = normalised.rpartition("1")[0]
        commands = _COMMANDS[ctx.platform]
        chains = [self._services.chains.require(c) for c in self._services.chains.ids()]

        def an_account(prefix: str) -> ValidationError:
            return ValidationError(
                f"address: {short_address(normalised)} is an account address; {commands['validator']} takes the "
                f"validator's operator address ({prefix}valoper1…) or its consensus address ({prefix}valcons1…). "
                f"An account's votes: {commands['voter']}; its transfers: {commands['watch']}"
            )

        if chain_id is not None:
            chain = self._services.chains.require(chain_id)
            prefix = chain.bech32_prefix
            if hrp in (prefix + "valoper", prefix + "valcons"):
                return normalised, chain
            if hrp == prefix:
                raise an_account(prefix)
            raise ValidationError(
                f"address: {chain.name} validators have addresses starting with {prefix}valoper1 or "
                f"{prefix}valcons1, but {short_address(normalised)} starts with {hrp}1"
            )
        kind = next((k for k in ("valoper", "valcons") if hrp.endswith(k) and hrp != k), None)
        if kind is None:
            if any(c.bech32_prefix == hrp for c in chains):
                raise an_account(hrp)
            raise ValidationError(f"address: {unwatched_prefix(hrp, hrp, chains)}")
        base = hrp.removesuffix(kind)
        matching = [c for c in chains if c.bech32_prefix == base]
        if len(matching) == 1:
            return normalised, matching[0]
        if matching:
            raise ChainChoiceRequired(normalised, matching)
        raise ValidationError(f"address: {unwatched_prefix(base, hrp, chains)}")

    def resolve_voter(self, ctx: ChatContext, address: str, chain_id: str | None = None) -> tuple[str, Chain]:
        """An account address and its chain (`resolve_address`); a validator's address is refused
        with the account it votes from (an operator address names the same bytes)."""
        normalised = validate_address(clean_input(address))
        hrp = normalised.rpartition("1")[0]
        prefixes = {self._services.chains.require(c).bech32_prefix for c in self._services.chains.ids()}
        for kind, what in (("valoper", "operator"), ("valcons", "consensus")):
            base = hrp.removesuffix(kind)
            if base == hrp or base not in prefixes:
                continue
            hint = f"{_COMMANDS[ctx.platform]['validator']} watches the validator itself"
            if kind == "valoper":
                account = _bech32(base, address_bytes(normalised) or "")
                hint = f"this validator votes from its account {account}; {hint}"
            raise ValidationError(
                f"address: {short_address(normalised)} is a validator's {what} address; a voter watch takes "
                f"the account that votes ({base}1…): {hint}"
            )
        return self.resolve_address(normalised, chain_id)

    async def validator(self, ctx: ChatContext, address: str, chain_id: str | None = None) -> WatchResult:
        """Watch one validator with the preset's defaults (missed-block thresholds, streak, stall),
        delivered to this chat; named after its moniker. A validator this chat already watches is
        returned (resumed if paused) instead of a second watch.

        With the chain's REST API the address is looked up first, so an unknown validator or a
        failing query is refused before anything is created; without it a consensus address still
        works (missed blocks come from the blocks) and an operator address gets the service's
        refusal."""
        self.require_admin(ctx)
        normalised, chain = self.resolve_validator(ctx, address, chain_id)
        directory = self._services.validators
        found = await directory.resolve(chain, normalised) if directory.available(chain.id) else None
        is_consensus = normalised.rpartition("1")[0].endswith("valcons")
        operators = {found.operator} if found is not None else (set() if is_consensus else {normalised})
        hexes = {found.consensus_hex} if found is not None else ({address_bytes(normalised)} if is_consensus else set())
        reg = await self.register(ctx)
        for sub in self._services.subscriptions.list(reg.account.id, chain_id=chain.id):
            watch = sub.monitor
            if (
                isinstance(watch, ValidatorWatch)
                and reg.destination.id in sub.destination_ids
                and (watch.operator in operators or watch.consensus_hex in hexes)
            ):
                return await self._existing(reg, sub, chain)
        moniker = _clean_text(found.moniker) if found is not None else ""
        name = f"Validator {moniker or short_address(normalised)}"
        return await self._new_watch(reg, chain, name, VALIDATOR_PRESET, {"validator": normalised})

    async def voter(self, ctx: ChatContext, address: str, chain_id: str | None = None) -> WatchResult:
        """Watch an account that votes (new proposals, "has not voted" reminders 24 h and 1 h
        before the end, its votes, the results), delivered to this chat; named after its
        address-book label if it has one. An already watched voter is returned instead."""
        self.require_admin(ctx)
        normalised, chain = self.resolve_voter(ctx, address, chain_id)
        reg = await self.register(ctx)
        for sub in self._services.subscriptions.list(reg.account.id, chain_id=chain.id):
            watch = sub.monitor
            here = reg.destination.id in sub.destination_ids
            if isinstance(watch, VoterWatch) and watch.voter == normalised and here:
                return await self._existing(reg, sub, chain)
        label = self._services.address_book.labels_for(reg.account.id, [normalised]).get(normalised)
        name = f"Voter {_clean_text(label or '') or short_address(normalised)}"
        return await self._new_watch(reg, chain, name, VOTER_PRESET, {"voter": normalised})

    async def _new_watch(
        self, reg: Registration, chain: Chain, name: str, preset: str, params: dict[str, str]
    ) -> WatchResult:
        """A watch with the preset's defaults, delivered to the chat that asked."""
        sub = await self._services.subscriptions.create(
            reg.account.id,
            chain_id=chain.id,
            name=ellipsize(name, 100),
            preset=preset,
            params=params,
            destination_ids=[reg.destination.id],
        )
        return WatchResult(subscription=sub, chain=chain, created=True)

    async def _existing(self, reg: Registration, sub: Subscription, chain: Chain) -> WatchResult:
        """An identical watch already delivering here: it is the answer (resumed if paused)."""
        if not sub.enabled:
            sub = await self._services.subscriptions.resume(reg.account.id, sub.id)
        return WatchResult(subscription=sub, chain=chain, created=False)

    async def subscribe(
        self,
        ctx: ChatContext,
        chain_id: str,
        *,
        name: str | None = None,
        preset: str | None = None,
        params: Mapping[str, str] | None = None,
        query: str | None = None,
    ) -> Subscription:
        """A subscription from a preset + params, or from one raw CometBFT query.

        A bad query raises `QuerySyntaxError` (with `.caret_lines` to show where).
        """
        self.require_admin(ctx)
        if (preset is None) == (query is None):
            raise ValidationError("give either a preset or a query")
        chain = self.chain(chain_id)
        if query is not None:
            query = _clean_query(query)
        clean_params = {k: clean_input(v) for k, v in (params or {}).items() if clean_input(v) != ""}
        chosen = clean_input(name) if name else default_name(preset, clean_params)
        reg = await self.register(ctx)
        return await self._services.subscriptions.create(
            reg.account.id,
            chain_id=chain.id,
            name=chosen[:100],
            preset=preset,
            params=clean_params if preset is not None else None,
            queries=[query] if query is not None else None,
            destination_ids=[reg.destination.id],
        )

    # -- managing --------------------------------------------------------------------------------
    async def list(self, ctx: ChatContext) -> list[Subscription]:
        """The subscriptions of the acting account (the user's own, or the group's)."""
        reg = await self.register(ctx)
        return self._services.subscriptions.list(reg.account.id)

    async def get(self, ctx: ChatContext, subscription_id: str) -> Subscription:
        return self._services.subscriptions.get((await self.register(ctx)).account.id, _clean_id(subscription_id))

    async def pause(self, ctx: ChatContext, subscription_id: str) -> Subscription:
        self.require_admin(ctx)
        return await self._services.subscriptions.pause(
            (await self.register(ctx)).account.id, _clean_id(subscription_id)
        )

    async def resume(self, ctx: ChatContext, subscription_id: str) -> Subscription:
        self.require_admin(ctx)
        return await self._services.subscriptions.resume(
            (await self.register(ctx)).account.id, _clean_id(subscription_id)
        )

    async def mute(self, ctx: ChatContext, subscription_id: str, duration: timedelta) -> Subscription:
        self.require_admin(ctx)
        return await self._services.subscriptions.mute(
            (await self.register(ctx)).account.id, _clean_id(subscription_id), duration
        )

    async def rename(self, ctx: ChatContext, subscription_id: str, name: str) -> Subscription:
        """A new name (invisible characters removed; ValidationError when empty or too long)."""
        self.require_admin(ctx)
        owner = (await self.register(ctx)).account.id
        clean = "".join(ch for ch in clean_input(name) if ch.isprintable())
        return await self._services.subscriptions.update(owner, _clean_id(subscription_id), name=clean)

    async def activity(self, ctx: ChatContext, subscription_id: str) -> SubscriptionActivity:
        """When the subscription last fired and how often (NotFoundError when it is gone)."""
        return self._services.history.activity((await self.register(ctx)).account.id, _clean_id(subscription_id))

    async def test_subscription(self, ctx: ChatContext, subscription_id: str) -> Subscription:
        """`test` from a subscription's card: the sample comes here if the subscription still exists."""
        sub = await self.get(ctx, subscription_id)
        await self.test(ctx)
        return sub

    async def unsubscribe(self, ctx: ChatContext, subscription_id: str) -> Subscription:
        """Delete it; returns what was deleted (for the reply). Its history stays."""
        self.require_admin(ctx)
        owner = (await self.register(ctx)).account.id
        sub = self._services.subscriptions.get(owner, _clean_id(subscription_id))
        await self._services.subscriptions.delete(owner, sub.id)
        return sub

    async def set_silent(self, ctx: ChatContext, subscription_id: str, silent: bool) -> Subscription:
        """Deliver this subscription's notifications without a sound (or with one again)."""
        self.require_admin(ctx)
        owner = (await self.register(ctx)).account.id
        return await self._services.subscriptions.update(owner, _clean_id(subscription_id), silent=silent)

    async def set_quiet_hours(self, ctx: ChatContext, typed: str) -> Destination:
        """This chat's quiet hours from what was typed ("23:00-07:00 Europe/Berlin", or "off").

        In a group only administrators may: the whole group hears the sound, or does not."""
        if ctx.is_group and not ctx.is_admin:
            who = "the group's administrators" if ctx.platform == "telegram" else "members with Manage Server"
            raise PermissionDeniedError(f"only {who} can change this chat's quiet hours")
        window = parse_quiet_hours(clean_input(typed))
        reg = await self.register(ctx)
        return await self._services.destinations.set_quiet_hours(reg.account.id, reg.destination.id, window)

    async def settings(self, ctx: ChatContext) -> ChatSettings:
        """This chat's destination and the acting account's subscriptions that deliver here."""
        reg = await self.register(ctx)
        subs = self._services.subscriptions.list(reg.account.id)
        return ChatSettings(
            destination=reg.destination,
            subscriptions=[s for s in subs if reg.destination.id in s.destination_ids],
        )

    async def history(self, ctx: ChatContext, limit: int = 5) -> builtins.list[Notification]:
        """The last `limit` notifications delivered (or meant) to this chat, newest first."""
        if not 1 <= limit <= MAX_HISTORY:
            raise ValidationError(f"n: a number from 1 to {MAX_HISTORY}")
        reg = await self.register(ctx)
        found: list[Notification] = []
        cursor: str | None = None
        scanned = 0
        while len(found) < limit and scanned < _HISTORY_SCAN:
            page = self._services.history.notifications(reg.account.id, limit=_HISTORY_PAGE, cursor=cursor)
            scanned += len(page.items)
            found += [n for n in page.items if reg.destination.id in n.destination_ids]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        return found[:limit]

    # -- linking and testing -----------------------------------------------------------------------
    async def link(self, ctx: ChatContext, code: str) -> Account:
        """Join this user's chat identity to the account that made `code` (`POST /v1/link-codes`)."""
        if ctx.is_group:
            raise ValidationError("link your account in a private chat with the bot, not in a group")
        text = clean_input(code)
        if not text:
            raise ValidationError("code: required, e.g. /link ABCD2345")
        return await self._services.accounts.redeem_link_code(
            text, ctx.platform, str(ctx.user_id), _clean_username(ctx.username)
        )

    async def test(self, ctx: ChatContext) -> str:
        """Queue a sample notification to this chat through the outbox; returns its id."""
        self.require_admin(ctx)
        reg = await self.register(ctx)
        if not reg.destination.enabled:
            raise ValidationError(f"notifications to this chat are disabled: {reg.destination.disabled_reason}")
        return await self._send_sample(reg.account.id, reg.destination)


# -- input hygiene -------------------------------------------------------------------------------
# Chat clients paste invisible characters (zero-width spaces, RTL/LTR marks, BOMs) around copied
# addresses and ids; they are never part of a valid value, so they are removed before checking.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\u00ad\x00]")


_ADDRESS_TYPES = ("address", "valoper", "valcons")


def default_name(preset: str | None, params: Mapping[str, str]) -> str:
    """The name a subscription gets when none is given: the preset's title and the address it
    watches, if any. The chain is shown next to every name already, so it is not repeated."""
    if preset is None:
        return "Custom query"
    spec = get_preset(preset)
    watched = next((params[p.name] for p in spec.params if p.type in _ADDRESS_TYPES and params.get(p.name)), None)
    return f"{spec.title} · {short_address(watched)}" if watched else spec.title


def clean_input(text: str) -> str:
    """`text` without invisible characters (zero-width, bidi marks, BOM, soft hyphen, NUL), stripped."""
    return _INVISIBLE.sub("", text).strip()


def _clean_id(text: str) -> str:
    cleaned = clean_input(text)
    if not cleaned:
        raise ValidationError("give the subscription id, as shown by /list")
    if len(cleaned) > 64 or not cleaned.isascii() or not cleaned.isprintable():
        raise NotFoundError("subscription not found")
    return cleaned


_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'"})


def _clean_query(text: str) -> str:
    """Invisible characters removed and typographic quotes straightened (phones insert them)."""
    return clean_input(text).translate(_QUOTES)


def _clean_text(text: str) -> str:
    """Chain or user text fit for a name: printable characters only, spaces collapsed."""
    return " ".join("".join(ch for ch in text if ch.isprintable()).split())


def _bech32(hrp: str, hex_payload: str) -> str:
    data = bech32.convertbits(bytes.fromhex(hex_payload), 8, 5)
    assert data is not None
    return str(bech32.bech32_encode(hrp, data))


def _clean_username(text: str | None) -> str | None:
    if text is None:
        return None
    cleaned = "".join(ch for ch in clean_input(text) if ch.isprintable())
    return cleaned[:64] or None


__all__ = [
    "MAX_HISTORY",
    "STORE_BUSY",
    "VALIDATOR_PRESET",
    "VOTER_PRESET",
    "WATCH_PRESET",
    "ChainChoiceRequired",
    "ChatActions",
    "ChatContext",
    "ChatSettings",
    "ParamSpec",
    "PermissionDeniedError",
    "Platform",
    "Registration",
    "SampleSender",
    "WatchResult",
    "clean_input",
]
