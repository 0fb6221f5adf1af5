"""One scheduler tick against the database: sweep, read, decide (pure), write, launch.

Everything the decision needs is read from the database each tick (the due queue, and the
resources each site's placed and running attempts hold), so a restarted server schedules from
exactly the state the previous one left. The pure `Scheduler` keeps its sorted queue between
ticks, so a tick costs little more than the jobs that changed.

Each placement is its own write transaction (the job becomes placed, its attempt row with a
lease and a job token, the explanation), committed before the executor is asked to launch:
a crash between the two leaves a placed attempt whose lease runs out and is retried, never a
worker the database does not know. Executor handles live in this object only; after a restart
the surviving workers are known through their heartbeats.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import math
import threading
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from corridor.compute import attempts
from corridor.compute.executors.base import Assignment, Executor, Handle
from corridor.compute.models import Attempt, Job
from corridor.compute.sansio.placement import Decision, QueuedJob, Scheduler, SiteView
from corridor.compute.sansio.resources import NOTHING, Resources
from corridor.compute.sansio.states import JobState
from corridor.config import CONFIG_FILE_NAME, Settings
from corridor.security import identity
from corridor.security.models import Project
from corridor.store.base import utcnow

if TYPE_CHECKING:
    from corridor.compute.sites import Site
    from corridor.runtime import Runtime

log = logging.getLogger("corridor.compute")

WAITING = (JobState.QUEUED.value, JobState.RETRYING.value)
HOLDING = (JobState.PLACED.value, JobState.RUNNING.value)
DEFAULT_EXPECTED_DURATION_S = 600.0
# A worker that has exited while its attempt is still live had this long to send its last
# report (it sends it before exiting): past it, the attempt is lost without waiting for a lease.
EXIT_REPORT_S = 2.0
# An ended attempt whose worker still runs this long after is stopped by its executor.
ENDED_KILL_S = 5.0
POLL_EVERY_S = 1.0
REOPEN_EXECUTOR_S = 30.0
SWEEP_EVERY_S = 0.5
# Expired job tokens are deleted after a while (kept a bit, for whoever reads the audit log).
TOKEN_SWEEP_EVERY_S = 60.0
TOKEN_KEEP = dt.timedelta(hours=1)


# Sites, read once per change of corridor.toml (the API and the loop share the table).

_sites_lock = threading.Lock()
_sites_cache: dict[Path, tuple[float, dict[str, Site]]] = {}


def current_sites(settings: Settings) -> dict[str, Site]:
    """The sites of ``settings``' home, re-read when its corridor.toml changes."""
    from corridor.compute.sites import load_sites

    path = settings.home / CONFIG_FILE_NAME
    try:
        stamp = path.stat().st_mtime
    except OSError:
        stamp = -1.0
    with _sites_lock:
        cached = _sites_cache.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
    sites = load_sites(settings)
    with _sites_lock:
        _sites_cache[path] = (stamp, sites)
    return sites


# What the loop last learnt of each site's executor (up, discovered capacity), by home and
# site name, for the sites listing of the same process.
_site_state: dict[tuple[Path, str], tuple[bool, Resources | None]] = {}


def site_state(settings: Settings, name: str) -> tuple[bool, Resources | None]:
    """Whether the loop could reach the site's executor, and the capacity it discovered."""
    return _site_state.get((settings.home, name), (True, None))


def advertised_url(settings: Settings) -> str:
    """The URL workers call back: ``advertise_url``, else where the server listens."""
    if settings.advertise_url:
        return settings.advertise_url.rstrip("/")
    host = settings.host
    try:
        if ipaddress.ip_address(host).is_unspecified:
            host = "127.0.0.1"  # bound to every address: this machine's workers use loopback
    except ValueError:
        pass  # a host name
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


# Reading what the tick needs.


@dataclass
class Holding:
    """What live attempts hold: per site, and per project (fair share)."""

    used: dict[str, Resources] = field(default_factory=lambda: defaultdict(lambda: NOTHING))
    releases: dict[str, list[tuple[float, Resources]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    by_project: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    # Per site, per GPU index: the share of that device live attempts hold.
    gpus: dict[str, dict[int, float]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(float))
    )


def read_holding(session: Session) -> Holding:
    """Sum the resources of every placed or running job, per site and per project."""
    rows = session.execute(
        select(
            Job.site,
            Project.name,
            Job.cpus,
            Job.memory_bytes,
            Job.gpus,
            Job.workers,
            Job.timeout_s,
            Job.placed_at,
            Job.started_at,
            Attempt.gpu_indices,
        )
        .join(Project, Project.id == Job.project_id)
        .join(Attempt, (Attempt.job_id == Job.id) & (Attempt.number == Job.attempts))
        .where(Job.state.in_(HOLDING))
    ).all()
    holding = Holding()
    for site, project, cpus, memory, gpus, workers, timeout_s, placed, started, indices in rows:
        if site is None:
            continue
        need = Resources(cpus, memory, gpus).scaled(workers)
        holding.used[site] = holding.used[site] + need
        holding.by_project[project] += need.cpus
        begun = started or placed
        if timeout_s is not None and begun is not None:
            holding.releases[site].append((begun.timestamp() + timeout_s, need))
        for index in indices or ():
            holding.gpus[site][int(index)] += min(gpus, 1.0) if gpus else 0.0
    return holding


def _queued(row: Any, project: str) -> QueuedJob:
    regions = row.regions
    datasets = row.spec.get("datasets") if isinstance(row.spec, dict) else None
    return QueuedJob(
        id=row.id,
        project=project,
        priority=row.priority,
        submitted_at=row.created_at.timestamp(),
        resources=Resources(row.cpus, row.memory_bytes, row.gpus),
        workers=row.workers,
        gpu_type=row.gpu_type,
        site=row.site_pin,
        regions=frozenset(regions) if regions is not None else None,
        objective=row.objective,
        deadline=row.deadline.timestamp() if row.deadline is not None else None,
        deferrable=row.deferrable,
        not_before=row.not_before.timestamp() if row.not_before is not None else None,
        expected_duration_s=row.timeout_s or DEFAULT_EXPECTED_DURATION_S,
        datasets=tuple(
            str(d.get("label") or d.get("ref")) for d in datasets or () if d.get("regions")
        ),
        duration_known=row.timeout_s is not None,
    )


def read_queue(session: Session) -> list[QueuedJob]:
    """Every queued or retrying job (those not yet due carry their ``not_before``)."""
    rows = session.execute(
        select(Job, Project.name)
        .join(Project, Project.id == Job.project_id)
        .where(Job.state.in_(WAITING), Job.cancel_requested.is_(False))
    ).all()
    return [_queued(job, project) for job, project in rows]


# GPU devices of local sites.


def pick_gpus(
    gpus: float, workers: int, devices: int, held: Mapping[int, float]
) -> tuple[int, ...] | None:
    """Device indices for ``workers`` workers of ``gpus`` each on a machine of ``devices``:
    whole devices no one holds, or a device with room for a fraction. None: none fit now."""
    if gpus <= 0:
        return ()
    share = dict(held)
    picked: list[int] = []
    for _ in range(workers):
        if gpus >= 1:
            free = [i for i in range(devices) if share.get(i, 0.0) <= 1e-9]
            whole = math.ceil(gpus - 1e-9)
            if len(free) < whole:
                return None
            for i in free[:whole]:
                share[i] = 1.0
                picked.append(i)
        else:
            fits = [i for i in range(devices) if share.get(i, 0.0) + gpus <= 1.0 + 1e-9]
            if not fits:
                return None
            # The fullest device that still fits: keep whole devices free for whole jobs.
            best = max(fits, key=lambda i: share.get(i, 0.0))
            share[best] = share.get(best, 0.0) + gpus
            picked.append(best)
    return tuple(picked)


def explanation(decision: Decision, objective: str, now: dt.datetime) -> dict[str, Any]:
    """A decision as stored on the job (what `corridor jobs explain` shows)."""
    return {
        "objective": objective,
        "decided_at": now.isoformat(),
        "chosen": decision.site,
        "start_at": (
            dt.datetime.fromtimestamp(decision.start_at, dt.UTC).isoformat()
            if decision.start_at is not None
            else None
        ),
        "reason": decision.reason,
        "candidates": [
            {
                "site": c.site,
                "feasible": c.feasible,
                "score": _finite(c.score),
                "why": c.why,
                "cost": _finite(c.cost),
                "carbon_g": _finite(c.carbon_g),
                "wait_s": _finite(c.wait_s),
            }
            for c in decision.candidates
        ],
    }


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


# The tick.


@dataclass
class Launched:
    site: str
    handle: Handle
    ended_seen: float | None = None
    exited_seen: float | None = None
    polled: float = 0.0


class Scheduling:
    """The scheduler of one server process: its executors, handles and pure queue."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.scheduler = Scheduler()
        self.executors: dict[str, Executor] = {}
        self.broken: dict[str, float] = {}
        self.launched: dict[tuple[str, int], Launched] = {}
        self.swept_at = -math.inf
        self.tokens_swept_at = -math.inf

    # Executors.

    def executor(self, site: Site) -> Executor | None:
        found = self.executors.get(site.name)
        if found is not None:
            return found
        failed_at = self.broken.get(site.name)
        if failed_at is not None and time.monotonic() - failed_at < REOPEN_EXECUTOR_S:
            return None
        from corridor.compute.executors.registry import open_executor

        try:
            opened = open_executor(site, self.settings)
        except Exception:
            log.exception("cannot open the executor of site %s", site.name)
            self.broken[site.name] = time.monotonic()
            return None
        self.broken.pop(site.name, None)
        self.executors[site.name] = opened
        return opened

    def close(self) -> None:
        """Let go of the executors; workers already launched keep running."""
        for name, executor in list(self.executors.items()):
            try:
                executor.close()
            except Exception:
                log.exception("closing the executor of site %s failed", name)
        self.executors.clear()

    # One tick.

    def tick(self, now: dt.datetime | None = None) -> int:
        """Sweep, then place what fits; return the number of jobs placed or deferred."""
        now = now or utcnow()
        sites = current_sites(self.settings)
        clock = time.monotonic()
        # A tick woken by a submit places at once; the sweeps keep their own pace.
        if clock - self.swept_at >= SWEEP_EVERY_S:
            self.swept_at = clock
            self.sweep(now, sites)
            self.reconcile(now)
        with self.runtime.db.read() as session:
            queue = read_queue(session)
            holding = read_holding(session)
        views = self.views(sites, holding, now)
        decisions = self.scheduler.schedule(queue, views, now.timestamp(), holding.by_project)
        by_id = {job.id: job for job in queue}
        done = 0
        for decision in decisions:
            job = by_id.get(decision.job_id)
            if job is None:
                continue
            done += self.apply(decision, job, sites, holding, now)
        return done

    def views(
        self, sites: Mapping[str, Site], holding: Holding, now: dt.datetime
    ) -> list[SiteView]:
        out = []
        for site in sites.values():
            executor = self.executor(site)
            discovered = None
            if executor is not None:
                try:
                    discovered = executor.capacity()
                except Exception:
                    log.exception("site %s: reading its capacity failed", site.name)
                    executor = None
            _site_state[(self.settings.home, site.name)] = (executor is not None, discovered)
            out.append(
                site.view(
                    now.timestamp(),
                    holding.used[site.name],
                    discovered=discovered,
                    up=executor is not None,
                    releases=tuple(sorted(holding.releases[site.name], key=lambda r: r[0])),
                )
            )
        return out

    def sweep(self, now: dt.datetime, sites: dict[str, Site]) -> None:
        """Lost leases, timeouts and unanswered cancels end their attempts."""
        lease_s = self.settings.job_lease_s
        with self.runtime.db.write() as session:
            ended = attempts.expire_leases(session, now=now, lease_s=lease_s, sites=sites)
            ended += attempts.enforce_timeouts(
                session, now=now, grace_s=lease_s + self.settings.job_heartbeat_s, sites=sites
            )
            ended += attempts.force_cancels(session, now=now, grace_s=lease_s)
            clock = time.monotonic()
            if clock - self.tokens_swept_at >= TOKEN_SWEEP_EVERY_S:
                self.tokens_swept_at = clock
                identity.delete_expired_job_tokens(session, before=now - TOKEN_KEEP)
        for key in ended:
            self.stop(key)

    def stop(self, key: tuple[str, int]) -> None:
        launched = self.launched.pop(key, None)
        if launched is None:
            return
        executor = self.executors.get(launched.site)
        if executor is not None:
            try:
                executor.cancel(launched.handle)
            except Exception:
                log.exception("stopping %s attempt %s failed", *key)

    def reconcile(self, now: dt.datetime) -> None:
        """Stop workers whose attempt ended; declare lost a live attempt whose worker exited."""
        if not self.launched:
            return
        keys = list(self.launched)
        with self.runtime.db.read() as session:
            states = {
                (job_id, number): state
                for job_id, number, state in session.execute(
                    select(Attempt.job_id, Attempt.number, Attempt.state).where(
                        Attempt.job_id.in_({k[0] for k in keys})
                    )
                )
            }
        clock = time.monotonic()
        lost: list[tuple[str, int]] = []
        for key in keys:
            launched = self.launched[key]
            state = states.get(key)
            executor = self.executors.get(launched.site)
            if state is None or executor is None:
                self.launched.pop(key, None)
                continue
            if clock - launched.polled < POLL_EVERY_S and state in attempts.LIVE:
                continue
            launched.polled = clock
            try:
                polled = executor.poll(launched.handle)
            except Exception:
                log.exception("polling %s attempt %s failed", *key)
                continue
            if state not in attempts.LIVE:
                if polled != "running":
                    self.launched.pop(key, None)
                    continue
                launched.ended_seen = launched.ended_seen or clock
                if clock - launched.ended_seen >= ENDED_KILL_S:
                    self.stop(key)
                continue
            if polled == "running":
                launched.exited_seen = None
                continue
            launched.exited_seen = launched.exited_seen or clock
            if clock - launched.exited_seen >= EXIT_REPORT_S:
                lost.append(key)
        for job_id, number in lost:
            self.launched.pop((job_id, number), None)
            with self.runtime.db.write() as session:
                attempts.worker_gone(session, job_id, number, now=now)

    def apply(
        self,
        decision: Decision,
        job: QueuedJob,
        sites: Mapping[str, Site],
        holding: Holding,
        now: dt.datetime,
    ) -> int:
        """Write one decision (and launch a placed job); 1 if the job moved."""
        stored = explanation(decision, job.objective, now)
        if decision.site is None:
            with self.runtime.db.write() as session:
                row = _waiting(session, job.id)
                if row is None:
                    return 0
                if decision.impossible:
                    row.state = JobState.FAILED.value
                    row.finished_at = now
                    row.error = decision.reason[:4000]
                    row.explanation = stored
                    self.scheduler.discard(job.id)
                    return 1
                if (row.explanation or {}).get("reason") != decision.reason:
                    row.explanation = stored
            return 0
        if decision.start_at is not None and decision.start_at > now.timestamp():
            with self.runtime.db.write() as session:
                row = _waiting(session, job.id)
                if row is None:
                    return 0
                row.not_before = dt.datetime.fromtimestamp(decision.start_at, dt.UTC)
                row.explanation = stored
            return 1
        site = sites.get(decision.site)
        executor = self.executor(site) if site is not None else None
        if site is None or executor is None:
            return 0
        indices: tuple[int, ...] = ()
        if site.executor == "local" and job.resources.gpus > 0:
            devices = int(site.capacity().gpus)
            found = pick_gpus(job.resources.gpus, job.workers, devices, holding.gpus[site.name])
            if found is None:
                return 0
            indices = found
            for i in indices:
                holding.gpus[site.name][i] += min(job.resources.gpus, 1.0)
        with self.runtime.db.write() as session:
            row = _waiting(session, job.id)
            if row is None:
                return 0
            opened = attempts.open_attempt(
                session,
                row,
                site=site.name,
                now=now,
                lease_s=self.settings.job_lease_s,
                gpu_indices=indices,
                explanation=stored,
            )
            number = opened.attempt.number
        assignment = Assignment(
            job_id=job.id,
            attempt=number,
            site=site.name,
            server_url=advertised_url(self.settings),
            token=opened.token,
            resources=job.resources,
            workers=job.workers,
            gpu_type=job.gpu_type,
            gpu_indices=indices,
        )
        try:
            handle = executor.launch(assignment)
        except Exception as exc:
            log.exception("launching %s attempt %s at %s failed", job.id, number, site.name)
            with self.runtime.db.write() as session:
                attempts.launch_failed(
                    session,
                    job.id,
                    number,
                    now=utcnow(),
                    error=f"the executor of site {site.name} could not start it: {exc}",
                )
            return 1
        self.launched[(job.id, number)] = Launched(site.name, handle)
        return 1


def _waiting(session: Session, job_id: str) -> Job | None:
    """The job, locked, if it still waits for a site (not cancelled meanwhile)."""
    row = session.scalar(select(Job).where(Job.id == job_id).with_for_update())
    if row is None or row.state not in WAITING or row.cancel_requested:
        return None
    return row
