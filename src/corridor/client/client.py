"""``corridor.Client``: the one client, over HTTP or over an in-process app.

The client holds the connection and the calls about users, tokens, projects and audit; each
slice's calls are a part over that connection: ``client.tracking``, ``client.registry``,
``client.data``, ``client.compute``. The documented calls of tracking and registry are also the
client's own (``client.create_run`` is ``client.tracking.create_run``), as are compute's
``submit`` and ``map``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter

from corridor.client import credentials
from corridor.client.compute import ComputeClient
from corridor.client.connection import error_from
from corridor.client.passthrough import PassThrough
from corridor.client.registry import RegistryClient
from corridor.client.tracking import TrackingClient
from corridor.config import Settings
from corridor.errors import Unavailable
from corridor.security.policy import Role
from corridor.security.schemas import (
    AuditEventOut,
    AuditVerifyOut,
    IssuedTokenOut,
    MemberOut,
    ProjectOut,
    TokenOut,
    UserOut,
    WhoAmI,
)

if TYPE_CHECKING:
    from corridor.client.data import DataClient
    from corridor.client.pipelines import PipelinesClient
    from corridor.client.serving import ServingClient
    from corridor.runtime import Runtime

M = TypeVar("M", bound=BaseModel)
_IN_PROCESS_URL = "http://corridor.in-process"


class Client:
    """Talk to Corridor.

    With a URL (argument, ``CORRIDOR_URL``, or a `corridor login`), requests go over HTTP with
    the token as a bearer credential. With none, they go to an app built in this process over
    the local home, acting as its administrator unless a token is given: the same routes, checks
    and audit either way.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        settings: Settings | None = None,
        timeout_s: float = 60.0,
    ) -> None:
        self.settings = settings or Settings()
        url = url or self.settings.url
        token = token or self.settings.token
        if url is None and token is None:
            saved = credentials.load(self.settings.home)
            if saved is not None:
                url, token = saved.url, saved.token
        headers = {"user-agent": "corridor-client"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        self._runtime: Runtime | None = None
        transport: httpx.BaseTransport
        if url:
            self.url = url.rstrip("/")
            transport = httpx.HTTPTransport(retries=2)
        else:
            # Imported here so that the HTTP client never pays for the server's imports.
            from corridor.client.transport import InProcessTransport
            from corridor.home import require_initialised
            from corridor.runtime import Runtime
            from corridor.server.app import create_app

            require_initialised(self.settings)
            self._runtime = Runtime(self.settings, local_admin=True)
            self.url = _IN_PROCESS_URL
            transport = InProcessTransport(create_app(self._runtime))
        self.http = httpx.Client(
            base_url=self.url, headers=headers, transport=transport, timeout=timeout_s
        )
        self.tracking = TrackingClient(self)
        self.registry = RegistryClient(self)
        self.compute = ComputeClient(self)

    @property
    def in_process(self) -> bool:
        return self._runtime is not None

    @cached_property
    def data(self) -> DataClient:
        """Dataset calls (ingest, get, validate, delete...) over this client's connection."""
        # Imported on first use: a client that never touches data never loads the data schemas.
        from corridor.client.data import DataClient

        return DataClient(self)

    @cached_property
    def serving(self) -> ServingClient:
        """Deployment calls (deploy, list, show, scale, rollback, delete) over this connection."""
        from corridor.client.serving import ServingClient

        return ServingClient(self)

    @cached_property
    def pipelines(self) -> PipelinesClient:
        """Pipeline calls (run, start, runs, get, retry, schedule, trigger...) over this client."""
        from corridor.client.pipelines import PipelinesClient

        return PipelinesClient(self)

    def close(self) -> None:
        # First: an in-process client's loopback server revokes its token through self.http.
        self.compute.close()
        self.http.close()
        if self._runtime is not None:
            self._runtime.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request; an error response becomes the matching ``CorridorError``."""
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise Unavailable(f"cannot reach Corridor at {self.url}: {exc}") from exc
        if response.status_code >= 400:
            raise error_from(response)
        return response

    def _get(self, model: type[M], path: str, **kwargs: Any) -> M:
        return model.model_validate(self.request("GET", path, **kwargs).json())

    def _list(self, model: type[M], path: str, **kwargs: Any) -> list[M]:
        data = self.request("GET", path, **kwargs).json()
        # A list of the model given at run time: mypy takes ``model`` for a variable, not a type.
        return TypeAdapter(list[model]).validate_python(data)  # type: ignore[valid-type]

    def _send(self, model: type[M], method: str, path: str, body: Mapping[str, object]) -> M:
        return model.model_validate(self.request(method, path, json=body).json())

    # Health and identity.
    def health(self) -> dict[str, str]:
        data: dict[str, str] = self.request("GET", "/healthz").json()
        return data

    def login(self, username: str, password: str) -> IssuedTokenOut:
        body = {"username": username, "password": password}
        return self._send(IssuedTokenOut, "POST", "/api/v1/auth/login", body)

    def whoami(self) -> WhoAmI:
        return self._get(WhoAmI, "/api/v1/auth/whoami")

    # Users and tokens.
    def create_user(
        self, name: str, *, password: str | None = None, is_admin: bool = False
    ) -> UserOut:
        body = {"name": name, "password": password, "is_admin": is_admin}
        return self._send(UserOut, "POST", "/api/v1/users", body)

    def list_users(self) -> list[UserOut]:
        return self._list(UserOut, "/api/v1/users")

    def create_token(
        self,
        name: str,
        *,
        user: str | None = None,
        ttl_days: int | None = None,
        never_expires: bool = False,
        invoke: str | None = None,
    ) -> IssuedTokenOut:
        """Create a token; with ``invoke``, one that may invoke that deployment and nothing
        else (for an application)."""
        body = {
            "name": name,
            "user": user,
            "ttl_days": ttl_days,
            "never_expires": never_expires,
            "invoke": invoke,
        }
        return self._send(IssuedTokenOut, "POST", "/api/v1/tokens", body)

    def list_tokens(self, *, all_users: bool = False) -> list[TokenOut]:
        return self._list(TokenOut, "/api/v1/tokens", params={"all": all_users})

    def revoke_token(self, token_id: str) -> TokenOut:
        return TokenOut.model_validate(self.request("DELETE", f"/api/v1/tokens/{token_id}").json())

    # Projects and roles.
    def create_project(self, name: str, *, description: str = "") -> ProjectOut:
        body = {"name": name, "description": description}
        return self._send(ProjectOut, "POST", "/api/v1/projects", body)

    def list_projects(self) -> list[ProjectOut]:
        return self._list(ProjectOut, "/api/v1/projects")

    def get_project(self, name: str) -> ProjectOut:
        return self._get(ProjectOut, f"/api/v1/projects/{name}")

    def set_project_pickle(self, name: str, *, allowed: bool) -> ProjectOut:
        """Let loaders unpickle the project's models, or stop them (server admins only)."""
        return self._send(
            ProjectOut, "PUT", f"/api/v1/projects/{name}/pickle", {"allowed": allowed}
        )

    def list_members(self, project: str) -> list[MemberOut]:
        return self._list(MemberOut, f"/api/v1/projects/{project}/members")

    def grant_role(self, project: str, user: str, role: Role | str) -> MemberOut:
        path = f"/api/v1/projects/{project}/members/{user}"
        return self._send(MemberOut, "PUT", path, {"role": str(role)})

    def revoke_role(self, project: str, user: str) -> None:
        self.request("DELETE", f"/api/v1/projects/{project}/members/{user}")

    # Audit.
    def audit_events(self, *, limit: int = 100, after: int | None = None) -> list[AuditEventOut]:
        params: dict[str, int] = {"limit": limit}
        if after is not None:
            params["after"] = after
        return self._list(AuditEventOut, "/api/v1/audit", params=params)

    def verify_audit(self) -> AuditVerifyOut:
        return self._get(AuditVerifyOut, "/api/v1/audit/verify")

    # Tracking (client.tracking).
    create_experiment = PassThrough("tracking", TrackingClient.create_experiment)
    get_experiment = PassThrough("tracking", TrackingClient.get_experiment)
    search_experiments = PassThrough("tracking", TrackingClient.search_experiments)
    rename_experiment = PassThrough("tracking", TrackingClient.rename_experiment)
    delete_experiment = PassThrough("tracking", TrackingClient.delete_experiment)
    restore_experiment = PassThrough("tracking", TrackingClient.restore_experiment)
    set_experiment_tag = PassThrough("tracking", TrackingClient.set_experiment_tag)
    delete_experiment_tag = PassThrough("tracking", TrackingClient.delete_experiment_tag)
    create_run = PassThrough("tracking", TrackingClient.create_run)
    get_run = PassThrough("tracking", TrackingClient.get_run)
    update_run = PassThrough("tracking", TrackingClient.update_run)
    delete_run = PassThrough("tracking", TrackingClient.delete_run)
    restore_run = PassThrough("tracking", TrackingClient.restore_run)
    search_runs = PassThrough("tracking", TrackingClient.search_runs)
    log_batch = PassThrough("tracking", TrackingClient.log_batch)
    log_metrics_batched = PassThrough("tracking", TrackingClient.log_metrics_batched)
    log_param = PassThrough("tracking", TrackingClient.log_param)
    log_metric = PassThrough("tracking", TrackingClient.log_metric)
    set_tag = PassThrough("tracking", TrackingClient.set_tag)
    delete_tag = PassThrough("tracking", TrackingClient.delete_tag)
    get_metric_history = PassThrough("tracking", TrackingClient.get_metric_history)
    metric_history = PassThrough("tracking", TrackingClient.metric_history)
    upload_artifact = PassThrough("tracking", TrackingClient.upload_artifact)
    log_artifact = PassThrough("tracking", TrackingClient.log_artifact)
    log_artifacts = PassThrough("tracking", TrackingClient.log_artifacts)
    list_artifacts = PassThrough("tracking", TrackingClient.list_artifacts)
    iter_artifact = PassThrough("tracking", TrackingClient.iter_artifact)
    download_artifact = PassThrough("tracking", TrackingClient.download_artifact)
    delete_artifact = PassThrough("tracking", TrackingClient.delete_artifact)

    # Model registry (client.registry).
    create_model = PassThrough("registry", RegistryClient.create_model)
    get_model = PassThrough("registry", RegistryClient.get_model)
    list_models = PassThrough("registry", RegistryClient.list_models)
    upload_file = PassThrough("registry", RegistryClient.upload_file)
    register_model = PassThrough("registry", RegistryClient.register_model)
    get_model_version = PassThrough("registry", RegistryClient.get_model_version)
    list_model_versions = PassThrough("registry", RegistryClient.list_model_versions)
    set_alias = PassThrough("registry", RegistryClient.set_alias)
    delete_alias = PassThrough("registry", RegistryClient.delete_alias)
    resolve_model = PassThrough("registry", RegistryClient.resolve_model)
    download_model = PassThrough("registry", RegistryClient.download_model)
    load_model = PassThrough("registry", RegistryClient.load_model)
    verify_model = PassThrough("registry", RegistryClient.verify_model)
    version_lineage = PassThrough("registry", RegistryClient.version_lineage)
    signing_keys = PassThrough("registry", RegistryClient.signing_keys)
    public_keys = PassThrough("registry", RegistryClient.public_keys)
    rotate_signing_key = PassThrough("registry", RegistryClient.rotate_signing_key)
    sign_missing_packages = PassThrough("registry", RegistryClient.sign_missing_packages)

    # Compute (client.compute).
    submit = PassThrough("compute", ComputeClient.submit)
    map = PassThrough("compute", ComputeClient.map)
