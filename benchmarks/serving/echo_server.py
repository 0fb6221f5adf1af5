"""The Python HTTP limit: a plain single-process Starlette app under uvicorn that parses the
same Open Inference Protocol JSON as the other sides and returns a fixed answer.

    python benchmarks/serving/echo_server.py PORT

It uses what a careful hand-written endpoint would: uvicorn's uvloop and httptools when
installed, orjson to parse when installed (the same libraries Corridor's gateway uses), no
middleware, no logging of each request. The body is parsed and its first tensor's data read, so
the endpoint does the JSON work every other side does; the model's work is the only thing it
leaves out.
"""

from __future__ import annotations

import sys

import uvicorn
import workload
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

try:
    import orjson

    loads = orjson.loads
except ImportError:  # pragma: no cover - the peers' environment installs it
    import json

    loads = json.loads

REPLY = workload.echo_reply()


async def infer(request: Request) -> Response:
    try:
        body = loads(await request.body())
        rows = body["inputs"][0]["data"]
    except (ValueError, KeyError, IndexError, TypeError):
        return JSONResponse({"error": "malformed inference request"}, status_code=400)
    if not rows:
        return JSONResponse({"error": "empty input"}, status_code=400)
    return Response(REPLY, media_type="application/json")


async def ready(request: Request) -> Response:
    return Response(b"", status_code=200)


app = Starlette(
    routes=[
        Route("/v2/models/{name}/infer", infer, methods=["POST"]),
        Route("/v2/health/ready", ready, methods=["GET"]),
    ]
)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
