"""A PostgreSQL server the platform is pointed at (MONKEYTOWN_DATABASE_URL): checked before use, and described
without its password."""

from __future__ import annotations

import psycopg
from psycopg.conninfo import conninfo_to_dict

from monkeytown.database.errors import first_line
from monkeytown.settings import SettingsError

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


def describe_server(url: str) -> str:
    """Where a libpq URL points, without its password."""
    parts = conninfo_to_dict(url)
    where = f"{parts.get('host') or 'localhost'}:{parts.get('port') or 5432}"
    return f"database {parts.get('dbname') or '(default)'} on {where} as {parts.get('user') or 'the OS user'}"
