"""The scheduler glue's pure parts: GPU devices of local sites, and the URL workers call."""

from __future__ import annotations

from pathlib import Path

import pytest

from corridor.compute.scheduler_rows import pick_gpus
from corridor.compute.site_table import advertised_url
from corridor.config import Settings


def test_whole_gpus_take_free_devices_and_fractions_share_the_fullest() -> None:
    assert pick_gpus(0, 1, 4, {}) == ()
    assert pick_gpus(2, 1, 4, {0: 1.0}) == (1, 2)
    assert pick_gpus(1, 2, 2, {}) == (0, 1)
    assert pick_gpus(1, 1, 2, {0: 1.0, 1: 0.5}) is None
    # A fraction goes where a fraction is already, keeping whole devices for whole jobs.
    assert pick_gpus(0.25, 1, 2, {1: 0.5}) == (1,)
    assert pick_gpus(0.5, 2, 2, {0: 0.5}) == (0, 1)
    assert pick_gpus(0.6, 1, 1, {0: 0.5}) is None


@pytest.mark.parametrize(
    ("host", "advertise", "expected"),
    [
        ("127.0.0.1", None, "http://127.0.0.1:9000"),
        ("0.0.0.0", None, "http://127.0.0.1:9000"),
        ("::1", None, "http://[::1]:9000"),
        ("box.example", None, "http://box.example:9000"),
        ("0.0.0.0", "https://corridor.example/", "https://corridor.example"),
    ],
)
def test_workers_call_back_where_the_server_listens_unless_told(
    tmp_path: Path, host: str, advertise: str | None, expected: str
) -> None:
    settings = Settings(home=tmp_path, host=host, port=9000, advertise_url=advertise)
    assert advertised_url(settings) == expected
