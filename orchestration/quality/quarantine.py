"""Moving landed rows that break their contract out of raw.events into raw.ingest_errors (reason
schema_mismatch, the rules they broke), so they never reach the marts and can be fixed and replayed."""

from __future__ import annotations

from importlib import resources

import orjson
import psycopg

from ingest_api.contracts import RefusalReason
from orchestration.quality.validate import SuiteOutcome

_QUARANTINE_SQL = resources.files("orchestration.quality").joinpath("sql/quarantine_rows.sql").read_text("utf-8")


def rows_to_quarantine(outcome: SuiteOutcome, rules_that_quarantine: set[str]) -> list[dict]:
    """One entry per failing row and rule, for the rules that hold single rows to their contract."""
    return [{**row, "rule": failure.rule, "field": failure.field}
            for failure in outcome.errors if failure.rule in rules_that_quarantine
            for row in failure.rows]


def quarantine(database_url: str, failing: list[dict]) -> dict[str, int]:
    """In one transaction: the rows leave raw.events and the id ledger (so a fixed replay can land them) and
    arrive in raw.ingest_errors with their payload. Returns how many rows each rule quarantined."""
    if not failing:
        return {}
    with psycopg.connect(database_url) as conn:
        moved = conn.execute(_QUARANTINE_SQL, {"failing": orjson.dumps(failing).decode(),
                                               "reason": RefusalReason.SCHEMA_MISMATCH.value}).fetchall()
    counts: dict[str, int] = {}
    for (rules,) in moved:
        for rule in rules:
            counts[rule] = counts.get(rule, 0) + 1
    return counts
