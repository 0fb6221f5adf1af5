"""Open Inference Protocol v2 responses: inference results, metadata and errors. No I/O.

`encode_infer_response` writes outputs as JSON ``data`` lists or, for the outputs a client asked
to get as binary data, as raw bytes after the JSON header (the binary tensor data extension:
``application/octet-stream`` and an ``inference-header-content-length`` header).

Cost: this runs once per request. Numeric JSON outputs go to orjson as flat NumPy arrays (it
writes them in C, no `tolist`); binary outputs are joined into the body with a single copy.
Header names are lower case, as ASGI wants them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy.typing as npt

from corridor.errors import CorridorError, InvalidInput, PayloadTooLarge
from corridor.serving.protocol import json_codec
from corridor.serving.protocol.oip_binary import encode_tensor
from corridor.serving.tensors import ModelSignature, datatype_of_array

JSON_HEADERS = {"content-type": "application/json"}
EXTENSIONS = ("binary_tensor_data",)
"""The OIP extensions this server speaks, as its server metadata lists them."""


def encode_infer_response(
    model_name: str,
    model_version: str | None,
    request_id: str | None,
    outputs: Mapping[str, npt.NDArray[Any]],
    *,
    binary: set[str] | bool,
    parameters: Mapping[str, Any] | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The response body and its headers. ``binary``: the outputs to send as binary data
    (True: all of them, False: none)."""
    doc: dict[str, Any] = {"model_name": model_name}
    if model_version is not None:
        doc["model_version"] = model_version
    if request_id is not None:
        doc["id"] = request_id
    if parameters:
        doc["parameters"] = dict(parameters)
    tensors: list[dict[str, Any]] = []
    raw: list[bytes | memoryview] = []
    for name, array in outputs.items():
        datatype = datatype_of_array(array)
        tensor: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
        if binary is True or (binary is not False and name in binary):
            data = encode_tensor(array, datatype)
            tensor["parameters"] = {"binary_data_size": len(data)}
            raw.append(data)
        else:
            tensor["data"] = _json_data(name, array, datatype)
        tensors.append(tensor)
    doc["outputs"] = tensors
    header = json_codec.dumps(doc)
    if not raw:
        return header, JSON_HEADERS
    headers = {
        "content-type": "application/octet-stream",
        "inference-header-content-length": str(len(header)),
    }
    return b"".join([header, *raw]), headers


def _json_data(name: str, array: npt.NDArray[Any], datatype: str) -> Any:
    if datatype != "BYTES":
        # orjson writes the flat array itself (anything it cannot goes through tolist).
        return array.reshape(-1)
    items = array.reshape(-1).tolist()
    try:
        return [item.decode() if isinstance(item, bytes) else str(item) for item in items]
    except UnicodeDecodeError:
        raise InvalidInput(
            f"output {name!r} holds bytes that are not UTF-8 text, which JSON cannot carry; "
            "ask for it as binary data (outputs: [{'name': ..., 'parameters': "
            "{'binary_data': true}}])"
        ) from None


def server_metadata(version: str) -> bytes:
    """The body of ``GET /v2``."""
    return json_codec.dumps({"name": "corridor", "version": version, "extensions": EXTENSIONS})


def model_metadata(
    name: str, versions: Iterable[str], platform: str, signature: ModelSignature
) -> dict[str, Any]:
    """The OIP model metadata of a deployment (``GET /v2/models/{name}``)."""
    return {
        "name": name,
        "versions": list(versions),
        "platform": platform,
        "inputs": [t.as_metadata() for t in signature.inputs],
        "outputs": [t.as_metadata() for t in signature.outputs],
    }


def encode_json(document: Any) -> bytes:
    """Any JSON response body (metadata, readiness...)."""
    return json_codec.dumps(document)


def error_body(message: str) -> bytes:
    """An OIP error body: ``{"error": message}``."""
    return json_codec.dumps({"error": message})


def error_status(error: CorridorError) -> int:
    """The HTTP status KServe and Triton give ``error``: a bad request is 400, not 422."""
    if isinstance(error, InvalidInput) and not isinstance(error, PayloadTooLarge):
        return 400
    return error.status_code
