"""Scratch databases for tests and benchmarks: a server (an embedded one in a directory of its own, or the
server a URL names) on which fresh databases are created and dropped again. Never a user's own tables."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from monkeytown.database.embedded import EmbeddedPostgres


class ScratchServer:
    """Creates databases named `<prefix>_<random>` on one server and drops each of them on `drop_all`."""

    def __init__(self, maintenance_url: str, *, embedded: bool, prefix: str = "monkeytown_scratch"):
        self.maintenance_url = maintenance_url
        self.embedded = embedded  # the server was started for this, in a directory of its own
        self.prefix = prefix
        self.created: list[str] = []

    def create_database(self) -> str:
        name = f"{self.prefix}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.maintenance_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.created.append(name)
        return make_conninfo(self.maintenance_url, dbname=name)

    def drop_all(self, also_suffixed: tuple[str, ...] = ()) -> None:
        """Drops every database made here, and `<name><suffix>` beside each (e.g. a Dagster storage database)."""
        with psycopg.connect(self.maintenance_url, autocommit=True, connect_timeout=10) as conn:
            for name in self.created:
                for each in (name, *(name + suffix for suffix in also_suffixed)):
                    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(each)))
        self.created.clear()


@contextlib.contextmanager
def scratch_server(home: Path, server_url: str | None = None, *,
                   prefix: str = "monkeytown_scratch") -> Iterator[ScratchServer]:
    """The server `server_url` names (any database on it, used for maintenance), or else a new embedded server
    under `home`, stopped on exit; every database created on it is dropped on exit."""
    if server_url:
        server = ScratchServer(server_url, embedded=False, prefix=prefix)
        try:
            yield server
        finally:
            server.drop_all(also_suffixed=("_dagster",))
        return
    embedded = EmbeddedPostgres(home)
    embedded.start()
    try:
        yield ScratchServer(embedded.url("postgres"), embedded=True, prefix=prefix)
    finally:
        embedded.stop()


@contextlib.contextmanager
def scratch_database(home: Path, server_url: str | None = None, *,
                     prefix: str = "monkeytown_scratch") -> Iterator[tuple[str, bool]]:
    """(URL of one fresh database, whether its server is embedded here), gone again on exit."""
    with scratch_server(home, server_url, prefix=prefix) as server:
        yield server.create_database(), server.embedded
