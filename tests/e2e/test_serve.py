"""`monkeytown serve <role>` as a service manager runs it: each role a process of its own, answering as that service
does, and stopping with exit code 0 on SIGTERM (or Ctrl-C) with nothing of it left running. The Dagster roles get a
MONKEYTOWN_HOME each, as on separate hosts: they share only the database and the code server's address."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

import psutil
import psycopg
import pytest
import requests
import yaml

from monkeytown.cli.serve import exited_code
from monkeytown.supervisor import venv_tool
from orchestration.instance import storage_database_url
from tests.cli import MONKEYTOWN, monkeytown_env
from tests.servers import free_port, wait_until

#: Loading the code location (dbt's manifest, every asset) takes 10-40 s on this shared 2-core machine.
LOAD_SECONDS = 180
#: gunicorn's graceful timeout is 10 s, the supervisor's grace 15 s.
STOP_SECONDS = 30


class Served:
    """One `monkeytown serve <role>` in a session of its own (as a terminal or a service manager starts it)."""

    def __init__(self, role: str, env: dict, log: Path):
        self.role, self.log = role, log
        with log.open("wb") as output:
            self.process = subprocess.Popen(MONKEYTOWN + ["serve", role], env=env, stdout=output,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        self.descendants: list[psutil.Process] = []

    def running(self) -> bool:
        assert self.process.poll() is None, f"serve {self.role} exited ({self.process.returncode}):\n{self.output()}"
        return True

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, signum: int = signal.SIGTERM, *, group: bool = False) -> int:
        """Sends `signum` to serve (to its whole process group as a terminal's Ctrl-C does, with `group`); its exit
        code once it has stopped."""
        self.descendants = psutil.Process(self.process.pid).children(recursive=True)
        if group:
            os.killpg(self.process.pid, signum)
        else:
            self.process.send_signal(signum)
        return self.process.wait(timeout=STOP_SECONDS)

    def left_running(self) -> list[str]:
        return [" ".join(p.cmdline()) for p in self.descendants
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        for orphan in self.descendants or []:
            with contextlib.suppress(psutil.NoSuchProcess):
                orphan.kill()
        self.process.wait(timeout=10)


@contextlib.contextmanager
def serving(role: str, env: dict, log: Path):
    served = Served(role, env, log)
    try:
        yield served
    finally:
        if served.process.poll() is None:
            served.descendants = psutil.Process(served.process.pid).children(recursive=True)
        served.kill()


def answers(url: str) -> bool:
    with contextlib.suppress(requests.RequestException):
        return requests.get(url, timeout=5).status_code == 200
    return False


# the subject is the process's life (start, answer, stop); the database is its storage, which other tests cover on
# each server
@pytest.mark.server_independent
def test_serve_api_migrates_a_fresh_database_answers_readyz_and_stops_cleanly_on_sigterm(tmp_path, make_database):
    port = free_port()
    env = monkeytown_env(tmp_path / "home", make_database(migrated=False), api_port=str(port),
                         write_keys="serve-test-key-0123456789")
    with serving("api", env, tmp_path / "api.out") as api:
        wait_until(lambda: api.running() and answers(f"http://127.0.0.1:{port}/readyz"), 90, "serve api is ready")
        answer = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5).json()
        assert answer["status"] == "ready" and answer["migrations"]["applied"] >= 1
        event = {"event_id": "serve-1", "type": "game_start", "game_id": "g", "game_type": "chess", "session_id": "s"}
        posted = requests.post(f"http://127.0.0.1:{port}/api/events", json=event, timeout=10,
                               headers={"Authorization": "Bearer serve-test-key-0123456789"})
        assert posted.json() == {"status": "accepted", "event_id": "serve-1"}
        assert api.stop(signal.SIGTERM) == 0, api.output()
        assert api.left_running() == []
    assert "serving api" in api.output()


@pytest.mark.server_independent  # the database is only the Dagster instance's storage here
def test_serve_runs_the_code_server_webserver_and_daemon_apart_and_each_stops_on_sigterm(tmp_path, make_database):
    url = make_database()
    code_port, ui_port = free_port(), free_port()
    shared = {"code_server_host": "127.0.0.1", "code_server_port": str(code_port), "dagster_port": str(ui_port)}
    env = {role: monkeytown_env(tmp_path / role, url, **shared)
           for role in ("code-server", "dagster-webserver", "dagster-daemon")}
    with (serving("code-server", env["code-server"], tmp_path / "code-server.out") as code_server,
          serving("dagster-webserver", env["dagster-webserver"], tmp_path / "webserver.out") as webserver,
          serving("dagster-daemon", env["dagster-daemon"], tmp_path / "daemon.out") as daemon):
        health = [venv_tool("dagster"), "api", "grpc-health-check", "-p", str(code_port), "-h", "127.0.0.1"]
        wait_until(lambda: code_server.running() and subprocess.run(health, capture_output=True, timeout=30)
                   .returncode == 0, LOAD_SECONDS, "the code server answers a gRPC health check", interval=1)

        wait_until(lambda: webserver.running() and answers(f"http://127.0.0.1:{ui_port}/server_info"), LOAD_SECONDS,
                   "the webserver answers /server_info", interval=0.5)
        query = {"query": "{ assetNodes { assetKey { path } } }"}
        nodes = requests.post(f"http://127.0.0.1:{ui_port}/graphql", json=query, timeout=60).json()
        # the assets come from the code location, which only the code server loads
        assert ["marts", "games"] in [node["assetKey"]["path"] for node in nodes["data"]["assetNodes"]]

        wait_until(lambda: daemon.running() and {"SENSOR", "SCHEDULER", "QUEUED_RUN_COORDINATOR"} <= heartbeats(url),
                   LOAD_SECONDS, "the daemon's heartbeats are in the instance", interval=1)

        assert daemon.stop(signal.SIGTERM) == 0, daemon.output()
        assert webserver.stop(signal.SIGINT, group=True) == 0, webserver.output()  # Ctrl-C in its terminal
        assert code_server.stop(signal.SIGTERM) == 0, code_server.output()
        for served in (daemon, webserver, code_server):
            assert served.left_running() == [], served.role
    # the webserver and the daemon were pointed at the code server, not at the code itself
    for role in ("dagster-webserver", "dagster-daemon"):
        [entry] = yaml.safe_load((tmp_path / role / "dagster" / "workspace.yaml").read_text())["load_from"]
        assert entry["grpc_server"]["port"] == code_port


def heartbeats(url: str) -> set[str]:
    """The daemon types with a heartbeat in the Dagster instance's storage."""
    # the daemon creates its tables as it starts
    with psycopg.connect(storage_database_url(url), connect_timeout=5) as conn, \
            contextlib.suppress(psycopg.errors.UndefinedTable):
        return {row[0] for row in conn.execute("SELECT daemon_type FROM daemon_heartbeats")}
    return set()


def test_serve_without_a_database_says_so_in_one_line(tmp_path):
    result = subprocess.run(MONKEYTOWN + ["serve", "api"], env=monkeytown_env(tmp_path / "home"), capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("monkeytown: error: the embedded database is not running")


@pytest.mark.parametrize(("returncode", "expected"), [(3, 3), (0, 1), (-signal.SIGKILL, 137), (-signal.SIGSEGV, 139)])
def test_a_service_that_ends_by_itself_fails_serve_so_its_manager_restarts_it(returncode, expected):
    assert exited_code(returncode) == expected
