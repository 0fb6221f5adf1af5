"""Prometheus metrics of the HTTP server, on a registry owned by one app."""

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

    def observe(self, method: str, route: str, status: int, duration_s: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.duration.labels(method, route).observe(duration_s)

    def render(self) -> bytes:
        return generate_latest(self.registry)
