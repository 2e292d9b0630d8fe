"""Validator monitoring cost: CPU per block for a 180-validator chain with 1,000 validator watches.

The issue's budget is 1 ms of CPU per block. The run prepares and stages the same blocks twice in
one process:
through a processor without a monitor (the baseline: matching the block scope and moving the
cursor), and through one with the chain's monitor (the validator and governance trackers, their
state records written into the batch, the alerts made into notifications). The difference per
block is what monitoring costs; the whole figure is also given, and both as CPU time
(`time.process_time`), with GC off while timing, best of --repeat runs.

The blocks are what a real chain of this size looks like to the monitor: 180 commit signatures
per block (the decoder's `CommitSig`s), of which a few validators miss for a while (a streak
every 40 heights, one validator down for 300 heights), a validator-set change every 500 heights,
and a slashing window of 10,000. 1,000 subscriptions watch the 180 validators (the most popular
ones by many), each with the default thresholds.

    .venv/bin/python bench/bench_monitor.py [--blocks 3000] [--repeat 3] [--validators 180] [--watches 1000]
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bech32  # noqa: E402

from core.chain.blocks import CommitSig, DecodedBlock, Scope  # noqa: E402
from core.chain.chainstate import StakingValidator  # noqa: E402
from core.dispatch.outbox import Outbox  # noqa: E402
from core.models import Chain, Subscription  # noqa: E402
from core.monitor.facts import SlashingWindow  # noqa: E402
from core.monitor.models import ValidatorWatch  # noqa: E402
from core.monitor.monitor import ChainMonitor  # noqa: E402
from core.store import open_store  # noqa: E402
from core.store.base import WriteBatch  # noqa: E402
from core.store.repositories import Repositories  # noqa: E402
from core.watch.matching import SubscriptionMatcher  # noqa: E402
from core.watch.processor import BlockProcessor  # noqa: E402

CHAIN = Chain(id="bench-1", name="Bench", bech32_prefix="cosmos")
T0 = datetime(2026, 12, 1, tzinfo=UTC)


def _bech(hrp: str, payload: bytes) -> str:
    data = bech32.convertbits(payload, 8, 5)
    assert data is not None
    return str(bech32.bech32_encode(hrp, data))


class BenchChain:
    """The chain's answers: a set of `validators` members, changing every 500 heights."""

    def __init__(self, hexes: list[str], spare: str) -> None:
        self.hexes = hexes
        self.spare = spare
        self.asked = 0

    def set_at(self, height: int) -> tuple[str, ...]:
        if (height // 500) % 2:
            return (*self.hexes[:-1], self.spare)
        return tuple(self.hexes)

    async def members(self, height: int) -> tuple[str, ...]:
        self.asked += 1
        return self.set_at(height)

    async def slashing_window(self) -> SlashingWindow:
        return SlashingWindow(10_000, "0.05")

    async def validator(self, operator: str, height: int | None = None) -> StakingValidator:
        payload = bytes(bech32.convertbits(bech32.bech32_decode(operator)[1] or [], 5, 8, False) or [])
        return StakingValidator(
            operator_address=operator, consensus_pub_key_type="ed25519", consensus_pub_key="",
            consensus_hex=payload.hex().upper(), moniker=f"val-{payload.hex()[:6]}", jailed=False, status="bonded",
            tokens=1_000_000, commission_rate="0.050000000000000000",
        )  # fmt: skip

    async def validators(self) -> list[object]:
        return []

    async def proposal(self, proposal_id: int, height: int | None = None) -> None:
        return None

    async def proposals_in_voting(self) -> list[object]:
        return []

    async def vote(self, proposal_id: int, voter: str, height: int | None = None) -> None:
        return None


def make_blocks(chain: BenchChain, count: int, start: int) -> list[DecodedBlock]:
    empty = Scope(
        kind="block",
        index=None,
        tx_hash=None,
        code=None,
        codespace=None,
        gas_wanted=None,
        gas_used=None,
        events=(),
        events_map={},
    )
    blocks = []
    for height in range(start, start + count):
        members = chain.set_at(height - 1)
        missing = {members[(height // 40) % len(members)]} if height % 40 < 8 else set()
        if 1000 <= height < 1300:
            missing.add(members[7])
        sigs = tuple(CommitSig(flag=1, address="") if m in missing else CommitSig(flag=2, address=m) for m in members)
        at = (T0 + timedelta(seconds=6 * height)).isoformat().replace("+00:00", "Z")
        blocks.append(DecodedBlock(height=height, time=at, chain_id=CHAIN.id, scopes=(empty,), signatures=sigs))
    return blocks


async def run(args: argparse.Namespace) -> None:
    rng = random.Random(7)
    hexes = [f"{rng.getrandbits(160):040X}" for _ in range(args.validators)]
    spare = f"{rng.getrandbits(160):040X}"
    chain = BenchChain(hexes, spare)
    blocks = make_blocks(chain, args.blocks, 2)
    results: dict[str, float] = {}
    alerts = 0
    for label, monitored in (("baseline", False), ("monitored", True)):
        best = float("inf")
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                store = open_store(Path(tmp) / "data")
                repos = Repositories(store)
                matcher = SubscriptionMatcher()
                for i in range(args.watches):
                    target = (
                        hexes[min(int(rng.paretovariate(1.2)) - 1, len(hexes) - 1)] if i % 3 else hexes[i % len(hexes)]
                    )
                    watch = ValidatorWatch(
                        operator=_bech("cosmosvaloper", bytes.fromhex(target)),
                        consensus=_bech("cosmosvalcons", bytes.fromhex(target)),
                        consensus_hex=target,
                        moniker=f"val-{target[:6]}",
                    )
                    sub = Subscription(
                        id=f"sub_{i:05d}",
                        owner_id=f"acc_{i % 300}",
                        chain_id=CHAIN.id,
                        name="v",
                        queries=[],
                        destination_ids=[],
                        monitor=watch,
                        created_at=T0,
                        updated_at=T0,
                    )
                    matcher.upsert(sub)
                now = [T0]  # the chain's pace: 6 s per block, as the monitor's clock sees it
                watches = matcher.watches(CHAIN.id)
                monitor = ChainMonitor(
                    CHAIN.id,
                    repos,
                    lambda w=watches: w,
                    chain,
                    clock=lambda n=now: n[0],  # type: ignore[misc]
                )
                await monitor.start()
                processor = BlockProcessor(CHAIN, matcher, repos, Outbox(store), monitor=monitor if monitored else None)
                for b in blocks:
                    now[0] = T0 + timedelta(seconds=6 * b.height)
                    gc.disable()
                    started = time.process_time()
                    if monitored:  # what the watcher does while fetching (asks only when the set changes)
                        await monitor.prepare(b)
                    batch = WriteBatch()
                    processor.stage(b, batch)
                    processor.advance(b.height, batch)
                    elapsed = time.process_time() - started
                    gc.enable()
                    results.setdefault(f"{label}_total", 0.0)
                    results[f"{label}_total"] += elapsed
                    await store.commit(batch)
                best = min(best, results.pop(f"{label}_total"))
                if monitored:
                    alerts = sum(1 for n in repos.notifications.scan() if n.alert is not None)
                store.close()
        results[label] = best / len(blocks)
    base, mon = results["baseline"], results["monitored"]
    print(f"blocks: {len(blocks)}, validators: {args.validators}, watches: {args.watches}, alerts made: {alerts}")
    print(f"baseline (no monitor): {base * 1e6:8.1f} us CPU per block")
    print(f"with the monitor:      {mon * 1e6:8.1f} us CPU per block ({mon / base:.2f}x the baseline)")
    print(f"monitoring itself:     {(mon - base) * 1e6:8.1f} us CPU per block (budget: 1000 us)")
    print(f"validator sets fetched: {chain.asked} (of {len(blocks)} blocks)")


def main() -> None:
    import asyncio

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--validators", type=int, default=180)
    parser.add_argument("--watches", type=int, default=1000)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
