"""Creating a Corridor home: folders, master key, schema and the first administrator."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from corridor.config import CONFIG_FILE_NAME, Settings
from corridor.errors import AlreadyExists, ConfigurationError
from corridor.runtime import Runtime
from corridor.security import identity
from corridor.store.blobs.crypto import create_master_key

ADMIN_NAME = "admin"

_TOML_TEMPLATE = """\
# Corridor settings. Each key may also be set as a CORRIDOR_<KEY> environment variable,
# which wins over this file.
[server]
# host = "127.0.0.1"
# port = 8660
# database_url = "postgresql://corridor@db.internal/corridor"
# blob_url = "s3://my-bucket/corridor"
"""


@dataclass(frozen=True)
class InitResult:
    home: Path
    admin_name: str
    admin_token: str
    token_expires_at: dt.datetime | None


def require_initialised(settings: Settings) -> None:
    """Refuse to act on a home that `corridor init` has not set up.

    A folder can exist without being a home (`corridor login` keeps credentials in it);
    treating it as one would create a database that `corridor init` then refuses to adopt.
    """
    if not settings.effective_master_key_file.is_file():
        raise ConfigurationError(
            f"{settings.home} is not an initialised Corridor home: run `corridor init` first, "
            "or `corridor login` to use a server"
        )


def init_home(settings: Settings, *, admin_password: str | None = None) -> InitResult:
    """Create the home and its first administrator; refuse if it holds users already."""
    home = settings.home
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(home, 0o700)
    config = home / CONFIG_FILE_NAME
    if not config.exists():
        config.write_text(_TOML_TEMPLATE)
    key_file = settings.effective_master_key_file
    if not key_file.exists():
        create_master_key(key_file)
    runtime = Runtime(settings)
    try:
        if identity.count_users(runtime.db) > 0:
            raise AlreadyExists(
                f"{home} is initialised already; make more tokens with `corridor tokens create`"
            )
        ttl = dt.timedelta(days=settings.token_ttl_days)
        with runtime.db.write() as session:
            admin = identity.create_user(
                session, ADMIN_NAME, password=admin_password, is_admin=True
            )
            issued = identity.issue_token(session, admin, name="init", ttl=ttl)
        return InitResult(home, ADMIN_NAME, issued.secret, issued.token.expires_at)
    finally:
        runtime.close()
