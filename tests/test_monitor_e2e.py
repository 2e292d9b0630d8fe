"""Validator and governance monitoring end to end: a real `mempools serve` process watching a devnet
with a validator set and a governance module, subscriptions made over the REST API with the
operator address people paste, alerts arriving at a webhook receiver as a user would read them,
and the process killed with SIGKILL in the middle of a missed-block streak.

What must hold: each threshold is told once (not once per block), the streak goes on counting
across the restart (the 5-in-a-row alert comes after the restart, counting misses seen before it),
nothing is told twice, and every body validates against the published webhook schema.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from mempools.devnet.addresses import bech32_address
from mempools.devnet.chain import ChainConfig as DevnetConfig
from mempools.devnet.chain import DevnetChain
from mempools.devnet.server import DevnetServer
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.polling import until
from tests.processes import MempoolsProcess, write_devnet_config
from tests.test_dispatch_webhook import SCHEMA_DOC, _check_schema

CHAIN_ID = "devnet-1"


def alerts(receiver: WebhookReceiver) -> list[dict[str, Any]]:
    """Every alert body received, first delivery of each webhook-id only (retries are allowed)."""
    seen: set[str] = set()
    out = []
    for request in receiver.received:
        body = json.loads(request.body)
        if body["type"] != "monitor.alert" or request.headers["webhook-id"] in seen:
            continue
        seen.add(request.headers["webhook-id"])
        _check_schema(SCHEMA_DOC, body)
        out.append(body["data"])
    return out


def summaries(receiver: WebhookReceiver) -> list[str]:
    return [a["summary"] for a in alerts(receiver)]


async def _session(http: httpx.AsyncClient, url: str, hook: str) -> None:
    account = {"email": "ops@example.com", "password": "correct horse battery"}
    assert (await http.post(f"{url}/v1/accounts", json=account)).status_code == 201
    assert (await http.post(f"{url}/v1/sessions", json=account)).status_code == 201
    assert (await http.post(f"{url}/v1/destinations", json={"kind": "webhook", "url": hook})).status_code == 201


async def test_validator_and_voter_watches_over_a_restart_mid_streak(tmp_path: Path) -> None:
    chain = DevnetChain(
        DevnetConfig(
            chain_id=CHAIN_ID, block_time=0, history=3, txs_per_block=1, seed=3, validators=4,
            signed_blocks_window=20, min_signed_per_window="0.5",
        )
    )  # fmt: skip
    watched = chain.validator(1)
    voter = chain.book.accounts[3]
    async with DevnetServer(chain, run_clock=False) as devnet, WebhookReceiver() as receiver:
        extra = "[webhooks]\nallow_private_networks = true\n"  # the receiver is on loopback
        config = write_devnet_config(
            tmp_path / "config.toml", tmp_path / "data", devnet.url, CHAIN_ID, extra=extra,
            chain_extra=f'rest = ["{devnet.url}"]\nexplorer_tx_url = "https://explorer.example/devnet/tx/{{hash}}"\n',
        )  # fmt: skip
        server = MempoolsProcess("serve", "--config", str(config))
        try:
            url = await asyncio.to_thread(server.api_url)
            async with httpx.AsyncClient(timeout=10, headers={"Origin": url}) as http:
                await _session(http, url, receiver.url())
                # The operator address, as an explorer shows it: resolved through x/staking.
                body = {
                    "chain_id": CHAIN_ID, "name": "my validator", "preset": "validator",
                    "params": {"validator": watched.operator, "thresholds": "10, 25", "consecutive": "5"},
                }  # fmt: skip
                r = await http.post(f"{url}/v1/subscriptions", json=body)
                assert r.status_code == 201, r.text
                monitor = r.json()["monitor"]
                assert monitor["consensus"] == watched.consensus and monitor["moniker"] == watched.moniker
                assert monitor["consensus_hex"] == watched.hex
                voter_body = {
                    "chain_id": CHAIN_ID, "name": "my votes", "preset": "voter",
                    "params": {"voter": voter, "remind": "1h"},
                }  # fmt: skip
                assert (await http.post(f"{url}/v1/subscriptions", json=voter_body)).status_code == 201
                # An address that is no validator of this chain can never match: refused.
                unknown = bech32_address("cosmosvaloper", bytes(20))
                r = await http.post(f"{url}/v1/subscriptions", json={**body, "params": {"validator": unknown}})
                assert r.status_code == 422 and r.json()["detail"].startswith(
                    f"validator: Devnet has no validator {unknown}"
                )
                typo = {
                    **body,
                    "params": {"validator": watched.operator[:-1] + ("q" if watched.operator[-1] != "q" else "p")},
                }
                r = await http.post(f"{url}/v1/subscriptions", json=typo)
                assert r.status_code == 422 and "checksum" in r.json()["detail"]

                chain.set_missing(watched.operator)
                devnet.advance(4)  # heights missed: 2 of 20 = 10%, then 4 in a row
                await until(lambda: len(alerts(receiver)) >= 1, timeout=30)
                name = watched.moniker
                assert summaries(receiver) == [f"🟠 {name} is missing blocks: over 10% of the window (2 of 20)"]
            server.kill()  # SIGKILL in the middle of the streak
            devnet.advance(3)  # the chain goes on while Mempools is down: 3 more missed
            server = MempoolsProcess("serve", "--config", str(config))
            url = await asyncio.to_thread(server.api_url)
            await until(lambda: len(alerts(receiver)) >= 3, timeout=30)
            assert sorted(summaries(receiver)[1:]) == [  # both at the 5th miss
                f"🔴 {name} missed 5 blocks in a row",  # at most 4 were made before the kill: the count survived it
                f"🟠 {name} is missing blocks: over 25% of the window (5 of 20)",
            ]
            chain.set_missing(watched.operator, missing=False)
            devnet.advance(2)
            await until(lambda: len(alerts(receiver)) >= 4, timeout=30)
            assert summaries(receiver)[3] == f"🟢 {name} is signing again after 7 missed blocks"

            # Governance: a proposal with a hostile title, a reminder, the vote, the result.
            pid = chain.submit_proposal("<b>Upgrade</b>\u202e v2 " + "!" * 400, voting_period=7200)
            devnet.advance(1)
            await until(lambda: any(a["alert"]["kind"] == "proposal_new" for a in alerts(receiver)), timeout=30)
            new = next(a for a in alerts(receiver) if a["alert"]["kind"] == "proposal_new")
            assert new["alert"]["proposal_id"] == pid and len(new["alert"]["title"]) <= 200
            assert "\u202e" not in new["summary"] and new["summary"].startswith(
                f"🗳 New proposal #{pid} “<b>Upgrade</b>"
            )
            assert new["alert"]["url"] == f"https://explorer.example/devnet/proposals/{pid}"
            chain.warp(7200 - 1800)  # half an hour before the end
            devnet.advance(1)
            await until(lambda: any(a["alert"]["kind"] == "not_voted" for a in alerts(receiver)), timeout=30)
            reminder = next(a for a in alerts(receiver) if a["alert"]["kind"] == "not_voted")
            assert "has not voted on proposal" in reminder["summary"] and reminder["alert"]["voter"] == voter
            chain.vote(pid, voter, "no")
            devnet.advance(1)
            await until(lambda: any(a["alert"]["kind"] == "vote_cast" for a in alerts(receiver)), timeout=30)
            chain.warp(3600)
            devnet.advance(1)
            await until(lambda: any(a["alert"]["kind"] == "proposal_result" for a in alerts(receiver)), timeout=30)
            result = next(a for a in alerts(receiver) if a["alert"]["kind"] == "proposal_result")
            assert result["alert"]["details"]["voted"] == "no"
            assert {"yes", "no", "abstain", "no_with_veto"} <= set(result["alert"]["details"])

            # Jailed, then unjailed and back in the set.
            chain.jail(watched.operator)
            devnet.advance(3)
            await until(lambda: any(a["alert"]["kind"] == "jailed" for a in alerts(receiver)), timeout=30)
            chain.unjail(watched.operator)
            devnet.advance(4)
            await until(lambda: any(a["alert"]["kind"] == "joined_active_set" for a in alerts(receiver)), timeout=30)
            # Edits, then double-sign evidence.
            chain.edit_validator(watched.operator, moniker="Bravo Renamed", commission_rate="0.2")
            devnet.advance(1)
            await until(lambda: any(a["alert"]["kind"] == "moniker_changed" for a in alerts(receiver)), timeout=30)
            edits = {a["alert"]["kind"]: a["summary"] for a in alerts(receiver)}
            assert edits["moniker_changed"] == f"🏷 {name} is now called Bravo Renamed"
            assert edits["commission_changed"].endswith(" changed its commission: 10% → 20%")
            chain.tombstone(watched.operator)
            devnet.advance(3)
            await until(lambda: any(a["alert"]["kind"] == "tombstoned" for a in alerts(receiver)), timeout=30)
            tombstoned = next(a["summary"] for a in alerts(receiver) if a["alert"]["kind"] == "tombstoned")
            assert tombstoned == "☠️ Bravo Renamed was tombstoned for double signing: it can never be unjailed"
            kinds = Counter(a["alert"]["kind"] for a in alerts(receiver))
            assert kinds["jailed"] == 1 and kinds["unjailed"] == 1 and kinds["left_active_set"] == 0
            # Nothing was told twice, across the restart included.
            assert max(Counter(summaries(receiver)).values()) == 1
        finally:
            server.stop()


async def test_gov_v1beta1_chain_and_a_rest_api_that_fails(tmp_path: Path) -> None:
    """An SDK 0.45 chain (gov v1beta1 only: its v1 paths answer 501): proposals are told with their
    titles and results. When its REST API fails, blocks are still watched and delivered, the
    proposal is told by its number, and `GET /v1/chains` names the query that failed."""
    chain = DevnetChain(
        DevnetConfig(chain_id=CHAIN_ID, block_time=0, history=3, txs_per_block=1, seed=4, gov_version="v1beta1")
    )
    async with DevnetServer(chain, run_clock=False) as devnet, WebhookReceiver() as receiver:
        config = write_devnet_config(
            tmp_path / "config.toml", tmp_path / "data", devnet.url, CHAIN_ID,
            extra="[webhooks]\nallow_private_networks = true\n", chain_extra=f'rest = ["{devnet.url}"]\n',
        )  # fmt: skip
        server = MempoolsProcess("serve", "--config", str(config))
        try:
            url = await asyncio.to_thread(server.api_url)
            async with httpx.AsyncClient(timeout=10, headers={"Origin": url}) as http:
                await _session(http, url, receiver.url())
                gov = {"chain_id": CHAIN_ID, "name": "gov", "preset": "governance", "params": {"remind": "1h"}}
                assert (await http.post(f"{url}/v1/subscriptions", json=gov)).status_code == 201
                pid = chain.submit_proposal("Community pool spend", voting_period=3600 * 3)
                devnet.advance(1)
                await until(lambda: len(alerts(receiver)) >= 1, timeout=30)
                assert alerts(receiver)[0]["summary"].startswith(
                    f"🗳 New proposal #{pid} “Community pool spend”: voting until"
                )
                chain.vote(pid, chain.validator(0).account, "yes")
                chain.warp(3 * 3600 + 10)
                devnet.advance(2)
                await until(lambda: any(a["alert"]["kind"] == "proposal_result" for a in alerts(receiver)), timeout=30)
                result = next(a for a in alerts(receiver) if a["alert"]["kind"] == "proposal_result")
                assert result["summary"] == f"🏛 Proposal #{pid} “Community pool spend” ✅ passed"
                assert int(result["alert"]["details"]["yes"]) > 0

                devnet.set_faults(rest_failing={"/cosmos/gov"})
                failing = chain.submit_proposal("Never seen title", voting_period=3600)
                devnet.advance(1)
                await until(lambda: any(a["alert"]["proposal_id"] == failing for a in alerts(receiver)), timeout=60)
                told = next(a for a in alerts(receiver) if a["alert"]["proposal_id"] == failing)
                assert told["summary"] == (
                    f"🗳 New proposal #{failing}: its title and dates could not be read from the chain "
                    "(its REST API did not answer)"
                )
                (info,) = (await http.get(f"{url}/v1/chains")).json()["items"]
                assert [p.split(":")[0] for p in info["monitoring_problems"]] == [f"GET proposal {failing}"]
                assert "HTTP 500" in info["monitoring_problems"][0]
                assert info["height"] == chain.tip  # blocks are still watched
        finally:
            server.stop()


async def test_the_cli_looks_validators_up_on_the_chain(tmp_path: Path) -> None:
    """`mempools query preset ... --chain`: an operator address becomes the consensus address the
    query needs (and the watch shows the moniker); an address that is no validator is refused."""
    import subprocess
    import sys

    chain = DevnetChain(DevnetConfig(chain_id=CHAIN_ID, block_time=0, history=3, txs_per_block=1, validators=4))
    v = chain.validator(2)
    async with DevnetServer(chain, run_clock=False) as devnet:
        config = write_devnet_config(
            tmp_path / "config.toml", tmp_path / "data", devnet.url, CHAIN_ID, chain_extra=f'rest = ["{devnet.url}"]\n'
        )

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            argv = [sys.executable, "-m", "mempools", "query", "preset", *args, "--chain", CHAIN_ID]
            return subprocess.run([*argv, "--config", str(config)], capture_output=True, text=True, timeout=60)

        jailed = await asyncio.to_thread(cli, "validator_jailed", f"validator={v.operator}")
        assert (jailed.returncode, jailed.stdout) == (0, f"slash.jailed = '{v.consensus}'\n")
        assert jailed.stderr == f"validator: {v.moniker} ({v.operator}, {v.consensus})\n"
        watch = await asyncio.to_thread(cli, "validator", f"validator={v.consensus}")
        assert watch.returncode == 0 and json.loads(watch.stdout.removeprefix("watch: "))["moniker"] == v.moniker
        unknown = bech32_address("cosmosvaloper", bytes(20))
        refused = await asyncio.to_thread(cli, "validator", f"validator={unknown}")
        assert refused.returncode == 2 and refused.stdout == ""
        assert refused.stderr.startswith(f"mempools: validator: Devnet has no validator {unknown}")
