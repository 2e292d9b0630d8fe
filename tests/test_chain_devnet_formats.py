"""The chain clients (decoder, `/validators`, REST) against the devnet, in both gov dialects.

The recorded fixtures say the clients read what real chains send; this says the devnet the
end-to-end tests run on sends what the clients read: a missing validator's ABSENT signature in
its set position, the set behind a block, a jailed validator's state, and gov v1 (SDK 0.50) and
v1beta1-only (SDK 0.45, v1 answering 501) proposals, votes and tallies.
"""

from __future__ import annotations

import hashlib

import bech32
import pytest

from core.chain.chainstate import Tally, VoteChoice
from core.chain.rest import ChainRestClient
from core.chain.rpc import RpcClient
from core.chain.validators import hex_to_valcons
from core.query.addresses import validate_address
from mempools.devnet import ChainConfig, DevnetChain, DevnetServer

GENESIS = 1_700_000_000.0


def unknown_valoper() -> str:
    data = bech32.convertbits(hashlib.sha256(b"nobody").digest()[:20], 8, 5)
    assert data is not None
    return validate_address(bech32.bech32_encode("cosmosvaloper", data))


@pytest.mark.parametrize("gov", ["v1", "v1beta1"])
async def test_clients_read_the_devnet(gov: str) -> None:
    chain = DevnetChain(
        ChainConfig(chain_id="devnet-1", history=20, block_time=0, genesis_time=GENESIS, seed=1, gov_version=gov)
    )
    v = chain.validators
    chain.set_missing(v[1].operator)
    pid = chain.submit_proposal("Hello <b>world</b>")
    chain.advance(2)
    chain.vote(pid, v[0].account, "no")
    chain.jail(v[2].operator)
    chain.advance(2)
    async with DevnetServer(chain) as server, RpcClient(server.url) as rpc, ChainRestClient([server.url]) as rest:
        tip = (await rpc.status()).latest_height
        block = await rpc.fetch(tip)
        members = (await rpc.validators(tip - 1)).members
        # signatures of tip-1 in the order of its set; the missing validator's is ABSENT, no address
        assert len(block.signatures) == len(members)
        for sig, member in zip(block.signatures, members, strict=True):
            assert sig.address == ("" if member.address == v[1].hex else member.address)
            assert sig.signed == (member.address != v[1].hex)
        assert block.proposer in {m.address for m in members} and block.validators_hash

        staking = {s.operator_address: s for s in await rest.validators()}
        assert (
            staking[v[0].operator].consensus_hex
            == v[0].hex
            == members[[m.address for m in members].index(v[0].hex)].address
        )
        assert staking[v[2].operator].jailed and staking[v[2].operator].moniker == v[2].moniker
        info = await rest.signing_info(hex_to_valcons(v[2].hex, "cosmos"))
        assert info is not None and info.address == v[2].consensus and info.jailed_until is not None
        assert (await rest.slashing_params()).signed_blocks_window == 100
        assert await rest.validator(unknown_valoper()) is None

        proposal = await rest.proposal(pid)
        assert proposal is not None
        assert (proposal.title, proposal.status, proposal.gov, rest.gov_version) == (
            "Hello <b>world</b>",
            "voting",
            gov,
            gov,
        )
        assert [p.id for p in await rest.proposals_in_voting()] == [pid]
        vote = await rest.vote(pid, v[0].account)
        assert vote is not None and vote.choices == (VoteChoice("no", "1.000000000000000000"),)
        assert await rest.vote(pid, v[3].account) is None
        assert await rest.tally(pid) == Tally(yes=0, no=v[0].tokens, abstain=0, no_with_veto=0)
        assert await rest.proposal(999) is None
