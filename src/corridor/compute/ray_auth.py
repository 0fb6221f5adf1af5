"""Ray cluster access: the cluster's token, and the check that the cluster demands one.

Anyone who can reach an open Ray cluster can run any code on every one of its nodes: a Ray site
is a remote code execution service unless its cluster runs with token authentication
(``RAY_AUTH_MODE=token`` on every node). So before Corridor uses a Ray site it asks the
cluster's GCS a harmless question (its cluster id) with no token, and expects a refusal. A
cluster that answers is refused, naming the site and the one setting that accepts it
(``allow_unauthenticated = true``, for a private test cluster); a cluster that refuses is asked
again with the token, so that a wrong or missing token is reported here, in one line, rather
than as a Ray stack trace.

The probe speaks gRPC to the GCS directly instead of calling ``ray.init``: ``ray.init`` on an
open cluster would simply succeed, and on an address where nothing listens it retries for
minutes, while the probe must tell "refuses", "answers" and "unreachable" apart in seconds.

The token is looked for where Ray looks (``RAY_AUTH_TOKEN``, then the file named by
``RAY_AUTH_TOKEN_PATH``, then ``~/.ray/auth_token``), after the site's own ``auth_token_file``.
Its value is never put in this process's environment (which local jobs inherit): a token from
a file is handed to Ray by the file's path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from corridor.errors import ConfigurationError, Unavailable

if TYPE_CHECKING:
    from corridor.compute.sites import Site

PROBE_METHOD = "/ray.rpc.NodeInfoGcsService/GetClusterId"
PROBE_TIMEOUT_S = 5.0
DEFAULT_TOKEN_FILE = Path(".ray") / "auth_token"

Answer = Literal["refused", "answered"]


@dataclass(frozen=True)
class RayToken:
    """A Ray cluster token and where it was found (``source`` is said in messages)."""

    value: str = field(repr=False)
    source: str
    path: Path | None = None


def find_token(
    site: Site, environ: Mapping[str, str] | None = None, user_home: Path | None = None
) -> RayToken | None:
    """The token for ``site``: its ``auth_token_file``, else where Ray itself looks; None if
    there is none. A named file that cannot be read, or is empty, is a ConfigurationError."""
    env = os.environ if environ is None else environ
    if site.auth_token_file is not None:
        return _token_file(site.auth_token_file, f"site {site.name!r}: auth_token_file")
    if env.get("RAY_AUTH_TOKEN", "").strip():
        return RayToken(env["RAY_AUTH_TOKEN"].strip(), "RAY_AUTH_TOKEN")
    if env.get("RAY_AUTH_TOKEN_PATH"):
        return _token_file(Path(env["RAY_AUTH_TOKEN_PATH"]), "RAY_AUTH_TOKEN_PATH")
    default = (user_home or Path.home()) / DEFAULT_TOKEN_FILE
    if default.is_file():
        return _token_file(default, str(default))
    return None


def _token_file(path: Path, what: str) -> RayToken:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{what}: cannot read the Ray token file {path}: {exc}") from exc
    if not value:
        raise ConfigurationError(f"{what}: the Ray token file {path} is empty")
    return RayToken(value, f"{what} {path}", path)


def probe(address: str, token: str | None = None, *, timeout_s: float = PROBE_TIMEOUT_S) -> Answer:
    """Ask the GCS at ``address`` for its cluster id, with ``token`` or none.

    ``refused``: the GCS demanded a (valid) token; ``answered``: it served the call.
    Unavailable when nothing answers at ``address`` in ``timeout_s``; ConfigurationError when
    what answers is not a Ray GCS.
    """
    import grpc

    metadata = [("authorization", f"Bearer {token}")] if token is not None else None
    with grpc.insecure_channel(address) as channel:
        call = channel.unary_unary(PROBE_METHOD)
        try:
            call(b"", timeout=timeout_s, metadata=metadata)  # an empty request message
        except grpc.RpcError as exc:
            code = exc.code()
            if code == grpc.StatusCode.UNAUTHENTICATED:
                return "refused"
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise Unavailable(
                    f"cannot reach the Ray cluster at {address} ({exc.details()})"
                ) from exc
            raise ConfigurationError(
                f"{address} does not answer like a Ray cluster's GCS ({code.name}: {exc.details()})"
            ) from exc
    return "answered"


@dataclass(frozen=True)
class ClusterAccess:
    """How to join a checked cluster: with ``token`` (token mode), or open (``token`` None)."""

    address: str
    token: RayToken | None


def check_cluster(
    site: Site,
    *,
    environ: Mapping[str, str] | None = None,
    user_home: Path | None = None,
    timeout_s: float = PROBE_TIMEOUT_S,
) -> ClusterAccess:
    """Check that ``site``'s cluster refuses callers without a token and accepts ours.

    An open cluster is refused (ConfigurationError) unless the site sets
    ``allow_unauthenticated = true``; so is a cluster that refuses our token, or that wants one
    when we have none.
    """
    address = site.address
    if not address:
        raise ConfigurationError(f"site {site.name!r}: a Ray site needs an address")
    token = find_token(site, environ, user_home)
    if probe(address, None, timeout_s=timeout_s) == "answered":
        if not site.allow_unauthenticated:
            raise ConfigurationError(
                f"site {site.name!r}: the Ray cluster at {address} answers callers without a "
                "token, so anyone who can reach it can run code on its nodes. Start every node "
                "with RAY_AUTH_MODE=token (and the cluster's token), or, for a private test "
                f"cluster only, set allow_unauthenticated = true in [sites.{site.name}]"
            )
        return ClusterAccess(address, None)
    if token is None:
        raise ConfigurationError(
            f"site {site.name!r}: the Ray cluster at {address} requires a token and none was "
            "found: set auth_token_file for the site, or RAY_AUTH_TOKEN, or write it to "
            "~/.ray/auth_token"
        )
    if probe(address, token.value, timeout_s=timeout_s) == "refused":
        raise ConfigurationError(
            f"site {site.name!r}: the Ray cluster at {address} refuses the token from "
            f"{token.source}"
        )
    return ClusterAccess(address, token)


def apply_driver_env(access: ClusterAccess, environ: MutableMapping[str, str]) -> None:
    """Set what Ray's client reads to join ``access``'s cluster: token mode, and the token by
    its file where it came from one (the value itself stays out of the environment)."""
    if access.token is None:
        environ.pop("RAY_AUTH_MODE", None)
        return
    environ["RAY_AUTH_MODE"] = "token"
    if access.token.path is not None:
        environ["RAY_AUTH_TOKEN_PATH"] = str(access.token.path.resolve())
        environ.pop("RAY_AUTH_TOKEN", None)
