"""The system under test, started fresh and stopped on exit (also on Ctrl-C or an error): a database,
the real API under gunicorn as `monkeytown up` runs it, and a hello-world under the same gunicorn settings."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.cpu import postmaster_pid
from ingest_api import migrate
from monkeytown.database import scratch_database
from monkeytown.supervisor import die_with_parent, not_ready_because

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


def _wait_ready(server: Server, path: str) -> None:
    deadline, last = time.monotonic() + READY_SECONDS, "no answer"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"the {server.name} server exited during start-up; see {server.log}")
        if (last := not_ready_because(f"http://{HOST}:{server.port}{path}")) is None:
            return
        time.sleep(0.2)
    raise RuntimeError(f"the {server.name} server was not ready after {READY_SECONDS} s ({last}); "
                       f"see {server.log}")


@contextlib.contextmanager
def _gunicorn(name: str, config: str, app: str, env: dict, home: Path, ready_path: str) -> Iterator[Server]:
    port = free_port()
    log = home / f"{name}.log"
    with open(log, "ab") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", config, app],
            env={**env, "MONKEYTOWN_API_HOST": HOST, "MONKEYTOWN_API_PORT": str(port)},
            stdout=sink, stderr=sink, stdin=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=die_with_parent,
        )
    server = Server(name, process, port, log)
    try:
        _wait_ready(server, ready_path)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


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
        api = stack.enter_context(_gunicorn(
            "api", "python:ingest_api.gunicorn_conf", "ingest_api.wsgi:app", env, home, "/readyz"))
        hello = stack.enter_context(_gunicorn(
            "hello", "python:bench.hello_conf", "bench.hello_app:app", env, home, "/healthz"))
        yield Stack(home, url, embedded, api, hello)
