"""The health measurements every five minutes, one run per tick."""

from datetime import UTC, datetime

import dagster as dg

from orchestration.monitoring.schedules import every_five_minutes_pipeline_health


def test_each_tick_asks_for_one_run_keyed_by_its_time():
    tick = datetime(2026, 11, 30, 12, 5, tzinfo=UTC)
    with dg.build_schedule_context(scheduled_execution_time=tick) as context:
        request = every_five_minutes_pipeline_health(context)
    assert request.run_key == "health-20261130T1205"
    assert every_five_minutes_pipeline_health.cron_schedule == "*/5 * * * *"
    assert every_five_minutes_pipeline_health.job_name == "measure_pipeline_health"
