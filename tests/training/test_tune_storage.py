"""`CorridorStorage` against a live server, on SQLite and PostgreSQL: Optuna's own storage
contract (its `StorageTestCase`), numbering under concurrent writers, and the project's
permissions on the study routes."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import optuna
import pytest
from optuna.storages import BaseStorage
from optuna.testing.pytest_storages import StorageTestCase
from optuna.trial import TrialState

from corridor.client.client import Client
from corridor.config import Settings
from corridor.errors import NotFound, PermissionDenied
from corridor.training.tune.storage import CorridorStorage
from tests.conftest import LiveServer
from tests.training.servers import module_server_on


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    with module_server_on(request, tmp_path_factory, request.param, "tune-storage") as live:
        yield live


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[Client]:
    with Client(server.url, token=server.token, settings=Settings(home=server.home)) as c:
        yield c


@pytest.fixture
def project(client: Client) -> str:
    name = f"tune-{uuid.uuid4().hex[:8]}"
    client.create_project(name)
    return name


class TestOptunaStorageContract(StorageTestCase):
    @pytest.fixture
    def storage(self, client: Client, project: str) -> BaseStorage:
        return CorridorStorage(client, project)

    def test_pickle_storage(self, storage: BaseStorage) -> None:
        # Holds a live connection: refused with a message rather than pickled half-working.
        with pytest.raises(TypeError, match="cannot be pickled"):
            storage.__getstate__()


def test_two_writers_adding_trials_at_once_get_distinct_numbers(
    server: LiveServer, client: Client, project: str
) -> None:
    study_id = CorridorStorage(client, project).create_new_study(
        [optuna.study.StudyDirection.MINIMIZE], "race"
    )
    created: list[int] = []
    errors: list[BaseException] = []

    def add_trials() -> None:
        with Client(server.url, token=server.token, settings=Settings(home=server.home)) as c:
            storage = CorridorStorage(c, project)
            try:
                for _ in range(15):
                    created.append(storage.create_new_trial(study_id))
            except BaseException as exc:
                errors.append(exc)

    writers = [threading.Thread(target=add_trials) for _ in range(2)]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    assert not errors
    trials = CorridorStorage(client, project).get_all_trials(study_id)
    assert sorted(t.number for t in trials) == list(range(30))
    assert sorted(t._trial_id for t in trials) == sorted(created)


def test_a_reader_sees_only_what_changed_since_its_version(client: Client, project: str) -> None:
    writer = CorridorStorage(client, project)
    study = optuna.create_study(storage=writer, study_name="delta")
    for x in (1.0, 2.0):
        trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 10)})
        study.tell(trial, x)
    first = writer.api.trials(study._study_id)
    assert [t.number for t in first.trials] == [0, 1]
    assert writer.api.trials(study._study_id, since=first.version).trials == []
    running = study.ask()
    changed = writer.api.trials(study._study_id, since=first.version)
    assert [t.number for t in changed.trials] == [running.number]
    assert changed.version > first.version
    # A second storage (another process, say) sees the same study through its own cache.
    reader = CorridorStorage(client, project)
    assert [t.state for t in reader.get_all_trials(study._study_id)] == [
        TrialState.COMPLETE,
        TrialState.COMPLETE,
        TrialState.RUNNING,
    ]
    study.tell(running, 0.5)
    assert reader.get_all_trials(study._study_id)[2].value == 0.5
    assert optuna.load_study(study_name="delta", storage=reader).best_value == 0.5


def _user_token(client: Client, project: str, role: str | None) -> str:
    name = f"u{uuid.uuid4().hex[:8]}"
    client.create_user(name, password="a-long-password-1")
    if role is not None:
        client.grant_role(project, name, role)
    return client.create_token("t", user=name).token


def test_a_viewer_reads_a_study_but_cannot_write_it(
    server: LiveServer, client: Client, project: str
) -> None:
    storage = CorridorStorage(client, project)
    study = optuna.create_study(storage=storage, study_name="shared")
    study.enqueue_trial({"x": 1})
    token = _user_token(client, project, "viewer")
    with Client(server.url, token=token, settings=Settings(home=server.home)) as viewer:
        as_viewer = CorridorStorage(viewer, project)
        seen = optuna.load_study(study_name="shared", storage=as_viewer)
        assert [t.state for t in seen.trials] == [TrialState.WAITING]
        with pytest.raises(PermissionDenied):
            as_viewer.create_new_trial(study._study_id)
        with pytest.raises(PermissionDenied):
            as_viewer.set_study_user_attr(study._study_id, "k", "v")
        with pytest.raises(PermissionDenied):
            as_viewer.set_trial_state_values(seen.trials[0]._trial_id, TrialState.RUNNING)
        with pytest.raises(PermissionDenied):
            as_viewer.create_new_study([optuna.study.StudyDirection.MINIMIZE], "mine")
    assert [t.state for t in storage.get_all_trials(study._study_id)] == [TrialState.WAITING]


def test_another_projects_study_and_trials_are_not_found(
    server: LiveServer, client: Client, project: str
) -> None:
    storage = CorridorStorage(client, project)
    study_id = storage.create_new_study([optuna.study.StudyDirection.MAXIMIZE], "private")
    trial_id = storage.create_new_trial(study_id)
    other = f"other-{uuid.uuid4().hex[:8]}"
    client.create_project(other)
    elsewhere = CorridorStorage(client, other)
    # Through another project's path, even for an admin: absent.
    with pytest.raises(KeyError):
        elsewhere.get_study_name_from_id(study_id)
    with pytest.raises(KeyError):
        elsewhere.get_trial(trial_id)
    with pytest.raises(KeyError):
        elsewhere.set_trial_user_attr(trial_id, "k", 1)
    with pytest.raises(KeyError):
        elsewhere.get_study_id_from_name("private")
    # A user outside the project does not learn that the project exists.
    token = _user_token(client, other, "editor")
    with Client(server.url, token=token, settings=Settings(home=server.home)) as outsider:
        with pytest.raises(NotFound):
            CorridorStorage(outsider, project).api.study(study_id)
        with pytest.raises(NotFound):
            CorridorStorage(outsider, project).api.trial(trial_id)
    assert storage.get_trial(trial_id).user_attrs == {}
