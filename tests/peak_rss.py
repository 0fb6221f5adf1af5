"""Peak memory of the current process, for the subprocess probes that prove bounded memory."""

from __future__ import annotations

import resource
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def peak_rss_kib() -> int:
    """This process's peak RSS since it started (``VmHWM``).

    Not ``ru_maxrss``: Linux carries that over ``execve``, so a child spawned by a large parent
    (pytest, late in a full run) would report the parent's peak rather than its own.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
