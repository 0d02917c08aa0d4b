"""The rollups' daily partitions, and the dbt vars a partition window becomes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg

ROLLUP_DAYS = dg.DailyPartitionsDefinition(start_date="2026-01-01", timezone="UTC", end_offset=1)


def rollup_vars(window: dg.TimeWindow) -> dict[str, str]:
    """[min_date, max_date) as the rollup models read them (dbt_project/macros/incremental_windows.sql)."""
    return {"min_date": window.start.date().isoformat(), "max_date": window.end.date().isoformat()}


def days_a_late_event_can_touch(now: datetime) -> list[str]:
    """Yesterday and today (UTC) as partition keys: the door refuses events more than 24 h old."""
    today = now.astimezone(UTC).date()
    return [(today - timedelta(days=1)).isoformat(), today.isoformat()]
