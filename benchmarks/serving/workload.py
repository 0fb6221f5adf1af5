"""What every side of the serving benchmark is sent and answers: Open Inference Protocol v2
JSON bodies for the MLP (one row of 64 float32 values) and the embedder (one English sentence),
and the fixed reply of the echo endpoint (a logits tensor of the MLP's shape).

Standard library only: the driver, the peers and Corridor's side all import it.
"""

from __future__ import annotations

import json
import random

FEATURES = 64
CLASSES = 10
SENTENCE = "The delivery van was late again and the customer wants a refund for the order."
EMBEDDING_INPUT = "text"
MLP_INPUT = "input"
MLP_OUTPUT = "logits"


def mlp_row(seed: int = 7) -> list[float]:
    rng = random.Random(seed)
    return [round(rng.gauss(0.0, 1.0), 6) for _ in range(FEATURES)]


def mlp_body() -> bytes:
    """One OIP inference request for the MLP: input ``input`` FP32 [1, 64]."""
    return json.dumps(
        {
            "inputs": [
                {"name": MLP_INPUT, "datatype": "FP32", "shape": [1, FEATURES], "data": mlp_row()}
            ]
        }
    ).encode()


def embedder_body(input_name: str = EMBEDDING_INPUT) -> bytes:
    """One OIP inference request for the embedder: one sentence as a BYTES tensor [1]."""
    return json.dumps(
        {"inputs": [{"name": input_name, "datatype": "BYTES", "shape": [1], "data": [SENTENCE]}]}
    ).encode()


def echo_reply() -> bytes:
    """The echo endpoint's fixed answer: what the MLP's reply looks like."""
    return json.dumps(
        {
            "model_name": "echo",
            "outputs": [
                {
                    "name": MLP_OUTPUT,
                    "datatype": "FP32",
                    "shape": [1, CLASSES],
                    "data": [0.0] * CLASSES,
                }
            ],
        }
    ).encode()
