"""The block decoder against every recorded CometBFT fixture (v0.34, v0.37, v0.38, Sei, dYdX).

Counts are pinned: a change in how any format decodes shows up here as a number that moved.
The websocket fixtures carry the `events` map CometBFT itself built, so they double as
conformance vectors for `events_map`.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.chain.blocks import CommitSig, DecodedBlock, ValidatorUpdate
from core.chain.decoder import BlockDecoder, decode_status
from core.chain.errors import BlockDecodeError, HeightNotAvailable, RpcCallError
from core.chain.txbody import tx_messages
from tests.fakes.cosmos_tx import any_message, msg_send, tx_b64

FIX = Path(__file__).parent / "fixtures" / "cometbft" / "tendermint-rs"
OSMOSIS = FIX / "osmosis_fixtures" / "block_results_at_height_10499831.json"
INJECTIVE = FIX / "gaia_fixtures" / "block_results_at_height_4555980.json"
SEI = FIX / "sei_fixtures" / "block_results_with_failed_txs.json"
DYDX = FIX / "dydx_fixtures" / "block_results_at_height_12791634.json"
KV = {v: FIX / f"kvstore_fixtures_v0_{v}" / "incoming" for v in ("34", "37", "38")}

RESERVED = {"tm.event", "tx.hash", "tx.height", "tx.code", "block.height"}


def decode(path: Path, block: Any = None) -> DecodedBlock:
    return BlockDecoder().decode(path.read_bytes(), block)


def app_keys(emap: dict[str, list[str]]) -> dict[str, list[str]]:
    return {k: v for k, v in emap.items() if k not in RESERVED}


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def fake_block(height: int, n_txs: int, chain_id: str = "test-1") -> dict[str, Any]:
    return {
        "result": {
            "block": {
                "header": {"height": str(height), "chain_id": chain_id, "time": "2024-01-02T03:04:05.123Z"},
                "data": {"txs": [b64(f"tx-{i}") for i in range(n_txs)]},
            }
        }
    }


# --- every fixture, pinned ---------------------------------------------------------------------


def test_osmosis_v034_base64_large_block() -> None:
    b = decode(OSMOSIS)
    assert b.height == 10499831
    assert (b.time, b.chain_id) == (None, None)
    assert [s.kind for s in b.scopes] == ["tx"] * 8 + ["block"]
    assert [s.index for s in b.txs] == list(range(8))
    assert [len(s.events) for s in b.txs] == [25, 32, 32, 43, 25, 27, 18, 52]
    assert len(b.block_scope.events) == 308
    assert sum(len(e.attributes) for s in b.scopes for e in s.events) == 1199
    assert [s.code for s in b.txs] == [0] * 8
    assert [(s.gas_wanted, s.gas_used) for s in b.txs[:2]] == [(200000, 135381), (464155, 407095)]
    assert b.txs[0].codespace is None
    first = b.txs[0].events[0]
    assert first.type == "coin_spent"
    assert [(a.key, a.value) for a in first.attributes] == [
        ("spender", "osmo1ddl9hnacgqfls5xgm7jy30uvc3lll4jdrdk35n"),
        ("amount", "500uosmo"),
    ]
    assert b.txs[0].events_map["message.action"] == ["/osmosis.gamm.v1beta1.MsgSwapExactAmountIn"]
    assert b.txs[0].events_map["transfer.amount"][0] == "500uosmo"
    assert b.txs[6].events_map["wasm._contract_address"] == [
        "osmo1zacxlu90sl6j2zf90uctpddhfmux84ryrw794ywnlcwx2zeh5a4q67qtc9"
    ]
    blk = b.block_scope.events_map
    assert len(blk["commission.validator"]) == 151
    assert blk["liveness.missed_blocks"] == ["3998"]
    assert blk["tm.event"] == ["NewBlock", "NewBlockEvents"]
    assert blk["block.height"] == ["10499831"]
    assert b.block_scope.events[-1].type == "liveness"


def test_osmosis_decoded_events_agree_with_the_tx_log() -> None:
    """The v0.34 `log` holds the message events in plain text: the base64 decoding must agree."""
    raw = json.loads(OSMOSIS.read_bytes())["result"]["txs_results"][0]
    logged = {
        f"{ev['type']}.{a['key']}": a["value"]
        for msg in json.loads(raw["log"])
        for ev in msg["events"]
        for a in ev["attributes"]
    }
    emap = decode(OSMOSIS).txs[0].events_map
    for key, value in logged.items():
        assert value in emap[key], key


def test_injective_v034_begin_and_end_block_events() -> None:
    b = decode(INJECTIVE)
    assert b.height == 4555980
    assert [len(s.events) for s in b.txs] == [9, 9, 9, 11]
    # 62 begin-block events, then 1 end-block event, in that order
    assert len(b.block_scope.events) == 63
    assert b.block_scope.events[0].type == "coin_received"
    assert b.block_scope.events[-1].type == "injective.exchange.v1beta1.EventBatchDepositUpdate"
    blk = b.block_scope.events_map
    assert blk["mint.inflation"] == ["0.050000000000000000"]
    assert blk["send_packet.packet_src_port"] == ["oracle"]
    assert b.txs[0].events[-1].type == "injective.exchange.v1beta1.EventCancelSpotOrder"
    assert [(s.gas_wanted, s.gas_used) for s in b.txs] == [
        (121347, 91245),
        (118680, 89550),
        (92167, 89299),
        (400000, 148912),
    ]


def test_sei_base64_with_finalize_block_events_and_failed_txs() -> None:
    b = decode(SEI)
    assert b.height == 54810790
    assert len(b.txs) == 28
    assert [s.code for s in b.txs] == [32, 32] + [0] * 26
    assert [s.codespace for s in b.txs[:3]] == ["sdk", "sdk", None]
    assert [s.failed for s in b.txs[:3]] == [True, True, False]
    # The result's log is kept: for a failed tx it is the only account of why it failed.
    assert b.txs[0].log == "account sequence mismatch, expected 25569347, got 25569339: incorrect account sequence"
    assert (b.txs[2].log or "").startswith('[{"events":[{"type":"aggregate_vote"')
    assert [len(s.events) for s in b.txs] == [0, 0] + [6] * 26
    assert (b.txs[0].gas_wanted, b.txs[0].gas_used) == (None, None)  # absent in the fixture
    assert b.txs[0].events_map == {"tm.event": ["Tx"], "tx.height": ["54810790"], "tx.code": ["32"]}
    assert b.txs[2].events_map["tx.code"] == ["0"]  # `code` absent means 0
    assert b.txs[2].events_map["message.action"] == ["/seiprotocol.seichain.oracle.MsgAggregateExchangeRateVote"]
    assert b.txs[2].events_map["tx.fee"] == ["0usei"]
    voter = "seivaloper1eqgnd7ey0hnha8rrfukjrsawulhna0zagcg6a4"
    assert b.txs[2].events_map["aggregate_vote.voter"] == [voter]
    assert len(b.block_scope.events) == 81
    blk = b.block_scope.events_map
    assert blk["proposer_reward.amount"] == [""]  # null value
    assert blk["proposer_reward.validator"] == ["seivaloper1qae8v3h6wd6f5yfxyx3zeumuddwhm4qeyz5qre"]
    assert len(blk["commission.amount"]) == 40
    assert set(blk["rewards.amount"]) == {""}


def test_dydx_v038_event_without_type_and_empty_keys_are_skipped() -> None:
    b = decode(DYDX)
    assert b.height == 12791634
    assert len(b.txs) == 1
    tx = b.txs[0]
    assert (tx.code, tx.gas_wanted, tx.gas_used, tx.codespace, tx.events) == (0, 0, 0, None, ())
    # 4 finalize_block_events, none with a type, all keys empty: nothing survives
    assert b.block_scope.events == ()
    assert b.block_scope.events_map == {
        "tm.event": ["NewBlock", "NewBlockEvents"],
        "block.height": ["12791634"],
    }


@pytest.mark.parametrize("version", ["34", "37", "38"])
def test_kvstore_empty_block_with_block(version: str) -> None:
    results = (KV[version] / "block_results_at_height_10.json").read_bytes()
    block = (KV[version] / "block_at_height_10.json").read_bytes()
    b = BlockDecoder().decode(results, block)
    assert b.height == 10
    assert b.chain_id == "dockerchain"
    assert b.time is not None and b.time[:5] in ("2022-", "2023-")
    assert len(b.scopes) == 1 and b.scopes[0].kind == "block"
    assert b.block_scope.events == ()


# --- conformance with the maps CometBFT itself built (websocket fixtures) ----------------------


def test_block_map_equals_cometbft_newblock_events_v034() -> None:
    msg = json.loads((FIX / "gaia_fixtures" / "subscribe_newblock_0.json").read_bytes())["result"]
    value = msg["data"]["value"]
    height = int(value["block"]["header"]["height"])
    results = {
        "height": str(height),
        "txs_results": None,
        "begin_block_events": value["result_begin_block"].get("events"),
        "end_block_events": value["result_end_block"].get("events"),
    }
    b = BlockDecoder().decode(results, {"block": value["block"]})
    expected = {k: v for k, v in msg["events"].items() if k != "tm.event"}
    assert app_keys(b.block_scope.events_map) == expected
    assert b.chain_id == "ibc-0"


@pytest.mark.parametrize("version", ["34", "37", "38"])
def test_tx_map_equals_cometbft_tx_events(version: str) -> None:
    msg = json.loads((KV[version] / "subscribe_txs_0.json").read_bytes())["result"]
    txr = msg["data"]["value"]["TxResult"]
    height = int(txr["height"])
    results = {"height": str(height), "txs_results": [txr["result"]]}
    block = {"block": {"header": {"height": str(height)}, "data": {"txs": [txr["tx"]]}}}
    tx = BlockDecoder().decode(results, block).txs[0]
    expected = dict(msg["events"])
    assert tx.tx_hash == expected["tx.hash"][0]
    mine = dict(tx.events_map)
    assert mine.pop("tx.code") == ["0"]
    assert mine == expected


# --- input forms ------------------------------------------------------------------------------


def test_envelope_bare_result_and_dict_decode_the_same() -> None:
    raw = SEI.read_bytes()
    doc = json.loads(raw)
    a = BlockDecoder().decode(raw)
    assert BlockDecoder().decode(doc) == a
    assert BlockDecoder().decode(doc["result"]) == a
    assert BlockDecoder().decode(json.dumps(doc["result"]).encode()) == a
    assert BlockDecoder().decode(raw.decode()) == a


def test_tx_hashes_come_from_block_data_txs() -> None:
    b = BlockDecoder().decode(SEI.read_bytes(), fake_block(54810790, 28, "pacific-1"))
    assert b.chain_id == "pacific-1"
    assert b.time == "2024-01-02T03:04:05.123Z"
    assert b.txs[0].tx_hash == BlockDecoder.tx_hash(b64("tx-0"))
    assert len({s.tx_hash for s in b.txs}) == 28
    for s in b.txs:
        assert s.events_map["tx.hash"] == [s.tx_hash]
        assert s.tx_hash is not None and s.tx_hash == s.tx_hash.upper() and len(s.tx_hash) == 64
    # known vector from the kvstore fixture: "tx0=value"
    known = "FCB86F71C4EFF43E13C51FA12791F6DD1DDB8600A51131BE2289614D6882F6BE"
    assert BlockDecoder.tx_hash("dHgwPXZhbHVl") == known


def test_block_from_another_height_is_refused() -> None:
    with pytest.raises(BlockDecodeError, match="height"):
        BlockDecoder().decode(SEI.read_bytes(), fake_block(54810791, 28))


def test_block_with_other_tx_count_is_refused() -> None:
    with pytest.raises(BlockDecodeError, match="27 txs"):
        BlockDecoder().decode(SEI.read_bytes(), fake_block(54810790, 27))


@pytest.mark.parametrize(
    "garbage",
    [
        b"<html>502 Bad Gateway</html>",
        b'{"jsonrpc":"2.0","result":{"height":"5","txs_res',
        b"{}",
        b"[]",
        b'{"result":{"height":"x"}}',
        b'{"result":{"height":"5","txs_results":[{"events":[{"type":5}]}]}}',
    ],
)
def test_garbage_raises_block_decode_error(garbage: bytes) -> None:
    with pytest.raises(BlockDecodeError):
        BlockDecoder().decode(garbage)


def test_error_envelopes_are_classified() -> None:
    pruned = {
        "jsonrpc": "2.0",
        "id": -1,
        "error": {
            "code": -32603,
            "message": "Internal error",
            "data": "height 100 is not available, lowest height is 24900001",
        },
    }
    with pytest.raises(HeightNotAvailable) as info:
        BlockDecoder().decode(pruned)
    assert info.value.lowest == 24900001 and not info.value.in_future
    future = {
        "error": {
            "code": -32603,
            "message": "Internal error",
            "data": "height 900 must be less than or equal to the current blockchain height 800",
        }
    }
    with pytest.raises(HeightNotAvailable) as info:
        BlockDecoder().decode(json.dumps(future).encode())
    assert info.value.latest == 800 and info.value.in_future
    with pytest.raises(RpcCallError):
        BlockDecoder().decode({"error": {"code": -32600, "message": "Invalid Request"}})


# --- base64 detection -------------------------------------------------------------------------


def _doc(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {"height": "7", "txs_results": [{"code": 0, "events": events}]}


def test_plain_keys_that_are_valid_base64_stay_plain() -> None:
    # "receiver", "mode", "data", "hash" are valid base64 by length and alphabet
    attrs = [
        {"key": k, "value": v}
        for k, v in [
            ("receiver", "cosmos1abc"),
            ("mode", "EndBlock"),
            ("data", "abcd"),
            ("hash", "ABCD"),
            ("amount", "100uatom"),
            ("sender", "cosmos1xyz"),
        ]
    ]
    tx = BlockDecoder().decode(_doc([{"type": "x", "attributes": attrs}])).txs[0]
    assert [(a.key, a.value) for a in tx.events[0].attributes] == [(a["key"], a["value"]) for a in attrs]


def test_all_keys_base64_looking_but_values_not_base64_stays_plain() -> None:
    doc = _doc([{"type": "x", "attributes": [{"key": b64("abc"), "value": "cosmos1xyz"}]}])
    tx = BlockDecoder().decode(doc).txs[0]
    assert tx.events_map["x." + b64("abc")] == ["cosmos1xyz"]


def test_mixed_block_and_v038_mode_attribute() -> None:
    doc = {
        "height": "9",
        "txs_results": [
            {
                "events": [
                    {
                        "type": "transfer",
                        "attributes": [
                            {"key": "amount", "value": "5uatom"},
                            {"key": "", "value": "dropped"},
                            {"key": "amount", "value": "5uatom"},
                        ],
                    },
                    {"type": "", "attributes": [{"key": "a", "value": "b"}]},
                    {"type": "message"},
                ]
            }
        ],
        "finalize_block_events": [
            {
                "type": "rewards",
                "attributes": [{"key": "amount", "value": None}, {"key": "mode", "value": "BeginBlock"}],
            }
        ],
    }
    b = BlockDecoder().decode(doc)
    tx = b.txs[0]
    assert [e.type for e in tx.events] == ["transfer", "message"]
    assert tx.events[1].attributes == ()
    assert tx.events_map["transfer.amount"] == ["5uatom", "5uatom"]  # duplicates kept, in order
    assert "message" not in tx.events_map  # CometBFT only maps attributes
    assert b.block_scope.events_map["rewards.mode"] == ["BeginBlock"]
    assert b.block_scope.events_map["rewards.amount"] == [""]


def test_reserved_keys_append_after_app_values() -> None:
    doc = _doc([{"type": "tx", "attributes": [{"key": "height", "value": "app"}]}])
    tx = BlockDecoder().decode(doc).txs[0]
    assert tx.events_map["tx.height"] == ["app", "7"]


KEYS = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=20)
VALUES = st.text(max_size=30)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["transfer", "wasm"]), KEYS, VALUES), min_size=1, max_size=8))
def test_base64_roundtrip(attrs: list[tuple[str, str, str]]) -> None:
    """Any v0.34 document (keys and values base64) decodes back to the original text."""
    events = [{"type": t, "attributes": [{"key": b64(k), "value": b64(v)}]} for t, k, v in attrs]
    tx = BlockDecoder().decode(_doc(events)).txs[0]
    assert [(e.type, e.attributes[0].key, e.attributes[0].value) for e in tx.events] == attrs


SDK_KEYS = [
    "amount",
    "sender",
    "receiver",
    "recipient",
    "spender",
    "module",
    "action",
    "validator",
    "mode",
    "fee",
    "fee_payer",
    "acc_seq",
    "signature",
    "_contract_address",
    "proposal_id",
    "reason",
    "jailed",
]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(SDK_KEYS), VALUES), min_size=1, max_size=8))
def test_plain_sdk_documents_are_never_base64_decoded(attrs: list[tuple[str, str]]) -> None:
    events = [{"type": "e", "attributes": [{"key": k, "value": v}]} for k, v in attrs]
    tx = BlockDecoder().decode(_doc(events)).txs[0]
    assert [(e.attributes[0].key, e.attributes[0].value) for e in tx.events] == attrs


# --- status and speed -------------------------------------------------------------------------


def test_status_fixtures() -> None:
    s = decode_status((KV["38"] / "status.json").read_bytes())
    assert (s.chain_id, s.latest_height, s.earliest_height, s.catching_up) == ("dockerchain", 232, 1, False)
    assert s.latest_time == "2023-05-17T14:14:48.530153458Z"
    g = decode_status(json.loads((FIX / "gaia_fixtures" / "status.json").read_bytes())["result"])
    assert (g.chain_id, g.latest_height, g.version) == ("ibc-0", 165, "v0.34.9")
    with pytest.raises(BlockDecodeError):
        decode_status(b'{"result":{}}')


def test_osmosis_decodes_in_a_few_ms() -> None:
    raw = OSMOSIS.read_bytes()
    dec = BlockDecoder()
    dec.decode(raw)
    start = time.perf_counter()
    for _ in range(20):
        dec.decode(raw)
    per_block = (time.perf_counter() - start) / 20
    assert per_block < 0.05  # generous for slow CI; about 3 ms on a laptop


def test_a_failed_tx_carries_what_it_attempted_from_its_body() -> None:
    """Its events are reverted (only the fee payment is left), so the body says what it tried."""
    alice, wlfz = "cosmos1qypqxpq9qcrsszg2pvxq6rs0zqg3yyc5lzv7xu", "cosmos1wlfzcw5j8unqy0x0ra5y7zps7rwrwkqcsmd4cx"
    send = tx_b64(msg_send(alice, wlfz, ("9000000000", "uatom")), any_message("/cosmos.gov.v1.MsgVote", b""))
    ok = tx_b64(msg_send(alice, wlfz, ("1", "uatom")))
    fee = {"type": "tx", "attributes": [{"key": "fee", "value": "1900uatom"}]}
    results = {
        "height": "100",
        "txs_results": [
            {"code": 5, "codespace": "sdk", "log": "spendable balance 0uatom: insufficient funds", "events": [fee]},
            {"code": 0, "events": [fee]},
        ],
    }
    block = {"block": {"header": {"height": "100", "chain_id": "cosmoshub-4"}, "data": {"txs": [send, ok]}}}
    b = BlockDecoder().decode(results, block)
    failed, succeeded = b.txs
    assert [(m.type_url, m.recipient, m.amount) for m in failed.messages] == [
        ("/cosmos.bank.v1beta1.MsgSend", wlfz, "9000000000uatom"),
        ("/cosmos.gov.v1.MsgVote", None, None),
    ]
    assert failed.log == "spendable balance 0uatom: insufficient funds"
    assert succeeded.messages == ()  # only failed txs are read: their events say nothing else
    assert BlockDecoder().decode(results).txs[0].messages == ()  # no /block, no body


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_an_unreadable_tx_body_gives_no_messages_never_an_error(raw: bytes) -> None:
    assert isinstance(tx_messages(base64.b64encode(raw).decode()), tuple)
    assert tx_messages("not base64!!") == ()


# --- commit signatures, header and validator updates (issue 18) -------------------------------------

CHAINS = Path(__file__).parent / "fixtures"
CROESEID = CHAINS / "chain-indexing"
NEUTRON = CHAINS / "hyperlane-monorepo" / "neutron-1_block_22488720.json"


def block_only(path: Path) -> DecodedBlock:
    """Decode a recorded `/block` whose `/block_results` was not recorded: the results document is
    the smallest one that fits (its height, one empty result per tx), so only `/block` is tested."""
    raw = json.loads(path.read_bytes())
    block = raw.get("result", raw)["block"]
    results = {"height": block["header"]["height"], "txs_results": [{"code": 0}] * len(block["data"]["txs"] or [])}
    return BlockDecoder().decode(results, raw)


@pytest.mark.parametrize(
    ("version", "validators_hash", "signer"),
    [
        (
            "34",
            "6B95A63B261D3DDC1DFF6FA53F4C591AB8DA58BBA545700BFD45E6A54AAA2A84",
            "675F52E8FDA5F4047B8EAF498F946F551ED53DC2",
        ),
        (
            "37",
            "9815DD28ABEB04863FFC577AF32CF331ADEA96DC1BFD8ECCD1768BA36C15B362",
            "DD8A65495B6240145764A74E78CF203D51510371",
        ),
        (
            "38",
            "33415EFFCEDA5BD0A3A443A727457D9F7B9E38389BF27A936FEDF749A7B7566E",
            "2DD9F44FD9067555C322243C3C913BA7B51D2BE0",
        ),
    ],
)
def test_kvstore_commit_and_header_each_version(version: str, validators_hash: str, signer: str) -> None:
    block = decode(
        KV[version] / "block_results_at_height_10.json", (KV[version] / "block_at_height_10.json").read_bytes()
    )
    assert block.validators_hash == validators_hash
    assert block.proposer == signer  # a one-validator chain: it proposes and signs everything
    assert [(s.flag, s.address) for s in block.signatures] == [(2, signer)]
    assert block.validator_updates == ()


@pytest.mark.parametrize(
    ("height", "count", "absent", "proposer", "validators_hash"),
    [
        (
            874207,
            70,
            [47, 65, 69],
            "EEB931B95F19BC8190146F87C2B771845C2C84B6",
            "528B1C7D0CD604262E7464C830C59AA8F42839B288FC4F5A1EBCF93D74B9338E",
        ),
        (
            381001,
            46,
            [44],
            "4FF7CC1247C075775995AAE3AEDA28F847581DEE",
            "07BD7E62DAA9691CC104A6045D49C29D1DF789DA79475B2A7E34B7469BFFC862",
        ),
    ],
)
def test_croeseid_v034_absent_signatures(
    height: int, count: int, absent: list[int], proposer: str, validators_hash: str
) -> None:
    block = decode(
        CROESEID / f"croeseid-1_block_results_{height}.json",
        (CROESEID / f"croeseid-1_block_{height}.json").read_bytes(),
    )
    assert (block.height, block.chain_id, len(block.signatures)) == (height, "testnet-croeseid-1", count)
    assert [i for i, s in enumerate(block.signatures) if not s.signed] == absent
    assert all(block.signatures[i] == CommitSig(1, "") for i in absent)
    present = [s for s in block.signatures if s.signed]
    assert all(s.flag == 2 and len(s.address) == 40 and s.address == s.address.upper() for s in present)
    assert len({s.address for s in present}) == len(present)
    assert (block.proposer, block.validators_hash) == (proposer, validators_hash)
    # v0.34 `validator_updates` in the protobuf `Sum` form, as the node recorded them
    assert len(block.validator_updates) == 1 and block.validator_updates[0].pub_key_type == "ed25519"


def test_croeseid_validator_update_values() -> None:
    block = decode(CROESEID / "croeseid-1_block_results_874207.json")
    assert block.validator_updates == (
        ValidatorUpdate("ed25519", "h465IiT/7KJeqLTsORqEUpguQzR+0hXf9aJTdJjHdjg=", 114011504),
    )
    assert block.signatures == () and block.validators_hash is None  # no /block given: no commit


def test_injective_v034_validator_updates() -> None:
    assert decode(INJECTIVE).validator_updates == (
        ValidatorUpdate("ed25519", "VqJCr3vjQdffcLIG6RMBl2MgXDFYNY6b3Joaa43gV3o=", 573929),
    )


def test_neutron_v038_mainnet_absent_signature() -> None:
    block = block_only(NEUTRON)
    assert (block.height, block.chain_id, len(block.signatures)) == (22488720, "neutron-1", 23)
    assert block.signatures[-1] == CommitSig(1, "") and all(s.signed for s in block.signatures[:-1])
    assert block.signatures[0] == CommitSig(2, "6DFFC810758BC3EE69E154E6A6ADB260ADC79410")
    assert block.proposer == "C3CE921ADDCF756F31CB2D4B64FB0233011FF95B"
    assert block.validators_hash == "DB26D5945D09EB22F6CAF73322BEB18C5610425B1383DFB3D3122342762BF3FE"


def test_croeseid_many_absent() -> None:
    block = block_only(CROESEID / "croeseid-2_block_116426.json")
    assert len(block.signatures) == 127
    assert [i for i, s in enumerate(block.signatures) if not s.signed] == [
        69, 83, 84, 90, 91, 92, 93, 95, 97, 102, 103, 106, 107, 111, 112
    ]  # fmt: skip


def test_commit_variants() -> None:
    """Shapes no recording here has: protobuf-JSON flag names (gRPC gateway), nil votes, the
    CometBFT v1 validator update form, lower-case hex, and a genesis block without a commit."""
    raw = fake_block(7, 0)
    raw["result"]["block"]["header"]["validators_hash"] = "ab" * 32
    raw["result"]["block"]["last_commit"] = {
        "signatures": [
            {"block_id_flag": "BLOCK_ID_FLAG_COMMIT", "validator_address": "aa" * 20},
            {"block_id_flag": "BLOCK_ID_FLAG_ABSENT", "validator_address": ""},
            {"block_id_flag": 3, "validator_address": "BB" * 20},
            {"block_id_flag": 1, "validator_address": None},
        ]
    }
    results = {
        "height": "7",
        "validator_updates": [
            {"pub_key_type": "ed25519", "pub_key_bytes": "VqJCr3vjQdffcLIG6RMBl2MgXDFYNY6b3Joaa43gV3o=", "power": "0"}
        ],
    }
    block = BlockDecoder().decode(results, raw)
    assert block.signatures == (CommitSig(2, "AA" * 20), CommitSig(1, ""), CommitSig(3, "BB" * 20), CommitSig(1, ""))
    assert [s.signed for s in block.signatures] == [True, False, True, False]  # a nil vote is not a miss
    assert block.validators_hash == "AB" * 32
    assert block.validator_updates == (ValidatorUpdate("ed25519", "VqJCr3vjQdffcLIG6RMBl2MgXDFYNY6b3Joaa43gV3o=", 0),)
    genesis = fake_block(1, 0)
    genesis["result"]["block"]["last_commit"] = {"height": "0", "signatures": []}
    assert BlockDecoder().decode({"height": "1"}, genesis).signatures == ()


def test_bad_commit_entries() -> None:
    raw = fake_block(7, 0)
    raw["result"]["block"]["last_commit"] = {"signatures": [{"block_id_flag": "BLOCK_ID_FLAG_MAYBE"}]}
    with pytest.raises(BlockDecodeError, match="unknown block_id_flag"):
        BlockDecoder().decode({"height": "7"}, raw)
    with pytest.raises(BlockDecodeError, match="bad validator update"):
        BlockDecoder().decode({"height": "7", "validator_updates": [{"pub_key": {"foo": 1}, "power": "1"}]})
