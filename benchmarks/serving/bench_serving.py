"""Serving benchmark: Corridor's gateway against Ray Serve, a bare echo endpoint and the raw
model, in one run on one machine; then a soak of Corridor at 70% of its peak.

    .venv/bin/python benchmarks/serving/bench_serving.py [--seconds 10] [--connections 1 8 32 128]
        [--sides raw echo ray corridor] [--soak-s 600] [--tag NAME]

Sides:

- raw: the models called in a loop with ideal batches (``raw_loop.py``): the compute limit;
- echo: a plain Starlette app under uvicorn, one process, parsing the same JSON and returning a
  fixed answer (``echo_server.py``): the Python HTTP limit;
- ray: Ray Serve 2.60 with ``@serve.batch`` serving the MLP and the embedder (``ray_peer.py``);
- corridor: a real ``corridor server`` with both models deployed (``corridor_side.py``), token
  authentication and metrics on, every request carrying the bearer token.

The three servers run at once and take turns at each point (echo, Ray Serve, Corridor at 1
connection, then at 8, ...): the machine's cores are shared with other work whose load comes
and goes, and taking turns exposes every side to the same stretch of it. An idle server costs
the others little (Ray's background processes most, and that counts against Ray's rivals, not
Ray). ``--one-at-a-time`` runs each server alone instead, one after the other.

Load is ``wrk`` (one thread, ``--latency``) posting one Open Inference Protocol JSON request
per call (``post.lua``), at each number of connections; a 2 s warm-up precedes each point. The
peers run in their own environment (``benchmarks/serving/.venv-peers``: Ray Serve 2.60 cannot
share the project's environment, which pins Ray 2.58); ``--peers-python`` names another.

The soak (``--soak-s``, 0 to skip) holds Corridor's MLP deployment at 70% of the best
requests/s measured above, for the given time: wrk at 32 connections, each waiting a fixed
delay between its requests (wrk cannot pace by itself; the delay is calibrated in two short
runs). The server's resident memory (its whole process tree) is sampled every 5 s; the goal
is zero errors and growth under 5% from the start of the soak to its end.

Results: ``results/serving-<tag>.json`` (every point, with the machine's CPU split between the
server, wrk and everyone else) and ``results/serving-<tag>.md`` (the tables and the ratios).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import loadgen
import report
import workload

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PEERS_PYTHON = HERE / ".venv-peers" / "bin" / "python"
OWN_PYTHON = REPO / ".venv" / "bin" / "python"
START_TIMEOUT_S = 600.0


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout_s: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer in {timeout_s:.0f} s")


def stop(proc: subprocess.Popen[Any], timeout_s: float = 60.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def echo_server(python: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    proc = subprocess.Popen([str(python), str(HERE / "echo_server.py"), str(port)], cwd=HERE)
    try:
        wait_http(f"http://127.0.0.1:{port}/v2/health/ready", 60, proc)
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        stop(proc)


@contextmanager
def ray_server(python: Path, log: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(python), str(HERE / "ray_peer.py"), str(port)],
            cwd=HERE,
            env=env,
            stdout=subprocess.PIPE,
            stderr=out,
        )
        try:
            _read_line(proc, "READY", START_TIMEOUT_S)
            yield f"http://127.0.0.1:{port}", proc.pid
        finally:
            stop(proc, 120)


@contextmanager
def corridor_server(python: Path, log: Path) -> Iterator[dict[str, Any]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(python), str(HERE / "corridor_side.py")],
            cwd=HERE,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=out,
        )
        try:
            line = _read_line(proc, "{", START_TIMEOUT_S)
            yield json.loads(line)
        finally:
            stop(proc, 60)


def _read_line(proc: subprocess.Popen[bytes], prefix: str, timeout_s: float) -> str:
    assert proc.stdout is not None
    found: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            text = raw.decode(errors="replace").strip()
            if text.startswith(prefix):
                found.append(text)
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout_s)
    if not found:
        raise RuntimeError(f"{proc.args!r} printed no {prefix!r} line in {timeout_s:.0f} s")
    return found[0]


def bodies(folder: Path, embedder_input: str = workload.EMBEDDING_INPUT) -> dict[str, Path]:
    out = {"mlp": folder / "mlp.json", "minilm": folder / f"minilm-{embedder_input}.json"}
    out["mlp"].write_bytes(workload.mlp_body())
    out["minilm"].write_bytes(workload.embedder_body(embedder_input))
    return out


def sweep(
    side: str,
    base: str,
    models: list[str],
    files: dict[str, Path],
    connections: list[int],
    seconds: float,
    *,
    token: str = "",
    pid: int | None = None,
) -> list[loadgen.Point]:
    points = []
    for model in models:
        for c in connections:
            url = f"{base}/v2/models/{model}/infer"
            point = loadgen.measure(
                side, model, url, files[model], c, seconds, token=token, server_pid=pid
            )
            print(
                f"{side:9s} {model:7s} c={c:<4d} {point.requests_per_s:9.1f} req/s "
                f"p50 {point.p50_ms:8.2f} ms p99 {point.p99_ms:8.2f} ms errors {point.errors} "
                f"(others used {point.cpu_others_s / point.seconds:.2f} cores)",
                flush=True,
            )
            points.append(point)
    return points


def soak(
    info: dict[str, Any], files: dict[str, Path], peak: float, seconds: float
) -> dict[str, Any]:
    """Hold ``0.7 * peak`` requests/s on the MLP for ``seconds``; sample the server's RSS."""
    url, token, pid = f"{info['url']}/v2/models/mlp/infer", info["token"], int(info["pid"])
    target, connections = 0.7 * peak, 32
    delay_ms = 1000.0 * connections / target
    for _ in range(3):  # calibrate: the delay adds to each connection's own latency
        probe = loadgen.measure(
            "corridor", "mlp", url, files["mlp"], connections, 5, token=token, warmup_s=0,
            delay_ms=delay_ms,
        )  # fmt: skip
        if probe.requests_per_s <= 0:
            break
        delay_ms = max(0.0, delay_ms * probe.requests_per_s / target)
    samples: list[tuple[float, int]] = []
    done = threading.Event()

    def sample() -> None:
        start = time.monotonic()
        while not done.is_set():
            samples.append((time.monotonic() - start, loadgen.tree_rss_bytes(pid)))
            done.wait(5.0)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    point = loadgen.measure(
        "corridor-soak", "mlp", url, files["mlp"], connections, seconds, token=token,
        server_pid=pid, warmup_s=0, delay_ms=delay_ms,
    )  # fmt: skip
    done.set()
    sampler.join()
    samples.append((point.seconds, loadgen.tree_rss_bytes(pid)))
    first, last = samples[0][1], samples[-1][1]
    return {
        "target_requests_per_s": target,
        "peak_requests_per_s": peak,
        "delay_ms": delay_ms,
        "connections": connections,
        "point": point.as_dict(),
        "rss_start_bytes": first,
        "rss_end_bytes": last,
        "rss_max_bytes": max(r for _, r in samples),
        "rss_growth": (last - first) / first if first else float("nan"),
        "rss_samples": samples,
    }


@dataclass
class Target:
    """A running side: where it answers, with what token, its process and its models."""

    side: str
    base: str
    pid: int
    models: tuple[str, ...]
    token: str = ""
    embedder_input: str = workload.EMBEDDING_INPUT
    close: Callable[[], None] = lambda: None

    def sweep(
        self,
        args: argparse.Namespace,
        files: dict[str, Path],
        *,
        models: list[str] | None = None,
        at: list[int] | None = None,
    ) -> list[loadgen.Point]:
        wanted = [m for m in (models or args.models) if m in self.models]
        return sweep(
            "ray-serve" if self.side == "ray" else self.side, self.base, wanted, files,
            at or args.connections, args.seconds, token=self.token, pid=self.pid,
        )  # fmt: skip


def start(side: str, stack: ExitStack, args: argparse.Namespace, work: Path) -> Target:
    """Start ``side``'s server; ``stack`` stops it (or `Target.close`, earlier)."""
    inner = ExitStack()
    stack.callback(inner.close)
    if side == "echo":
        base, pid = inner.enter_context(echo_server(args.peers_python))
        return Target(side, base, pid, ("mlp",), close=inner.close)
    if side == "ray":
        base, pid = inner.enter_context(ray_server(args.peers_python, work / "ray.log"))
        return Target(side, base, pid, ("mlp", "minilm"), close=inner.close)
    info = inner.enter_context(corridor_server(args.corridor_python, work / "corridor.log"))
    return Target(
        side, info["url"], int(info["pid"]), ("mlp", "minilm"), token=info["token"],
        embedder_input=info.get("embedder_input", workload.EMBEDDING_INPUT), close=inner.close,
    )  # fmt: skip


def run_soak(
    result: dict[str, Any], target: Target, files: dict[str, Path], seconds: float
) -> None:
    mine = [p for p in result["points"] if p["side"] == "corridor" and p["model"] == "mlp"]
    peak = max(p["requests_per_s"] for p in mine if not p["errors"])
    info = {"url": target.base, "token": target.token, "pid": target.pid}
    result["soak"] = soak(info, files, peak, seconds)
    print("soak", {k: v for k, v in result["soak"].items() if k != "rss_samples"}, flush=True)


def machine() -> dict[str, Any]:
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(mem / 2**30, 1),
        "cpu": platform.processor() or platform.machine(),
        "kernel": platform.release(),
        "wrk": wrk_version.splitlines()[0] if wrk_version else "",
        "loadavg_at_start": os.getloadavg(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per point (default 10)")
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 8, 32, 128])
    parser.add_argument(
        "--sides", nargs="+", default=["raw", "echo", "ray", "corridor"],
        choices=["raw", "echo", "ray", "corridor"],
    )  # fmt: skip
    parser.add_argument("--models", nargs="+", default=["mlp", "minilm"])
    parser.add_argument("--soak-s", type=float, default=600.0, help="0: no soak")
    parser.add_argument("--peers-python", type=Path, default=PEERS_PYTHON)
    parser.add_argument("--corridor-python", type=Path, default=OWN_PYTHON)
    parser.add_argument(
        "--one-at-a-time", action="store_true",
        help="run each server alone, one after the other, instead of all at once, taking "
        "turns at each point",
    )  # fmt: skip
    parser.add_argument("--tag", default=dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%MZ"))
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    results_dir = HERE / "results"
    results_dir.mkdir(exist_ok=True)
    out_json = results_dir / f"serving-{args.tag}.json"
    result: dict[str, Any] = {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "machine": machine(),
        "seconds_per_point": args.seconds,
        "points": [],
    }

    def save() -> None:
        result["finished"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        out_json.write_text(json.dumps(result, indent=1))
        (results_dir / f"serving-{args.tag}.md").write_text(report.markdown(result))

    work = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    files = bodies(work)
    try:

        def raw_loop() -> None:
            """The raw models once more; ``raw`` keeps each figure's best run (the machine's
            load varies, and the compute limit is what the model does when left alone)."""
            if "raw" not in args.sides:
                return
            found: dict[str, float] = {}
            # One torch thread (as the peers' replicas), and every core (torch's default,
            # which a Corridor replica keeps unless its runtime options set threads).
            for threads in sorted({1, os.cpu_count() or 1}):
                done = subprocess.run(
                    [str(args.peers_python), str(HERE / "raw_loop.py"), f"--threads={threads}"],
                    cwd=HERE, capture_output=True, text=True, check=True,
                )  # fmt: skip
                figures = json.loads(done.stdout.strip().splitlines()[-1])
                suffix = "" if threads == 1 else f"_threads{threads}"
                found.update({f"{k}{suffix}": v for k, v in figures.items()})
            runs = result.setdefault("raw_runs", [])
            runs.append(found)
            result["raw"] = {k: max(r.get(k, 0.0) for r in runs) for k in runs[0]}
            print("raw", runs[-1], flush=True)
            save()

        raw_loop()
        servers = [side for side in ("echo", "ray", "corridor") if side in args.sides]
        if args.one_at_a_time:
            for side in servers:
                with ExitStack() as stack:
                    target = start(side, stack, args, work)
                    files = bodies(work, target.embedder_input)
                    result["points"] += [p.as_dict() for p in target.sweep(args, files)]
                    save()
                    if side == "corridor" and args.soak_s > 0:
                        run_soak(result, target, files, args.soak_s)
                        save()
        else:
            with ExitStack() as stack:
                targets = [start(side, stack, args, work) for side in servers]
                files = bodies(work, targets[-1].embedder_input if targets else "text")
                for model in args.models:
                    for c in args.connections:
                        for target in targets:
                            if model in target.models:
                                points = target.sweep(args, files, models=[model], at=[c])
                                result["points"] += [p.as_dict() for p in points]
                    save()
                raw_loop()
                for target in targets:
                    if target.side == "corridor" and args.soak_s > 0:
                        for other in targets:
                            if other is not target:  # the soak has the machine to itself
                                other.close()
                        run_soak(result, target, files, args.soak_s)
                        save()
    finally:
        save()
        for log in work.glob("*.log"):
            shutil.copyfile(log, results_dir / f"serving-{args.tag}-{log.name}")
        shutil.rmtree(work, ignore_errors=True)
    print((results_dir / f"serving-{args.tag}.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
