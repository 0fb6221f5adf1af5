"""Run the server under uvicorn, with graceful shutdown on SIGTERM and SIGINT."""

from __future__ import annotations

import importlib
import logging
import signal
import sys
import threading
from types import FrameType

import uvicorn

from corridor.config import Settings
from corridor.home import require_initialised
from corridor.logs import configure_logging
from corridor.runtime import Runtime
from corridor.security.credentials import prepare_password_checks
from corridor.server.app import create_app
from corridor.store.staging_sweep import sweep_at_start

log = logging.getLogger("corridor.server")


def _implementations() -> dict[str, str]:
    """Which event loop and HTTP parser uvicorn's "auto" picks here."""
    found = {}
    for name, fallback, key in (("uvloop", "asyncio", "loop"), ("httptools", "h11", "http")):
        try:
            importlib.import_module(name)
            found[key] = name
        except ImportError:
            found[key] = fallback
    return found


def _stop_cleanly(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)


def serve(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    """Serve until signalled; requests in flight get ``shutdown_timeout_s`` to finish.

    SIGTERM is how service managers ask for a stop, so it ends the process with status 0.
    """
    if threading.current_thread() is threading.main_thread():
        # uvicorn shuts down gracefully and then re-raises the signal it caught, which would
        # kill the process with it; this handler (also the one in force before uvicorn takes
        # over, during migrations) turns that into a normal exit instead.
        signal.signal(signal.SIGTERM, _stop_cleanly)
    # The settings say where this server listens (workers are told to call back there).
    settings = settings.model_copy(
        update={"host": host or settings.host, "port": settings.port if port is None else port}
    )
    configure_logging(settings.log_level, as_json=settings.log_json)
    require_initialised(settings)
    prepare_password_checks()
    runtime = Runtime(settings)
    try:
        # What a killed predecessor left half-written (another live process's files stay).
        sweep_at_start(settings.home, runtime.blobs.raw)
        config = uvicorn.Config(
            create_app(runtime),
            host=settings.host,
            port=settings.port,
            log_config=None,
            # Our middleware writes the access log; uvicorn's would include query strings.
            access_log=False,
            timeout_graceful_shutdown=int(settings.shutdown_timeout_s),
            server_header=False,
            # "auto" takes uvloop's event loop and httptools' HTTP parser when they are
            # installed (both are dependencies, so normally they are), else asyncio and h11;
            # the serving gateway's hot path is faster with the first pair.
            loop="auto",
            http="auto",
        )
        log.info("event loop and HTTP parser", extra=_implementations())
        uvicorn.Server(config).run()
    finally:
        runtime.close()
