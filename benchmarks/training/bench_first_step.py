"""Time from starting a 2-worker CPU training job to its first step, and to its return:
Corridor's trainer on the local executor against Ray Train's ``TorchTrainer`` and a plain
``torch.multiprocessing.spawn`` with gloo, in one run on one machine.

    .venv/bin/python benchmarks/training/bench_first_step.py [--steps 200] [--repeat 5] [--quick]

Both sides run the same loop (the benchmark MLP, batch 64 per rank, DDP over gloo, one thread
per rank; ``spawn_ddp.py`` and ``ray_train_peer.py``) and note on rank 0 the wall clock when
the training function was entered, when the model was wrapped in DDP and when step 0 ended.

- spawn: ``torch.multiprocessing.spawn`` of 2 ranks from this process, timed from the call;
- Ray Train 2.58: ``TorchTrainer(..., ScalingConfig(num_workers=2)).fit()`` on a Ray head of
  this run's own (``ray start --head``, token authentication on, 2 CPUs, free ports), this
  process joined as a driver, timed from ``fit()``. The first fit, on a head that has started
  no worker yet, is shown apart (cold); the medians are of the fits after it.

- Corridor: ``Trainer(..., workers=2).fit()`` (``corridor_side.py``) on a ``corridor server``
  of the run's own, its local executor, under each of the local site's settings in ``SITES``
  (one server each); the job's rank 0 notes its stages through the factories of ``probe.py``,
  and the job's own timestamps (placed, worker started) come from the server.

Floors, for reading where the time goes: a fresh interpreter (``python -c pass``) and one that
imports torch, each started and waited for from here. The sides alternate ``--repeat`` times;
medians are printed as Markdown rows.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import spawn_ddp
import workload

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "compute"))

Side = Callable[[], dict[str, float]]
# The local site's settings each Corridor side runs under (docs/compute.md).
SITES = {
    "defaults (1 standby worker)": "",
    "`standby_workers = 2`": "[sites.local]\nstandby_workers = 2\n",
    '`standby_workers = 2`, `preload = ["torch"]`': (
        '[sites.local]\nstandby_workers = 2\npreload = ["torch"]\n'
    ),
    '`standby_workers = 2`, `preload = ["corridor.training.torch.job"]`': (
        '[sites.local]\nstandby_workers = 2\npreload = ["corridor.training.torch.job"]\n'
    ),
}
# Where the trainer's time goes: each stage's wall clock, from the call of fit().
STAGES = {
    "to_client_plan": "checked (client)",
    "to_client_start_run": "run created",
    "to_client_submit": "snapshot sent, job submitted",
    "to_job_placed": "placed",
    "to_worker_started": "worker started",
    "to_data_factory": "job function running",
    "to_model_factory": "data made, group up",
    "to_step0_began": "step 0 began",
    "to_first_step": "step 0 done",
    "to_job_finished": "job finished (server)",
    "to_return": "returned",
}
COLUMNS = {
    "to_entered": "function entered",
    "to_wrapped": "DDP wrapped",
    "to_first_step": "step 0 done",
    "to_return": "returned",
}


def interpreter_s(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - started


def run_sides(sides: dict[str, Side], repeat: int) -> dict[str, list[dict[str, float]]]:
    """Each side once untimed (kept as its cold figure), then ``repeat`` rounds, alternating."""
    notes: dict[str, list[dict[str, float]]] = {name: [] for name in sides}
    for name, side in sides.items():
        notes[f"{name}, cold (first)"] = [side()]
    for _ in range(repeat):
        for name, side in sides.items():
            notes[name].append(side())
    return notes


def print_table(notes: dict[str, list[dict[str, float]]]) -> None:
    print("| side | " + " | ".join(COLUMNS.values()) + " |")
    print("|---|" + "---:|" * len(COLUMNS))
    for name in sorted(notes, key=lambda n: (n.split(",")[0], "cold" not in n)):
        runs = notes[name]
        cells = [
            f"{statistics.median(r[k] for r in runs):.2f}" if k in runs[0] else "" for k in COLUMNS
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="50 steps, 2 repeats")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.repeat = 50, 2

    # Imported here, not at the top: spawn imports this module again in every rank.
    import corridor_side
    import ray
    import ray_train_peer
    from ray_head import ray_head  # type: ignore[import-not-found]

    from corridor.compute import ray_auth
    from corridor.compute.executors import ray as ray_executor
    from corridor.compute.sites import Site

    temp_dir = Path(tempfile.mkdtemp(prefix="bt"))  # short: Ray's socket paths live under it
    token_file = temp_dir / "token"
    token_file.write_text(secrets.token_hex(32))
    saved = {k: os.environ.get(k) for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH", "PYTHONPATH")}
    # The head's workers find workload.py and ray_train_peer.py on their path.
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), saved["PYTHONPATH"]]))
    out = temp_dir / "rank0.json"
    try:
        floors = {
            "python -c pass": statistics.median(interpreter_s("pass") for _ in range(3)),
            "python -c 'import torch'": statistics.median(
                interpreter_s("import torch") for _ in range(3)
            ),
        }
        with ray_head(temp_dir, token_file, cpus=2) as head:
            site = Site(
                name="ray", executor="ray", address=head.address, auth_token_file=token_file
            )
            ray_executor.join(ray_auth.check_cluster(site))
            sides: dict[str, Side] = {
                "`torch.multiprocessing.spawn`, gloo": lambda: spawn_ddp.run(2, args.steps, out),
                f"Ray Train {ray.__version__} `TorchTrainer`": lambda: ray_train_peer.run(
                    2, args.steps, out, temp_dir / "storage"
                ),
            }
            with contextlib.ExitStack() as servers:
                for number, (name, toml) in enumerate(SITES.items()):
                    client = servers.enter_context(
                        corridor_side.corridor_server(temp_dir / f"home{number}", toml)
                    )
                    sides[f"Corridor trainer, local site: {name}"] = functools.partial(
                        corridor_side.first_step,
                        client,
                        workers=2,
                        steps=args.steps,
                        probe_file=temp_dir / "probe.jsonl",
                    )
                notes = run_sides(sides, args.repeat)
    finally:
        ray_executor.leave()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(temp_dir, ignore_errors=True)

    mode = "quick" if args.quick else "full"
    print(
        f"\n2 workers, {args.steps} steps of batch 64 each, median of {args.repeat} ({mode}); "
        f"{workload.machine()}\n"
    )
    print("Seconds from the call (`spawn`, `fit()`):\n")
    print_table(notes)
    print("\nWhere the trainer's time goes, seconds from `fit()` (median, warm):\n")
    print("| local site | " + " | ".join(STAGES.values()) + " |")
    print("|---|" + "---:|" * len(STAGES))
    for name in (n for n in notes if n.startswith("Corridor") and "cold" not in n):
        cells = [f"{statistics.median(r[k] for r in notes[name]):.2f}" for k in STAGES]
        print(f"| {name.partition('local site: ')[2]} | " + " | ".join(cells) + " |")
    print("\nFloors, seconds (median of 3):\n")
    print("| start | seconds |")
    print("|---|---:|")
    for name, seconds in floors.items():
        print(f"| {name} | {seconds:.2f} |")
    print("\nThe training loop's rate (samples/s, both ranks, median):\n")
    for name in (n for n in notes if "cold" not in n and "samples_per_s" in notes[n][0]):
        print(f"- {name}: {statistics.median(r['samples_per_s'] for r in notes[name]):,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
