"""Training throughput of the benchmark MLP (64 -> 256 -> 256 -> 10, batch 64, SGD) in samples/s:
a hand-written PyTorch loop in one process, and 2-process DDP over gloo started the plain way
(``torch.multiprocessing.spawn``), in one run on one machine.

    .venv/bin/python benchmarks/training/bench_throughput.py [--steps 4000] [--repeat 5] [--quick]

- hand loop: one process (this one), the data in memory as two tensors, ``for xb, yb in
  zip(x.split(64), y.split(64))``: zero_grad, forward, cross-entropy, backward, step; after a
  warm-up pass of 20 steps, ``--steps`` steps timed;
- DDP: ``spawn`` of 2 ranks, gloo, one thread each, every other batch of the same kind of data
  per rank (64 per rank, 128 a step in all), 20 warm-up steps, then ``--steps`` steps per rank
  timed on rank 0 between two barriers. Each repeat is a fresh spawn, so the same run also
  gives the time from ``spawn`` to the end of step 0.

The 1-process sides run one torch thread (``--threads``): on a machine whose cores are shared,
a second OpenMP thread that waits on a descheduled one spins, and the figure collapses (a run
here under load measured 3,500 samples/s with 2 threads against 80,000 with 1). The sides
alternate, ``--repeat`` times; medians are printed as Markdown rows, with each side's
rate over the hand loop's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import spawn_ddp
import torch
import workload


def hand_loop_rate(steps: int) -> float:
    x, y = workload.make_data(steps * workload.BATCH)
    torch.manual_seed(workload.SEED)
    model = workload.make_mlp()
    workload.hand_loop(model, x[: 20 * workload.BATCH], y[: 20 * workload.BATCH])
    return steps * workload.BATCH / workload.hand_loop(model, x, y)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads of the 1-process sides (default 1)"
    )
    parser.add_argument("--quick", action="store_true", help="500 steps, 3 repeats")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.quick:
        args.steps, args.repeat = 500, 3

    out = Path(tempfile.mkdtemp(prefix="bench-train")) / "rank0.json"
    spawned: list[dict[str, float]] = []

    def ddp_rate() -> float:
        spawned.append(spawn_ddp.run(2, args.steps, out))
        return spawned[-1]["samples_per_s"]

    sides: dict[str, Callable[[], float]] = {
        "hand-written loop, 1 process": lambda: hand_loop_rate(args.steps),
        "DDP gloo, 2 processes (`torch.multiprocessing.spawn`)": ddp_rate,
    }
    rates: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(args.repeat):
        for name, side in sides.items():
            rates[name].append(side())
    out.parent.rmdir()

    mode = "quick" if args.quick else "full"
    print(
        f"\n{args.steps} steps of batch 64 a side, median of {args.repeat} ({mode}); "
        f"{workload.machine()}\n"
    )
    base = statistics.median(rates["hand-written loop, 1 process"])
    print("| side | samples/s | / hand loop |")
    print("|---|---:|---:|")
    for name, values in rates.items():
        median = statistics.median(values)
        print(f"| {name} | {median:,.0f} | {median / base:.2f}x |")
    print("\nDDP spawn, seconds from `spawn` (median):")
    print(
        "| function entered | torch imported | group up | DDP wrapped | data made | step 0 done "
        "| returned |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    keys = (
        "to_entered",
        "to_imported",
        "to_group",
        "to_wrapped",
        "to_data",
        "to_first_step",
        "to_return",
    )
    print("| " + " | ".join(f"{statistics.median(s[k] for s in spawned):.2f}" for k in keys) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
