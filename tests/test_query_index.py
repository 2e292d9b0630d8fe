"""SubscriptionIndex: same answers as evaluating every subscription, without evaluating them all."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.chain.decoder import BlockDecoder
from core.query import CompiledQuery, QuerySyntaxError, SubscriptionIndex, TransferFilter, compile_query, matches
from core.query.filters import MinAmountFilter
from core.query.index import match_all

from .test_query_eval import _KEYS, _VALUES, event_maps, queries

OSMOSIS = (
    Path(__file__).parent
    / "fixtures"
    / "cometbft"
    / "tendermint-rs"
    / "osmosis_fixtures"
    / "block_results_at_height_10499831.json"
)
TRADER = "osmo1ddl9hnacgqfls5xgm7jy30uvc3lll4jdrdk35n"
FEE_COLLECTOR = "osmo17xpfvakm2amg962yls6f84z3kell8c5lczssa0"


def naive(subs: dict, events: dict) -> set:
    """Reference: every query of every subscription, then its post-filter."""
    out = set()
    for sid, (qs, pf) in subs.items():
        if any(matches(q, events) for q in qs) and (pf is None or pf.matches(events)):
            out.add(sid)
    return out


def test_basic_add_match_update_remove() -> None:
    idx: SubscriptionIndex[str] = SubscriptionIndex()
    idx.add("a", ["transfer.recipient = 'bob'"])
    idx.add("b", ["transfer.recipient = 'carol'", "transfer.sender = 'bob'"])
    idx.add("c", ["tm.event = 'Tx'"])
    ev = {"tm.event": ["Tx"], "transfer.recipient": ["bob"], "transfer.sender": ["alice"]}
    assert idx.match(ev) == {"a", "c"}
    idx.update("a", ["transfer.recipient = 'zed'"])
    assert idx.match(ev) == {"c"}
    idx.update("b", ["transfer.sender = 'alice'"])
    assert idx.match(ev) == {"b", "c"}
    assert idx.remove("c") is True
    assert idx.remove("c") is False
    assert idx.match(ev) == {"b"}
    assert len(idx) == 2 and "a" in idx and "c" not in idx
    assert idx.queries_of("b") == ["transfer.sender = 'alice'"]


def test_add_twice_invalid_or_empty_leaves_index_unchanged() -> None:
    idx: SubscriptionIndex[int] = SubscriptionIndex()
    idx.add(1, ["a.b EXISTS"])
    with pytest.raises(KeyError):
        idx.add(1, ["c.d EXISTS"])
    with pytest.raises(QuerySyntaxError):
        idx.add(2, ["c.d EXISTS", "bad query ("])
    with pytest.raises(QuerySyntaxError):
        idx.update(1, ["bad query ("])
    with pytest.raises(ValueError):
        idx.add(3, [])
    assert len(idx) == 1 and idx.queries_of(1) == ["a.b EXISTS"]
    assert idx.stats().distinct_queries == 1
    idx.update(4, "e.f EXISTS")  # update of an absent id adds it; a single query is accepted
    assert idx.match({"e.f": ["1"], "a.b": ["1"]}) == {1, 4}


def test_one_notification_per_subscription_however_many_queries_match() -> None:
    idx: SubscriptionIndex[str] = SubscriptionIndex()
    idx.add("s", ["transfer.recipient = 'bob'", "transfer EXISTS", "tm.event = 'Tx'", "tm.event='Tx'"])
    assert idx.queries_of("s") == ["transfer.recipient = 'bob'", "transfer EXISTS", "tm.event = 'Tx'"]
    assert idx.match({"tm.event": ["Tx"], "transfer.recipient": ["bob"]}) == {"s"}


def test_shared_queries_are_stored_once_and_survive_partial_removal() -> None:
    idx: SubscriptionIndex[int] = SubscriptionIndex()
    for i in range(100):
        idx.add(i, ["tm.event = 'Tx' AND submit_proposal.proposal_id EXISTS"])
    assert idx.stats().distinct_queries == 1
    ev = {"tm.event": ["Tx"], "submit_proposal.proposal_id": ["7"]}
    assert idx.match(ev) == set(range(100))
    for i in range(99):
        idx.remove(i)
    assert idx.match(ev) == {99}
    idx.remove(99)
    assert idx.stats() == type(idx.stats())(subscriptions=0, distinct_queries=0, equality_anchors=0, presence_anchors=0)
    assert idx._eq == {} and idx._has == {} and idx._subs == {}


def test_anchor_prefers_selective_equality() -> None:
    idx: SubscriptionIndex[int] = SubscriptionIndex()
    idx.add(1, ["tm.event = 'Tx' AND message.action = '/x' AND transfer.recipient = 'bob'"])
    idx.add(2, ["tm.event = 'Tx' AND wasm._contract_address = 'c1' AND wasm.action CONTAINS 'swap'"])
    idx.add(3, ["tm.event = 'NewBlock' AND active_proposal.proposal_id EXISTS"])
    idx.add(4, ["tm.event = 'Tx' AND tx.code > 0"])
    anchors = {sid: str(idx._subs[sid].nodes[0].anchor.condition) for sid in (1, 2, 3, 4)}
    assert anchors[1] == "transfer.recipient = 'bob'"
    assert anchors[2] == "wasm._contract_address = 'c1'"
    assert anchors[3] == "active_proposal.proposal_id EXISTS"
    assert anchors[4] == "tm.event = 'Tx'"


def test_work_grows_with_candidates_not_subscriptions(monkeypatch: pytest.MonkeyPatch) -> None:
    idx: SubscriptionIndex[int] = SubscriptionIndex()
    for i in range(5_000):
        idx.add(i, [f"transfer.recipient = 'addr{i}'", f"transfer.sender = 'addr{i}'"])
    idx.add(-1, ["message EXISTS"])
    ev = {
        "tm.event": ["Tx"],
        "transfer.recipient": ["addr5", "nobody"],
        "transfer.sender": ["addr7"],
        "message.sender": ["x"],
    }
    assert idx.candidate_count(ev) == 3
    assert idx.match(ev) == {5, 7, -1}
    calls = 0
    original = CompiledQuery.matches

    def counting(self: CompiledQuery, events: object) -> bool:
        nonlocal calls
        calls += 1
        return original(self, events)  # type: ignore[arg-type]

    monkeypatch.setattr(CompiledQuery, "matches", counting)
    assert idx.match(ev) == {5, 7, -1}
    assert calls == 3  # out of 10,001 distinct queries


def test_type_only_anchors() -> None:
    idx: SubscriptionIndex[str] = SubscriptionIndex()
    idx.add("exists", ["message EXISTS"])
    idx.add("empty", ["transfer = ''"])
    idx.add("contains", ["transfer CONTAINS ''"])
    idx.add("dotless", ["foo EXISTS"])
    idx.add("nested", ["rewards.withdraw EXISTS"])
    assert idx.match({"message.sender": ["x"], "transfer.amount": [], "foo": ["1"]}) == {"exists", "empty", "contains"}
    assert idx.match({"rewards.withdraw.address": ["v"]}) == {"nested"}
    assert idx.match({}) == set()


def test_post_filters_are_applied_after_the_query() -> None:
    idx: SubscriptionIndex[str] = SubscriptionIndex()
    big = TransferFilter(recipient="bob", denom="uatom", min_amount=1_500_000)
    idx.add("big", ["transfer.recipient = 'bob'"], big)
    idx.add("any", ["transfer.recipient = 'bob'"])
    idx.add("also-big", ["transfer.recipient = 'bob'", "transfer.sender = 'bob'"], big)
    idx.add("min", ["transfer.recipient = 'bob'"], MinAmountFilter(denom="uosmo", amount=5))
    small = {"transfer.recipient": ["bob"], "transfer.sender": ["al"], "transfer.amount": ["1000uatom"]}
    large = {"transfer.recipient": ["bob"], "transfer.sender": ["al"], "transfer.amount": ["3uosmo,1500000uatom"]}
    assert idx.match(small) == {"any"}
    assert idx.match(large) == {"any", "big", "also-big"}
    large["transfer.amount"] = ["5uosmo,1500000uatom"]
    assert idx.match(large) == {"any", "big", "also-big", "min"}


def test_anything_but_a_post_filter_is_refused() -> None:
    idx: SubscriptionIndex[str] = SubscriptionIndex()
    with pytest.raises(TypeError):
        idx.add("t", ["a.b EXISTS"], object())


def test_real_block_against_naive_loop() -> None:
    block = BlockDecoder().decode(OSMOSIS.read_bytes())
    subs = {
        "trader-in": ([f"transfer.recipient = '{TRADER}'"], None),
        "fees": ([f"transfer.recipient = '{FEE_COLLECTOR}' AND tm.event = 'Tx'"], None),
        "liveness": (["tm.event = 'NewBlock' AND liveness.missed_blocks > 3000"], None),
        "swaps": (["token_swapped.pool_id = 872"], None),
        "wasm": (["wasm._contract_address EXISTS AND wasm.vault_id = '859'"], None),
        "nothing": (["transfer.recipient = 'osmo1nobody'"], None),
        "big-fee": ([f"transfer.recipient = '{FEE_COLLECTOR}'"], MinAmountFilter(denom="uosmo", amount=3000)),
    }
    idx: SubscriptionIndex[str] = SubscriptionIndex()
    for sid, (qs, pf) in subs.items():
        idx.add(sid, qs, pf)
    seen: dict[str, list[int]] = {sid: [] for sid in subs}
    for i, scope in enumerate(block.scopes):
        got = idx.match(scope.events_map)
        assert got == naive(subs, scope.events_map)
        for sid in got:
            seen[sid].append(i)
    assert seen["trader-in"] == [0]
    assert seen["fees"] == list(range(8))
    assert seen["liveness"] == [8]
    assert seen["swaps"] == [0, 3]
    assert seen["wasm"] == [6]
    assert seen["nothing"] == []
    assert seen["big-fee"] == [2, 7]  # a transfer of >= 3000uosmo (fee or not) in the scope


_OPS = st.lists(
    st.tuples(
        st.sampled_from(["add", "update", "remove"]),
        st.integers(0, 7),
        st.lists(queries, min_size=1, max_size=3),
        st.sampled_from([None, "filter"]),
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(_OPS, st.lists(event_maps, min_size=1, max_size=3))
def test_index_agrees_with_naive_evaluation(ops: list, scopes: list[dict]) -> None:
    idx: SubscriptionIndex[int] = SubscriptionIndex()
    model: dict[int, tuple[list[str], object]] = {}
    pf = MinAmountFilter(denom="uatom", amount=50, keys=("transfer.amount", "a.b"))
    for op, sid, qs, use_filter in ops:
        f = pf if use_filter else None
        if op == "add":
            if sid in model:
                with pytest.raises(KeyError):
                    idx.add(sid, qs, f)
            else:
                idx.add(sid, qs, f)
                model[sid] = (qs, f)
        elif op == "update":
            idx.update(sid, qs, f)
            model[sid] = (qs, f)
        else:
            assert idx.remove(sid) is (sid in model)
            model.pop(sid, None)
    assert len(idx) == len(model)
    for events in scopes:
        assert idx.match(events) == naive(model, events)  # type: ignore[arg-type]
    for sid in list(model):
        idx.remove(sid)
    assert idx.stats().distinct_queries == 0 and not idx._eq and not idx._has and not idx._subs


@settings(max_examples=100, deadline=None)
@given(st.lists(queries, min_size=1, max_size=30), event_maps)
def test_match_all_reference_helper(qs: list[str], events: dict) -> None:
    compiled = {i: [compile_query(q)] for i, q in enumerate(qs)}
    idx: SubscriptionIndex[int] = SubscriptionIndex()
    for i, q in enumerate(qs):
        idx.add(i, [q])
    assert idx.match(events) == match_all(compiled, events)


def test_keys_and_values_pool_is_used() -> None:
    assert _KEYS and _VALUES  # the shared strategies above draw from these pools
