"""Several RPC endpoints of one chain, used as one: pick the healthiest, fail over, refuse impostors.

Health of an endpoint = (is it on the right chain, is it cooling down after errors, is it far
behind the best known height, how many consecutive errors, EWMA latency). Every call goes to the
best candidate first and falls through the rest on transient errors, so one flaky node costs
latency, not correctness.

- An endpoint is used only after its `/status` said `network == chain_id`. One that serves another
  chain is refused (logged once, rechecked every `wrong_chain_recheck` seconds).
- After an error an endpoint cools down (exponential, `min_cooldown`..`max_cooldown`); it is still
  tried as a last resort when everything else failed.
- `fetch_height(h)` raises `HeightNotAvailable` only after every usable endpoint said so
  (preferring the "above the tip" answer, which means "wait", over "pruned").
- Logging is per incident: one warning when an endpoint starts failing, one info when it recovers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence

from msgspec import Struct

from core.chain.blocks import DecodedBlock, NodeStatus
from core.chain.errors import HeightNotAvailable, RpcBadResponse, RpcError, RpcUnavailable, WrongChain
from core.chain.rpc import RpcClient
from core.chain.subscribe import NewBlockSubscription
from core.chain.validators import ValidatorSet
from core.support.backoff import backoff
from core.support.incidents import IncidentLog

log = logging.getLogger(__name__)


class EndpointHealth(Struct, frozen=True):
    """A snapshot of what the pool thinks of one endpoint (for `/health`, logs and tests)."""

    url: str
    verified: bool
    wrong_chain: str | None
    height: int | None
    earliest: int | None
    ewma_latency_ms: float | None
    consecutive_errors: int
    cooling_down: bool
    last_error: str | None


class _Endpoint:
    def __init__(self, client: RpcClient) -> None:
        self.client = client
        self.verified = False
        self.wrong_chain: str | None = None
        self.checked_at = float("-inf")
        self.height: int | None = None
        self.earliest: int | None = None
        self.ewma: float | None = None
        self.errors = 0
        self.cooldown_until = float("-inf")
        self.last_error: str | None = None

    @property
    def url(self) -> str:
        return self.client.url


class EndpointPool:
    """The chain's endpoints behind one `fetch_height` / `status` interface."""

    def __init__(
        self,
        chain_id: str,
        endpoints: Sequence[str | RpcClient],
        *,
        timeout: float = 10.0,
        max_lag: int = 3,
        status_interval: float = 30.0,
        wrong_chain_recheck: float = 300.0,
        min_cooldown: float = 1.0,
        max_cooldown: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not endpoints:
            raise ValueError("an endpoint pool needs at least one endpoint")
        self.chain_id = chain_id
        self._eps = [
            _Endpoint(e if isinstance(e, RpcClient) else RpcClient(e, timeout=timeout, chain_id=chain_id))
            for e in endpoints
        ]
        self.max_lag = max_lag
        self.status_interval = status_interval
        self.wrong_chain_recheck = wrong_chain_recheck
        self.min_cooldown = min_cooldown
        self.max_cooldown = max_cooldown
        self._clock = clock
        self._incidents = IncidentLog(log)  # an endpoint down for an hour: two lines, not thousands
        self.best_height: int | None = None

    async def aclose(self) -> None:
        await asyncio.gather(*(ep.client.aclose() for ep in self._eps))

    async def __aenter__(self) -> EndpointPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def health(self) -> list[EndpointHealth]:
        now = self._clock()
        return [
            EndpointHealth(
                url=ep.url,
                verified=ep.verified,
                wrong_chain=ep.wrong_chain,
                height=ep.height,
                earliest=ep.earliest,
                ewma_latency_ms=None if ep.ewma is None else ep.ewma * 1000,
                consecutive_errors=ep.errors,
                cooling_down=ep.cooldown_until > now,
                last_error=ep.last_error,
            )
            for ep in self._eps
        ]

    # -- public calls --------------------------------------------------------------------------

    async def refresh(self) -> NodeStatus:
        """Ask every endpoint's `/status` at once; return the most advanced right-chain answer."""
        results = await asyncio.gather(*(self._check(ep) for ep in self._eps), return_exceptions=True)
        good = [r for r in results if isinstance(r, NodeStatus)]
        if not good:
            raise self._no_endpoint([r for r in results if isinstance(r, BaseException)])
        return max(good, key=lambda s: s.latest_height)

    async def latest_height(self) -> int:
        return (await self.refresh()).latest_height

    async def fetch_height(self, height: int) -> DecodedBlock:
        """`/block_results` + `/block` of `height` from the best endpoint, failing over.

        Raises `HeightNotAvailable` when every endpoint that answered said it lacks the height and
        the others were already known to be down (a node that has been failing for a while must not
        hide a pruned height forever); otherwise the last transient error, as `RpcUnavailable`.
        """
        await self._ensure_verified()
        now = self._clock()
        transient: list[BaseException] = []  # from endpoints that were healthy when we started
        stale: list[BaseException] = []  # from endpoints already cooling down
        not_available: list[HeightNotAvailable] = []
        for ep in self._order(height):
            was_cooling = ep.cooldown_until > now
            start = self._clock()
            try:
                block = await ep.client.fetch(height)
            except HeightNotAvailable as exc:
                not_available.append(exc)
                self._note_height_error(ep, exc)
                continue
            except WrongChain as exc:
                self._mark_wrong_chain(ep, exc.actual)
                stale.append(exc)
                continue
            except RpcError as exc:
                self._failure(ep, exc)
                (stale if was_cooling else transient).append(exc)
                continue
            self._success(ep, self._clock() - start)
            if ep.height is None or height > ep.height:
                ep.height = height
            return block
        if not_available and not transient:
            future = [e for e in not_available if e.in_future]
            raise (future or not_available)[0]
        if not transient and not stale and not not_available:
            raise self._nothing_usable()
        raise self._no_endpoint(transient + stale)

    async def validators(self, height: int | None = None) -> ValidatorSet:
        """The validator set of `height` from the best endpoint, failing over like `fetch_height`.

        A pruned height (`HeightNotAvailable`) is tried on the other endpoints too (an archive node
        may have it) and raised when none has it.
        """
        await self._ensure_verified()
        errors: list[BaseException] = []
        not_available: list[HeightNotAvailable] = []
        for ep in self._order(height or 0):
            start = self._clock()
            try:
                vset = await ep.client.validators(height)
            except HeightNotAvailable as exc:
                not_available.append(exc)
                self._note_height_error(ep, exc)
                continue
            except RpcError as exc:
                self._failure(ep, exc)
                errors.append(exc)
                continue
            self._success(ep, self._clock() - start)
            return vset
        if not_available and not errors:
            future = [e for e in not_available if e.in_future]
            raise (future or not_available)[0]
        if not errors and not not_available:
            raise self._nothing_usable()
        raise self._no_endpoint(errors or not_available)

    def _nothing_usable(self) -> RpcError:
        """Why no endpoint could even be asked: all on another chain, or none verified."""
        wrong = [ep for ep in self._eps if ep.wrong_chain is not None]
        if wrong and len(wrong) == len(self._eps):
            return WrongChain(
                f"every endpoint serves another chain than {self.chain_id!r}",
                expected=self.chain_id,
                actual=wrong[0].wrong_chain or "",
                endpoint=wrong[0].url,
            )
        reasons = "; ".join(f"{ep.url}: {ep.last_error}" for ep in self._eps if ep.last_error)
        return RpcUnavailable(f"no usable endpoint for {self.chain_id}: {reasons or 'none verified'}")

    async def new_heights(self) -> AsyncIterator[int]:
        """Heights announced over the websocket of the endpoints not known to be on another chain.

        Only a hint (see core/chain/subscribe.py): a watcher still fetches every height.
        """
        urls = [ep.url for ep in self._eps if not ep.wrong_chain] or [ep.url for ep in self._eps]
        subscription = NewBlockSubscription(urls)
        try:
            async for height in subscription:
                yield height
        finally:
            await subscription.aclose()

    # -- health bookkeeping --------------------------------------------------------------------

    async def _check(self, ep: _Endpoint) -> NodeStatus:
        start = self._clock()
        try:
            status = await ep.client.status()
        except RpcError as exc:
            self._failure(ep, exc)
            raise
        ep.checked_at = self._clock()
        if status.chain_id != self.chain_id:
            self._mark_wrong_chain(ep, status.chain_id)
            raise WrongChain(
                f"serves chain {status.chain_id!r}, expected {self.chain_id!r}",
                expected=self.chain_id,
                actual=status.chain_id,
                endpoint=ep.url,
            )
        if ep.wrong_chain is not None:
            log.info("rpc endpoint %s now serves %s again", ep.url, self.chain_id)
            ep.wrong_chain = None
        ep.verified = True
        ep.height, ep.earliest = status.latest_height, status.earliest_height
        if self.best_height is None or status.latest_height > self.best_height:
            self.best_height = status.latest_height
        self._success(ep, self._clock() - start)
        return status

    async def _ensure_verified(self) -> None:
        """(Re)check `/status` of endpoints that are unverified or stale, all at once.

        Endpoints cooling down are skipped unless no endpoint is usable at all.
        """
        now = self._clock()

        def due(ep: _Endpoint, *, ignore_cooldown: bool) -> bool:
            if ep.wrong_chain is not None:
                return now - ep.checked_at > self.wrong_chain_recheck
            stale = not ep.verified or now - ep.checked_at > self.status_interval
            return stale and (ignore_cooldown or ep.cooldown_until <= now)

        todo = [ep for ep in self._eps if due(ep, ignore_cooldown=False)]
        if not any(ep.verified and ep.wrong_chain is None for ep in self._eps if ep not in todo):
            todo = [ep for ep in self._eps if due(ep, ignore_cooldown=True)]
        if todo:
            await asyncio.gather(*(self._check(ep) for ep in todo), return_exceptions=True)

    def _order(self, height: int) -> list[_Endpoint]:
        now = self._clock()
        best = self.best_height or 0
        usable = [ep for ep in self._eps if ep.verified and ep.wrong_chain is None]

        def key(ep: _Endpoint) -> tuple[bool, bool, bool, int, float]:
            behind = ep.height is not None and ep.height < height
            lagging = ep.height is not None and best - ep.height > self.max_lag
            return (ep.cooldown_until > now, behind, lagging, ep.errors, ep.ewma or 0.0)

        return sorted(usable, key=key)

    def _success(self, ep: _Endpoint, elapsed: float) -> None:
        ep.ewma = elapsed if ep.ewma is None else 0.7 * ep.ewma + 0.3 * elapsed
        if ep.errors:
            self._incidents.resolved(f"rpc endpoint {ep.url}", "%s recovered after %d failed calls in %.1f s")
        ep.errors = 0
        ep.cooldown_until = float("-inf")
        ep.last_error = None

    def _failure(self, ep: _Endpoint, exc: RpcError) -> None:
        self._incidents.failure(f"rpc endpoint {ep.url}", "rpc endpoint %s failing: %s", ep.url, exc)
        ep.errors += 1
        ep.last_error = f"{type(exc).__name__}: {exc}"
        delay = backoff(ep.errors, first=self.min_cooldown, cap=self.max_cooldown)
        ep.cooldown_until = self._clock() + delay

    def _note_height_error(self, ep: _Endpoint, exc: HeightNotAvailable) -> None:
        """A node that answers at all is healthy; its answer tells us its range."""
        if exc.latest is not None:
            ep.height = exc.latest
        if exc.lowest is not None:
            ep.earliest = exc.lowest

    def _mark_wrong_chain(self, ep: _Endpoint, actual: str) -> None:
        if ep.wrong_chain != actual:
            log.error("rpc endpoint %s serves chain %r, not %r: refusing to use it", ep.url, actual, self.chain_id)
        ep.wrong_chain = actual
        ep.verified = False
        ep.checked_at = self._clock()

    def _no_endpoint(self, errors: Sequence[BaseException]) -> RpcError:
        wrong = [e for e in errors if isinstance(e, WrongChain)]
        if wrong and len(wrong) == len(errors):
            return wrong[0]
        bad = [e for e in errors if isinstance(e, RpcBadResponse)]
        detail = "; ".join(str(e) for e in errors[:4]) or "no verified endpoint"
        if bad and len(bad) == len(errors):
            return RpcBadResponse(f"no usable endpoint for {self.chain_id}: {detail}")
        return RpcUnavailable(f"no usable endpoint for {self.chain_id}: {detail}")
