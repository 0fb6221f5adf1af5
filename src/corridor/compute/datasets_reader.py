"""Reading a function job's declared datasets from the server, inside the job's process.

A ``DatasetInput("sales@3")`` argument arrives as a marker; the job reads the version through
its attempt's ``datasets/{index}`` route (the server applies the data slice's consumption rules
for the job's project), with the job token the worker passed down, as a pyarrow Table.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence

from corridor.compute.worker_link import AttemptAddress, WorkerLink

DatasetLoader = Callable[[str], object]


class DatasetNotDeclared(Exception):
    """The function's input names a dataset the job did not declare at submit."""


def dataset_loader(refs: Sequence[str], environ: Mapping[str, str]) -> DatasetLoader | None:
    """A loader for the job's declared ``refs``; None when the job declared none."""
    if not refs:
        return None
    address = AttemptAddress(
        environ["CORRIDOR_URL"],
        environ["CORRIDOR_JOB_ID"],
        int(environ["CORRIDOR_JOB_ATTEMPT"]),
        environ["CORRIDOR_JOB_TOKEN"],
    )
    link = WorkerLink(address)
    index_of = {ref: i for i, ref in reversed(list(enumerate(refs)))}

    def load(ref: str) -> object:
        if ref not in index_of:
            declared = ", ".join(refs)
            raise DatasetNotDeclared(
                f"dataset {ref!r} is not among the job's datasets ({declared})"
            )
        import pyarrow.parquet as pq  # type: ignore[import-untyped]

        data = link.request("GET", f"datasets/{index_of[ref]}")
        return pq.read_table(io.BytesIO(data))

    return load
