"""``Trainer``: train a PyTorch model as one compute job, in one process or a DDP gang.

``fit()`` checks the factories here (``dry_check``), creates a tracking run, and submits one
function job, ``corridor.training.torch.job:train``, installed with Corridor, with the spec as
its JSON argument and the caller's folder as its code snapshot (the factories are imported
from it on the worker by ``module:qualname``; nothing is pickled). ``workers=N`` makes the job
a gang of N ranks. While the job runs, the client reads the run's metrics for a progress bar;
when it ends, the run is marked finished or failed with the reason.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from corridor.client import compute as compute_client
from corridor.client.job_future import JobFailed, JobFuture
from corridor.compute.function_ref import FunctionRef, reference_of
from corridor.compute.sansio import payload
from corridor.compute.sansio.states import TERMINAL
from corridor.errors import CorridorError, InvalidInput
from corridor.training.torch import dry_check, progress, workers_rule
from corridor.training.torch.result import TrainResult
from corridor.training.torch.spec import (
    DataSpec,
    TrainSpec,
    is_dataset_ref,
    is_reference,
    signature_json,
)

if TYPE_CHECKING:
    from corridor.client.client import Client

JOB_FUNCTION = FunctionRef("corridor.training.torch.job", "train", "installed")
MAX_AUTO_WORKERS = 8
Factory = str | Callable[..., object]


class Trainer:
    """What to train and how; ``fit()`` runs it as a job and returns a ``TrainResult``.

    ``model`` and ``data`` are top-level factories (the functions, or ``"module:name"``);
    ``data`` may also be a dataset version (``"tickets@2"``, with ``label=`` and optionally
    ``features=``). ``loss`` is a name (``cross_entropy``, ``mse``, ...) or a function;
    ``optimizer`` a name, ``(name, kwargs)``, or a function ``(params, **kwargs)``.
    """

    def __init__(
        self,
        model: Factory,
        data: Factory,
        *,
        loss: Factory = "cross_entropy",
        optimizer: Factory | tuple[Factory, Mapping[str, Any]] = ("adam", {"lr": 1e-3}),
        epochs: int = 1,
        batch_size: int = 64,
        workers: int | Literal["auto"] = 1,
        device: Literal["auto", "cpu", "cuda"] = "auto",
        precision: Literal["32", "bf16", "16-mixed"] = "32",
        checkpoint_every: int = 100,
        checkpoint_interval_s: float = 30.0,
        log_every: int = 10,
        seed: int = 0,
        model_kwargs: Mapping[str, Any] | None = None,
        data_kwargs: Mapping[str, Any] | None = None,
        features: Sequence[str] | None = None,
        label: str | None = None,
        signature: Mapping[str, Any] | Any | None = None,
        project: str | None = None,
        experiment: str = "training",
        run_name: str | None = None,
        site: str | None = None,
        cpus: float = 1.0,
        memory: int | str | None = None,
        gpus: float | None = None,
        retries: int = 2,
        timeout: float | str | None = None,
        env: Mapping[str, str] | None = None,
        workdir: str | Path | None = None,
        check: bool = True,
        progress: bool = True,
    ) -> None:
        self.root = Path(workdir).resolve() if workdir is not None else Path.cwd().resolve()
        if not self.root.is_dir():
            raise InvalidInput(f"workdir {self.root} is not a folder")
        if workers != "auto" and (isinstance(workers, bool) or not isinstance(workers, int)
                                  or workers < 1):  # fmt: skip
            raise InvalidInput(
                f"workers must be a whole number of at least 1 or 'auto', not {workers!r}"
            )
        self.workers = workers
        opt_name, opt_kwargs = optimizer if isinstance(optimizer, tuple) else (optimizer, {})
        if isinstance(opt_name, str) and not opt_kwargs and not is_reference(opt_name):
            opt_kwargs = {"lr": 1e-3}
        if isinstance(data, str) and is_dataset_ref(data):
            data_spec = DataSpec(dataset=data, features=list(features) if features else None,
                                 label=label)  # fmt: skip
        else:
            data_spec = DataSpec(ref=self._ref(data), kwargs=dict(data_kwargs or {}))
        self.spec = TrainSpec(
            model=self._ref(model),
            data=data_spec,
            loss=self._ref(loss) if not (isinstance(loss, str) and ":" not in loss) else loss,
            optimizer=self._ref(opt_name)
            if not (isinstance(opt_name, str) and ":" not in opt_name)
            else opt_name,
            optimizer_kwargs=dict(opt_kwargs),
            model_kwargs=dict(model_kwargs or {}),
            epochs=epochs,
            batch_size=batch_size,
            seed=seed,
            device=device,
            precision=precision,
            checkpoint_every=checkpoint_every,
            checkpoint_interval_s=checkpoint_interval_s,
            log_every=log_every,
            threads=max(1, math.floor(cpus)),
        )
        self.signature = signature_json(signature)
        self.project = project
        self.experiment = experiment
        self.run_name = run_name
        self.job_options: compute_client.JobOptions = {
            "cpus": cpus, "memory": memory, "gpus": gpus, "site": site, "retries": retries,
            "timeout": timeout, "env": env,
        }  # fmt: skip
        self.check = check
        self.progress = progress

    def _ref(self, value: Factory) -> str:
        """``module:qualname`` of a function (as compute sends functions) or of a string."""
        if isinstance(value, str):
            if not is_reference(value):
                raise InvalidInput(f"{value!r} is not a reference to a function (module:name)")
            return value
        ref = reference_of(value, self.root)
        return f"{ref.module}:{ref.qualname}"

    def fit(self, client: Client | None = None) -> TrainResult:
        """Check, submit, follow and collect the training job; JobFailed if it failed."""
        if client is None:
            from corridor.client.client import Client

            client = Client()
        spec, workers = self._plan(client)
        project = client.compute.project_name(self.project)
        if spec.data.dataset is not None:
            spec = replace(spec, data=self._pin_dataset(client, spec.data, project))
        run_id = self._start_run(client, project, spec, workers)
        try:
            future = self._submit(client, project, spec, workers, run_id)
        except BaseException:
            _end_run(client, run_id, "FAILED")
            raise
        client.tracking.set_tag(run_id, "corridor.job_id", future.id)
        try:
            outcome = self._follow(client, future, run_id)
        except JobFailed as exc:
            client.tracking.set_tag(run_id, "corridor.training.error", exc.error[:4000])
            _end_run(client, run_id, "FAILED")
            raise
        except BaseException:
            # Interrupted while waiting (Ctrl-C): the job would otherwise train on unwatched.
            with contextlib.suppress(CorridorError):
                future.cancel()
            _end_run(client, run_id, "KILLED")
            raise
        _end_run(client, run_id, "FINISHED")
        if not isinstance(outcome, dict) or "weights" not in outcome:
            raise InvalidInput(f"job {future.id} returned no weights")
        return TrainResult(
            client=client,
            project=project,
            run_id=run_id,
            job_id=future.id,
            spec=spec,
            root=self.root,
            signature=self.signature,
            weights=outcome["weights"],
            metrics={k: float(v) for k, v in outcome.get("metrics", {}).items()},
            details={k: v for k, v in outcome.items() if k not in ("weights", "metrics")},
        )

    def _plan(self, client: Client) -> tuple[TrainSpec, int]:
        """The dry check (unless ``check=False``), and how many workers with which reason."""
        checked = dry_check.check(self.spec, self.root, self.signature) if self.check else None
        if self.workers != "auto":
            return self.spec, self.workers
        on_gpu = self.spec.device == "cuda" or bool(self.job_options.get("gpus"))
        workers, reason = workers_rule.choose(
            compute_s=checked.compute_s if checked else None,
            grad_bytes=checked.grad_bytes if checked else 0,
            max_workers=self._room(client),
            on_gpu=on_gpu,
        )
        return replace(self.spec, workers_reason=reason), workers

    def _pin_dataset(self, client: Client, data: DataSpec, project: str) -> DataSpec:
        """The dataset version as a number (``tickets@latest`` -> ``tickets@3``), so the run,
        every attempt and the registered model name the same data; its columns checked."""
        assert data.dataset is not None
        shown = client.data.show(data.dataset, project=project)
        columns = [c.name for c in shown.columns]
        for name in [data.label, *(data.features or [])]:
            if name not in columns:
                raise InvalidInput(
                    f"dataset {shown.ref} has no column {name!r}; its columns: {', '.join(columns)}"
                )
        pinned = shown.ref if "/" in data.dataset else f"{shown.dataset}@{shown.version}"
        return replace(data, dataset=pinned)

    def _room(self, client: Client) -> int:
        """How many workers of this job the sites could run at once now (at most 8)."""
        cpus = float(self.job_options.get("cpus") or 1.0)
        site = self.job_options.get("site")
        try:
            sites = client.compute.sites()
        except CorridorError:
            return 1
        room = [
            int((s.capacity.cpus - s.used.cpus) // cpus)
            for s in sites
            if s.up and (site is None or s.name == site)
        ]
        return max(1, min(MAX_AUTO_WORKERS, max(room, default=1)))

    def _start_run(self, client: Client, project: str, spec: TrainSpec, workers: int) -> str:
        tracking = client.tracking
        experiment = tracking.create_experiment(project, self.experiment, exist_ok=True)
        tags = {"corridor.training": "torch", "corridor.training.workers": str(workers)}
        if spec.workers_reason:
            tags["corridor.training.workers_reason"] = spec.workers_reason
        run = tracking.create_run(
            project, experiment.experiment_id, run_name=self.run_name, tags=tags
        )
        run_id = run.info.run_id
        params: dict[str, object] = {
            "model": spec.model,
            "data": spec.data.dataset or spec.data.ref,
            "loss": spec.loss,
            "optimizer": spec.optimizer,
            "epochs": spec.epochs,
            "batch_size": spec.batch_size,
            "seed": spec.seed,
            "workers": workers,
            "device": spec.device,
            "precision": spec.precision,
            **{f"optimizer.{k}": v for k, v in spec.optimizer_kwargs.items()},
            **{f"model.{k}": v for k, v in spec.model_kwargs.items()},
        }
        tracking.log_batch(run_id, params=params)
        return run_id

    def _submit(
        self, client: Client, project: str, spec: TrainSpec, workers: int, run_id: str
    ) -> JobFuture:
        compute = client.compute
        args: tuple[object, ...] = (spec.to_json(),)
        if spec.data.dataset is not None:
            args += (payload.DatasetInput(spec.data.dataset),)
        options: compute_client.JobOptions = {
            **self.job_options,
            "workers": workers if workers > 1 else None,
            "run_id": run_id,
            "name": f"train {spec.model}"[:128],
        }
        # The job's function is installed; the factories come from the caller's folder.
        snapshot = compute.build_snapshot(self.root)
        refs = (spec.model, spec.data.ref, spec.loss, spec.optimizer)
        needed = {r.partition(":")[0] for r in refs if r and is_reference(r)}
        missing = sorted(m for m in needed if m not in snapshot.modules and not _installed(m))
        if missing:
            raise InvalidInput(
                f"module {missing[0]} is not in the snapshot of {self.root} (left out by "
                ".gitignore, or outside the folder?) and is not installed"
            )
        return compute.submit_function(
            JOB_FUNCTION, args, project=project, snapshot=snapshot, options=options
        )

    def _follow(self, client: Client, future: JobFuture, run_id: str) -> object:
        label = f"training {self.spec.model.rpartition(':')[2]}"
        with progress.reporter(self.progress, label) as report:
            while True:
                job = client.compute.wait(future.id, timeout_s=1.0)
                metrics = client.tracking.get_run(run_id).metrics
                total = metrics.get("total_steps")
                done = metrics.get("global_step")
                loss = metrics.get("loss")
                report(
                    int(done.value) if done else 0,
                    int(total.value) if total else None,
                    loss.value if loss else None,
                )
                if job.state in TERMINAL:
                    break
        return future.result()


def _installed(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module.split(".")[0]) is not None
    except (ImportError, ValueError):
        return False


def _end_run(client: Client, run_id: str, status: str) -> None:
    # The run's status is a courtesy; the job's outcome is what the caller gets.
    with contextlib.suppress(CorridorError):
        client.tracking.update_run(run_id, status=status, end_time=int(time.time() * 1000))
