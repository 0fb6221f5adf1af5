"""Job functions for the SDK's end-to-end tests: plain values, arrays, tables, failures."""

from __future__ import annotations

import os
import time

import numpy as np
import pyarrow as pa


def add(a: int, b: int, *, scale: int = 1) -> int:
    return (a + b) * scale


def stats(values: np.ndarray) -> dict[str, object]:
    return {"sum": float(values.sum()), "doubled": values * 2, "shape": values.shape}


def table_of(n: int, label: str) -> pa.Table:
    return pa.table({"i": list(range(n)), "label": [label] * n})


def rows_of(table: pa.Table) -> int:
    return int(table.num_rows)


def square_or_fail(x: int) -> int:
    if x == 13:
        raise ValueError(f"unlucky {x}")
    return x * x


def nap_or_fail(seconds: float | str) -> float:
    if isinstance(seconds, str):
        raise ValueError(seconds)
    time.sleep(seconds)
    return seconds


def fail_loudly(message: str) -> None:
    raise RuntimeError(message)


def env_mark() -> str | None:
    return os.environ.get("SDK_MARK")


def unsendable() -> object:
    return object()


if __name__ == "__main__":
    raise SystemExit("imported as a script: the worker must not run this block")
