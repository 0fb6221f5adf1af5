"""OpenAI-style routes over embedding deployments: ``/v1/models``, ``/v1/models/{id}``,
``/v1/embeddings``. The deployment's name is the ``model``.

Only deployments that map texts to vectors (`embeds_text`: an embeddings model, or one whose
signature is one ``BYTES`` input to one 2-D float output) are listed and answered; naming any
other deployment is a 404, as OpenAI answers an unknown model.
Access is the OIP routes' (see `access`): the same tokens, roles, 404-before-403 and rate
limits. Texts go to the deployment as one ``BYTES`` tensor (UTF-8), so they are batched with
every other request to it, whichever protocol it came by.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from corridor.errors import NotFound
from corridor.security.token_view import TokenEntry
from corridor.serving.gateway.asgi_io import read_body, read_head
from corridor.serving.gateway.oip_routes import MethodNotAllowed, request_id
from corridor.serving.gateway.reply import Reply, Served
from corridor.serving.plane import DeploymentHandle, InferenceContext
from corridor.serving.protocol import openai
from corridor.serving.tensors import ModelSignature

if TYPE_CHECKING:
    from starlette.types import Receive, Scope

    from corridor.serving.gateway.app import Gateway

# Deployments carry no creation time the gateway sees; OpenAI's ``created`` is informational.
_STARTED = int(time.time())


async def route(gateway: Gateway, scope: Scope, receive: Receive, served: Served) -> Reply:
    path: str = scope["path"]
    head = read_head(scope)
    entry = gateway.access.authenticate(head.authorization)
    if path == "/v1/embeddings":
        if scope["method"] != "POST":
            raise MethodNotAllowed("/v1/embeddings answers POST only")
        body = await read_body(head, receive, gateway.limits.max_bytes)
        request = openai.parse_embeddings_request(body if isinstance(body, bytes) else bytes(body))
        served.deployment = request.model
        handle = _embedder(gateway.plane.get(request.model), request.model)
        gateway.access.check_invoke(entry, handle, request.model)
        assert handle is not None
        return await _embed(gateway, handle, request, entry, head.request_id)
    if scope["method"] != "GET":
        raise MethodNotAllowed(f"{path} answers GET only")
    if path == "/v1/models":
        cards = [_card(gateway, h) for h in _listed(gateway, entry)]
        return Reply(200, openai.encode_model_list(cards))
    name = path.removeprefix("/v1/models/")
    handle = _embedder(gateway.plane.get(name), name)
    return Reply(
        200, openai.encode_model(_card(gateway, gateway.access.readable(entry, handle, name)))
    )


def embeds_text(handle: DeploymentHandle) -> bool:
    """Whether ``handle`` maps texts to vectors: an embeddings model, or any model whose
    signature is one ``BYTES`` input to one 2-D float output (a plain function, say)."""
    if handle.kind == "embeddings":
        return True
    signature = handle.signature
    if len(signature.inputs) != 1 or len(signature.outputs) != 1:
        return False
    out = signature.outputs[0]
    return (
        signature.inputs[0].datatype == "BYTES"
        and out.datatype in ("FP16", "FP32", "FP64")
        and len(out.shape) == 2
    )


def _embedder(handle: DeploymentHandle | None, name: str) -> DeploymentHandle | None:
    if handle is not None and not embeds_text(handle):
        raise NotFound(
            f"model {name!r} is not an embedding model; call it at /v2/models/{name}/infer"
        )
    return handle


def _listed(gateway: Gateway, entry: TokenEntry) -> list[DeploymentHandle]:
    view = gateway.access.view
    return [
        handle
        for name, handle in sorted(gateway.plane.deployments.items())
        if embeds_text(handle)
        and view.can_see(entry, handle.project_id)
        and entry.invoke_deployment in (None, name)
    ]


def _card(gateway: Gateway, handle: DeploymentHandle) -> openai.ModelCard:
    owner = gateway.access.view.projects.get(handle.project_id, handle.project_id)
    return openai.ModelCard(id=handle.name, created=_STARTED, owned_by=owner)


async def _embed(
    gateway: Gateway,
    handle: DeploymentHandle,
    request: openai.EmbeddingsRequest,
    entry: TokenEntry,
    sent_id: str | None,
) -> Reply:
    signature = handle.signature
    dimension = _dimension(signature)
    if dimension is not None:
        openai.check_dimensions(request, dimension)
    text_input = signature.inputs[0]
    texts = _texts_tensor(request.texts, len(text_input.shape))
    context = InferenceContext(request_id=request_id(sent_id), token_id=entry.token_id)
    outputs = await handle.infer({text_input.name: texts}, context)
    name = signature.outputs[0].name if signature.outputs else next(iter(outputs))
    vectors = np.asarray(outputs[name], dtype=np.float32).reshape(len(request.texts), -1)
    if dimension is None:
        openai.check_dimensions(request, vectors.shape[1])
    body = openai.encode_embeddings_response(
        request.model,
        vectors,
        encoding_format=request.encoding_format,
        prompt_tokens=openai.count_tokens(request.texts),
    )
    return Reply(200, body)


def _dimension(signature: ModelSignature) -> int | None:
    if not signature.outputs or not signature.outputs[0].shape:
        return None
    last = signature.outputs[0].shape[-1]
    return last if last > 0 else None


def _texts_tensor(texts: tuple[str, ...], rank: int) -> npt.NDArray[Any]:
    """The texts as the model's BYTES input: ``[n]``, or ``[n, 1]`` for a rank-2 input."""
    array = np.empty(len(texts), dtype=object)
    array[:] = [text.encode() for text in texts]
    return array.reshape(-1, 1) if rank == 2 else array
