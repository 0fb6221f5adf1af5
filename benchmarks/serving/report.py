"""The serving benchmark's Markdown: one table per model, the goals as ratios, the soak, and
the load the machine carried besides the benchmark (its cores are shared)."""

from __future__ import annotations

import math
from typing import Any

GOALS = (
    "Corridor / Ray Serve requests/s, MLP, 32 connections (goal: at least 20x)",
    "Corridor p99 / Ray Serve p99, MLP, 32 connections (goal: below 1)",
    "Corridor / echo requests/s, MLP, best of each (goal: at least 0.70)",
    "Corridor / echo requests/s, MLP, 32 connections",
    "Corridor p50 - echo p50, MLP, 1 connection, ms (goal: at most 0.5)",
    "Corridor embedder / raw batched embedder rows/s, best (goal: at least 0.70)",
    "Ray Serve embedder / raw batched embedder rows/s, best",
)


def _find(points: list[dict[str, Any]], side: str, model: str, c: int) -> dict[str, Any] | None:
    return next(
        (p for p in points if p["side"] == side and p["model"] == model and p["connections"] == c),
        None,
    )


def _best(points: list[dict[str, Any]], side: str, model: str) -> float:
    rates = [p["requests_per_s"] for p in points if p["side"] == side and p["model"] == model]
    return max(rates) if rates else math.nan


def _ratio(a: float | None, b: float | None) -> float:
    if a is None or b is None or not b or math.isnan(a) or math.isnan(b):
        return math.nan
    return a / b


def ratios(result: dict[str, Any]) -> dict[str, float]:
    pts = result.get("points", [])
    cor32, ray32 = _find(pts, "corridor", "mlp", 32), _find(pts, "ray-serve", "mlp", 32)
    echo32, cor1, echo1 = (
        _find(pts, "echo", "mlp", 32),
        _find(pts, "corridor", "mlp", 1),
        _find(pts, "echo", "mlp", 1),
    )
    raw_figures = result.get("raw", {})
    # The compute limit is the best the model did, with one thread or with every core.
    raw = max(
        (v for k, v in raw_figures.items() if k.startswith("embedder_rows_per_s_batch32")),
        default=math.nan,
    )

    def get(p: dict[str, Any] | None, key: str) -> float:
        return float(p[key]) if p is not None else math.nan

    values = (
        _ratio(get(cor32, "requests_per_s"), get(ray32, "requests_per_s")),
        _ratio(get(cor32, "p99_ms"), get(ray32, "p99_ms")),
        _ratio(_best(pts, "corridor", "mlp"), _best(pts, "echo", "mlp")),
        _ratio(get(cor32, "requests_per_s"), get(echo32, "requests_per_s")),
        get(cor1, "p50_ms") - get(echo1, "p50_ms"),
        _ratio(_best(pts, "corridor", "minilm"), raw),
        _ratio(_best(pts, "ray-serve", "minilm"), raw),
    )
    return dict(zip(GOALS, values, strict=True))


def _fmt(value: float, digits: int = 2) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:,.{digits}f}"


def markdown(result: dict[str, Any]) -> str:
    machine = result.get("machine", {})
    lines = [
        f"Run {result.get('started', '?')} to {result.get('finished', '?')}: "
        f"`{result.get('command', '')}`; {machine.get('cores', '?')} cores, "
        f"{machine.get('memory_gib', '?')} GiB, {machine.get('wrk', 'wrk')}; "
        f"{result.get('seconds_per_point', '?')} s a point after a 2 s warm-up.",
        "",
    ]
    pts = result.get("points", [])
    for model in sorted({p["model"] for p in pts}):
        lines += [
            f"**{model}**",
            "",
            "| side | connections | requests/s | p50 ms | p90 ms | p99 ms | errors "
            "| server cores | others' cores |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for p in (q for q in pts if q["model"] == model):
            span = p["seconds"] or 1.0
            lines.append(
                f"| {p['side']} | {p['connections']} | {_fmt(p['requests_per_s'], 0)} "
                f"| {_fmt(p['p50_ms'])} | {_fmt(p['p90_ms'])} | {_fmt(p['p99_ms'])} "
                f"| {p['errors']} | {_fmt(p['cpu_server_s'] / span)} "
                f"| {_fmt(p['cpu_others_s'] / span)} |"
            )
        lines.append("")
    raw = result.get("raw")
    if raw:
        runs = len(result.get("raw_runs", [])) or 1
        lines += [
            "**raw models, no HTTP** (rows/s; `_threadsN`: N torch threads, else 1; "
            f"best of {runs} run(s)): " + ", ".join(f"{k} {_fmt(v, 0)}" for k, v in raw.items()),
            "",
        ]
    lines += ["| ratio | value |", "|---|---:|"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in ratios(result).items()]
    lines.append("")
    soak = result.get("soak")
    if soak:
        p = soak["point"]
        lines += [
            f"**Soak**: {_fmt(p['seconds'], 0)} s at {_fmt(p['requests_per_s'], 0)} requests/s "
            f"(target {_fmt(soak['target_requests_per_s'], 0)} = 70% of "
            f"{_fmt(soak['peak_requests_per_s'], 0)}; {soak['connections']} connections, "
            f"{_fmt(soak['delay_ms'], 1)} ms between a connection's requests), "
            f"{p['requests']:,} requests, {p['errors']} errors, p99 {_fmt(p['p99_ms'])} ms; "
            f"server RSS {soak['rss_start_bytes'] / 2**20:,.1f} MiB at the start, "
            f"{soak['rss_end_bytes'] / 2**20:,.1f} MiB at the end "
            f"(growth {_fmt(100 * soak['rss_growth'])}%, max "
            f"{soak['rss_max_bytes'] / 2**20:,.1f} MiB).",
            "",
        ]
    return "\n".join(lines)
