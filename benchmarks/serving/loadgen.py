"""Load and measurement for the serving benchmark: ``wrk`` runs, their parsed figures, and what
else the machine was doing meanwhile.

A point is one ``wrk --latency`` run at a fixed number of connections (closed loop: each
connection sends its next request when the previous answer arrives), after a short warm-up at
the same concurrency. Besides wrk's requests/s, p50/p90/p99 and errors, each point records the
machine's CPU time over its run, split into the server's (its whole process tree), wrk's own
and everyone else's: the cores are shared, and a figure taken while others ran is marked so.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LUA = HERE / "post.lua"
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}
_LATENCY = re.compile(r"^\s*(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", re.M)


@dataclass
class Point:
    side: str
    model: str
    connections: int
    seconds: float
    requests: int = 0
    requests_per_s: float = 0.0
    p50_ms: float = float("nan")
    p75_ms: float = float("nan")
    p90_ms: float = float("nan")
    p99_ms: float = float("nan")
    errors: int = 0  # non-2xx/3xx replies plus socket errors (connect, read, write, timeout)
    cpu_busy_s: float = 0.0  # all cores, the whole machine
    cpu_server_s: float = 0.0
    cpu_wrk_s: float = 0.0
    cpu_others_s: float = 0.0  # busy time that was neither the server nor wrk
    loadavg_1m: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _cpu_busy_s() -> float:
    with open("/proc/stat") as f:
        parts = [int(v) for v in f.readline().split()[1:]]
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)
    return (sum(parts[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def tree_cpu_s(pid: int | None) -> float:
    """CPU seconds used so far by ``pid`` and its live descendants (0 without psutil)."""
    if pid is None:
        return 0.0
    try:
        import psutil
    except ImportError:
        return 0.0
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for proc in procs:
        try:
            t = proc.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and its live descendants."""
    import psutil

    root = psutil.Process(pid)
    total = 0
    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total


def parse_wrk(text: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for pct, value, unit in _LATENCY.findall(text):
        found[f"p{pct}_ms"] = float(value) * _UNITS[unit]
    m = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m)", text, re.M)
    if m:
        found["requests"] = int(m.group(1))
    m = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    if m:
        found["requests_per_s"] = float(m.group(1))
    errors = 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        errors += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        errors += sum(int(g) for g in m.groups())
    found["errors"] = errors
    return found


def wrk(
    url: str,
    body: Path,
    connections: int,
    seconds: float,
    *,
    token: str = "",
    delay_ms: float = 0.0,
    timeout_s: float = 30.0,
) -> tuple[str, float]:
    """Run wrk once; its output and the CPU seconds it used."""
    env = {
        **os.environ,
        "BENCH_BODY": str(body),
        "BENCH_TOKEN": token,
        "BENCH_DELAY_MS": str(delay_ms) if delay_ms > 0 else "",
    }
    cmd = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={timeout_s:g}s",
        "--latency",
        "-s",
        str(LUA),
        url,
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    out = proc.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {out[-2000:]}")
    return out, usage.ru_utime + usage.ru_stime


def measure(
    side: str,
    model: str,
    url: str,
    body: Path,
    connections: int,
    seconds: float,
    *,
    token: str = "",
    server_pid: int | None = None,
    warmup_s: float = 2.0,
    delay_ms: float = 0.0,
) -> Point:
    """One point: a warm-up run, then a measured one, with the machine's CPU split."""
    if warmup_s > 0:
        wrk(url, body, connections, warmup_s, token=token, delay_ms=delay_ms)
    busy0, server0, t0 = _cpu_busy_s(), tree_cpu_s(server_pid), time.monotonic()
    out, wrk_cpu = wrk(url, body, connections, seconds, token=token, delay_ms=delay_ms)
    busy, server = _cpu_busy_s() - busy0, tree_cpu_s(server_pid) - server0
    point = Point(side, model, connections, time.monotonic() - t0, **parse_wrk(out))
    point.cpu_busy_s, point.cpu_server_s, point.cpu_wrk_s = busy, server, wrk_cpu
    point.cpu_others_s = max(0.0, busy - server - wrk_cpu)
    point.loadavg_1m = os.getloadavg()[0]
    return point
