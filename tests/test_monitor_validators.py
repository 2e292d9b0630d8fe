"""Validator monitoring block by block: thresholds crossed once each way, streaks, jail, active set,
state that survives a restart, and catch-up telling exactly what live watching told
(tests/monitorkit.py builds the blocks and the rig; the devnet e2e tests drive real HTTP)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from core.chain.blocks import Attribute, Event, ValidatorUpdate
from core.models import Notification
from core.monitor.models import MissedRun, ValidatorWatch
from core.store import RocksStore, open_store
from core.store.base import WriteBatch
from tests.monitorkit import CHAIN, OPERATOR, SET, WATCHED, Rig, ScriptedChain, StakingInfo, bech, block, event, hexaddr


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RocksStore]:
    s = open_store(tmp_path / "data")
    yield s
    s.close()


def kinds(notes: list[Notification]) -> list[tuple[int, str, str]]:
    return [(n.height, n.alert.kind, n.alert.details.get("threshold", "")) for n in notes if n.alert is not None]


async def test_window_thresholds_are_told_once_up_and_once_down(store: RocksStore) -> None:
    rig = Rig(store, ScriptedChain(window=20))
    await rig.watch(window_thresholds=(10.0, 25.0), consecutive=())
    # block H carries the votes for H - 1: heights 12..17 missed (6 of 20 = 30%), then signed
    blocks = [block(h, {WATCHED} if 13 <= h <= 18 else set()) for h in range(2, 45)]
    notes = await rig.run(blocks)
    assert kinds(notes) == [
        (14, "missed_blocks", "10"),  # 2 of 20
        (17, "missed_blocks", "25"),  # 5 of 20
        (34, "missed_blocks_recovered", "25"),  # heights 12 and 13 left the window: 4 of 20
        (37, "missed_blocks_recovered", "10"),  # only height 17 is left: 1 of 20
    ]
    first = next(n for n in notes if n.alert is not None)
    assert first.summary == "🟠 Nodeflux is missing blocks: over 10% of the window (2 of 20)"
    assert not first.silent and all(n.silent for n in notes if n.alert and n.alert.kind.endswith("recovered"))


async def test_a_streak_is_told_when_it_reaches_each_count_and_when_it_ends(store: RocksStore) -> None:
    rig = Rig(store, ScriptedChain(window=1000))
    await rig.watch(window_thresholds=(50.0,), consecutive=(3, 5))
    blocks = [block(h, {WATCHED} if 10 <= h <= 16 else set()) for h in range(2, 20)]
    notes = await rig.run(blocks)
    assert [(h, k) for h, k, _ in kinds(notes)] == [
        (12, "consecutive_missed"),
        (14, "consecutive_missed"),
        (17, "signing_again"),
    ]
    assert notes[-1].summary == "🟢 Nodeflux is signing again after 7 missed blocks"


async def test_state_survives_a_restart_in_the_middle_of_a_streak(tmp_path: Path) -> None:
    """Live: one process sees every block. Restarted: a new process (new monitor, same data
    directory) picks up after height 13. Both tell exactly the same notifications."""
    plan = [block(h, {WATCHED} if 10 <= h <= 20 else set()) for h in range(2, 40)]

    async def live() -> list[tuple[str, int, str]]:
        s = open_store(tmp_path / "live")
        try:
            rig = Rig(s, ScriptedChain(window=30))
            await rig.watch(window_thresholds=(10.0, 30.0), consecutive=(5,))
            return [(n.id, n.height, n.summary) for n in await rig.run(plan)]
        finally:
            s.close()

    async def restarted() -> list[tuple[str, int, str]]:
        s = open_store(tmp_path / "restarted")
        try:
            rig = Rig(s, ScriptedChain(window=30))
            await rig.watch(window_thresholds=(10.0, 30.0), consecutive=(5,))
            await rig.run(plan[:12])
        finally:
            s.close()
        s = open_store(tmp_path / "restarted")
        try:
            rig = Rig(s, ScriptedChain(window=30))
            return [(n.id, n.height, n.summary) for n in await rig.run(plan[12:])]
        finally:
            s.close()

    told = await live()
    assert [(height, text) for _, height, text in told] == [
        (12, "🟠 Nodeflux is missing blocks: over 10% of the window (3 of 30)"),
        (14, "🔴 Nodeflux missed 5 blocks in a row"),  # the restart came after 4 in a row
        (18, "🟠 Nodeflux is missing blocks: over 30% of the window (9 of 30)"),
        (21, "🟢 Nodeflux is signing again after 11 missed blocks"),
    ]
    assert await restarted() == told  # same ids too: nothing told twice, nothing lost

    s = open_store(tmp_path / "caught-up")
    try:  # down all along, then catching up: 8 blocks per commit
        rig = Rig(s, ScriptedChain(window=30))
        await rig.watch(window_thresholds=(10.0, 30.0), consecutive=(5,))
        assert [(n.id, n.height, n.summary) for n in await rig.run(plan, per_commit=8)] == told
    finally:
        s.close()


async def test_jail_unjail_and_leaving_the_set_are_told_without_duplicates(store: RocksStore) -> None:
    chain = ScriptedChain(window=100)
    rig = Rig(store, chain)
    await rig.watch(consecutive=())
    valcons = bech("cosmosvalcons", WATCHED)
    slash = Event(
        type="slash",
        attributes=(
            Attribute("address", valcons),
            Attribute("power", "100"),
            Attribute("reason", "missing_signature"),
            Attribute("jailed", valcons),
        ),
    )
    without = tuple(m for m in SET if m != WATCHED)
    chain.sets[12] = without
    blocks = [block(h) for h in range(2, 12)] + [block(12, events=(slash,))]
    blocks += [block(h, members=without) for h in range(13, 16)]
    notes = await rig.run(blocks)
    assert [(n.height, n.alert.kind) for n in notes if n.alert] == [(12, "jailed")]  # leaving the set: said by "jailed"
    assert notes[-1].summary == "⛔ Nodeflux was jailed (missing signature)"


async def test_an_unknown_set_is_a_visible_gap_and_counts_nothing(store: RocksStore) -> None:
    chain = ScriptedChain(window=10)
    rig = Rig(store, chain)
    await rig.watch(window_thresholds=(10.0,), consecutive=())
    await rig.run([block(2), block(3)])
    other = (*SET, hexaddr(9))
    chain.failing.add("members")
    notes = await rig.run([block(4, {WATCHED}, members=other), block(5, {WATCHED})])
    gaps = rig.repos.monitor_gaps.latest(CHAIN.id)
    assert [g.height for g in gaps] == [3]  # block 4's votes are for height 3
    assert gaps[0].reason == (
        "validator set of height 3 unknown (GET /validators?height=3 failed: members: HTTP 500): "
        "its signatures were not counted"
    )
    assert rig.monitor.problems == {"GET /validators?height=3": "members: HTTP 500"}
    # height 3's miss was not counted; height 4's (signed by the set known before) was
    assert kinds(notes) == [(5, "missed_blocks", "10")]
    assert rig.monitor.validators.states[WATCHED].runs == [MissedRun(4, 4)]


async def test_edits_and_a_double_sign_are_told(store: RocksStore) -> None:
    chain = ScriptedChain(window=100)
    chain.staking[OPERATOR] = StakingInfo(operator_address=OPERATOR, consensus_hex=WATCHED, moniker="Nodeflux")
    rig = Rig(store, chain)
    await rig.watch(consecutive=())
    account = bech("cosmos", f"{0xAA:040X}")  # the operator's own account: same bytes, as MsgEditValidator's sender
    edit = (
        event("message", action="/cosmos.staking.v1beta1.MsgEditValidator", sender=account),
        event(
            "edit_validator", commission_rate='commission_rates:<rate:"100000000000000000" >', min_self_delegation="1"
        ),
    )
    await rig.run([block(2), block(3)])  # seeded from x/staking: 5% and "Nodeflux", nothing told
    chain.staking[OPERATOR] = StakingInfo(
        operator_address=OPERATOR, consensus_hex=WATCHED, moniker="Nodeflux 2", commission_rate="0.100000000000000000"
    )
    valcons = bech("cosmosvalcons", WATCHED)
    double = event("slash", address=valcons, power="100", reason="double_sign", jailed=valcons)
    notes = await rig.run([block(4, txs=(edit,)), block(5, events=(double,)), block(6, events=(double,))])
    assert sorted(n.summary for n in notes) == [
        "☠️ Nodeflux 2 was tombstoned for double signing: it can never be unjailed",
        "🏷 Nodeflux is now called Nodeflux 2",
        "💼 Nodeflux changed its commission: 5% → 10%",
    ]


async def test_a_pruned_height_leaves_the_state_consistent(store: RocksStore) -> None:
    """Catching up over a height the nodes pruned (the watcher records it as a gap and stages no
    block): the votes it carried are not counted, every other height is, and the window's count
    is exactly the misses seen."""
    rig = Rig(store, ScriptedChain(window=100))
    await rig.watch(window_thresholds=(5.0,), consecutive=(3,))
    batch = WriteBatch()
    rig.processor.stage_gap(6, "pruned", batch)
    await rig.store.commit(batch)
    blocks = [block(h, {WATCHED}) for h in range(2, 12) if h != 6]  # heights 1..10 missed, 5 unseen
    notes = await rig.run(blocks, per_commit=4)
    state = rig.monitor.validators.states[WATCHED]
    assert state.runs == [MissedRun(1, 4), MissedRun(6, 10)] and state.consecutive == 9
    assert [(n.height, n.alert.kind) for n in notes if n.alert] == [(4, "consecutive_missed"), (7, "missed_blocks")]
    assert [g.height for g in rig.repos.gaps.of_chain(CHAIN.id)] == [6]


async def test_a_query_that_keeps_failing_is_tried_once_per_block_not_thrice(store: RocksStore) -> None:
    chain = ScriptedChain(window=10)
    rig = Rig(store, chain)
    await rig.watch()
    await rig.run([block(2)])
    other = (*SET, hexaddr(9))
    chain.failing.add("members")
    chain.asked.clear()
    await rig.run([block(h, members=other) for h in (3, 4, 5)])
    assert chain.asked == ["members"] * 5  # 3 tries for the first block, then 1 per block
    assert [g.height for g in rig.repos.monitor_gaps.latest(CHAIN.id)] == [4, 3, 2]


async def test_a_leaver_and_a_joiner_both_absent_are_told_apart(store: RocksStore) -> None:
    """Block 5's validator_updates remove D and add E: the set of height 7 has them swapped. Block 8
    carries the votes for 7, D's place and E's both absent-looking: the old set would still fit
    (as many votes, every signer a member) and put a miss on D. The updates say the membership
    changed there, so the set of 7 is asked for, and the miss is E's."""
    keys = [bytes([i]) * 32 for i in range(5)]
    a, b, c, d, e = (hashlib.sha256(k).digest()[:20].hex().upper() for k in keys)
    chain = ScriptedChain(window=100)
    chain.sets = {h: (a, b, c, e) if h >= 7 else (a, b, c, d) for h in range(1, 20)}
    rig = Rig(store, chain)
    for sub_id, hx in (("sub_d", d), ("sub_e", e)):
        watch = ValidatorWatch(operator="", consensus=bech("cosmosvalcons", hx), consensus_hex=hx, consecutive=(1,))
        await rig.subscribe(sub_id, watch, sub_id)
    swap = (
        ValidatorUpdate(pub_key_type="ed25519", pub_key=base64.b64encode(keys[3]).decode(), power=0),
        ValidatorUpdate(pub_key_type="ed25519", pub_key=base64.b64encode(keys[4]).decode(), power=10),
    )
    blocks = [block(h, members=(a, b, c, d)) for h in range(2, 8)]
    blocks[3] = msgspec.structs.replace(blocks[3], validator_updates=swap)  # block 5
    blocks.append(block(8, {e}, members=(a, b, c, e)))  # E absent, in D's old place
    notes = await rig.run(blocks)
    told = sorted((n.subscription_id, n.alert.kind) for n in notes if n.alert)
    assert told == [
        ("sub_d", "left_active_set"),
        ("sub_e", "consecutive_missed"),
        ("sub_e", "joined_active_set"),
        ("sub_e", "missed_blocks"),
    ]
    assert rig.monitor.validators.states[e].runs == [MissedRun(7, 7)]
    assert d not in rig.monitor.validators.states or not rig.monitor.validators.states[d].runs
