"""The devnet's chain: which heights exist, and what `/block` and `/block_results` say for each.

Blocks are made lazily when first asked for and cached as encoded JSON, so serving history is a
dictionary lookup after the first request (the catch-up benchmark fetches thousands of heights).
Generated content is a pure function of the seed and the height, plus what was injected for that
height with `schedule_transfer`/`schedule_tx` (allowed only for heights above the tip: the past
never changes) or replayed with `replay` (a recorded `/block_results`, served at a chosen height
with a synthesised `/block` whose `data.txs` has the right count, so tx hashes exist).

The tip moves only through `advance()`; the server's clock task calls it every `block_time`
seconds (or tests call it directly). Listeners (the websocket fan-out) hear about each new height.
"""

from __future__ import annotations

import base64
import hashlib
import random
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
from msgspec import Struct

from core.chain.decoder import BlockDecoder
from core.errors import ValidationError
from mempools.devnet.addresses import AddressBook, is_valid
from mempools.devnet.generator import (
    VOTING_PERIOD,
    JsonDict,
    TxSpec,
    block_events,
    random_specs,
    render_tx,
    tx_bytes,
)

_NO_BLOCK_ID: Any = {"hash": "", "parts": {"total": 0, "hash": ""}}


class ChainConfig(Struct, frozen=True, kw_only=True):
    chain_id: str = "devnet-1"
    prefix: str = "cosmos"
    denom: str = "uatom"
    block_time: float = 1.0
    """Seconds between blocks when the server's clock runs it; 0 means blocks are made only on demand."""
    txs_per_block: int = 5
    history: int = 0
    """Heights 1..history exist from the start (the initial tip is max(1, history))."""
    seed: int = 0
    genesis_time: float | None = None
    """Unix time of height 1; default: now - history * block_time. Fix it for byte-identical runs."""
    accounts: int = 20
    cache_blocks: int = 20_000
    """Encoded responses kept (per kind); older ones are regenerated on demand."""


class InjectedTx(Struct, frozen=True):
    """Where an injected tx will land: tests wait for `height` and match on `tx_hash`."""

    height: int
    index: int
    tx_hash: str
    spec: TxSpec


def rfc3339(ts: float) -> str:
    """CometBFT's time format: RFC3339 with up to nanoseconds, trailing zeros trimmed, `Z`."""
    dt = datetime.fromtimestamp(ts, UTC)
    frac = f"{dt.microsecond:06d}".rstrip("0")
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"


def _hash(*parts: object) -> str:
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest().upper()


class DevnetChain:
    """A deterministic chain. Not thread-safe; use it from the event loop that serves it."""

    def __init__(self, config: ChainConfig | None = None, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config or ChainConfig()
        self.book = AddressBook(self.config.prefix, self.config.seed, accounts=self.config.accounts)
        self._clock = clock
        self.tip = max(1, self.config.history)
        self._initial_tip = self.tip
        nominal = self.config.block_time or 1.0
        self._genesis = (
            self.config.genesis_time if self.config.genesis_time is not None else clock() - (self.tip - 1) * nominal
        )
        self._made_at: dict[int, float] = {}
        self._injected: dict[int, list[TxSpec]] = {}
        self._replayed: dict[int, JsonDict] = {}
        self._cache: OrderedDict[tuple[str, int, str], bytes] = OrderedDict()
        self._listeners: list[Callable[[int], None]] = []
        self._decoder = BlockDecoder()

    # -- the tip -------------------------------------------------------------------------------

    def advance(self, n: int = 1) -> int:
        """Make `n` new blocks; returns the new tip. Listeners hear each new height in order."""
        for _ in range(n):
            self.tip += 1
            if self.config.genesis_time is None:
                self._made_at[self.tip] = self._clock()
            for listener in list(self._listeners):
                listener(self.tip)
        return self.tip

    def add_listener(self, listener: Callable[[int], None]) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[int], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def time_of(self, height: int) -> str:
        made = self._made_at.get(height)
        if made is None:
            made = self._genesis + (height - 1) * (self.config.block_time or 1.0)
        return rfc3339(made)

    # -- injecting -----------------------------------------------------------------------------

    def schedule_transfer(
        self,
        sender: str,
        recipient: str,
        amount: int,
        denom: str | None = None,
        *,
        height: int | None = None,
        memo: str = "",
    ) -> InjectedTx:
        """Put a bank transfer (MsgSend) into the next block (or a given future height)."""
        for address in (sender, recipient):
            if not is_valid(address, self.config.prefix):
                raise ValidationError(f"not a {self.config.prefix} bech32 address: {address!r}")
        if amount <= 0:
            raise ValidationError("amount must be positive")
        spec = TxSpec("transfer", sender, recipient, int(amount), denom or self.config.denom, memo=memo)
        return self.schedule_tx(spec, height=height)

    def schedule_tx(self, spec: TxSpec, *, height: int | None = None) -> InjectedTx:
        """Put any generated-kind tx into a future block (default: the next one)."""
        target = self.tip + 1 if height is None else height
        if target <= self.tip:
            raise ValidationError(f"height {target} is already made (tip is {self.tip})")
        if target in self._replayed:
            raise ValidationError(f"height {target} replays a recorded block")
        queue = self._injected.setdefault(target, [])
        spec = msgspec.structs.replace(spec, nonce=1_000_000 + len(queue))
        queue.append(spec)
        index = self._generated_count(target) + len(queue) - 1
        raw = tx_bytes(self.config.chain_id, target, index, spec)
        return InjectedTx(target, index, hashlib.sha256(raw).hexdigest().upper(), spec)

    def replay(self, block_results: bytes | str | JsonDict, height: int | None = None) -> int:
        """Serve a recorded `/block_results` (envelope or bare) at `height` (default: tip + 1)."""
        doc = block_results if isinstance(block_results, dict) else msgspec.json.decode(block_results)
        result = doc.get("result", doc)
        if not isinstance(result, dict) or "height" not in result:
            raise ValidationError("not a /block_results document")
        target = self.tip + 1 if height is None else height
        if target in self._injected:
            raise ValidationError(f"height {target} already has injected txs")
        self._replayed[target] = {**result, "height": str(target)}
        for key in [k for k in self._cache if k[1] == target]:
            del self._cache[key]
        return target

    # -- content -------------------------------------------------------------------------------

    def _generated_count(self, height: int) -> int:
        return 0 if height in self._replayed else self.config.txs_per_block

    def _specs(self, height: int) -> list[TxSpec]:
        if height < 1 or height in self._replayed:
            return []
        rng = random.Random(f"{self.config.seed}:specs:{height}")
        specs = random_specs(rng, self.book, self.config.denom, self.config.txs_per_block, height)
        return specs + self._injected.get(height, [])

    def _block_results_obj(self, height: int) -> JsonDict:
        if height in self._replayed:
            return self._replayed[height]
        rng = random.Random(f"{self.config.seed}:render:{height}")
        specs = self._specs(height)
        txs = [render_tx(rng, spec, self.book, self.config.denom, height) for spec in specs]
        ended = height - VOTING_PERIOD
        ended_proposal = ended if any(s.kind == "gov_submit" for s in self._specs(ended)) else None
        return {
            "height": str(height),
            "txs_results": txs or None,
            "finalize_block_events": block_events(rng, self.book, self.config.denom, height, ended_proposal),
            "validator_updates": [],
            "consensus_param_updates": None,
            "app_hash": base64.b64encode(bytes.fromhex(_hash("app", height))).decode(),
        }

    def _raw_txs(self, height: int) -> list[str]:
        if height in self._replayed:
            count = len(self._replayed[height].get("txs_results") or [])
            raws = [f"devnet-replay:{height}:{i}".encode() for i in range(count)]
        else:
            cid = self.config.chain_id
            raws = [tx_bytes(cid, height, i, spec) for i, spec in enumerate(self._specs(height))]
        return [base64.b64encode(raw).decode() for raw in raws]

    def app_hash(self, height: int) -> str:
        """The app hash in block `height`'s header (the state after `height - 1`), hex as `/status` shows it."""
        return _hash("app", height - 1)

    def block_id(self, height: int) -> JsonDict:
        return {
            "hash": _hash("block", self.config.chain_id, height),
            "parts": {"total": 1, "hash": _hash("parts", self.config.chain_id, height)},
        }

    def _block_obj(self, height: int, chain_id: str) -> JsonDict:
        proposer = hashlib.sha256(f"val:{height % 4}".encode()).hexdigest()[:40].upper()
        empty = _hash("empty")
        header = {
            "version": {"block": "11", "app": "0"},
            "chain_id": chain_id,
            "height": str(height),
            "time": self.time_of(height),
            "last_block_id": self.block_id(height - 1) if height > 1 else _NO_BLOCK_ID,
            "last_commit_hash": _hash("commit", height - 1),
            "data_hash": _hash("data", height),
            "validators_hash": _hash("vals"),
            "next_validators_hash": _hash("vals"),
            "consensus_hash": _hash("consensus"),
            "app_hash": self.app_hash(height),
            "last_results_hash": _hash("results", height - 1),
            "evidence_hash": empty,
            "proposer_address": proposer,
        }
        return {
            "block_id": self.block_id(height),
            "block": {
                "header": header,
                "data": {"txs": self._raw_txs(height)},
                "evidence": {"evidence": []},
                "last_commit": {
                    "height": str(height - 1),
                    "round": 0,
                    "block_id": self.block_id(height - 1),
                    "signatures": [],
                },
            },
        }

    def _cached(self, kind: str, height: int, chain_id: str, make: Callable[[], Any]) -> bytes:
        key = (kind, height, chain_id)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        data = msgspec.json.encode(make())
        self._cache[key] = data
        if len(self._cache) > 2 * self.config.cache_blocks:
            self._cache.popitem(last=False)
        return data

    def block_results_json(self, height: int) -> bytes:
        """The encoded `result` object of `/block_results` for a made height."""
        return self._cached("results", height, "", lambda: self._block_results_obj(height))

    def block_json(self, height: int, chain_id: str | None = None) -> bytes:
        """The encoded `result` object of `/block` (header chain id overridable for the wrong-chain fault)."""
        cid = chain_id or self.config.chain_id
        return self._cached("block", height, cid, lambda: self._block_obj(height, cid))

    def new_block_event(self, height: int, query: str, chain_id: str | None = None) -> JsonDict:
        """The `result` of a websocket NewBlock message, shaped as a v0.38 node sends it."""
        block = msgspec.json.decode(self.block_json(height, chain_id))
        results_raw = self.block_results_json(height)
        results = msgspec.json.decode(results_raw)
        scope = self._decoder.decode(results_raw).block_scope
        events = {k: v for k, v in scope.events_map.items() if k not in ("tm.event", "block.height")}
        events["tm.event"] = ["NewBlock"]
        block_events_raw = (
            (results.get("begin_block_events") or [])
            + (results.get("finalize_block_events") or [])
            + (results.get("end_block_events") or [])
        )
        return {
            "query": query,
            "data": {
                "type": "tendermint/event/NewBlock",
                "value": {
                    "block": block["block"],
                    "block_id": block["block_id"],
                    "result_finalize_block": {
                        "events": block_events_raw,
                        "validator_updates": [],
                        "app_hash": results.get("app_hash"),
                    },
                },
            },
            "events": events,
        }
