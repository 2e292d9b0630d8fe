"""Delivery metrics are tallied in plain numbers; what /metrics shows must be what
prometheus_client's own Counter and Histogram would have shown for the same attempts."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from mempools.metrics import LATENCY_BUCKETS, Metrics


def _samples(text: bytes) -> dict[str, float]:
    out = {}
    for line in text.decode().splitlines():
        if line.startswith("mempools_deliver") and not line.startswith("#") and "_created" not in line:
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def test_the_tally_renders_as_prometheus_client_would() -> None:
    attempts = [
        ("webhook", "delivered", 0.003),
        ("webhook", "delivered", 0.005),  # on a bound: counted in it (le)
        ("webhook", "delivered", 0.0051),
        ("webhook", "failed", 15.0),
        ("webhook", "failed", 40.0),  # past the last bound: +Inf only
        ("telegram", "delivered", 0.2),
        ("telegram", "skipped", None),  # no latency: counted, not observed
        ("discord", "deferred", None),
    ]
    ours = Metrics()
    registry = CollectorRegistry()
    counter = Counter("mempools_deliveries", "x", ["channel", "outcome"], registry=registry)
    histogram = Histogram(
        "mempools_delivery_latency_seconds", "x", ["channel"], buckets=LATENCY_BUCKETS, registry=registry
    )
    for channel, outcome, latency in attempts:
        ours.delivery(channel, outcome, latency)
        counter.labels(channel, outcome).inc()
        if latency is not None:
            histogram.labels(channel).observe(latency)
    expected, got = _samples(generate_latest(registry)), _samples(ours.render())
    assert got == expected
    assert got['mempools_delivery_latency_seconds_bucket{channel="webhook",le="0.005"}'] == 2
    assert got['mempools_delivery_latency_seconds_bucket{channel="webhook",le="+Inf"}'] == 5
    assert got['mempools_deliveries_total{channel="discord",outcome="deferred"}'] == 1
