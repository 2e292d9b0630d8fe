"""Fault knobs of a devnet node, changeable while it runs (CLI flags, Python API, `/devnet/faults`).

Each RPC request draws one random number against the rates, so `error_rate=0.2, timeout_rate=0.1`
means 20% 503s, 10% hangs, 70% normal answers. Height-shaped faults (pruning, missing results, lag,
wrong chain id) and failing REST paths are deterministic.
"""

from __future__ import annotations

import random
from typing import Literal

from msgspec import Struct

Action = Literal["error", "timeout", "truncate"]


class Faults(Struct, kw_only=True):
    latency_ms: float = 0.0
    """Added to every RPC answer (HTTP and websocket handshake)."""
    error_rate: float = 0.0
    """Fraction of requests answered `503 Service Unavailable` with an HTML body, like a proxy."""
    timeout_rate: float = 0.0
    """Fraction of requests that hang for `hang_seconds` (or until the server stops), then 504."""
    truncate_rate: float = 0.0
    """Fraction of requests answered 200 with the JSON body cut in half."""
    prune_below: int = 0
    """Heights below this are pruned: CometBFT's 'is not available, lowest height is' error."""
    missing_heights: set[int] = set()
    """Heights whose results are gone: 'could not find results for height #H'."""
    lag: int = 0
    """The node reports, serves and announces only up to (tip - lag)."""
    wrong_chain_id: str | None = None
    """Serve this chain id in /status, headers and NewBlock instead of the real one."""
    hang_seconds: float = 30.0
    websocket: bool = True
    """False: `/websocket` answers 404, like the many public nodes that do not expose it."""
    rest_failing: set[str] = set()
    """REST paths starting with one of these prefixes answer HTTP 500 with a gRPC-gateway error body."""

    def pick(self, rng: random.Random) -> Action | None:
        """Which fault (if any) hits this request."""
        if not (self.error_rate or self.timeout_rate or self.truncate_rate):
            return None
        x = rng.random()
        if x < self.error_rate:
            return "error"
        x -= self.error_rate
        if x < self.timeout_rate:
            return "timeout"
        x -= self.timeout_rate
        if x < self.truncate_rate:
            return "truncate"
        return None
