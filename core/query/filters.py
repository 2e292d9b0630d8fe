"""Post-filters: checks a subscription adds AFTER its CometBFT query matched (a Mempools extension).

The query language cannot say "at least 1.5 ATOM" (numbers are read from the start of a value,
denoms ignored, and only the first coin of `100uatom,5uosmo` counts) nor "in the same transfer
event" (conditions are independent). A post-filter is called by the index with the scope's event
map once a subscription's query matched; the subscription fires only if it returns True.

Post-filters are frozen msgspec Structs: hashable (the index evaluates equal filters once per
scope), storable, and sendable through the API.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from fractions import Fraction
from typing import Any, Protocol, runtime_checkable

from msgspec import Struct

from core.query.events import EventMap
from core.query.numbers import _to_int

# An SDK coin: amount (Int, or Dec for DecCoins such as rewards) then denom.
_COIN = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z][A-Za-z0-9/:._-]*)\s*")


@runtime_checkable
class PostFilter(Protocol):
    def matches(self, events: EventMap) -> bool:
        """True if the scope (its flat `type.attr -> [values]` map) passes the filter."""
        ...


def parse_coins(value: str) -> list[tuple[Fraction | int, str]]:
    """`"100uatom,5uosmo"` -> `[(100, "uatom"), (5, "uosmo")]`; malformed parts are skipped."""
    coins: list[tuple[Fraction | int, str]] = []
    for part in value.split(","):
        m = _COIN.fullmatch(part)
        if m is None:
            continue
        whole, _, frac = m.group(1).partition(".")
        amount: Fraction | int = Fraction(_to_int(whole + frac), 10 ** len(frac)) if frac else _to_int(whole)
        coins.append((amount, m.group(2)))
    return coins


def has_coin(value: str, denom: str, minimum: int) -> bool:
    """Does this amount value hold at least `minimum` base units of `denom` (any of its coins)?"""
    if denom not in value:
        return False  # cheap reject before parsing
    return any(d == denom and a >= minimum for a, d in parse_coins(value))


class MinAmountFilter(Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """At least `amount` base units of `denom` in one value under any of `keys`.

    Every coin of a multi-coin value is checked.
    """

    denom: str
    amount: int
    keys: tuple[str, ...] = ("transfer.amount",)

    def matches(self, events: EventMap) -> bool:
        for key in self.keys:
            for value in events.get(key) or ():
                if has_coin(value, self.denom, self.amount):
                    return True
        return False


class TransferFilter(Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """A bank transfer in ONE event with the given parties and, optionally, a minimum amount.

    `sender` / `recipient` must match that event's sender / recipient; `party` must be either
    of them; with `denom` and `min_amount`, the event's amount must hold at least that many base
    units of the denom. The map keeps one list per key, so the n-th `transfer.sender`,
    `transfer.recipient` and `transfer.amount` belong to the n-th transfer event when the three
    lists have the same length (every SDK version emits the three together). When they do not,
    the filter falls back to checking each requirement on any value, as CometBFT would.

    `exclude_recipient` leaves out transfers to that account: the funds presets put the chain's
    fee collector there, because every fee is a transfer to it and a subscription on an address
    would otherwise fire for each fee the address pays. `also_keys` are other keys (IBC packets)
    whose value naming the party (`recipient`, `sender` or `party`) is enough on its own when no
    minimum amount is asked, as the preset's queries say.
    """

    sender: str | None = None
    recipient: str | None = None
    party: str | None = None
    denom: str | None = None
    min_amount: int | None = None
    event_type: str = "transfer"
    exclude_recipient: str | None = None
    also_keys: tuple[str, ...] = ()

    def _amount_ok(self, value: str) -> bool:
        if self.min_amount is None or self.denom is None:
            return True
        return has_coin(value, self.denom, self.min_amount)

    def _parties_ok(self, sender: str, recipient: str) -> bool:
        return (
            recipient != self.exclude_recipient
            and (self.sender is None or sender == self.sender)
            and (self.recipient is None or recipient == self.recipient)
            and (self.party is None or self.party in (sender, recipient))
        )

    def _named_elsewhere(self, events: EventMap) -> bool:
        if self.min_amount is not None or not self.also_keys:
            return False
        who = self.recipient or self.sender or self.party
        return any(who in (events.get(key) or ()) for key in self.also_keys)

    def matches(self, events: EventMap) -> bool:
        if self._named_elsewhere(events):
            return True
        t = self.event_type
        senders: Sequence[str] = events.get(f"{t}.sender") or ()
        recipients: Sequence[str] = events.get(f"{t}.recipient") or ()
        amounts: Sequence[str] = events.get(f"{t}.amount") or ()
        n = len(amounts)
        if n and len(senders) == n and len(recipients) == n:
            return any(self._parties_ok(senders[i], recipients[i]) and self._amount_ok(amounts[i]) for i in range(n))
        if self.exclude_recipient is not None:  # unpaired: only the recipients can be told apart
            recipients = [r for r in recipients if r != self.exclude_recipient]
        return (
            (self.sender is None or self.sender in senders)
            and (self.recipient is None or self.recipient in recipients)
            and (self.party is None or self.party in senders or self.party in recipients)
            and (self.min_amount is None or any(self._amount_ok(a) for a in amounts))
        )


def as_post_filter(obj: Any) -> PostFilter | None:
    """A post-filter or None; anything else is a programming error."""
    if obj is None or isinstance(obj, PostFilter):
        return obj
    raise TypeError(f"not a post-filter: {obj!r}")
