"""The Cosmos REST (gRPC-gateway) paths the devnet answers, in SDK 0.50 (or 0.45) JSON shapes.

Served on the RPC port (a real node has them on 1317). State is the chain's state after the
latest block, or after block H when the request has `x-cosmos-block-height: H` (historical
queries, as a catch-up makes them); a future H is the SDK's "cannot query with height in the
future" error. Errors are the gateway's bodies
`{"code": <gRPC code>, "message": ..., "details": []}` with its HTTP statuses: 404 NotFound (5),
400 InvalidArgument (3), 500 Unknown (2, e.g. a bad bech32 address), 501 Not Implemented (12)
for routes the node does not have (all of gov v1 on a v1beta1-only chain).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from mempools.devnet import gov
from mempools.devnet.addresses import is_valid
from mempools.devnet.chain import ChainState, DevnetChain, rfc3339
from mempools.devnet.validators import DevnetValidator

Answer = tuple[int, bytes]
_EPOCH = "1970-01-01T00:00:00Z"
_STATUS_NUMBERS = {
    "1": "PROPOSAL_STATUS_DEPOSIT_PERIOD",
    "2": "PROPOSAL_STATUS_VOTING_PERIOD",
    "3": "PROPOSAL_STATUS_PASSED",
    "4": "PROPOSAL_STATUS_REJECTED",
    "5": "PROPOSAL_STATUS_FAILED",
}


def grpc_error(status: int, code: int, message: str) -> Answer:
    return status, msgspec.json.encode({"code": code, "message": message, "details": []})


NOT_IMPLEMENTED = grpc_error(501, 12, "Not Implemented")


def _ok(doc: Any) -> Answer:
    return 200, msgspec.json.encode(doc)


def _dec(value: str | int) -> str:
    return f"{value}.000000000000000000"


class DevnetRest:
    """Answers `GET <path>?<query>` for the staking, slashing and gov query routes."""

    def __init__(self, chain: DevnetChain) -> None:
        self.chain = chain
        v1 = chain.config.gov_version == "v1"
        routes: list[tuple[str, Callable[..., Answer]]] = [
            (r"/cosmos/staking/v1beta1/validators", self._validators),
            (r"/cosmos/staking/v1beta1/validators/(?P<valoper>[^/]+)", self._validator),
            (r"/cosmos/slashing/v1beta1/params", self._slashing_params),
            (r"/cosmos/slashing/v1beta1/signing_infos", self._signing_infos),
            (r"/cosmos/slashing/v1beta1/signing_infos/(?P<valcons>[^/]+)", self._signing_info),
            (r"/cosmos/gov/v1beta1/proposals", lambda s, q: self._proposals(s, q, "v1beta1")),
            (r"/cosmos/gov/v1beta1/proposals/(?P<pid>[^/]+)", lambda s, q, pid: self._proposal(s, pid, "v1beta1")),
            (
                r"/cosmos/gov/v1beta1/proposals/(?P<pid>[^/]+)/votes/(?P<voter>[^/]+)",
                lambda s, q, pid, voter: self._vote(s, pid, voter, "v1beta1"),
            ),
            (r"/cosmos/gov/v1beta1/proposals/(?P<pid>[^/]+)/tally", lambda s, q, pid: self._tally(s, pid, "v1beta1")),
        ]
        if v1:
            routes += [
                (r"/cosmos/gov/v1/proposals", lambda s, q: self._proposals(s, q, "v1")),
                (r"/cosmos/gov/v1/proposals/(?P<pid>[^/]+)", lambda s, q, pid: self._proposal(s, pid, "v1")),
                (
                    r"/cosmos/gov/v1/proposals/(?P<pid>[^/]+)/votes/(?P<voter>[^/]+)",
                    lambda s, q, pid, voter: self._vote(s, pid, voter, "v1"),
                ),
                (r"/cosmos/gov/v1/proposals/(?P<pid>[^/]+)/tally", lambda s, q, pid: self._tally(s, pid, "v1")),
            ]
        self._routes = [(re.compile(pattern + r"/?"), handler) for pattern, handler in routes]

    def answer(self, path: str, query: Mapping[str, str], height: str | None = None) -> Answer:
        """`height`: the `x-cosmos-block-height` header (state after that block), if sent."""
        for pattern, handler in self._routes:
            m = pattern.fullmatch(path)
            if m is not None:
                at: int | None = None
                if height:
                    if not height.isdigit():
                        return grpc_error(400, 3, f"invalid height header {height!r}")
                    at = int(height) or None
                if at is not None and at > self.chain.tip:
                    return grpc_error(
                        500, 2, "cannot query with height in the future; please provide a valid height: invalid height"
                    )
                return handler(self.chain.state_at(at), query, **m.groupdict())
        return NOT_IMPLEMENTED

    # -- staking -------------------------------------------------------------------------------

    def _validator_json(self, v: DevnetValidator) -> dict[str, Any]:
        return {
            "operator_address": v.operator,
            "consensus_pubkey": {"@type": "/cosmos.crypto.ed25519.PubKey", "key": v.pub_key},
            "jailed": v.jailed,
            "status": v.status,
            "tokens": str(v.tokens),
            "delegator_shares": _dec(v.tokens),
            "description": {"moniker": v.moniker, "identity": "", "website": "", "security_contact": "", "details": ""},
            "unbonding_height": "0",
            "unbonding_time": _EPOCH,
            "commission": {
                "commission_rates": {
                    "rate": v.commission_rate,
                    "max_rate": "0.200000000000000000",
                    "max_change_rate": "0.010000000000000000",
                },
                "update_time": self.chain.time_of(1),
            },
            "min_self_delegation": v.min_self_delegation,
            "unbonding_on_hold_ref_count": "0",
            "unbonding_ids": [],
        }

    def _validators(self, s: ChainState, q: Mapping[str, str]) -> Answer:
        wanted = q.get("status", "")
        if wanted and wanted not in ("BOND_STATUS_BONDED", "BOND_STATUS_UNBONDING", "BOND_STATUS_UNBONDED"):
            return grpc_error(400, 3, f"invalid validator status {wanted}")
        # The store iterates by operator address bytes; so does the page order here.
        vals = sorted(s.validators, key=lambda v: v.operator)
        if wanted:
            vals = [v for v in vals if v.status == wanted]
        try:
            limit = int(q.get("pagination.limit") or 100)
            offset = int(q.get("pagination.offset") or 0)
        except ValueError:
            return grpc_error(400, 3, "invalid pagination")
        start = offset
        key = q.get("pagination.key")
        if key:
            try:
                after = base64.b64decode(key).decode()
            except ValueError:
                return grpc_error(400, 3, "invalid pagination key")
            start = next((i for i, v in enumerate(vals) if v.operator >= after), len(vals))
        page = vals[start : start + max(1, limit)]
        rest = vals[start + len(page) :]
        next_key = base64.b64encode(rest[0].operator.encode()).decode() if rest else None
        count_total = q.get("pagination.count_total", "") in ("true", "1") and not key
        return _ok(
            {
                "validators": [self._validator_json(v) for v in page],
                "pagination": {"next_key": next_key, "total": str(len(vals)) if count_total else "0"},
            }
        )

    def _validator(self, s: ChainState, q: Mapping[str, str], valoper: str) -> Answer:
        prefix = f"{self.chain.config.prefix}valoper"
        if not is_valid(valoper, prefix):
            return grpc_error(500, 2, f"decoding bech32 failed: invalid validator address {valoper}")
        v = next((v for v in s.validators if v.operator == valoper), None)
        if v is None:
            return grpc_error(404, 5, f"validator {valoper} not found")
        return _ok({"validator": self._validator_json(v)})

    # -- slashing ------------------------------------------------------------------------------

    def _slashing_params(self, s: ChainState, q: Mapping[str, str]) -> Answer:
        cfg = self.chain.config
        return _ok(
            {
                "params": {
                    "signed_blocks_window": str(cfg.signed_blocks_window),
                    "min_signed_per_window": f"{float(cfg.min_signed_per_window):.18f}",
                    "downtime_jail_duration": "600s",
                    "slash_fraction_double_sign": "0.050000000000000000",
                    "slash_fraction_downtime": "0.010000000000000000",
                }
            }
        )

    def _signing_info_json(self, s: ChainState, v: DevnetValidator) -> dict[str, Any]:
        tip = s.height
        return {
            "address": v.consensus,
            "start_height": str(v.start_height),
            "index_offset": str(max(0, tip - 1 - v.start_height)),
            "jailed_until": v.jailed_until,
            "tombstoned": v.tombstoned,
            "missed_blocks_counter": str(len(v.missed)),
        }

    def _signing_infos(self, s: ChainState, q: Mapping[str, str]) -> Answer:
        infos = [self._signing_info_json(s, v) for v in s.validators]
        return _ok({"info": infos, "pagination": {"next_key": None, "total": str(len(infos))}})

    def _signing_info(self, s: ChainState, q: Mapping[str, str], valcons: str) -> Answer:
        if not is_valid(valcons, f"{self.chain.config.prefix}valcons"):
            return grpc_error(500, 2, f"decoding bech32 failed: invalid consensus address {valcons}")
        v = next((v for v in s.validators if v.consensus == valcons), None)
        if v is None:
            return grpc_error(404, 5, f"SigningInfo not found for validator {valcons}")
        return _ok({"val_signing_info": self._signing_info_json(s, v)})

    # -- gov -----------------------------------------------------------------------------------

    def _tally_json(self, t: gov.Tally, version: str) -> dict[str, str]:
        if version == "v1":
            return {
                "yes_count": str(t.yes),
                "abstain_count": str(t.abstain),
                "no_count": str(t.no),
                "no_with_veto_count": str(t.no_with_veto),
            }
        return {"yes": str(t.yes), "abstain": str(t.abstain), "no": str(t.no), "no_with_veto": str(t.no_with_veto)}

    def _proposal_json(self, p: gov.DevnetProposal, version: str) -> dict[str, Any]:
        final = p.final if p.final is not None else gov.Tally()
        content = {"@type": "/cosmos.gov.v1beta1.TextProposal", "title": p.title, "description": p.description}
        times = {
            "submit_time": p.submit_time,
            "deposit_end_time": rfc3339(p.voting_start + 172800),
            "total_deposit": [{"denom": self.chain.config.denom, "amount": str(p.deposit)}],
            "voting_start_time": rfc3339(p.voting_start),
            "voting_end_time": rfc3339(p.voting_end),
        }
        if version == "v1beta1":
            return {
                "proposal_id": str(p.id),
                "content": content,
                "status": p.status,
                "final_tally_result": self._tally_json(final, version),
                **times,
            }
        return {
            "id": str(p.id),
            "messages": [
                {
                    "@type": "/cosmos.gov.v1.MsgExecLegacyContent",
                    "content": content,
                    "authority": self.chain.book.gov_module,
                }
            ],
            "status": p.status,
            "final_tally_result": self._tally_json(final, version),
            **times,
            "metadata": "",
            "title": p.title,
            "summary": p.description,
            "proposer": p.proposer,
            "expedited": False,
            "failed_reason": "",
        }

    def _find_proposal(self, s: ChainState, pid: str) -> gov.DevnetProposal | Answer:
        if not pid.isdigit():
            return grpc_error(400, 3, f"proposal_id {pid!r}: invalid syntax")
        p = s.proposals.get(int(pid))
        if p is None or not p.submitted:
            return grpc_error(404, 5, f"proposal {int(pid)} doesn't exist")
        return p

    def _proposals(self, s: ChainState, q: Mapping[str, str], version: str) -> Answer:
        wanted = q.get("proposal_status", "")
        status = _STATUS_NUMBERS.get(wanted, wanted)
        found = [p for p in s.proposals.values() if p.submitted and (not status or p.status == status)]
        return _ok(
            {
                "proposals": [self._proposal_json(p, version) for p in found],
                "pagination": {"next_key": None, "total": str(len(found))},
            }
        )

    def _proposal(self, s: ChainState, pid: str, version: str) -> Answer:
        p = self._find_proposal(s, pid)
        if isinstance(p, tuple):
            return p
        return _ok({"proposal": self._proposal_json(p, version)})

    def _vote(self, s: ChainState, pid: str, voter: str, version: str) -> Answer:
        p = self._find_proposal(s, pid)
        if isinstance(p, tuple):
            return p
        if not is_valid(voter, self.chain.config.prefix):
            return grpc_error(500, 2, f"decoding bech32 failed: invalid address {voter}")
        option = p.votes.get(voter)
        if option is None:  # the SDK answers InvalidArgument here, not NotFound
            return grpc_error(400, 3, f"voter: {voter} not found for proposal: {p.id}")
        options = [{"option": gov.OPTION_NAMES[option], "weight": gov.ONE}]
        vote: dict[str, Any] = {"proposal_id": str(p.id), "voter": voter}
        if version == "v1beta1":
            vote |= {"option": gov.OPTION_NAMES[option], "options": options}
        else:
            vote |= {"options": options, "metadata": ""}
        return _ok({"vote": vote})

    def _tally(self, s: ChainState, pid: str, version: str) -> Answer:
        p = self._find_proposal(s, pid)
        if isinstance(p, tuple):
            return p
        return _ok({"tally": self._tally_json(self.chain.tally_in(s, p), version)})
