"""Ingest a large CSV through the in-process SDK; print the version and peak RSS as JSON.

Run by ``test_memory.py`` in a subprocess: ``python ingest_memory_probe.py HOME CSV``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from corridor.client.client import Client
from corridor.config import Settings
from corridor.data.sdk import DataClient
from corridor.home import init_home
from tests.peak_rss import peak_rss_kib


def main(home: Path, csv: Path) -> None:
    settings = Settings(home=home)
    init_home(settings)
    with Client(settings=settings) as client:
        client.create_project("big")
        out = DataClient(client).ingest(csv, "big", project="big")
    peak_kib = peak_rss_kib()
    tmp = home / "tmp"
    result = {
        "rows": out.version.row_count,
        "columns": [c.dtype for c in out.version.columns],
        "parquet_bytes": out.version.size_bytes,
        "peak_rss_mib": peak_kib / 1024,
        "temporaries_left": sorted(str(p) for p in tmp.rglob("*")) if tmp.exists() else [],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
