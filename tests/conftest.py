"""A real PostgreSQL for the whole test session: embedded by default, or a fresh database on the server
named by MONKEYTOWN_TEST_DATABASE_URL."""

from __future__ import annotations

import os
import uuid
import warnings

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from ingest_api import migrate
from ingest_api.embedded import EmbeddedPostgres

warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


@pytest.fixture(scope="session")
def server_url(tmp_path_factory):
    """A maintenance URL of the server the session uses (its `postgres` database)."""
    configured = os.environ.get("MONKEYTOWN_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    embedded = EmbeddedPostgres(tmp_path_factory.mktemp("home"))
    embedded.start()
    try:
        yield embedded.url("postgres")
    finally:
        embedded.stop()


@pytest.fixture(scope="session")
def make_database(server_url):
    """Creates fresh, migrated databases on the session's server; drops them at the end."""
    created = []

    def make(migrated: bool = True) -> str:
        name = f"monkeytown_test_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        url = make_conninfo(server_url, dbname=name)
        if migrated:
            migrate.upgrade(url)
        return url

    yield make
    with psycopg.connect(server_url, autocommit=True) as conn:
        for name in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'DROP DATABASE IF EXISTS "{name}_dagster" WITH (FORCE)')  # made by `monkeytown up`


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
