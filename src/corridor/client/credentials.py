"""The credentials `corridor login` keeps: server URL and token, in a 0600 file in the home."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

FILE_NAME = "credentials.json"


@dataclass(frozen=True)
class Credentials:
    url: str
    token: str


def path_in(home: Path) -> Path:
    return home / FILE_NAME


def load(home: Path) -> Credentials | None:
    path = path_in(home)
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    return Credentials(url=str(data["url"]), token=str(data["token"]))


def save(home: Path, credentials: Credentials) -> Path:
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = path_in(home)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"url": credentials.url, "token": credentials.token}, f)
    os.replace(tmp, path)
    return path


def forget(home: Path) -> bool:
    path = path_in(home)
    if path.exists():
        path.unlink()
        return True
    return False
