"""Run one function job inside its work directory: ``python -m corridor.compute.run_function``.

The worker starts this in the unpacked snapshot, as the job's own process, so the function's
output, crashes and child processes are the job's like a command's are. The function is found
by reference (module and qualified name, the snapshot first on ``sys.path``), never unpickled;
its arguments and result travel through ``sansio.payload``, which refuses anything that would
need pickle. A map chunk (``payload.MapChunk``) calls the function once per item and keeps going
past an item's error, so one bad item does not lose its neighbours' results.

Exit status: 0 with the result payload written; 1 with the error's one-line summary written to
the error file (the traceback goes to stderr, into the job's logs); 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from corridor.compute.datasets_reader import DatasetLoader, dataset_loader
from corridor.compute.sansio import payload
from corridor.errors import InvalidInput


class JobFailed(Exception):
    """The function could not be found or run, or its result cannot travel."""


def resolve(module: str, qualname: str) -> Callable[..., object]:
    """Import ``module`` and walk ``qualname`` to the callable it names."""
    try:
        target: object = importlib.import_module(module)
    except Exception as exc:
        raise JobFailed(f"cannot import {module!r} from the snapshot: {_summary(exc)}") from exc
    for part in qualname.split("."):
        if part == "<locals>" or not part.isidentifier():
            raise JobFailed(f"{module}:{qualname} is not importable by name")
        try:
            target = getattr(target, part)
        except AttributeError as exc:
            raise JobFailed(f"{module} has no attribute {qualname!r}") from exc
    if not callable(target):
        raise JobFailed(f"{module}:{qualname} is a {type(target).__name__}, not a function")
    return target


def _summary(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _encode(value: object, what: str) -> bytes:
    try:
        return payload.encode(value, path=what)
    except InvalidInput as exc:
        raise JobFailed(f"{exc.message}. Results may be {ALLOWED}") from exc


ALLOWED = (
    "JSON values (None, bool, int, float, str, lists, dicts with string keys), bytes, "
    "Arrow tables, numpy arrays or torch tensors"
)


def run_chunk(fn: Callable[..., object], chunk: payload.MapChunk) -> bytes:
    """Call ``fn`` on each item; a failed item keeps its error, its neighbours their results."""
    outcomes: list[payload.ItemOutcome] = []
    for item in chunk.items:
        try:
            outcomes.append((True, fn(item)))
        except Exception as exc:
            error = payload.ItemError(type(exc).__name__, str(exc), traceback.format_exc())
            outcomes.append((False, error))
    return payload.encode_map_results(outcomes, chunk.first_index)


def run(
    module: str, qualname: str, data: bytes | None, *, load_dataset: DatasetLoader | None = None
) -> bytes:
    """Find the function, call it as the input asks, and return the result payload."""
    workdir = os.getcwd()
    if sys.path[:1] != [workdir]:
        sys.path.insert(0, workdir)
    fn = resolve(module, qualname)
    job_input: payload.Call | payload.MapChunk = (
        payload.Call((), {}) if data is None else _decode(data)
    )
    if load_dataset is not None and payload.dataset_refs(job_input):
        replaced = payload.replace_datasets(job_input, load_dataset)
        assert isinstance(replaced, payload.Call | payload.MapChunk)
        job_input = replaced
    if isinstance(job_input, payload.MapChunk):
        return run_chunk(fn, job_input)
    result = fn(*job_input.args, **job_input.kwargs)
    return _encode(result, f"the result of {module}:{qualname}")


def _decode(data: bytes) -> payload.Call | payload.MapChunk:
    try:
        return payload.decode_input(data)
    except InvalidInput as exc:
        raise JobFailed(f"the job's input cannot be read: {exc.message}") from exc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m corridor.compute.run_function")
    parser.add_argument("module")
    parser.add_argument("qualname")
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
        result = run(options.module, options.qualname, data, load_dataset=loader)
    except JobFailed as exc:
        options.error.write_text(str(exc), encoding="utf-8")
        print(f"corridor: {exc}", file=sys.stderr)
        return 1
    except BaseException as exc:
        if isinstance(exc, SystemExit) and exc.code in (0, None):
            options.error.write_text("the function called sys.exit(0)", encoding="utf-8")
            return 1
        options.error.write_text(_summary(exc), encoding="utf-8")
        traceback.print_exc()
        return 1
    options.result.write_bytes(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
