"""Put then read back a large blob on the local backend; print digests and peak RSS as JSON.

Run by ``test_blobs.py`` in a subprocess: ``python blob_memory_probe.py FOLDER SIZE_BYTES``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from corridor.store.blobs import BlobStore
from corridor.store.blobs.crypto import create_master_key
from corridor.store.blobs.local import LocalRawStore
from tests.peak_rss import peak_rss_kib

PIECE_BYTES = 1 << 20


def pieces(size: int) -> Iterator[bytes]:
    """Distinct 1 MiB pieces, made on demand so the source itself holds no memory."""
    block = hashlib.sha256(b"probe").digest() * (PIECE_BYTES // 32)
    for i in range(0, size, PIECE_BYTES):
        yield i.to_bytes(8, "big") + block[8 : min(PIECE_BYTES, size - i)]


def main(folder: Path, size: int) -> None:
    create_master_key(folder / "master.key")
    store = BlobStore(LocalRawStore(folder / "blobs"), folder / "master.key")
    expected = hashlib.sha256()
    for piece in pieces(size):
        expected.update(piece)
    put_digest = store.put(pieces(size))
    read, read_bytes = hashlib.sha256(), 0
    with store.open(put_digest) as f:
        for chunk in iter(lambda: f.read(PIECE_BYTES), b""):
            read.update(chunk)
            read_bytes += len(chunk)
    peak_kib = peak_rss_kib()
    leftovers = sorted(p.name for p in (folder / "blobs" / "tmp").iterdir())
    store.delete(put_digest)  # 2 GB is too much to leave in pytest's kept temp folders
    result = {
        "expected_digest": expected.hexdigest(),
        "put_digest": put_digest,
        "read_digest": read.hexdigest(),
        "read_bytes": read_bytes,
        "peak_rss_mib": peak_kib / 1024,
        "temporaries_left": leftovers,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
