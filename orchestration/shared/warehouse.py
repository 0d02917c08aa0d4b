"""The platform's PostgreSQL as Dagster sees it: what has landed, and when it last arrived."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import dagster as dg
import psycopg

#: What a code location that knows no database reads when a run starts: Dagster then names the missing setting.
DATABASE_URL_SETTING = "MONKEYTOWN_DATABASE_URL"


@dataclass(frozen=True)
class Arrivals:
    """The newest arrival in a landing table, and a cheap row estimate (the planner's, not a count)."""

    newest: datetime | None
    approximate_rows: int


class WarehouseResource(dg.ConfigurableResource):
    conninfo: str

    def arrivals(self, table: str) -> Arrivals:
        """raw.events or raw.ingest_errors; an index on received_at answers max() without a scan."""
        query = {"raw.events": "SELECT max(received_at) FROM raw.events",
                 "raw.ingest_errors": "SELECT max(received_at) FROM raw.ingest_errors"}[table]
        with psycopg.connect(self.conninfo, connect_timeout=10) as conn:
            newest = conn.execute(query).fetchone()[0]
            estimate = conn.execute(
                "SELECT coalesce(sum(greatest(c.reltuples, 0)), 0)::bigint FROM pg_class c"
                " LEFT JOIN pg_inherits i ON i.inhrelid = c.oid"
                " WHERE c.oid = %s::regclass OR i.inhparent = %s::regclass", (table, table)).fetchone()[0]
        return Arrivals(newest, estimate)


def warehouse_resource(database_url: str | None) -> WarehouseResource:
    """The warehouse at `database_url`; None: the MONKEYTOWN_DATABASE_URL a run finds (or misses, by name)."""
    return WarehouseResource(conninfo=database_url or dg.EnvVar(DATABASE_URL_SETTING))
