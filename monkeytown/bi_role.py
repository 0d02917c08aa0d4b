"""The read-only role BI tools log in as, monkeytown_bi: migration 0002 creates it and lets it read schema marts;
here its password (configured, or generated once under MONKEYTOWN_HOME) is set after the migrations, and its URL
is built and checked for `monkeytown db url --role bi`."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote, urlencode

import psycopg
from psycopg.conninfo import conninfo_to_dict

from ingest_api.migrate import MIGRATION_LOCK_KEY
from monkeytown.database import first_line
from monkeytown.database.roles import set_password
from monkeytown.secret_files import generated_secret, stored_secret
from monkeytown.settings import Settings

BI_ROLE = "monkeytown_bi"
PASSWORD_FILE = "bi_password"
#: ALTER ROLE fails with "tuple concurrently updated" when the upgrade of another database on the server altered the
#: role meanwhile; each such failure means another upgrade's ALTER committed, so retries get through.
PASSWORD_ATTEMPTS = 20
#: Connection parameters that belong to the migrating user, not to monkeytown_bi.
_OWN_CREDENTIALS = ("user", "password", "passfile")

_ROLE_FACTS = """
SELECT current_user,
       EXISTS (SELECT FROM pg_roles WHERE rolname = %s),
       (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user)
"""
_READS_MARTS = "SELECT coalesce(has_schema_privilege(to_regnamespace('marts'), 'USAGE'), false)"


class BiRoleUnavailable(RuntimeError):
    """The BI role cannot be used yet; the message says what is missing and how to fix it, in one line."""


def stored_bi_password(home: Path) -> str | None:
    return stored_secret(home / PASSWORD_FILE)


def generated_bi_password(home: Path) -> str:
    """The password generated on first use and kept in $MONKEYTOWN_HOME/bi_password (mode 0600)."""
    return generated_secret(home / PASSWORD_FILE)


def bi_password(settings: Settings) -> str:
    """The password `db upgrade` and `up` give the role: MONKEYTOWN_BI_PASSWORD, else the generated one."""
    return settings.bi_password or generated_bi_password(settings.home)


def set_bi_password(conn: psycopg.Connection, password: str) -> None:
    for attempt in range(1, PASSWORD_ATTEMPTS + 1):
        try:
            with conn.transaction():
                set_password(conn, BI_ROLE, password, login=True)
            return
        except psycopg.errors.InternalError_:
            if attempt == PASSWORD_ATTEMPTS:
                raise


def prepare_bi_role(url: str, password: str) -> str | None:
    """Run by `db upgrade` and `up` after the migrations: the role and its grants (again, for a role created since
    migration 0002) and its password. Returns one warning line when the database user may not manage the role."""
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        user = conn.execute("SELECT current_user").fetchone()[0]
        if not conn.execute("SELECT raw.ensure_bi_role()").fetchone()[0]:
            return (f"skipped the read-only role {BI_ROLE}: the database user {user} may not create roles "
                    "(no CREATEROLE); grant it CREATEROLE or create the role, then run `monkeytown db upgrade`")
        try:
            set_bi_password(conn, password)
        except psycopg.errors.InsufficientPrivilege as error:
            return (f"could not set the password of {BI_ROLE} ({first_line(error)}): the database user {user} needs "
                    "CREATEROLE (and ADMIN on the role from PostgreSQL 16); or set MONKEYTOWN_BI_PASSWORD to the "
                    "password an administrator gave it")
    return None


def bi_url(database_url: str, password: str) -> str:
    """The libpq URL of monkeytown_bi on the database `database_url` names (its host, port, dbname and options)."""
    parts = {key: value for key, value in conninfo_to_dict(database_url).items() if key not in _OWN_CREDENTIALS}
    host, port, dbname = parts.pop("host", ""), parts.pop("port", ""), parts.pop("dbname", "")
    if not host or host.startswith("/") or "," in host:  # a socket directory or several hosts: in the query
        parts = {**({"host": host} if host else {}), **({"port": port} if port else {}), **parts}
        netloc = ""
    else:
        netloc = (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
    query = f"?{urlencode(parts, safe='/,', quote_via=quote)}" if parts else ""
    return f"postgresql://{BI_ROLE}:{quote(password, safe='')}@{netloc}/{quote(dbname, safe='')}{query}"


def _missing_role(user: str, may_create: bool) -> str:
    if may_create:
        return f"the role {BI_ROLE} does not exist on this server yet: run `monkeytown db upgrade`"
    return (f"the role {BI_ROLE} does not exist and the database user {user} may not create it (no CREATEROLE): "
            "grant it CREATEROLE or create the role, then run `monkeytown db upgrade`")


def _check_login(url: str) -> None:
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            reads_marts = conn.execute(_READS_MARTS).fetchone()[0]
    except psycopg.OperationalError as error:
        raise BiRoleUnavailable(f"cannot log in as {BI_ROLE} ({first_line(error)}): run `monkeytown db upgrade`, "
                                "or set MONKEYTOWN_BI_PASSWORD to its password") from None
    if not reads_marts:
        raise BiRoleUnavailable(f"{BI_ROLE} may not read schema marts of this database: run `monkeytown db upgrade`")


def bi_role_url(settings: Settings, database_url: str, reads_from: str | None = None) -> str:
    """What `monkeytown db url --role bi` prints, once it has logged in with it; raises BiRoleUnavailable. The role
    is checked on the primary (`database_url`); the URL points at `reads_from` (MONKEYTOWN_READ_DATABASE_URL, a
    replica, which has the primary's roles) when given."""
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        user, exists, may_manage = conn.execute(_ROLE_FACTS, (BI_ROLE,)).fetchone()
    if not exists:
        raise BiRoleUnavailable(_missing_role(user, may_manage))
    if settings.bi_password is None and not may_manage:
        raise BiRoleUnavailable(f"the database user {user} may not set the password of {BI_ROLE} (no CREATEROLE): "
                                "set MONKEYTOWN_BI_PASSWORD to the password an administrator gave it")
    password = settings.bi_password or stored_bi_password(settings.home)
    if password is None:
        raise BiRoleUnavailable(f"{BI_ROLE} has no password from {settings.home} yet: run `monkeytown db upgrade`")
    url = bi_url(reads_from or database_url, password)
    _check_login(url)
    return url
