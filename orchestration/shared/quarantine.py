"""Moving landed rows out of raw.events and the id ledger into raw.ingest_errors (reason schema_mismatch), in one
transaction, so they never reach the marts and a fixed replay can land them: the raw contract check quarantines
what breaks a rule (source quality), the core dbt build what breaks a model (source pipeline)."""

from __future__ import annotations

from importlib import resources

import orjson
import psycopg

from ingest_api.contracts import RefusalReason

_QUARANTINE_SQL = resources.files("orchestration.shared").joinpath("sql/quarantine_rows.sql").read_text("utf-8")


def quarantine_rows(database_url: str, failing: list[dict], source: str) -> dict[str, list[str]]:
    """`failing`: one {event_id, occurred_at, rule, field} per row and what it broke (a row may come more than
    once). Returns, per row moved, the rules it broke; a row already gone is not moved twice."""
    if not failing:
        return {}
    with psycopg.connect(database_url, connect_timeout=10) as conn:
        moved = conn.execute(_QUARANTINE_SQL, {"failing": orjson.dumps(failing).decode(), "source": source,
                                               "reason": RefusalReason.SCHEMA_MISMATCH.value}).fetchall()
    return dict(moved)
