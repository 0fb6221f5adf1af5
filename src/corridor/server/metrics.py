"""Prometheus metrics of the HTTP server, on a registry owned by one app.

Other parts of the server that keep metrics of their own (the serving gateway's requests,
batches, queues and replicas) hand their registries to `HttpMetrics.include`; ``/metrics``
renders them all, one after the other.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


class HttpMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "corridor_http_requests_total",
            "HTTP requests handled, by method, route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "corridor_http_request_duration_seconds",
            "Time to handle an HTTP request, by method and route.",
            ["method", "route"],
            registry=self.registry,
        )
        self._included: list[CollectorRegistry] = []

    def include(self, registry: CollectorRegistry) -> None:
        """Render ``registry`` at ``/metrics`` too (its metric names must be its own)."""
        if all(r is not registry for r in self._included):
            self._included.append(registry)

    def observe(self, method: str, route: str, status: int, duration_s: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.duration.labels(method, route).observe(duration_s)

    def render(self) -> bytes:
        return b"".join(generate_latest(r) for r in (self.registry, *self._included))
