from __future__ import annotations

import pytest

from ingest_api.app import create_app

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
