"""The paths of the data slice's routes, shared by its routers (under ``/api/v1``)."""

from __future__ import annotations

DATASETS = "/projects/{project}/datasets"
DATASET = DATASETS + "/{name}"
VERSION = DATASET + "/versions/{version}"
