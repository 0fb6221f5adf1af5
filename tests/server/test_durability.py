"""`kill -9` of the server during writes, then a restart: every acknowledged write is there."""

from __future__ import annotations

import threading
import time

import httpx

from tests.conftest import LiveServer

WRITERS = 4
KILL_AFTER_ACKS = 40
WAIT_S = 30.0


class Writer(threading.Thread):
    """Create projects one after another until the server stops answering."""

    def __init__(self, live: LiveServer, index: int) -> None:
        super().__init__(name=f"writer-{index}", daemon=True)
        self.live = live
        self.index = index
        self.acknowledged: list[str] = []
        self.unexpected: list[str] = []

    def run(self) -> None:
        with self.live.client() as http:
            for n in range(100_000):
                name = f"w{self.index}-{n}"
                try:
                    response = http.post("/api/v1/projects", json={"name": name})
                except httpx.TransportError:
                    return
                if response.status_code == 201:
                    self.acknowledged.append(name)
                else:
                    self.unexpected.append(f"{name}: {response.status_code} {response.text}")


def test_kill_9_during_writes_loses_no_acknowledged_write(live_server: LiveServer) -> None:
    writers = [Writer(live_server, i) for i in range(WRITERS)]
    for writer in writers:
        writer.start()
    deadline = time.monotonic() + WAIT_S
    while sum(len(w.acknowledged) for w in writers) < KILL_AFTER_ACKS:
        assert time.monotonic() < deadline, "the writers made too little progress"
        assert all(w.is_alive() for w in writers), "a writer stopped before the kill"
        time.sleep(0.01)

    live_server.process.kill()  # SIGKILL, while the writers are still sending
    for writer in writers:
        writer.join(WAIT_S)
        assert not writer.is_alive()
    acknowledged = {name for w in writers for name in w.acknowledged}
    assert [problem for w in writers for problem in w.unexpected] == []
    assert len(acknowledged) >= KILL_AFTER_ACKS

    live_server.start()
    with live_server.client() as admin:
        stored = {p["name"] for p in admin.get("/api/v1/projects").json()}
        report = admin.get("/api/v1/audit/verify").json()
    assert acknowledged <= stored
    assert report["ok"], report["message"]
    # A write is audited before its reply completes: only unacknowledged ones may lack events.
    assert report["checked"] >= len(acknowledged)
