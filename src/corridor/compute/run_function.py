"""Run one function job inside its work directory: ``python -m corridor.compute.run_function``.

The worker starts this in the unpacked snapshot, as the job's own process, so the function's
output, crashes and child processes are the job's like a command's are. The function is found
by reference (``function_ref.resolve``), never unpickled; ``function_ref.invoke`` runs a call or
a map chunk, with arguments and result in ``sansio.payload``, which refuses anything that would
need pickle.

Exit status: 0 with the result payload written; 1 with the error's one-line summary written to
the error file (the traceback goes to stderr, into the job's logs); 2 for bad arguments.
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


def main(argv: list[str] | None = None) -> int:
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
