"""An MLflow tracking server that stores nothing and answers at once: the client's own floor.

    python benchmarks/tracking/null_server.py --port PORT --search-runs N --history-points M

`bench_tracking.py` drives it with the same client code as the real servers. Its answers are
pre-rendered, so what the client spends against it is the client's own work (building,
sending and parsing messages): the best any server could do. Dividing that by MLflow's time
gives the highest ratio a server can reach against MLflow with this client on this machine.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

import uvicorn

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

T0_MS = 1_700_000_000_000
RUN_ID = "0123456789abcdef0123456789abcdef"


def _run(i: int) -> dict[str, Any]:
    info = {
        "run_id": RUN_ID,
        "run_uuid": RUN_ID,
        "run_name": f"r{i}",
        "experiment_id": "1",
        "user_id": "bench",
        "status": "RUNNING",
        "start_time": T0_MS,
        "artifact_uri": f"mlflow-artifacts:/1/{RUN_ID}/artifacts",
        "lifecycle_stage": "active",
    }
    data = {
        "metrics": [{"key": "score", "value": 0.75, "timestamp": T0_MS, "step": 0}],
        "params": [{"key": "i", "value": str(i)}],
        "tags": [{"key": "mlflow.runName", "value": f"r{i}"}],
    }
    return {"info": info, "data": data, "inputs": {}, "outputs": {}}


class NullServer:
    """The answers of the endpoints the benchmark calls, rendered once."""

    def __init__(self, search_runs: int, history_points: int) -> None:
        self.matching_runs = search_runs // 2  # "score > 0.5" over uniform scores
        self.history_points = history_points
        self.pages: dict[tuple[str, int, int], bytes] = {}
        self.fixed = {
            "/experiments/create": json.dumps({"experiment_id": "1"}).encode(),
            "/runs/create": json.dumps({"run": _run(0)}).encode(),
        }

    def _page(self, kind: str, offset: int, size: int) -> bytes:
        key = (kind, offset, size)
        if key not in self.pages:
            total = self.matching_runs if kind == "runs" else self.history_points
            end = min(total, offset + size)
            if kind == "runs":
                items: list[Any] = [_run(i) for i in range(offset, end)]
            else:
                items = [
                    {"key": "curve", "value": i / 7, "timestamp": T0_MS + i, "step": i}
                    for i in range(offset, end)
                ]
            body: dict[str, Any] = {kind: items}
            if end < total:
                body["next_page_token"] = str(end)
            self.pages[key] = json.dumps(body).encode()
        return self.pages[key]

    def answer(self, path: str, query: dict[str, Any], body: dict[str, Any]) -> bytes:
        for suffix, fixed in self.fixed.items():
            if path.endswith(suffix):
                return fixed
        if path.endswith("/runs/search"):
            offset = int(body.get("page_token") or 0)
            return self._page("runs", offset, int(body.get("max_results", 1000)))
        if path.endswith("/metrics/get-history"):
            offset = int((query.get("page_token") or ["0"])[0])
            return self._page("metrics", offset, int((query.get("max_results") or ["25000"])[0]))
        return b"{}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        body = json.loads(raw) if raw.strip() else {}
        query = parse_qs(scope.get("query_string", b"").decode())
        payload = self.answer(scope["path"], query, body)
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--search-runs", type=int, required=True)
    parser.add_argument("--history-points", type=int, required=True)
    args = parser.parse_args()
    app = NullServer(args.search_runs, args.history_points)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
