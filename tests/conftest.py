"""A real PostgreSQL for the whole test session: embedded by default, or a fresh database on the server
named by MONKEYTOWN_TEST_DATABASE_URL."""

from __future__ import annotations

import os
import warnings

import psycopg
import pytest

from ingest_api import migrate
from ingest_api.app import create_app
from monkeytown.database import scratch_server
from orchestration.environment import dagster_environment

warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


def pytest_collection_modifyitems(config, items):
    """A test that reaches no database of the session's server (no `scratch` among its fixtures, directly or
    through another) is marked server_independent: .ci/run's second pass, on another server, leaves it out."""
    for item in items:
        if "scratch" not in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.server_independent)


@pytest.fixture(scope="session")
def scratch(tmp_path_factory):
    """The session's server: embedded by default, or the one MONKEYTOWN_TEST_DATABASE_URL names; every database
    the session creates on it is dropped at the end."""
    with scratch_server(tmp_path_factory.mktemp("home"), os.environ.get("MONKEYTOWN_TEST_DATABASE_URL"),
                        prefix="monkeytown_test") as server:
        yield server


@pytest.fixture(scope="session")
def server_url(scratch):
    """A maintenance URL of the server the session uses (its `postgres` database)."""
    return scratch.maintenance_url


@pytest.fixture(scope="session")
def make_database(scratch):
    """Creates fresh databases on the session's server, migrated unless told otherwise."""

    def make(migrated: bool = True) -> str:
        url = scratch.create_database()
        if migrated:
            migrate.upgrade(url)
        return url

    return make


@pytest.fixture(scope="session")
def database_url(make_database):
    """The session's main database, at the latest migration."""
    return make_database()


@pytest.fixture
def db(database_url):
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def clean_raw(db):
    db.execute("TRUNCATE raw.events, raw.event_ids, raw.ingest_errors")
    return db


# --- the API, in process, on the session's database ---------------------------------------------------------

@pytest.fixture
def redis_server(tmp_path):
    """A Redis of this test's own (tests/redis_server.py); skipped only where the redis-server binary is absent."""
    from tests.redis_server import NO_REDIS, REDIS_SERVER, own_redis

    if REDIS_SERVER is None:
        pytest.skip(NO_REDIS)
    with own_redis(tmp_path / "redis") as server:
        yield server


WRITE_KEY = "test-write-key-0123456789"


@pytest.fixture(scope="session")
def app(database_url):
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "WRITE_KEYS": {"tests": WRITE_KEY}})
    yield app
    app.extensions["monkeytown.ingest"].pool.close()


@pytest.fixture
def client(app, clean_raw):
    return app.test_client()


@pytest.fixture
def auth():
    return {"Authorization": f"Bearer {WRITE_KEY}"}


#: Beside the docs folders in a docs test's MONKEYTOWN_HOME: what no /data-docs/ or /dbt-docs/ path may serve.
SECRET_BESIDE_DOCS = b"outside the docs folders: never served"


@pytest.fixture
def docs_home(tmp_path):
    """A MONKEYTOWN_HOME of the test's own, holding a file next to the docs folders that must never be served."""
    (tmp_path / "dev_write_key").write_bytes(SECRET_BESIDE_DOCS)
    return tmp_path


@pytest.fixture
def docs_client(docs_home, database_url, monkeypatch):
    """The API, as a test client, with MONKEYTOWN_HOME at `docs_home`."""
    monkeypatch.setenv("MONKEYTOWN_HOME", str(docs_home))
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "WRITE_KEYS": {"tests": WRITE_KEY}})
    yield app.test_client()
    app.extensions["monkeytown.ingest"].pool.close()


# --- Dagster's processes, in this one ------------------------------------------------------------------------


@pytest.fixture
def pipeline_env(monkeypatch, make_database, tmp_path):
    """A fresh database, and the environment Dagster's processes get (dbt's connection, GX's folders), set here so
    that in-process runs (materialize_everything) use them; (database URL, MONKEYTOWN_HOME)."""
    url = make_database()
    for name, value in dagster_environment(url, tmp_path).items():
        monkeypatch.setenv(name, value)
    return url, tmp_path

