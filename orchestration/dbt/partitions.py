"""The rollups' daily partitions, and the dbt vars a partition window becomes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg

from ingest_api.contracts import ROLLUP_LOOKBACK
from orchestration.shared.keys import FIRST_DAY

ROLLUP_DAYS = dg.DailyPartitionsDefinition(start_date=FIRST_DAY, timezone="UTC", end_offset=1)


def rollup_vars(window: dg.TimeWindow) -> dict[str, str]:
    """[min_date, max_date) as the rollup models read them (dbt_project/macros/incremental_windows.sql)."""
    return {"min_date": window.start.date().isoformat(), "max_date": window.end.date().isoformat()}


def days_a_late_event_can_touch(now: datetime) -> list[str]:
    """The UTC days from ROLLUP_LOOKBACK before `now` to today, as partition keys: an event that arrived since the
    previous hourly tick may have happened up to MAX_EVENT_AGE before it arrived, so 24 h plus the hour between
    ticks."""
    today = now.astimezone(UTC).date()
    oldest = (now.astimezone(UTC) - ROLLUP_LOOKBACK).date()
    return [(oldest + timedelta(days=n)).isoformat() for n in range((today - oldest).days + 1)]
