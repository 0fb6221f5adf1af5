"""Submitting a trial as a compute function job: `trial_job.run_trial` (installed with Corridor)
running the user's objective from the snapshot of the caller's folder, linked to the trial's run.

The objective is sent by reference, never pickled, as every function job is: it must be a
top-level function of a module under ``workdir`` (uploaded once per project and digest) or of
an installed package. The snapshot is built once per search.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from corridor.client.client import Client
from corridor.client.job_future import JobFuture
from corridor.compute.function_ref import FunctionRef, reference_of
from corridor.compute.sansio import payload
from corridor.compute.schemas import JobSubmit
from corridor.errors import InvalidInput

TRIAL_FUNCTION = {
    "module": "corridor.training.tune.trial_job",
    "qualname": "run_trial",
    "source": "installed",
}
# What the search sets itself, so a caller's job option may not.
_RESERVED = frozenset({"function", "input_b64", "snapshot", "run_id", "command", "workers"})


@dataclass(frozen=True)
class TrialLauncher:
    """Submits the trials of one search: the objective's reference, the snapshot it is in, the
    project and the job options every trial's job gets."""

    client: Client
    project: str
    objective: FunctionRef
    snapshot: str | None
    job_options: Mapping[str, object]

    @classmethod
    def prepare(
        cls,
        client: Client,
        project: str,
        objective: Callable[..., object],
        *,
        workdir: str | Path | None,
        job_options: Mapping[str, object],
    ) -> TrialLauncher:
        """Check the objective and the options, and upload the snapshot if it is needed."""
        reserved = sorted(set(job_options) & _RESERVED)
        if reserved:
            raise InvalidInput(f"job option {reserved[0]!r} is set by the search itself")
        root = Path(workdir) if workdir is not None else Path.cwd()
        if not root.is_dir():
            raise InvalidInput(f"workdir {root} is not a folder")
        root = root.resolve()
        ref = reference_of(objective, root)
        digest = None
        if ref.source == "snapshot":
            from corridor.compute.snapshot import build_snapshot

            settings = client.settings
            built = build_snapshot(
                root, max_bytes=settings.max_snapshot_bytes, exclude=[settings.home]
            )
            if ref.module not in built.modules:
                raise InvalidInput(
                    f"objective {ref} is not importable from the snapshot of {root}: its module "
                    "is not in it (left out by .gitignore, or outside the folder?)"
                )
            client.compute.upload_snapshot(project, built)
            digest = built.digest
        launcher = cls(client, project, ref, digest, dict(job_options))
        launcher._body({}, run_id=None, name="check")  # refuse bad options before any trial
        return launcher

    def _body(
        self, params: Mapping[str, object], *, run_id: str | None, name: str
    ) -> dict[str, object]:
        call = payload.encode_call((str(self.objective), self.objective.source, dict(params)), {})
        fields: dict[str, object] = {
            "name": name[:128],
            **self.job_options,
            "function": TRIAL_FUNCTION,
            "input_b64": base64.b64encode(call).decode("ascii"),
        }
        if self.snapshot is not None:
            fields["snapshot"] = self.snapshot
        if run_id is not None:
            fields["run_id"] = run_id
        try:
            checked = JobSubmit.model_validate(fields)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "job"
            raise InvalidInput(f"job option {where}: {first['msg']}") from None
        return checked.model_dump(mode="json", exclude_none=True)

    def submit(self, params: Mapping[str, object], *, run_id: str, name: str) -> JobFuture:
        """Queue one trial's job; its future."""
        body = self._body(params, run_id=run_id, name=name)
        (job,) = self.client.compute.submit_batch(self.project, [body])
        return JobFuture(self.client.compute, job)
