"""Exceptions raised while talking to a chain's RPC endpoints or decoding what they return.

They are precise on purpose: the watcher reacts differently to each. `RpcUnavailable` means
"try another endpoint / later"; `HeightNotAvailable` means "this node does not have the height
(pruned, discarded, or not produced yet)", which only fails once every endpoint says so;
`WrongChain` is a configuration problem that the operator must fix; `RpcBadResponse` (and the
decoder's `BlockDecodeError`) mean the node answered garbage.

`ChainQueryError` is the one failure of the chain's Cosmos REST API (core/chain/rest.py: staking,
slashing, gov state). It names the query (the REST path) and says why in a few words, because
the person told "validator monitoring is degraded" needs to know which query their node does not
answer; the watcher keeps following blocks meanwhile.
"""

from __future__ import annotations

from core.errors import UpstreamError


class RpcError(UpstreamError):
    """Base class of every failure to get a usable answer from a chain endpoint (RPC or REST)."""

    def __init__(self, message: str, *, endpoint: str | None = None) -> None:
        super().__init__(message if endpoint is None else f"{endpoint}: {message}")
        self.endpoint = endpoint


class RpcUnavailable(RpcError):
    """The endpoint could not be reached, timed out, or answered with a server error (5xx)."""


class RpcBadResponse(RpcError):
    """The endpoint answered, but not with usable JSON-RPC (HTML, truncated JSON, too large, bad shape)."""


class RpcCallError(RpcError):
    """The endpoint returned a JSON-RPC error that is not one of the more specific kinds below."""

    def __init__(
        self, message: str, *, code: int | None = None, data: str | None = None, endpoint: str | None = None
    ) -> None:
        super().__init__(message, endpoint=endpoint)
        self.code = code
        self.data = data


class HeightNotAvailable(RpcError):
    """The node does not serve this height: pruned, results discarded, or above its tip.

    `lowest` is the earliest height the node says it has (when it said so); `latest` is its tip
    (when the error was "must be less than or equal to the current blockchain height").
    """

    def __init__(
        self,
        message: str,
        *,
        height: int | None = None,
        lowest: int | None = None,
        latest: int | None = None,
        endpoint: str | None = None,
    ) -> None:
        super().__init__(message, endpoint=endpoint)
        self.height = height
        self.lowest = lowest
        self.latest = latest

    @property
    def in_future(self) -> bool:
        """True when the height is above the node's tip (it may exist later), not pruned."""
        return self.latest is not None


class WrongChain(RpcError):
    """The endpoint serves another chain than the one it is configured for."""

    def __init__(self, message: str, *, expected: str, actual: str, endpoint: str | None = None) -> None:
        super().__init__(message, endpoint=endpoint)
        self.expected = expected
        self.actual = actual


class BlockDecodeError(RpcBadResponse):
    """`/block_results` or `/block` did not have the expected shape, or the two do not belong together."""


class ChainQueryError(RpcError):
    """A Cosmos REST query (`query`, the path such as `/cosmos/slashing/v1beta1/params`) failed.

    `reason` is short and human ("HTTP 502", "timed out", "truncated JSON", "gRPC code 12: Not
    Implemented"); `http_status` the last HTTP status when there was one. Raised only after every
    configured REST URL was tried. "Not found" is not an error: the methods that can return None
    say so.
    """

    def __init__(self, *, query: str, reason: str, status: int | None = None, endpoint: str | None = None) -> None:
        super().__init__(f"query {query} failed: {reason}", endpoint=endpoint)
        self.query = query
        self.reason = reason
        self.http_status = status
