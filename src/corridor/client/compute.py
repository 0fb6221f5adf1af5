"""``client.compute``: submit functions and commands as jobs, fan out with ``map``, and follow them.

A function job is sent by reference (``module:qualname``) with its code in a snapshot of the
working directory, uploaded once per project and digest (``HEAD`` first, ``PUT`` only when the
server lacks it); its arguments travel in the payload codec, which refuses anything that would
need pickle. Everything is checked here before the first request, so a refused submit leaves
nothing on the server.

A client without a URL serves its app in this process without a socket, but jobs need a real
server: workers call back over HTTP and the scheduler runs in the server's lifespan. Such a
client starts a loopback server on the same home on its first compute call
(``corridor.client.loopback``) and stops it when the client closes.

Without ``project=``, jobs go to the project ``default``, as runs do, created on first use.
"""

from __future__ import annotations

import base64
import datetime as dt
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

import httpx
from pydantic import TypeAdapter, ValidationError

from corridor.client.connection import Connection
from corridor.client.default_project import DEFAULT_PROJECT, ensure_default_project
from corridor.client.job_future import JobFailed, JobFuture, wait_deadline
from corridor.compute.function_ref import FunctionRef, reference_of
from corridor.compute.sansio import payload, payload_datasets
from corridor.compute.sansio.states import TERMINAL
from corridor.compute.schemas import (
    LONG_POLL_S,
    EnergyRow,
    ExplainOut,
    JobOut,
    JobSubmit,
    Objective,
    ReportKey,
    SiteOut,
)
from corridor.errors import CorridorError, InvalidInput

if TYPE_CHECKING:
    from corridor.client.loopback import LoopbackServer
    from corridor.compute.snapshot import Snapshot

# What SDK users import from here: DatasetInput marks an argument as a dataset to read.
DatasetInput = payload.DatasetInput
__all__ = ["ComputeClient", "DatasetInput", "JobFailed", "JobFuture", "JobOptions", "LogSlice"]

_RESOURCE_KEYS = frozenset({"cpus", "memory", "gpus", "gpu_type"})


class JobOptions(TypedDict, total=False):
    """What a job needs and how it is placed and retried (the keyword options of every submit)."""

    resources: Mapping[str, object] | None
    cpus: float | None
    memory: int | str | None
    gpus: float | None
    gpu_type: str | None
    workers: int | None
    site: str | None
    objective: Objective | None
    deadline: dt.datetime | str | None
    deferrable: bool
    retries: int
    backoff_s: float
    timeout: float | str | None
    env: Mapping[str, str] | None
    priority: int
    project: str | None
    name: str | None
    run_id: str | None
    datasets: Sequence[str] | None
    workdir: str | Path | None


@dataclass(frozen=True)
class LogSlice:
    """Bytes of a job's log from ``offset``, where the next read starts, and the job's state."""

    data: bytes
    next_offset: int
    state: str
    attempt: int | None


class ComputeClient:
    """Compute calls over a client's connection (``client.compute`` is one)."""

    def __init__(self, client: Connection) -> None:
        self.client = client
        self._loopback: LoopbackServer | None = None
        self._lock = threading.Lock()
        self._uploaded: set[tuple[str, str]] = set()
        self._default_ready = False

    # Connection: the client's own, or a loopback server for an in-process client.
    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request to the server that runs jobs; errors become ``CorridorError``s."""
        if not self.client.in_process:
            return self.client.request(method, path, **kwargs)
        with self._lock:
            if self._loopback is None:
                from corridor.client.loopback import LoopbackServer

                self._loopback = LoopbackServer.start(self.client)
            loopback = self._loopback
        return loopback.request(method, path, **kwargs)

    def close(self) -> None:
        """Stop the loopback server, if this client started one."""
        with self._lock:
            loopback, self._loopback = self._loopback, None
        if loopback is not None:
            loopback.stop()

    # Submitting.
    def submit(
        self,
        fn: Callable[..., object],
        /,
        *args: object,
        resources: Mapping[str, object] | None = None,
        cpus: float | None = None,
        memory: int | str | None = None,
        gpus: float | None = None,
        gpu_type: str | None = None,
        workers: int | None = None,
        site: str | None = None,
        objective: Objective | None = None,
        deadline: dt.datetime | str | None = None,
        deferrable: bool = False,
        retries: int = 0,
        backoff_s: float = 1.0,
        timeout: float | str | None = None,
        env: Mapping[str, str] | None = None,
        priority: int = 0,
        project: str | None = None,
        name: str | None = None,
        run_id: str | None = None,
        datasets: Sequence[str] | None = None,
        workdir: str | Path | None = None,
        **kwargs: object,
    ) -> JobFuture:
        """Run ``fn(*args, **kwargs)`` as a job; the future's ``result()`` is its return value.

        ``fn`` must be importable by name from ``workdir`` (default: the current folder, whose
        snapshot is uploaded) or from an installed package. Arguments and the result must be
        JSON values, Arrow tables, numpy arrays, tensors, bytes or ``DatasetInput``s.
        """
        options: JobOptions = {
            "resources": resources, "cpus": cpus, "memory": memory, "gpus": gpus,
            "gpu_type": gpu_type, "workers": workers, "site": site, "objective": objective,
            "deadline": deadline,
            "deferrable": deferrable, "retries": retries, "backoff_s": backoff_s,
            "timeout": timeout, "env": env, "priority": priority, "name": name,
            "run_id": run_id, "datasets": datasets,
        }  # fmt: skip
        root = _root(workdir)
        ref = reference_of(fn, root)
        name = self.project_name(project)
        snapshot = self._snapshot_for(ref, root, name)
        return self.submit_function(
            ref, args, kwargs, project=name, snapshot=snapshot, options=options
        )

    def submit_function(
        self,
        ref: FunctionRef,
        args: Sequence[object] = (),
        kwargs: Mapping[str, object] | None = None,
        /,
        *,
        project: str,
        snapshot: Snapshot | None = None,
        options: JobOptions | None = None,
    ) -> JobFuture:
        """Run the function ``ref`` names with ``snapshot`` as its code (uploaded unless the
        project has it), placed and retried as ``options`` say (their ``project`` and
        ``workdir`` aside): a library's installed function can so run over the caller's
        folder, as the trainer's job does with the user's model factories."""
        call = payload.Call(tuple(args), dict(kwargs or {}))
        data = payload.encode_call(call.args, call.kwargs)
        refs = payload_datasets.dataset_refs(call)
        body = _body(options or {}, function=ref, input_data=data, dataset_refs=refs)
        if snapshot is not None:
            self.upload_snapshot(project, snapshot)
            body["snapshot"] = snapshot.digest
        return JobFuture(self, self._post_job(project, body))

    def submit_command(
        self,
        argv: Sequence[str],
        *,
        snapshot: bool = True,
        **options: Unpack[JobOptions],
    ) -> JobFuture:
        """Run ``argv`` as a job, in a snapshot of ``workdir`` unless ``snapshot=False``."""
        if isinstance(argv, str) or not argv:
            raise InvalidInput(
                "a command is a non-empty list of arguments, e.g. ['python', 'x.py']"
            )
        body = _body(options, command=list(argv))
        project = self.project_name(options.get("project"))
        if snapshot:
            built = self.build_snapshot(_root(options.get("workdir")))
            self.upload_snapshot(project, built)
            body["snapshot"] = built.digest
        return JobFuture(self, self._post_job(project, body))

    def map(
        self,
        fn: Callable[[Any], object],
        items: Iterable[object],
        *,
        max_parallel: int | None = None,
        chunk_size: int | None = None,
        ordered: bool = True,
        progress: bool | Callable[[int, int], None] | None = None,
        **options: Unpack[JobOptions],
    ) -> Iterator[object]:
        """``fn(item)`` for every item, run as jobs of several items each; yields the results.

        In item order (``ordered=True``) or as jobs finish. An item that raised is re-raised as
        ``JobFailed`` naming its index, its job and the remote traceback when the iteration
        reaches it. Every item is encoded before anything is submitted; all chunks go in one
        request unless ``max_parallel`` caps the jobs in flight. A progress bar shows on stderr
        when it is a terminal (``progress=False`` hides it; a callable gets ``(done, total)``).
        """
        from corridor.client.compute_map import MapRun

        listed = list(items)
        root = _root(options.get("workdir"))
        ref = reference_of(fn, root)
        target = None if chunk_size or max_parallel else self._room_for(options)
        run = MapRun.plan(
            listed,
            chunk_size=chunk_size,
            max_parallel=max_parallel,
            **({"target_jobs": target} if target else {}),
        )
        bodies = []
        name = options.get("name") or ref.qualname
        for first, chunk_data, refs in run.encoded_chunks():
            chunk_options: JobOptions = {**options, "name": f"{name}[{first}]"[:128]}
            bodies.append(
                _body(chunk_options, function=ref, input_data=chunk_data, dataset_refs=refs)
            )
        project = self.project_name(options.get("project"))
        snapshot = self._snapshot_for(ref, root, project)
        if snapshot is not None:
            for body in bodies:
                body["snapshot"] = snapshot.digest
        return run.results(self, project, bodies, ordered=ordered, progress=progress)

    def _room_for(self, options: JobOptions) -> int | None:
        """How many jobs of these options the sites could run at once now (free CPUs over the
        CPUs one asks for), or None when the sites cannot be read."""
        resources = options.get("resources") or {}
        cpus = options.get("cpus") or resources.get("cpus") or 1.0
        if not isinstance(cpus, int | float) or cpus <= 0:
            return None  # the submit refuses it with the reason
        site = options.get("site") or resources.get("site")
        try:
            sites = self.sites()
        except CorridorError:
            return None
        room = sum(
            int((s.capacity.cpus - s.used.cpus) // cpus)
            for s in sites
            if s.up and (site is None or s.name == site)
        )
        return room if room > 0 else None

    def submit_batch(self, project: str, bodies: Sequence[Mapping[str, object]]) -> list[JobOut]:
        """Queue several job bodies (JobSubmit fields) in one request: all or none."""
        response = self.request(
            "POST", f"/api/v1/projects/{project}/jobs/batch", json={"jobs": list(bodies)}
        )
        return TypeAdapter(list[JobOut]).validate_python(response.json())

    # Snapshots.
    def upload_snapshot(self, project: str, snapshot: Snapshot) -> bool:
        """Make sure ``project`` holds ``snapshot``; True if it had to be uploaded."""
        key = (project, snapshot.digest)
        if key in self._uploaded:
            return False
        path = f"/api/v1/snapshot-uploads/{project}/{snapshot.digest}"
        try:
            self.request("HEAD", path)
            uploaded = False
        except CorridorError as exc:
            # A reply to HEAD has no body, so its 404 arrives without the error's code.
            if exc.status_code != 404:
                raise
            headers = {"content-type": "application/gzip"}
            self.request("PUT", path, content=snapshot.data, headers=headers)
            uploaded = True
        self._uploaded.add(key)
        return uploaded

    def build_snapshot(self, root: Path) -> Snapshot:
        from corridor.compute.snapshot import build_snapshot

        settings = self.client.settings
        return build_snapshot(root, max_bytes=settings.max_snapshot_bytes, exclude=[settings.home])

    def _snapshot_for(self, ref: FunctionRef, root: Path, project: str) -> Snapshot | None:
        if ref.source != "snapshot":
            return None
        built = self.build_snapshot(root)
        if ref.module not in built.modules:
            raise InvalidInput(
                f"function {ref} is not importable from the snapshot of {root}: its module is "
                "not in it (left out by .gitignore, or outside the folder?)"
            )
        self.upload_snapshot(project, built)
        return built

    def project_name(self, project: str | None) -> str:
        """``project``, or ``default`` (created on first use, as the tracking calls do)."""
        if project is not None:
            return project
        if not self._default_ready:
            ensure_default_project(self.client)
            self._default_ready = True
        return DEFAULT_PROJECT

    def _post_job(self, project: str, body: Mapping[str, object]) -> JobOut:
        response = self.request("POST", f"/api/v1/projects/{project}/jobs", json=dict(body))
        return JobOut.model_validate(response.json())

    # Following jobs.
    def jobs(
        self,
        project: str | None = None,
        *,
        state: str | None = None,
        limit: int | None = None,
        page_token: str | None = None,
    ) -> list[JobOut]:
        """Jobs of ``project`` (default: ``default``), newest first, optionally in one state."""
        params: dict[str, object] = {}
        if state is not None:
            params["state"] = state
        if limit is not None:
            params["limit"] = limit
        if page_token is not None:
            params["page_token"] = page_token
        project = project or DEFAULT_PROJECT
        response = self.request("GET", f"/api/v1/projects/{project}/jobs", params=params)
        return TypeAdapter(list[JobOut]).validate_python(response.json())

    def job(self, job_id: str) -> JobOut:
        return JobOut.model_validate(self.request("GET", f"/api/v1/jobs/{job_id}").json())

    def future(self, job_id: str) -> JobFuture:
        """A future for a job submitted earlier (by id)."""
        return JobFuture(self, self.job(job_id))

    def wait(self, job_id: str, timeout_s: float | None = None) -> JobOut:
        """The job once it has ended, or as it is when ``timeout_s`` has passed (None: no limit)."""
        deadline = wait_deadline(timeout_s)
        while True:
            left = (
                LONG_POLL_S if deadline is None else min(LONG_POLL_S, deadline - time.monotonic())
            )
            response = self.request(
                "GET",
                f"/api/v1/jobs/{job_id}/wait",
                params={"timeout_s": round(max(left, 0.0), 3)},
                timeout=LONG_POLL_S + 30.0,
            )
            job = JobOut.model_validate(response.json())
            if job.state in TERMINAL or (deadline is not None and time.monotonic() >= deadline):
                return job

    def result_bytes(self, job_id: str) -> bytes:
        """The result payload of a succeeded function job, as stored."""
        return self.request("GET", f"/api/v1/jobs/{job_id}/result").content

    def result(self, job_id: str, timeout_s: float | None = None) -> object:
        """The decoded result of a job (waits for it; JobFailed if it failed)."""
        return self.future(job_id).result(timeout_s)

    def cancel(self, job_id: str) -> JobOut:
        return JobOut.model_validate(self.request("POST", f"/api/v1/jobs/{job_id}/cancel").json())

    def explain(self, job_id: str) -> ExplainOut:
        """The candidate sites, their scores and why the scheduler chose as it did."""
        return ExplainOut.model_validate(
            self.request("GET", f"/api/v1/jobs/{job_id}/explain").json()
        )

    def logs(
        self, job_id: str, *, offset: int = 0, attempt: int | None = None, follow: bool = False
    ) -> LogSlice:
        """The job's log bytes from ``offset``, exactly as written (``follow``: wait for more)."""
        params: dict[str, object] = {"offset": offset, "follow": follow}
        if attempt is not None:
            params["attempt"] = attempt
        response = self.request(
            "GET", f"/api/v1/jobs/{job_id}/logs", params=params, timeout=LONG_POLL_S + 30.0
        )
        headers = response.headers
        number = headers.get("x-corridor-attempt")
        return LogSlice(
            data=response.content,
            next_offset=int(headers.get("x-corridor-next-offset", offset + len(response.content))),
            state=headers.get("x-corridor-job-state", ""),
            attempt=int(number) if number and number.isdigit() else None,
        )

    def follow_logs(self, job_id: str, *, attempt: int | None = None) -> Iterator[bytes]:
        """Yield the job's log bytes as they are written, until the job has ended.

        Without ``attempt``, follows the latest attempt, and moves on to a retry's log (which
        starts again at offset zero) once the attempt it was reading has nothing more.
        """
        pinned = attempt is not None
        offset = 0
        while True:
            part = self.logs(job_id, offset=offset, attempt=attempt, follow=True)
            if part.data:
                yield part.data
            offset = part.next_offset
            if attempt is None:
                attempt = part.attempt
            if part.data:
                continue
            if not pinned and attempt is not None:
                latest = self.job(job_id).attempts
                if latest > attempt:
                    attempt, offset = latest, 0
                    continue
            if part.state in TERMINAL:
                return

    # Sites and energy.
    def sites(self) -> list[SiteOut]:
        """Every site with its capacity, what is in use, and its price and carbon now."""
        return TypeAdapter(list[SiteOut]).validate_python(
            self.request("GET", "/api/v1/sites").json()
        )

    def energy_report(
        self, by: ReportKey = "project", project: str | None = None
    ) -> list[EnergyRow]:
        """Energy, carbon and cost of finished jobs summed by project, site, day or run."""
        params: dict[str, str] = {"by": by}
        if project is not None:
            params["project"] = project
        response = self.request("GET", "/api/v1/energy/report", params=params)
        return TypeAdapter(list[EnergyRow]).validate_python(response.json())


def _root(workdir: str | Path | None) -> Path:
    root = Path(workdir) if workdir is not None else Path.cwd()
    if not root.is_dir():
        raise InvalidInput(f"workdir {root} is not a folder")
    return root.resolve()


def _body(
    options: JobOptions,
    *,
    command: list[str] | None = None,
    function: FunctionRef | None = None,
    input_data: bytes | None = None,
    dataset_refs: Sequence[str] = (),
) -> dict[str, object]:
    """A JobSubmit body from the keyword options, checked against the schema before sending."""
    fields: dict[str, object] = {}
    resources = dict(options.get("resources") or {})
    unknown = set(resources) - _RESOURCE_KEYS
    if unknown:
        raise InvalidInput(
            f"unknown resource {sorted(unknown)[0]!r}; resources are cpus, memory, gpus, gpu_type"
        )
    fields.update(resources)
    for key in ("cpus", "memory", "gpus", "gpu_type", "workers"):
        value = options.get(key)
        if value is not None:
            fields[key] = value
    for key in ("site", "objective", "timeout", "name", "run_id"):
        value = options.get(key)
        if value is not None:
            fields[key] = value
    deadline = options.get("deadline")
    if deadline is not None:
        fields["deadline"] = deadline
    for key in ("deferrable", "retries", "backoff_s", "priority"):
        if key in options:
            fields[key] = options[key]  # type: ignore[literal-required]
    fields["env"] = dict(options.get("env") or {})
    datasets = list(options.get("datasets") or [])
    fields["datasets"] = [*datasets, *(r for r in dataset_refs if r not in datasets)]
    if command is not None:
        fields["command"] = command
    if function is not None:
        fields["function"] = {
            "module": function.module, "qualname": function.qualname, "source": function.source,
        }  # fmt: skip
    if input_data is not None:
        fields["input_b64"] = base64.b64encode(input_data).decode("ascii")
    try:
        checked = JobSubmit.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "job"
        raise InvalidInput(f"{where}: {first['msg']}") from None
    return checked.model_dump(mode="json", exclude_none=True)
