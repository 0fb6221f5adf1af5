"""Open Inference Protocol v2 inference requests, parsed and checked by hand. No I/O.

`parse_infer_request` turns a request body (pure JSON, or a JSON header followed by binary
tensor data) into an `InferRequest` whose inputs are NumPy arrays of their declared datatypes.

Invariant: every malformed body becomes `InvalidInput` (the gateway answers 400) and every body
over a configured limit becomes `PayloadTooLarge` (413) naming the limit, before any array
larger than the limits allow is made. No NumPy or JSON error escapes unexplained.

Cost: this runs once per request on the gateway's hot path, so it validates plain dicts from
orjson by hand (no pydantic), converts each JSON ``data`` list with one `np.array` call, and
takes binary tensors as views of the body (`oip_binary`). A 64-float FP32 request parses in a
few microseconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy.typing as npt

from corridor.errors import InvalidInput, PayloadTooLarge
from corridor.serving.protocol import json_codec
from corridor.serving.protocol.json_data import array_from_json
from corridor.serving.protocol.oip_binary import Buffer, decode_tensor
from corridor.serving.tensors import DATATYPES

HEADER_LENGTH = "inference-header-content-length"
"""The HTTP header (lower case, as ASGI gives it) that says a body carries binary tensors."""


@dataclass(frozen=True)
class TensorLimits:
    """What one request may carry; above it the answer is 413."""

    max_elements: int = 16_777_216  # per tensor
    max_bytes: int = 64 * 1024 * 1024  # the body, and the decoded tensors together
    max_inputs: int = 64


# The per-request records are plain slotted classes: a frozen dataclass's __init__ costs about
# a microsecond more per object, on every request.
@dataclass(slots=True)
class RequestTensor:
    """One input: its declared datatype and shape, and its data as an array of that shape."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    array: npt.NDArray[Any]
    parameters: dict[str, Any]


@dataclass(slots=True)
class RequestedOutput:
    """An output the client asked for, and whether it wants it as binary data."""

    name: str
    binary_data: bool


@dataclass(slots=True)
class InferRequest:
    id: str | None
    parameters: dict[str, Any]
    inputs: tuple[RequestTensor, ...]
    # None: every output of the model, in the form ``binary_data_output`` says.
    outputs: tuple[RequestedOutput, ...] | None
    binary_data_output: bool

    def batch(self) -> dict[str, npt.NDArray[Any]]:
        """The inputs by name, as the model takes them."""
        return {t.name: t.array for t in self.inputs}


def header_length_of(value: bytes | str | None) -> int | None:
    """The ``Inference-Header-Content-Length`` header's value as an int (None if absent)."""
    if value is None:
        return None
    text = (value.decode("latin-1") if isinstance(value, bytes) else value).strip()
    if not (text.isascii() and text.isdigit()):
        raise InvalidInput(
            f"Inference-Header-Content-Length must be a non-negative integer, not {text[:40]!r}"
        )
    return int(text)


def parse_infer_request(
    body: Buffer, header_length: int | None, *, limits: TensorLimits
) -> InferRequest:
    """Parse an inference request body.

    ``header_length`` is the ``Inference-Header-Content-Length`` header (None: the body is
    pure JSON). Pass the body as a `bytearray` to let binary tensors use it without a copy.
    """
    size = len(body)
    if size > limits.max_bytes:
        raise PayloadTooLarge(
            f"the request body is {size} bytes, over the limit of {limits.max_bytes} bytes "
            "(max_bytes); send fewer or smaller tensors per request"
        )
    if header_length is None:
        header: Buffer = body
        header_length = size
    else:
        if header_length < 0 or header_length > size:
            raise InvalidInput(
                f"Inference-Header-Content-Length is {header_length} but the body has only "
                f"{size} bytes; it must give the length of the JSON header that starts the body"
            )
        header = memoryview(body)[:header_length]
    doc = json_codec.loads(header, what="inference request header")
    if not isinstance(doc, dict):
        raise InvalidInput("the inference request must be a JSON object with an 'inputs' list")

    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidInput("the request 'id' must be a string")
    parameters = _parameters(doc.get("parameters"), "the request")
    binary_output = parameters.get("binary_data_output", False)
    if not isinstance(binary_output, bool):
        raise InvalidInput("the request parameter 'binary_data_output' must be true or false")

    raw_inputs = doc.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise InvalidInput("the inference request needs a non-empty 'inputs' list")
    if len(raw_inputs) > limits.max_inputs:
        raise PayloadTooLarge(
            f"the request has {len(raw_inputs)} inputs, over the limit of {limits.max_inputs} "
            "(max_inputs)"
        )
    offset = header_length
    total_bytes = 0
    inputs: list[RequestTensor] = []
    for position, raw in enumerate(raw_inputs):
        tensor, offset = _input(raw, position, body, offset, limits)
        total_bytes += tensor.array.nbytes
        inputs.append(tensor)
    if len(inputs) > 1 and len({t.name for t in inputs}) != len(inputs):
        names = [t.name for t in inputs]
        twice = sorted({n for n in names if names.count(n) > 1})
        raise InvalidInput(f"input {twice[0]!r} appears more than once in the request")
    if offset != size:
        raise InvalidInput(
            f"{size - offset} bytes follow the JSON header and the binary inputs it declares; "
            "each binary input's binary_data_size must add up to the rest of the body"
        )
    if total_bytes > limits.max_bytes:
        raise PayloadTooLarge(
            f"the request's tensors take {total_bytes} bytes, over the limit of "
            f"{limits.max_bytes} bytes (max_bytes)"
        )
    return InferRequest(
        id=request_id,
        parameters=parameters,
        inputs=tuple(inputs),
        outputs=_outputs(doc.get("outputs"), binary_output),
        binary_data_output=binary_output,
    )


def _parameters(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"the 'parameters' of {where} must be a JSON object")
    return value


def _input(
    raw: Any, position: int, body: Buffer, offset: int, limits: TensorLimits
) -> tuple[RequestTensor, int]:
    if not isinstance(raw, dict):
        raise InvalidInput(f"input {position} must be a JSON object with name, shape, datatype")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"input {position} needs a 'name' (a non-empty string)")
    datatype = raw.get("datatype")
    if not isinstance(datatype, str) or datatype not in DATATYPES:
        known = ", ".join(DATATYPES)
        raise InvalidInput(f"input {name!r}: datatype {datatype!r} is not one of {known}")
    shape = _shape(raw.get("shape"), name)
    count = math.prod(shape)
    # A zero elsewhere in the shape would let one huge dimension through the count.
    if count > limits.max_elements or (shape and max(shape) > limits.max_elements):
        raise PayloadTooLarge(
            f"input {name!r} has {count} elements, over the limit of {limits.max_elements} "
            "elements per tensor (max_elements); split it across requests"
        )
    parameters = _parameters(raw.get("parameters"), f"input {name!r}")
    binary_size = parameters.get("binary_data_size")
    data = raw.get("data")
    if binary_size is not None:
        if data is not None:
            raise InvalidInput(
                f"input {name!r} has both 'data' and binary_data_size; send one or the other"
            )
        if type(binary_size) is not int or binary_size < 0:
            raise InvalidInput(f"input {name!r}: binary_data_size must be a non-negative integer")
        left = len(body) - offset
        if binary_size > left:
            raise InvalidInput(
                f"input {name!r} declares binary_data_size {binary_size} but only {left} bytes "
                "of the body remain after the JSON header and the inputs before it"
            )
        flat = decode_tensor(body, offset, binary_size, name=name, datatype=datatype, count=count)
        offset += binary_size
    elif data is None:
        if "shared_memory_region" in parameters:
            raise InvalidInput(
                f"input {name!r} names a shared memory region; this server takes tensor data "
                "in the request only (JSON 'data' or binary data)"
            )
        raise InvalidInput(
            f"input {name!r} has no 'data' and no binary_data_size parameter; send its values"
        )
    else:
        flat = array_from_json(data, name=name, datatype=datatype, count=count)
    array = flat.reshape(shape)
    return RequestTensor(name, datatype, shape, array, parameters), offset


MAX_DIMS = 32


def _shape(value: Any, name: str) -> tuple[int, ...]:
    if not isinstance(value, list):
        raise InvalidInput(f"input {name!r} needs a 'shape' (a list of non-negative integers)")
    if len(value) > MAX_DIMS:
        raise InvalidInput(f"input {name!r} has {len(value)} dimensions; at most {MAX_DIMS}")
    for dim in value:
        if type(dim) is not int or dim < 0:
            raise InvalidInput(
                f"input {name!r}: shape {value!r} must hold non-negative integers only"
            )
    return tuple(value)


def _outputs(value: Any, default_binary: bool) -> tuple[RequestedOutput, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise InvalidInput("the request's 'outputs' must be a list of {'name': ...} objects")
    outputs: list[RequestedOutput] = []
    for position, raw in enumerate(value):
        name = raw.get("name") if isinstance(raw, dict) else None
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"requested output {position} needs a 'name' (a string)")
        parameters = _parameters(raw.get("parameters"), f"requested output {name!r}")
        binary = parameters.get("binary_data", default_binary)
        if not isinstance(binary, bool):
            raise InvalidInput(f"output {name!r}: 'binary_data' must be true or false")
        outputs.append(RequestedOutput(name, binary))
    return tuple(outputs)


def select_outputs(
    request: InferRequest, outputs: dict[str, npt.NDArray[Any]]
) -> tuple[dict[str, npt.NDArray[Any]], set[str] | bool]:
    """The outputs the request asked for and which of them go back as binary data.

    `InvalidInput` naming the model's outputs if the request asked for one it does not have.
    """
    if request.outputs is None:
        return outputs, request.binary_data_output
    chosen: dict[str, npt.NDArray[Any]] = {}
    binary: set[str] = set()
    for wanted in request.outputs:
        array = outputs.get(wanted.name)
        if array is None:
            known = ", ".join(outputs) or "none"
            raise InvalidInput(
                f"the request asks for output {wanted.name!r} but the model's outputs are {known}"
            )
        chosen[wanted.name] = array
        if wanted.binary_data:
            binary.add(wanted.name)
    return chosen, binary
