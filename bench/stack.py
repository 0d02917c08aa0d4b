"""The system under test, started fresh and stopped on exit (also on Ctrl-C or an error): a database,
the real API under gunicorn as `monkeytown up` runs it, and the same Flask hello-world under four servers at the
API's worker count: gunicorn sync, gthread and gevent workers (the API's other settings), and granian's WSGI
server (left out where nothing is compared with the API, as in the soak)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.cpu import postmaster_pid
from bench.hello_granian import granian_version
from ingest_api import migrate
from monkeytown.database import scratch_database
from monkeytown.supervisor import ChildFailed, Supervisor, python_module, wait_until_ready

HOST = "127.0.0.1"
WRITE_KEY = "bench-" + uuid.uuid4().hex
READY_SECONDS = 60
#: The gunicorn worker classes the hello-world runs under (granian besides).
GUNICORN_HELLOS = ("sync", "gthread", "gevent")


@dataclass
class Server:
    name: str
    process: subprocess.Popen
    port: int
    log: Path


@dataclass
class Stack:
    home: Path
    database_url: str
    embedded: bool
    api: Server
    hellos: dict[str, Server]

    def postgres_pid(self) -> int | None:
        return postmaster_pid(self.database_url)

    def servers(self) -> dict[str, Server]:
        """The API and every hello-world, by the name their CPU is recorded under ("api", "hello-sync"...)."""
        return {"api": self.api, **{f"hello-{name}": server for name, server in self.hellos.items()}}

    def cpu_roots(self) -> dict[str, int]:
        roots = {name: server.process.pid for name, server in self.servers().items()}
        roots["bench"] = os.getpid()
        if (pid := self.postgres_pid()) is not None:
            roots["postgres"] = pid
        return roots


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def gunicorn_server(supervisor: Supervisor, name: str, config: str, app: str, env: dict, home: Path) -> Server:
    """A gunicorn server on a free port, supervised as `monkeytown up` supervises its children."""
    port, log = free_port(), home / f"{name}.log"
    child = supervisor.spawn(name, python_module("gunicorn", "-c", config, app),
                             {**env, "MONKEYTOWN_API_HOST": HOST, "MONKEYTOWN_API_PORT": str(port)}, output=log)
    return Server(name, child.process, port, log)


def granian_server(supervisor: Supervisor, name: str, env: dict, home: Path) -> Server:
    """The hello-world under granian's WSGI server on a free port (bench/hello_granian.py)."""
    if granian_version() is None:
        raise RuntimeError("granian is not installed: install the test extra (make install)")
    port, log = free_port(), home / f"{name}.log"
    child = supervisor.spawn(name, python_module("bench.hello_granian", HOST, str(port)), env, output=log)
    return Server(name, child.process, port, log)


def hello_servers(supervisor: Supervisor, env: dict, home: Path) -> dict[str, Server]:
    """bench/hello_app.py under each server, every one at the API's worker count."""
    servers = {
        worker_class: gunicorn_server(supervisor, f"hello-{worker_class}", "python:bench.hello_conf",
                                      "bench.hello_app:app", {**env, "MONKEYTOWN_API_WORKER_CLASS": worker_class}, home)
        for worker_class in GUNICORN_HELLOS
    }
    servers["granian"] = granian_server(supervisor, "hello-granian", env, home)
    return servers


@contextlib.contextmanager
def running_stack(keep_home: bool = False, hellos: bool = True) -> Iterator[Stack]:
    """The database and the API, and unless `hellos` is false the hello-world under every server."""
    with contextlib.ExitStack() as stack:
        home = Path(tempfile.mkdtemp(prefix="monkeytown-bench-"))
        if not keep_home:
            stack.callback(shutil.rmtree, home, ignore_errors=True)
        url, embedded = stack.enter_context(scratch_database(
            home, os.environ.get("MONKEYTOWN_DATABASE_URL"), prefix="monkeytown_bench"))
        migrate.upgrade(url)
        env = {
            **os.environ, "MONKEYTOWN_HOME": str(home), "MONKEYTOWN_DATABASE_URL": url,
            "MONKEYTOWN_WRITE_KEYS": WRITE_KEY, "PYTHONUNBUFFERED": "1",
            # a future rate limiter still runs on every request, but must not turn load into 429s
            "MONKEYTOWN_RATE_LIMIT": "1000000/second",
        }
        supervisor = Supervisor()
        stack.callback(supervisor.stop_all, grace_seconds=20)
        api = gunicorn_server(supervisor, "api", "python:ingest_api.gunicorn_conf", "ingest_api.wsgi:app", env, home)
        hello_worlds = hello_servers(supervisor, env, home) if hellos else {}
        try:
            wait_until_ready(f"http://{HOST}:{api.port}/readyz", supervisor, READY_SECONDS)
            for hello in hello_worlds.values():
                wait_until_ready(f"http://{HOST}:{hello.port}/healthz", supervisor, READY_SECONDS)
        except ChildFailed as failure:
            logs = ", ".join(str(server.log) for server in (api, *hello_worlds.values()))
            raise RuntimeError(f"{failure} (logs: {logs})") from None
        yield Stack(home, url, embedded, api, hello_worlds)
