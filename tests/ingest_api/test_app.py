import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from ingest_api.app import create_app
from ingest_api.pool import DATABASE_DEADLINE_SECONDS
from tests.ingest_api.factories import move
from tests.servers import free_port


def test_the_api_process_imports_no_gx_dbt_dagster_or_pandas(database_url):
    code = (
        "import sys; from ingest_api.app import create_app; "
        f"create_app({{'DATABASE_URL': {database_url!r}, 'WRITE_KEYS': {{'k': 'k'}}}}); "
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'great_expectations', 'dbt', 'dagster', 'pandas', 'numpy', 'pyarrow'}); print(heavy)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_without_a_redis_url_the_api_process_never_imports_redis(database_url):
    # redis-py takes 0.4-1 s to import: only an API that counts its rate limit in Redis pays for it
    code = (
        "import sys; from ingest_api.app import create_app; "
        f"create_app({{'DATABASE_URL': {database_url!r}, 'WRITE_KEYS': {{'k': 'k'}}}}); print('redis' in sys.modules)"
    )
    env = {name: value for name, value in os.environ.items() if name != "MONKEYTOWN_REDIS_URL"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert result.stdout.strip() == "False"


def test_readyz_is_ready_when_the_database_answers_and_migrations_are_current(client):
    body = client.get("/readyz").get_json()
    assert body["status"] == "ready" and body["database"] == "ok"


def test_readyz_is_503_before_the_migrations(make_database):
    app = create_app({"DATABASE_URL": make_database(migrated=False), "WRITE_KEYS": {"k": "k"}})
    try:
        response = app.test_client().get("/readyz")
        assert response.status_code == 503
        assert response.get_json()["migrations"]["applied"] is None
    finally:
        app.extensions["monkeytown.ingest"].pool.close()


def test_an_unreachable_database_gives_503_with_retry_after_within_a_bound():
    app = create_app({"DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/nothing",
                      "WRITE_KEYS": {"k": "k"}})
    client = app.test_client()
    auth = {"Authorization": "Bearer k"}
    calls = {
        "single": lambda: client.post("/api/events", json=move(), headers=auth),
        "batch": lambda: client.post("/api/events", json=[move()], headers=auth),
        "readyz": lambda: client.get("/readyz"),
    }
    try:
        with ThreadPoolExecutor(max_workers=8) as threads:
            answers = dict(zip(calls, threads.map(timed, calls.values()), strict=True))
            # the outage is known now: requests answer at once while a probe waits for the database
            burst = list(threads.map(timed, [calls["single"]] * 8))
    finally:
        app.extensions["monkeytown.ingest"].pool.close(timeout=0)
    for name, (response, seconds) in [*answers.items(), *(("burst", answer) for answer in burst)]:
        assert response.status_code == 503, name
        assert int(response.headers["Retry-After"]) > 0, name
        assert seconds <= DATABASE_DEADLINE_SECONDS + 0.5, name
    assert answers["single"][0].get_json()["error"] == "database_unavailable"
    assert max(seconds for _, seconds in burst) < 1


def timed(call):
    started = time.monotonic()
    return call(), time.monotonic() - started


def terminate_api_connections(db) -> int:
    return len(db.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE application_name = 'monkeytown-api' AND pid <> pg_backend_pid()"
    ).fetchall())


def test_the_api_recovers_by_itself_when_its_connections_are_killed(app, clean_raw, auth):
    """Connections the server killed are replaced without a restart."""
    client = app.test_client()
    assert client.post("/api/events", json=move(), headers=auth).status_code == 200
    assert terminate_api_connections(clean_raw) >= 1
    batch = client.post("/api/events", json=[move(), move()], headers=auth)
    assert batch.status_code == 200 and batch.get_json()["accepted"] == 2  # a checked connection
    statuses = [client.post("/api/events", json=move(), headers=auth).status_code for _ in range(2)]
    # the group-commit leader may learn of it through one failed commit (503); the next one lands
    assert statuses in ([200, 200], [503, 200])


def _read_probe(database_url: str, read_keys: dict | None):
    from ingest_api.auth import require_read_key

    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "WRITE_KEYS": {"w": "write-key-0123456789"},
                      **({"READ_KEYS": read_keys} if read_keys else {})})
    app.add_url_rule("/probe", "probe", lambda: {"key": require_read_key()})
    return app


def test_read_keys_read_and_without_them_the_write_keys_do(database_url):
    separate, shared = _read_probe(database_url, {"r": "read-key-0123456789"}), _read_probe(database_url, None)
    try:
        def status(app, key):
            return app.test_client().get("/probe", headers={"Authorization": f"Bearer {key}"}).status_code

        assert (status(separate, "read-key-0123456789"), status(separate, "write-key-0123456789")) == (200, 401)
        assert separate.test_client().get("/probe").headers["WWW-Authenticate"] == 'Bearer realm="monkeytown"'
        assert (status(shared, "write-key-0123456789"), status(shared, "read-key-0123456789")) == (200, 401)
    finally:
        for app in (separate, shared):
            app.extensions["monkeytown.ingest"].pool.close()
