"""Prometheus metrics of serving: requests, latency, batch sizes, queue depth, replicas.

One `ServingMetrics` per serving plane (``plane_for(runtime).metrics``), on a registry of its
own that the server's ``/metrics`` route renders beside its HTTP metrics. The gateway counts
requests; the data plane reports batches, queues and replicas through the same object:

    metrics = plane_for(runtime).metrics
    metrics.observe_batch("mlp", "3", rows=17)
    metrics.set_queue_depth("mlp", "3", 5)
    metrics.set_replicas("mlp", "3", up=2)
    metrics.count_routed("mlp", "3")          # a request the traffic split sent to version 3

Cost: the per-request pair (count and latency) is kept as plain numbers in dicts and turned
into Prometheus families only when ``/metrics`` is scraped: a dict update and one bisect, a
fraction of a microsecond, against about three for `prometheus_client`'s locked counters and
histograms. The gateway's event loop is the only writer; a scrape reads a copy of each dict
(one C call, atomic under the GIL). The data plane's calls go to `prometheus_client` objects
whose label children are bound once per label set. Label values are deployment names and
versions, bounded by what is deployed; `forget` drops a removed deployment's series.
"""

from __future__ import annotations

import contextlib
from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

# From a fraction of a millisecond (the in-process fast path) to the slowest model calls.
LATENCY_BUCKETS_S = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0,
)  # fmt: skip
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)


class _RequestStats(Collector):
    """Requests by deployment, version and status, and latency by deployment, as plain numbers."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, int], int] = {}
        # deployment -> observations per bucket (the last: over every bound), then their sum.
        self.latency: dict[str, list[float]] = {}

    def observe(self, deployment: str, version: str, status: int, duration_s: float) -> None:
        key = (deployment, version, status)
        counts = self.counts
        counts[key] = counts.get(key, 0) + 1
        buckets = self.latency.get(deployment)
        if buckets is None:
            buckets = self.latency[deployment] = [0.0] * (len(LATENCY_BUCKETS_S) + 2)
        buckets[bisect_left(LATENCY_BUCKETS_S, duration_s)] += 1
        buckets[-1] += duration_s

    def forget(self, deployment: str) -> None:
        for key in [k for k in self.counts if k[0] == deployment]:
            self.counts.pop(key, None)
        self.latency.pop(deployment, None)

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "corridor_serving_requests",
            "Inference requests answered by the gateway, by deployment, requested version "
            "('' when routed by weight) and HTTP status.",
            labels=["deployment", "version", "status"],
        )
        for (deployment, version, status), total in list(self.counts.items()):
            requests.add_metric([deployment, version, str(status)], total)
        yield requests
        latency = HistogramMetricFamily(
            "corridor_serving_request_duration_seconds",
            "Time from a request's arrival at the gateway to its answer, by deployment.",
            labels=["deployment"],
        )
        for deployment, buckets in list(self.latency.items()):
            seen = list(buckets)
            cumulative = 0.0
            rows = []
            for bound, observed in zip(LATENCY_BUCKETS_S, seen, strict=False):
                cumulative += observed
                rows.append((str(bound), cumulative))
            rows.append(("+Inf", cumulative + seen[-2]))
            latency.add_metric([deployment], rows, sum_value=seen[-1])
        yield latency


class ServingMetrics:
    """The serving plane's metrics, with label children bound once per label set."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._request_stats = _RequestStats()
        self.registry.register(self._request_stats)
        self._routed = Counter(
            "corridor_serving_routed_total",
            "Requests each version answered (after the traffic split), by deployment.",
            ["deployment", "version"],
            registry=self.registry,
        )
        self._batches = Histogram(
            "corridor_serving_batch_size",
            "Rows in each batch sent to a replica, by deployment and version.",
            ["deployment", "version"],
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self._queue = Gauge(
            "corridor_serving_queue_depth",
            "Requests waiting in a version's batcher, by deployment and version.",
            ["deployment", "version"],
            registry=self.registry,
        )
        self._replicas = Gauge(
            "corridor_serving_replicas_up",
            "Replicas up and answering, by deployment and version.",
            ["deployment", "version"],
            registry=self.registry,
        )
        self._rate_limited = Counter(
            "corridor_serving_rate_limited_total",
            "Requests refused by a deployment's per-token rate limit.",
            ["deployment"],
            registry=self.registry,
        )
        self._children: dict[tuple[Any, ...], Any] = {}
        # The gateway's per-request call, bound once (no attribute walk per request).
        self.observe_request = self._request_stats.observe

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    # The gateway's: observe_request(deployment, version, status, duration_s), bound above.

    def count_rate_limited(self, deployment: str) -> None:
        self._child(self._rate_limited, deployment).inc()

    # The data plane's.

    def count_routed(self, deployment: str, version: str) -> None:
        self._child(self._routed, deployment, version).inc()

    def observe_batch(self, deployment: str, version: str, rows: int) -> None:
        self._child(self._batches, deployment, version).observe(rows)

    def set_queue_depth(self, deployment: str, version: str, depth: int) -> None:
        self._child(self._queue, deployment, version).set(depth)

    def set_replicas(self, deployment: str, version: str, up: int) -> None:
        self._child(self._replicas, deployment, version).set(up)

    def forget(self, deployment: str) -> None:
        """Drop every series of ``deployment`` (it was removed)."""
        self._request_stats.forget(deployment)
        metrics = (self._routed, self._batches, self._queue, self._replicas, self._rate_limited)
        ids = {id(m): m for m in metrics}
        for key in [k for k in self._children if k[1] == deployment]:
            del self._children[key]
            with contextlib.suppress(KeyError):
                ids[key[0]].remove(*key[1:])

    def render(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return generate_latest(self.registry)
