"""Partition upkeep of raw.events: the coming days made ahead of time (so no insert waits on a CREATE TABLE),
which family days PostgreSQL holds and which the archive holds, and the guard for days out of range."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import psycopg

from ingest_api.contracts import MAX_FUTURE_SKEW
from orchestration.retention.policy import RetentionPolicy
from orchestration.retention.restore import archived_days
from orchestration.retention.store import ArchiveStore

#: Days made ahead of today: a week of margin should the daily job stop for a few days.
DAYS_AHEAD = 7


def ensure_coming_days(conn: psycopg.Connection, today: date, days_ahead: int = DAYS_AHEAD) -> list[date]:
    """raw.events' partitions from today to `days_ahead` days ahead, each with its family sub-partitions; returns
    the days this call made (none when they already existed)."""
    wanted = [today + timedelta(days=n) for n in range(days_ahead + 1)]
    existing = {day for (day,) in conn.execute(
        "SELECT DISTINCT day FROM raw.family_partitions() WHERE day = ANY(%s)", (wanted,))}
    for day in wanted:
        if day not in existing:
            conn.execute("SELECT raw.ensure_events_partition(%s)", (day,))
    return [day for day in wanted if day not in existing]


@dataclass(frozen=True)
class FamilyDayState:
    """One family's UTC day: its rows in PostgreSQL (None once dropped) and in the archive (None if not archived)."""

    family: str
    day: date
    rows_in_postgres: int | None
    rows_archived: int | None

    @property
    def state(self) -> str:
        if self.rows_in_postgres is None:
            return "archived"
        return "in postgres" if self.rows_archived is None else "archived, not yet dropped"


def family_day_states(conn: psycopg.Connection, store: ArchiveStore) -> list[FamilyDayState]:
    """Every family day either side holds (empty ones in PostgreSQL left out), by day then family. Counts every
    row of raw.events: a daily job's price, not a page's."""
    in_postgres = {(family, day): rows for family, day, _, rows in conn.execute("SELECT * FROM raw.family_days()")
                   if rows}
    archived = {(manifest.family, manifest.day): manifest.rows for manifest in archived_days(store)}
    return [FamilyDayState(family, day, in_postgres.get((family, day)), archived.get((family, day)))
            for family, day in sorted(in_postgres.keys() | archived.keys(), key=lambda pair: (pair[1], pair[0]))]


@dataclass(frozen=True)
class OutOfRange:
    """Family days that should not be in PostgreSQL: past their retention (the archive job is behind), or beyond
    what the door accepts ahead of now (a clock or a bug)."""

    overdue: list[tuple[str, date, int]]
    too_far_ahead: list[tuple[str, date, int]]

    @property
    def ok(self) -> bool:
        return not (self.overdue or self.too_far_ahead)


def days_out_of_range(states: list[FamilyDayState], today: date, policy: RetentionPolicy,
                      grace_days: int = 1) -> OutOfRange:
    """`grace_days` lets the daily job run late by that much before a day counts as overdue."""
    furthest = today + timedelta(days=1 + MAX_FUTURE_SKEW.days)  # the door takes events up to MAX_FUTURE_SKEW ahead
    held = [state for state in states if state.rows_in_postgres]
    return OutOfRange(
        overdue=[(s.family, s.day, s.rows_in_postgres) for s in held
                 if policy.is_expired(s.family, s.day, today - timedelta(days=grace_days))],
        too_far_ahead=[(s.family, s.day, s.rows_in_postgres) for s in held if s.day > furthest],
    )
