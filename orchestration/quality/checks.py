"""Validating what landed (and quarantining what breaks its contract) and validating the marts: the work
behind the Dagster assets and asset checks, without Dagster."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

import psycopg

from ingest_api.contracts import ARRIVAL_OVERLAP
from orchestration.quality.mart_rules import MartSuite, mart_view_sql
from orchestration.quality.quarantine import quarantine, rows_to_quarantine
from orchestration.quality.raw_rules import RAW_KEY_COLUMNS, RAW_SUITE, RAW_VIEW, raw_rules, view_sql
from orchestration.quality.rows_to_validate import emptied_afterwards, fill_rows_to_validate
from orchestration.quality.validate import SuiteOutcome, run_suite

RAW_WATERMARK = "raw.events"


def quality_context(suites: list[str]):
    """The GX file context (orchestration.quality.context), imported here when a run validates: importing GX
    takes seconds and about 150 MB, which the code server and every run that does not validate are spared."""
    from orchestration.quality import context

    return context.quality_context(suites)


@dataclass
class RawValidation:
    found: SuiteOutcome  # before quarantine
    remaining: SuiteOutcome  # after it: what still fails blocks the run
    quarantined: dict[str, int] = field(default_factory=dict)


def validate_raw_events(database_url: str) -> RawValidation:
    """Validates the rows that arrived since the last validation against their contracts, moves the rows
    that break one to raw.ingest_errors, and validates again when it moved any."""
    with suite_lock(database_url, RAW_WATERMARK), emptied_afterwards(database_url, RAW_VIEW):
        since = validated_since(database_url, RAW_WATERMARK)
        fill_rows_to_validate(database_url, view_sql(since))
        through = _scalar(database_url, "SELECT max(received_at) FROM raw.events")
        with quality_context([RAW_SUITE]) as context:
            found = run_suite(context, RAW_SUITE, RAW_KEY_COLUMNS)
            quarantining = {rule.name for rule in raw_rules() if rule.quarantine}
            moved = quarantine(database_url, rows_to_quarantine(found, quarantining))
            if moved:  # the same window again, without the rows that left raw.events
                fill_rows_to_validate(database_url, view_sql(since))
            remaining = run_suite(context, RAW_SUITE, RAW_KEY_COLUMNS) if moved else found
        if through is not None and not remaining.errors:
            advance_watermark(database_url, RAW_WATERMARK, through)
    return RawValidation(found, remaining, moved)


def validate_mart(database_url: str, suite: MartSuite) -> SuiteOutcome:
    """Validates the mart's rows changed since its last passing validation; they are validated again next
    time until they pass. No mart row arrived after the newest raw event, which marks how far this went."""
    with suite_lock(database_url, suite.watermark), emptied_afterwards(database_url, suite.view):
        fill_rows_to_validate(database_url, mart_view_sql(suite, validated_since(database_url, suite.watermark)))
        through = _scalar(database_url, "SELECT max(received_at) FROM raw.events")
        with quality_context([suite.name]) as context:
            outcome = run_suite(context, suite.name, suite.key_columns)
        if through is not None and not outcome.errors:
            advance_watermark(database_url, suite.watermark, through)
    return outcome


@contextlib.contextmanager
def suite_lock(database_url: str, name: str) -> Iterator[None]:
    """One validation of a suite at a time: its view holds this validation's window until it is done."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext('quality suite ' || %s))", (name,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext('quality suite ' || %s))", (name,))


def validated_since(database_url: str, name: str) -> datetime | None:
    """Where the next validation of a suite starts: its watermark less the overlap, as transactions that began
    before it may commit after it (None: every row)."""
    through = _scalar(database_url, "SELECT max(validated_through) FROM quality.validation_watermarks"
                                    " WHERE name = %s", (name,))
    return through - ARRIVAL_OVERLAP if through else None


def advance_watermark(database_url: str, name: str, through: datetime) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO quality.validation_watermarks (name, validated_through) VALUES (%s, %s)"
            " ON CONFLICT (name) DO UPDATE SET validated_through = greatest("
            "quality.validation_watermarks.validated_through, excluded.validated_through), validated_at = now()",
            (name, through))


def reset_watermarks(database_url: str) -> None:
    """The next validation of every suite reads every row again."""
    with psycopg.connect(database_url) as conn:
        conn.execute("DELETE FROM quality.validation_watermarks")


def _scalar(database_url: str, query: str, params: tuple = ()):
    with psycopg.connect(database_url) as conn:
        return conn.execute(query, params).fetchone()[0]
