"""A real Redis of the test's own: `redis-server` on a free loopback port, nothing saved to disk, stopped (and
started again on the same port) at will. No mocked Redis: the rate limit's script runs where it will in production."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tests.servers import free_port, wait_until

REDIS_SERVER = shutil.which("redis-server")
NO_REDIS = "redis-server is not installed (Debian package redis-server; .ci/run installs it)"
START_SECONDS = 10


@dataclass
class RedisServer:
    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_connect_timeout=2, socket_timeout=2)

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.workdir / "redis.log", "ab") as log:
            self.process = subprocess.Popen(
                [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(self.workdir)], stdout=log, stderr=subprocess.STDOUT)
        wait_until(self._answers, START_SECONDS, f"redis-server answers on port {self.port}", interval=0.05)

    def _answers(self) -> bool:
        assert self.process.poll() is None, f"redis-server exited with {self.process.returncode}"
        with contextlib.suppress(redis.RedisError), self.client() as client:
            return client.ping()
        return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@contextlib.contextmanager
def own_redis(workdir: Path) -> Iterator[RedisServer]:
    server = RedisServer(workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
