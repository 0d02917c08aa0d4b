"""Versioned migrations of the landing schema: ordered .sql files, applied once each, under a lock."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

import psycopg

#: Held for the whole upgrade so two processes running it at once apply each migration exactly once.
MIGRATION_LOCK_KEY = 0x4D4B5401

_BOOTSTRAP = """
CREATE SCHEMA IF NOT EXISTS raw;
CREATE TABLE IF NOT EXISTS raw.schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available_migrations() -> list[Migration]:
    found = []
    for entry in resources.files("ingest_api").joinpath("migrations").iterdir():
        match = re.fullmatch(r"(\d{4})_(\w+)\.sql", entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text("utf-8")))
    return sorted(found, key=lambda m: m.version)


def latest_version() -> int:
    return available_migrations()[-1].version


def current_version(conn: psycopg.Connection) -> int | None:
    """The highest applied version, or None before the first upgrade."""
    if conn.execute("SELECT to_regclass('raw.schema_migrations')").fetchone()[0] is None:
        return None
    return conn.execute("SELECT max(version) FROM raw.schema_migrations").fetchone()[0]


def upgrade(url: str, target: int | None = None) -> list[Migration]:
    """Applies every pending migration in order, each in its own transaction, up to version `target` (None: the
    latest); returns those applied."""
    applied = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        try:
            conn.execute(_BOOTSTRAP)
            done = {row[0] for row in conn.execute("SELECT version FROM raw.schema_migrations")}
            for migration in available_migrations():
                if migration.version in done or (target is not None and migration.version > target):
                    continue
                with conn.transaction():
                    conn.execute(migration.sql)
                    conn.execute(
                        "INSERT INTO raw.schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                        (migration.version, migration.name, migration.checksum),
                    )
                applied.append(migration)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
    return applied
