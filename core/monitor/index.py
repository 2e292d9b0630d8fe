"""The live watches of one chain, by what they watch: a block looks up only what it touches.

Kept by `SubscriptionMatcher` next to its query index (the same store feed keeps both current),
so a validator or voter subscription made on any node takes effect at the next block.
"""

from __future__ import annotations

from collections.abc import Iterator

import bech32

from core.models import Subscription
from core.monitor.models import GovernanceWatch, ValidatorWatch, VoterWatch


def address_bytes(address: str) -> str | None:
    """The hex payload of a bech32 address (None if it is not one): an operator's valoper and its
    account address name the same 20 bytes, and events use either."""
    hrp, data = bech32.bech32_decode(address)
    if hrp is None or data is None:
        return None
    payload = bech32.convertbits(data, 5, 8, False)
    return bytes(payload).hex().upper() if payload else None


class WatchIndex:
    """Validator watches by consensus hex (and by operator bytes), voter watches by address,
    governance watches in a list; each entry is the subscription and its watch."""

    def __init__(self) -> None:
        self.validators: dict[str, dict[str, tuple[Subscription, ValidatorWatch]]] = {}
        self.operators: dict[str, str] = {}  # operator bytes (hex) -> consensus hex
        self.voters: dict[str, dict[str, tuple[Subscription, VoterWatch]]] = {}
        self.governance: dict[str, tuple[Subscription, GovernanceWatch]] = {}
        self._where: dict[str, tuple[str, str]] = {}  # subscription id -> (kind, key)

    def __len__(self) -> int:
        return len(self._where)

    def add(self, sub: Subscription) -> None:
        self.remove(sub.id)
        watch = sub.monitor
        if isinstance(watch, ValidatorWatch):
            key = watch.consensus_hex
            self.validators.setdefault(key, {})[sub.id] = (sub, watch)
            operator = address_bytes(watch.operator)
            if operator is not None:
                self.operators[operator] = key
            self._where[sub.id] = ("validator", key)
        elif isinstance(watch, VoterWatch):
            self.voters.setdefault(watch.voter, {})[sub.id] = (sub, watch)
            self._where[sub.id] = ("voter", watch.voter)
        elif isinstance(watch, GovernanceWatch):
            self.governance[sub.id] = (sub, watch)
            self._where[sub.id] = ("governance", "")

    def remove(self, subscription_id: str) -> None:
        where = self._where.pop(subscription_id, None)
        if where is None:
            return
        kind, key = where
        if kind == "validator":
            entries = self.validators.get(key, {})
            entries.pop(subscription_id, None)
            if not entries:
                self.validators.pop(key, None)
                self.operators = {op: hx for op, hx in self.operators.items() if hx != key}
        elif kind == "voter":
            voters = self.voters.get(key, {})
            voters.pop(subscription_id, None)
            if not voters:
                self.voters.pop(key, None)
        else:
            self.governance.pop(subscription_id, None)

    def of_validator(self, consensus_hex: str) -> Iterator[tuple[Subscription, ValidatorWatch]]:
        yield from self.validators.get(consensus_hex, {}).values()

    def of_voter(self, voter: str) -> Iterator[tuple[Subscription, VoterWatch]]:
        yield from self.voters.get(voter, {}).values()

    def validator_by_operator(self, address: str) -> str | None:
        """The consensus hex of the watched validator whose operator is `address` (valoper or its
        account form), if anyone watches it."""
        payload = address_bytes(address)
        return self.operators.get(payload) if payload is not None else None

    def governance_audience(self) -> Iterator[tuple[Subscription, GovernanceWatch | VoterWatch]]:
        """Everyone told about proposals: governance watches and every voter watch."""
        yield from self.governance.values()
        for entries in self.voters.values():
            yield from entries.values()

    def stall_audience(self) -> Iterator[tuple[Subscription, ValidatorWatch]]:
        """Validator watches that want chain-stalled alerts (one per subscription)."""
        for entries in self.validators.values():
            for sub, watch in entries.values():
                if watch.stall_minutes > 0:
                    yield sub, watch
