"""The devnet's governance over real HTTP on 127.0.0.1: proposals, votes, a warp past the end of
voting, the stake-weighted result, and the SDK 0.50 (v1) and SDK 0.45 (v1beta1) dialects of
events and REST answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import msgspec
import pytest

from mempools.devnet import ChainConfig, DevnetChain, DevnetServer

GENESIS = 1_700_000_000.0
DAY = 86400.0


def chain_of(**kw: Any) -> DevnetChain:
    cfg: dict[str, Any] = {"history": 10, "block_time": 0, "genesis_time": GENESIS, "txs_per_block": 1} | kw
    return DevnetChain(ChainConfig(**cfg))


@pytest.fixture
async def http() -> Any:
    async with httpx.AsyncClient(timeout=10.0, trust_env=False) as client:
        yield client


def _attrs(ev: dict[str, Any]) -> dict[str, str]:
    return {a["key"]: a["value"] for a in ev["attributes"]}


def tx_events(chain: DevnetChain, height: int, type_: str) -> list[dict[str, str]]:
    results = msgspec.json.decode(chain.block_results_json(height))
    return [_attrs(ev) for tx in results["txs_results"] or [] for ev in tx["events"] if ev["type"] == type_]


def block_events(chain: DevnetChain, height: int, type_: str) -> list[dict[str, str]]:
    results = msgspec.json.decode(chain.block_results_json(height))
    return [_attrs(ev) for ev in results["finalize_block_events"] if ev["type"] == type_]


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def test_v1_proposal_votes_warp_and_tally(http: httpx.AsyncClient) -> None:
    chain = chain_of()
    v0, v1, v2 = chain.validators[:3]
    alice = chain.book.accounts[2]  # delegates to validator 2
    async with DevnetServer(chain) as server:
        r = await http.post(f"{server.url}/devnet/gov/proposals", json={"title": "Raise the block size"})
        assert r.status_code == 200 and r.json() == {"proposal_id": 1, "height": 11}
        other = chain.submit_proposal("Nobody cares", voting_period=DAY)
        assert (await http.get(f"{server.url}/cosmos/gov/v1/proposals/1")).status_code == 404  # not in a block yet
        server.advance()
        assert {"proposal_id": "1", "proposal_proposer": chain.book.accounts[0], "msg_index": "0"}.items() <= tx_events(
            chain, 11, "submit_proposal"
        )[0].items()
        assert tx_events(chain, 11, "submit_proposal")[0]["proposal_messages"] == ",/cosmos.gov.v1.MsgExecLegacyContent"
        assert {"voting_period_start": "1", "msg_index": "0"} in tx_events(chain, 11, "submit_proposal")

        p = (await http.get(f"{server.url}/cosmos/gov/v1/proposals/1")).json()["proposal"]
        assert (p["id"], p["title"], p["status"]) == ("1", "Raise the block size", "PROPOSAL_STATUS_VOTING_PERIOD")
        assert ts(p["voting_end_time"]) - ts(p["voting_start_time"]) == DAY
        assert p["voting_start_time"] == chain.time_of(11)
        assert p["messages"][0]["content"]["title"] == "Raise the block size"
        voting = (
            await http.get(f"{server.url}/cosmos/gov/v1/proposals?proposal_status=PROPOSAL_STATUS_VOTING_PERIOD")
        ).json()
        assert [x["id"] for x in voting["proposals"]] == ["1", "2"] and voting["pagination"]["total"] == "2"
        legacy = (await http.get(f"{server.url}/cosmos/gov/v1beta1/proposals/1")).json()["proposal"]
        assert legacy["proposal_id"] == "1" and legacy["content"]["title"] == "Raise the block size"

        for voter, option in ((v0.operator, "yes"), (1, "yes"), (v2.account, "no"), (alice, "no_with_veto")):
            r = await http.post(
                f"{server.url}/devnet/gov/votes", json={"proposal_id": 1, "voter": voter, "option": option}
            )
            assert r.status_code == 200, r.text
        server.advance()
        votes = tx_events(chain, 12, "proposal_vote")
        assert votes[0] == {
            "voter": v0.account,
            "option": '[{"option":1,"weight":"1.000000000000000000"}]',
            "proposal_id": "1",
            "msg_index": "0",
        }
        assert [v["voter"] for v in votes] == [v0.account, v1.account, v2.account, alice]
        assert votes[3]["option"] == '[{"option":4,"weight":"1.000000000000000000"}]'

        vote_path = f"{server.url}/cosmos/gov/v1/proposals/1/votes/{alice}"
        assert (await http.get(vote_path, headers={"x-cosmos-block-height": "11"})).status_code == 400  # not yet
        vote = (await http.get(vote_path, headers={"x-cosmos-block-height": "12"})).json()["vote"]
        assert vote == (await http.get(vote_path)).json()["vote"]
        assert vote["options"] == [{"option": "VOTE_OPTION_NO_WITH_VETO", "weight": "1.000000000000000000"}]
        silent = chain.book.accounts[5]
        r = await http.get(f"{server.url}/cosmos/gov/v1/proposals/1/votes/{silent}")
        assert r.status_code == 400
        assert r.json() == {"code": 3, "message": f"voter: {silent} not found for proposal: 1", "details": []}

        # validators vote with their tokens minus those of delegators who voted themselves
        alice_stake = chain.delegations[alice][1]
        tally = (await http.get(f"{server.url}/cosmos/gov/v1/proposals/1/tally")).json()["tally"]
        assert tally == {
            "yes_count": str(v0.tokens + v1.tokens),
            "abstain_count": "0",
            "no_count": str(v2.tokens - alice_stake),
            "no_with_veto_count": str(alice_stake),
        }

        before = chain.time_at(12)
        r = await http.post(f"{server.url}/devnet/warp", json={"seconds": DAY})
        assert r.status_code == 200
        server.advance()
        assert chain.time_at(13) >= ts(p["voting_end_time"]) and chain.time_at(13) > before
        ended = block_events(chain, 13, "active_proposal")
        assert ended == [
            {"proposal_id": "1", "proposal_result": "proposal_passed", "mode": "EndBlock"},
            {"proposal_id": "2", "proposal_result": "proposal_rejected", "mode": "EndBlock"},
        ]
        done = (await http.get(f"{server.url}/cosmos/gov/v1/proposals/1")).json()["proposal"]
        assert done["status"] == "PROPOSAL_STATUS_PASSED" and done["final_tally_result"] == tally
        then = await http.get(f"{server.url}/cosmos/gov/v1/proposals/1", headers={"x-cosmos-block-height": "12"})
        assert then.json()["proposal"]["status"] == "PROPOSAL_STATUS_VOTING_PERIOD"
        assert (await http.get(f"{server.url}/cosmos/gov/v1/proposals/{other}")).json()["proposal"][
            "status"
        ] == "PROPOSAL_STATUS_REJECTED"
        voting = (await http.get(f"{server.url}/cosmos/gov/v1/proposals", params={"proposal_status": "2"})).json()
        assert voting["proposals"] == []
        server.advance()
        assert chain.time_at(14) > chain.time_at(13) and not block_events(chain, 14, "active_proposal")
        late = await http.post(f"{server.url}/devnet/gov/votes", json={"proposal_id": 1, "voter": alice})
        assert late.status_code == 400 and "inactive proposal" in late.json()["error"]


async def test_v1beta1_chain_speaks_sdk_045(http: httpx.AsyncClient) -> None:
    chain = chain_of(gov_version="v1beta1")
    v0 = chain.validators[0]
    async with DevnetServer(chain) as server:
        pid = chain.submit_proposal("Old school", voting_period=60.0, description="text")
        chain.advance()
        submits = tx_events(chain, 11, "submit_proposal")
        assert {"proposal_id": str(pid), "proposal_type": "Text"} in submits
        assert {"voting_period_start": str(pid)} in submits
        chain.vote(pid, v0.operator, "VOTE_OPTION_YES")
        chain.advance()
        [vote] = tx_events(chain, 12, "proposal_vote")
        assert vote == {"option": '{"option":1,"weight":"1.000000000000000000"}', "proposal_id": str(pid)}
        assert {"module": "gov", "sender": v0.account} in tx_events(chain, 12, "message")

        for path in (
            "/proposals",
            f"/proposals/{pid}",
            f"/proposals/{pid}/tally",
            f"/proposals/{pid}/votes/{v0.account}",
        ):
            r = await http.get(f"{server.url}/cosmos/gov/v1{path}")
            assert r.status_code == 501, path
            assert r.json() == {"code": 12, "message": "Not Implemented", "details": []}
        p = (await http.get(f"{server.url}/cosmos/gov/v1beta1/proposals/{pid}")).json()["proposal"]
        assert p["proposal_id"] == str(pid) and p["content"]["description"] == "text" and "title" not in p
        assert p["status"] == "PROPOSAL_STATUS_VOTING_PERIOD"
        vote_doc = (await http.get(f"{server.url}/cosmos/gov/v1beta1/proposals/{pid}/votes/{v0.account}")).json()
        assert vote_doc["vote"]["option"] == "VOTE_OPTION_YES"
        tally = (await http.get(f"{server.url}/cosmos/gov/v1beta1/proposals/{pid}/tally")).json()["tally"]
        assert tally == {"yes": str(v0.tokens), "abstain": "0", "no": "0", "no_with_veto": "0"}

        chain.warp(61)
        chain.advance()
        # validator 0 alone holds more than the quorum (1/3) of the bonded tokens
        assert block_events(chain, 13, "active_proposal")[0]["proposal_result"] == "proposal_passed"


async def test_gov_bad_input(http: httpx.AsyncClient) -> None:
    chain = chain_of()
    async with DevnetServer(chain) as server:
        r = await http.get(f"{server.url}/cosmos/gov/v1/proposals/99")
        assert r.status_code == 404
        assert r.json() == {"code": 5, "message": "proposal 99 doesn't exist", "details": []}
        for body in (
            {"proposal_id": 99, "voter": chain.book.accounts[0]},
            {"proposal_id": 1, "voter": chain.book.accounts[0]},
        ):
            r = await http.post(f"{server.url}/devnet/gov/votes", json=body)
            assert r.status_code == 400 and "doesn't exist" in r.json()["error"]
        pid = chain.submit_proposal("<b>" + "x" * 10_000 + "</b>")
        chain.advance()
        r = await http.post(f"{server.url}/devnet/gov/votes", json={"proposal_id": pid, "voter": "cosmos1bad"})
        assert r.status_code == 400 and "not a cosmos account" in r.json()["error"]
        r = await http.post(
            f"{server.url}/devnet/gov/votes",
            json={"proposal_id": pid, "voter": chain.book.accounts[0], "option": "maybe"},
        )
        assert r.status_code == 400 and "vote option" in r.json()["error"]
        assert (await http.post(f"{server.url}/devnet/gov/proposals", json={})).status_code == 400
        assert (await http.post(f"{server.url}/devnet/warp", json={"seconds": -5})).status_code == 400
        title = (await http.get(f"{server.url}/cosmos/gov/v1/proposals/{pid}")).json()["proposal"]["title"]
        assert len(title) == 10_007  # served as submitted: cutting and escaping is the reader's job


def test_warp_keeps_fixed_genesis_times_monotonic() -> None:
    chain = chain_of()
    times = [chain.time_at(h) for h in range(1, 11)]
    chain.warp(3600)
    chain.advance(3)
    assert chain.time_at(11) == GENESIS + 10 + 3600 and chain.time_at(13) == GENESIS + 12 + 3600
    assert [chain.time_at(h) for h in range(1, 11)] == times  # the past does not move
    assert chain.time_of(11) == "2023-11-14T23:13:30Z"
