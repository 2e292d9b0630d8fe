"""One CometBFT RPC endpoint over HTTP: `/status`, `/block`, `/block_results`, with precise errors.

Transport is aiohttp: measured here, httpx's connection pool costs ~3 ms of CPU per request and
gets slower under the concurrency that catch-up needs (bench/bench_catchup.py: ~240 blocks/s at
best through httpx vs. far more through aiohttp), and aiohttp is already installed with discord.py.

Bodies are read as bytes (streamed, with a size cap) and only the JSON-RPC envelope is parsed
here; the `result` comes back as raw JSON bytes that the decoder reads directly with typed msgspec
structs, which is the fastest path (no intermediate dicts).

Error mapping, in order:
  connect error, timeout, broken connection              -> RpcUnavailable
  body is a JSON-RPC error (CometBFT sends these as 500)  -> HeightNotAvailable / RpcCallError
  other 5xx, 429                                          -> RpcUnavailable
  anything else not a JSON-RPC result (HTML, truncated,
  too large, wrong shape)                                 -> RpcBadResponse
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import msgspec
from msgspec import Struct

from core.chain.blocks import DecodedBlock, NodeStatus
from core.chain.decoder import BlockDecoder, decode_status
from core.chain.errors import BlockDecodeError, RpcBadResponse, RpcUnavailable, WrongChain
from core.chain.jsonrpc import JsonRpcErrorBody, classify_error
from core.chain.validators import SetMember, ValidatorSet, decode_validators_page

DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
#: CometBFT caps `per_page` at 100; the largest sets (Hub: 180, Injective, dYdX...) need 2-3 pages.
VALIDATORS_PER_PAGE = 100
#: A node that keeps announcing more members than it sends is cut off here (10,000 validators).
_MAX_VALIDATOR_PAGES = 100
_USER_AGENT = "mempools/0.1 (+https://github.com/mempools)"


class _Envelope(Struct):
    result: msgspec.Raw = msgspec.Raw(b"")  # Raw cannot be Optional; empty means absent
    error: JsonRpcErrorBody | None = None


def _snippet(body: bytes) -> str:
    text = body[:80].decode("utf-8", "replace").replace("\n", " ")
    return text + ("..." if len(body) > 80 else "")


class RpcClient:
    """A keep-alive HTTP client for one endpoint. Cheap to keep for the life of the process.

    `chain_id`, when given, is checked by `fetch()` against the block header, so a node that
    silently switched chains is caught even between `/status` checks.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        connect_timeout: float = 3.0,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        chain_id: str | None = None,
        session: aiohttp.ClientSession | None = None,
        decoder: BlockDecoder | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.chain_id = chain_id
        self.max_response_bytes = max_response_bytes
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=connect_timeout)
        self._owns_session = session is None
        self._session = session
        self._decoder = decoder or BlockDecoder()

    def __repr__(self) -> str:
        return f"RpcClient({self.url!r})"

    def _client(self) -> aiohttp.ClientSession:
        # Created on first use: a session belongs to the running loop.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=128, limit_per_host=128, keepalive_timeout=30),
                timeout=self._timeout,
                headers={"User-Agent": _USER_AGENT, "Accept": "application/json"},
                trust_env=False,
                auto_decompress=True,
            )
        return self._session

    async def aclose(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> RpcClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- methods -------------------------------------------------------------------------------

    async def status(self) -> NodeStatus:
        raw = await self.call("status")
        try:
            return decode_status(raw)
        except BlockDecodeError as exc:
            raise RpcBadResponse(str(exc), endpoint=self.url) from None

    async def block(self, height: int | None = None) -> bytes:
        """Raw JSON of `/block`'s result (give it to `BlockDecoder.decode`)."""
        return await self.call("block", height=height)

    async def block_results(self, height: int | None = None) -> bytes:
        """Raw JSON of `/block_results`'s result."""
        return await self.call("block_results", height=height)

    async def validators(self, height: int | None = None) -> ValidatorSet:
        """The validator set of `height` (the tip when None), every page joined, in the node's order."""
        members: list[SetMember] = []
        set_height: int | None = None
        page = 1
        while True:
            # Later pages are pinned to the first page's height: asked at the tip, the set could
            # change between pages and the joined list would match no commit.
            at = height if set_height is None else set_height
            raw = await self.call("validators", height=at, params={"page": page, "per_page": VALIDATORS_PER_PAGE})
            try:
                page_height, page_members, total = decode_validators_page(raw)
            except BlockDecodeError as exc:
                raise RpcBadResponse(str(exc), endpoint=self.url) from None
            if set_height is None:
                set_height = page_height
            elif page_height != set_height:  # the tip moved between pages: the set may differ
                raise RpcBadResponse(
                    f"/validators pages are for heights {set_height} and {page_height}", endpoint=self.url
                )
            members.extend(page_members)
            if len(members) >= total or not page_members:
                break
            page += 1
            if page > _MAX_VALIDATOR_PAGES:
                raise RpcBadResponse(f"/validators announces {total} members but never ends", endpoint=self.url)
        if len(members) != total:
            raise RpcBadResponse(
                f"/validators announced {total} members at height {set_height} but sent {len(members)}",
                endpoint=self.url,
            )
        return ValidatorSet(height=set_height, members=tuple(members))

    async def fetch(self, height: int) -> DecodedBlock:
        """Both documents of one height, fetched concurrently, decoded and checked."""
        results, block = await asyncio.gather(self.block_results(height), self.block(height))
        try:
            decoded = self._decoder.decode(results, block)
        except BlockDecodeError as exc:
            raise BlockDecodeError(str(exc), endpoint=self.url) from None
        if self.chain_id is not None and decoded.chain_id not in (None, self.chain_id):
            raise WrongChain(
                f"block {height} is from chain {decoded.chain_id!r}, expected {self.chain_id!r}",
                expected=self.chain_id,
                actual=decoded.chain_id or "",
                endpoint=self.url,
            )
        return decoded

    # -- transport -----------------------------------------------------------------------------

    async def call(self, method: str, *, height: int | None = None, params: dict[str, Any] | None = None) -> bytes:
        """GET `/<method>?height=H&...` and return the raw `result` JSON, or raise a precise error."""
        query: dict[str, Any] = {} if height is None else {"height": str(height)}
        if params:
            query.update({k: str(v) for k, v in params.items()})
        params = query
        status_code, body = await self._get(f"{self.url}/{method}", params)
        try:
            env = msgspec.json.decode(body, type=_Envelope)
        except (msgspec.DecodeError, msgspec.ValidationError):
            env = None
        if env is not None and env.error is not None:
            raise classify_error(env.error, height=height, endpoint=self.url)
        if status_code >= 500 or status_code == 429:
            raise RpcUnavailable(f"HTTP {status_code} from /{method}: {_snippet(body)}", endpoint=self.url)
        if env is None:
            raise RpcBadResponse(
                f"/{method} answered HTTP {status_code} with non-JSON or truncated JSON: {_snippet(body)}",
                endpoint=self.url,
            )
        result = bytes(env.result)
        if status_code != 200 or result in (b"", b"null"):
            raise RpcBadResponse(f"/{method} answered HTTP {status_code} without a result", endpoint=self.url)
        return result

    async def _get(self, url: str, params: dict[str, Any]) -> tuple[int, bytes]:
        cap = self.max_response_bytes
        try:
            async with self._client().get(url, params=params, allow_redirects=False) as resp:
                if resp.content_length is not None and resp.content_length > cap:
                    raise RpcBadResponse(
                        f"response of {resp.content_length} bytes exceeds the {cap}-byte cap", endpoint=self.url
                    )
                chunks: list[bytes] = []
                size = 0
                async for chunk in resp.content.iter_chunked(1 << 16):
                    size += len(chunk)
                    if size > cap:
                        raise RpcBadResponse(f"response exceeds the {cap}-byte cap", endpoint=self.url)
                    chunks.append(chunk)
                return resp.status, b"".join(chunks)
        except TimeoutError as exc:
            raise RpcUnavailable(f"timed out ({type(exc).__name__})", endpoint=self.url) from None
        except aiohttp.ClientError as exc:
            raise RpcUnavailable(f"{type(exc).__name__}: {exc}", endpoint=self.url) from None
