"""Encrypted blob put/open throughput against a plain copy of the same bytes on the same disk.

    .venv/bin/python benchmarks/blobs/bench_blobs.py [--size-mib 1024] [--repeat 3] [--dir DIR]

Each round writes the source file, then, back to back: a plain ``shutil.copyfileobj`` of it
into the store's folder (with the fsync a put also does), an encrypted ``put``, a plain read of
the copy, an encrypted ``open`` + read, and a bare SHA-256 of the copy. The medians of the
rounds are printed as Markdown rows; the ratios (Corridor / plain copy) are the figures to quote.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from corridor.store.blobs import BlobStore
from corridor.store.blobs.crypto import (
    create_master_key,
)
from corridor.store.blobs.local import LocalRawStore
from corridor.store.blobs.stream_cipher import (
    CHUNK_BYTES,
)

T = TypeVar("T")
DEFAULT_DIR = Path(__file__).resolve().parents[1] / ".work"


def _timed(fn: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def _write_source(path: Path, size: int) -> None:
    block = os.urandom(CHUNK_BYTES)
    with path.open("wb") as f:
        for i in range(0, size, CHUNK_BYTES):
            f.write(i.to_bytes(8, "big") + block[8 : min(CHUNK_BYTES, size - i)])


def _plain_copy(src: Path, dst: Path) -> None:
    with src.open("rb") as a, dst.open("wb") as b:
        shutil.copyfileobj(a, b, CHUNK_BYTES)
        b.flush()
        os.fsync(b.fileno())


def _drain(f: object) -> None:
    read = f.read  # type: ignore[attr-defined]
    while read(CHUNK_BYTES):
        pass


def _plain_read(path: Path) -> None:
    with path.open("rb") as f:
        _drain(f)


def _hash_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            h.update(chunk)
    return h.hexdigest()


def _put_file(store: BlobStore, path: Path) -> str:
    with path.open("rb") as f:
        return store.put(f)


def _store_read(store: BlobStore, digest: str) -> None:
    with store.open(digest) as f:
        _drain(f)


def run(work: Path, size: int, repeat: int) -> dict[str, list[float]]:
    create_master_key(work / "master.key")
    store = BlobStore(LocalRawStore(work / "blobs"), work / "master.key")
    src, copy = work / "source.bin", work / "blobs" / "plain-copy.bin"
    times: dict[str, list[float]] = {
        "plain put": [], "put": [], "plain open": [], "open": [], "sha256": []
    }  # fmt: skip
    for _ in range(repeat):
        _write_source(src, size)  # fresh content each round, so put never dedupes
        times["plain put"].append(_timed(lambda: _plain_copy(src, copy))[0])
        seconds, digest = _timed(lambda: _put_file(store, src))
        times["put"].append(seconds)
        times["plain open"].append(_timed(lambda: _plain_read(copy))[0])
        times["open"].append(_timed(lambda: _store_read(store, digest))[0])  # noqa: B023
        times["sha256"].append(_timed(lambda: _hash_file(copy))[0])
        store.delete(digest)
        copy.unlink()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="where to write")
    args = parser.parse_args()
    size = args.size_mib << 20
    args.dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        times = run(Path(tmp), size, args.repeat)
    med = {name: statistics.median(ts) for name, ts in times.items()}
    gbps = {name: size / t / 1e9 for name, t in med.items()}
    print(f"<!-- {platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]},")
    print(f"     {args.size_mib} MiB stream, median of {args.repeat} rounds;")
    print(f"     SHA-256 alone reads the copy at {gbps['sha256']:.2f} GB/s: put and open hash")
    print("     every byte, so this is their ceiling on this CPU -->")
    print("| operation | Corridor GB/s | plain copy GB/s | ratio |")
    print("|---|---:|---:|---:|")
    for op in ("put", "open"):
        plain = gbps[f"plain {op}"]
        print(f"| blob {op} (encrypted) | {gbps[op]:.2f} | {plain:.2f} | {gbps[op] / plain:.2f} |")


if __name__ == "__main__":
    main()
