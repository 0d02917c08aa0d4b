"""Moving landed rows that break their contract out of raw.events into raw.ingest_errors (reason
schema_mismatch, source quality, the rules they broke), so they never reach the marts and can be fixed and
replayed."""

from __future__ import annotations

from orchestration.quality.validate import SuiteOutcome
from orchestration.shared.quarantine import quarantine_rows

SOURCE = "quality"


def rows_to_quarantine(outcome: SuiteOutcome, rules_that_quarantine: set[str]) -> list[dict]:
    """One entry per failing row and rule, for the rules that hold single rows to their contract."""
    return [{**row, "rule": failure.rule, "field": failure.field}
            for failure in outcome.errors if failure.rule in rules_that_quarantine
            for row in failure.rows]


def quarantine(database_url: str, failing: list[dict]) -> dict[str, int]:
    """In one transaction: the rows leave raw.events and the id ledger (so a fixed replay can land them) and
    arrive in raw.ingest_errors with their payload. Returns how many rows each rule quarantined."""
    counts: dict[str, int] = {}
    for rules in quarantine_rows(database_url, failing, SOURCE).values():
        for rule in rules:
            counts[rule] = counts.get(rule, 0) + 1
    return counts
