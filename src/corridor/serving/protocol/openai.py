"""OpenAI-style embeddings and model list: ``/v1/embeddings`` and ``/v1/models``. No I/O.

Requests are what the ``openai`` client sends to ``embeddings.create``: ``model``, ``input`` (a
string or a list of strings), ``encoding_format`` (``float`` or ``base64``; the client asks for
``base64`` unless told otherwise and decodes it itself), ``dimensions`` and ``user``. Token-id
inputs are refused: these deployments embed text. Responses and errors have OpenAI's shapes, so
the real client parses them with its own types.

Invariant: every malformed request is `InvalidInput` (400) naming the offending parameter.
``usage`` counts whitespace-separated words, not model tokens: a cheap, documented stand-in
(tokenising twice would double the cost of a request to report a number).

Cost: base64 vectors are one `tobytes` and one `b64encode` per row; float vectors go to orjson
as float32 rows without `tolist`.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from corridor.errors import CorridorError, InvalidInput, PayloadTooLarge
from corridor.serving.protocol import json_codec

EncodingFormat = Literal["float", "base64"]
MAX_INPUTS = 2048
"""OpenAI's own limit on the texts of one request."""


class InvalidParameter(InvalidInput):
    """A request parameter was wrong; ``param`` names it, as OpenAI's errors do."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class EmbeddingsRequest:
    model: str
    texts: tuple[str, ...]
    encoding_format: EncodingFormat
    dimensions: int | None
    user: str | None


@dataclass(frozen=True)
class ModelCard:
    """One entry of ``/v1/models``: a deployment's name, when it was made, its project."""

    id: str
    created: int  # unix seconds
    owned_by: str


def parse_embeddings_request(body: bytes, *, max_inputs: int = MAX_INPUTS) -> EmbeddingsRequest:
    """Parse a ``POST /v1/embeddings`` body."""
    doc = json_codec.loads(body, what="embeddings request")
    if not isinstance(doc, dict):
        raise InvalidInput("the embeddings request must be a JSON object with model and input")
    model = doc.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidParameter("'model' must name a deployment (a non-empty string)", "model")
    texts = _texts(doc.get("input"), max_inputs)
    requested = doc.get("encoding_format") or "float"
    encoding_format: EncodingFormat
    if requested == "float":
        encoding_format = "float"
    elif requested == "base64":
        encoding_format = "base64"
    else:
        raise InvalidParameter(
            f"encoding_format {requested!r} is not supported; use 'float' or 'base64'",
            "encoding_format",
        )
    dimensions = doc.get("dimensions")
    if dimensions is not None and (type(dimensions) is not int or dimensions < 1):
        raise InvalidParameter("'dimensions' must be a positive integer", "dimensions")
    user = doc.get("user")
    if user is not None and not isinstance(user, str):
        raise InvalidParameter("'user' must be a string", "user")
    return EmbeddingsRequest(model, texts, encoding_format, dimensions, user)


def _texts(value: Any, max_inputs: int) -> tuple[str, ...]:
    if isinstance(value, str):
        texts: list[Any] = [value]
    elif isinstance(value, list) and value:
        texts = value
    else:
        raise InvalidParameter("'input' must be a string or a non-empty list of strings", "input")
    if len(texts) > max_inputs:
        raise PayloadTooLarge(
            f"'input' has {len(texts)} texts, over the limit of {max_inputs} per request"
        )
    for text in texts:
        if not isinstance(text, str):
            if isinstance(text, int | list):
                raise InvalidParameter(
                    "'input' holds token ids; this deployment embeds text, so send text "
                    "(a string or a list of strings)",
                    "input",
                )
            raise InvalidParameter("every element of 'input' must be a string", "input")
        if not text:
            raise InvalidParameter("'input' must not contain empty strings", "input")
    return tuple(texts)


def check_dimensions(request: EmbeddingsRequest, model_dimensions: int) -> None:
    """Refuse a ``dimensions`` the model does not produce (vectors are never truncated)."""
    if request.dimensions is not None and request.dimensions != model_dimensions:
        raise InvalidParameter(
            f"model {request.model!r} produces {model_dimensions}-dimensional embeddings; "
            f"dimensions={request.dimensions} is not supported (leave it out or send "
            f"{model_dimensions})",
            "dimensions",
        )


def count_tokens(texts: Iterable[str]) -> int:
    """Whitespace-separated words: what ``usage`` reports (not the model's own tokens)."""
    return sum(len(text.split()) for text in texts)


def encode_embeddings_response(
    model: str,
    vectors: npt.NDArray[Any],
    *,
    encoding_format: EncodingFormat,
    prompt_tokens: int,
) -> bytes:
    """The body of an embeddings response: one row of ``vectors`` per input text, in order."""
    if vectors.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D array, got shape {vectors.shape}")
    rows = np.ascontiguousarray(vectors, dtype="<f4")
    if encoding_format == "base64":
        data = [
            {"object": "embedding", "index": i, "embedding": base64.b64encode(row).decode()}
            for i, row in enumerate(rows)
        ]
    else:
        data = [{"object": "embedding", "index": i, "embedding": row} for i, row in enumerate(rows)]
    return json_codec.dumps(
        {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
        }
    )


def encode_model_list(models: Iterable[ModelCard]) -> bytes:
    """The body of ``GET /v1/models``."""
    return json_codec.dumps({"object": "list", "data": [_card(m) for m in models]})


def encode_model(model: ModelCard) -> bytes:
    """The body of ``GET /v1/models/{id}``."""
    return json_codec.dumps(_card(model))


def _card(model: ModelCard) -> dict[str, Any]:
    return {"id": model.id, "object": "model", "created": model.created, "owned_by": model.owned_by}


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


def error_body(
    message: str, *, error_type: str, param: str | None = None, code: str | None = None
) -> bytes:
    """An OpenAI-shaped error: ``{"error": {"message", "type", "param", "code"}}``."""
    return json_codec.dumps(
        {"error": {"message": message, "type": error_type, "param": param, "code": code}}
    )


def encode_error(error: CorridorError) -> tuple[int, bytes]:
    """The status and body OpenAI's API would give ``error`` (a bad request is 400)."""
    status = error.status_code
    if isinstance(error, InvalidInput) and not isinstance(error, PayloadTooLarge):
        status = 400
    kind = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    param = error.param if isinstance(error, InvalidParameter) else None
    return status, error_body(error.message, error_type=kind, param=param, code=error.code)
