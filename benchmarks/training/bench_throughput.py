"""Training throughput of the benchmark MLP (64 -> 256 -> 256 -> 10, SGD) in samples/s: Corridor's
trainer against a hand-written PyTorch loop in one process, and against 2-process DDP over gloo
started the plain way (``torch.multiprocessing.spawn``), in one run on one machine.

    .venv/bin/python benchmarks/training/bench_throughput.py [--steps 4000] [--repeat 5] [--quick]
        [--only TEXT ...]

- hand loop: one process (this one), the data in memory as two tensors, ``for xb, yb in
  zip(x.split(64), y.split(64))``: zero_grad, forward, cross-entropy, backward, step; after a
  warm-up pass of 20 steps, ``--steps`` steps timed;
- trainer, 1 process: ``Trainer(...).fit()`` on a ``corridor server`` of the run's own (its
  default local site, 2 standby workers), batch 64, 2 epochs of ``--steps`` steps; the rate is
  the one the job measures over its last epoch (the first is the warm-up), with the trainer's
  defaults (a metric point every 10 steps; a checkpoint every 100 steps once 30 s have
  passed) and once more with neither inside the epoch (``log_every`` and
  ``checkpoint_every`` past its end), which is the loop's own cost;
- DDP: ``spawn`` of 2 ranks, gloo, one thread each, every other batch of the same kind of data
  per rank (64 per rank, 128 a step in all), 20 warm-up steps, then ``--steps`` steps per rank
  timed on rank 0 between two barriers;
- trainer, 2 workers: the same job as a gang of 2 (batch 128: 64 per rank, as the spawned
  ranks), ``--steps`` steps per rank an epoch, with the defaults and without metrics or
  checkpoints inside the epoch; and ``workers="auto"`` once, to print what the
  trainer chose and why.

The 1-process sides run one torch thread (``--threads``; the trainer uses one per CPU it asks
for, one by default): on a machine whose cores are shared, a second OpenMP thread that waits on
a descheduled one spins, and the figure collapses (a run here under load measured 3,500
samples/s with 2 threads against 80,000 with 1). The sides alternate, ``--repeat`` times;
medians are printed as Markdown rows, with each side's rate over the hand loop's.
``--only TEXT...`` keeps the sides whose names contain one of the texts (and the hand loop).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import spawn_ddp
import torch
import workload

HAND = "hand-written loop, 1 process"
SITE = """
[sites.local]
standby_workers = 2
"""


def hand_loop_rate(steps: int, *, shuffle: bool = False) -> float:
    x, y = workload.make_data(steps * workload.BATCH)
    torch.manual_seed(workload.SEED)
    model = workload.make_mlp()
    workload.hand_loop(model, x[: 20 * workload.BATCH], y[: 20 * workload.BATCH])
    return steps * workload.BATCH / workload.hand_loop(model, x, y, shuffle=shuffle)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads of the 1-process sides (default 1)"
    )
    parser.add_argument("--quick", action="store_true", help="500 steps, 3 repeats")
    parser.add_argument(
        "--only",
        nargs="+",
        help="run only the sides whose name contains one of these texts (and the hand loop)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.quick:
        args.steps, args.repeat = 500, 3

    # Imported here, not at the top: spawn imports this module again in every rank.
    import corridor_side

    temp_dir = Path(tempfile.mkdtemp(prefix="bench-train"))
    out = temp_dir / "rank0.json"
    spawned: list[dict[str, float]] = []

    def ddp_rate() -> float:
        spawned.append(spawn_ddp.run(2, args.steps, out))
        return spawned[-1]["samples_per_s"]

    with corridor_side.corridor_server(temp_dir / "home", SITE) as client:

        def trainer_rate(workers: int, **options: Any) -> Callable[[], float]:
            def fit() -> float:
                result = corridor_side.trainer(
                    workers=workers,
                    samples=args.steps * workload.BATCH * workers,
                    batch_size=workload.BATCH * workers,
                    epochs=2,
                    **options,
                ).fit(client)
                return result.metrics["samples_per_s"]

            return fit

        quiet = {"log_every": 10**9, "checkpoint_every": 10**9}
        sides: dict[str, Callable[[], float]] = {
            HAND: lambda: hand_loop_rate(args.steps),
            "hand-written loop, 1 process, shuffled each epoch": lambda: hand_loop_rate(
                args.steps, shuffle=True
            ),
            "Corridor trainer, 1 process (defaults)": trainer_rate(1),
            "Corridor trainer, 1 process (no metrics or checkpoints inside the epoch)": (
                trainer_rate(1, **quiet)
            ),
            "DDP gloo, 2 processes (`torch.multiprocessing.spawn`)": ddp_rate,
            "Corridor trainer, `workers=2` (defaults)": trainer_rate(2),
            "Corridor trainer, `workers=2` (no metrics or checkpoints inside the epoch)": (
                trainer_rate(2, **quiet)
            ),
        }
        if args.only:
            sides = {n: s for n, s in sides.items() if n == HAND or any(o in n for o in args.only)}
        rates: dict[str, list[float]] = {name: [] for name in sides}
        for _ in range(args.repeat):
            for name, side in sides.items():
                rates[name].append(side())
        auto = corridor_side.trainer(
            workers="auto", samples=args.steps * workload.BATCH, batch_size=workload.BATCH,
            epochs=1,
        ).fit(client)  # fmt: skip
        tags = client.tracking.get_run(auto.run_id).tags
    shutil.rmtree(temp_dir, ignore_errors=True)

    mode = "quick" if args.quick else "full"
    print(
        f"\n{args.steps} steps of batch 64 a side, median of {args.repeat} ({mode}); "
        f"{workload.machine()}\n"
    )
    base = statistics.median(rates[HAND])
    print("| side | samples/s | / hand loop |")
    print("|---|---:|---:|")
    for name, values in rates.items():
        median = statistics.median(values)
        print(f"| {name} | {median:,.0f} | {median / base:.2f}x |")
    print(
        f'\n`workers="auto"` chose {auto.details.get("world_size")}: '
        f"{tags.get('corridor.training.workers_reason', '(no reason given)')}"
    )
    if not spawned:
        return 0
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
