"""The hourly schedules: which partitions and runs they ask for, each with its own run_key."""

from datetime import UTC, datetime

import dagster as dg

from orchestration.dbt.partitions import ROLLUP_DAYS, days_a_late_event_can_touch, rollup_vars
from orchestration.dbt.schedules import hourly_dashboard_views, hourly_rollups


def test_rollups_cover_every_day_an_event_that_arrived_since_the_last_tick_can_have_happened_on():
    # arrived at 23:30 on the 28th (after the 23:05 tick), happened at 23:45 on the 27th: the 00:05 tick rebuilds it
    tick = datetime(2026, 11, 29, 0, 5, tzinfo=UTC)
    requests = list(hourly_rollups(dg.build_schedule_context(scheduled_execution_time=tick)))
    assert [r.partition_key for r in requests] == ["2026-11-27", "2026-11-28", "2026-11-29"]
    assert len({r.run_key for r in requests}) == 3
    later = list(hourly_rollups(dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 29, 1, 5, tzinfo=UTC))))
    assert [r.partition_key for r in later] == ["2026-11-28", "2026-11-29"]  # from 01:05, yesterday and today
    assert not {r.run_key for r in requests} & {r.run_key for r in later}


def test_a_partition_becomes_the_dbt_window_of_its_utc_day():
    window = ROLLUP_DAYS.time_window_for_partition_key("2026-11-28")
    assert rollup_vars(window) == {"min_date": "2026-11-28", "max_date": "2026-11-29"}
    assert "2026-11-29" in ROLLUP_DAYS.get_partition_keys(current_time=datetime(2026, 11, 29, 0, 5, tzinfo=UTC))


def test_days_are_utc_days_whatever_the_offset():
    local_evening = datetime.fromisoformat("2026-11-28T22:30:00-05:00")  # already 29 Nov in UTC
    assert days_a_late_event_can_touch(local_evening) == ["2026-11-28", "2026-11-29"]


def test_the_views_refresh_hourly_with_a_run_key_per_tick():
    tick = datetime(2026, 11, 29, 7, 10, tzinfo=UTC)
    request = hourly_dashboard_views(dg.build_schedule_context(scheduled_execution_time=tick))
    assert request.run_key == f"views-{tick.isoformat()}"
    assert hourly_rollups.cron_schedule == "5 * * * *" and hourly_dashboard_views.cron_schedule == "10 * * * *"
