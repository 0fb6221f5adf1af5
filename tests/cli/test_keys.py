from __future__ import annotations

import json
from pathlib import Path

from corridor.config import Settings
from corridor.home import init_home
from corridor.store.blobs import open_blob_store
from corridor.store.blobs.crypto import load_master_key
from tests.conftest import run_cli


def test_keys_rotate_rewraps_every_blob_and_keeps_it_readable(home: Path) -> None:
    settings = Settings(home=home)
    init_home(settings)
    blobs = open_blob_store(settings)
    payloads = [b"first" * 1000, b"second" * 3000, b"third"]
    digests = [blobs.put(p) for p in payloads]
    old = load_master_key(settings.effective_master_key_file)

    out = run_cli(home, "keys", "rotate", "--json")
    assert out.returncode == 0, out.stderr

    report = json.loads(out.stdout)
    new = load_master_key(settings.effective_master_key_file)
    assert report["old_key_id"] == old.key_id
    assert report["new_key_id"] == new.key_id != old.key_id
    assert report["rewrapped"] == len(payloads)
    fresh = open_blob_store(settings)
    for digest, payload in zip(digests, payloads, strict=True):
        with fresh.open(digest) as reader:
            assert reader.read() == payload
