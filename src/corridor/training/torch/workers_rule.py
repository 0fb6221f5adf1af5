"""``workers="auto"``: how many DDP processes to use, and why. Pure: numbers in, numbers out.

Splitting a global batch over N processes divides the compute of a step by N but adds one
all-reduce of the gradients per step. On a CPU with gloo that costs a fixed latency per
bucket plus the bytes a ring all-reduce moves (2 (N-1)/N times the gradient bytes):

    step(N) = compute / N + buckets x GLOO_LATENCY_S + 2 (N-1)/N x grad_bytes / GLOO_BYTES_PER_S

``compute`` is measured on the client (a forward and backward pass of one batch of the real
model and data, the best of a few). The two constants were fitted to the MLP 64-256-256-10 at
batch 64 on two CPU cores: 115,000 samples/s in one process and about 50,000 in two, i.e.
~0.56 ms of compute and ~1 ms of synchronisation per step. The rule picks the N (up to the
CPUs the sites can give) with the shortest step. On a GPU it stays with one process: several
GPUs are asked for with an explicit ``workers=N``.
"""

from __future__ import annotations

import math

GLOO_LATENCY_S = 0.0006
GLOO_BYTES_PER_S = 1.0e9
DDP_BUCKET_BYTES = 25 * 1024 * 1024


def step_seconds(compute_s: float, grad_bytes: int, workers: int) -> float:
    """The modelled time of one step of ``workers`` processes on CPUs."""
    if workers == 1:
        return compute_s
    buckets = max(1, math.ceil(grad_bytes / DDP_BUCKET_BYTES))
    ring = 2 * (workers - 1) / workers * grad_bytes / GLOO_BYTES_PER_S
    return compute_s / workers + buckets * GLOO_LATENCY_S + ring


def choose(
    *, compute_s: float | None, grad_bytes: int, max_workers: int, on_gpu: bool
) -> tuple[int, str]:
    """The number of processes for ``workers="auto"`` and the sentence that says why."""
    if on_gpu:
        return 1, "workers=auto: 1 process on the GPU; ask for workers=N to use N GPUs"
    if compute_s is None:
        return 1, "workers=auto: 1 process (the step time could not be measured before training)"
    if max_workers < 2:
        return 1, "workers=auto: 1 process (the sites have no room for more)"
    times = {n: step_seconds(compute_s, grad_bytes, n) for n in range(1, max_workers + 1)}
    best = min(times, key=lambda n: (times[n], n))
    kib = grad_bytes / 1024
    if best == 1:
        return 1, (
            f"workers=auto: 1 process, because a step computes in {compute_s * 1e3:.2f} ms and "
            f"synchronising {kib:,.0f} KiB of gradients would make 2 processes take about "
            f"{times[2] * 1e3:.2f} ms a step: more processes would be slower for this model"
        )
    return best, (
        f"workers=auto: {best} processes, because a step computes in {compute_s * 1e3:.2f} ms in "
        f"one and about {times[best] * 1e3:.2f} ms in {best} including the gradient sync "
        f"({kib:,.0f} KiB)"
    )
