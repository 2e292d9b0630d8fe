"""Decoder cost per block on recorded blocks, with `/block` (the watcher's path) and without.

The commit signatures of a 180-validator chain (cosmoshub-4 21955288, recorded) are the new
per-block work of issue 18; the Osmosis block is the large-events case. Each case is decoded
`--rounds` times after a warm-up; the figure is the median µs per decode of 5 runs.

    .venv/bin/python bench/bench_decoder.py [--rounds 300]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.chain.decoder import BlockDecoder  # noqa: E402

FIX = ROOT / "tests" / "fixtures"


def _pair_for(block_path: Path) -> tuple[bytes, bytes]:
    """A recorded `/block` with the smallest `/block_results` that fits it (one empty result per tx)."""
    raw = block_path.read_bytes()
    doc = json.loads(raw)
    block = doc.get("result", doc)["block"]
    results = {"height": block["header"]["height"], "txs_results": [{"code": 0}] * len(block["data"]["txs"] or [])}
    return json.dumps(results).encode(), raw


def cases() -> list[tuple[str, bytes, bytes | None]]:
    out: list[tuple[str, bytes, bytes | None]] = []
    hub_results, hub_block = _pair_for(FIX / "missed-blocks-checker" / "cosmoshub-4_block_21955288.json")
    out.append(("cosmoshub 180 sigs, /block", hub_results, hub_block))
    croeseid = FIX / "chain-indexing"
    out.append(
        (
            "croeseid 70 sigs + events, /block",
            (croeseid / "croeseid-1_block_results_874207.json").read_bytes(),
            (croeseid / "croeseid-1_block_874207.json").read_bytes(),
        )
    )
    osmosis = FIX / "cometbft" / "tendermint-rs" / "osmosis_fixtures" / "block_results_at_height_10499831.json"
    out.append(("osmosis large block_results only", osmosis.read_bytes(), None))
    return out


def measure(results: bytes, block: Any, rounds: int) -> float:
    decoder = BlockDecoder()
    for _ in range(20):
        decoder.decode(results, block)
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(rounds):
            decoder.decode(results, block)
        runs.append((time.perf_counter() - start) / rounds * 1e6)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    for name, results, block in cases():
        print(f"{name:40s} {measure(results, block, args.rounds):9.1f} µs/decode")


if __name__ == "__main__":
    main()
