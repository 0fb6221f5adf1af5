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
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from corridor.compute import attempt_sweeps, attempts
from corridor.compute.executors.base import Assignment, Executor, Handle
from corridor.compute.models import Attempt, Job
from corridor.compute.sansio.placement import Decision, QueuedJob, Scheduler, SiteView
from corridor.compute.sansio.states import JobState
from corridor.compute.scheduler_policy import load_policy
from corridor.compute.scheduler_rows import (
    WAITING,
    Holding,
    explanation,
    pick_gpus,
    read_holding,
    read_queue,
)
from corridor.compute.site_table import advertised_url, current_sites, note_site_state
from corridor.security import identity
from corridor.store.base import utcnow

if TYPE_CHECKING:
    from corridor.compute.sites import Site
    from corridor.runtime import Runtime

log = logging.getLogger("corridor.compute")

# A worker that has exited while its attempt is still live had this long to send its last
# report (it sends it before exiting): past it, the attempt is lost without waiting for a lease.
EXIT_REPORT_S = 2.0
# An ended attempt whose worker still runs this long after is stopped by its executor.
ENDED_KILL_S = 5.0
POLL_EVERY_S = 1.0
REOPEN_EXECUTOR_S = 30.0
SWEEP_EVERY_S = 0.5
PLACE_EVERY_S = 5.0
# Expired job tokens are deleted after a while (kept a bit, for whoever reads the audit log).
TOKEN_SWEEP_EVERY_S = 60.0
TOKEN_KEEP = dt.timedelta(hours=1)


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
        policy = load_policy(runtime.settings)
        self.scheduler = Scheduler(
            aging_per_s=policy.aging_per_s, project_weights=policy.project_weights
        )
        self.executors: dict[str, Executor] = {}
        self.broken: dict[str, float] = {}
        self.launched: dict[tuple[str, int], Launched] = {}
        self.swept_at = -math.inf
        self.placed_at = -math.inf
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

    def tick(self, now: dt.datetime | None = None, *, woken: bool = True) -> int:
        """Sweep, then place what fits; return the number of jobs placed or deferred.

        ``woken``: something changed the queue or freed capacity (a submit, a cancel, a job's
        end). Without it, the queue is read again only when an attempt ended here, a waiting
        job's ``not_before`` came, or `PLACE_EVERY_S` passed (capacity an executor discovered,
        a site back up): reading 10,000 queued jobs every half second would be most of a tick.
        """
        now = now or utcnow()
        sites = current_sites(self.settings)
        clock = time.monotonic()
        changed = woken
        # A tick woken by a submit places at once; the sweeps keep their own pace.
        if clock - self.swept_at >= SWEEP_EVERY_S:
            self.swept_at = clock
            changed = self.sweep(now, sites) > 0 or changed
            changed = self.reconcile(now) > 0 or changed
        due = self.scheduler.next_due()
        if (
            not changed
            and (due is None or due > now.timestamp())
            and clock - self.placed_at < PLACE_EVERY_S
        ):
            return 0
        self.placed_at = clock
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
            note_site_state(self.settings, site.name, executor is not None, discovered)
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

    def sweep(self, now: dt.datetime, sites: dict[str, Site]) -> int:
        """Lost leases, timeouts and unanswered cancels end their attempts; how many ended."""
        lease_s = self.settings.job_lease_s
        with self.runtime.db.write() as session:
            ended = attempt_sweeps.expire_leases(session, now=now, lease_s=lease_s, sites=sites)
            ended += attempt_sweeps.enforce_timeouts(
                session, now=now, grace_s=lease_s + self.settings.job_heartbeat_s, sites=sites
            )
            ended += attempt_sweeps.force_cancels(session, now=now, grace_s=lease_s)
            clock = time.monotonic()
            if clock - self.tokens_swept_at >= TOKEN_SWEEP_EVERY_S:
                self.tokens_swept_at = clock
                identity.delete_expired_job_tokens(session, before=now - TOKEN_KEEP)
        for key in ended:
            self.stop(key)
        return len(ended)

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

    def reconcile(self, now: dt.datetime) -> int:
        """Stop workers whose attempt ended; declare lost a live attempt whose worker exited
        (how many were)."""
        if not self.launched:
            return 0
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
                attempt_sweeps.worker_gone(session, job_id, number, now=now)
        return len(lost)

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
                attempt_sweeps.launch_failed(
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
