"""Prometheus metrics, one registry per process (no module-level state).

Counters that happen at a point in time (deliveries, their latency) are tallied as they happen
in plain dicts and lists (`DeliveryTally`), which a collector turns into metric families at
scrape time: prometheus_client's own Counter and Histogram take a lock and walk their buckets
in Python per observation, which cost ~5% of the dispatcher's throughput. Levels (cursor, lag,
outbox depth) are read from the live objects at scrape time, so they can never drift from the
truth.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from core.watch.watcher import WatcherStats

#: Upper bounds of the delivery latency histogram, in seconds.
LATENCY_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15)


class DeliveryTally(Collector):
    """Delivery attempts by (channel, outcome) and their latency by channel, as plain numbers."""

    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.buckets = buckets
        self.attempts: dict[tuple[str, str], int] = {}
        self._latency: dict[str, list[int]] = {}  # per bucket (not cumulative), the last one +Inf
        self._latency_sum: dict[str, float] = {}

    def add(self, channel: str, outcome: str, latency_s: float | None) -> None:
        key = (channel, outcome)
        self.attempts[key] = self.attempts.get(key, 0) + 1
        if latency_s is not None:
            counts = self._latency.get(channel)
            if counts is None:
                counts = self._latency[channel] = [0] * (len(self.buckets) + 1)
                self._latency_sum[channel] = 0.0
            counts[bisect_left(self.buckets, latency_s)] += 1  # le: a value on a bound counts in it
            self._latency_sum[channel] += latency_s

    def collect(self) -> Iterable[Metric]:
        attempts = CounterMetricFamily(
            "mempools_deliveries", "Delivery attempts by channel and outcome", labels=["channel", "outcome"]
        )
        for (channel, outcome), count in sorted(self.attempts.items()):
            attempts.add_metric([channel, outcome], count)
        latency = HistogramMetricFamily(
            "mempools_delivery_latency_seconds", "Time of one delivery attempt", labels=["channel"]
        )
        bounds = [floatToGoString(bound) for bound in self.buckets] + ["+Inf"]
        for channel, counts in sorted(self._latency.items()):
            cumulative, total = [], 0
            for bound, count in zip(bounds, counts, strict=True):
                total += count
                cumulative.append((bound, total))
            latency.add_metric([channel], cumulative, sum_value=self._latency_sum[channel])
        yield from (attempts, latency)


class _LiveCollector(Collector):
    def __init__(
        self,
        watchers: Callable[[], Mapping[str, WatcherStats]],
        outbox_depth: Callable[[], int],
        leases: Callable[[], Mapping[str, bool]],
    ) -> None:
        self.watchers = watchers
        self.outbox_depth = outbox_depth
        self.leases = leases

    def collect(self) -> Iterable[Metric]:
        blocks = CounterMetricFamily("mempools_blocks_processed", "Blocks processed since start", labels=["chain"])
        height = GaugeMetricFamily("mempools_chain_height", "Last fully processed height", labels=["chain"])
        tip = GaugeMetricFamily("mempools_chain_tip", "Latest height known at the chain's endpoints", labels=["chain"])
        lag = GaugeMetricFamily("mempools_chain_lag_blocks", "Blocks behind the tip", labels=["chain"])
        matches = CounterMetricFamily("mempools_matches", "Subscription matches since start", labels=["chain"])
        gaps = CounterMetricFamily("mempools_gaps", "Heights no endpoint could serve", labels=["chain"])
        errors = CounterMetricFamily("mempools_rpc_errors", "Failed RPC calls", labels=["chain"])
        for chain, stats in self.watchers().items():
            blocks.add_metric([chain], stats.blocks)
            height.add_metric([chain], stats.cursor)
            tip.add_metric([chain], stats.tip)
            lag.add_metric([chain], stats.lag)
            matches.add_metric([chain], stats.matches)
            gaps.add_metric([chain], stats.gaps)
            errors.add_metric([chain], stats.errors)
        yield from (blocks, height, tip, lag, matches, gaps, errors)
        yield GaugeMetricFamily("mempools_outbox_depth", "Deliveries waiting in the outbox", value=self.outbox_depth())
        leases = self.leases()
        if leases:  # cluster mode only: a single node holds no leases
            held = GaugeMetricFamily("mempools_lease_held", "1 on the node that holds the lease", labels=["lease"])
            for name, is_held in sorted(leases.items()):
                held.add_metric([name], 1 if is_held else 0)
            yield held


class Metrics:
    def __init__(
        self,
        watchers: Callable[[], Mapping[str, WatcherStats]] = dict,
        outbox_depth: Callable[[], int] = lambda: 0,
        leases: Callable[[], Mapping[str, bool]] = dict,
    ) -> None:
        """`leases`: each lease this node contends for (`chain:<id>`) and whether it holds it now."""
        self.registry = CollectorRegistry(auto_describe=True)
        self.tally = DeliveryTally()
        self.registry.register(self.tally)
        self.registry.register(_LiveCollector(watchers, outbox_depth, leases))

    def delivery(self, channel: str, outcome: str, latency_s: float | None) -> None:
        """One delivery attempt (the dispatcher's `on_attempt`): runs for every delivery."""
        self.tally.add(channel, outcome, latency_s)

    def render(self) -> bytes:
        return generate_latest(self.registry)
