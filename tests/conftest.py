"""Fixtures shared by the whole suite: homes, settings and metadata stores on both backends."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from click.testing import CliRunner

from corridor.config import Settings
from corridor.home import init_home
from corridor.quickstart import ServerProcess, free_port
from corridor.store.db import Database
from corridor.store.migrate import upgrade

# The modules that take longest, started first: the workers share files out in collection
# order, so a long module collected last runs alone at the end while the others sit idle.
SLOW_FIRST = (
    "tests/training/test_hyperlocal_example.py",
    "tests/training/test_mlp_example.py",
    "tests/compute/ray/",
    "tests/fuzz/",
    "tests/training/",
    "tests/mlflow_compat/test_client",
    "tests/serving/runtimes/",
    "tests/serving/gateway/",
    "tests/store/test_blobs.py",
    "tests/compute/test_durability.py",
    "tests/data/test_memory.py",
    "tests/tracking/test_live.py",
)


def _start_rank(item: pytest.Item) -> int:
    path = item.nodeid.split("::", 1)[0]
    return next((i for i, p in enumerate(SLOW_FIRST) if path.startswith(p)), len(SLOW_FIRST))


# Session-wide worlds (a live server with models, the pipelines server...) that several modules
# share: every module using one runs on the same worker, so the world is built once per suite
# run, not once per worker that happens to receive one of its modules. Fixture name -> group.
SHARED_WORLDS = {
    "serving_world": "serving-world",
    "pipelines_server": "pipelines-server",
    "admin_client": "pipelines-server",
}
# Folders whose package-scoped world (conftest.py) is shared by all their modules.
SHARED_FOLDERS = ("tests/serving/runtimes/",)


def _uses(fixture: str, module: Path, tests: Path) -> bool:
    """Whether ``module`` asks for ``fixture``, itself or through a fixture of a conftest.py
    between it and ``tests`` (other than the one that defines it)."""
    if fixture in module.read_text(encoding="utf-8"):
        return True
    for folder in module.parents:
        if folder == tests:  # this file's own tables name every world
            return False
        conftest = folder / "conftest.py"
        if conftest.exists():
            text = conftest.read_text(encoding="utf-8")
            if fixture in text and f"def {fixture}(" not in text:
                return True
    return False


def shared_groups(root: Path) -> dict[str, str]:
    """The worker group of every test module that shares a world, by its path from ``root``."""
    tests = root / "tests"
    groups: dict[str, str] = {}
    for module in sorted(tests.rglob("test_*.py")):
        path = module.relative_to(root).as_posix()
        folder = next((f for f in SHARED_FOLDERS if path.startswith(f)), None)
        if folder is not None:
            groups[path] = folder
            continue
        for fixture, group in SHARED_WORLDS.items():
            if _uses(fixture, module, tests):
                groups[path] = group
                break
    return groups


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """``--dist loadfile``, with the modules that share a world kept on one worker too."""
    from xdist.scheduler import LoadScopeScheduling

    groups = shared_groups(config.rootpath)

    class SharedWorldScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return groups.get(path, path)

    return SharedWorldScheduling(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A stable sort by module: each module's tests stay together and in their order.
    items.sort(key=_start_rank)


PG_ADMIN_URL = os.environ.get(
    "CORRIDOR_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _pg_reachable() -> bool:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def _pg_url(dbname: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{dbname}".replace("postgresql://", "postgresql+psycopg://", 1)


def _pg_admin(sql: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated PostgreSQL database that each test copies; skipped only off CI."""
    if not _pg_reachable():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is unreachable at {PG_ADMIN_URL} and CI is set")
        pytest.skip("PostgreSQL is unreachable (set CI to make this a failure)")
    name = f"corridor_tmpl_{uuid.uuid4().hex[:12]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    db = Database(_pg_url(name))
    upgrade(db)
    db.dispose()
    yield name
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    """URL of a fresh, migrated PostgreSQL database for one test."""
    name = f"corridor_test_{uuid.uuid4().hex[:12]}"
    _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    yield _pg_url(name)
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def _clear_corridor_env(mp: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("CORRIDOR_") and key != "CORRIDOR_TEST_PG_URL":
            mp.delenv(key)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep tests away from the developer's own home and credentials."""
    _clear_corridor_env(monkeypatch)
    monkeypatch.setenv("CORRIDOR_HOME", str(tmp_path / "default-home"))


@contextmanager
def clean_env() -> Iterator[None]:
    """No CORRIDOR_ variables from the caller's environment, for fixtures wider than a test
    (which run before ``_isolated_env`` does)."""
    with pytest.MonkeyPatch.context() as mp:
        _clear_corridor_env(mp)
        yield


def sqlite_url(home: Path) -> str:
    """The URL of the SQLite metadata store inside ``home``, as ``database_url`` makes it."""
    return f"sqlite:///{home / 'corridor.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, home: Path) -> str:
    """Each test using this runs once per metadata backend."""
    if request.param == "sqlite":
        return sqlite_url(home)
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty SQLite metadata store, made once per worker, that tests copy."""
    path = tmp_path_factory.mktemp("sqlite-template") / "corridor.db"
    database = Database(f"sqlite:///{path}")
    upgrade(database)
    database.dispose()
    return path


def premigrate(database_url: str, template: Path) -> None:
    """Put a copy of the migrated ``template`` where a SQLite ``database_url`` will be, unless
    a store is there already: migrating a new file costs a third of a second, copying one none."""
    if database_url.startswith("sqlite:///"):
        path = Path(database_url.removeprefix("sqlite:///"))
        if not path.exists():
            shutil.copyfile(template, path)


@pytest.fixture
def db(database_url: str, sqlite_template: Path) -> Iterator[Database]:
    """A migrated metadata store, once on SQLite and once on PostgreSQL."""
    premigrate(database_url, sqlite_template)
    database = Database(database_url)
    upgrade(database)
    yield database
    database.dispose()


@pytest.fixture
def settings(home: Path, database_url: str) -> Settings:
    return Settings(home=home, database_url=database_url)


# Live servers: a real `corridor server` subprocess on loopback, for server, CLI and SDK tests.

LIVE_MAX_BODY_BYTES = 64 * 1024


@dataclass
class LiveServer:
    """A running `corridor server` over ``home``, and the token of the home's first admin."""

    home: Path
    database_url: str
    token: str
    env: dict[str, str]
    process: ServerProcess

    @property
    def url(self) -> str:
        return self.process.url

    @property
    def log_path(self) -> Path:
        return self.process.log_path

    def auth(self, token: str | None = None) -> dict[str, str]:
        """Headers that present ``token`` (default: the admin's) as a bearer credential."""
        return {"authorization": f"Bearer {token or self.token}"}

    def client(self, token: str | None = None) -> httpx.Client:
        """A plain HTTP client to the server, authenticated as ``token`` (default: admin)."""
        return httpx.Client(base_url=self.url, headers=self.auth(token), timeout=30)

    def start(self) -> None:
        """Start a fresh server process over the same home and port (after ``stop`` or a kill),
        as a restarted server would be: its clients and job workers find it where it was."""
        port = int(self.url.rsplit(":", 1)[1])
        self.process = _start_server(self.home, self.env, port=port)

    def stop(self) -> int:
        return self.process.stop()


def _start_server(home: Path, env: dict[str, str], *, port: int | None = None) -> ServerProcess:
    server = ServerProcess(home, port or free_port(), env=env)
    try:
        server.wait_ready()
    except BaseException:
        server.kill()
        raise
    return server


@contextmanager
def serving(
    home: Path,
    database_url: str,
    *,
    max_body_bytes: int = LIVE_MAX_BODY_BYTES,
    sqlite_template: Path | None = None,
) -> Iterator[LiveServer]:
    """Initialise ``home`` over ``database_url`` and run a server on it until the block ends."""
    if sqlite_template is not None:
        premigrate(database_url, sqlite_template)
    result = init_home(Settings(home=home, database_url=database_url))
    env = {
        "CORRIDOR_DATABASE_URL": database_url,
        "CORRIDOR_MAX_BODY_BYTES": str(max_body_bytes),
    }
    server = LiveServer(home, database_url, result.admin_token, env, _start_server(home, env))
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def module_server(
    factory: pytest.TempPathFactory, name: str, *, max_body_bytes: int = LIVE_MAX_BODY_BYTES
) -> Iterator[LiveServer]:
    """A SQLite-backed server on a home of its own, for a fixture wider than one test."""
    home = factory.mktemp(name) / "home"
    home.mkdir()
    with clean_env(), serving(home, sqlite_url(home), max_body_bytes=max_body_bytes) as live:
        yield live


@pytest.fixture
def live_server(home: Path, database_url: str, sqlite_template: Path) -> Iterator[LiveServer]:
    """A live server on a fresh home, once per metadata backend.

    Tests that do not depend on the backend narrow it with ``sqlite_only``.
    """
    with serving(home, database_url, sqlite_template=sqlite_template) as server:
        yield server


sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


# The `corridor` command, run in this process: a child Python per command costs a second of
# imports, so only tests/cli/test_cli.py's smoke test runs the installed executable.


def run_cli(home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run `corridor ARGS` over ``home`` as its entry point does, with the exit code and the
    two output streams a child process would have given."""
    from corridor.cli.main import run as corridor_main

    with CliRunner().isolation(input=stdin, env={"CORRIDOR_HOME": str(home)}) as streams:
        out, err, _ = streams
        saved_argv = sys.argv
        sys.argv = ["corridor", *args]
        try:
            corridor_main()
            code = 0
        except SystemExit as exc:
            if exc.code is None or isinstance(exc.code, int):
                code = exc.code or 0
            else:  # sys.exit("message") prints the message, as the interpreter would
                print(exc.code, file=sys.stderr)
                code = 1
        except Exception:  # what escapes (with --debug) ends the process with a traceback
            traceback.print_exc()
            code = 1
        finally:
            sys.argv = saved_argv
            sys.stdout.flush()
            sys.stderr.flush()
        return subprocess.CompletedProcess(
            ["corridor", *args], code, out.getvalue().decode(), err.getvalue().decode()
        )
