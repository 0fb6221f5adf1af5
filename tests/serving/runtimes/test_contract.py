"""The model-runtime seam's contract, run against every backend: what a replica may rely on
whatever flavour it serves."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pytest

from corridor.errors import InvalidInput
from corridor.serving.runtimes.base import ServedModel
from corridor.serving.tensors import DATATYPES, Batch, numpy_dtype
from tests.serving.runtimes.conftest import Registered, rows


@dataclass
class Case:
    """A loaded model, a good batch of at least three rows, and a batch it cannot take."""

    model: ServedModel
    good: Batch
    bad: Batch


def _same(a: np.ndarray, b: np.ndarray) -> None:
    if a.dtype.kind in "fc":
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    else:
        np.testing.assert_array_equal(a, b)


class ServedModelContract:
    """Subclass per backend and give the ``case`` fixture."""

    @pytest.fixture
    def case(self) -> Case:
        raise NotImplementedError

    def test_signature_names_inputs_and_outputs_in_protocol_datatypes(self, case: Case) -> None:
        signature = case.model.signature
        assert signature.inputs
        assert signature.outputs
        for spec in (*signature.inputs, *signature.outputs):
            assert spec.datatype in DATATYPES
            assert spec.shape[:1] == (-1,), spec.describe()
        assert case.model.kind in ("tensors", "embeddings")
        assert set(case.good) == {t.name for t in signature.inputs}

    def test_predict_gives_every_output_with_the_batch_size_and_declared_datatype(
        self, case: Case
    ) -> None:
        n = len(next(iter(case.good.values())))
        outputs = case.model.predict(case.good)
        assert set(outputs) == {t.name for t in case.model.signature.outputs}
        for spec in case.model.signature.outputs:
            array = outputs[spec.name]
            assert isinstance(array, np.ndarray)
            assert array.shape[0] == n
            assert len(array.shape) == len(spec.shape), spec.describe()
            for got, want in zip(array.shape[1:], spec.shape[1:], strict=True):
                assert want in (-1, got), spec.describe()
            if spec.datatype != "BYTES":
                assert array.dtype == numpy_dtype(spec.datatype), spec.describe()

    def test_a_batch_predicts_as_its_rows_one_by_one(self, case: Case) -> None:
        whole = case.model.predict(case.good)
        for i in (0, 2):
            one = case.model.predict({k: v[i : i + 1] for k, v in case.good.items()})
            for name, array in one.items():
                _same(array[0], whole[name][i])

    def test_two_threads_predicting_at_once_get_the_answers_of_one(self, case: Case) -> None:
        want = case.model.predict(case.good)
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda _: case.model.predict(case.good), range(4)))
        for got in answers:
            for name, array in want.items():
                _same(got[name], array)

    def test_read_only_inputs_are_taken_and_left_unchanged(self, case: Case) -> None:
        frozen = {k: v.copy() for k, v in case.good.items()}
        for array in frozen.values():
            array.flags.writeable = False
        case.model.predict(frozen)
        for name, array in frozen.items():
            _same(array, case.good[name])

    def test_an_input_the_model_cannot_take_is_invalid_input_naming_the_signature(
        self, case: Case
    ) -> None:
        with pytest.raises(InvalidInput) as caught:
            case.model.predict(case.bad)
        assert "expects inputs:" in caught.value.message or "not UTF-8" in caught.value.message
        # The model still serves after a bad batch.
        case.model.predict(case.good)


class TestTorch(ServedModelContract):
    @pytest.fixture
    def case(self, world: Registered) -> Case:
        return Case(world.load("mlp"), {"input": rows(4, 64)}, {"input": rows(4, 63)})


class TestOnnx(ServedModelContract):
    @pytest.fixture
    def case(self, world: Registered) -> Case:
        model = world.load("iris-onnx")
        return Case(model, {"X": rows(4, 4)}, {"X": rows(4, 3)})


class TestSkops(ServedModelContract):
    @pytest.fixture
    def case(self, world: Registered) -> Case:
        good = rows(4, 4, np.float64)
        return Case(world.load("iris-skops"), {"input": good}, {"input": rows(4, 3, np.float64)})


class TestFunction(ServedModelContract):
    @pytest.fixture
    def case(self, world: Registered) -> Case:
        bad = {"x": np.arange(3, dtype=np.float64)}  # one axis: the function sums along the second
        return Case(world.load("adder"), {"x": rows(4, 3, np.float64)}, bad)


class TestLinear(ServedModelContract):
    @pytest.fixture
    def case(self, world: Registered) -> Case:
        good = rows(4, 3, np.float64)
        return Case(world.load("linear"), {"input": good}, {"input": rows(4, 2, np.float64)})


class TestEmbeddings(ServedModelContract):
    @pytest.fixture
    def case(self, minilm: ServedModel) -> Case:
        texts = np.array(
            [b"a red car", b"the weather is mild", "un caf\u00e9".encode(), b"ok"], dtype=object
        )
        return Case(minilm, {"text": texts}, {"text": np.array([b"\xff\xfe"], dtype=object)})
