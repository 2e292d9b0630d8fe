"""The devnet as real CometBFT clients see it: `/status` with the tip's app hash and a real
ed25519 node key (CosmJS's `status()`, and so `connectComet` and `StargateClient.connect`,
refused the empty ones the devnet used to serve)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from mempools.devnet.chain import ChainConfig, DevnetChain
from mempools.devnet.server import DevnetServer

COSMJS = "@cosmjs/tendermint-rpc@0.36"
#: What a CosmJS user runs first: connect, status, the latest block.
_CLIENT = """
const { connectComet } = require("@cosmjs/tendermint-rpc");
(async () => {
  const client = await connectComet(process.argv[2]);
  const status = await client.status();
  const block = await client.block();
  console.log(JSON.stringify({
    network: status.nodeInfo.network,
    height: status.syncInfo.latestBlockHeight,
    appHash: Buffer.from(status.syncInfo.latestAppHash).toString("hex").toUpperCase(),
    blockAppHash: Buffer.from(block.block.header.appHash).toString("hex").toUpperCase(),
    blockHeight: block.block.header.height,
    key: Buffer.from(status.validatorInfo.pubkey.data).toString("base64"),
  }));
  client.disconnect();
})().catch((e) => { console.error(String(e)); process.exit(1); });
"""


async def test_status_carries_the_tips_app_hash_and_a_real_node_key() -> None:
    chain = DevnetChain(ChainConfig(chain_id="devnet-1", block_time=0, history=5))
    async with DevnetServer(chain) as devnet, httpx.AsyncClient() as client:
        status = (await client.get(f"{devnet.url}/status")).json()["result"]
        tip = int(status["sync_info"]["latest_block_height"])
        block = (await client.get(f"{devnet.url}/block", params={"height": tip})).json()["result"]
        assert status["sync_info"]["latest_app_hash"] == block["block"]["header"]["app_hash"] != ""
        earliest = int(status["sync_info"]["earliest_block_height"])
        first = (await client.get(f"{devnet.url}/block", params={"height": earliest})).json()["result"]
        assert status["sync_info"]["earliest_app_hash"] == first["block"]["header"]["app_hash"]
        key = base64.b64decode(status["validator_info"]["pub_key"]["value"])
        assert len(key) == 32
        assert status["validator_info"]["address"] == hashlib.sha256(key).digest()[:20].hex().upper()


@pytest.fixture(scope="session")
def cosmjs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with CosmJS installed from the npm registry (skips where there is no Node or registry)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are not installed: the CosmJS check needs them")
    folder = tmp_path_factory.mktemp("cosmjs")
    done = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--silent", COSMJS],
        cwd=folder, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"npm could not install {COSMJS}: {done.stderr.strip()[-300:]}")
    return folder


async def test_cosmjs_connects_and_reads_status_and_the_latest_block(cosmjs: Path) -> None:
    chain = DevnetChain(ChainConfig(chain_id="devnet-1", block_time=0, history=5))
    async with DevnetServer(chain) as devnet:
        script = cosmjs / "client.js"
        script.write_text(_CLIENT)
        node = await asyncio.create_subprocess_exec(
            "node", str(script), devnet.url, cwd=cosmjs,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(node.communicate(), timeout=60)
    assert node.returncode == 0, err.decode()
    seen = json.loads(out)
    assert seen["network"] == "devnet-1" and seen["height"] >= 5
    assert seen["appHash"] and seen["appHash"] == seen["blockAppHash"]
    assert len(base64.b64decode(seen["key"])) == 32
