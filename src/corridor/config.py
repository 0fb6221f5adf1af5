"""Corridor's settings: one typed object, read from arguments, ``CORRIDOR_*`` variables,
``corridor.toml`` in the home, then defaults (first wins)."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from corridor.errors import ConfigurationError

CONFIG_FILE_NAME = "corridor.toml"
DECODED_PER_INGEST_BYTE = 8
"""Default decoded-size limit per byte of ingest limit: columnar files decode to several times
their size, and a CSV of short fields (``1,2,3``) to a few times its own."""


def default_home() -> Path:
    """Return the home from ``CORRIDOR_HOME``, else ``~/.corridor``."""
    return Path(os.environ.get("CORRIDOR_HOME") or Path.home() / ".corridor").expanduser()


class _TomlSource(PydanticBaseSettingsSource):
    """Read ``corridor.toml`` from the home the other sources settle on."""

    def __init__(self, settings_cls: type[BaseSettings], home: Path) -> None:
        super().__init__(settings_cls)
        self._data = _read_toml(home / CONFIG_FILE_NAME)

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self._data.items() if k in self.settings_cls.model_fields}


def read_config_file(path: Path) -> dict[str, Any]:
    """The whole of a ``corridor.toml`` (empty if there is none); `ConfigurationError` if it
    cannot be read or is not TOML. Slices read their own tables (``[sites]``...) from it."""
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror or exc}") from None


def _read_toml(path: Path) -> dict[str, Any]:
    data = read_config_file(path)
    server = data.get("server", {})
    if not isinstance(server, dict):
        raise ConfigurationError(f"{path}: [server] must be a table")
    # Top-level keys and the [server] table both map onto fields; sections such as [sites]
    # are read by the slices that own them.
    flat = {k: v for k, v in data.items() if not isinstance(v, dict)}
    flat.update(server)
    return flat


class Settings(BaseSettings):
    """Everything Corridor can be told. Each field is also a ``CORRIDOR_<NAME>`` variable."""

    model_config = SettingsConfigDict(env_prefix="CORRIDOR_", extra="ignore", frozen=True)

    home: Path = Field(
        default_factory=default_home,
        description="Folder holding the database, blobs, master key and corridor.toml.",
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL of the metadata store; empty means SQLite in the home. "
        "PostgreSQL: postgresql+psycopg://user@host/db.",
    )
    blob_url: str = Field(
        default="",
        description="Where blobs live: a local folder (file://...) or s3://bucket/prefix; "
        "empty means <home>/blobs.",
    )
    master_key_file: Path | None = Field(
        default=None,
        description="File with the 256-bit master key that wraps every data key; "
        "default <home>/master.key.",
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        description="Endpoint of an S3-compatible service (MinIO, Ceph...); unset means AWS.",
    )
    url: str | None = Field(
        default=None,
        description="Client side: the server to talk to. Unset means in-process over the home.",
    )
    token: str | None = Field(
        default=None, description="Client side: the API token sent as a bearer credential."
    )
    host: str = Field(default="127.0.0.1", description="Address the server binds to.")
    port: int = Field(default=8660, ge=0, le=65535, description="Port the server listens on.")
    max_body_bytes: int = Field(
        default=16 * 1024 * 1024,
        gt=0,
        description="Largest request body accepted by JSON routes, in bytes.",
    )
    max_ingest_bytes: int = Field(
        default=64 * 1024**3,
        gt=0,
        description="Largest dataset input accepted by ingest, in bytes, counted both as read "
        "and after decompression (so a compressed file cannot expand past it).",
    )
    max_decoded_bytes: int | None = Field(
        default=None,
        gt=0,
        description="Largest decoded size of a dataset input (rows times in-memory row width), "
        "in bytes, checked from Parquet and Arrow metadata before decoding and on every converted "
        "input before it is stored; unset means 8 times max_ingest_bytes.",
    )
    token_ttl_days: int = Field(
        default=90, gt=0, description="Default lifetime of a new API token, in days."
    )
    log_level: str = Field(default="INFO", description="Server log level.")
    log_json: bool = Field(default=True, description="Write server logs as JSON lines.")
    shutdown_timeout_s: float = Field(
        default=10.0, gt=0, description="How long a stopping server lets requests finish."
    )
    advertise_url: str | None = Field(
        default=None,
        description="The URL job workers use to reach this server; unset means "
        "http://<host>:<port> as the server listens (127.0.0.1 when it binds every address).",
    )
    job_lease_s: float = Field(
        default=10.0,
        gt=0,
        description="How long a job attempt lives without an acknowledged heartbeat, in seconds; "
        "past it the worker stops its job and the server retries it elsewhere.",
    )
    job_heartbeat_s: float = Field(
        default=1.0, gt=0, description="How often a job's worker sends a heartbeat, in seconds."
    )
    max_snapshot_bytes: int = Field(
        default=100 * 1024 * 1024,
        gt=0,
        description="Largest code snapshot (tar.gz) a project may upload for its jobs, in bytes.",
    )
    ray_address: str | None = Field(
        default=None,
        description="Address of the Ray cluster a `ray` site uses when its config names none.",
    )
    serving_max_request_bytes: int = Field(
        default=64 * 1024 * 1024,
        gt=0,
        description="Largest inference request body the serving gateway accepts (/v2/models/"
        ".../infer, /v1/embeddings), in bytes; larger ones are answered 413 unread.",
    )
    serving_max_tensor_elements: int = Field(
        default=16 * 1024 * 1024,
        gt=0,
        description="Most elements one input tensor of an inference request may hold; more "
        "is answered 413.",
    )
    serving_max_inputs: int = Field(
        default=64, gt=0, description="Most input tensors one inference request may name."
    )

    @field_validator("home", mode="after")
    @classmethod
    def _absolute_home(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        home_value = init_settings().get("home") or env_settings().get("home")
        home = Path(home_value).expanduser() if home_value else default_home()
        return (init_settings, env_settings, _TomlSource(settings_cls, home))

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'corridor.db'}"

    @property
    def effective_blob_url(self) -> str:
        return self.blob_url or (self.home / "blobs").as_uri()

    @property
    def effective_max_decoded_bytes(self) -> int:
        return self.max_decoded_bytes or DECODED_PER_INGEST_BYTE * self.max_ingest_bytes

    @property
    def effective_master_key_file(self) -> Path:
        return self.master_key_file or self.home / "master.key"

    def toml_section(self, name: str) -> dict[str, Any]:
        """Return one ``[name]`` table of ``corridor.toml`` (empty if absent)."""
        path = self.home / CONFIG_FILE_NAME
        if not path.is_file():
            return {}
        with path.open("rb") as f:
            section = tomllib.load(f).get(name, {})
        if not isinstance(section, dict):
            raise ConfigurationError(f"{path}: [{name}] must be a table")
        return section
