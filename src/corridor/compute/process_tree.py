"""Killing a job's whole process tree, including processes that left its process group.

A job runs in a process group of its own, so ``killpg`` reaches everything that stayed in it.
A child that called ``setsid`` (a daemonising server, ``nohup``-like wrappers) left the group;
three nets catch it: the descendants of the process that started the job, taken *before* any
signal (once a parent dies, its children are re-parented and drop out of the tree); the worker
being a child subreaper on Linux, so orphans stay its descendants; and the job's marker in the
environment (``CORRIDOR_JOB_ID`` and ``CORRIDOR_JOB_ATTEMPT``), inherited by every process the job
starts unless it scrubs its environment. psutil is imported only here, on the kill path, to
keep the worker's start fast.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psutil

DEFAULT_GRACE_S = 3.0
PR_SET_CHILD_SUBREAPER = 36
MAX_ROUNDS = 4


def become_subreaper() -> bool:
    """Make orphaned descendants of this process re-parent to it (Linux); False elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def reap_orphans(keep: int | None) -> None:
    """Collect the exit status of finished orphans re-parented here, except ``keep``.

    ``keep`` is the job's own pid: its status belongs to its ``Popen``, which would read a
    stolen status as exit code 0.
    """
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if info is None or info.si_pid == keep or info.si_pid == 0:
            return
        try:
            os.waitpid(info.si_pid, os.WNOHANG)
        except ChildProcessError:
            return


def marked(job_id: str, attempt: int, rank: int | None = None) -> list[psutil.Process]:
    """Processes of this user whose environment carries the job's marker (and, for one member
    of a gang, its rank: the ranks on one machine are the same attempt, but one rank ending
    must not take the others with it)."""
    import psutil

    want_attempt = str(attempt)
    found = []
    me = os.getpid()
    for proc in psutil.process_iter():
        if proc.pid == me:
            continue
        try:
            env = proc.environ()
        except (psutil.Error, OSError):
            continue
        if env.get("CORRIDOR_JOB_ID") != job_id or env.get("CORRIDOR_JOB_ATTEMPT") != want_attempt:
            continue
        if rank is None or env.get("CORRIDOR_JOB_RANK", "0") == str(rank):
            found.append(proc)
    return found


def descendants(pid: int) -> list[psutil.Process]:
    """Every process below ``pid`` now (empty when ``pid`` is gone)."""
    import psutil

    try:
        return list(psutil.Process(pid).children(recursive=True))
    except psutil.Error:
        return []


def kill_tree(
    *,
    roots: Iterable[int] = (),
    groups: Iterable[int] = (),
    marker: tuple[str, int] | None = None,
    rank: int | None = None,
    own_descendants: bool = False,
    grace_s: float = DEFAULT_GRACE_S,
) -> None:
    """SIGTERM every process in ``groups``, below ``roots`` (roots included), carrying
    ``marker`` and, with ``own_descendants``, below the caller; after ``grace_s``, SIGKILL what
    is left. Never kills the caller, and never reaps a child: its ``Popen`` owns its status."""
    # A process that was forking while the first round was taken may have left a child behind:
    # go round again until a round finds nothing new.
    groups = list(groups)
    for round_number in range(MAX_ROUNDS):
        targets = _targets(roots if round_number == 0 else (), marker, rank, own_descendants)
        if not targets and round_number > 0:
            return
        _terminate(list(targets.values()), groups, grace_s)


def _targets(
    roots: Iterable[int], marker: tuple[str, int] | None, rank: int | None, own_descendants: bool
) -> dict[int, psutil.Process]:
    import psutil

    me = os.getpid()
    targets: dict[int, psutil.Process] = {}
    for root in roots:
        with contextlib.suppress(psutil.Error):
            targets[root] = psutil.Process(root)
        for proc in descendants(root):
            targets[proc.pid] = proc
    if own_descendants:
        for proc in descendants(me):
            targets.setdefault(proc.pid, proc)
    if marker is not None:
        for proc in marked(*marker, rank):
            targets.setdefault(proc.pid, proc)
    targets.pop(me, None)
    return {pid: proc for pid, proc in targets.items() if not _gone(proc)}


def _terminate(targets: list[psutil.Process], groups: Iterable[int], grace_s: float) -> None:
    own_group = os.getpgid(0)
    group_ids = [g for g in groups if g > 1 and g != own_group]
    _signal_all(group_ids, targets, signal.SIGTERM)
    if not _wait_gone(targets, grace_s):
        _signal_all(group_ids, targets, signal.SIGKILL)
        _wait_gone(targets, grace_s)


def _gone(proc: psutil.Process) -> bool:
    """Exited, or a zombie (dead, waiting only for its parent to collect its status)."""
    import psutil

    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def _wait_gone(procs: Iterable[psutil.Process], timeout_s: float) -> bool:
    waiting = list(procs)
    deadline = time.monotonic() + timeout_s
    while True:
        waiting = [p for p in waiting if not _gone(p)]
        if not waiting:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def _signal_all(groups: list[int], procs: Iterable[psutil.Process], sig: signal.Signals) -> None:
    import psutil

    for group in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, sig)
    for proc in procs:
        try:
            if not _gone(proc):
                proc.send_signal(sig)
        except psutil.Error:
            pass
