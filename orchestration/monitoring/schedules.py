"""Every five minutes, the period the traffic measurements' window covers."""

import dagster as dg

from orchestration.monitoring.jobs import measure_pipeline_health


@dg.schedule(job=measure_pipeline_health, cron_schedule="*/5 * * * *", execution_timezone="UTC",
             default_status=dg.DefaultScheduleStatus.RUNNING)
def every_five_minutes_pipeline_health(context: dg.ScheduleEvaluationContext):
    return dg.RunRequest(run_key=f"health-{context.scheduled_execution_time:%Y%m%dT%H%M}")
