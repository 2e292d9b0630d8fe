"""Matcher benchmark: SubscriptionIndex against evaluating every subscription, same run.

1k, 10k and 100k realistic subscriptions, built with the presets (mostly funds/tx-outcome presets
over distinct addresses; some contract, governance, validator and delegation ones; a fixed set of
~120 on addresses, contracts and validators that really occur in the block, so there are matches),
are matched against every scope of the recorded Osmosis block 10499831 (8 txs + 308 begin-block
events). Each size runs in a fresh process so that its RSS is its own.

    .venv/bin/python bench/bench_matcher.py [--sizes 1000,10000,100000] [--repeat 20]

Reported: time to build the index, process RSS after building it (and the growth it caused),
time per block with the index (median of --repeat runs, GC off while timing, as timeit does) and
with the naive loop (every query of every subscription, compiled once, one shared EventView per
scope; best of 3, or 1 run from 50k up), and the speed-up. Both must give the same answers: the
run fails otherwise.
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bech32  # noqa: E402
import msgspec  # noqa: E402

from core.query import CompiledQuery, EventView, SubscriptionIndex, compile_query  # noqa: E402
from core.query.presets import get_preset  # noqa: E402

FIXTURE = ROOT / "tests/fixtures/cometbft/tendermint-rs/osmosis_fixtures/block_results_at_height_10499831.json"
SEED = 7


class _Denom(msgspec.Struct, frozen=True):
    base: str
    display: str
    exponent: int


class _Chain(msgspec.Struct, frozen=True):
    bech32_prefix: str
    denoms: tuple[_Denom, ...]


OSMOSIS = _Chain(bech32_prefix="osmo", denoms=(_Denom(base="uosmo", display="OSMO", exponent=6),))


# -- the block ----------------------------------------------------------------------------------


def load_scopes() -> list[dict[str, list[str]]]:
    """Scopes of the fixture block: the project's decoder if present, else a minimal flattening."""
    raw = FIXTURE.read_bytes()
    try:
        from core.chain.decoder import BlockDecoder
    except ImportError:
        return _flatten_v034(json.loads(raw))
    return [dict(s.events_map) for s in BlockDecoder().decode(raw).scopes]


def _flatten_v034(doc: dict[str, Any]) -> list[dict[str, list[str]]]:
    res = doc.get("result", doc)

    def add(events: list[dict[str, Any]] | None, out: dict[str, list[str]]) -> None:
        for ev in events or []:
            if not ev.get("type"):
                continue
            for a in ev.get("attributes") or []:
                key = base64.b64decode(a.get("key") or "").decode("utf-8", "replace")
                value = base64.b64decode(a.get("value") or "").decode("utf-8", "replace")
                if key:
                    out.setdefault(f"{ev['type']}.{key}", []).append(value)

    scopes = []
    height = str(res["height"])
    for tx in res.get("txs_results") or []:
        m: dict[str, list[str]] = {}
        add(tx.get("events"), m)
        m.setdefault("tm.event", []).append("Tx")
        m.setdefault("tx.height", []).append(height)
        m.setdefault("tx.code", []).append(str(tx.get("code") or 0))
        scopes.append(m)
    block: dict[str, list[str]] = {}
    add(res.get("begin_block_events"), block)
    add(res.get("end_block_events"), block)
    block["tm.event"] = ["NewBlock", "NewBlockEvents"]
    block["block.height"] = [height]
    scopes.append(block)
    return scopes


def real_addresses(scopes: list[dict[str, list[str]]], hrp: str) -> list[str]:
    found = set()
    for scope in scopes:
        for values in scope.values():
            for v in values:
                if v.startswith(hrp + "1") and bech32.bech32_decode(v)[0] == hrp:
                    found.add(v)
    return sorted(found)


# -- the subscriptions ----------------------------------------------------------------------------


def synthetic(rng: random.Random, hrp: str, size: int = 20) -> str:
    data = bech32.convertbits(rng.randbytes(size), 8, 5)
    assert data is not None
    return bech32.bech32_encode(hrp, data)


Spec = tuple[int, list[str], Any]


def build_specs(n: int, scopes: list[dict[str, list[str]]]) -> Iterator[Spec]:
    """n subscriptions as (id, queries, post_filter), generated with the presets, lazily (so
    the generated text is not all alive at once and the RSS measured is the index's)."""
    rng = random.Random(SEED)
    accounts = real_addresses(scopes, "osmo")
    contracts = [a for a in accounts if len(a) > 50]
    wallets = [a for a in accounts if len(a) <= 50]
    valopers = real_addresses(scopes, "osmovaloper")
    valcons = real_addresses(scopes, "osmovalcons")
    count = 0

    def add(name: str, params: dict[str, Any]) -> Spec:
        nonlocal count
        r = get_preset(name).compile(params, OSMOSIS)
        count += 1
        return (count - 1, r.queries, r.post_filter)

    # A fixed core on real addresses (the same at every size, so matching work is comparable).
    for a in wallets[:60]:
        yield add(rng.choice(["funds_received", "funds_sent", "funds_either"]), {"address": a})
    for a in wallets[60:80]:
        yield add("tx_outcome", {"signer": a, "outcome": "succeeded"})
    for c in contracts:
        yield add("contract_events", {"contract": c})
    for v in valopers[:20]:
        yield add("delegation_to_validator", {"validator": v})
    for v in valcons:
        yield add("validator_missed_blocks", {"validator": v})
    yield add("funds_received", {"address": wallets[0], "min_amount": "0.001", "denom": "OSMO"})
    yield add("gov_proposal_submitted", {})
    yield add("gov_voting_ended", {})
    yield add("validator_jailed", {})

    # The rest: the same mix over fresh addresses, plus shared governance/validator queries.
    while count < n:
        roll = rng.random()
        if roll < 0.70:
            name = rng.choice(["funds_received", "funds_sent", "funds_either"])
            params: dict[str, Any] = {"address": synthetic(rng, "osmo")}
            if rng.random() < 0.1:
                params.update(min_amount=str(rng.randint(1, 1000)), denom="OSMO")
            yield add(name, params)
        elif roll < 0.80:
            yield add("tx_outcome", {"signer": synthetic(rng, "osmo"), "outcome": rng.choice(["succeeded", "failed"])})
        elif roll < 0.88:
            params = {"contract": synthetic(rng, "osmo", 32)}
            if rng.random() < 0.5:
                params["attributes"] = f"action={rng.choice(['swap', 'deposit', 'withdraw'])}"
            yield add("contract_events", params)
        elif roll < 0.92:
            yield add("funds_from_to", {"sender": synthetic(rng, "osmo"), "recipient": synthetic(rng, "osmo")})
        elif roll < 0.95:
            yield add(rng.choice(["gov_proposal_submitted", "gov_voting_ended"]), {})
        elif roll < 0.98:
            yield add("validator_missed_blocks", {"validator": synthetic(rng, "osmovalcons"), "min_missed": "100"})
        else:
            yield add("delegation_to_validator", {"validator": synthetic(rng, "osmovaloper")})


# -- measurements ---------------------------------------------------------------------------------


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_size(n: int, repeat: int) -> dict[str, Any]:
    scopes = load_scopes()
    t0 = time.perf_counter()
    for _ in islice(build_specs(n, scopes), n):
        pass
    t_presets = time.perf_counter() - t0
    gc.collect()
    rss_start = rss_mb()

    index: SubscriptionIndex[int] = SubscriptionIndex()
    filters: dict[int, Any] = {}
    t_build = 0.0
    for sid, queries, pf in islice(build_specs(n, scopes), n):
        t0 = time.perf_counter()
        index.add(sid, queries, pf)
        t_build += time.perf_counter() - t0
        if pf is not None:
            filters[sid] = pf
    gc.collect()
    rss_built = rss_mb()

    def index_block() -> list[set[int]]:
        return [index.match(EventView(s)) for s in scopes]

    # Timed like timeit: garbage collection off during the timed loops (a full collection over a
    # 100k-subscription heap would land in whichever run it happens to hit).
    gc.disable()
    index_times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        got = index_block()
        index_times.append(time.perf_counter() - t0)
    gc.enable()

    compiled: list[tuple[int, list[CompiledQuery], Any]] = [
        (sid, [compile_query(q) for q in index.queries_of(sid)], filters.get(sid)) for sid in range(n)
    ]

    def naive_block() -> list[set[int]]:
        out = []
        for s in scopes:
            view = EventView(s)
            out.append(
                {sid for sid, qs, pf in compiled if any(q.matches(view) for q in qs) and (pf is None or pf.matches(s))}
            )
        return out

    naive_runs = 1 if n >= 50_000 else 3
    naive_times = []
    gc.disable()
    for _ in range(naive_runs):
        t0 = time.perf_counter()
        expected = naive_block()
        naive_times.append(time.perf_counter() - t0)
    gc.enable()
    if got != expected:
        raise SystemExit(f"MISMATCH at {n}: index and naive loop disagree")
    stats = index.stats()
    return {
        "subscriptions": n,
        "distinct_queries": stats.distinct_queries,
        "scopes": len(scopes),
        "matches_per_block": sum(len(x) for x in got),
        "candidates_per_block": sum(index.candidate_count(s) for s in scopes),
        "presets_s": t_presets,
        "build_s": t_build,
        "rss_start_mb": rss_start,
        "rss_built_mb": rss_built,
        "index_ms": statistics.median(index_times) * 1000,
        "naive_ms": min(naive_times) * 1000,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--size", type=int, help=argparse.SUPPRESS)  # child mode: one size, JSON out
    args = ap.parse_args()
    if args.size:
        print(json.dumps(run_size(args.size, args.repeat)))
        return 0
    rows = []
    for n in (int(x) for x in args.sizes.split(",")):
        out = subprocess.run(
            [sys.executable, __file__, "--size", str(n), "--repeat", str(args.repeat)],
            check=True,
            capture_output=True,
            text=True,
        )
        rows.append(json.loads(out.stdout))
    print(f"Osmosis block 10499831: {rows[0]['scopes']} scopes (8 txs + block); Python {sys.version.split()[0]}")
    print()
    print(
        "| subscriptions | distinct queries | candidates/block | matches/block | index build "
        "| RSS after build (growth) | index / block | naive / block | speed-up |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['subscriptions']:,} | {r['distinct_queries']:,} | {r['candidates_per_block']} "
            f"| {r['matches_per_block']} "
            f"| {r['build_s']:.2f} s | {r['rss_built_mb']:.0f} MB (+{r['rss_built_mb'] - r['rss_start_mb']:.0f} MB) "
            f"| {r['index_ms']:.2f} ms | {r['naive_ms']:.0f} ms | {r['naive_ms'] / r['index_ms']:,.0f}x |"
        )
    first, last = rows[0], rows[-1]
    print()
    print(
        f"index time per block, {last['subscriptions']:,} vs {first['subscriptions']:,} subscriptions: "
        f"{last['index_ms'] / first['index_ms']:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
