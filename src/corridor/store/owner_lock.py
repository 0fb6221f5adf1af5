"""A file lock that says "a live process owns this temporary": how a sweep tells the dead apart.

A process that writes a temporary (a staging workspace, a blob's ``.part`` file) holds an
exclusive ``flock`` on it for as long as it writes. The kernel drops the lock when the process
ends, however it ends (``kill -9`` included), so a sweep that can take the lock knows the owner
is gone, while one that cannot leaves the file alone, whatever its age. This beats an age
threshold (a slow upload can stall for longer than any threshold) and pid files (pids are
reused, and say nothing about a process on another host sharing the folder).

One gap remains: between creating a file and locking it, a temporary has no owner in this
sense. Sweeps therefore also skip anything younger than a minimum age (`MIN_AGE_S`), which
covers that instant with a wide margin. ``flock`` locks belong to an open file description, so
a sweep in the owning process itself also sees its own temporaries as held.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

FOLDER_OWNER = ".owner"
"""The file inside a temporary folder whose lock its owner holds."""

MIN_AGE_S = 60.0
"""Temporaries younger than this are never swept, held or not (see the module docstring)."""


def claim(path: Path, *, create: bool = True) -> int:
    """Open ``path`` (creating it, mode 0600, if asked) and hold its lock; return the fd.

    Closing the fd releases the lock. A sweep probing the lock at this moment holds it for an
    instant only, so this waits for it rather than failing.
    """
    flags = os.O_RDWR | os.O_CLOEXEC | (os.O_CREAT if create else 0)
    fd = os.open(path, flags, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except BaseException:
        os.close(fd)
        raise
    return fd


def hold(fd: int) -> None:
    """Lock an already open file (a writer's own temporary) for this process's lifetime."""
    fcntl.flock(fd, fcntl.LOCK_EX)


def is_held(path: Path) -> bool:
    """Whether a live process holds ``path``'s lock (False if ``path`` is gone)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return False  # gone, or a link planted in its place: nobody's lock
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        return False
    finally:
        os.close(fd)  # releases the probe's own lock, if it got one
