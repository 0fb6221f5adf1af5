"""The model in the gateway's own process, loaded through the runtimes registry."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from corridor.errors import SignatureInvalid
from corridor.serving.replicas.base import ReplicaSpec
from corridor.serving.replicas.inprocess import InProcessReplica
from corridor.serving.replicas.registry import start_replica
from tests.serving.replicas.conftest import Run
from tests.serving.replicas.packages import CLASSES, FEATURES


def test_inprocess_replica_predicts_a_batch_with_the_package_signature(
    mlp_package: tuple[ReplicaSpec, list[bytes]], run: Run[Any]
) -> None:
    spec, keys = mlp_package
    replica = run(start_replica(spec, keys))
    try:
        assert isinstance(replica, InProcessReplica)
        assert replica.signature.describe() == (
            f"inputs: input FP32 [-1, {FEATURES}] -> outputs: logits FP32 [-1, {CLASSES}]"
        )
        assert replica.kind == "tensors"
        assert replica.measured_s is not None
        batch = {"input": np.ones((5, FEATURES), dtype=np.float32)}
        outputs = run(replica.infer(batch))
        assert outputs["logits"].shape == (5, CLASSES)
        assert replica.outstanding == 0
        assert run(replica.healthy())
    finally:
        run(replica.stop())
    assert not run(replica.healthy())


def test_inprocess_replica_refuses_a_package_signed_by_another_key(
    mlp_package: tuple[ReplicaSpec, list[bytes]], run: Run[Any]
) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from corridor.security.signing_keys import public_pem

    spec, _ = mlp_package
    stranger = public_pem(ec.generate_private_key(ec.SECP256R1()).public_key())
    with pytest.raises(SignatureInvalid):
        run(start_replica(spec, [stranger]))
