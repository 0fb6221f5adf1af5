"""MLflow's error body, for the MLflow surface only.

MLflow clients read ``{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "..."}`` and act on
the code (a registered model that exists already is not an error to ``log_model``), so the
routes under `PATH_PREFIXES` answer in that shape, with the HTTP status MLflow's server uses for
each code. Every other route keeps Corridor's ``{"error": {code, message}}``. No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import JSONResponse

from corridor.errors import (
    AlreadyExists,
    BlobCorrupted,
    ConfigurationError,
    Conflict,
    CorridorError,
    IntegrityError,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)

# Paths that speak MLflow (the MLflow UI calls the same API under /ajax-api).
PATH_PREFIXES = (
    "/api/2.0/mlflow",
    "/ajax-api/2.0/mlflow",
    "/api/3.0/mlflow",
    "/ajax-api/3.0/mlflow",
)


@dataclass(frozen=True)
class MlflowError:
    """One MLflow error code and the HTTP status MLflow's server answers it with."""

    error_code: str
    status: int


INVALID_PARAMETER_VALUE = MlflowError("INVALID_PARAMETER_VALUE", 400)
RESOURCE_DOES_NOT_EXIST = MlflowError("RESOURCE_DOES_NOT_EXIST", 404)
INTERNAL_ERROR = MlflowError("INTERNAL_ERROR", 500)

# Corridor's error codes (``CorridorError.code`` and the server's own HTTP-level codes).
# MLflow answers "already exists" with 400, not 409, and a state that forbids an operation
# (logging to a deleted run) with INVALID_PARAMETER_VALUE: clients rely on both.
_BY_CODE: dict[str, MlflowError] = {
    InvalidInput.code: INVALID_PARAMETER_VALUE,
    PayloadTooLarge.code: MlflowError("INVALID_PARAMETER_VALUE", 413),
    Unauthenticated.code: MlflowError("UNAUTHENTICATED", 401),
    PermissionDenied.code: MlflowError("PERMISSION_DENIED", 403),
    NotFound.code: RESOURCE_DOES_NOT_EXIST,
    AlreadyExists.code: MlflowError("RESOURCE_ALREADY_EXISTS", 400),
    Conflict.code: INVALID_PARAMETER_VALUE,
    IntegrityError.code: MlflowError("DATA_LOSS", 500),
    BlobCorrupted.code: MlflowError("DATA_LOSS", 500),
    ConfigurationError.code: INTERNAL_ERROR,
    Unavailable.code: MlflowError("TEMPORARILY_UNAVAILABLE", 503),
    CorridorError.code: INTERNAL_ERROR,
    "malformed_json": MlflowError("MALFORMED_REQUEST", 400),
    "method_not_allowed": MlflowError("ENDPOINT_NOT_FOUND", 405),
}


def is_mlflow_path(path: str) -> bool:
    """Whether ``path`` belongs to the MLflow surface (and so gets MLflow's error body)."""
    return path.startswith(PATH_PREFIXES)


def mlflow_error(status: int, code: str, *, routed: bool = True) -> MlflowError:
    """The MLflow code and status for a Corridor error ``code`` answered with ``status``.

    ``routed`` is false when no route matched: MLflow clients fall back to older endpoints on
    ENDPOINT_NOT_FOUND, and must not read it as a missing experiment or run.
    """
    if not routed and status == 404:
        return MlflowError("ENDPOINT_NOT_FOUND", 404)
    found = _BY_CODE.get(code)
    if found is not None:
        return found
    if status < 500:
        return MlflowError("BAD_REQUEST", status)
    return MlflowError(INTERNAL_ERROR.error_code, status)


def render(request: Request, status: int, code: str, message: str) -> JSONResponse:
    """The response MLflow's server would give for a Corridor error."""
    error = mlflow_error(status, code, routed=request.scope.get("endpoint") is not None)
    return JSONResponse(
        {"error_code": error.error_code, "message": message}, status_code=error.status
    )
