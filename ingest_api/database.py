"""The active database: the configured server, or the embedded one started on demand."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg

from ingest_api.db import first_line
from ingest_api.embedded import EmbeddedPostgres
from ingest_api.settings import Settings, SettingsError

MIN_SERVER_VERSION = 150000


def check_server(url: str) -> None:
    """Raises SettingsError (one line, with the fix) if the server can't be used."""
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            version = conn.info.server_version
    except psycopg.OperationalError as error:
        raise SettingsError(
            f"cannot reach the database at MONKEYTOWN_DATABASE_URL ({first_line(error)}); start that server, "
            "fix the URL, or unset it to use the embedded database"
        ) from None
    except psycopg.ProgrammingError as error:
        raise SettingsError(f"MONKEYTOWN_DATABASE_URL is not a valid libpq URL ({error}); fix it or unset it") from None
    if version < MIN_SERVER_VERSION:
        raise SettingsError(f"the database server is PostgreSQL {version // 10000}; Monkeytown needs 15 or newer")


@contextlib.contextmanager
def active_database(settings: Settings) -> Iterator[str]:
    """Yields the URL of the database to use; an embedded server started here is stopped on exit."""
    if settings.database_url:
        check_server(settings.database_url)
        yield settings.database_url
        return
    embedded = EmbeddedPostgres(settings.home)
    embedded.start()
    try:
        yield embedded.url()
    finally:
        embedded.stop()
