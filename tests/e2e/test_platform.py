"""`monkeytown up` as a user runs it: real processes, real HTTP, Ctrl-C, and nothing left behind."""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import psutil
import psycopg
import pytest

from ingest_api.body import MAX_BODY_BYTES
from tests.cli import MONKEYTOWN, monkeytown_env, run_monkeytown
from tests.servers import free_port


@pytest.fixture
def platform_env(tmp_path, make_database):
    env = monkeytown_env(tmp_path / "home", api_port=str(free_port()), dagster_port=str(free_port()))
    if os.environ.get("MONKEYTOWN_TEST_DATABASE_URL"):
        env["MONKEYTOWN_DATABASE_URL"] = make_database(migrated=False)
    return env


#: The supervisor's grace for its children (15 s in all), then the embedded server's fast shutdown (pg_ctl's own
#: 60 s bound), with room for a loaded machine.
STOP_SECONDS = 15 + 60 + 15
BANNER_SECONDS = 240


class Console:
    """The stdout of `monkeytown up`, read by a thread so that every wait on it has a deadline."""

    def __init__(self, process: subprocess.Popen):
        self.process = process
        self.lines: list[str] = []
        self._arrived = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            with self._arrived:
                self.lines.append(line)
                self._arrived.notify_all()
        with self._arrived:
            self.lines.append("")  # end of output
            self._arrived.notify_all()

    def wait_for(self, wanted, timeout: float) -> str:
        """All output up to the first line for which `wanted(line)` holds."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                for index, line in enumerate(self.lines):
                    if line and wanted(line):
                        return "".join(self.lines[:index + 1])
                if self.lines and self.lines[-1] == "":
                    raise AssertionError(f"monkeytown up exited ({self.process.wait()}):\n{self.text()}")
                if not self._arrived.wait(max(deadline - time.monotonic(), 0)) and time.monotonic() >= deadline:
                    raise AssertionError(f"nothing wanted after {timeout} s:\n{self.text()}")

    def text(self) -> str:
        return "".join(self.lines)


def start_up(env: dict, *args: str, stderr=subprocess.PIPE) -> tuple[subprocess.Popen, Console, str]:
    """`monkeytown up`, its console, and its banner once it is ready."""
    process = subprocess.Popen(MONKEYTOWN + ["up", *args], env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)
    console = Console(process)
    try:
        return process, console, console.wait_for(lambda line: line.startswith("Press Ctrl-C"), BANNER_SECONDS)
    except BaseException:
        process.kill()
        raise


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=STOP_SECONDS) == 0


def http_post(port, path, body: bytes, headers: dict, chunked=False):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, body=iter([body]) if chunked else body, headers=headers, encode_chunked=chunked)
        response = conn.getresponse()
        return response.status, orjson.loads(response.read())
    finally:
        conn.close()


def processes_using(home: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(home) in cmdline:
            found.append(proc)
    return found


def test_up_serves_the_api_records_server_start_and_ctrl_c_leaves_nothing_running(platform_env):
    home = Path(platform_env["MONKEYTOWN_HOME"])
    port = int(platform_env["MONKEYTOWN_API_PORT"])
    process, console, banner = start_up(platform_env)
    try:
        key = re.search(r"Write key\s+(\S+)", banner)[1]
        assert key == (home / "dev_write_key").read_text().strip()
        assert f"http://127.0.0.1:{port}/api/events" in banner
        children = psutil.Process(process.pid).children(recursive=True)
        assert children, "the API runs in child processes"

        auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        event = {"event_id": "e2e-1", "type": "game_start", "game_id": "g", "game_type": "chess", "session_id": "s"}
        assert http_post(port, "/api/events", orjson.dumps(event), auth) == (
            200, {"status": "accepted", "event_id": "e2e-1"})
        small = orjson.dumps([{**event, "event_id": "e2e-2"}])
        status, body = http_post(port, "/api/events", small, auth, chunked=True)
        assert (status, body["accepted"]) == (200, 1)
        status, body = http_post(port, "/api/events", b" " * (MAX_BODY_BYTES + 1), auth, chunked=True)
        assert (status, body["error"]) == (413, "payload_too_large")

        dagster_port = int(platform_env["MONKEYTOWN_DAGSTER_PORT"])
        assert f"Dagster UI   http://127.0.0.1:{dagster_port}" in banner
        query = orjson.dumps({"query": "{ assetNodes { assetKey { path } } }"})
        status, body = http_post(dagster_port, "/graphql", query, {"Content-Type": "application/json"})
        assert status == 200
        assert ["marts", "games"] in [node["assetKey"]["path"] for node in body["data"]["assetNodes"]]
        query = orjson.dumps({"query": "{ repositoriesOrError { ... on RepositoryConnection { nodes {"
                                       " schedules { name scheduleState { status } }"
                                       " sensors { name sensorState { status } } } } } }"})
        status, body = http_post(dagster_port, "/graphql", query, {"Content-Type": "application/json"})
        [repository] = body["data"]["repositoriesOrError"]["nodes"]
        assert {s["name"]: s["scheduleState"]["status"] for s in repository["schedules"]} == {
            "hourly_rollups": "RUNNING", "hourly_dashboard_views": "RUNNING", "daily_raw_events_upkeep": "RUNNING",
            "daily_archive": "RUNNING", "daily_player_privacy_and_housekeeping": "RUNNING",
            "daily_dbt_docs": "RUNNING", "every_five_minutes_pipeline_health": "RUNNING"}
        assert {s["name"]: s["sensorState"]["status"] for s in repository["sensors"]} == {
            "raw_events_arrivals": "RUNNING", "dashboard_follows_core_runs": "RUNNING",
            "dbt_docs_out_of_date": "RUNNING", "pipeline_status": "RUNNING",
            "mart_freshness": "RUNNING", "mart_freshness_breaches": "RUNNING", "run_failures": "RUNNING"}
        # one process holds the code location (the code server's), which the webserver and the daemon share
        loaders = [p for p in psutil.Process(process.pid).children(recursive=True)
                   if "dagster api grpc" in " ".join(p.cmdline())]
        assert len(loaders) == 1, [" ".join(p.cmdline()) for p in loaders]

        url = run_monkeytown(platform_env, "db", "url").stdout.strip()
        with psycopg.connect(url) as conn:
            ids = {row[0] for row in conn.execute("SELECT event_id FROM raw.events WHERE source = 'client'")}
            [(version,)] = conn.execute("SELECT payload->'event_data'->>'version' FROM raw.events"
                                        " WHERE type = 'server_start'").fetchall()
        assert ids == {"e2e-1", "e2e-2"}
        assert version
        # nobody asks: the daemon's sensor sees the arrivals and runs the core models
        assert wait_for_rows(url, "SELECT count(*) FROM marts.games WHERE game_id = 'g'", at_least=1,
                             timeout=240) == 1
        assert wait_for_rows(url, "SELECT count(*) FROM marts.system_events WHERE event_type = 'server_start'",
                             at_least=1, timeout=60) == 1

        log = (home / "logs" / "monkeytown.log").read_text()
        assert "path=/api/events key=dev status=200 events=1" in log
        assert key not in log
        # the console: a status line every few seconds, and no request lines
        status = console.wait_for(lambda line: "  events/s " in line, timeout=30).splitlines()[-1]
        assert "accepted" in status and "last run:" in status and "marts" in status
        assert "path=/api/events" not in console.text()

        # a crashed API master comes back by itself, and the crash is a system event
        api = api_master(process)
        children += psutil.Process(process.pid).children(recursive=True)
        api.kill()
        api.wait(10)
        wait_until_ready(port, timeout=60)
        assert api_master(process).pid != api.pid
        assert wait_for_rows(url, "SELECT count(*) FROM raw.events WHERE type = 'process_restart'"
                             " AND payload->'event_data'->>'process' = 'api'"
                             " AND payload->'event_data'->>'action' = 'restarted'", at_least=1) == 1
        assert http_post(port, "/api/events", orjson.dumps({**event, "event_id": "e2e-3"}), auth)[0] == 200
    finally:
        stop(process)
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert processes_using(home) == []
    errors = process.stderr.read()
    assert "the api process exited (code -9); restarting it in 1 s" in errors
    assert "stopping" in errors


def api_master(up: subprocess.Popen) -> psutil.Process:
    [master] = [p for p in psutil.Process(up.pid).children() if "ingest_api.wsgi:app" in " ".join(p.cmdline())]
    return master


def wait_until_ready(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, http.client.HTTPException):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            try:
                conn.request("GET", "/readyz")
                if conn.getresponse().status == 200:
                    return
            finally:
                conn.close()
        time.sleep(0.2)
    raise AssertionError(f"the API did not answer /readyz within {timeout} s")


def wait_for_rows(url: str, sql: str, at_least: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    found = 0
    while time.monotonic() < deadline:
        with psycopg.connect(url) as conn, contextlib.suppress(psycopg.errors.UndefinedTable):
            found = conn.execute(sql).fetchone()[0]  # a mart appears with the first pipeline run
        if found >= at_least:
            return found
        time.sleep(0.5)
    raise AssertionError(f"only {found} rows after {timeout} s: {sql}")


def test_up_simulate_feeds_games_that_land_and_ctrl_c_stops_the_simulator_too(platform_env):
    home = Path(platform_env["MONKEYTOWN_HOME"])
    process, _, _ = start_up(platform_env, "--simulate", stderr=subprocess.DEVNULL)
    try:
        url = run_monkeytown(platform_env, "db", "url").stdout.strip()
        starts = wait_for_rows(url, "SELECT count(*) FROM raw.events WHERE type = 'game_start'", at_least=2)
        assert starts >= 2
        simulators = [p for p in psutil.Process(process.pid).children()
                      if "monkeytown.cli simulate" in " ".join(p.cmdline())]
        assert len(simulators) == 1
    finally:
        stop(process)
    assert not simulators[0].is_running()
    assert processes_using(home) == []
    assert "simulate: done" in (home / "logs" / "simulator.log").read_text()


def test_db_upgrade_and_url_work_without_the_platform_running(platform_env):
    upgrade = run_monkeytown(platform_env, "db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    assert "landing schema at version" in upgrade.stdout
    assert processes_using(Path(platform_env["MONKEYTOWN_HOME"])) == []
    url = run_monkeytown(platform_env, "db", "url")
    if "MONKEYTOWN_DATABASE_URL" in platform_env:
        assert url.stdout.strip() == platform_env["MONKEYTOWN_DATABASE_URL"]
    else:
        assert url.returncode == 2
        assert url.stderr.strip().startswith("monkeytown: error: the embedded database is not running")


def one_line_error(result) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("monkeytown: error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_an_unreachable_database_stops_start_up_with_one_clear_line(platform_env):
    env = {**platform_env, "MONKEYTOWN_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/x"}
    line = one_line_error(run_monkeytown(env, "up"))
    assert "cannot reach the database" in line and "MONKEYTOWN_DATABASE_URL" in line


def test_a_bad_database_url_stops_start_up_with_one_clear_line(platform_env):
    line = one_line_error(run_monkeytown({**platform_env, "MONKEYTOWN_DATABASE_URL": "mysql:/nope"}, "up"))
    assert "not a libpq URL" in line


def test_a_port_in_use_stops_start_up_with_one_clear_line(platform_env):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_line_error(run_monkeytown({**platform_env, "MONKEYTOWN_API_PORT": str(port)}, "up"))
    assert f"port {port}" in line and "MONKEYTOWN_API_PORT" in line


def test_a_port_that_is_not_a_number_stops_start_up_with_one_clear_line(platform_env):
    line = one_line_error(run_monkeytown({**platform_env, "MONKEYTOWN_API_PORT": "eighty"}, "up"))
    assert "MONKEYTOWN_API_PORT" in line


def test_the_console_script_is_installed_in_the_venv():
    assert shutil.which("monkeytown", path=str(Path(sys.executable).parent))


def test_a_malformed_rate_limit_stops_start_up_with_one_clear_line(platform_env):
    line = one_line_error(run_monkeytown({**platform_env, "MONKEYTOWN_RATE_LIMIT": "lots"}, "up"))
    assert "MONKEYTOWN_RATE_LIMIT" in line


@pytest.mark.server_independent  # the limit is counted in the gunicorn master's memory, not in the database
def test_the_rate_limit_holds_across_all_api_workers(platform_env):
    env = {**platform_env, "MONKEYTOWN_RATE_LIMIT": "5/year", "MONKEYTOWN_API_WORKERS": "3"}
    port = int(env["MONKEYTOWN_API_PORT"])
    process, _, banner = start_up(env, stderr=subprocess.DEVNULL)
    try:
        key = re.search(r"Write key\s+(\S+)", banner)[1]
        auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        statuses = []
        for i in range(9):  # a new connection each time, so the workers share the requests
            event = {"event_id": f"rl-{i}", "type": "move", "game_id": "g", "move_type": "m"}
            statuses.append(http_post(port, "/api/events", orjson.dumps(event), auth)[0])
        workers = len(psutil.Process(process.pid).children(recursive=True))
    finally:
        stop(process)
    assert workers >= 3
    assert statuses == [200] * 5 + [429] * 4
