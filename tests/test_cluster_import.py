"""Moving from one node to a cluster as an operator would (docs/CLUSTER.md, "Moving from one node").

A real single `mempools serve` makes an account, a webhook, a subscription and notifications; it
is stopped; `mempools cluster import` moves its data directory (twice: the second run changes
nothing); two cluster nodes start on it. The user's key works on both, the history is the same,
the chain resumes at the imported cursor (nothing old is sent again) and new blocks are notified once.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from tests.cluster_rig import ServeNode, cluster_rig
from tests.processes import ROOT

TXS = ["tm.event = 'Tx' AND message.action EXISTS"]


async def _import(data: Path, config: Path) -> str:
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "mempools", "cluster", "import", str(data), "--config", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


async def test_a_single_node_moves_into_the_cluster_and_goes_on_where_it_stopped(tmp_path: Path) -> None:
    async with cluster_rig(tmp_path / "rig") as rig:
        rig.cluster = False  # the first node's config: no [cluster] section
        single = ServeNode("single", rig.write_config("single"))
        rig.cluster = True
        await single.start()
        key = await rig.sign_up(single)
        dest = await rig.create_destination(single, key)
        sub = await rig.create_subscription(single, key, "txs", TXS, [dest])
        tip = await rig.advance(12)
        before = rig.expected([sub], range(2, tip + 1))
        await rig.wait_webhooks(before, timeout=30)
        history = await rig.wait_history(single, key, len(before), timeout=15)
        assert await single.stop() == 0

        data = rig.root / "single" / "data"
        importer = rig.write_config("importer")
        first = await _import(data, importer)
        assert "imported" in first and "0 batches (0 keys) were already in the cluster" in first, first
        again = await _import(data, importer)
        assert "imported 0 keys in 0 batches" in again and "were already in the cluster" in again, again

        a, b = await rig.add_nodes(2)
        for node in (a, b):  # the user's key, subscription and history, on either node
            assert [s["id"] for s in await rig.list_all(node, key, "/v1/subscriptions")] == [sub.id]
            assert sorted(n["id"] for n in await rig.history(node, key)) == sorted(n["id"] for n in history)

        later = await rig.advance(6)
        new = rig.expected([sub], range(tip + 1, later + 1))
        received = await rig.wait_webhooks(new, timeout=30)
        assert all(received[i] == 1 for i in new), "a new notification was delivered twice"
        assert all(received[i] == 1 for i in before), "the cluster sent an imported notification again"
        await rig.wait_history(b, key, len(before) + len(new), timeout=15)
        ids = [n["id"] for n in await rig.history(b, key)]
        assert len(ids) == len(set(ids)) == len(before) + len(new)
