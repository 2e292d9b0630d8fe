"""ChainRestClient against a loopback node serving recorded Cosmos REST answers, then hostile ones.

Recorded bodies: cosmoshub-4 staking/slashing (tests/fixtures/missed-blocks-checker), gov v1
(cosmoshub-4, Kujira) and v1beta1 (BitSong), votes and tallies
(tests/fixtures/cosmos-proposals-checker). Every failure must be a `ChainQueryError` that names
the path that failed, since that is what an operator is told.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

from core.chain.chainstate import Tally, VoteChoice
from core.chain.errors import ChainQueryError, RpcError
from core.chain.rest import ChainRestClient, parse_vote_option
from core.chain.validators import decode_validators_page, hex_to_valcons
from tests.recorded_node import RecordedNode, body, fixture, hang, recorded

MBC = "missed-blocks-checker"
CPC = "cosmos-proposals-checker"
STAKING = "/cosmos/staking/v1beta1/validators"
SLASHING = "/cosmos/slashing/v1beta1/params"
UBIK = "cosmosvaloper1q6d3d089hg59x6gcx92uumx70s5y5wadklue8s"
VOTER = "cosmos1xqz9pemz5e5zycaa89kys5aw6m8rhgsvtp9lt2"
NOT_FOUND = b'{"code":5,"message":"rpc error: code = NotFound desc = not found","details":[]}'
HTML_502 = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"


def json_body(obj: Any, status: int = 200) -> Any:
    return body(json.dumps(obj).encode(), status=status)


def hub_set() -> set[str]:
    members: set[str] = set()
    for page in ("cosmoshub-4_validators_page1.json", "cosmoshub-4_validators_page2.json"):
        members |= {m.address for m in decode_validators_page(fixture(f"{MBC}/{page}"))[1]}
    return members


def staking_pages() -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        page = "page2" if request.query.get("pagination.key") else "page1"
        return web.Response(body=fixture(f"{MBC}/cosmoshub-4_staking_validators_{page}.json"))

    return handler


# --- staking and slashing ------------------------------------------------------------------------


async def test_validators_follow_next_key_and_normalise() -> None:
    async with RecordedNode({STAKING: staking_pages()}) as node, ChainRestClient([node.url]) as rest:
        validators = await rest.validators()
    assert [v.moniker for v in validators] == [
        "Ubik Capital",
        "GAME",
        "WeStaking",
        "Castlenode",
        "tokenpocket",
        "真本聪&IOSG",
        "in3s.com",
        "ys-validator",
        "MANTRA",
    ]
    queries = [a["query"] for a in node.asked(STAKING)]
    assert queries == [
        {"pagination.limit": "200"},
        {"pagination.limit": "200", "pagination.key": "FDE2oBEbGVnZh6/fpttGbwGRkkUp"},
    ]
    by_name = {v.moniker: v for v in validators}
    ubik = by_name["Ubik Capital"]
    assert (ubik.operator_address, ubik.status, ubik.jailed, ubik.tokens) == (UBIK, "bonded", False, 1050970379070)
    assert ubik.commission_rate == "0.050000000000000000" and ubik.consensus_pub_key_type == "ed25519"
    assert (by_name["Castlenode"].status, by_name["Castlenode"].jailed) == ("unbonding", True)
    assert by_name["tokenpocket"].status == "unbonded"
    # the key -> hex derivation names the same validators as the chain's own /validators set
    bonded = [v for v in validators if v.status == "bonded"]
    assert len(bonded) == 5 and {v.consensus_hex for v in bonded} <= hub_set()
    assert hex_to_valcons(by_name["MANTRA"].consensus_hex, "cosmos") == (
        "cosmosvalcons1qrxwan7srvknxwsm264l0nlc56uw6fd3mq0s7v"
    )


async def test_one_validator_at_a_height_and_not_found() -> None:
    routes = {
        f"{STAKING}/{UBIK}": recorded(f"{MBC}/cosmoshub-4_staking_validator.json"),
        f"{STAKING}/cosmosvaloper1nothere": body(NOT_FOUND, status=404),
    }
    async with RecordedNode(routes) as node, ChainRestClient([node.url]) as rest:
        found = await rest.validator(UBIK, height=21955288)
        assert found is not None and found.moniker == "Ubik Capital"
        assert node.asked(f"{STAKING}/{UBIK}")[0]["height"] == "21955288"
        assert await rest.validator("cosmosvaloper1nothere") is None
        assert node.asked(f"{STAKING}/cosmosvaloper1nothere")[0]["height"] is None


async def test_slashing_params_and_signing_infos() -> None:
    base = "/cosmos/slashing/v1beta1/signing_infos/"
    routes = {
        SLASHING: recorded(f"{MBC}/cosmoshub-4_slashing_params.json"),
        base + "cosmosvalcons1rxmc3l8jzvqz5q3tll5crev2azncq8egfntczu": recorded(
            f"{MBC}/cosmoshub-4_signing_info_tombstoned.json"
        ),
        base + "cosmosvalcons1qrxwan7srvknxwsm264l0nlc56uw6fd3mq0s7v": recorded(
            f"{MBC}/cosmoshub-4_signing_info_jailed.json"
        ),
        base + "cosmosvalcons1qqqqrezrl53hujmpdch6d805ac75n220ku09rl": recorded(
            f"{MBC}/cosmoshub-4_signing_info_active.json"
        ),
        base + "cosmosvalcons1gone": json_body({"code": 5, "message": "SigningInfo not found", "details": []}, 404),
    }
    async with RecordedNode(routes) as node, ChainRestClient([node.url]) as rest:
        params = await rest.slashing_params()
        assert (params.signed_blocks_window, params.min_signed_per_window) == (10000, "0.050000000000000000")
        tomb = await rest.signing_info("cosmosvalcons1rxmc3l8jzvqz5q3tll5crev2azncq8egfntczu")
        assert tomb is not None and tomb.tombstoned
        assert tomb.jailed_until == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
        jailed = await rest.signing_info("cosmosvalcons1qrxwan7srvknxwsm264l0nlc56uw6fd3mq0s7v")
        assert jailed is not None and not jailed.tombstoned
        assert jailed.jailed_until == datetime(2024, 5, 8, 7, 36, 19, 221875, tzinfo=UTC)
        active = await rest.signing_info("cosmosvalcons1qqqqrezrl53hujmpdch6d805ac75n220ku09rl")
        assert active is not None and active.jailed_until is None and active.missed_blocks_counter == 1
        assert await rest.signing_info("cosmosvalcons1gone") is None


# --- gov ---------------------------------------------------------------------------------------------


async def test_gov_v1_proposals_titles_and_statuses() -> None:
    v1 = "/cosmos/gov/v1/proposals/"
    no_title = json.loads(fixture(f"{CPC}/proposal_v1_cosmoshub_936.json"))
    no_title["proposal"]["title"] = ""  # as SDK 0.46 sends it: the title only in `metadata`
    bare = json.loads(fixture(f"{CPC}/proposal_v1_kujira_1.json"))
    bare["proposal"]["messages"] = []  # no title anywhere
    routes = {
        v1 + "936": recorded(f"{CPC}/proposal_v1_cosmoshub_936.json"),
        v1 + "917": recorded(f"{CPC}/proposal_v1_cosmoshub_passed.json"),
        v1 + "1": recorded(f"{CPC}/proposal_v1_kujira_1.json"),
        v1 + "106": recorded(f"{CPC}/proposal_v1_kujira_106.json"),
        v1 + "9360": json_body(no_title),
        v1 + "10": json_body(bare),
        v1 + "404": body(NOT_FOUND, status=404),
    }
    async with RecordedNode(routes) as node, ChainRestClient([node.url]) as rest:
        spam = await rest.proposal(936)
        assert spam is not None and rest.gov_version == "v1"
        assert (spam.id, spam.status, spam.gov) == (936, "voting", "v1")
        assert spam.title == "💎ATOM AirDrop ✅ - New AirDrop Checker ⭐"
        assert spam.voting_end == datetime(2024, 7, 15, 16, 34, 53, 367762, tzinfo=UTC)
        assert spam.final_tally == Tally(yes=0, no=0, abstain=0, no_with_veto=0)
        passed = await rest.proposal(917, height=21000000)
        assert passed is not None and passed.status == "passed"
        assert passed.title == "[CORRECTED] DoraHacks: AEZ Quadratic Funding Program"
        assert passed.final_tally == Tally(
            yes=129417987412041, no=368156493883, abstain=10934423098235, no_with_veto=47769746649
        )
        assert node.asked(v1 + "917")[0]["height"] == "21000000"
        kujira = await rest.proposal(1)
        assert kujira is not None and kujira.title == "Update Jailing Parameters"  # messages[0].content.title
        unknown = await rest.proposal(106)
        assert unknown is not None and unknown.status == "unknown"
        from_metadata = await rest.proposal(9360)
        assert from_metadata is not None and from_metadata.title == spam.title
        untitled = await rest.proposal(10)
        assert untitled is not None and untitled.title == "Proposal #1"
        assert await rest.proposal(404) is None


async def test_proposals_in_voting_v1() -> None:
    routes = {"/cosmos/gov/v1/proposals": recorded(f"{CPC}/proposals_v1_cosmoshub_voting.json")}
    async with RecordedNode(routes) as node, ChainRestClient([node.url]) as rest:
        voting = await rest.proposals_in_voting()
    assert [(p.id, p.status) for p in voting] == [(936, "voting")]
    assert node.asked("/cosmos/gov/v1/proposals")[0]["query"]["proposal_status"] == "PROPOSAL_STATUS_VOTING_PERIOD"


@pytest.mark.parametrize("refusal", ["501", "route-404"])
async def test_gov_falls_back_to_v1beta1_and_remembers(refusal: str) -> None:
    if refusal == "501":  # SDK 0.45 gRPC gateway: the v1 routes are "Not Implemented"
        no_v1 = recorded(f"{CPC}/lcd-error.json", status=501)
    else:  # a node whose router has no such path at all
        no_v1 = body(b"404 page not found", status=404, content_type="text/plain")
    routes = {
        "/cosmos/gov/v1/proposals/32": no_v1,
        "/cosmos/gov/v1beta1/proposals/32": recorded(f"{CPC}/proposal_v1beta1_bitsong.json"),
        "/cosmos/gov/v1beta1/proposals": recorded(f"{CPC}/proposals_v1beta1_bitsong_page2.json"),
        f"/cosmos/gov/v1beta1/proposals/936/votes/{VOTER}": recorded(f"{CPC}/vote-old.json"),
        "/cosmos/gov/v1beta1/proposals/32/tally": recorded(f"{CPC}/tally.json"),
    }
    async with RecordedNode(routes) as node, ChainRestClient([node.url]) as rest:
        proposal = await rest.proposal(32)
        assert proposal is not None and rest.gov_version == "v1beta1"
        assert (proposal.id, proposal.title, proposal.status, proposal.gov) == (
            32,
            "Inflation Reduction",
            "passed",
            "v1beta1",
        )
        assert proposal.final_tally == Tally(yes=57933289182652, no=7547038138, abstain=1456658728402, no_with_veto=0)
        listed = await rest.proposals_in_voting()
        assert len(listed) == 5 and all(p.gov == "v1beta1" for p in listed)
        vote = await rest.vote(936, VOTER)
        assert vote is not None and vote.choices == (VoteChoice("no_with_veto", "1.000000000000000000"),)
        tally = await rest.tally(32)
        assert tally == Tally(yes=52008408706, no=535755581641, abstain=4165589836, no_with_veto=64525405153526)
    v1_asked = [path for path, _, _ in node.requests if path.startswith("/cosmos/gov/v1/")]
    assert v1_asked == ["/cosmos/gov/v1/proposals/32"]  # remembered: v1 asked once, never again


async def test_votes() -> None:
    base = "/cosmos/gov/v1/proposals/936/votes/"
    routes = {
        base + VOTER: recorded(f"{CPC}/vote.json"),
        base + "cosmos1novote": recorded(f"{CPC}/vote-not-found.json", status=400),
        base + "cosmos1weird": recorded(f"{CPC}/vote-unknown.json"),
    }
    async with RecordedNode(routes) as node, ChainRestClient([node.url]) as rest:
        vote = await rest.vote(936, VOTER, height=21000000)
        assert vote is not None
        assert (vote.proposal_id, vote.voter) == (936, VOTER)
        assert vote.choices == (VoteChoice("no_with_veto", "1.000000000000000000"),)
        assert node.asked(base + VOTER)[0]["height"] == "21000000"
        assert await rest.vote(936, "cosmos1novote") is None  # gRPC code 3 "... not found for proposal"
        with pytest.raises(ChainQueryError) as weird:
            await rest.vote(936, "cosmos1weird")
        assert weird.value.query == base + "cosmos1weird" and "not a vote option" in weird.value.reason


async def test_neither_gov_version() -> None:
    routes = {
        "/cosmos/gov/v1/proposals/1": recorded(f"{CPC}/lcd-error.json", status=501),
        "/cosmos/gov/v1beta1/proposals/1": recorded(f"{CPC}/lcd-error.json", status=501),
    }
    async with RecordedNode(routes) as node, ChainRestClient([node.url]) as rest:
        with pytest.raises(ChainQueryError, match="neither gov v1 nor v1beta1"):
            await rest.proposal(1)


# --- hostile answers -----------------------------------------------------------------------------


async def endless(request: web.Request) -> web.StreamResponse:
    """A chunked body (no Content-Length) far over the cap."""
    resp = web.StreamResponse()
    await resp.prepare(request)
    for _ in range(64):
        await resp.write(b'{"params":' + b" " * 16384)
    return resp


HOSTILE = [
    ("html-502", body(HTML_502, status=502, content_type="text/html"), "HTTP 502: <html>"),
    ("truncated", body(fixture(f"{MBC}/cosmoshub-4_slashing_params.json")[:60]), "truncated or non-JSON"),
    ("not-json-200", body(b"<html>maintenance</html>", content_type="text/html"), "truncated or non-JSON"),
    ("404", body(b"404 page not found", status=404, content_type="text/plain"), "not found"),
    ("grpc-not-found", body(NOT_FOUND, status=404), "not found"),
    ("501", recorded(f"{MBC}/lcd_not_implemented.json", status=501), "not implemented"),
    ("wrong-shape", json_body({"params": {"signed_blocks_window": "many"}}), "unexpected answer"),
    ("huge-declared", body(b"{" + b" " * 5000 + b"}"), "exceeds the 4096-byte cap"),
    ("huge-chunked", endless, "exceeds the 4096-byte cap"),
    ("timeout", hang(), "timed out"),
    ("400", json_body({"code": 3, "message": "invalid request"}, 400), "HTTP 400: gRPC code 3: invalid request"),
]


@pytest.mark.parametrize(("name", "handler", "reason"), HOSTILE, ids=[h[0] for h in HOSTILE])
async def test_hostile_answers_name_the_query(name: str, handler: Any, reason: str) -> None:
    async with (
        RecordedNode({SLASHING: handler}) as node,
        ChainRestClient([node.url], timeout=0.5, max_response_bytes=4096) as rest,
    ):
        with pytest.raises(ChainQueryError) as info:
            await rest.slashing_params()
    err = info.value
    assert isinstance(err, RpcError)  # one chain error tree: callers may catch either
    assert err.query == SLASHING
    assert reason in err.reason
    assert str(err).startswith(f"{node.url}: query {SLASHING} failed: ")


async def test_failover_to_the_next_url_and_all_failing() -> None:
    broken = {SLASHING: body(HTML_502, status=502, content_type="text/html")}
    good = {SLASHING: recorded(f"{MBC}/cosmoshub-4_slashing_params.json")}
    async with RecordedNode(broken) as a, RecordedNode(good) as b, ChainRestClient([a.url, b.url]) as rest:
        assert (await rest.slashing_params()).signed_blocks_window == 10000
        assert len(a.asked(SLASHING)) == len(b.asked(SLASHING)) == 1
    async with RecordedNode(broken) as a, RecordedNode(dict(broken)) as b, ChainRestClient([a.url, b.url]) as rest:
        with pytest.raises(ChainQueryError, match="every one of 2 URLs failed") as info:
            await rest.slashing_params()
        assert info.value.query == SLASHING and info.value.http_status == 502


async def test_connection_refused() -> None:
    async with RecordedNode() as node:
        url = node.url
    async with ChainRestClient([url], timeout=1.0) as rest:
        with pytest.raises(ChainQueryError) as info:
            await rest.validator(UBIK)
    assert info.value.query == f"{STAKING}/{UBIK}" and "ClientConnectorError" in info.value.reason


# --- vote options in every event format ------------------------------------------------------------

FULL = "1.000000000000000000"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("VOTE_OPTION_YES", (("yes", FULL),)),
        ("VOTE_OPTION_NO_WITH_VETO", (("no_with_veto", FULL),)),
        ("yes", (("yes", FULL),)),
        ("NoWithVeto", (("no_with_veto", FULL),)),
        ("1", (("yes", FULL),)),
        ("2", (("abstain", FULL),)),
        ("3", (("no", FULL),)),
        ("4", (("no_with_veto", FULL),)),
        ('{"option":1,"weight":"1.000000000000000000"}', (("yes", FULL),)),
        ('[{"option":1,"weight":"1.0"}]', (("yes", "1.0"),)),
        (
            '[{"option":"VOTE_OPTION_YES","weight":"0.7"},{"option":3,"weight":"0.3"}]',
            (("yes", "0.7"), ("no", "0.3")),
        ),
        ('option:VOTE_OPTION_YES weight:"1.000000000000000000"', (("yes", FULL),)),
        (
            'option:VOTE_OPTION_ABSTAIN weight:"0.500000000000000000"\n'
            'option:VOTE_OPTION_NO weight:"0.500000000000000000"',
            (("abstain", "0.500000000000000000"), ("no", "0.500000000000000000")),
        ),
    ],
)
def test_parse_vote_option(value: str, expected: tuple[tuple[str, str], ...]) -> None:
    assert parse_vote_option(value) == tuple(VoteChoice(o, w) for o, w in expected)


@pytest.mark.parametrize(
    "value",
    ["", "VOTE_OPTION_UNSPECIFIED", "0", "5", "maybe", "[]", "{", '{"weight":"1"}', "option:VOTE_OPTION_YES", "true"],
)
def test_parse_vote_option_refuses(value: str) -> None:
    with pytest.raises(ValueError):
        parse_vote_option(value)
