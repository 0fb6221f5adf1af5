"""The model in a worker process of its own on this machine (`worker_main`), over a socket pair.

Why a process: a model too slow to run on the gateway's event loop, or one whose library holds
the GIL, or more replicas than one interpreter can compute for. The cost is a copy of each
batch's bytes each way and a few syscalls, tens of microseconds for the MLP's batches.

The parent keeps many batches in flight on the one socket: each ``infer`` writes its frame
(whole, with no await between its parts, so frames never interleave) under a new id and waits
on a future; one reader task matches answers to futures by id. ``outstanding`` is the number of
futures not yet answered. When the child dies (kill -9, an out-of-memory kill, a crash in native
code) the kernel closes its end of the socket, the reader sees the end at once, and every batch
in flight fails with `ReplicaCrashed` right then, not after a timeout; ``healthy()`` is False
from then on, and the pool restarts the replica and sends those batches elsewhere.

The child starts with an allowlisted environment (`corridor.compute.job_environment`): the
model's code comes from the package, which any editor of its project can register, and must not
read the server's secrets. It is started from the event loop's thread: ``PR_SET_PDEATHSIG``
fires when the *thread* that forked the child ends, and the loop's thread lives as long as the
replicas it serves (a short-lived worker thread would take the child with it).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from typing import Any

from corridor.compute.job_environment import inherited
from corridor.errors import CorridorError, InvalidInput, SignatureInvalid, Unavailable
from corridor.serving.replicas import framing
from corridor.serving.replicas.base import ModelFailed, ReplicaCrashed, ReplicaSpec
from corridor.serving.replicas.loading import cpu_threads, device_of, signature_from_json
from corridor.serving.runtimes.base import ModelKind
from corridor.serving.tensors import Batch, ModelSignature

WORKER_MODULE = "corridor.serving.replicas.worker_main"
START_TIMEOUT_S = 600.0
PING_TIMEOUT_S = 5.0
# A worker that holds batches and has answered none for this long is judged hung (a deadlock in
# the model's code, a GPU that stopped answering): the pool stops it and sends them elsewhere.
STALL_S = 120.0
STOP_GRACE_S = 5.0
_ERRORS: dict[str, type[CorridorError]] = {
    cls.code: cls
    for cls in (InvalidInput, ModelFailed, Unavailable, SignatureInvalid, CorridorError)
}


class ProcessReplica:
    """One copy of a model version in a worker process."""

    def __init__(self, spec: ReplicaSpec, public_keys: Iterable[bytes], *, name: str) -> None:
        self.name = name
        self.spec = spec
        self.outstanding = 0
        self.signature = ModelSignature(inputs=(), outputs=())
        self.kind: ModelKind = "tensors"
        self._public_keys = [k.decode() for k in public_keys]
        self._process: subprocess.Popen[bytes] | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reading: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[Batch]] = {}
        self._ids = itertools.count(1)
        self._closed = False
        self._exit_note = ""
        self._progress_at = 0.0  # the last answer, or when the worker went from idle to busy
        self.stall_s = STALL_S

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    async def start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", WORKER_MODULE, "--fd", str(theirs.fileno()),
                 "--parent", str(os.getpid())],
                pass_fds=(theirs.fileno(),),
                env=inherited(os.environ),
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._reader, self._writer = await asyncio.open_unix_connection(sock=ours)
        load = {
            "op": "load",
            "id": 0,
            "name": self.spec.version_key,
            "path": str(self.spec.package_path),
            "manifest": self.spec.manifest_json.decode(),
            "public_keys": self._public_keys,
            "threads": cpu_threads(self.spec.resources),
            "device": device_of(self.spec.resources),
        }
        self._writer.write(framing.encode(load))
        try:
            header, _ = await asyncio.wait_for(self._read_frame(), START_TIMEOUT_S)
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError) as exc:
            code = await self._reap(0.5)
            raise Unavailable(
                f"replica {self.name}: its worker process ended while loading the model "
                f"(exit code {code}); the server's log has its output"
            ) from exc
        if header.get("op") != "ready":
            raise _error_from(header)
        self.signature = signature_from_json(header["signature"])
        self.kind = "embeddings" if header.get("kind") == "embeddings" else "tensors"
        self._reading = asyncio.create_task(self._read_answers(), name=f"replica-{self.name}")

    async def infer(self, inputs: Batch) -> Batch:
        return await self._call({"op": "infer"}, inputs, counted=True)

    async def _call(self, header: dict[str, Any], tensors: Batch | None, *, counted: bool) -> Batch:
        writer = self._writer
        if self._closed or writer is None:
            raise ReplicaCrashed(f"replica {self.name} is not running{self._exit_note}")
        op_id = next(self._ids)
        future: asyncio.Future[Batch] = asyncio.get_running_loop().create_future()
        self._pending[op_id] = future
        if counted:
            if not self.outstanding:
                self._progress_at = time.monotonic()
            self.outstanding += 1
        try:
            writer.write(framing.encode({**header, "id": op_id}, tensors))
            with contextlib.suppress(ConnectionError):
                await writer.drain()  # a dead child: the reader fails the future
            return await future
        finally:
            self._pending.pop(op_id, None)
            if counted:
                self.outstanding -= 1

    async def _read_frame(self) -> tuple[framing.Header, bytearray]:
        assert self._reader is not None
        head_length, body_length = framing.lengths(
            await self._reader.readexactly(framing.PREFIX.size)
        )
        header = framing.parse_header(await self._reader.readexactly(head_length))
        # A bytearray of its own: the arrays decoded from it are writable.
        body = (
            bytearray(await self._reader.readexactly(body_length)) if body_length else bytearray()
        )
        return header, body

    async def _read_answers(self) -> None:
        try:
            while True:
                header, body = await self._read_frame()
                self._progress_at = time.monotonic()
                future = self._pending.get(int(header.get("id", -1)))
                if future is None or future.done():
                    continue  # its caller gave up (cancelled) meanwhile
                if header.get("op") in ("result", "pong"):
                    future.set_result(framing.decode_tensors(header, body))
                else:
                    future.set_exception(_error_from(header))
        except (asyncio.IncompleteReadError, ConnectionError, CorridorError):
            pass
        finally:
            self._closed = True
            code = self._process.poll() if self._process is not None else None
            self._exit_note = (
                f" (its worker process exited with code {code})" if code is not None else ""
            )
            in_flight = [f for f in self._pending.values() if not f.done()]
            for future in in_flight:
                future.set_exception(
                    ReplicaCrashed(
                        f"replica {self.name}'s worker process died with {len(in_flight)} "
                        f"batch(es) in flight{self._exit_note}"
                    )
                )

    async def healthy(self) -> bool:
        if self._closed or self._process is None or self._process.poll() is not None:
            return False
        if self.outstanding:
            # A ping would queue behind the batches: the answers coming back tell instead.
            return time.monotonic() - self._progress_at < self.stall_s
        try:
            await asyncio.wait_for(self._call({"op": "ping"}, None, counted=False), PING_TIMEOUT_S)
        except (CorridorError, TimeoutError):
            return False
        return True

    async def stop(self) -> None:
        """Ask the worker to exit, kill it after a grace period; idempotent. New batches are
        refused at once; those already sent are answered first (the worker reads its frames in
        order and the stop comes last), unless the grace period runs out."""
        self._closed = True
        writer, self._writer = self._writer, None
        if writer is not None:
            with contextlib.suppress(ConnectionError, OSError, RuntimeError):
                writer.write(framing.encode({"op": "stop", "id": 0}))
                if writer.can_write_eof():
                    writer.write_eof()
        await self._reap(STOP_GRACE_S)
        reading = self._reading
        if reading is not None:
            # The worker has gone, so its end of the socket is closed: the reader reads the
            # last answers and then the end, promptly.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(reading), STOP_GRACE_S)
        if writer is not None:
            writer.close()
        if reading is not None:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading

    async def _reap(self, grace_s: float) -> int | None:
        process = self._process
        if process is None:
            return None
        try:
            return await asyncio.to_thread(process.wait, grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            return await asyncio.to_thread(process.wait)


def _error_from(header: framing.Header) -> CorridorError:
    """The error a worker answered, as the class it named (a 500 if it named another)."""
    cls = _ERRORS.get(str(header.get("code")), CorridorError)
    return cls(str(header.get("message") or "the worker process failed without a message"))
