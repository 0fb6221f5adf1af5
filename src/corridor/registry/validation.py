"""What the registry accepts: model names, aliases, tags, stages and statuses. No I/O.

Limits follow MLflow's model registry (``mlflow/store/model_registry``), so that what an MLflow
client may register, Corridor stores. Model names may hold ``/``: ``"churn/fraud"`` lives in the
project ``churn`` (see `corridor.security.projects.resolve_project_for_name`).
"""

from __future__ import annotations

import re
import time
import unicodedata
from enum import StrEnum

from corridor.client_input import INT64_MAX
from corridor.errors import InvalidInput

MAX_MODEL_NAME_LENGTH = 256
MAX_TAG_KEY_LENGTH = 250
MAX_TAG_VALUE_LENGTH = 5000
MAX_DESCRIPTION_LENGTH = 5000
MAX_ALIAS_LENGTH = 255
MAX_SOURCE_LENGTH = 500
MAX_STATUS_MESSAGE_LENGTH = 500

# Words that follow a model name in /api/v1 paths; a name segment equal to one would make a path
# mean two things ("a/versions/1" the model, or version 1 of "a").
RESERVED_NAME_SEGMENTS = frozenset({"versions", "aliases", "tags"})
_NAME_CHARS = re.compile(r"[\w .\-/]+")
_ALIAS = re.compile(r"[\w\-]+")
_VERSION_LIKE_ALIAS = re.compile(r"v\d+", re.IGNORECASE)
_TAG_KEY = re.compile(r"[/\w.\- :]+")


class Stage(StrEnum):
    """MLflow's deprecated model stages, kept for clients that still use them."""

    NONE = "None"
    STAGING = "Staging"
    PRODUCTION = "Production"
    ARCHIVED = "Archived"


class VersionStatus(StrEnum):
    PENDING_REGISTRATION = "PENDING_REGISTRATION"
    FAILED_REGISTRATION = "FAILED_REGISTRATION"
    READY = "READY"


def now_ms() -> int:
    """The current time in epoch milliseconds, the unit of every registry timestamp."""
    return time.time_ns() // 1_000_000


def check_model_name(name: str) -> str:
    """Return ``name`` if it may name a registered model; raise `InvalidInput` saying why."""
    if not isinstance(name, str) or not name:
        raise InvalidInput("model name must not be empty")
    if len(name) > MAX_MODEL_NAME_LENGTH:
        raise InvalidInput(f"model name is {len(name)} characters; at most {MAX_MODEL_NAME_LENGTH}")
    if not _NAME_CHARS.fullmatch(name) or unicodedata.normalize("NFKC", name) != name:
        raise InvalidInput(
            f"model name {name!r} is invalid: use letters, digits, spaces, '.', '_', '-', "
            "and '/' between a project and the rest ('churn/fraud')"
        )
    for segment in name.split("/"):
        if not segment.strip() or segment != segment.strip():
            raise InvalidInput(
                f"model name {name!r} has an empty segment or one with surrounding spaces"
            )
        if set(segment) == {"."}:
            raise InvalidInput(f"model name {name!r} has a {segment!r} segment")
        if segment in RESERVED_NAME_SEGMENTS:
            raise InvalidInput(
                f"model name {name!r} has the segment {segment!r}, which API paths reserve"
            )
    return name


def check_alias(alias: str) -> str:
    """Return ``alias`` if it may name a version; MLflow's rule (no 'latest', no 'v3')."""
    if not isinstance(alias, str) or not alias:
        raise InvalidInput("alias must not be empty")
    if len(alias) > MAX_ALIAS_LENGTH:
        raise InvalidInput(f"alias is {len(alias)} characters; at most {MAX_ALIAS_LENGTH}")
    if not _ALIAS.fullmatch(alias) or not alias.isascii():
        raise InvalidInput(f"alias {alias!r} is invalid: use letters, digits, '_' or '-'")
    if alias.lower() == "latest":
        raise InvalidInput("alias 'latest' is reserved: models:/name/latest is the newest version")
    if _VERSION_LIKE_ALIAS.fullmatch(alias):
        raise InvalidInput(f"alias {alias!r} looks like a version number; choose another")
    return alias


def check_tag(key: str, value: str) -> tuple[str, str]:
    """Return ``(key, value)`` if they make a valid tag; raise `InvalidInput` saying why."""
    if not isinstance(key, str) or not key:
        raise InvalidInput("tag key must not be empty")
    if len(key) > MAX_TAG_KEY_LENGTH:
        raise InvalidInput(f"tag key is {len(key)} characters; at most {MAX_TAG_KEY_LENGTH}")
    if not _TAG_KEY.fullmatch(key):
        raise InvalidInput(
            f"tag key {key!r} is invalid: use letters, digits, '_', '-', '.', ' ', ':' or '/'"
        )
    if not isinstance(value, str):
        raise InvalidInput(f"tag {key!r} must have a string value")
    if len(value) > MAX_TAG_VALUE_LENGTH:
        raise InvalidInput(
            f"tag {key!r} value is {len(value)} characters; at most {MAX_TAG_VALUE_LENGTH}"
        )
    return key, value


def check_description(description: str) -> str:
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidInput(
            f"description is {len(description)} characters; at most {MAX_DESCRIPTION_LENGTH}"
        )
    return description


def canonical_stage(stage: str) -> Stage:
    """The stage ``stage`` names, case-insensitively (``"production"`` is ``Production``)."""
    for known in Stage:
        if stage.lower() == known.value.lower():
            return known
    allowed = ", ".join(s.value for s in Stage)
    raise InvalidInput(f"stage {stage!r} is not one of {allowed}")


def parse_version(version: str | int) -> int:
    """The version number in ``version`` (``3`` or ``"3"``); `InvalidInput` otherwise."""
    number = -1
    if isinstance(version, int) and not isinstance(version, bool):
        number = version
    elif isinstance(version, str) and version.isascii() and version.isdigit():
        number = int(version)
    if 0 < number <= INT64_MAX:
        return number
    raise InvalidInput(f"version {version!r} is not a positive whole number")
