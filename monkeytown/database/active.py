"""The active database: the configured server, or the embedded one under MONKEYTOWN_HOME."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from monkeytown.database.embedded import EmbeddedPostgres
from monkeytown.database.external import check_server
from monkeytown.settings import Settings


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


def running_database_url(settings: Settings) -> str:
    """The URL the platform's own processes use, for a database that is already running (the embedded one is
    started by `monkeytown up`; this raises EmbeddedDatabaseError when it is not)."""
    return settings.database_url or EmbeddedPostgres(settings.home).url()


def client_database_url(settings: Settings) -> str:
    """The URL a person gives psql or a BI tool: the configured one, or the embedded server's loopback TCP."""
    return settings.database_url or EmbeddedPostgres(settings.home).tcp_url()
