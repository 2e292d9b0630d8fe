"""Prometheus metrics, one registry per process (no module-level state).

Counters that happen at a point in time (deliveries, their latency) are recorded as they
happen; levels (cursor, lag, outbox depth) are read from the live objects at scrape time by a
collector, so they can never drift from the truth.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from core.watch.watcher import WatcherStats


class _LiveCollector(Collector):
    def __init__(self, watchers: Callable[[], Mapping[str, WatcherStats]], outbox_depth: Callable[[], int]) -> None:
        self.watchers = watchers
        self.outbox_depth = outbox_depth

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


class Metrics:
    def __init__(
        self,
        watchers: Callable[[], Mapping[str, WatcherStats]] = dict,
        outbox_depth: Callable[[], int] = lambda: 0,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.deliveries = Counter(
            "mempools_deliveries",
            "Delivery attempts by channel and outcome",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.delivery_latency = Histogram(
            "mempools_delivery_latency_seconds",
            "Time of one delivery attempt",
            ["channel"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15),
            registry=self.registry,
        )
        self.registry.register(_LiveCollector(watchers, outbox_depth))
        self._delivery_counters: dict[tuple[str, str], Counter] = {}
        self._latency_histograms: dict[str, Histogram] = {}

    def delivery(self, channel: str, outcome: str, latency_s: float | None) -> None:
        # Children looked up once per label set: `labels()` costs more than the increment, and
        # this runs for every delivery.
        counter = self._delivery_counters.get((channel, outcome))
        if counter is None:
            counter = self._delivery_counters[(channel, outcome)] = self.deliveries.labels(channel, outcome)
        counter.inc()
        if latency_s is not None:
            histogram = self._latency_histograms.get(channel)
            if histogram is None:
                histogram = self._latency_histograms[channel] = self.delivery_latency.labels(channel)
            histogram.observe(latency_s)

    def render(self) -> bytes:
        return generate_latest(self.registry)
