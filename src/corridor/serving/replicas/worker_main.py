"""A replica's worker process (``python -m corridor.serving.replicas.worker_main --fd N
--parent PID``).

It serves one model over the socket it inherits as fd ``N`` (`framing`): the first frame names
the package to load (path, stored manifest, the public keys to verify it with); it answers
``ready`` with the model's signature, or ``error`` and exits. Then it predicts each ``infer``
frame in order and answers it with the same id, until the socket reaches its end or a ``stop``
frame comes. One thread: batches of one replica run one at a time, and the next frames wait in
the socket's buffer meanwhile.

It dies with its parent: ``PR_SET_PDEATHSIG`` (Linux) has the kernel send it SIGKILL when the
parent goes, and on any system the parent's end of the socket closing ends the loop (a read
returns nothing). It runs in a session of its own, so a Ctrl-C at the server's terminal reaches
the server alone, which stops its replicas in order.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import sys
from io import BufferedReader
from pathlib import Path

from corridor.errors import CorridorError
from corridor.serving.replicas import framing
from corridor.serving.replicas.loading import load_model, predict_checked, signature_to_json
from corridor.serving.runtimes.base import ServedModel

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """Ask the kernel for SIGKILL when the parent dies (Linux); exit now if it already has."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(0)  # the parent went before the request above was in place


def read_frame(stream: BufferedReader) -> tuple[framing.Header, bytearray] | None:
    """The next frame, or None at the end of the stream."""
    prefix = stream.read(framing.PREFIX.size)
    if len(prefix) < framing.PREFIX.size:
        return None
    head_length, body_length = framing.lengths(prefix)
    head = stream.read(head_length)
    body = bytearray(body_length)
    if len(head) < head_length or stream.readinto(body) < body_length:
        return None
    return framing.parse_header(head), body


def error_header(op_id: int, exc: CorridorError) -> framing.Header:
    return {"op": "error", "id": op_id, "code": exc.code, "message": exc.message}


def serve(sock: socket.socket) -> int:
    stream = sock.makefile("rb")
    first = read_frame(stream)
    if first is None or first[0].get("op") != "load":
        return 2
    header = first[0]
    try:
        model: ServedModel = load_model(
            Path(header["path"]),
            str(header["manifest"]).encode(),
            [str(k).encode() for k in header["public_keys"]],
            threads=header.get("threads"),
            device=str(header.get("device") or "cpu"),
        )
    except CorridorError as exc:
        sock.sendall(framing.encode(error_header(0, exc)))
        return 1
    except Exception as exc:  # an import error of the model's own code, say
        failure = CorridorError(f"{type(exc).__name__}: {exc}")
        sock.sendall(framing.encode(error_header(0, failure)))
        return 1
    what = str(header.get("name", "model"))
    ready = {"op": "ready", "id": 0, "kind": model.kind}
    sock.sendall(framing.encode({**ready, "signature": signature_to_json(model.signature)}))
    while True:
        frame = read_frame(stream)
        if frame is None:
            return 0  # the parent closed its end (or died)
        header, body = frame
        op, op_id = header.get("op"), int(header.get("id", 0))
        if op == "infer":
            try:
                outputs = predict_checked(model, framing.decode_tensors(header, body), what)
                answer = framing.encode({"op": "result", "id": op_id}, outputs)
            except CorridorError as exc:
                answer = framing.encode(error_header(op_id, exc))
            sock.sendall(answer)
        elif op == "ping":
            sock.sendall(framing.encode({"op": "pong", "id": op_id}))
        elif op == "stop":
            return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if (
        len(args) != 4
        or args[0::2] != ["--fd", "--parent"]
        or not all(a.isdigit() for a in args[1::2])
    ):
        print(
            "usage: python -m corridor.serving.replicas.worker_main --fd N --parent PID",
            file=sys.stderr,
        )
        return 2
    die_with_parent(int(args[3]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with socket.socket(fileno=int(args[1])) as sock:
        try:
            return serve(sock)
        except (BrokenPipeError, ConnectionResetError):
            return 0  # the parent went away mid-answer


if __name__ == "__main__":
    sys.exit(main())
