"""Staking and slashing of the devnet, applied block by block as x/staking and x/slashing do.

`begin_block(h)` reads the votes of height h-1 (who was marked missing), counts misses in the
signed-blocks window, jails on x/slashing's rule and emits its `liveness` and `slash` events;
`end_block(h)` compares the wanted set with the last one and returns the ABCI
`validator_updates`, which CometBFT applies two heights later (the set of h+2). Everything that
was ever decided is kept per height (`set_at`, `absent_at`), so serving an old block later gives
the same answer it would have given at the time.
"""

from __future__ import annotations

import bisect
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from core.errors import ValidationError
from mempools.devnet.validators import FOREVER, DevnetValidator, ValidatorSet, make_validator

JsonDict = dict[str, Any]
#: x/slashing defaults (SDK 0.50): jail time for downtime, slash fractions.
DOWNTIME_JAIL_SECONDS = 600
SLASH_FRACTION_DOWNTIME = Decimal("0.01")
SLASH_FRACTION_DOUBLE_SIGN = Decimal("0.05")


def _event(type_: str, *pairs: tuple[str, str]) -> JsonDict:
    return {"type": type_, "attributes": [{"key": k, "value": v, "index": True} for k, v in pairs]}


class Staking:
    """The validators, the set history and the slashing window. Driven by `DevnetChain.advance`."""

    def __init__(
        self, *, prefix: str, seed: int, count: int, denom: str, window: int, min_signed_per_window: str
    ) -> None:
        if count < 1:
            raise ValidationError("a devnet needs at least one validator")
        if window < 1:
            raise ValidationError("signed_blocks_window must be positive")
        self.denom = denom
        self.window = window
        self.min_signed_per_window = min_signed_per_window
        min_signed = (Decimal(min_signed_per_window) * window).to_integral_value(ROUND_HALF_UP)
        self.max_missed = window - int(min_signed)
        self.validators = [make_validator(seed, prefix, i, count) for i in range(count)]
        self._by_key: dict[str, DevnetValidator] = {}
        for v in self.validators:
            for key in (v.operator, v.account, v.consensus, v.hex):
                self._by_key[key] = v
        self._epoch_starts = [1]
        self._epochs = [ValidatorSet.of(self.validators)]
        self._absent: dict[int, frozenset[str]] = {}
        self._tracked: set[int] = set()  # indexes of validators with misses in the window
        self._pending: list[tuple[DevnetValidator, str]] = []  # (validator, "jail" | "tombstone")
        self._missing: set[int] = set()  # indexes marked missing
        self._dirty = False  # the wanted set may differ from the last one (checked in end_block)

    def reset_genesis_set(self) -> None:
        """Recompute the genesis set after the chain changed tokens (delegations) before height 1."""
        self._epoch_starts, self._epochs = [1], [ValidatorSet.of(self.validators)]

    # -- lookups -------------------------------------------------------------------------------

    def find(self, who: str | int) -> DevnetValidator:
        """A validator by valoper, valcons, account, hex consensus address or index."""
        if isinstance(who, int) or (isinstance(who, str) and who.isdigit()):
            i = int(who)
            if 0 <= i < len(self.validators):
                return self.validators[i]
        elif (v := self._by_key.get(who) or self._by_key.get(who.upper())) is not None:
            return v
        raise ValidationError(f"no such validator: {who!r}")

    def mark_changed(self) -> None:
        """Tokens or status changed outside this module: recompute the set at the end of the block."""
        self._dirty = True

    def set_at(self, height: int) -> ValidatorSet:
        """The set that signs block `height` (header `validators_hash`)."""
        i = bisect.bisect_right(self._epoch_starts, max(1, height)) - 1
        return self._epochs[i]

    def absent_at(self, height: int) -> frozenset[str]:
        """Hex addresses whose vote for height-1 is ABSENT in block `height`'s last commit."""
        return self._absent.get(height, frozenset())

    # -- requests from the API (applied in the next block) -------------------------------------

    def request(self, who: str | int, action: str) -> DevnetValidator:
        v = self.find(who)
        if v.tombstoned:
            raise ValidationError(f"{v.operator} is tombstoned")
        if action == "jail" and v.jailed:
            raise ValidationError(f"{v.operator} is already jailed")
        self._pending.append((v, action))
        return v

    def check_unjail(self, who: str | int) -> DevnetValidator:
        v = self.find(who)
        if v.tombstoned:
            raise ValidationError(f"{v.operator} is tombstoned and can never be unjailed")
        if not v.jailed:
            raise ValidationError(f"{v.operator} is not jailed")
        return v

    def unjail(self, v: DevnetValidator) -> None:
        v.jailed, v.bonded = False, True
        self._dirty = True

    def set_missing(self, v: DevnetValidator, missing: bool) -> None:
        v.missing = missing
        (self._missing.add if missing else self._missing.discard)(v.index)

    # -- block processing ----------------------------------------------------------------------

    def _jail(self, v: DevnetValidator, height: int, reason: str, until: str) -> list[JsonDict]:
        power = v.power
        fraction = SLASH_FRACTION_DOUBLE_SIGN if reason == "double_sign" else SLASH_FRACTION_DOWNTIME
        burned = int(v.tokens * fraction)
        v.tokens -= burned
        v.jailed, v.bonded, v.jailed_until = True, False, until
        v.missed.clear()
        self._tracked.discard(v.index)
        self._dirty = True
        return [
            _event(
                "slash",
                ("address", v.consensus),
                ("power", str(power)),
                ("reason", reason),
                ("jailed", v.consensus),
                ("burned_coins", f"{burned}{self.denom}"),
            )
        ]

    def begin_block(self, height: int, jail_until: str) -> list[JsonDict]:
        """x/slashing's BeginBlocker for block `height` (votes of height-1); returns its events."""
        events: list[JsonDict] = []
        prev = self.set_at(height - 1) if height > 1 else None
        if prev is not None:
            missing = {self.validators[i].hex: self.validators[i] for i in self._missing}
            absent = frozenset(m.hex for m in prev.members if m.hex in missing) if missing else frozenset()
            if absent:
                self._absent[height] = absent
            signed_height = height - 1
            for hex_ in sorted(absent):
                v = missing[hex_]
                if v.jailed:
                    continue
                v.missed.append(signed_height)
                self._tracked.add(v.index)
            for i in sorted(self._tracked):
                v = self.validators[i]
                while v.missed and v.missed[0] <= signed_height - self.window:
                    v.missed.pop(0)
                if not v.missed:
                    self._tracked.discard(i)
                    continue
                if v.hex in absent:
                    events.append(
                        _event(
                            "liveness",
                            ("address", v.consensus),
                            ("missed_blocks", str(len(v.missed))),
                            ("height", str(height)),
                        )
                    )
                if height > v.start_height + self.window and len(v.missed) > self.max_missed and not v.jailed:
                    events += self._jail(v, height, "missing_signature", jail_until)
        pending, self._pending = self._pending, []
        for v, action in pending:
            if action == "jail" and not v.jailed and not v.tombstoned:
                events.append(
                    _event(
                        "liveness",
                        ("address", v.consensus),
                        ("missed_blocks", str(len(v.missed))),
                        ("height", str(height)),
                    )
                )
                events += self._jail(v, height, "missing_signature", jail_until)
            elif action == "tombstone" and not v.tombstoned:
                events += self._jail(v, height, "double_sign", FOREVER)
                v.tombstoned = True
        return events

    def end_block(self, height: int) -> list[JsonDict]:
        """The ABCI validator updates of block `height`; the new set signs from height+2."""
        if not self._dirty:
            return []
        self._dirty = False
        wanted = ValidatorSet.of(self.validators)
        last = self._epochs[-1]
        if wanted.hash == last.hash:
            return []
        old = {m.hex: m for m in last.members}
        new = {m.hex: m for m in wanted.members}
        updates: list[JsonDict] = []
        for v in self.validators:
            before, after = old.get(v.hex), new.get(v.hex)
            if before is None and after is None:
                continue
            if before is not None and after is not None and before.power == after.power:
                continue
            update: JsonDict = {
                "pub_key": {"Sum": {"type": "tendermint.crypto.PublicKey_Ed25519", "value": {"ed25519": v.pub_key}}}
            }
            if after is not None:  # power 0 is omitted from the JSON, as CometBFT's encoder does
                update["power"] = str(after.power)
            updates.append(update)
        start = height + 2
        if self._epoch_starts[-1] == start:
            self._epochs[-1] = wanted
        else:
            self._epoch_starts.append(start)
            self._epochs.append(wanted)
        return updates
