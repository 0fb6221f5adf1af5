"""Run one function job inside its work directory: ``python -m corridor.compute.run_function``.

The worker starts this in the unpacked snapshot, as the job's own process, so the function's
output, crashes and child processes are the job's like a command's are. The function is found
by reference (``function_ref.resolve``), never unpickled; ``function_ref.invoke`` runs a call or
a map chunk, with arguments and result in ``sansio.payload``, which refuses anything that would
need pickle.

Exit status: 0 with the result payload written; 1 with the error's one-line summary written to
the error file (the traceback goes to stderr, into the job's logs); 2 for bad arguments.

``--standby`` starts the interpreter ahead of its job, for a site that preloads modules: it
imports what ``CORRIDOR_PRELOAD`` names (``torch``, say: a second and more that would otherwise
lie between submit and the function's first line), then waits for one JSON line on stdin,
``{"argv": [...], "env": {...}, "cwd": "..."}``, takes that environment and folder as its own,
and runs as a cold start with that argv would. Stdin closing first ends it quietly.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path

from corridor.compute.datasets_reader import DatasetLoader, dataset_loader
from corridor.compute.function_ref import FunctionRef, invoke, resolve
from corridor.errors import InvalidInput


def run(
    ref: FunctionRef, data: bytes | None, *, load_dataset: DatasetLoader | None = None
) -> bytes:
    """Find the function (the work directory first on ``sys.path``), call it as its input asks,
    and return the result payload; InvalidInput when it cannot be found or its result sent."""
    fn = resolve(ref, Path.cwd())
    return invoke(fn, data, load_dataset)


def standby() -> list[str] | None:
    """Import the preloads, wait for the job; its argv, or None when stdin closed first."""
    import importlib

    for name in filter(None, os.environ.get("CORRIDOR_PRELOAD", "").split(",")):
        try:
            importlib.import_module(name)
        except Exception:  # noqa: S112 - the job imports it again and meets the error there
            continue
    line = sys.stdin.readline()
    if not line.strip():
        return None
    spec = json.loads(line)
    started_in = os.getcwd()
    os.chdir(spec["cwd"])
    os.environ.clear()
    os.environ.update(spec["env"])
    # ``python -m`` put the folder it started in first on the path; a cold start's is the job's.
    if sys.path and sys.path[0] in (started_in, ""):
        sys.path[0] = os.getcwd()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    argv = spec["argv"]
    if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
        raise ValueError("a standby interpreter's argv must be a list of strings")
    return argv


def main(argv: list[str] | None = None) -> int:
    if (sys.argv[1:] if argv is None else argv) == ["--standby"]:
        argv = standby()
        if argv is None:
            return 0
    parser = argparse.ArgumentParser(prog="python -m corridor.compute.run_function")
    parser.add_argument("module")
    parser.add_argument("qualname")
    parser.add_argument("--source", default="snapshot", choices=["snapshot", "installed"])
    parser.add_argument("--input", type=Path, help="the input payload file (none: no arguments)")
    parser.add_argument("--result", type=Path, required=True)
    parser.add_argument("--error", type=Path, required=True)
    parser.add_argument(
        "--datasets", default="[]", help="JSON list of the job's dataset refs, in WorkOut order"
    )
    options = parser.parse_args(argv)
    data = options.input.read_bytes() if options.input is not None else None
    try:
        loader = dataset_loader(json.loads(options.datasets), os.environ)
        result = run(
            FunctionRef(options.module, options.qualname, options.source), data, load_dataset=loader
        )
    except InvalidInput as exc:
        # Not the function's own failure: no traceback, the message says it all.
        options.error.write_text(exc.message, encoding="utf-8")
        print(f"corridor: {exc}", file=sys.stderr)
        return 1
    except BaseException as exc:
        if isinstance(exc, SystemExit) and exc.code in (0, None):
            options.error.write_text("the function called sys.exit(0)", encoding="utf-8")
            return 1
        options.error.write_text(f"{type(exc).__name__}: {exc}", encoding="utf-8")
        traceback.print_exc()
        return 1
    options.result.write_bytes(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
