"""The system under test, started fresh and stopped on exit (also on Ctrl-C or an error): a database,
the real API under gunicorn as `monkeytown up` runs it, and a hello-world under the same gunicorn settings."""

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
from ingest_api import migrate
from monkeytown.database import scratch_database
from monkeytown.supervisor import ChildFailed, Supervisor, python_module, wait_until_ready

HOST = "127.0.0.1"
WRITE_KEY = "bench-" + uuid.uuid4().hex
READY_SECONDS = 60


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
    hello: Server

    def postgres_pid(self) -> int | None:
        return postmaster_pid(self.database_url)

    def cpu_roots(self) -> dict[str, int]:
        roots = {"api": self.api.process.pid, "hello": self.hello.process.pid, "bench": os.getpid()}
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


@contextlib.contextmanager
def running_stack(keep_home: bool = False) -> Iterator[Stack]:
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
        hello = gunicorn_server(supervisor, "hello", "python:bench.hello_conf", "bench.hello_app:app", env, home)
        try:
            wait_until_ready(f"http://{HOST}:{api.port}/readyz", supervisor, READY_SECONDS)
            wait_until_ready(f"http://{HOST}:{hello.port}/healthz", supervisor, READY_SECONDS)
        except ChildFailed as failure:
            raise RuntimeError(f"{failure} (logs: {api.log}, {hello.log})") from None
        yield Stack(home, url, embedded, api, hello)
