"""Hourly: the rollups for the days a late event can still change, then the dashboard's views."""

import dagster as dg

from orchestration.dbt.jobs import refresh_dashboard_views, refresh_rollups
from orchestration.dbt.partitions import days_a_late_event_can_touch


@dg.schedule(job=refresh_rollups, cron_schedule="5 * * * *", execution_timezone="UTC",
             default_status=dg.DefaultScheduleStatus.RUNNING)
def hourly_rollups(context: dg.ScheduleEvaluationContext):
    tick = context.scheduled_execution_time
    for day in days_a_late_event_can_touch(tick):
        yield dg.RunRequest(run_key=f"rollups-{day}-{tick.isoformat()}", partition_key=day)


@dg.schedule(job=refresh_dashboard_views, cron_schedule="10 * * * *", execution_timezone="UTC",
             default_status=dg.DefaultScheduleStatus.RUNNING)
def hourly_dashboard_views(context: dg.ScheduleEvaluationContext):
    return dg.RunRequest(run_key=f"views-{context.scheduled_execution_time.isoformat()}")
