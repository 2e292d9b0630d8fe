"""The chain's Cosmos REST API (gRPC gateway / LCD): staking, slashing and gov state.

Blocks say who signed; only the SDK's state says who the validators are (moniker, operator
address, jailed, tombstoned), what the slashing window is, and what a proposal is called and when
its voting ends. This client asks for exactly that, with the same discipline as `RpcClient`:
aiohttp (trust_env=False, keep-alive), a response size cap, timeouts, failover across the
configured URLs, and one exception for every failure, `ChainQueryError`, naming the path.

Answer classification, per URL:
  200 + JSON of the expected shape                      -> the value
  404 with a gRPC body `{"code": 5, ...}`, or code 5 /
  "not found" in any error body                         -> None (where the method allows it)
  501, gRPC code 12 "Not Implemented", 404 without a
  gRPC body (the route does not exist)                  -> not implemented (gov v1 -> v1beta1)
  5xx, 429, timeouts, connection errors, HTML, truncated
  or oversized bodies, wrong shapes                     -> try the next URL, then ChainQueryError

Gov: SDK 0.46+ serves `/cosmos/gov/v1/...`; older SDKs (and some forks) only `v1beta1`, and
answer the v1 paths with 501 / code 12 (or a route 404). The first such answer switches this
client to v1beta1 for good. v1 proposals may lack `title` (SDK 0.46): it is then taken from
`messages[0].content.title` (MsgExecLegacyContent), from the `metadata` JSON's `title`, else
"Proposal #N".
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, TypeVar

import aiohttp
import msgspec
from msgspec import Struct

from core.chain.chainstate import (
    Proposal,
    SigningInfo,
    SlashingParams,
    StakingValidator,
    Tally,
    Vote,
    VoteChoice,
)
from core.chain.errors import ChainQueryError
from core.chain.validators import consensus_address_hex, pub_key_of
from core.chain.voteoption import option_name, parse_vote_option
from core.support.timeutil import parse_rfc3339

__all__ = [
    "ChainRestClient",
    "Proposal",
    "SigningInfo",
    "SlashingParams",
    "StakingValidator",
    "Tally",
    "Vote",
    "VoteChoice",
    "parse_vote_option",
]

DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024
_USER_AGENT = "mempools/0.1 (+https://github.com/mempools)"
_HEIGHT_HEADER = "x-cosmos-block-height"
_VALIDATORS_PAGE = 200
_MAX_PAGES = 100  # 20,000 validators: a node whose next_key never ends is cut off here
_GRPC_NOT_FOUND = 5
_GRPC_UNIMPLEMENTED = 12

T = TypeVar("T")
GovVersion = Literal["v1", "v1beta1"]


class _NotFound(Exception):
    pass


class _NotImplemented(Exception):
    pass


class _RouteMissing(Exception):
    """A 404 without a gRPC body: the node has no such route (for gov: an older SDK)."""


class _BadAnswer(Exception):
    """This URL's answer is unusable (transient or garbage): try the next URL."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class _Definitive(Exception):
    """The node understood and refused (e.g. HTTP 400): other URLs would say the same."""

    def __init__(self, reason: str, status: int | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class _ErrorBody(Struct):
    code: int | None = None
    message: str | None = None
    error: str | None = None  # legacy LCD


# --- raw REST shapes ----------------------------------------------------------------------------


class _RawDescription(Struct):
    moniker: str = ""


class _RawRates(Struct):
    rate: str = "0"


class _RawCommission(Struct):
    commission_rates: _RawRates | None = None


class _RawStakingValidator(Struct):
    operator_address: str
    consensus_pubkey: Any = None
    jailed: bool = False
    status: str = ""
    tokens: int = 0
    description: _RawDescription | None = None
    commission: _RawCommission | None = None


class _RawPagination(Struct):
    next_key: str | None = None
    total: int | None = None


class _ValidatorsDoc(Struct):
    validators: list[_RawStakingValidator]
    pagination: _RawPagination | None = None


class _ValidatorDoc(Struct):
    validator: _RawStakingValidator


class _RawSlashingParams(Struct):
    signed_blocks_window: int
    min_signed_per_window: str


class _SlashingParamsDoc(Struct):
    params: _RawSlashingParams


class _RawSigningInfo(Struct):
    address: str = ""
    tombstoned: bool = False
    jailed_until: str | None = None
    missed_blocks_counter: int = 0


class _SigningInfoDoc(Struct):
    val_signing_info: _RawSigningInfo


class _RawTally(Struct):
    yes: int | None = None
    no: int | None = None
    abstain: int | None = None
    no_with_veto: int | None = None
    yes_count: int | None = None
    no_count: int | None = None
    abstain_count: int | None = None
    no_with_veto_count: int | None = None


class _TallyDoc(Struct):
    tally: _RawTally


class _RawProposal(Struct):
    id: int | None = None  # v1
    proposal_id: int | None = None  # v1beta1
    title: str | None = None
    metadata: str | None = None
    messages: list[Any] | None = None
    content: Any = None
    status: str = ""
    final_tally_result: _RawTally | None = None
    voting_start_time: str | None = None
    voting_end_time: str | None = None


class _ProposalDoc(Struct):
    proposal: _RawProposal


class _ProposalsDoc(Struct):
    proposals: list[_RawProposal]
    pagination: _RawPagination | None = None


class _RawVoteOption(Struct):
    option: int | str
    weight: str | None = None


class _RawVote(Struct):
    proposal_id: int
    voter: str
    options: list[_RawVoteOption] | None = None
    option: int | str | None = None  # v1beta1 before weighted votes


class _VoteDoc(Struct):
    vote: _RawVote


# --- conversions --------------------------------------------------------------------------------

_BOND_STATUS = {
    "BOND_STATUS_BONDED": "bonded",
    "BOND_STATUS_UNBONDING": "unbonding",
    "BOND_STATUS_UNBONDED": "unbonded",
    "BOND_STATUS_UNSPECIFIED": "unspecified",
    "BONDED": "bonded",
    "UNBONDING": "unbonding",
    "UNBONDED": "unbonded",
}

_PROPOSAL_STATUS = {
    "PROPOSAL_STATUS_DEPOSIT_PERIOD": "deposit",
    "PROPOSAL_STATUS_VOTING_PERIOD": "voting",
    "PROPOSAL_STATUS_PASSED": "passed",
    "PROPOSAL_STATUS_REJECTED": "rejected",
    "PROPOSAL_STATUS_FAILED": "failed",
}


def _time(value: str | None) -> datetime | None:
    """RFC 3339 -> datetime; the zero times chains use for "never" (year 1, 1970) -> None."""
    if not value or value.startswith(("0001-01-01", "1970-01-01T00:00:00")):
        return None
    return parse_rfc3339(value)


def _staking_validator(raw: _RawStakingValidator) -> StakingValidator:
    try:
        key_type, key = pub_key_of(raw.consensus_pubkey)
        consensus_hex = consensus_address_hex(key_type, key)
    except ValueError as exc:
        raise ValueError(f"validator {raw.operator_address}: consensus key: {exc}") from None
    rates = raw.commission.commission_rates if raw.commission else None
    status = raw.status.upper()
    return StakingValidator(
        operator_address=raw.operator_address,
        consensus_pub_key_type=key_type,
        consensus_pub_key=key,
        consensus_hex=consensus_hex,
        moniker=raw.description.moniker if raw.description else "",
        jailed=raw.jailed,
        status=_BOND_STATUS.get(status, status.removeprefix("BOND_STATUS_").lower()),
        tokens=raw.tokens,
        commission_rate=rates.rate if rates else "0",
    )


def _tally(raw: _RawTally) -> Tally:
    def pick(a: int | None, b: int | None) -> int:
        return a if a is not None else (b if b is not None else 0)

    return Tally(
        yes=pick(raw.yes_count, raw.yes),
        no=pick(raw.no_count, raw.no),
        abstain=pick(raw.abstain_count, raw.abstain),
        no_with_veto=pick(raw.no_with_veto_count, raw.no_with_veto),
    )


def _content_title(content: Any) -> str | None:
    if isinstance(content, dict):
        title = content.get("title")
        if isinstance(title, str) and title.strip():
            return title
        inner = content.get("content")  # MsgExecLegacyContent wraps the legacy content
        if isinstance(inner, dict):
            return _content_title(inner)
    return None


def _proposal_title(raw: _RawProposal, pid: int) -> str:
    if raw.title and raw.title.strip():
        return raw.title
    title = _content_title(raw.content)
    if title:
        return title
    for message in raw.messages or ():
        title = _content_title(message)
        if title:
            return title
    if raw.metadata and raw.metadata.lstrip().startswith("{"):
        try:
            meta = json.loads(raw.metadata)
        except json.JSONDecodeError:
            meta = None
        if isinstance(meta, dict) and isinstance(meta.get("title"), str) and meta["title"].strip():
            return str(meta["title"])
    return f"Proposal #{pid}"


def _proposal(raw: _RawProposal, gov: GovVersion) -> Proposal:
    pid = raw.id if raw.id is not None else raw.proposal_id
    if pid is None:
        raise ValueError("proposal without id")
    status = raw.status.upper()
    tally = _tally(raw.final_tally_result) if raw.final_tally_result is not None else None
    return Proposal(
        id=pid,
        title=_proposal_title(raw, pid),
        status=_PROPOSAL_STATUS.get(status, status.removeprefix("PROPOSAL_STATUS_").lower()),
        voting_start=_time(raw.voting_start_time),
        voting_end=_time(raw.voting_end_time),
        final_tally=tally,
        gov=gov,
    )


def _vote(raw: _RawVote) -> Vote:
    if raw.options:
        choices = tuple(VoteChoice(option_name(o.option), o.weight or "1.000000000000000000") for o in raw.options)
    elif raw.option is not None:
        choices = (VoteChoice(option_name(raw.option), "1.000000000000000000"),)
    else:
        raise ValueError("vote without option")
    return Vote(proposal_id=raw.proposal_id, voter=raw.voter, choices=choices)


def _snippet(body: bytes) -> str:
    text = body[:80].decode("utf-8", "replace").replace("\n", " ").strip()
    return text + ("..." if len(body) > 80 else "")


# --- the client -----------------------------------------------------------------------------------


class ChainRestClient:
    """Keep-alive client for the chain's REST URLs; cheap to keep for the life of the process."""

    def __init__(
        self,
        urls: list[str],
        *,
        timeout: float = 10.0,
        connect_timeout: float = 3.0,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        if not urls:
            raise ValueError("a REST client needs at least one URL")
        self.urls = [u.rstrip("/") for u in urls]
        self.max_response_bytes = max_response_bytes
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=connect_timeout)
        self._owns_session = session is None
        self._session = session
        #: Which gov module answers; None until the first gov query found out.
        self.gov_version: GovVersion | None = None

    def __repr__(self) -> str:
        return f"ChainRestClient({self.urls!r})"

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=32, keepalive_timeout=30),
                timeout=self._timeout,
                headers={"User-Agent": _USER_AGENT, "Accept": "application/json"},
                trust_env=False,
            )
        return self._session

    async def aclose(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> ChainRestClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- staking / slashing ---------------------------------------------------------------------

    async def validators(self) -> list[StakingValidator]:
        """Every validator, all statuses (bonded, unbonding, unbonded), following `next_key`."""
        path = "/cosmos/staking/v1beta1/validators"
        out: list[StakingValidator] = []
        next_key: str | None = None
        for _ in range(_MAX_PAGES):
            params = {"pagination.limit": str(_VALIDATORS_PAGE)}
            if next_key:
                params["pagination.key"] = next_key
            doc = await self._query(path, _ValidatorsDoc, params=params)
            assert doc is not None
            for raw in doc.validators:
                out.append(self._convert(path, _staking_validator, raw))
            next_key = doc.pagination.next_key if doc.pagination else None
            if not next_key or not doc.validators:
                return out
        raise ChainQueryError(query=path, reason=f"pagination did not end after {_MAX_PAGES} pages")

    async def validator(self, valoper: str, height: int | None = None) -> StakingValidator | None:
        path = f"/cosmos/staking/v1beta1/validators/{valoper}"
        doc = await self._query(path, _ValidatorDoc, height=height, allow_none=True)
        return None if doc is None else self._convert(path, _staking_validator, doc.validator)

    async def slashing_params(self) -> SlashingParams:
        path = "/cosmos/slashing/v1beta1/params"
        doc = await self._query(path, _SlashingParamsDoc)
        assert doc is not None
        return SlashingParams(
            signed_blocks_window=doc.params.signed_blocks_window,
            min_signed_per_window=doc.params.min_signed_per_window,
        )

    async def signing_info(self, valcons: str) -> SigningInfo | None:
        path = f"/cosmos/slashing/v1beta1/signing_infos/{valcons}"
        doc = await self._query(path, _SigningInfoDoc, allow_none=True)
        if doc is None:
            return None
        info = doc.val_signing_info
        return self._convert(
            path,
            lambda i: SigningInfo(
                address=i.address or valcons,
                tombstoned=i.tombstoned,
                jailed_until=_time(i.jailed_until),
                missed_blocks_counter=i.missed_blocks_counter,
            ),
            info,
        )

    # -- gov -------------------------------------------------------------------------------------

    async def proposal(self, pid: int, height: int | None = None) -> Proposal | None:
        async def one(gov: GovVersion) -> Proposal | None:
            path = f"/cosmos/gov/{gov}/proposals/{pid}"
            doc = await self._query(path, _ProposalDoc, height=height, allow_none=True, gov=True)
            return None if doc is None else self._convert(path, lambda p: _proposal(p, gov), doc.proposal)

        return await self._gov(one)

    async def proposals_in_voting(self) -> list[Proposal]:
        async def one(gov: GovVersion) -> list[Proposal]:
            path = f"/cosmos/gov/{gov}/proposals"
            out: list[Proposal] = []
            next_key: str | None = None
            for _ in range(_MAX_PAGES):
                params = {"proposal_status": "PROPOSAL_STATUS_VOTING_PERIOD", "pagination.limit": "100"}
                if next_key:
                    params["pagination.key"] = next_key
                doc = await self._query(path, _ProposalsDoc, params=params, gov=True)
                assert doc is not None
                out.extend(self._convert(path, lambda p: _proposal(p, gov), raw) for raw in doc.proposals)
                next_key = doc.pagination.next_key if doc.pagination else None
                if not next_key or not doc.proposals:
                    return out
            raise ChainQueryError(query=path, reason=f"pagination did not end after {_MAX_PAGES} pages")

        return await self._gov(one)

    async def vote(self, pid: int, voter: str, height: int | None = None) -> Vote | None:
        async def one(gov: GovVersion) -> Vote | None:
            path = f"/cosmos/gov/{gov}/proposals/{pid}/votes/{voter}"
            doc = await self._query(path, _VoteDoc, height=height, allow_none=True, gov=True)
            return None if doc is None else self._convert(path, _vote, doc.vote)

        return await self._gov(one)

    async def tally(self, pid: int) -> Tally:
        async def one(gov: GovVersion) -> Tally:
            path = f"/cosmos/gov/{gov}/proposals/{pid}/tally"
            doc = await self._query(path, _TallyDoc, gov=True)
            assert doc is not None
            return _tally(doc.tally)

        return await self._gov(one)

    async def _gov(self, call: Callable[[GovVersion], Any]) -> Any:
        """Run a gov query on v1, or on v1beta1 once the node said it does not serve v1."""
        if self.gov_version != "v1beta1":
            try:
                result = await call("v1")
            except _NotImplemented:
                self.gov_version = "v1beta1"
            else:
                self.gov_version = "v1"
                return result
        try:
            return await call("v1beta1")
        except _NotImplemented:
            raise ChainQueryError(
                query="/cosmos/gov/v1beta1", reason="the node serves neither gov v1 nor v1beta1"
            ) from None

    # -- transport -------------------------------------------------------------------------------

    @staticmethod
    def _convert(path: str, fn: Callable[[Any], T], raw: Any) -> T:
        try:
            return fn(raw)
        except ValueError as exc:
            raise ChainQueryError(query=path, reason=f"unexpected answer: {exc}") from None

    async def _query(
        self,
        path: str,
        typ: type[T],
        *,
        params: dict[str, str] | None = None,
        height: int | None = None,
        allow_none: bool = False,
        gov: bool = False,
    ) -> T | None:
        """GET `path` from each URL in turn until one gives a usable answer of type `typ`.

        Returns None for "not found" when `allow_none`; raises `_NotImplemented` for gov paths the
        node does not serve (the caller falls back), `ChainQueryError` for everything else.
        """
        last: _BadAnswer | None = None
        not_implemented = 0
        for url in self.urls:
            try:
                body = await self._get(url + path, params, height)
                try:
                    return msgspec.json.decode(body, type=typ, strict=False)
                except msgspec.ValidationError as exc:
                    raise _BadAnswer(f"unexpected answer: {exc}", 200) from None
                except msgspec.DecodeError:
                    raise _BadAnswer(f"truncated or non-JSON answer: {_snippet(body)}", 200) from None
            except _RouteMissing:
                if gov:
                    not_implemented += 1
                    last = _BadAnswer("no such route on the node (HTTP 404)", 404)
                    continue
                if allow_none:
                    return None
                raise ChainQueryError(query=path, reason="not found (HTTP 404)", status=404, endpoint=url) from None
            except _NotFound:
                if allow_none:
                    return None
                raise ChainQueryError(query=path, reason="not found", status=404, endpoint=url) from None
            except _NotImplemented:
                not_implemented += 1
                last = _BadAnswer("not implemented by the node (HTTP 501 / gRPC code 12)", 501)
            except _Definitive as exc:
                raise ChainQueryError(query=path, reason=exc.reason, status=exc.status, endpoint=url) from None
            except _BadAnswer as exc:
                last = exc
        if gov and not_implemented == len(self.urls):
            raise _NotImplemented
        assert last is not None
        endpoint = self.urls[-1] if len(self.urls) == 1 else None
        reason = last.reason if len(self.urls) == 1 else f"{last.reason} (every one of {len(self.urls)} URLs failed)"
        raise ChainQueryError(query=path, reason=reason, status=last.status, endpoint=endpoint)

    async def _get(self, url: str, params: dict[str, str] | None, height: int | None) -> bytes:
        cap = self.max_response_bytes
        headers = {_HEIGHT_HEADER: str(height)} if height is not None else None
        try:
            async with self._client().get(url, params=params, headers=headers, allow_redirects=False) as resp:
                if resp.content_length is not None and resp.content_length > cap:
                    raise _BadAnswer(f"answer of {resp.content_length} bytes exceeds the {cap}-byte cap", resp.status)
                chunks: list[bytes] = []
                size = 0
                async for chunk in resp.content.iter_chunked(1 << 16):
                    size += len(chunk)
                    if size > cap:
                        raise _BadAnswer(f"answer exceeds the {cap}-byte cap", resp.status)
                    chunks.append(chunk)
                status, body = resp.status, b"".join(chunks)
        except TimeoutError:
            raise _BadAnswer("timed out") from None
        except aiohttp.ClientError as exc:
            raise _BadAnswer(f"{type(exc).__name__}: {exc}") from None
        if status == 200:
            return body
        self._classify_error(status, body)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _classify_error(status: int, body: bytes) -> None:
        """Raise the internal exception that says what a non-200 answer means."""
        try:
            err = msgspec.json.decode(body, type=_ErrorBody)
        except (msgspec.DecodeError, msgspec.ValidationError):
            err = None
        message = (err.message or err.error or "") if err is not None else ""
        code = err.code if err is not None else None
        if status == 501 or code == _GRPC_UNIMPLEMENTED:
            raise _NotImplemented
        if code == _GRPC_NOT_FOUND or (code is not None and "not found" in message.lower()):
            raise _NotFound
        if status == 404:
            if code is None:  # no gRPC body: the route itself does not exist on this node
                raise _RouteMissing
            raise _NotFound
        detail = f"gRPC code {code}: {message[:120]}" if code is not None else _snippet(body)
        if status >= 500 or status == 429:
            raise _BadAnswer(f"HTTP {status}: {detail}", status)
        raise _Definitive(f"HTTP {status}: {detail}", status)
