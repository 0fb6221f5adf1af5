"""The study routes over a client's connection: one method per route, schemas in and out.

Used by `CorridorStorage` (Optuna's storage) and by `corridor studies`. Errors come back as
`CorridorError`s; the storage turns them into what Optuna expects.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter

from corridor.client.connection import Connection
from corridor.training.schemas import (
    StudyOut,
    TrialCreate,
    TrialList,
    TrialOut,
    TrialUpdate,
    TrialUpdateOut,
)

M = TypeVar("M", bound=BaseModel)


class StudiesApi:
    """Calls to ``/api/v1/projects/{project}/studies...`` of one project."""

    def __init__(self, client: Connection, project: str) -> None:
        self.client = client
        self.project = project
        self._base = f"/api/v1/projects/{project}"

    def _call(self, model: type[M], method: str, path: str, **kwargs: Any) -> M:
        response = self.client.request(method, self._base + path, **kwargs)
        return model.model_validate(response.json())

    def create_study(self, name: str, directions: list[str]) -> StudyOut:
        body = {"name": name, "directions": directions}
        return self._call(StudyOut, "POST", "/studies", json=body)

    def list_studies(self, *, name: str | None = None) -> list[StudyOut]:
        params = {"name": name} if name is not None else {}
        response = self.client.request("GET", self._base + "/studies", params=params)
        return TypeAdapter(list[StudyOut]).validate_python(response.json())

    def study(self, study_id: int) -> StudyOut:
        return self._call(StudyOut, "GET", f"/studies/{study_id}")

    def study_named(self, name: str) -> StudyOut | None:
        found = self.list_studies(name=name)
        return found[0] if found else None

    def delete_study(self, study_id: int) -> None:
        self.client.request("DELETE", f"{self._base}/studies/{study_id}")

    def set_study_attr(self, study_id: int, kind: str, key: str, value: object) -> None:
        path = f"{self._base}/studies/{study_id}/attrs/{kind}"
        self.client.request("PUT", path, json={"key": key, "value_json": json.dumps(value)})

    def trials(self, study_id: int, *, since: int | None = None) -> TrialList:
        params = {"since": since} if since is not None else {}
        return self._call(TrialList, "GET", f"/studies/{study_id}/trials", params=params)

    def create_trial(self, study_id: int, body: TrialCreate) -> TrialOut:
        json_body = body.model_dump(mode="json", exclude_none=True)
        return self._call(TrialOut, "POST", f"/studies/{study_id}/trials", json=json_body)

    def trial(self, trial_id: int) -> TrialOut:
        return self._call(TrialOut, "GET", f"/trials/{trial_id}")

    def update_trial(self, trial_id: int, body: TrialUpdate) -> TrialUpdateOut:
        json_body = body.model_dump(mode="json", exclude_defaults=True)
        return self._call(TrialUpdateOut, "PATCH", f"/trials/{trial_id}", json=json_body)
