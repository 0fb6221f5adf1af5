"""The serving slice's front door: the gateway, outermost of the server's middleware.

`corridor.slices` names this factory; the app factory installs it with
``app.add_middleware(front, runtime=runtime)``, so it sees every request first, answers the
inference routes itself and hands every other request on untouched.
"""

from __future__ import annotations

from starlette.types import ASGIApp

from corridor.runtime import Runtime
from corridor.serving.gateway.app import Gateway


def front(app: ASGIApp, runtime: Runtime) -> ASGIApp:
    return Gateway(app, runtime)
