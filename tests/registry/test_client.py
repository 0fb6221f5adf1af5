"""The SDK: register a folder, alias it, load it back; in-process and over HTTP."""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import pytest

from corridor import Client
from corridor.config import Settings
from corridor.errors import InvalidInput, NotFound
from corridor.home import init_home
from corridor.registry.manifest import MANIFEST_FILE_NAME
from tests.conftest import LIVE_MAX_BODY_BYTES, LiveServer, sqlite_only
from tests.registry.conftest import make_files

LINEAR = b'{"weights": [2.0, -1.0], "bias": 0.5}'


class Doubler:
    """A picklable model (module-level, so pickle can find it again)."""

    def predict(self, inputs: list[float]) -> list[float]:
        return [2 * x for x in inputs]


@dataclass
class Target:
    url: str | None
    token: str

    def client(self) -> Client:
        return Client(self.url, token=self.token)


@pytest.fixture(params=["in-process", "http"])
def target(
    request: pytest.FixtureRequest, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Target:
    if request.param == "http":
        live: LiveServer = request.getfixturevalue("live_server")
        return Target(live.url, live.token)
    monkeypatch.setenv("CORRIDOR_HOME", str(settings.home))
    monkeypatch.setenv("CORRIDOR_DATABASE_URL", settings.database_url)
    return Target(None, init_home(settings).admin_token)


@sqlite_only
def test_register_alias_and_load_a_model(target: Target, tmp_path: Path) -> None:
    big = os.urandom(2 * LIVE_MAX_BODY_BYTES)  # over the JSON body limit of the live server
    folder = make_files(tmp_path / "model", {"model.json": LINEAR, "extra/blob.bin": big})
    with target.client() as c:
        c.create_project("churn")
        v1 = c.register_model(
            "churn/fraud",
            folder,
            flavour="corridor.linear",
            entry="model.json",
            metrics={"auc": 0.9},
            scope="specific",
            tags={"by": "sdk"},
        )
        assert (v1.name, v1.version, v1.status, v1.scope) == ("churn/fraud", 1, "READY", "specific")
        # A bare name finds the model's project by itself from now on.
        v2 = c.register_model("churn/fraud", folder / "model.json", flavour="corridor.linear")
        assert v2.version == 2
        c.set_alias("churn/fraud", "production", 1)
        assert c.get_model("churn/fraud").aliases == {"production": 1}
        assert [v.version for v in c.list_model_versions("churn/fraud")] == [2, 1]
        assert c.resolve_model("models:/churn/fraud/latest").version == 2
        loaded = c.load_model("models:/churn/fraud@production", dest=tmp_path / "out")
        assert loaded.predict([[1.0, 1.0], [0.0, 2.0]]) == [1.5, -1.5]
        assert (loaded.path / "extra/blob.bin").read_bytes() == big
        assert (loaded.path / MANIFEST_FILE_NAME).is_file()
        assert loaded.manifest.metrics == {"auc": 0.9}
        with pytest.raises(InvalidInput, match="not empty"):
            c.download_model("models:/churn/fraud/1", tmp_path / "out")
        assert [m.name for m in c.list_models().models] == ["churn/fraud"]
        assert [m.name for m in c.list_models("churn").models] == ["churn/fraud"]


@sqlite_only
def test_pickle_flavours_need_the_projects_switch(target: Target, tmp_path: Path) -> None:
    model = tmp_path / "model.pkl"
    model.write_bytes(pickle.dumps(Doubler()))
    with target.client() as c:
        c.create_project("churn")
        with pytest.raises(InvalidInput, match="pickle-based"):
            c.register_model("churn/pickled", model, flavour="sklearn", entry="model.pkl")
        c.set_project_pickle("churn", allowed=True)  # the client's token is a server admin's
        c.register_model("churn/pickled", model, flavour="sklearn", entry="model.pkl")
        loaded = c.load_model("models:/churn/pickled/1")
        assert loaded.predict([1.0, 2.0]) == [2.0, 4.0]
        c.set_project_pickle("churn", allowed=False)
        with pytest.raises(InvalidInput, match="does not allow pickle"):
            c.load_model("models:/churn/pickled/1")
        # A flavour Corridor does not load gives the files and the manifest, no predictor.
        tensors = make_files(tmp_path / "t", {"weights.safetensors": LINEAR})
        c.register_model("churn/tensors", tensors, flavour="safetensors")
        files = c.load_model("models:/churn/tensors/1")
        assert files.predictor is None
        assert (files.path / "weights.safetensors").read_bytes() == LINEAR
        with pytest.raises(InvalidInput, match="no loader"):
            files.predict([1.0])


@sqlite_only
def test_a_new_model_that_names_no_project_goes_to_the_default_project(
    target: Target, tmp_path: Path
) -> None:
    path = make_files(tmp_path / "m", {"model.json": LINEAR}) / "model.json"
    with target.client() as c:
        c.create_project("churn")
        # As MLflow's callers' do: a bare name and no project land in `default`, made on demand.
        mine = c.register_model("fraud", path, flavour="corridor.linear")
        assert (mine.name, mine.project, mine.version) == ("fraud", "default", 1)
        assert c.get_project("default").name == "default"
        again = c.register_model("fraud", path, flavour="corridor.linear")
        assert (again.project, again.version) == ("default", 2)
        v = c.register_model("fraud", path, flavour="corridor.linear", project="churn")
        assert v.name == "churn/fraud"
        with pytest.raises(NotFound):
            c.get_model("absent/model")
