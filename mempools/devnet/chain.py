"""The devnet's chain: which heights exist, and what `/block` and `/block_results` say for each.

Blocks are made lazily when first asked for and cached as encoded JSON, so serving history is a
dictionary lookup after the first request (the catch-up benchmark fetches thousands of heights).
Generated content is a pure function of the seed and the height, plus what was injected for that
height with `schedule_transfer`/`schedule_tx` (allowed only for heights above the tip: the past
never changes) or replayed with `replay` (a recorded `/block_results`, served at a chosen height
with a synthesised `/block` whose `data.txs` has the right count, so tx hashes exist).

The tip moves only through `advance()`; the server's clock task calls it every `block_time`
seconds (or tests call it directly). Listeners (the websocket fan-out) hear about each new height.

State (validator set, slashing, gov) changes only inside `advance()`, block by block: requests
made through the API (`jail`, `vote`, ...) land in the next block, as a tx would. What each
height decided (its set, absent signatures, module events, validator updates) is recorded, so a
height rendered later (or again after leaving the cache) says what it said when it was made.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import random
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

import msgspec
from msgspec import Struct

from core.chain.decoder import BlockDecoder
from core.errors import ValidationError
from mempools.devnet import gov
from mempools.devnet.addresses import AddressBook, is_valid
from mempools.devnet.generator import JsonDict, TxSpec, block_events, event, random_specs, render_tx, tx_bytes
from mempools.devnet.staking import DOWNTIME_JAIL_SECONDS, Staking
from mempools.devnet.validators import POWER_REDUCTION, DevnetValidator

#: Distribution events (`commission`, `rewards`) are emitted for this many top validators per block
#: (a real chain emits them for every signer; 180 of each would only slow the benchmarks down).
REWARDED_VALIDATORS = 4
_ABSENT: Any = {"block_id_flag": 1, "validator_address": "", "timestamp": "0001-01-01T00:00:00Z", "signature": None}

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
    validators: int = 4
    gov_version: Literal["v1", "v1beta1"] = "v1"
    """v1: SDK 0.50 events and REST (v1 and v1beta1 paths); v1beta1: SDK 0.45 (v1 paths answer 501)."""
    signed_blocks_window: int = 100
    min_signed_per_window: str = "0.5"


class ChainState(Struct):
    """Validators and proposals as they were after block `height` (REST's historical queries)."""

    height: int
    validators: list[DevnetValidator]
    proposals: dict[int, gov.DevnetProposal]


def _copy_validator(v: DevnetValidator) -> DevnetValidator:
    return msgspec.structs.replace(v, missed=list(v.missed))


def _copy_proposal(p: gov.DevnetProposal) -> gov.DevnetProposal:
    return msgspec.structs.replace(p, votes=dict(p.votes))


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
        cfg = self.config
        self.book = AddressBook(cfg.prefix, cfg.seed, accounts=cfg.accounts, validators=cfg.validators)
        self.staking = Staking(
            prefix=cfg.prefix,
            seed=cfg.seed,
            count=cfg.validators,
            denom=cfg.denom,
            window=cfg.signed_blocks_window,
            min_signed_per_window=cfg.min_signed_per_window,
        )
        #: Every account delegates to one validator (stake for the gov tally): account -> (validator account, tokens).
        self.delegations: dict[str, tuple[str, int]] = {}
        for j, account in enumerate(self.book.accounts):
            val = self.staking.validators[j % len(self.staking.validators)]
            amount = (5 + j) * POWER_REDUCTION
            val.tokens += amount
            self.delegations[account] = (val.account, amount)
        self.staking.reset_genesis_set()
        self.proposals: dict[int, gov.DevnetProposal] = {}
        self._ops: dict[int, list[Callable[[float], None]]] = {}
        self._begin_extra: dict[int, list[JsonDict]] = {}
        self._end_extra: dict[int, list[JsonDict]] = {}
        self._updates: dict[int, list[JsonDict]] = {}
        self._warp_from: list[int] = [0]
        self._warp_offset: list[float] = [0.0]
        self._pending_warp = 0.0
        self._snapshot_heights: list[int] = []
        self._snapshots: list[ChainState] = []
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
        self._snapshot()

    # -- the tip -------------------------------------------------------------------------------

    def advance(self, n: int = 1) -> int:
        """Make `n` new blocks; returns the new tip. Listeners hear each new height in order."""
        for _ in range(n):
            self.tip += 1
            if self.config.genesis_time is None:
                self._made_at[self.tip] = self._clock()
            if self._pending_warp:
                self._warp_from.append(self.tip)
                self._warp_offset.append(self._warp_offset[-1] + self._pending_warp)
                self._pending_warp = 0.0
            self._process(self.tip)
            for listener in list(self._listeners):
                listener(self.tip)
        return self.tip

    def _process(self, height: int) -> None:
        """Run the modules for block `height`: slashing (BeginBlock), txs, gov and staking (EndBlock)."""
        t = self.time_at(height)
        begin = self.staking.begin_block(height, rfc3339(t + DOWNTIME_JAIL_SECONDS))
        ops = self._ops.pop(height, [])
        for op in ops:
            op(t)
        changed = bool(ops)
        end: list[JsonDict] = []
        for p in self.proposals.values():
            if p.submitted and p.status == "PROPOSAL_STATUS_VOTING_PERIOD" and p.voting_end <= t:
                result, bonded = self._tally(p)
                passed = gov.outcome(result, bonded)
                p.final = result
                p.status = "PROPOSAL_STATUS_PASSED" if passed else "PROPOSAL_STATUS_REJECTED"
                end.append(gov.end_event(p, passed))
        updates = self.staking.end_block(height)
        if begin or end or updates or changed:
            self._snapshot()
        if begin:
            self._begin_extra[height] = begin
        if end:
            self._end_extra[height] = end
        if updates:
            self._updates[height] = updates

    def add_listener(self, listener: Callable[[int], None]) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[int], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def time_at(self, height: int) -> float:
        """Unix time of block `height`, including every `warp` made before it."""
        made = self._made_at.get(height)
        if made is None:
            made = self._genesis + (height - 1) * (self.config.block_time or 1.0)
        return made + self._warp_offset[bisect.bisect_right(self._warp_from, height) - 1]

    def time_of(self, height: int) -> str:
        return rfc3339(self.time_at(height))

    def warp(self, seconds: float) -> None:
        """The next block's time jumps `seconds` ahead (and so do all later ones): 24 h of voting
        period pass in one block. Times stay monotonic (negative jumps are refused)."""
        if seconds < 0:
            raise ValidationError("warp seconds must not be negative")
        self._pending_warp += float(seconds)

    def _snapshot(self) -> None:
        """Keep a copy of the state after the tip (taken only when a block changed something)."""
        prev = self._snapshots[-1] if self._snapshots else ChainState(0, [], {})
        # Unchanged objects are shared with the previous snapshot: a validator missing for
        # thousands of blocks costs one small copy per block, not a copy of the whole set.
        vals = [
            old if i < len(prev.validators) and (old := prev.validators[i]) == v else _copy_validator(v)
            for i, v in enumerate(self.staking.validators)
        ]
        props = {
            pid: kept if (kept := prev.proposals.get(pid)) is not None and kept == p else _copy_proposal(p)
            for pid, p in self.proposals.items()
        }
        state = ChainState(self.tip, vals, props)
        if self._snapshot_heights and self._snapshot_heights[-1] == self.tip:
            self._snapshots[-1] = state
        else:
            self._snapshot_heights.append(self.tip)
            self._snapshots.append(state)

    def state_at(self, height: int | None = None) -> ChainState:
        """The state after block `height` (default: the tip; live objects, not copies)."""
        if height is None or height >= self.tip:
            return ChainState(self.tip, self.staking.validators, self.proposals)
        i = bisect.bisect_right(self._snapshot_heights, height) - 1
        state = self._snapshots[max(0, i)]
        return ChainState(height, state.validators, state.proposals)

    # -- validators, slashing ------------------------------------------------------------------

    @property
    def validators(self) -> list[DevnetValidator]:
        return self.staking.validators

    def validator(self, who: str | int) -> DevnetValidator:
        return self.staking.find(who)

    def set_missing(self, who: str | int, missing: bool = True) -> DevnetValidator:
        """From the next block on, this validator's signature is ABSENT (or present again)."""
        v = self.staking.find(who)
        self.staking.set_missing(v, missing)
        return v

    def jail(self, who: str | int) -> DevnetValidator:
        """Jail for downtime in the next block (slash + liveness events), out of the set two blocks later."""
        return self.staking.request(who, "jail")

    def tombstone(self, who: str | int) -> DevnetValidator:
        """Double-sign evidence in the next block: slash reason double_sign, jailed forever, tombstoned."""
        return self.staking.request(who, "tombstone")

    def unjail(self, who: str | int) -> InjectedTx:
        """A MsgUnjail tx in the next block; the validator rejoins the set two blocks later.
        (Unlike the SDK, `jailed_until` is not enforced: tests need not wait 10 minutes.)"""
        v = self.staking.check_unjail(who)
        m = ("msg_index", "0")
        events = [
            event(
                "message",
                ("action", "/cosmos.slashing.v1beta1.MsgUnjail"),
                ("sender", v.account),
                ("module", "slashing"),
                m,
            ),
            event("message", ("module", "slashing"), ("sender", v.operator), m),
        ]
        return self._module_tx("unjail", v.account, events, lambda t: self.staking.unjail(v))

    def edit_validator(
        self, who: str | int, moniker: str | None = None, commission_rate: str | None = None
    ) -> InjectedTx:
        """A MsgEditValidator tx in the next block; REST shows the new moniker/commission after it."""
        v = self.staking.find(who)
        rate = v.commission_rate
        if commission_rate is not None:
            try:
                value = Decimal(commission_rate)
            except ArithmeticError:
                raise ValidationError(f"not a decimal: {commission_rate!r}") from None
            if not 0 <= value <= 1:
                raise ValidationError("commission_rate must be between 0 and 1")
            rate = f"{value:.18f}"
        m = ("msg_index", "0")
        events = [
            event(
                "message",
                ("action", "/cosmos.staking.v1beta1.MsgEditValidator"),
                ("sender", v.account),
                ("module", "staking"),
                m,
            ),
            event("edit_validator", ("commission_rate", rate), ("min_self_delegation", v.min_self_delegation), m),
        ]

        def apply(t: float) -> None:
            if moniker is not None:
                v.moniker = moniker
            v.commission_rate = rate

        return self._module_tx("edit_validator", v.account, events, apply)

    # -- governance ----------------------------------------------------------------------------

    def submit_proposal(
        self, title: str, *, proposer: str | None = None, voting_period: float = 86400.0, description: str = ""
    ) -> int:
        """A MsgSubmitProposal in the next block; voting starts in that block (deposit is enough)."""
        author = self._account(proposer) if proposer is not None else self.book.accounts[0]
        if voting_period <= 0:
            raise ValidationError("voting_period must be positive")
        pid = len(self.proposals) + 1
        p = gov.DevnetProposal(
            id=pid,
            title=title,
            description=description,
            proposer=author,
            voting_period=float(voting_period),
            deposit=10_000_000,
        )
        self.proposals[pid] = p

        def apply(t: float) -> None:
            p.submitted, p.submit_time, p.voting_start, p.voting_end = True, rfc3339(t), t, t + p.voting_period

        events = gov.submit_events(p, self.config.gov_version, self.config.denom, self.book.gov_module)
        self._module_tx("gov_submit", author, events, apply)
        return pid

    def vote(self, pid: int, voter: str | int, option: str = "yes") -> InjectedTx:
        """A MsgVote tx in the next block (a later vote replaces an earlier one).
        `voter`: an account, or a validator (by any of its addresses or index; it votes with its account)."""
        p = self.proposals.get(int(pid))
        if p is None:
            raise ValidationError(f"proposal {pid} doesn't exist")
        if p.status != "PROPOSAL_STATUS_VOTING_PERIOD":
            raise ValidationError(f"{pid}: inactive proposal")
        number = gov.parse_option(option)
        account = self._account(voter)
        events = gov.vote_events(p.id, account, number, self.config.gov_version)

        def apply(t: float) -> None:
            if p.status == "PROPOSAL_STATUS_VOTING_PERIOD":
                p.votes[account] = number

        return self._module_tx("gov_vote", account, events, apply)

    def _account(self, who: str | int) -> str:
        if isinstance(who, str) and is_valid(who, self.config.prefix):
            return who
        try:
            return self.staking.find(who).account
        except ValidationError:
            raise ValidationError(f"not a {self.config.prefix} account or validator: {who!r}") from None

    def _tally(self, p: gov.DevnetProposal) -> tuple[gov.Tally, int]:
        bonded = {v.account: v.tokens for v in self.staking.validators if v.bonded and not v.jailed}
        return gov.tally(p.votes, bonded, self.delegations)

    def tally(self, pid: int) -> gov.Tally:
        """The current (or final) tally of a proposal."""
        return self.tally_in(self.state_at(), self.proposals[pid])

    def tally_in(self, state: ChainState, p: gov.DevnetProposal) -> gov.Tally:
        """A proposal's tally as `state` had it (final once ended)."""
        if p.final is not None:
            return p.final
        bonded = {v.account: v.tokens for v in state.validators if v.bonded and not v.jailed}
        return gov.tally(p.votes, bonded, self.delegations)[0]

    def _module_tx(self, kind: Any, sender: str, events: list[JsonDict], apply: Callable[[float], None]) -> InjectedTx:
        injected = self.schedule_tx(TxSpec(kind, sender, events=events))
        self._ops.setdefault(injected.height, []).append(apply)
        return injected

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
        members = self.staking.set_at(height).members
        by_hex = {v.hex: v for v in self.staking.validators} if members else {}
        proposer = by_hex[members[height % len(members)].hex].operator if members else ""
        rewarded = [by_hex[m.hex].operator for m in members[:REWARDED_VALIDATORS]]
        events = block_events(
            rng,
            self.book,
            self.config.denom,
            proposer,
            rewarded,
            self._begin_extra.get(height, []),
            self._end_extra.get(height, []),
        )
        return {
            "height": str(height),
            "txs_results": txs or None,
            "finalize_block_events": events,
            "validator_updates": self._updates.get(height, []),
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

    def validator_updates(self, height: int) -> list[JsonDict]:
        return self._updates.get(height, [])

    def _signatures(self, height: int) -> list[Any]:
        """Block `height`'s last_commit signatures: the set of height-1 in its order, ABSENT for the missing."""
        if height <= 1:
            return []
        absent = self.staking.absent_at(height)
        stamp = self.time_of(height - 1)
        sigs: list[Any] = []
        for m in self.staking.set_at(height - 1).members:
            if m.hex in absent:
                sigs.append(_ABSENT)
                continue
            sig = hashlib.sha512(f"{m.hex}:{height - 1}".encode()).digest()
            sigs.append(
                {
                    "block_id_flag": 2,
                    "validator_address": m.hex,
                    "timestamp": stamp,
                    "signature": base64.b64encode(sig).decode(),
                }
            )
        return sigs

    def _block_obj(self, height: int, chain_id: str) -> JsonDict:
        vals = self.staking.set_at(height)
        proposer = vals.members[height % len(vals.members)].hex if vals.members else ""
        empty = _hash("empty")
        header = {
            "version": {"block": "11", "app": "0"},
            "chain_id": chain_id,
            "height": str(height),
            "time": self.time_of(height),
            "last_block_id": self.block_id(height - 1) if height > 1 else _NO_BLOCK_ID,
            "last_commit_hash": _hash("commit", height - 1),
            "data_hash": _hash("data", height),
            "validators_hash": vals.hash,
            "next_validators_hash": self.staking.set_at(height + 1).hash,
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
                    "block_id": self.block_id(height - 1) if height > 1 else _NO_BLOCK_ID,
                    "signatures": self._signatures(height),
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
                        "validator_updates": results.get("validator_updates") or [],
                        "app_hash": results.get("app_hash"),
                    },
                },
            },
            "events": events,
        }
