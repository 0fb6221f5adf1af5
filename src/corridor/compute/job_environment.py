"""What a job inherits from the process that starts it: an allowlist, not the whole environment.

A server's environment holds its secrets (blob store credentials such as ``AWS_*``, the
database URL, a Ray cluster token), and a job runs code that any editor of its project wrote;
a worker's environment is readable by its job too (same user, ``/proc/PID/environ``). So both
the worker and the job start from the variables a program needs to find its tools, libraries
and devices, plus what Corridor sets for the attempt; anything else a job needs it declares in
its own ``env``.
"""

from __future__ import annotations

from collections.abc import Mapping

INHERITED = frozenset(
    {
        "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TERM",
        "TMPDIR", "TMP", "TEMP", "VIRTUAL_ENV", "CONDA_PREFIX", "CONDA_DEFAULT_ENV",
        "PYTHONPATH", "PYTHONHOME", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE",
        "LD_LIBRARY_PATH", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
        "HF_HOME", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "TORCH_HOME",
    }
)  # fmt: skip
# Locale, thread pools and accelerator runtimes: settings, never credentials.
INHERITED_PREFIXES = ("LC_", "OMP_", "MKL_", "OPENBLAS_", "CUDA_", "NVIDIA_", "NCCL_", "ROCR_")


def inherited(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables of ``environ`` a worker or job may see."""
    return {
        name: value
        for name, value in environ.items()
        if name in INHERITED or name.startswith(INHERITED_PREFIXES)
    }


# What Corridor sets for one attempt, passed from the worker to its job: the server's URL and
# the job-scoped token (so the job can log to its linked run), which job and attempt it is (the
# worker also finds the job's escaped processes by these), and a gang member's rank and
# rendezvous for torch.distributed.
ATTEMPT_VARIABLES = frozenset(
    {
        "CORRIDOR_URL", "CORRIDOR_JOB_ID", "CORRIDOR_JOB_ATTEMPT", "CORRIDOR_JOB_TOKEN",
        "CORRIDOR_JOB_RANK", "CORRIDOR_JOB_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
        "RANK", "WORLD_SIZE", "LOCAL_RANK",
    }
)  # fmt: skip
