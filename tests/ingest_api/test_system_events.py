"""The API's own system events, on a real PostgreSQL: server_start, server_stop and config_change from gunicorn's
master, process_restart when it replaces a killed worker, and an `error` for each 5xx answered."""

from __future__ import annotations

import os
import socket
import time
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ingest_api.app import create_app
from ingest_api.error_events import AnsweredError, ErrorEvents, answered_error, fold
from ingest_api.ingest import IngestService
from ingest_api.openapi import package_version
from ingest_api.pool import create_pool
from ingest_api.server_lifecycle import record_stop
from ingest_api.system_events import STOP_TIMEOUT_SECONDS, record_config_change, record_process_restart
from monkeytown.secret_files import anonymization_key
from monkeytown.settings import load_settings
from monkeytown.settings_fingerprint import settings_fingerprint
from tests.conftest import WRITE_KEY
from tests.servers import api_environment, api_server, wait_until

WEBHOOK_SECRET = "webhook-secret-never-stored-0123"
ANONYMIZATION_KEY = "anonymization-key-never-stored-0123"
BI_PASSWORD = "bi-password-never-stored-0123"


def system_events(url: str, event_type: str) -> list[dict]:
    with psycopg.connect(url) as conn:
        return [row[0] for row in conn.execute(
            "SELECT payload -> 'event_data' FROM raw.events WHERE type = %s ORDER BY received_at, event_id",
            (event_type,))]


@pytest.fixture(scope="module")
def started_and_stopped(make_database, tmp_path_factory):
    """A database of its own that one gunicorn master started on, lost a worker to SIGKILL, and stopped on SIGTERM
    from; (database URL, the environment it ran with, the master's pid, the killed worker's pid)."""
    url = make_database()
    home = tmp_path_factory.mktemp("api-home")
    secrets = {"MONKEYTOWN_GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET, "MONKEYTOWN_ANONYMIZATION_KEY": ANONYMIZATION_KEY,
               "MONKEYTOWN_BI_PASSWORD": BI_PASSWORD}
    with api_server(url, home, workers=2, env=secrets) as api:
        env = api_environment(url, home, int(api.url.rsplit(":", 1)[1]), workers=2) | secrets
        master = api.process.pid
        victim = api.workers()[0]
        victim.kill()
        wait_until(lambda: system_events(url, "process_restart"), 15, "the killed worker is recorded")
        wait_until(lambda: len(api.workers()) == 2 and api.is_ready(), 15, "a new worker serves")
    assert api.process.returncode == 0
    return url, env, master, victim.pid


def test_the_master_records_its_start_and_its_stop_with_the_version(started_and_stopped):
    url, _env, master, _victim = started_and_stopped
    [start] = system_events(url, "server_start")
    [stop] = system_events(url, "server_stop")
    assert (start["version"], start["pid"]) == (package_version(), master)
    assert (stop["version"], stop["pid"], stop["reason"]) == (package_version(), master, "SIGTERM")
    assert stop["host"] == start["host"]


def test_a_hung_database_holds_the_stop_two_seconds_at_most(caplog):
    with socket.create_server(("127.0.0.1", 0)) as hung:  # accepts connections (the kernel does), never answers
        url = f"postgresql://nobody@127.0.0.1:{hung.getsockname()[1]}/nowhere"
        started = time.monotonic()
        record_stop(load_settings({"MONKEYTOWN_DATABASE_URL": url}), "9.9.9", "SIGTERM")
        elapsed = time.monotonic() - started
    assert elapsed < STOP_TIMEOUT_SECONDS + 1
    assert "could not record server_stop" in caplog.text


def test_a_killed_worker_that_gunicorn_replaces_is_a_process_restart(started_and_stopped):
    url, _env, _master, victim = started_and_stopped
    [restart] = system_events(url, "process_restart")
    assert {k: restart[k] for k in ("process", "pid", "reason", "exit_code", "action", "recent_crashes")} == {
        "process": "api-worker", "pid": victim, "reason": "exited", "exit_code": None, "action": "restarted",
        "recent_crashes": 1}


def test_a_child_that_monkeytown_up_restarts_or_gives_up_on_is_a_process_restart(errors_url):
    record_process_restart(errors_url, "dagster-daemon", -9, 1, 1.0)
    record_process_restart(errors_url, "dagster-daemon", 1, 6, None)
    assert [(r["process"], r["exit_code"], r["action"], r["backoff_seconds"])
            for r in system_events(errors_url, "process_restart")] == [
        ("dagster-daemon", -9, "restarted", 1.0), ("dagster-daemon", 1, "gave_up", None)]


def start_with(env: dict):
    """What a start of the API with `env` records of its settings (as gunicorn's when_ready does)."""
    settings = load_settings(env)
    return record_config_change(env["MONKEYTOWN_DATABASE_URL"], settings_fingerprint(
        settings, anonymization_key(settings.home, settings.anonymization_key)))


def test_a_config_change_only_when_the_settings_differ_from_the_last_start_naming_what_changed(started_and_stopped):
    url, env, _master, _victim = started_and_stopped
    [first] = system_events(url, "config_change")
    assert (first["previous_fingerprint"], first["changed"]) == (None, [])

    assert start_with(env) is None  # a second start, same settings
    assert start_with(env | {"MONKEYTOWN_RATE_LIMIT": "5/second"}) is not None
    assert start_with(env | {"MONKEYTOWN_RATE_LIMIT": "5/second"}) is None
    rotated = env | {"MONKEYTOWN_RATE_LIMIT": "5/second", "MONKEYTOWN_WRITE_KEYS": "another-write-key-0123456789",
                     "MONKEYTOWN_GITHUB_WEBHOOK_SECRET": ""}
    assert start_with(rotated) is not None

    changes = system_events(url, "config_change")
    assert [c["changed"] for c in changes] == [[], ["rate_limit"], ["github_webhook_secret", "write_keys"]]
    assert [c["previous_fingerprint"] for c in changes[1:]] == [c["fingerprint"] for c in changes[:-1]]
    assert changes[-1]["settings"]["github_webhook_secret"] is None


def test_no_secret_ever_reaches_raw_events(started_and_stopped):
    url, env, _master, _victim = started_and_stopped
    with psycopg.connect(url) as conn:
        stored = "\n".join(row[0] for row in conn.execute("SELECT payload::text FROM raw.events"))
    secrets = [WRITE_KEY, WEBHOOK_SECRET, ANONYMIZATION_KEY, BI_PASSWORD, "another-write-key-0123456789"]
    password = conninfo_to_dict(env["MONKEYTOWN_DATABASE_URL"]).get("password")
    secrets += [password] if password else []
    assert "config_change" in stored
    assert [secret for secret in secrets if secret in stored] == []


# --- 5xx answers -------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def errors_url(make_database):
    return make_database()


@pytest.fixture(scope="module")
def failing_app(errors_url):
    app = create_app({"TESTING": True, "DATABASE_URL": errors_url, "WRITE_KEYS": {"tests": WRITE_KEY}})

    @app.get("/test-only/explode")
    def _explode():
        raise RuntimeError("the handler exploded\n  at a line of a stack that names a secret")

    yield app
    app.extensions["monkeytown.ingest"].pool.close()


def test_a_500_is_an_error_event_with_its_request_id(failing_app, errors_url):
    answer = failing_app.test_client().get("/test-only/explode", headers={"X-Request-ID": "req-explode-1"})

    assert answer.status_code == 500
    assert failing_app.extensions["monkeytown.error_events"].flush(timeout=10)
    [error] = [e for e in system_events(errors_url, "error") if e["request_id"] == "req-explode-1"]
    assert {k: error[k] for k in ("method", "path", "status", "error", "exception_type", "message", "count")} == {
        "method": "GET", "path": "/test-only/explode", "status": 500, "error": "internal_error",
        "exception_type": "builtins.RuntimeError", "message": "the handler exploded", "count": 1}
    assert error["pid"] == os.getpid()


def test_a_4xx_is_no_error_event(failing_app, errors_url):
    answer = failing_app.test_client().get("/test-only/nowhere", headers={"X-Request-ID": "req-404"})

    assert answer.status_code == 404
    assert failing_app.extensions["monkeytown.error_events"].flush(timeout=10)
    assert [e for e in system_events(errors_url, "error") if e["request_id"] == "req-404"] == []


def unavailable(request_id: str) -> AnsweredError:
    return answered_error(request_id, "POST", "/api/events", 503, "database_unavailable", None, datetime.now(UTC))


def test_503s_while_the_database_is_unavailable_land_once_it_answers_counted_in_one_event(make_database):
    url = make_database()
    dbname = conninfo_to_dict(url)["dbname"]
    service = IngestService(create_pool(url, max_size=2, name="error-events-test"))
    service.ensure_open()
    events = ErrorEvents(service)
    maintenance = make_conninfo(url, dbname="postgres")
    with psycopg.connect(maintenance, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS false')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (dbname,))
    try:
        for n in range(3):
            events.report(unavailable(f"req-down-{n}"))
        assert not events.flush(timeout=1)  # cannot land while nobody may connect
    finally:
        with psycopg.connect(maintenance, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS true')
    try:
        assert events.flush(timeout=20)
        [error] = system_events(url, "error")
    finally:
        service.pool.close()
    assert {k: error[k] for k in ("request_id", "last_request_id", "count", "status", "error")} == {
        "request_id": "req-down-0", "last_request_id": "req-down-2", "count": 3, "status": 503,
        "error": "database_unavailable"}


def test_503s_of_one_route_fold_into_one_pending_event_and_a_full_list_refuses(monkeypatch):
    monkeypatch.setattr("ingest_api.error_events.MAX_PENDING", 3)
    pending: dict = {}
    crash = answered_error("req-500", "GET", "/api/counters", 500, "internal_error", RuntimeError("x"),
                           datetime.now(UTC))
    assert all(fold(pending, answered, n) for n, answered in enumerate(
        [unavailable("a"), crash, unavailable("b"), crash]))
    assert [(e["status"], e["count"], e["request_id"], e["last_request_id"]) for e in pending.values()] == [
        (503, 2, "a", "b"), (500, 1, "req-500", "req-500"), (500, 1, "req-500", "req-500")]
    assert not fold(pending, crash, 4)
    assert fold(pending, unavailable("c"), 5)  # counted in its route's event, which has room
