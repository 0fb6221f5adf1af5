"""`kill -9` of a process mid-write leaves no user plaintext in the home, and restarts sweep up.

Real processes on a real home: a `corridor server` receiving a slow upload, and small writer
processes that hold a workspace and a blob write open (one killed, one left running) while the
server restarts and sweeps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx

from corridor.store.owner_lock import FOLDER_OWNER
from tests.conftest import LiveServer, sqlite_only

WAIT_S = 60.0
LINES_BEFORE_STALL = 40_000  # about 3 MB: far more than any write buffer in between
HOUR_AGO = time.time() - 3600

# A process holding what the server's sweep must judge: a workspace with a named file (as
# where /proc does not reopen files, or as an older server left them) and a blob write.
WRITER = """
import sys
from pathlib import Path
from corridor.data import staging
from corridor.store.blobs.local import LocalRawStore
home, marker = Path(sys.argv[1]), sys.argv[2].encode()
staging._reopens = False
space = staging.Workspace(home / "tmp")
space.file("raw").write_bytes(marker * 1000)
writer = LocalRawStore(home / "blobs").open_write()
writer.write(b"ciphertext " * 1000)
print(space.path, flush=True)
sys.stdin.readline()
writer.write(b"the end")
writer.commit("test/" + marker.decode())
space.close()
"""


def _files_holding(home: Path, needle: bytes) -> list[Path]:
    found = []
    for path in home.rglob("*"):
        if path.is_file() and not path.is_symlink() and needle in path.read_bytes():
            found.append(path)
    return found


def _staged_by(pid: int, folder: Path, needle: bytes) -> bool:
    """Whether process ``pid`` holds open, under ``folder``, a file whose bytes hold ``needle``."""
    fds = Path(f"/proc/{pid}/fd")
    for fd in fds.iterdir():
        try:
            if not os.readlink(fd).startswith(str(folder)):
                continue
            with fd.open("rb") as f:
                if needle in f.read():
                    return True
        except OSError:
            continue  # closed meanwhile
    return False


class SlowUpload(threading.Thread):
    """POST a CSV whose every line holds ``marker``, stalling part way until ``release``."""

    def __init__(self, live: LiveServer, marker: str) -> None:
        super().__init__(daemon=True)
        self.live, self.marker = live, marker
        self.release = threading.Event()
        self.outcome: str | None = None

    def body(self) -> Iterator[bytes]:
        yield b"id,secret\n"
        for i in range(LINES_BEFORE_STALL):
            yield f"{i},{self.marker}-{i}\n".encode()
        self.release.wait(WAIT_S)
        yield f"-1,{self.marker}-last\n".encode()

    def run(self) -> None:
        try:
            with self.live.client() as http:
                reply = http.post("/api/v1/dataset-uploads/p/secrets", content=self.body())
            self.outcome = f"reply {reply.status_code}"
        except httpx.TransportError as exc:
            self.outcome = f"cut: {type(exc).__name__}"


@sqlite_only
def test_kill_9_mid_upload_leaves_no_plaintext_under_the_home(live_server: LiveServer) -> None:
    home, marker = live_server.home, f"plaintext-{uuid.uuid4().hex}"
    with live_server.client() as http:
        assert http.post("/api/v1/projects", json={"name": "p"}).status_code == 201
    upload = SlowUpload(live_server, marker)
    upload.start()
    pid = live_server.process.process.pid
    deadline = time.monotonic() + WAIT_S
    # The server has the bytes in its staging folder, in plain text, in a file it holds open.
    while not _staged_by(pid, home / "tmp", f"{marker}-{LINES_BEFORE_STALL // 2}".encode()):
        assert time.monotonic() < deadline, "the upload never reached the staging folder"
        assert upload.is_alive(), upload.outcome
        time.sleep(0.05)
    assert _files_holding(home, marker.encode()) == []  # yet no file under the home has a name

    live_server.process.kill()  # SIGKILL, mid-upload
    upload.release.set()
    upload.join(WAIT_S)
    assert str(upload.outcome).startswith("cut"), upload.outcome
    assert _files_holding(home, marker.encode()) == []

    leftovers = list((home / "tmp").iterdir())
    assert leftovers, "the killed server's workspace folder should still be there"
    for folder in leftovers:  # past the minimum age, so that the next start may judge them
        for path in (folder / FOLDER_OWNER, folder):
            os.utime(path, (HOUR_AGO, HOUR_AGO))
    live_server.start()
    assert list((home / "tmp").iterdir()) == []
    with live_server.client() as http:
        assert http.get("/api/v1/projects/p/datasets/secrets").status_code == 404


def _start_writer(home: Path, marker: str) -> tuple[subprocess.Popen[str], Path]:
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(home), marker],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    folder = Path(writer.stdout.readline().strip())
    assert folder.is_dir(), f"the writer did not start (exit {writer.poll()})"
    return writer, folder


def _age_all(*folders: Path) -> None:
    for folder in folders:
        for path in [*folder.iterdir(), folder]:
            os.utime(path, (HOUR_AGO, HOUR_AGO))


@sqlite_only
def test_server_start_sweeps_dead_processes_leftovers_and_spares_a_live_writer(
    live_server: LiveServer,
) -> None:
    home, dead_marker, live_marker = live_server.home, uuid.uuid4().hex, uuid.uuid4().hex
    live_server.stop()
    dead, dead_folder = _start_writer(home, dead_marker)
    dead.kill()  # SIGKILL: its workspace and its blob write stay behind, unheld
    dead.communicate()
    live, live_folder = _start_writer(home, live_marker)
    try:
        blob_tmp = home / "blobs" / "tmp"
        assert len(list(blob_tmp.iterdir())) == 2
        _age_all(dead_folder, live_folder, blob_tmp)  # old, all of them: only liveness differs
        assert len(_files_holding(home, dead_marker.encode())) == 1

        live_server.start()

        assert not dead_folder.exists()
        assert _files_holding(home, dead_marker.encode()) == []
        assert (live_folder / "raw").read_bytes() == live_marker.encode() * 1000
        assert len(list(blob_tmp.iterdir())) == 1  # the live writer's
        live.communicate("finish\n", timeout=WAIT_S)
        assert live.returncode == 0  # its blob write commits: nothing was taken from it
        assert (home / "blobs" / "test" / live_marker).read_bytes().endswith(b"the end")
        assert not live_folder.exists()
    finally:
        if live.poll() is None:
            live.kill()
            live.communicate()
    logged = [
        json.loads(line)
        for line in live_server.log_path.read_text().splitlines()
        if "staging leftovers" in line
    ]
    assert logged, "the sweep should log what it removed"
    assert logged[-1]["workspaces_removed"] == 1
    assert logged[-1]["workspace_bytes"] == len(dead_marker) * 1000
    assert logged[-1]["blob_temporaries_removed"] == 1
    assert dead_marker not in live_server.log_path.read_text()
