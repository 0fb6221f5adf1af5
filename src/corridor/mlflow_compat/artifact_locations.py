"""Where an ``mlflow-artifacts`` path points: whose artifacts, and which file. No I/O.

MLflow clients address proxied artifacts by the path after ``mlflow-artifacts:/``, which for
Corridor is always one of::

    <experiment_id>/<run_id>/artifacts[/<path>]                a run's artifacts
    <experiment_id>/models/<model_id>/artifacts[/<path>]       an MLflow 3 logged model's files
    model-versions/<version_id>/artifacts[/<path>]             the folder MLflow loads for a
                                                               Corridor package (read only)

Anything else is refused before it reaches a store. The file part must pass tracking's one rule
for artifact paths (`check_artifact_path`), which refuses ``..``, percent-escapes (so
``%2e%2e``, already decoded once by the HTTP server, and ``%252e`` stay refused), absolute
paths, schemes such as ``file://``, ``;`` and control characters. Artifacts live in the blob
store, never in the server's file system, so no path can reach a file (or follow a symlink)
outside it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from corridor.errors import InvalidInput
from corridor.tracking.artifact_paths import check_artifact_path

_EXPERIMENT_ID = re.compile(r"\d{1,19}")
_RUN_ID = re.compile(r"[0-9a-f]{32}")
_LOGGED_MODEL_ID = re.compile(r"m-[0-9a-f]{32}")
_VERSION_ID = re.compile(r"[0-9a-f]{32}")
ARTIFACTS = "artifacts"
MODEL_VERSIONS = "model-versions"


class Owner(StrEnum):
    RUN = "run"
    LOGGED_MODEL = "logged_model"
    MODEL_VERSION = "model_version"


@dataclass(frozen=True)
class ArtifactLocation:
    """A parsed ``mlflow-artifacts`` path; ``path`` is '' for the top of the tree.

    A model version's folder belongs to no experiment: its ``experiment_id`` is ''.
    """

    experiment_id: str
    owner: Owner
    owner_id: str
    path: str

    @property
    def root(self) -> str:
        """The path of the top of the owner's tree (what the client lists first)."""
        if self.owner is Owner.RUN:
            return f"{self.experiment_id}/{self.owner_id}/{ARTIFACTS}"
        if self.owner is Owner.MODEL_VERSION:
            return version_root(self.owner_id)
        return f"{self.experiment_id}/models/{self.owner_id}/{ARTIFACTS}"


def _refuse(path: str, why: str) -> InvalidInput:
    shown = path if len(path) <= 200 else path[:200] + "..."
    return InvalidInput(f"artifact location {shown!r} is refused: {why}")


def parse_location(path: str, *, allow_root: bool = True) -> ArtifactLocation:
    """Parse the path after ``mlflow-artifacts:/``; `InvalidInput` saying why it is refused."""
    parts = path.split("/")
    if len(parts) >= 3 and parts[0] == MODEL_VERSIONS:
        return _version_location(path, parts[1], parts[2], parts[3:], allow_root)
    if len(parts) >= 3 and parts[1] != "models":
        experiment_id, owner_id, marker, rest = parts[0], parts[1], parts[2], parts[3:]
        owner, pattern = Owner.RUN, _RUN_ID
    elif len(parts) >= 4 and parts[1] == "models":
        experiment_id, owner_id, marker, rest = parts[0], parts[2], parts[3], parts[4:]
        owner, pattern = Owner.LOGGED_MODEL, _LOGGED_MODEL_ID
    else:
        raise _refuse(
            path,
            "it names no run or model; use <experiment_id>/<run_id>/artifacts/<path>, "
            "<experiment_id>/models/<model_id>/artifacts/<path> or "
            f"{MODEL_VERSIONS}/<version_id>/artifacts/<path>",
        )
    if not _EXPERIMENT_ID.fullmatch(experiment_id):
        raise _refuse(path, f"{experiment_id!r} is not an experiment id")
    if not pattern.fullmatch(owner_id):
        raise _refuse(path, f"{owner_id!r} is not a {owner.value.replace('_', ' ')} id")
    if marker != ARTIFACTS:
        raise _refuse(path, f"expected {ARTIFACTS!r} after the {owner.value.replace('_', ' ')}")
    file_path = "/".join(rest)
    check_artifact_path(file_path, allow_root=allow_root)
    return ArtifactLocation(experiment_id, owner, owner_id, file_path)


def version_root(version_id: str) -> str:
    """The path of a model version's folder (after ``mlflow-artifacts:/``)."""
    return f"{MODEL_VERSIONS}/{version_id}/{ARTIFACTS}"


def _version_location(
    path: str, version_id: str, marker: str, rest: list[str], allow_root: bool
) -> ArtifactLocation:
    if not _VERSION_ID.fullmatch(version_id):
        raise _refuse(path, f"{version_id!r} is not a model version id")
    if marker != ARTIFACTS:
        raise _refuse(path, f"expected {ARTIFACTS!r} after the model version")
    file_path = "/".join(rest)
    check_artifact_path(file_path, allow_root=allow_root)
    return ArtifactLocation("", Owner.MODEL_VERSION, version_id, file_path)
